"""Storing behaviour events: interaction nodes plus their fold into weighted edges.

A batch is one write transaction, so it is stored whole or not at all. ``event_id`` is the
idempotency key: an id already in the graph is skipped, and only events created by *this*
transaction are folded, so a retried or repeated batch never counts anything twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from neo4j import Driver, ManagedTransaction, RoutingControl

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.fold import EventRow, FoldConfig, fold_interactions, fold_interests
from graphdb.params import batch_rows

# How much is loaded: the demo loads its shop only into a graph without events, and the
# offline bulk load only into a graph holding nothing but its schema records.
COUNT_INTERACTIONS = "MATCH (x:Interaction) RETURN count(x) AS n"
COUNT_DATA_NODES = "MATCH (n) WHERE NOT n:SchemaMigration RETURN count(n) AS n"

# One read: which event ids are already stored (the idempotency check), and the categories
# and brands of the batch's items (the interest fold's targets).
READ_BATCH_STATE = """
CALL () {
  UNWIND $event_ids AS event_id
  MATCH (x:Interaction {event_id: event_id})
  RETURN collect(event_id) AS existing
}
CALL () {
  UNWIND $item_ids AS item_id
  MATCH (i:Item {item_id: item_id})
  RETURN collect({
    item_id: item_id,
    categories: COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN c.category_id },
    brands: COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN b.brand_id }
  }) AS targets
}
RETURN existing, targets
"""
# Distinct users and items of the batch, merged once each and stamped for change tracking.
MERGE_USERS = """
UNWIND $user_ids AS user_id
MERGE (u:User {user_id: user_id})
ON CREATE SET u.created_at = datetime.transaction()
SET u.changed_at = datetime.transaction()
"""
MERGE_ITEMS = """
UNWIND $item_ids AS item_id
MERGE (i:Item {item_id: item_id})
ON CREATE SET i.created_at = datetime.transaction(), i.in_catalog = false
SET i.changed_at = datetime.transaction()
"""
# MERGE on the key only: under the unique constraint a concurrent writer of the same id holds
# its index entry until it commits, and this MERGE then matches its node instead of failing.
# A node this statement made has no ``ingested_at`` yet (every stored one has), so only those
# get their properties and relationships, and only their ids come back to be folded.
MERGE_INTERACTIONS = """
UNWIND $rows AS row
MERGE (x:Interaction {event_id: row.event_id})
WITH x, row WHERE x.ingested_at IS NULL
MATCH (u:User {user_id: row.user_id})
MATCH (i:Item {item_id: row.item_id})
CREATE (u)-[:PERFORMED]->(x)-[:ON]->(i)
SET x.type = row.type, x.ts = datetime({epochMillis: row.ts_ms}), x.value = row.value,
    x.weight = row.weight, x.text = row.text, x.sentiment = row.sentiment,
    x.session_id = row.session_id, x.ingested_at = datetime.transaction()
RETURN collect(row.event_id) AS created
"""
# Rows are unique per (user, item), so no two rows of one statement touch the same edge.
# Every value is computed in WITH before SET so the update reads only the old state.
FOLD_INTERACTED = """
UNWIND $pair_rows AS row
MATCH (u:User {user_id: row.user_id})
MATCH (i:Item {item_id: row.item_id})
MERGE (u)-[r:INTERACTED]->(i)
ON CREATE SET r.weight = 0.0, r.count = 0,
              r.first_ts = datetime({epochMillis: row.first_ms}),
              r.last_ts = datetime({epochMillis: row.last_ms}),
              r.count_view = 0, r.count_click = 0, r.count_cart = 0, r.count_favorite = 0,
              r.count_purchase = 0, r.count_rating = 0, r.count_review = 0
WITH r, row, r.last_ts.epochMillis AS old_ms, r.first_ts.epochMillis AS old_first_ms
WITH r, row, old_ms, old_first_ms,
     CASE WHEN row.last_ms > old_ms THEN row.last_ms ELSE old_ms END AS anchor
