"""``interest-graph serve``: gunicorn workers answer, and they never load torch."""

from __future__ import annotations

import json
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


def _request_line_limit_is_gunicorns_highest(base: str) -> None:
    """A line of 8,000 bytes (over gunicorn's 4,094 default) reaches the app; one over 8,190
    gets gunicorn's own 414, which the app never sees, in the API's JSON error shape."""
    url = f"{base}/api/v1/users/u/recommendations?exclude="
    ids = ",".join(f"{n:03d}".ljust(60, "x") for n in range(200))
    with urllib.request.urlopen(url + ids[: 8000 - len(url)], timeout=10) as response:
        assert response.status == 200
    try:
        urllib.request.urlopen(url + ids[:8300], timeout=10)
        raise AssertionError("a request line over 8,190 bytes was served")
    except urllib.error.HTTPError as refused:
        assert refused.code == 414
        assert refused.headers["Content-Type"] == "application/json"
        error = json.loads(refused.read())["error"]
        assert error["code"] == "uri_too_long" and "body" in error["message"], error


def test_gunicorn_serves_without_torch(graph: Driver, neo4j_server: Neo4jTestServer) -> None:
    port = free_port()
    target = neo4j_server.target
    env = {**os.environ, "IG_NEO4J_URI": target.uri, "IG_PORT": str(port), "IG_WORKERS": "2",
           "IG_API_AUTH": "false", "IG_NEO4J_AUTH": "true" if target.password else "false"}  # fmt: skip
    if target.password:
        env["IG_NEO4J_PASSWORD"] = target.password
    cli = Path(sys.executable).parent / "interest-graph"
    proc = subprocess.Popen(
        [str(cli), "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        base, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health/ready", timeout=2) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
                assert time.monotonic() < deadline, "gunicorn did not become ready"
                time.sleep(0.5)
        with urllib.request.urlopen(f"{base}/api/v1/graph/stats", timeout=10) as response:
            assert b"interactions" in response.read()
        _request_line_limit_is_gunicorns_highest(base)
        workers = subprocess.run(
            ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True
        ).stdout.split()
        assert len(workers) == 2
        for pid in workers:
            maps = Path(f"/proc/{pid}/maps").read_text()
            assert "libtorch" not in maps, f"worker {pid} loaded torch"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
