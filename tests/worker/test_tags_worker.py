"""The worker's tagging job: it tags only while holding the lease, and survives a bad run."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.worker.scheduler import LEASE_NAME, Worker
from graphdb.fold import FoldConfig
from graphdb.lease import acquire_lease
from graphdb.store import GraphStore
from tests.conftest import Neo4jTestServer

ITEM = {"item_id": "mug", "title": "Ceramic coffee mug", "category_path": ["Kitchen"]}
EVENT = {"user_id": "u1", "item_id": "mug", "type": "purchase",
         "ts": (datetime.now(UTC) - timedelta(days=1)).isoformat()}  # fmt: skip
COUNT_TAGS = "MATCH (:User {user_id: 'u1'})-[r:INTERESTED_IN]->(t:Tag) RETURN t.tag_id AS tag"


@pytest.fixture()
def settings(neo4j_server: Neo4jTestServer, tmp_path: Path) -> Settings:
    target = neo4j_server.target
    return load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password, neo4j_auth=target.password is not None,
        model_dir=tmp_path / "models", worker_stop_grace_s=0.2, lease_ttl_s=30,
    )  # fmt: skip


@pytest.fixture()
def worker(graph: Driver, settings: Settings) -> Iterator[Worker]:
    instance = Worker(settings, store=GraphStore(graph))
    yield instance
    instance.stopping.set()


def _load(graph: Driver) -> None:
    import_items(GraphStore(graph), [ITEM], progress=False)
    import_events(GraphStore(graph), [EVENT], FoldConfig(), IntakeLimits(), progress=False)


def test_tags_job_tags_items_and_users(graph: Driver, worker: Worker) -> None:
    _load(graph)
    worker.tags_job()
    assert {r["tag"] for r in graph.execute_query(COUNT_TAGS).records} == {"ceramic coffee mug"}


def test_tags_job_stands_by_without_the_lease(graph: Driver, worker: Worker) -> None:
    _load(graph)
    assert acquire_lease(graph, LEASE_NAME, "someone-else", 60)
    worker.tags_job()
    assert not graph.execute_query(COUNT_TAGS).records


def test_a_failing_run_is_logged_not_raised(
    graph: Driver, worker: Worker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("graph hiccup")

    monkeypatch.setattr("app.worker.tagging.run_tagging", broken)
    worker.tags_job()  # must not raise: the next interval retries
    assert "tagging items failed" in caplog.text
