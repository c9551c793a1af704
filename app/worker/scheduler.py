"""``interest-graph worker``: the scheduled side of the service, in its own process.

An APScheduler ``BlockingScheduler`` runs seven jobs, every one with ``max_instances=1``,
``coalesce=True``, an explicit ``misfire_grace_time`` and a fixed id:

- ``incremental-refresh`` (every ``refresh_interval_s``): re-embed what changed;
- ``full-retrain`` (``retrain_cron``, UTC): ``run_training`` on the whole graph;
- ``requested-runs`` (every ``refresh_poll_s``): claim and run refreshes queued via the API;
- ``decay-upkeep`` (every ``decay_interval_s``): store interest weights decayed to now,
  delete finished runs older than ``refresh_retention_days`` and purge old erasure
  tombstones;
- ``item-text-vectors`` (every ``refresh_interval_s``): encode the text of new and edited
  items for semantic search (``app.training.text_index``);
- ``item-tags`` (every ``refresh_interval_s``): re-tag changed items and refresh the tag
  interests of the users they affect (``app.worker.tagging``);
- ``lease-heartbeat`` (every ``lease_ttl_s / 3``): take or renew the worker lease.

On taking the lease, the worker first takes back what a killed training left behind (its
abandoned version's staged vectors and registry folder, ``app.training.recovery``).

Every job works only while this process holds the ``(:WorkerLease {name: 'refresh-worker'})``
(see ``graphdb.lease``), confirmed at the start of each job, so several worker processes may
run and exactly one does the work; the others stand by and take over when the holder's lease
expires. Within the process one refresh runs at a time. Every refresh, scheduled or
requested, is recorded as a ``(:RefreshRun)``.

SIGTERM/SIGINT stop the scheduler; a refresh in progress gets ``worker_stop_grace_s`` to
finish, after which it is recorded as failed and abandoned. The lease is then released and
the process's one graph store closed.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from datetime import UTC
from types import FrameType
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.base import STATE_RUNNING
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from app.settings import Settings
from app.worker.quiet_skips import install as install_quiet_skips
from graphdb.lease import Clock, Lease, wall_clock
from graphdb.refresh_runs import RefreshRun, RunOutcome, short_error
from graphdb.serving_feed import ERASURE_KEEP_S
from graphdb.store import GraphStore

if TYPE_CHECKING:
    from app.worker.refresh import IncrementalRefresher

log = logging.getLogger(__name__)

LEASE_NAME = "refresh-worker"
JOB_INCREMENTAL = "incremental-refresh"
JOB_RETRAIN = "full-retrain"
JOB_REQUESTED = "requested-runs"
JOB_UPKEEP = "decay-upkeep"
JOB_HEARTBEAT = "lease-heartbeat"
JOB_TEXT = "item-text-vectors"
JOB_TAGS = "item-tags"
RETRAIN_MISFIRE_S = 3600  # a worker back within the hour still does the nightly retrain
WORKER_RETRY_S = 15.0  # managed transactions ride out a short graph outage
ABANDONED = "WorkerStopped: the worker was stopped before the run finished"


class LeaseLost(RuntimeError):
    """Another worker holds the lease now; a run in progress stops at its next batch."""


@dataclass(frozen=True)
class RunResult:
    """How the worker's part of one run ended: the final status and what it recorded."""

    status: str
    outcome: RunOutcome


