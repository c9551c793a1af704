"""Refresh-run records and the decay upkeep, against the real server."""

from __future__ import annotations

import pytest
from neo4j import Driver

from graphdb.refresh_runs import (
    RunOutcome,
    claim_next_run,
    delete_old_runs,
    fail_orphaned_runs,
    finish_run,
    list_runs,
    queue_run,
    read_freshness,
    read_run,
    short_error,
    start_run,
)
from graphdb.upkeep import decay_interest_edges

DAY_MS = 86_400_000


def test_queue_coalesces_per_kind_and_claims_oldest_first(graph: Driver) -> None:
    first, created = queue_run(graph, "incremental")
    again, created_again = queue_run(graph, "incremental")
    full, _ = queue_run(graph, "full")
    assert created and not created_again and again.id == first.id
    assert first.status == "queued" and first.trigger == "api"
    assert first.requested_at is not None and first.started_at is None
    claimed = claim_next_run(graph, "w1")
    assert claimed is not None and claimed.id == first.id and claimed.status == "running"
    assert claimed.started_at is not None
    assert claim_next_run(graph, "w1").id == full.id  # type: ignore[union-attr]
    assert claim_next_run(graph, "w1") is None
    assert [r.id for r in list_runs(graph)] == [full.id, first.id]  # newest first
    with pytest.raises(ValueError, match="unknown refresh kind"):
        queue_run(graph, "partial")


def test_finish_records_the_outcome_and_a_short_error(graph: Driver) -> None:
    run = start_run(graph, "incremental", worker="w1")
    assert run.status == "running" and run.trigger == "schedule"
    outcome = {"changed": 3, "refreshed": 40, "written": 12, "model_version": "v1",
               "max_untouched_drift": 0.0, "seconds": 1.25}  # fmt: skip
    done = finish_run(graph, run.id, "succeeded", RunOutcome(**outcome))
    assert {k: getattr(done, k) for k in outcome} == outcome
    assert done.status == "succeeded" and done.finished_at >= done.started_at
    try:
        raise ValueError("the graph has no interactions\nsecond line with detail")
    except ValueError as exc:
        error = short_error(exc)
    assert error == "ValueError: the graph has no interactions"
    failed = finish_run(graph, start_run(graph, "full", "w1").id, "failed", RunOutcome(error=error))
    assert failed.error == error and "Traceback" not in failed.error
    assert read_run(graph, run.id) == done and read_run(graph, "nope") is None
    with pytest.raises(ValueError):
        finish_run(graph, run.id, "running", RunOutcome())


def test_runs_left_running_by_a_gone_worker_are_failed(graph: Driver) -> None:
    old = start_run(graph, "incremental", worker="dead-worker")
    mine = start_run(graph, "incremental", worker="new-worker")
    assert fail_orphaned_runs(graph, "new-worker") == 1
    assert read_run(graph, old.id).status == "failed"  # type: ignore[union-attr]
    assert read_run(graph, old.id).error.startswith("WorkerLost")  # type: ignore[union-attr]
    assert read_run(graph, mine.id).status == "running"  # type: ignore[union-attr]


def test_retention_deletes_only_old_finished_runs(graph: Driver) -> None:
    old = finish_run(graph, start_run(graph, "full", "w").id, "succeeded", RunOutcome(seconds=1.0))
    recent = finish_run(graph, start_run(graph, "full", "w").id, "failed", RunOutcome(seconds=1.0))
    waiting, _ = queue_run(graph, "incremental")
    graph.execute_query(
        "MATCH (r:RefreshRun) WHERE r.id IN $ids SET r.started_at = datetime() - duration('P30D'), "
        "r.requested_at = datetime() - duration('P30D')",
        ids=[old.id, waiting.id],
    )
    assert delete_old_runs(graph, retention_s=14 * 86_400, batch=1) == 1
    assert {r.id for r in list_runs(graph)} == {recent.id, waiting.id}


def test_freshness_counts_runs_finished_after_the_watermark(graph: Driver) -> None:
    empty = read_freshness(graph, None)
    assert empty.fresh_at is None and empty.finished == []
    later = read_freshness(graph, empty.watermark)
    assert later.finished == [] and later.watermark == empty.watermark
    finish_run(graph, start_run(graph, "incremental", "w").id, "succeeded", RunOutcome(seconds=2.0))
    finish_run(graph, start_run(graph, "full", "w").id, "failed", RunOutcome(seconds=7.0))
    seen = read_freshness(graph, empty.watermark)
    assert [(r.kind, r.status, r.seconds) for r in seen.finished] == [
        ("incremental", "succeeded", 2.0),
        ("full", "failed", 7.0),
    ]
    assert seen.fresh_at is not None  # the succeeded incremental run
    assert read_freshness(graph, seen.watermark).finished == []  # each run counted once
    assert read_freshness(graph, None).finished == []  # a new reader starts from now


def test_decay_upkeep_stores_weights_decayed_to_now(graph: Driver) -> None:
    graph.execute_query(
        "UNWIND range(1, 5) AS k "
        "CREATE (u:User {user_id: 'u' + k})-[:INTERESTED_IN {weight: 8.0, count: 1, "
        "  last_ts: datetime() - duration({days: 30 * (k % 2)})}]->(:Category {category_id: 'c' + k})"
    )
    updated = decay_interest_edges(graph, half_life_ms=30 * DAY_MS, batch=2)
    assert updated == 5
    rows = graph.execute_query(
        "MATCH (u:User)-[r:INTERESTED_IN]->() "
        "RETURN u.user_id AS u, r.weight_now AS now, r.weight AS w, r.weight_now_at AS at"
    ).records
    assert len({r["at"] for r in rows}) == 1  # one instant for the whole pass
    for r in rows:
        expected = 4.0 if int(r["u"][1:]) % 2 else 8.0  # one half-life old, or fresh
        assert r["now"] == pytest.approx(expected, rel=1e-3) and r["w"] == 8.0
    assert decay_interest_edges(graph, 30 * DAY_MS, should_stop=lambda: True) == 0
