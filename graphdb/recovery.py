"""What a training killed mid-way leaves in the graph, and taking it back.

A training holds a lease of its own, ``(:WorkerLease {name: 'model-training:<holder>'})``,
renewed while it runs (``app.training.recovery``); its holder is noted as ``writer`` on the
``(:ModelVersion)`` it stages. A writer that was killed stops renewing, and once its lease has
expired (or it released it) nothing of its work can still be under way, so the next training
or worker start marks its staging version ``abandoned`` and removes the vectors it wrote into
its embedding slot (``graphdb.slots``; never the served slot, which only the active version
writes).

Marking takes the version node's write lock first and only then reads its status, as the
switch (``graphdb.embeddings``) does: a writer that was merely slow and switches first leaves
an ``active`` version the clean-up does not touch; one that comes second finds ``abandoned``
and refuses to switch.

A staging version with no ``writer`` was staged without a training lease (by code older than
the leases, or a script calling ``write_model_version`` directly): nothing can say whether it
is alive, so it is treated as dead, as the switch used to treat every older staging version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from neo4j import ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.slot_upkeep import discard_versions

TRAINING_LEASE_PREFIX = "model-training:"

STAGING_VERSIONS = """
MATCH (m:ModelVersion {status: 'staging'})
RETURN m.version AS version, m.writer AS writer
ORDER BY version
"""
VERSION_STATUSES = "MATCH (m:ModelVersion) RETURN m.version AS version, m.status AS status"
LIVE_TRAINING_WRITERS = """
MATCH (l:WorkerLease) WHERE l.name STARTS WITH $prefix
  AND l.holder IS NOT NULL AND l.expires_at > $now
RETURN collect(l.holder) AS holders
"""
# A version the graph never heard of (its training was killed before the write-back) gets a
# node saying it was abandoned, so a writer that was only cut off cannot stage it later.
ABANDON_VERSION = """
MERGE (m:ModelVersion {version: $version})
ON CREATE SET m.status = 'abandoned', m.active = false, m.created_at = datetime(),
              m.note = 'killed before its write-back'
SET m._lock = true
REMOVE m._lock
WITH m WHERE m.status IN ['staging', 'abandoned'] AND NOT coalesce(m.active, false)
SET m.status = 'abandoned', m.abandoned_at = coalesce(m.abandoned_at, datetime.transaction())
RETURN count(m) AS abandoned
"""
# Versions no writer will switch to any more: their slot values are garbage.
DEAD_VERSIONS = """
MATCH (m:ModelVersion) WHERE m.status IN ['abandoned', 'failed']
RETURN collect(m.version) AS versions
"""
DROP_ENDED_TRAINING_LEASES = """
MATCH (l:WorkerLease) WHERE l.name STARTS WITH $prefix
  AND (l.holder IS NULL OR l.expires_at <= $now)
DELETE l
RETURN count(l) AS n
"""


@dataclass(frozen=True)
class StagingVersion:
    """A version whose vectors are being (or were being) staged, and who stages them."""

    version: str
    writer: str | None


def training_lease_name(holder: str) -> str:
    """The lease a training run holds while it may write to the registry or the graph."""
    return TRAINING_LEASE_PREFIX + holder


def _abandon_tx(tx: ManagedTransaction, version: str) -> bool:
    return int(tx.run(ABANDON_VERSION, version=version).single(strict=True)["abandoned"]) == 1


class Recovery(StoreArea):
    """The store's crash clean-up operations, bound to its driver and database."""

    def staging_versions(self) -> list[StagingVersion]:
        """Every version left ``staging``, with its writer (``None``: written before writers
        were noted)."""
        records = self.driver.execute_query(STAGING_VERSIONS, database_=self.database).records
        return [StagingVersion(r["version"], r["writer"]) for r in records]

    def version_statuses(self) -> dict[str, str | None]:
        """Each version the graph knows, with its status."""
        records = self.driver.execute_query(VERSION_STATUSES, database_=self.database).records
        return {r["version"]: r["status"] for r in records}

    def live_training_writers(self, now: datetime) -> set[str]:
        """Holders of training leases that are unexpired at ``now``."""
        records = self.driver.execute_query(
            LIVE_TRAINING_WRITERS, prefix=TRAINING_LEASE_PREFIX, now=now, database_=self.database
        ).records
        return set(records[0]["holders"])

    def abandon(self, version: str) -> bool:
        """Mark ``version`` abandoned unless it switched active meanwhile; true when it is
        abandoned now (also when the graph had no node for it yet)."""
        with causal_session(self.driver, self.database) as session:
            return session.execute_write(_abandon_tx, version)

    def discard_dead_staged(self, batch_size: int = 10_000) -> int:
        """Remove the slot values of every abandoned or failed version; how many nodes."""
        records = self.driver.execute_query(DEAD_VERSIONS, database_=self.database).records
        versions = list(records[0]["versions"])
        if not versions:
            return 0
        with causal_session(self.driver, self.database) as session:
            return discard_versions(session, versions, batch_size)

    def drop_ended_training_leases(self, now: datetime) -> int:
        """Delete training leases released or expired by ``now``; how many."""
        records = self.driver.execute_query(
            DROP_ENDED_TRAINING_LEASES, prefix=TRAINING_LEASE_PREFIX, now=now,
            database_=self.database,
        ).records  # fmt: skip
        return int(records[0]["n"])
