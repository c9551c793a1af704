"""The project-provisioned Neo4j: Browser served, auth on by default, clear start failures,
starts with the configured heap from a checked class archive."""

from __future__ import annotations

import os
import shutil
import stat
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from neo4j import GraphDatabase
from neo4j.exceptions import AuthError

from app.cli import main
from graphdb.local.distribution import class_archive_path, class_archive_works
from graphdb.local.server import ServerConfig, ServerError, _make_class_archive, start, stop
from tests.conftest import Neo4jTestServer, free_port

needs_local_toolchain = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="provisioning a local Neo4j needs java and mvn",
)


def _own_config(state_dir: Path, **overrides: Any) -> ServerConfig:
    """A server of the test's own (free ports, no auth) on the shared distribution cache."""
    cache = Path(os.environ.get("IG_CACHE_DIR", Path.home() / ".cache" / "interest-graph"))
    return ServerConfig(
        cache_dir=cache, state_dir=state_dir, bolt_port=free_port(), http_port=free_port(),
        auth=False, **overrides,
    )  # fmt: skip


def test_neo4j_browser_is_served(neo4j_server: Neo4jTestServer) -> None:
    if neo4j_server.http_url is None:
        pytest.skip("NEO4J_HTTP_URL not given for an external server")
    with urllib.request.urlopen(f"{neo4j_server.http_url}/browser/", timeout=30) as response:
        body = response.read().decode("utf-8", "replace")
    assert response.status == 200
    assert "<html" in body.lower() and "neo4j" in body.lower()


@needs_local_toolchain
def test_cli_server_has_auth_with_a_private_generated_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bolt, http = free_port(), free_port()
    monkeypatch.setenv("IG_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("IG_NEO4J_BOLT_PORT", str(bolt))
    monkeypatch.setenv("IG_NEO4J_HTTP_PORT", str(http))
    monkeypatch.setenv("IG_NEO4J_HEAP", "512m")
    monkeypatch.setenv("IG_NEO4J_PAGECACHE", "64m")
    monkeypatch.delenv("IG_NEO4J_AUTH", raising=False)
    assert main(["neo4j", "start"]) == 0
    try:
        password_file = tmp_path / "neo4j" / "neo4j-password"
        assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 16
        uri = f"bolt://127.0.0.1:{bolt}"
        with GraphDatabase.driver(uri, auth=("neo4j", password)) as driver:
            assert driver.execute_query("RETURN 41 + 1 AS n").records[0]["n"] == 42
        with (
            GraphDatabase.driver(uri, auth=("neo4j", "wrong-password")) as driver,
            pytest.raises(AuthError),
        ):
            driver.verify_connectivity()
        assert main(["neo4j", "status"]) == 0
        assert f"bolt://127.0.0.1:{bolt}" in capsys.readouterr().out
    finally:
        assert main(["neo4j", "stop"]) == 0
    assert main(["neo4j", "status"]) == 3


@needs_local_toolchain
def test_start_failure_reports_the_log_tail(tmp_path: Path) -> None:
    config = _own_config(tmp_path, extra_settings={"server.memory.pagecache.size": "not-a-size"})
    try:
        with pytest.raises(ServerError, match="exited during start-up") as failure:
            start(config, timeout_s=120)
        assert "not-a-size" in str(failure.value)
    finally:
        stop(config)


HEAP_QUERY = """
CALL dbms.queryJmx('java.lang:type=Memory') YIELD attributes
RETURN attributes.HeapMemoryUsage.value.properties AS heap
"""


@needs_local_toolchain
def test_servers_start_with_their_heap_from_a_checked_class_archive(tmp_path: Path) -> None:
    config = _own_config(tmp_path / "server", heap="512m", pagecache="64m")
    pid = start(config, timeout_s=600).pid
    try:
        archive = class_archive_path(config)
        assert archive.exists(), "the first start makes the distribution's class archive"
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert f"-XX:SharedArchiveFile={archive}".encode() in command
        with GraphDatabase.driver(config.bolt_uri, auth=None) as driver:
            assert driver.execute_query("RETURN 41 + 1 AS n").records[0]["n"] == 42
            heap = driver.execute_query(HEAP_QUERY).records[0]["heap"]
        # The JVM must size its heap from the setting, not from the machine's memory.
        assert heap["max"] == heap["init"] == 512 * 1024 * 1024
    finally:
        stop(config)

    made = tmp_path / "made.jsa"
    _make_class_archive(config, made)  # what the first start did: a scratch server writes it
    assert class_archive_works(made, f"{config.lib_dir}/*")
    damaged = tmp_path / "damaged.jsa"
    damaged.write_bytes(made.read_bytes()[: made.stat().st_size // 2])
    assert not class_archive_works(damaged, f"{config.lib_dir}/*")
    assert not list(tmp_path.glob("class-archive-*")), "the scratch server leaves nothing"
