"""Reading Neo4j's transaction-log settings into the bound an erasure reports."""

from __future__ import annotations

from pathlib import Path

from graphdb.local.server import ServerConfig, render_config
from graphdb.txlog import LogPolicy, parse_bytes, parse_seconds


def test_settings_are_read_in_the_forms_neo4j_writes_them() -> None:
    assert parse_bytes("1048576") == parse_bytes("1M") == parse_bytes("1.00MiB") == 1 << 20
    assert parse_bytes("256.00MiB") == 256 << 20 and parse_bytes("lots") is None
    assert parse_seconds("10s") == 10 and parse_seconds("PT15M") == 900
    assert parse_seconds("1m30s") == 90 and parse_seconds("soon") is None


def test_only_a_pruning_retention_and_a_small_rotation_give_a_bound() -> None:
    assert LogPolicy(1 << 20, "1 files", 60.0).purge_bound_s == 60.0
    assert LogPolicy(1 << 20, "keep_none", 60.0).purge_bound_s is None  # measured: prunes nothing
    assert LogPolicy(1 << 20, "2 days", 60.0).purge_bound_s is None
    big = LogPolicy(256 << 20, "1 files", 900.0)  # Neo4j's default rotation: no padding
    assert big.padding_bytes is None and big.purge_bound_s is None
    assert LogPolicy(None, None, None).purge_bound_s is None


def test_the_local_server_is_configured_for_the_bound(tmp_path: Path) -> None:
    conf = render_config(ServerConfig(cache_dir=tmp_path, state_dir=tmp_path))
    assert "db.tx_log.rotation.size=1M\n" in conf
    assert "db.tx_log.rotation.retention_policy=1 files\n" in conf
    assert "db.checkpoint.interval.time=60s\n" in conf
