"""Upkeep of the two embedding slots (``graphdb.slots``): clearing a slot before a version is
written into it, discarding given versions' values, and the slot's vector indexes (dropped and
rebuilt for ``rebuild_index`` writes, awaited ONLINE before a switch). Every removal runs in
batches of their own transactions, so no transaction grows with the graph."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from neo4j import ManagedTransaction, Session

from graphdb.slots import LABELS, SLOTS, Slot, per_slot

# Everything in a slot the active version does not use is stale (an older or failed
# version's), so a write-back clears all of it; the stamp's range index finds it.
_CLEAR_SLOT = """
MATCH (n:{label}) WHERE n.{version} IS NOT NULL
WITH n LIMIT $limit
REMOVE n.{vector}, n.{version}, n.{updated_at}
RETURN count(n) AS n
"""
CLEAR_SLOT = {label: per_slot(_CLEAR_SLOT, label=label) for label in LABELS}
# Only the values of the given versions (the crash clean-up's and a failed write's).
_DISCARD_VERSIONS = """
MATCH (n:{label}) WHERE n.{version} IN $versions
WITH n LIMIT $limit
REMOVE n.{vector}, n.{version}, n.{updated_at}
RETURN count(n) AS n
"""
DISCARD_VERSIONS = {label: per_slot(_DISCARD_VERSIONS, label=label) for label in LABELS}
READ_INDEX_STATES = """
SHOW VECTOR INDEXES YIELD name, state WHERE name IN $names
RETURN name, state
"""
AWAIT_INDEXES = "CALL db.awaitIndexes($timeout_s)"
DROP_INDEX = {
    s.name: tuple(f"DROP INDEX {s.index(lb)} IF EXISTS" for lb in LABELS) for s in SLOTS.values()
}
CREATE_INDEX = {s.name: tuple(s.create_index(lb) for lb in LABELS) for s in SLOTS.values()}


class SlotIndexesOffline(RuntimeError):
    """A slot's vector indexes did not come ONLINE in time."""


def count_tx(tx: ManagedTransaction, query: str, **params: Any) -> int:
    return int(tx.run(query, **params).single(strict=True)["n"])


def remove_in_batches(session: Session, query: str, batch_size: int, **params: Any) -> int:
    """Run a removal ``query`` (``LIMIT $limit``, returning ``n``) until a batch comes back
    short; how many nodes in all. Batches keep each transaction's memory bounded."""
    removed = 0
    while True:
        n = session.execute_write(count_tx, query, limit=batch_size, **params)
        removed += n
        if n < batch_size:
            return removed


def clear_slot(session: Session, target: Slot, batch_size: int) -> int:
    """Remove every value left in ``target`` by older versions, a batch per transaction."""
    return sum(
        remove_in_batches(session, CLEAR_SLOT[label][target.name], batch_size) for label in LABELS
    )


def discard_versions(session: Session, versions: Sequence[str], batch_size: int = 10_000) -> int:
    """Remove the values of ``versions`` from both slots, in batches; how many nodes."""
    return sum(
        remove_in_batches(
            session, DISCARD_VERSIONS[label][name], batch_size, versions=list(versions)
        )  # fmt: skip
        for label in LABELS
        for name in SLOTS
    )


def await_online(session: Session, target: Slot, timeout_s: int = 600) -> None:
    """Wait until ``target``'s vector indexes are ONLINE: a switch to a slot whose index is
    still populating would serve similar-items queries from part of the vectors."""
    names = [target.user_index, target.item_index]
    session.run(AWAIT_INDEXES, timeout_s=timeout_s).consume()
    states = {r["name"]: r["state"] for r in session.run(READ_INDEX_STATES, names=names)}
    if any(states.get(name) != "ONLINE" for name in names):
        raise SlotIndexesOffline(f"slot {target.name} indexes are not online: {states}")
