"""Refresh runs: one ``(:RefreshRun)`` node per incremental or full refresh, from request to end.

A run requested through the API is created ``queued``; the worker that holds the lease claims
the oldest queued run (``running``) and finishes it as ``succeeded``, ``failed`` or
``skipped``. Runs the worker starts on its schedule are created ``running`` directly. Only a
short ``Class: message`` is stored as ``error``, never a stack trace.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from typing import Any, Literal

from neo4j import Driver, ManagedTransaction
from neo4j.time import DateTime

from graphdb.area import StoreArea
from graphdb.driver import causal_session

RunKind = Literal["incremental", "full"]
RunStatus = Literal["queued", "running", "succeeded", "failed", "skipped"]
KINDS: tuple[str, ...] = ("incremental", "full")
FINAL_STATUSES: tuple[str, ...] = ("succeeded", "failed", "skipped")
MAX_ERROR_CHARS = 500

_RUN_FIELDS = """r {.id, .kind, .trigger, .force, .status, .requested_at, .started_at, .finished_at,
       .changed, .refreshed, .written, .model_version, .max_untouched_drift, .pending,
       .max_pending_move, .seconds, .error, .reason}"""
CREATE_RUN = f"""
CREATE (r:RefreshRun {{id: $id, kind: $kind, trigger: $trigger, status: $status,
                      force: $force, requested_at: datetime(), worker: $worker}})
SET r.started_at = CASE WHEN $status = 'running' THEN datetime() END
RETURN {_RUN_FIELDS} AS run
"""
# A forced request joins a waiting run of its kind by making it forced.
FORCE_QUEUED = f"""
MATCH (r:RefreshRun {{id: $id, status: 'queued'}})
SET r.force = true
RETURN {_RUN_FIELDS} AS run
"""
READ_QUEUED_OF_KIND = f"""
MATCH (r:RefreshRun {{status: 'queued'}}) WHERE r.kind = $kind
WITH r ORDER BY r.requested_at LIMIT 1
RETURN {_RUN_FIELDS} AS run
"""
# Lock the candidate before re-checking its status: two claimers never run the same run.
CLAIM_OLDEST_QUEUED = f"""
MATCH (r:RefreshRun {{status: 'queued'}})
WITH r ORDER BY r.requested_at, r.id LIMIT 1
SET r._lock = true
REMOVE r._lock
WITH r WHERE r.status = 'queued'
SET r.status = 'running', r.started_at = datetime(), r.worker = $worker
RETURN {_RUN_FIELDS} AS run
"""
FINISH_RUN = f"""
MATCH (r:RefreshRun {{id: $id}})
SET r += $fields, r.finished_at = datetime()
RETURN {_RUN_FIELDS} AS run
"""
READ_RUN = f"MATCH (r:RefreshRun {{id: $id}}) RETURN {_RUN_FIELDS} AS run"
LIST_RUNS = f"""
MATCH (r:RefreshRun)
RETURN {_RUN_FIELDS} AS run
ORDER BY r.requested_at DESC, r.id DESC
LIMIT $limit
"""
# Runs left `running` by a worker that is gone (the lease passed to another process).
FAIL_ORPHANED_RUNS = """
MATCH (r:RefreshRun {status: 'running'})
WHERE r.worker IS NULL OR r.worker <> $worker
SET r.status = 'failed', r.finished_at = datetime(),
    r.error = 'WorkerLost: the worker running it stopped before it finished'
RETURN count(r) AS failed
"""
DELETE_OLD_RUNS = """
MATCH (r:RefreshRun)
WHERE r.started_at < datetime() - duration({seconds: $retention_s})
  AND r.status IN ['succeeded', 'failed', 'skipped']
