"""Read-your-writes across gunicorn workers: after a 200 on ``POST /events``, every read of
that user on any worker of the host reflects the event (issue 22, item 4)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from pathlib import Path
from typing import Any

from neo4j import Driver

from tests.communities import START, trained_communities
from tests.conftest import Neo4jTestServer, free_port

READS = 120


def _env(settings: Any, port: int) -> dict[str, str]:
    env = {**os.environ, "IG_REC_LISTS_READ_YOUR_WRITES": os.environ.get("RYW", "true"), "IG_NEO4J_URI": settings.neo4j_uri, "IG_PORT": str(port),
           "IG_WORKERS": "2", "IG_THREADS": "2", "IG_API_AUTH": "false",
           "IG_MODEL_DIR": str(settings.model_dir), "IG_REC_LISTS_DEPTH": "10",
           "IG_NEO4J_AUTH": "true" if settings.neo4j_auth else "false",
           # The answering worker's pid, so the test can show both workers answered.
           "GUNICORN_CMD_ARGS": "--access-logformat '%(p)s %(U)s'"}  # fmt: skip
    if settings.neo4j_password:
        env["IG_NEO4J_PASSWORD"] = settings.neo4j_password.get_secret_value()
    return env


def _call(base: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{base}{path}", data=data,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=2):
                return
        except OSError:
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            assert time.monotonic() < deadline, "gunicorn did not become ready"
            time.sleep(0.5)


def _recs(base: str, user_id: str) -> list[str]:
    body = _call(base, f"/api/v1/users/{user_id}/recommendations?k=5")
    return [item["item_id"] for item in body["items"]]


def test_an_event_shows_at_once_on_every_worker(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    settings = trained_communities(graph, neo4j_server, tmp_path, api_auth=False)
    # As if loaded an hour ago, so every user gets a list ranked in advance.
    graph.execute_query("MATCH (u:User) SET u.changed_at = u.changed_at - duration('PT1H')")
    port, log = free_port(), tmp_path / "access.log"
    cli = Path(sys.executable).parent / "interest-graph"
    with log.open("wb") as out:  # the access lines go to stdout
        proc = subprocess.Popen([str(cli), "serve"], env=_env(settings, port),
                                stdout=out, stderr=subprocess.PIPE)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base, proc)
        users = [f"a-u{i}" for i in range(6)]
        time.sleep(3)  # both workers rank their lists in advance
        for user_id in users:
            before = _recs(base, user_id)
            bought = before[0]
            ts = (START + timedelta(days=30)).isoformat()
            _call(base, "/api/v1/events",
                  [{"user_id": user_id, "item_id": bought, "type": "purchase", "ts": ts}])  # fmt: skip
            for _ in range(READS // len(users)):
                assert bought not in _recs(base, user_id), f"{user_id}: stale read"
        pids = set(re.findall(r"^<(\d+)> /api/v1/users", log.read_text(), re.M))
        assert len(pids) == 2, f"answered by {pids}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