WITH r, row, anchor,
     r.weight * 2.0 ^ (-(anchor - old_ms) / $half_life_ms)
       + row.weight * 2.0 ^ (-(anchor - row.last_ms) / $half_life_ms) AS weight,
     CASE WHEN row.first_ms < old_first_ms THEN row.first_ms ELSE old_first_ms END AS first_ms
SET r.weight = weight,
    r.updated_at = datetime.transaction(),
    r.last_ts = datetime({epochMillis: anchor}),
    r.first_ts = datetime({epochMillis: first_ms}),
    r.count = r.count + row.count,
    r.count_view = r.count_view + row.count_view,
    r.count_click = r.count_click + row.count_click,
    r.count_cart = r.count_cart + row.count_cart,
    r.count_favorite = r.count_favorite + row.count_favorite,
    r.count_purchase = r.count_purchase + row.count_purchase,
    r.count_rating = r.count_rating + row.count_rating,
    r.count_review = r.count_review + row.count_review
"""
_FOLD_INTEREST_TAIL = """
MERGE (u)-[r:INTERESTED_IN]->(t)
ON CREATE SET r.weight = 0.0, r.count = 0, r.last_ts = datetime({epochMillis: row.last_ms})
WITH r, row, r.last_ts.epochMillis AS old_ms
WITH r, row, old_ms, CASE WHEN row.last_ms > old_ms THEN row.last_ms ELSE old_ms END AS anchor
WITH r, row, anchor,
     r.weight * 2.0 ^ (-(anchor - old_ms) / $half_life_ms)
       + row.weight * 2.0 ^ (-(anchor - row.last_ms) / $half_life_ms) AS weight
SET r.weight = weight, r.last_ts = datetime({epochMillis: anchor}), r.count = r.count + row.count
"""
FOLD_CATEGORY_INTEREST = (
    """
UNWIND $category_rows AS row
MATCH (u:User {user_id: row.user_id})
MATCH (t:Category {category_id: row.target_id})
"""
    + _FOLD_INTEREST_TAIL
)
FOLD_BRAND_INTEREST = (
    """
UNWIND $brand_rows AS row
MATCH (u:User {user_id: row.user_id})
MATCH (t:Brand {brand_id: row.target_id})
"""
    + _FOLD_INTEREST_TAIL
)
# The write in two statements: the nodes (whose result says which events are new), then the
# fold of the new events. Each step is a unit subquery over its own rows, run in order, so
# later steps see the nodes the earlier ones made.
STORE_INTERACTIONS = (
    "CALL () {" + MERGE_USERS + "}\nCALL () {" + MERGE_ITEMS + "}\n" + MERGE_INTERACTIONS
)
FOLD_BATCH = (
    "CALL () {" + FOLD_INTERACTED + "}\n"
    "CALL () {" + FOLD_CATEGORY_INTEREST + "}\n"
    "CALL () {" + FOLD_BRAND_INTEREST + "}\n"
)


@dataclass(frozen=True)
class IngestResult:
    """What a batch did: new events stored and folded, and ids that were already there."""

    created: int
    duplicates: int
    created_ids: tuple[str, ...]


def _event_params(events: Sequence[EventRow], config: FoldConfig) -> list[dict[str, object]]:
    return [
        {
            "event_id": e.event_id,
            "user_id": e.user_id,
            "item_id": e.item_id,
            "type": e.type,
            "ts_ms": e.ts_ms,
            "value": e.value,
            "weight": config.contribution(e.type, e.value, e.sentiment),
            "text": e.text,
            "sentiment": e.sentiment,
            "session_id": e.session_id,
        }
        for e in events
    ]


def _unique_by_event_id(events: Sequence[EventRow]) -> list[EventRow]:
    seen: dict[str, EventRow] = {}
    for event in events:
        seen.setdefault(event.event_id, event)
    return list(seen.values())


def _read_state_tx(
    tx: ManagedTransaction, events: Sequence[EventRow]
) -> tuple[set[str], dict[str, list[str]], dict[str, list[str]]]:
    record = tx.run(
        READ_BATCH_STATE,
        event_ids=batch_rows(e.event_id for e in events),
        item_ids=batch_rows(sorted({e.item_id for e in events})),
    ).single(strict=True)
    categories = {t["item_id"]: list(t["categories"]) for t in record["targets"] if t["categories"]}
    brands = {t["item_id"]: list(t["brands"]) for t in record["targets"] if t["brands"]}
    return set(record["existing"]), categories, brands


def _store_tx(
    tx: ManagedTransaction, candidates: Sequence[EventRow], config: FoldConfig
) -> set[str]:
    """Merge the candidates' users, items and interactions; the ids this transaction created."""
    record = tx.run(
        STORE_INTERACTIONS,
        user_ids=batch_rows(sorted({e.user_id for e in candidates})),
        item_ids=batch_rows(sorted({e.item_id for e in candidates})),
        # By id: concurrent batches take the ids' index-entry locks in one order (no deadlock).
        rows=batch_rows(_event_params(sorted(candidates, key=lambda e: e.event_id), config)),
    ).single(strict=True)
    return set(record["created"])