WITH r LIMIT $batch
DETACH DELETE r
RETURN count(*) AS deleted
"""
# What /metrics needs: when the embeddings were last made fresh, and runs finished lately.
READ_FRESHNESS = """
CALL () { MATCH (u:User) RETURN count(u) AS users }
OPTIONAL MATCH (m:ModelVersion {active: true})
WITH users, max(m.activated_at) AS trained, max(m.refreshed_at) AS refreshed
RETURN users, trained, refreshed,
       COLLECT { MATCH (r:RefreshRun) WHERE r.finished_at IS NOT NULL AND r.status = 'succeeded'
                 RETURN r.finished_at ORDER BY r.finished_at DESC LIMIT 1 }[0] AS succeeded,
       COLLECT { MATCH (r:RefreshRun) WHERE r.finished_at IS NOT NULL
                 RETURN r.finished_at ORDER BY r.finished_at DESC LIMIT 1 }[0] AS latest
"""
READ_FINISHED_SINCE = """
MATCH (r:RefreshRun) WHERE r.finished_at > $after AND r.seconds IS NOT NULL
RETURN r.kind AS kind, r.status AS status, r.seconds AS seconds, r.finished_at AS finished_at
ORDER BY r.finished_at
LIMIT $limit
"""
# Before any run finished, a reader's watermark starts at the epoch.
EPOCH = DateTime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class RefreshRun:
    """One ``(:RefreshRun)`` as stored: what was asked, when, and how it ended.

    Attributes:
        id: The run's id (a UUID).
        kind: ``incremental`` or ``full``.
        trigger: ``api`` or ``schedule``.
        force: A full retrain promoted whatever the gate's scores (asked by an admin).
        status: ``queued``, ``running``, ``succeeded``, ``failed`` or ``skipped``.
        requested_at: When it was queued or started (UTC).
        started_at: When a worker started it (None while queued).
        finished_at: When it ended (None until then).
        changed: Users and items that changed since the watermark (incremental runs).
        refreshed: Nodes re-embedded.
        written: Vectors written back.
        model_version: The model version refreshed or trained.
        max_untouched_drift: Largest move of a sampled node outside the refreshed field.
        pending: Moved vectors left for later runs (the write budget went to larger moves).
        max_pending_move: Largest move among them: how far what is stored lags.
        seconds: How long the run took.
        error: ``Class: message`` of a failure, never a traceback.
        reason: Why a run was skipped.
    """

    id: str
    kind: str
    trigger: str
    status: str
    requested_at: datetime
    force: bool = False
    started_at: datetime | None = None
    finished_at: datetime | None = None
    changed: int | None = None
    refreshed: int | None = None
    written: int | None = None
    model_version: str | None = None
    max_untouched_drift: float | None = None
    pending: int | None = None
    max_pending_move: float | None = None
    seconds: float | None = None
    error: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class RunOutcome:
    """How a run ended, as :func:`finish_run` stores it (None: not recorded).

    The fields are :class:`RefreshRun`'s outcome fields; see there.
    """

    changed: int | None = None
    refreshed: int | None = None
    written: int | None = None
    model_version: str | None = None
    max_untouched_drift: float | None = None
    pending: int | None = None
    max_pending_move: float | None = None
    seconds: float | None = None
    error: str | None = None
    reason: str | None = None

    def stored_fields(self) -> dict[str, Any]:
        """The recorded fields only: a None is left out rather than written as a removal."""
        return {key: value for key, value in asdict(self).items() if value is not None}


@dataclass(frozen=True)
class FinishedRun:
    kind: str
    status: str
    seconds: float


@dataclass(frozen=True)
class Freshness:
    """``fresh_at``: the last full training or succeeded refresh (None: never). ``finished``:
    runs finished after the reader's watermark, oldest first; ``watermark``: the server's
    timestamp to pass as ``after`` next time (kept as Neo4j's nanosecond ``DateTime``);
    ``users``: users in the graph (from the count store: the metrics' list coverage)."""

    fresh_at: datetime | None
    finished: list[FinishedRun]
    watermark: DateTime
    users: int = 0


def short_error(exc: BaseException) -> str:
    """``Class: first line of the message``, bounded; never a traceback."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:MAX_ERROR_CHARS]


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


_RUN_KEYS = tuple(f.name for f in fields(RefreshRun))


def _run(record: Any) -> RefreshRun:
    stored = record["run"]
    values = {key: _native(stored.get(key)) for key in _RUN_KEYS}
    return RefreshRun(**{**values, "force": bool(values["force"])})  # runs stored before: null


def _create_tx(
    tx: ManagedTransaction,
    kind: str,
    trigger: str,
    status: str,
    worker: str | None,
    force: bool = False,
) -> RefreshRun:
    record = tx.run(
        CREATE_RUN, id=str(uuid.uuid4()), kind=kind, trigger=trigger, status=status,
        worker=worker, force=force,
    ).single(strict=True)  # fmt: skip
    return _run(record)


def _queue_tx(
    tx: ManagedTransaction, kind: str, trigger: str, force: bool
) -> tuple[RefreshRun, bool]:
    existing = tx.run(READ_QUEUED_OF_KIND, kind=kind).single()
    if existing is None:
        return _create_tx(tx, kind, trigger, "queued", None, force), True
    run = _run(existing)
    if force and not run.force:
        run = _run(tx.run(FORCE_QUEUED, id=run.id).single(strict=True))
    return run, False


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown refresh kind {kind!r}; expected one of {list(KINDS)}")


def queue_run(
    driver: Driver,
    kind: str,
    trigger: str = "api",
    database: str | None = None,
    force: bool = False,
) -> tuple[RefreshRun, bool]:
    """Queue a run for the worker; a run of this kind already waiting is returned instead
    (made forced, if this request is).

    Returns the run and whether it was created now.
    """
    _check_kind(kind)
    if force and kind != "full":
        raise ValueError("force applies to full retrains only")
    with causal_session(driver, database) as session:
        return session.execute_write(_queue_tx, kind, trigger, force)


def start_run(
    driver: Driver, kind: str, worker: str, trigger: str = "schedule", database: str | None = None
) -> RefreshRun:
    """Record a run the worker starts right away (created ``running``)."""
    _check_kind(kind)
    with causal_session(driver, database) as session:
        return session.execute_write(_create_tx, kind, trigger, "running", worker)


def _claim_tx(tx: ManagedTransaction, worker: str) -> RefreshRun | None:
    record = tx.run(CLAIM_OLDEST_QUEUED, worker=worker).single()
    return _run(record) if record is not None else None


def claim_next_run(driver: Driver, worker: str, database: str | None = None) -> RefreshRun | None:
    """Mark the oldest queued run ``running`` for ``worker``; None when none is waiting."""
    with causal_session(driver, database) as session:
        return session.execute_write(_claim_tx, worker)


def _finish_tx(tx: ManagedTransaction, run_id: str, stored: dict[str, Any]) -> RefreshRun:
    return _run(tx.run(FINISH_RUN, id=run_id, fields=stored).single(strict=True))


def finish_run(
    driver: Driver,
    run_id: str,
    status: str,
    outcome: RunOutcome,
    database: str | None = None,
) -> RefreshRun:
    """Store a run's end: its status and outcome (changed, written, seconds, error, ...)."""
    if status not in FINAL_STATUSES:
        raise ValueError(f"a run finishes as one of {list(FINAL_STATUSES)}, not {status!r}")
    stored = {**outcome.stored_fields(), "status": status}
    with causal_session(driver, database) as session:
        return session.execute_write(_finish_tx, run_id, stored)


def read_run(driver: Driver, run_id: str, database: str | None = None) -> RefreshRun | None:
    records = driver.execute_query(READ_RUN, id=run_id, database_=database).records
    return _run(records[0]) if records else None


def list_runs(driver: Driver, limit: int = 20, database: str | None = None) -> list[RefreshRun]:
    """The latest runs, newest request first."""
    records = driver.execute_query(LIST_RUNS, limit=limit, database_=database).records
    return [_run(record) for record in records]


def _count_tx(tx: ManagedTransaction, query: str, params: dict[str, Any]) -> int:
    return int(tx.run(query, **params).single(strict=True)[0])


def fail_orphaned_runs(driver: Driver, worker: str, database: str | None = None) -> int:
    """Fail runs left ``running`` by another (dead) worker; call after taking the lease."""
    with causal_session(driver, database) as session:
        return session.execute_write(_count_tx, FAIL_ORPHANED_RUNS, {"worker": worker})


def delete_old_runs(
    driver: Driver, retention_s: float, batch: int = 1000, database: str | None = None
) -> int:
    """Delete finished runs that started more than ``retention_s`` ago, in batches."""
    deleted = 0
    params = {"retention_s": int(retention_s), "batch": batch}
    with causal_session(driver, database) as session:
        while True:
            n = session.execute_write(_count_tx, DELETE_OLD_RUNS, params)
            deleted += n
            if n < batch:
                return deleted


def _freshness_tx(tx: ManagedTransaction, after: DateTime | None, limit: int) -> Freshness:
    row = tx.run(READ_FRESHNESS).single(strict=True)
    stamps = [_native(row[key]) for key in ("trained", "refreshed", "succeeded")]
    fresh = max((s for s in stamps if s is not None), default=None)
    if after is None:  # a new reader counts runs that finish from now on
        return Freshness(fresh, [], row["latest"] or EPOCH, row["users"])
    records = list(tx.run(READ_FINISHED_SINCE, after=after, limit=limit))
    finished = [FinishedRun(r["kind"], r["status"], float(r["seconds"])) for r in records]
    watermark = records[-1]["finished_at"] if records else after
    return Freshness(fresh, finished, watermark, row["users"])


def read_freshness(
    driver: Driver, after: DateTime | None, limit: int = 1000, database: str | None = None
) -> Freshness:
    """Staleness and the runs finished after ``after`` (the previous call's watermark)."""
    with causal_session(driver, database) as session:
        return session.execute_read(_freshness_tx, after, limit)


class RefreshRuns(StoreArea):
    """The store's refresh runs operations, bound to its driver and database."""

    def queue_run(
        self, kind: str, trigger: str = "api", force: bool = False
    ) -> tuple[RefreshRun, bool]:
        """Queue a run for the worker; a run of this kind already waiting is returned instead
        (made forced, if this request is)."""
        return queue_run(self.driver, kind, trigger, database=self.database, force=force)

    def start_run(self, kind: str, worker: str, trigger: str = "schedule") -> RefreshRun:
        """Record a run the worker starts right away (created ``running``)."""
        return start_run(self.driver, kind, worker, trigger, database=self.database)

    def claim_next_run(self, worker: str) -> RefreshRun | None:
        """Mark the oldest queued run ``running`` for ``worker``; None when none is waiting."""
        return claim_next_run(self.driver, worker, database=self.database)

    def finish_run(self, run_id: str, status: str, outcome: RunOutcome) -> RefreshRun:
        """Store a run's end: its status and outcome (changed, written, seconds, error, ...)."""
        return finish_run(self.driver, run_id, status, outcome, database=self.database)

    def read_run(self, run_id: str) -> RefreshRun | None:
        return read_run(self.driver, run_id, database=self.database)

    def list_runs(self, limit: int = 20) -> list[RefreshRun]:
        """The latest runs, newest request first."""
        return list_runs(self.driver, limit, database=self.database)

    def fail_orphaned_runs(self, worker: str) -> int:
        """Fail runs left ``running`` by another (dead) worker; call after taking the lease."""
        return fail_orphaned_runs(self.driver, worker, database=self.database)

    def delete_old_runs(self, retention_s: float, batch: int = 1000) -> int:
        """Delete finished runs that started more than ``retention_s`` ago, in batches."""
        return delete_old_runs(self.driver, retention_s, batch, database=self.database)

    def read_freshness(self, after: DateTime | None, limit: int = 1000) -> Freshness:
        """Staleness and the runs finished after ``after`` (the previous call's watermark)."""
        return read_freshness(self.driver, after, limit, database=self.database)
