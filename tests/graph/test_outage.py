"""Neo4j going away: the API answers 503 with Retry-After, then recovers by itself."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from app.api import create_app
from app.api.wiring import services_of
from app.settings import load_settings
from graphdb.driver import Neo4jTarget, connect
from graphdb.local.server import ServerConfig, start, stop
from graphdb.migrations import migrate
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="stopping and restarting a server needs the locally provisioned Neo4j",
)


def test_outage_gives_503_then_recovers(tmp_path: Path) -> None:
    config = ServerConfig(
        cache_dir=Path(os.environ.get("IG_CACHE_DIR", Path.home() / ".cache" / "interest-graph")),
        state_dir=tmp_path, bolt_port=free_port(), http_port=free_port(), auth=False,
        heap="512m", pagecache="64m",
    )  # fmt: skip
    start(config)
    try:
        with connect(Neo4jTarget(config.bolt_uri)) as driver:
            migrate(driver)
        settings = load_settings(
            neo4j_uri=config.bolt_uri, neo4j_auth=False, api_auth=False, neo4j_retry_s=1.0
        )
        app = create_app(settings)
        client = app.test_client()
        event = {"user_id": "u1", "item_id": "i1", "type": "view", "ts": "2024-05-01T00:00:00Z"}
        assert client.get("/health/ready").status_code == 200
        stop(config)
        for response in (client.get("/health/ready"), client.post("/api/v1/events", json=event),
                         client.get("/api/v1/users/u1/recommendations")):  # fmt: skip
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            error = response.get_json()["error"]
            assert error["code"] == "graph_unavailable" and "Traceback" not in str(error)
        start(config)
        deadline = time.monotonic() + 60
        while client.get("/health/ready").status_code != 200:
            assert time.monotonic() < deadline, "the API did not recover after Neo4j came back"
            time.sleep(1)
        assert client.post("/api/v1/events", json=event).status_code == 200
        services_of(app).close()
    finally:
        stop(config)
