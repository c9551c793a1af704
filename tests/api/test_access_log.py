"""Gunicorn's access log names routes, never the user ids in their paths."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from neo4j import Driver

from tests.conftest import Neo4jTestServer, free_port

USER = "logged-person-93b1"


def _get(url: str, method: str = "GET") -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def _wait_until_serving(base: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            if _get(f"{base}/health/live") == 200:
                return
        except urllib.error.URLError:
            pass  # not listening yet
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.5)


def test_the_access_log_holds_route_templates_not_user_ids(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    graph.execute_query("CREATE (:User {user_id: $u})", u=USER)
    port, target = free_port(), neo4j_server.target
    env = {**os.environ, "IG_NEO4J_URI": target.uri, "IG_PORT": str(port), "IG_WORKERS": "1",
           "IG_API_AUTH": "false", "IG_NEO4J_AUTH": "true" if target.password else "false",
           "IG_STATE_DIR": str(tmp_path)}  # fmt: skip
    if target.password:
        env["IG_NEO4J_PASSWORD"] = target.password
    log = tmp_path / "access.log"
    cli = Path(sys.executable).parent / "interest-graph"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(cli), "serve"], env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(base, proc, log)
        assert _get(f"{base}/api/v1/users/{USER}/recommendations?k=3&q={USER}") == 200
        assert _get(f"{base}/api/v1/users/{USER}/interests") in (200, 404)
        assert _get(f"{base}/api/v1/nowhere/{USER}") == 404
        assert _get(f"{base}/api/v1/users/{USER}", method="DELETE") == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    text = log.read_text()
    assert "/api/v1/users/<user_id>/recommendations" in text  # the lines were written
    assert "DELETE /api/v1/users/<user_id> HTTP" in text and '"GET - HTTP' in text
    assert USER not in text
