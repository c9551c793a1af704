"""Item text vectors in the graph: which items need one, writing them, searching them.

An item needs a (new) text vector when it has a title or description and either has none yet
or its catalog entry changed after the vector was made (``catalog_updated_at`` is stamped by
every catalog upsert). Vectors are computed outside this package (``ml.text``) and arrive as
numpy rows; searching takes a query vector from the same encoder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from neo4j import Driver, ManagedTransaction, RoutingControl

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.params import batch_rows
from graphdb.similar_items import ScoredItem

READ_ITEMS_NEEDING_TEXT = """
MATCH (i:Item)
WHERE (i.title IS NOT NULL OR i.description IS NOT NULL)
  AND (i.text_embedded_at IS NULL OR i.catalog_updated_at > i.text_embedded_at)
RETURN i.item_id AS item_id, i.title AS title, i.description AS description,
       i.brand_name AS brand,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN c.path }[0] AS path
LIMIT $limit
"""
# Stored as a float32 vector property (compact, like the graph embeddings), then stamped.
# The text is an input of the inductive GNN, so a new vector is a change the next incremental
# refresh must see (``changed_at``), exactly like new categories.
WRITE_TEXT_VECTORS = """
UNWIND $rows AS row
MATCH (i:Item {item_id: row.item_id})
CALL db.create.setNodeVectorProperty(i, 'text_embedding', row.vector)
SET i.text_embedded_at = datetime.transaction(), i.changed_at = datetime.transaction()
"""
SEARCH_ITEMS = """
CALL db.index.vector.queryNodes('item_text_embedding', $k, $vector) YIELD node, score
RETURN node.item_id AS item_id, node.title AS title, score
ORDER BY score DESC
"""


@dataclass(frozen=True)
class ItemTextRow:
    item_id: str
    title: str | None
    description: str | None
    categories: tuple[str, ...]  # the leaf category's path, root first
    brand: str | None


def items_needing_text(
    driver: Driver, limit: int, database: str | None = None
) -> list[ItemTextRow]:
    records = driver.execute_query(
        READ_ITEMS_NEEDING_TEXT, limit=limit, database_=database, routing_=RoutingControl.READ
    ).records
    return [
        ItemTextRow(r["item_id"], r["title"], r["description"], tuple(r["path"] or ()), r["brand"])
        for r in records
    ]


def _write_tx(tx: ManagedTransaction, rows: list[dict[str, object]]) -> None:
    tx.run(WRITE_TEXT_VECTORS, rows=batch_rows(rows))


def write_text_vectors(
    driver: Driver, item_ids: Sequence[str], vectors: np.ndarray, database: str | None = None
) -> int:
    """Store one vector per item (rows of ``vectors``, float32) in one transaction."""
    rows = [{"item_id": i, "vector": v} for i, v in zip(item_ids, vectors.tolist(), strict=True)]
    with causal_session(driver, database) as session:
        session.execute_write(_write_tx, rows)
    return len(rows)


def search_items(
    driver: Driver, vector: np.ndarray, k: int, database: str | None = None
) -> list[ScoredItem]:
    """The ``k`` items whose text vectors are nearest ``vector`` (score = (1 + cos) / 2)."""
    records = driver.execute_query(
        SEARCH_ITEMS, k=k, vector=vector.astype(float).tolist(), database_=database,
        routing_=RoutingControl.READ,
    ).records  # fmt: skip
    return [ScoredItem(r["item_id"], r["title"], float(r["score"])) for r in records]


class TextVectors(StoreArea):
    """The store's text vectors operations, bound to its driver and database."""

    def items_needing_text(self, limit: int) -> list[ItemTextRow]:
        return items_needing_text(self.driver, limit, database=self.database)

    def write_text_vectors(self, item_ids: Sequence[str], vectors: np.ndarray) -> int:
        """Store one vector per item (rows of ``vectors``, float32) in one transaction."""
        return write_text_vectors(self.driver, item_ids, vectors, database=self.database)

    def search_items(self, vector: np.ndarray, k: int) -> list[ScoredItem]:
        """The ``k`` items whose text vectors are nearest ``vector`` (score = (1 + cos) / 2)."""
        return search_items(self.driver, vector, k, database=self.database)
