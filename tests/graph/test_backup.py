"""Offline dump and load put the graph back exactly as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from graphdb.driver import Neo4jTarget, connect
from graphdb.local.backup import dump_database, load_database
from graphdb.local.server import ServerConfig, ServerError, start, stop
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="dump and load need the locally provisioned Neo4j",
)


def _count(config: ServerConfig) -> int:
    with connect(Neo4jTarget(config.bolt_uri)) as driver:
        return int(driver.execute_query("MATCH (n:Probe) RETURN count(n) AS n").records[0]["n"])


def test_dump_then_load_restores_the_graph(tmp_path: Path) -> None:
    config = ServerConfig(
        cache_dir=Path(os.environ.get("IG_CACHE_DIR", Path.home() / ".cache" / "interest-graph")),
        state_dir=tmp_path / "state", bolt_port=free_port(), http_port=free_port(), auth=False,
        heap="512m", pagecache="64m",
    )  # fmt: skip
    backups = tmp_path / "backups"
    with pytest.raises(ServerError, match="no dump"):
        load_database(config, backups)
    start(config)
    try:
        with connect(Neo4jTarget(config.bolt_uri)) as driver:
            driver.execute_query("UNWIND range(1, 3) AS k CREATE (:Probe {k: k})")
        stop(config)
        dump_database(config, backups)
        start(config)
        with connect(Neo4jTarget(config.bolt_uri)) as driver:
            driver.execute_query("MATCH (n:Probe) DETACH DELETE n")
        assert _count(config) == 0
        stop(config)
        load_database(config, backups)
        start(config)
        assert _count(config) == 3
    finally:
        stop(config)
