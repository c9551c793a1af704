"""After a training was killed: its lease ends, and the next training or worker start cleans up.

A training run holds a lease of its own (:class:`TrainingLease`, ``graphdb.recovery``) from
before it writes anything until it is done, renewed every third of ``lease_ttl_s``. Its
holder id is its *writer* name: in the registry's staging folder name and ``meta.json``, and
on the ``(:ModelVersion)`` it stages. A process killed with SIGKILL runs no clean-up of its
own; its lease simply stops being renewed. :func:`clean_up_after_crashes` then takes back,
for every writer whose lease has ended:

- its ``staging`` version in the graph, marked ``abandoned`` (and the vectors it wrote into its
  embedding slot, as of every abandoned or failed version, removed from the nodes);
- its registry folder: a half-saved ``.staging@`` folder, a version the graph marks abandoned,
  or a saved version the gate never decided on (killed before or during the write-back).

A live writer's work is never touched: the set of live writers is read *after* the folders
and versions are listed, and a writer takes its lease before it creates either, so whatever
a live writer made is seen together with its live lease. Versions the gate kept inactive
(``outcome.json``) and folders of versions the graph served stay.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from types import TracebackType

from graphdb.lease import Clock, Lease, new_holder_id, wall_clock
from graphdb.recovery import training_lease_name
from graphdb.store import GraphStore
from ml.registry import ModelRegistry

log = logging.getLogger(__name__)


class TrainingLease:
    """The lease one training run holds while it runs; a context manager.

    Args:
        store: The graph store.
        ttl_s: How long the lease lives unrenewed (the worker's ``lease_ttl_s``).
        clock: The lease's "now" (default: the wall clock, UTC).
    """

    def __init__(self, store: GraphStore, ttl_s: float, clock: Clock = wall_clock) -> None:
        self.holder = new_holder_id()
        self._lease = Lease(
            store.leases, training_lease_name(self.holder), ttl_s, self.holder, clock
        )
        self._stop = threading.Event()
        self._renewer = threading.Thread(
            target=self._keep_renewing, name="training-lease", daemon=True
        )

    def __enter__(self) -> TrainingLease:
        if not self._lease.acquire():  # the name is this process's own: only a bug loses it
            raise RuntimeError(f"could not take the training lease {self._lease.name}")
        self._renewer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._renewer.join(timeout=5)
        try:
            self._lease.release()
        except Exception as error:  # the graph may be what failed; the lease then expires
            log.warning("could not release the training lease: %s", error)

    def _keep_renewing(self) -> None:
        while not self._stop.wait(self._lease.ttl_s / 3):
            try:
                if not self._lease.renew():
                    log.warning("training lease %s was taken back by a clean-up", self.holder)
            except Exception as error:  # a graph outage: keep trying until it is back
                log.warning("could not renew the training lease: %s", error)


@dataclass
class CleanUp:
    """What :func:`clean_up_after_crashes` took back."""

    abandoned: list[str] = field(default_factory=list)
    staged_discarded: int = 0
    folders_removed: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.abandoned or self.staged_discarded or self.folders_removed)


def clean_up_after_crashes(
    store: GraphStore, registry: ModelRegistry, clock: Clock = wall_clock
) -> CleanUp:
    """Take back what trainings whose lease has ended left in the graph and the registry."""
    done = CleanUp()
    staging = store.recovery.staging_versions()
    half_saved = registry.staging_folders()
    saved = {v: (registry.writer(v), registry.outcome(v)) for v in registry.versions()}
    live = store.recovery.live_training_writers(clock())  # after the listings: see above
    for left in staging:
        if left.writer not in live and store.recovery.abandon(left.version):
            done.abandoned.append(left.version)
    statuses = store.recovery.version_statuses()
    for version, (writer, outcome) in saved.items():
        status = statuses.get(version)
        if not _orphaned(status, writer, outcome, live):
            continue
        if status is None:  # killed before its write-back: the graph notes it abandoned now
            if not store.recovery.abandon(version):
                continue
            done.abandoned.append(version)
        registry.remove(version)
        done.folders_removed.append(version)
    for path, writer in half_saved.items():
        if writer not in live:
            registry.discard_folder(path)
            done.folders_removed.append(path.name)
    registry.purge_removed()
    done.staged_discarded = store.recovery.discard_dead_staged()
    store.recovery.drop_ended_training_leases(clock())
    if done:
        log.warning("crash clean-up: abandoned %s, %d staged vectors discarded, removed %s",
                    done.abandoned or "none", done.staged_discarded,
                    done.folders_removed or "no folders")  # fmt: skip
    return done


def _orphaned(status: str | None, writer: str | None, outcome: str | None, live: set[str]) -> bool:
    """Whether a saved version's folder is a dead training's leftover.

    The graph's word decides for a version it knows (only ``abandoned`` ones go: ``failed``
    keeps its weights beside the error); for one it does not, the version is a leftover when
    the gate never decided on it and its writer's lease has ended (a folder saved before
    writers were noted stays).
    """
    if status is not None:
        return status == "abandoned"
    return outcome is None and writer is not None and writer not in live
