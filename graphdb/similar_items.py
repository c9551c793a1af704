"""An item's nearest neighbours in the active version, by the slot's vector index.

Frozen dataclasses out, so neither the driver nor a Cypher alias leaves ``graphdb/``.
"""

from __future__ import annotations

from dataclasses import dataclass

from neo4j import Driver

from graphdb.area import read_plain
from graphdb.slots import active_index, active_stamp, active_vector

MIN_KNN_CANDIDATES = 50
# One round trip: whether the item exists, the active version, and its nearest items.
SIMILAR_ITEMS = (
    """
OPTIONAL MATCH (probe:Item {item_id: $item_id})
OPTIONAL MATCH (m:ModelVersion {active: true})
WITH probe, m, """
    + active_vector("probe")
    + """ AS vector, """
    + active_index("Item")
    + """ AS index_name
CALL (probe, m, vector, index_name) {
  WITH probe, m, vector, index_name WHERE vector IS NOT NULL
  CALL db.index.vector.queryNodes(index_name, $candidates, vector)
  YIELD node, score
  WITH node, score, m WHERE node <> probe AND """
    + active_stamp("node")
    + """ = m.version
  ORDER BY score DESC
  RETURN collect({item_id: node.item_id, title: node.title, score: score})[..$k] AS items
}
RETURN probe IS NOT NULL AS found, vector IS NOT NULL AS embedded,
       m.version AS version, items
"""
)


@dataclass(frozen=True)
class ScoredItem:
    """An item, its title (if any) and its score (for neighbours and text matches, Neo4j's
    cosine score ``(1 + cos) / 2``)."""

    item_id: str
    title: str | None
    score: float


@dataclass(frozen=True)
class SimilarItems:
    """An item's nearest neighbours in the active version.

    Attributes:
        found: Whether the item exists.
        embedded: Whether it has a vector (no neighbours without one).
        version: The active model version (``None`` before the first training).
        items: The neighbours, nearest first.
    """

    found: bool
    embedded: bool
    version: str | None
    items: tuple[ScoredItem, ...]


def similar_items(
    driver: Driver,
    item_id: str,
    k: int,
    database: str | None = None,
    candidates: int | None = None,
) -> SimilarItems:
    """An item's nearest neighbours by the vector index, and whether it exists and has a vector.

    ``candidates`` (default ``knn_candidates(k)``) is how many the vector index is asked for.
    """
    params = {"item_id": item_id, "k": k, "candidates": candidates or knn_candidates(k)}
    row = read_plain(driver, SIMILAR_ITEMS, database, **params)[0]
    return SimilarItems(
        found=bool(row["found"]),
        embedded=bool(row["embedded"]),
        version=row["version"],
        items=tuple(
            ScoredItem(n["item_id"], n["title"], float(n["score"])) for n in row["items"] or ()
        ),
    )


def knn_candidates(k: int) -> int:
    """How many neighbours to ask the HNSW index for when ``k`` (plus the probe) are kept.

    The search is approximate and its beam is as wide as the request, so a wider request
    and keeping the best ``k`` finds more of the true neighbours (``bench/writeback.py``
    measures both).
    """
    return max(3 * k, k + 1, MIN_KNN_CANDIDATES)