class Worker:
    """The scheduled jobs over one graph store; ``run()`` blocks until SIGTERM/SIGINT.

    Args:
        settings: Service settings.
        store: A store to use (a test's); by default the worker opens and closes its own.
        clock: The lease's "now" (default: the wall clock, UTC).
    """

    def __init__(
        self, settings: Settings, store: GraphStore | None = None, clock: Clock = wall_clock
    ):
        self.settings = settings
        self._owns_store = store is None
        self.store = store or GraphStore.connect(
            settings.neo4j_target(),
            verify=False,
            retry_time_s=max(settings.neo4j_retry_s, WORKER_RETRY_S),
        )
        self.lease = Lease(self.store.leases, LEASE_NAME, settings.lease_ttl_s, clock=clock)
        self.stopping = threading.Event()
        self.abandoned: str | None = None  # the run left behind at shutdown, if any
        self._work = threading.Lock()  # one refresh at a time in this process
        self._current: str | None = None
        self._refresher: IncrementalRefresher | None = None
        self._wound_down = threading.Event()
        # Serialises lease writes: a job thread's take-or-renew that was under way when the
        # stop came must not commit after the release and keep the lease for a stopped worker.
        self._lease_writes = threading.Lock()

    # -- the lease ------------------------------------------------------------------------

    def hold_lease(self) -> bool:
        """Take or renew the lease; after a takeover, fail runs the old holder left running.

        False once the worker is stopping: it must not take back a lease it is giving up.
        """
        with self._lease_writes:
            if self.stopping.is_set():
                return False
            return self._take_or_renew_lease()

    def _take_or_renew_lease(self) -> bool:
        was_held = self.lease.held
        try:
            held = self.lease.acquire()
            if held and not was_held:
                orphans = self.store.runs.fail_orphaned_runs(self.lease.holder)
                log.info("holding the worker lease as %s (%d orphaned runs failed)",
                         self.lease.holder, orphans)  # fmt: skip
                self._clean_up_after_crashes()
        except Exception as exc:
            log.warning("could not take or renew the worker lease: %s", short_error(exc))
            return False
        if was_held and not held:
            log.warning("lost the worker lease; standing by")
        return held

    def _clean_up_after_crashes(self) -> None:
        """What a killed training left (``app.training.recovery``), taken back on taking over."""
        from app.training.recovery import clean_up_after_crashes
        from ml.registry import ModelRegistry

        try:
            clean_up_after_crashes(
                self.store, ModelRegistry(self.settings.model_dir), self.lease.clock
            )
        except Exception as exc:  # the next training cleans up as well
            log.warning("crash clean-up failed: %s", short_error(exc))

    def heartbeat(self) -> None:
        if not self.stopping.is_set():
            self.hold_lease()

    # -- jobs -------------------------------------------------------------------------------

    def incremental_job(self) -> None:
        self._scheduled("incremental")

    def retrain_job(self) -> None:
        self._scheduled("full")

    def text_job(self) -> None:
        """Text vectors for new and edited catalog items (semantic search)."""
        if self.stopping.is_set() or not self.hold_lease():
            return
        from app.training.text_index import embed_item_texts

        try:
            embed_item_texts(self.store)
        except Exception:  # the next interval retries; one bad batch must not stop the worker
            log.exception("embedding item texts failed")

    def tags_job(self) -> None:
        """Tags of changed items and the tag interests of the users they touch."""
        if self.stopping.is_set() or not self.hold_lease():
            return
        from app.worker.tagging import run_tagging

        try:
            run_tagging(
                self.store,
                self.settings.fold_config().half_life_ms,
                should_stop=self.stopping.is_set,
            )
        except Exception:  # the next interval retries; one bad page must not stop the worker
            log.exception("tagging items failed")

    def _scheduled(self, kind: str) -> None:
        if self.stopping.is_set() or not self.hold_lease():
            return
        if not self._work.acquire(blocking=False):
            if kind == "full":  # never lose the nightly retrain: it runs after the current one
                self.store.runs.queue_run(kind, trigger="schedule")
            return
        try:
            self.execute(self.store.runs.start_run(kind, self.lease.holder))
        finally:
            self._work.release()

    def requested_job(self) -> None:
        """Run queued refreshes, oldest first, while the worker is not stopping."""
        if self.stopping.is_set() or not self.hold_lease():
            return
        if not self._work.acquire(blocking=False):
            return  # a refresh is running; the queue waits for the next tick
        try:
            while self.lease.held and not self.stopping.is_set():  # the heartbeat may lose it
                run = self.store.runs.claim_next_run(self.lease.holder)
                if run is None:
                    return
                self.execute(run)
        finally:
            self._work.release()

    def upkeep_job(self) -> None:
        if self.stopping.is_set() or not self.hold_lease():
            return
        started = time.perf_counter()
        edges = self.store.upkeep.decay_interest_edges(
            self.settings.fold_config().half_life_ms, should_stop=self.stopping.is_set
        )
        retention_s = self.settings.refresh_retention_days * 86_400
        deleted = self.store.runs.delete_old_runs(retention_s)
        tombstones = self.store.feed.purge_erasures(ERASURE_KEEP_S)
        log.info("upkeep: %d interest edges decayed to now, %d old runs and %d erasure "
                 "tombstones deleted in %.1fs", edges, deleted, tombstones,
                 time.perf_counter() - started)  # fmt: skip

    # -- one refresh run ------------------------------------------------------------------

    def execute(self, run: RefreshRun) -> RefreshRun:
        """Perform a claimed or started run and record how it ended."""
        self._current = run.id
        started = time.perf_counter()
        try:
            result = self._perform(run)
        except Exception as exc:
            log.exception("refresh run %s (%s) failed", run.id, run.kind)
            result = RunResult("failed", RunOutcome(error=short_error(exc)))
        outcome = replace(result.outcome, seconds=round(time.perf_counter() - started, 3))
        try:
            finished = self.store.runs.finish_run(run.id, result.status, outcome)
        finally:
            self._current = None
        log.info("refresh run %s (%s): %s in %.1fs", run.id, run.kind, result.status,
                 outcome.seconds)  # fmt: skip
        return finished

    def _perform(self, run: RefreshRun) -> RunResult:
        return self._full_retrain(run.force) if run.kind == "full" else self._incremental()

    def refresher(self) -> IncrementalRefresher:
        """The process's one refresher: it keeps the graph cached between runs."""
        if self._refresher is None:
            from app.worker.refresh import IncrementalRefresher

            self._refresher = IncrementalRefresher(
                self.store, self.settings, after_batch=self._still_leased
            )
        return self._refresher

    def _still_leased(self, written: int) -> None:
        """Between write batches: stop writing once another worker has taken the lease."""
        if not self.lease.held:
            raise LeaseLost(f"the worker lease passed to another worker after {written} rows")

    def _incremental(self) -> RunResult:
        report = self.refresher().run()
        outcome = RunOutcome(
            changed=report.changed,
            refreshed=report.refreshed,
            written=report.written,
            model_version=report.model_version,
            max_untouched_drift=report.max_untouched_drift,
            pending=report.pending,
            max_pending_move=report.max_pending_move,
            reason=report.skipped_reason,
        )
        return RunResult("skipped" if report.skipped_reason else "succeeded", outcome)

    def _full_retrain(self, force: bool = False) -> RunResult:
        from app.training.pipeline import run_training, train_config_from

        try:
            config = train_config_from(self.settings)
            report = run_training(self.store, self.settings, config, force=force, say=log.info)
        finally:
            if self._refresher is not None:  # its cached graph and vectors are now stale
                self._refresher.reset()
        written = report.written_users + report.written_items
        outcome = RunOutcome(
            refreshed=written,
            written=written,
            model_version=report.version,
            max_untouched_drift=0.0 if report.promoted else None,
            reason=None if report.promoted else f"not promoted: {report.reason}",
        )
        return RunResult("succeeded" if report.promoted else "skipped", outcome)

    # -- the process ----------------------------------------------------------------------

    def build_scheduler(self) -> BlockingScheduler:
        s = self.settings
        scheduler = BlockingScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=6)}, timezone=UTC
        )
        jobs: list[tuple[Any, Any, str, int]] = [
            (self.incremental_job, IntervalTrigger(seconds=s.refresh_interval_s),
             JOB_INCREMENTAL, max(1, s.refresh_interval_s // 2)),
            (self.retrain_job, CronTrigger.from_crontab(s.retrain_cron, timezone=UTC),
             JOB_RETRAIN, RETRAIN_MISFIRE_S),
            (self.requested_job, IntervalTrigger(seconds=s.refresh_poll_s),
             JOB_REQUESTED, max(1, int(s.refresh_poll_s))),
            (self.upkeep_job, IntervalTrigger(seconds=s.decay_interval_s),
             JOB_UPKEEP, max(1, s.decay_interval_s // 2)),
            (self.text_job, IntervalTrigger(seconds=s.refresh_interval_s),
             JOB_TEXT, max(1, s.refresh_interval_s // 2)),
            (self.tags_job, IntervalTrigger(seconds=s.refresh_interval_s),
             JOB_TAGS, max(1, s.refresh_interval_s // 2)),
            (self.heartbeat, IntervalTrigger(seconds=s.lease_ttl_s / 3),
             JOB_HEARTBEAT, max(1, int(s.lease_ttl_s / 3))),
        ]  # fmt: skip
        for func, trigger, job_id, misfire_s in jobs:
            scheduler.add_job(
                func, trigger, id=job_id, name=job_id, max_instances=1, coalesce=True,
                misfire_grace_time=misfire_s, replace_existing=True,
            )  # fmt: skip
        quiet = install_quiet_skips()
        scheduler.add_listener(
            lambda event: quiet.job_ran(event.job_id), EVENT_JOB_EXECUTED | EVENT_JOB_ERROR
        )
        return scheduler

    def request_stop(self, signum: int = 0, frame: FrameType | None = None) -> None:
        """Signal handler: only sets a flag; the stopper thread does the real work."""
        self.stopping.set()

    def _stop_when_asked(self, scheduler: BlockingScheduler) -> None:
        self.stopping.wait()
        while not self._wound_down.is_set():
            if scheduler.state == STATE_RUNNING:
                scheduler.shutdown(wait=False)
                return
            time.sleep(0.05)  # asked to stop while the scheduler was still starting

    def run(self) -> int:
        """Block running the schedule until asked to stop; then wind down. Returns 0."""
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        scheduler = self.build_scheduler()
        stopper = threading.Thread(
            target=self._stop_when_asked, args=(scheduler,), name="worker-stop", daemon=True
        )
        stopper.start()
        self.hold_lease()
        log.info("worker %s: refresh every %ss, retrain at '%s' UTC, lease %s (%s)",
                 self.lease.holder, self.settings.refresh_interval_s, self.settings.retrain_cron,
                 LEASE_NAME, "held" if self.lease.held else "standing by")  # fmt: skip
        if not self.stopping.is_set():
            scheduler.start()  # returns once the stopper thread shut it down
        self.wind_down()
        return 0

    def wind_down(self) -> None:
        """Let a run in progress finish (within the grace time), release the lease, close."""
        self.stopping.set()
        if not self._wait_for_work(self.settings.worker_stop_grace_s):
            self.abandoned = self._current
            if self.abandoned is not None:
                log.warning("abandoning run %s at shutdown", self.abandoned)
                self._quietly(self.store.runs.finish_run, self.abandoned, "failed",
                              RunOutcome(error=ABANDONED))  # fmt: skip
        # The work lock stays taken: no job thread still pending may start another run.
        with self._lease_writes:  # released even if the last renewal failed: it may be ours
            self._quietly(self.lease.release)
        if self._owns_store:
            self.store.close()
        self._wound_down.set()
        log.info("worker stopped")

    def _wait_for_work(self, grace_s: float) -> bool:
        """Wait for the refresh in progress, renewing the lease meanwhile; True once idle."""
        deadline = time.monotonic() + grace_s
        step = self.settings.lease_ttl_s / 3
        while not self._work.acquire(timeout=max(0.0, min(step, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return False
            with self._lease_writes:
                if self.lease.held:
                    self._quietly(self.lease.renew)
        return True

    @staticmethod
    def _quietly(func: Any, *args: Any) -> None:
        try:
            func(*args)
        except Exception as exc:  # shutting down: the graph may be the thing that is gone
            log.warning("during shutdown: %s", short_error(exc))


def run_worker(settings: Settings) -> int:
    """The ``interest-graph worker`` command."""
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    worker = Worker(settings)
    code = worker.run()
    if worker.abandoned is not None:
        # The abandoned run's thread cannot be interrupted, and the interpreter would wait
        # for it at exit: leave now (its work is transactional, or redone by the next run).
        sys.stderr.flush()
        os._exit(code)
    return code
