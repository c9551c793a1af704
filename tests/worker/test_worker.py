"""The worker's jobs in-process over the real server: lease, runs, retrain, refresh, upkeep."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.sources.demo import demo_stream
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from app.worker.scheduler import (
    JOB_HEARTBEAT,
    JOB_INCREMENTAL,
    JOB_REQUESTED,
    JOB_RETRAIN,
    JOB_TAGS,
    JOB_TEXT,
    JOB_UPKEEP,
    LEASE_NAME,
    LeaseLost,
    Worker,
)
from graphdb.embeddings import active_version
from graphdb.fold import FoldConfig
from graphdb.lease import acquire_lease, read_lease
from graphdb.refresh_runs import RunOutcome, finish_run, list_runs, queue_run, read_run, start_run
from graphdb.slots import active_vector
from graphdb.store import GraphStore
from tests.communities import separated_shop
from tests.conftest import Neo4jTestServer

NOW = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture()
def settings(neo4j_server: Neo4jTestServer, tmp_path: Path) -> Settings:
    target = neo4j_server.target
    return load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password, neo4j_auth=target.password is not None,
        model_dir=tmp_path / "models", train_epochs=2, model_kind="inductive",
        worker_stop_grace_s=0.2, lease_ttl_s=90,
    )  # fmt: skip


@pytest.fixture()
def worker(graph: Driver, settings: Settings) -> Iterator[Worker]:
    # The session's driver, in a store the worker does not close.
    instance = Worker(settings, store=GraphStore(graph))
    yield instance
    instance.stopping.set()


def _shop(driver: Driver) -> None:
    stream = demo_stream(n_users=30, n_items=40, n_events=800, seed=5, now=NOW)
    import_items(GraphStore(driver), stream.items(), progress=False)
    import_events(GraphStore(driver), stream.events(), FoldConfig(), IntakeLimits(), progress=False)


def _nodes(driver: Driver) -> int:
    query = "MATCH (n) WHERE n:User OR n:Item RETURN count(n) AS n"
    return int(driver.execute_query(query).records[0]["n"])


def test_every_job_has_a_fixed_id_and_never_overlaps_itself(worker: Worker) -> None:
    jobs = {job.id: job for job in worker.build_scheduler().get_jobs()}
    assert set(jobs) == {
        JOB_INCREMENTAL, JOB_RETRAIN, JOB_REQUESTED, JOB_UPKEEP, JOB_HEARTBEAT, JOB_TEXT,
        JOB_TAGS,
    }  # fmt: skip
    for job in jobs.values():
        assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time >= 1
    assert "hour='3'" in str(jobs[JOB_RETRAIN].trigger)
    assert jobs[JOB_RETRAIN].misfire_grace_time == 3600
    assert jobs[JOB_INCREMENTAL].trigger.interval.total_seconds() == 60
    assert jobs[JOB_HEARTBEAT].trigger.interval.total_seconds() == 30  # a third of the ttl


def test_api_request_is_run_by_the_worker_poll_job(
    client: FlaskClient, graph: Driver, worker: Worker
) -> None:
    _shop(graph)
    response = client.post("/api/v1/refresh", json={"kind": "full"})
    assert response.status_code == 202
    location = response.headers["Location"]
    assert client.get(location).get_json()["status"] == "queued"
    worker.requested_job()
    run = client.get(location).get_json()
    assert run["status"] == "succeeded", run
    active = active_version(graph)
    assert active is not None and run["model_version"] == active.version
    assert run["written"] == _nodes(graph) and run["seconds"] > 0 and run["error"] is None
    assert run["started_at"] <= run["finished_at"]
    lease = read_lease(graph, LEASE_NAME)
    assert lease is not None and lease.holder == worker.lease.holder and lease.live
    worker.wind_down()
    assert read_lease(graph, LEASE_NAME).holder is None  # type: ignore[union-attr]


def test_an_admin_forces_a_retrain_the_gate_refused(
    client: FlaskClient, graph: Driver, settings: Settings
) -> None:
    store = GraphStore(graph)
    items, events = separated_shop(seed=5)
    import_items(store, items, progress=False)
    import_events(store, events, FoldConfig(), IntakeLimits(), progress=False)
    trained = settings.model_copy(update={"train_epochs": 8, "short_term_weight": 0.0})
    assert run_training(store, trained, train_config_from(trained)).promoted
    # A worker whose retrain cannot learn: the gate refuses it unless an admin insists.
    weak = Worker(trained.model_copy(update={"train_lr": 1e-9, "train_epochs": 1}), store=store)
    try:
        assert client.post("/api/v1/refresh", json={"kind": "full"}).status_code == 202
        weak.requested_job()
        refused = list_runs(graph, 1)[0]
        assert refused.status == "skipped" and not refused.force
        assert refused.reason is not None and "today's holdout" in refused.reason
        response = client.post("/api/v1/refresh", json={"kind": "full", "force": True})
        assert response.status_code == 202 and response.get_json()["force"] is True
        weak.requested_job()
        forced = list_runs(graph, 1)[0]
        assert forced.status == "succeeded" and forced.force, forced
        assert forced.model_version == active_version(graph).version  # type: ignore[union-attr]
    finally:
        weak.stopping.set()


def test_incremental_job_refreshes_what_changed(
    client: FlaskClient, graph: Driver, settings: Settings, worker: Worker
) -> None:
    _shop(graph)
    assert run_training(
        GraphStore(graph), settings, train_config_from(settings), force=True
    ).promoted
    worker.incremental_job()  # the process's first refresh reads the whole graph
    event = {"user_id": "brand-new-user", "item_id": "demo:i3", "type": "purchase"}
    assert client.post("/api/v1/events", json=event).status_code == 200
    worker.incremental_job()
    second, first = list_runs(graph, 2)
    assert (first.kind, first.trigger, first.status) == (
        "incremental", "schedule", "succeeded",
    )  # fmt: skip
    assert second.status == "succeeded", second
    assert second.changed >= 1 and second.written >= 1 and second.refreshed >= 1
    assert second.model_version == active_version(graph).version  # type: ignore[union-attr]
    assert second.max_untouched_drift is not None
    embedded = graph.execute_query(
        "MATCH (m:ModelVersion {active: true}) MATCH (u:User {user_id: 'brand-new-user'}) "
        "RETURN " + active_vector("u") + " IS NOT NULL AS e"
    ).records
    assert embedded[0]["e"]


def test_a_failing_run_is_recorded_with_a_short_error(graph: Driver, worker: Worker) -> None:
    run, _ = queue_run(graph, "full")  # nothing to learn from: run_training refuses
    worker.requested_job()
    failed = read_run(graph, run.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error == (
        "ValueError: the graph has no interactions to learn from; import events first"
    )


def test_a_standby_worker_does_no_work(graph: Driver, worker: Worker) -> None:
    assert acquire_lease(graph, LEASE_NAME, "the-other-worker", ttl_s=30)
    run, _ = queue_run(graph, "incremental")
    worker.requested_job()
    worker.incremental_job()
    worker.retrain_job()
    assert not worker.lease.held
    assert [(r.id, r.status) for r in list_runs(graph)] == [(run.id, "queued")]
    with pytest.raises(LeaseLost):
        worker._still_leased(100)  # a refresh in progress stops writing


def test_taking_the_lease_fails_runs_a_dead_worker_left(graph: Driver, worker: Worker) -> None:
    orphan = start_run(graph, "incremental", worker="dead-worker")
    assert worker.hold_lease()
    assert read_run(graph, orphan.id).status == "failed"  # type: ignore[union-attr]


def test_nightly_retrain_while_busy_is_queued_not_lost(graph: Driver, worker: Worker) -> None:
    assert worker.hold_lease()
    with worker._work:  # a refresh in progress
        worker.retrain_job()
        worker.incremental_job()  # the next interval will do
    runs = list_runs(graph)
    assert [(r.kind, r.status, r.trigger) for r in runs] == [("full", "queued", "schedule")]


def test_upkeep_job_decays_interests_and_deletes_old_runs(graph: Driver, worker: Worker) -> None:
    graph.execute_query(
        "CREATE (:User {user_id: 'u1'})-[:INTERESTED_IN {weight: 2.0, count: 1, "
        "last_ts: datetime() - duration('P60D')}]->(:Brand {brand_id: 'b1'})"
    )
    old = finish_run(graph, start_run(graph, "full", "w").id, "succeeded", RunOutcome(seconds=1.0))
    graph.execute_query(
        "MATCH (r:RefreshRun {id: $id}) SET r.started_at = datetime() - duration('P400D')",
        id=old.id,
    )
    worker.upkeep_job()
    weight = graph.execute_query("MATCH ()-[r:INTERESTED_IN]->() RETURN r.weight_now AS w")
    assert weight.records[0]["w"] == pytest.approx(0.5, rel=1e-3)  # two half-lives
    assert read_run(graph, old.id) is None


def test_a_run_still_going_at_shutdown_is_abandoned(graph: Driver, worker: Worker) -> None:
    assert worker.hold_lease()
    run = start_run(graph, "full", worker.lease.holder)
    worker._work.acquire()  # as a job thread in the middle of the run would hold it
    worker._current = run.id
    worker.wind_down()  # grace 0.2 s
    assert worker.abandoned == run.id
    ended = read_run(graph, run.id)
    assert ended is not None and ended.status == "failed"
    assert ended.error.startswith("WorkerStopped")
    assert read_lease(graph, LEASE_NAME).holder is None  # type: ignore[union-attr]


def test_a_lease_renewal_under_way_at_shutdown_cannot_keep_the_lease(
    graph: Driver, worker: Worker
) -> None:
    assert worker.hold_lease()
    in_flight, go_on = threading.Event(), threading.Event()
    acquire = worker.lease.acquire

    def slow_acquire() -> bool:  # a heartbeat's renewal, held up (a slow graph) mid-way
        in_flight.set()
        go_on.wait(10)
        return acquire()

    worker.lease.acquire = slow_acquire  # type: ignore[method-assign]
    heartbeat = threading.Thread(target=worker.heartbeat)
    heartbeat.start()
    assert in_flight.wait(10)
    stopping = threading.Thread(target=worker.wind_down)
    stopping.start()  # the stop comes while the renewal is under way
    time.sleep(0.3)
    go_on.set()
    heartbeat.join(10)
    stopping.join(10)
    state = read_lease(graph, LEASE_NAME)
    assert state is not None and state.holder is None and not state.live
    assert not worker.hold_lease(), "a stopping worker takes no lease"