def write_events_tx(
    tx: ManagedTransaction, events: Sequence[EventRow], config: FoldConfig
) -> IngestResult:
    """Store a batch and fold the events it created. Idempotent, so safe to retry.

    An id stored before this transaction, or by a concurrent one that commits first, is a
    duplicate: it is neither stored again nor folded.
    """
    unique = _unique_by_event_id(events)
    existing, categories, brands = _read_state_tx(tx, unique)
    # Sorted rows keep lock order stable across concurrent batches (fewer deadlocks).
    candidates = sorted(
        (e for e in unique if e.event_id not in existing),
        key=lambda e: (e.user_id, e.item_id, e.ts_ms),
    )
    created_ids = _store_tx(tx, candidates, config) if candidates else set()
    created = [e for e in candidates if e.event_id in created_ids]
    if created:
        tx.run(
            FOLD_BATCH,
            pair_rows=batch_rows(fold_interactions(created, config)),
            category_rows=batch_rows(fold_interests(created, categories, config)),
            brand_rows=batch_rows(fold_interests(created, brands, config)),
            half_life_ms=float(config.half_life_ms),
        ).consume()
    return IngestResult(
        created=len(created),
        duplicates=len(events) - len(created),
        created_ids=tuple(e.event_id for e in created),
    )


def write_events(
    driver: Driver, events: Sequence[EventRow], config: FoldConfig, database: str | None = None
) -> IngestResult:
    """Write one all-or-nothing batch in a managed (retried) transaction."""
    if not events:
        return IngestResult(created=0, duplicates=0, created_ids=())
    with causal_session(driver, database) as session:
        return session.execute_write(write_events_tx, events, config)


def _count(driver: Driver, query: str, database: str | None) -> int:
    records = driver.execute_query(query, database_=database, routing_=RoutingControl.READ)
    return int(records.records[0]["n"])


def count_interactions(driver: Driver, database: str | None = None) -> int:
    """How many behaviour events the graph holds."""
    return _count(driver, COUNT_INTERACTIONS, database)


def count_data_nodes(driver: Driver, database: str | None = None) -> int:
    """How many nodes the graph holds besides its schema-migration records."""
    return _count(driver, COUNT_DATA_NODES, database)


class Events(StoreArea):
    """The store's ingest operations, bound to its driver and database."""

    def write_events(self, events: Sequence[EventRow], config: FoldConfig) -> IngestResult:
        """Write one all-or-nothing batch in a managed (retried) transaction."""
        return write_events(self.driver, events, config, database=self.database)

    def count_interactions(self) -> int:
        """How many behaviour events the graph holds."""
        return count_interactions(self.driver, database=self.database)

    def count_data_nodes(self) -> int:
        """How many nodes the graph holds besides its schema-migration records."""
        return count_data_nodes(self.driver, database=self.database)
