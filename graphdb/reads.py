"""The serving reads of the API: recommendation state, item vectors and popular items.

Every function returns frozen dataclasses (or plain values), so neither the driver nor a Cypher
alias leaves this module. An item's nearest neighbours are read in
:mod:`graphdb.similar_items`. The reads a person looks through (item details, graph counts, model
versions, interest profiles, neighbourhoods) are in :mod:`graphdb.inspection`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from neo4j import Driver

from graphdb.area import StoreArea, read_plain
from graphdb.category_order import StoredCategoryOrder, category_order
from graphdb.category_spread import (
    CategoryContinuity,
    CategorySpread,
    category_continuity,
    category_spread,
)
from graphdb.repeat_purchase import RepeatPurchases, repeat_purchases
from graphdb.similar_items import SimilarItems, similar_items
from graphdb.slots import active_vector, per_slot, slot_of
from graphdb.snapshot import READ_CLOCK

# Everything a recommendation needs from the graph, in one round trip: the active version,
# the user's vector and category interests, every item they interacted with (newest first:
# whether they bought it, whether the interaction is positive and newer than their vector, to
# fold in at once, its newest event and weight), and whether the filter values exist. The
# two user parts are shared with the batch read of ``graphdb.serving_feed``; ``m`` is the
# active version. Ranking happens in the API over its in-memory copy of the item vectors.
USER_CATEGORY_WEIGHTS = (
    "[(u)-[r:INTERESTED_IN]->(c:Category) | [c.category_id, r.weight, coalesce(c.name, "
    "c.category_id), r.last_ts.epochMillis]]"
)
USER_SEEN_NEWEST_FIRST = (
    """COLLECT {
         MATCH (u)-[r:INTERACTED]->(i:Item)
         RETURN [i.item_id, r.count_purchase > 0,
                 coalesce(r.weight > 0 AND (r.updated_at > m.watermark OR """
    + active_vector("u")
    + """ IS NULL), false), r.last_ts.epochMillis, r.weight]
         ORDER BY r.last_ts DESC }"""
)
RECOMMEND_STATE = (
    """
OPTIONAL MATCH (m:ModelVersion {active: true})
OPTIONAL MATCH (u:User {user_id: $user_id})
RETURN m.version AS version, coalesce(m.revision, 0) AS revision,
       u IS NOT NULL AS known, """
    + active_vector("u")
    + """ AS embedding,
       CASE WHEN u IS NULL THEN [] ELSE """
    + USER_CATEGORY_WEIGHTS
    + """ END AS categories,
       CASE WHEN u IS NULL THEN [] ELSE """
    + USER_SEEN_NEWEST_FIRST
    + """ END AS seen,
       ($category IS NULL OR EXISTS { MATCH (:Category {category_id: $category}) }) AS category_ok,
       ($brand IS NULL OR EXISTS { MATCH (:Brand {brand_id: $brand}) }) AS brand_ok
"""
)
# The active version's item vectors with what recommendation filters need, for the API's
# in-memory ranking (loaded once per worker and version).
# ``prior`` is the version's popularity prior (ml.popularity): its weight times log(1 + the
# number of users with a positive edge to the item, the edges training learns from), degrees
# as the graph has them now.
_ITEM_MATRIX = """
OPTIONAL MATCH (m:ModelVersion {version: $version})
WITH coalesce(m.prior_weight, 0.0) AS prior_weight
MATCH (i:Item) WHERE i.{version} = $version
  AND ($since IS NULL OR i.{updated_at} > $since)
WITH i, prior_weight,
     log(1.0 + COUNT { (i)<-[r:INTERACTED]-(:User) WHERE r.weight > 0 }) AS log_degree
RETURN i.item_id AS item_id, i.title AS title, i.{vector} AS embedding,
       prior_weight * log_degree AS prior, log_degree,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
                 RETURN DISTINCT c.category_id } AS categories,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN c.category_id } AS leaves,
       COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN b.brand_id } AS brands
ORDER BY item_id
"""
ITEM_MATRIX = per_slot(_ITEM_MATRIX)
VERSION_SLOT = "OPTIONAL MATCH (m:ModelVersion {version: $version}) RETURN m.slot AS slot"
# Popularity with decay: the sum of current INTERACTED weights, optionally in one category.
POPULAR_ITEMS = """
MATCH (item:Item)<-[r:INTERACTED]-()
WHERE NOT item.item_id IN $exclude
  AND ($category IS NULL OR EXISTS {
        (item)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->
        (:Category {category_id: $category}) })
  AND ($brand IS NULL OR EXISTS { (item)-[:BY_BRAND]->(:Brand {brand_id: $brand}) })
  AND NOT ($exclude_seen AND $user_id IS NOT NULL
           AND EXISTS { (:User {user_id: $user_id})-[:INTERACTED]->(item) })
WITH item, sum(r.weight * 2.0 ^ (-(datetime().epochMillis - r.last_ts.epochMillis) / $half_life_ms))
       AS popularity
WHERE popularity > 0
RETURN item.item_id AS item_id, item.title AS title, popularity AS score,
       [(item)-[:IN_CATEGORY]->(c:Category) | c.category_id] AS categories
ORDER BY score DESC, item_id
LIMIT $k
"""


@dataclass(frozen=True)
class Filters:
    """What a recommendation request narrows to."""

    exclude: tuple[str, ...] = ()
    exclude_seen: bool = True
    category: str | None = None
    brand: str | None = None

    def as_params(self) -> dict[str, Any]:
        return {
            "exclude": list(self.exclude),
            "exclude_seen": self.exclude_seen,
            "category": self.category,
            "brand": self.brand,
        }


@dataclass(frozen=True)
class RecommendState:
    """What ranking one user needs from the graph, read in one round trip.

    Attributes:
        version: The active model version (``None`` before the first training).
        revision: How many refreshes have rewritten vectors of that version.
        embedding: The user's stored vector (``None``: unknown or not yet embedded).
        categories: ``(category_id, interest weight)`` of the user's category interests.
        category_names: The display name of each of those categories, by id.
        category_last_ms: When each interest weight was last updated (epoch ms), by id: the
            weights are stored as of then, so they are decayed to a common time before
            comparing them.
        seen: ``(item_id, bought)`` of every item the user interacted with, newest first.
        seen_ms: The newest event on each of those items (epoch ms), in the order of ``seen``
            (empty when not read).
        seen_weight: The interaction weight of each, stored as of its ``seen_ms``.
        fresh: Items of positive interactions newer than the user's vector (to fold in).
        user_id: The user, for batch reads (``None`` from :func:`recommend_state`).
        category_ok: Whether the requested category filter names a category.
        brand_ok: Whether the requested brand filter names a brand.
    """

    version: str | None
    revision: int
    embedding: list[float] | None
    categories: tuple[tuple[str, float], ...]
    seen: tuple[tuple[str, bool], ...]
    fresh: tuple[str, ...]
    user_id: str | None = None
    category_ok: bool = True
    brand_ok: bool = True
    category_names: dict[str, str] = field(default_factory=dict)
    category_last_ms: dict[str, int] = field(default_factory=dict)
    seen_ms: tuple[int, ...] = ()
    seen_weight: tuple[float, ...] = ()

    @property
    def seen_ids(self) -> list[str]:
        """The items the user interacted with, newest first."""
        return [item_id for item_id, _ in self.seen]


@dataclass(frozen=True)
class ItemVectorRow:
    """One item of the active version's matrix, with what recommendation filters need.

    Attributes:
        item_id: The item.
        title: Its title, if any.
        embedding: Its vector in the version.
        prior: The version's popularity prior of the item (``weight * log(1 + degree)``).
        log_degree: ``log(1 + degree)``, the item's popularity as the graph has it now.
        categories: Its categories and their ancestors.
        leaves: The categories it is filed in directly.
        brands: Its brands.
    """

    item_id: str
    title: str | None
    embedding: list[float]
    prior: float
    categories: tuple[str, ...] = ()
    log_degree: float = 0.0
    leaves: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()


@dataclass(frozen=True)
class PopularItem:
    """An item of a popular list: its decayed interaction weight and its categories.

    Attributes:
        item_id: The item.
        title: Its title, if any.
        score: The sum of its current interaction weights, decayed to now.
        categories: The categories it is filed in directly.
    """

    item_id: str
    title: str | None
    score: float
    categories: tuple[str, ...] = ()


def recommend_state(
    driver: Driver,
    user_id: str,
    filters: Filters,
    database: str | None = None,
    fold_limit: int = 50,
) -> RecommendState:
    """The user's recommendation state, and whether the request's filter values exist."""
    row = read_plain(
        driver,
        RECOMMEND_STATE,
        database,
        user_id=user_id,
        category=filters.category,
        brand=filters.brand,
    )[0]
    return split_seen(row, fold_limit)


def split_seen(row: dict[str, Any], fold_limit: int) -> RecommendState:
    """The state of one row of ``RECOMMEND_STATE`` (or its batch form).

    One scan of the user's edges gives both lists: everything seen (newest first) and the
    positive interactions newer than the user's vector, to fold in.
    """
    rows = row["seen"]
    return RecommendState(
        version=row["version"],
        revision=int(row["revision"]),
        embedding=row["embedding"],
        categories=tuple((str(c), float(w)) for c, w, _, _ in row["categories"]),
        category_names={str(c): str(name) for c, _, name, _ in row["categories"]},
        category_last_ms={str(c): int(ms) for c, _, _, ms in row["categories"] if ms is not None},
        seen=tuple((item_id, bool(bought)) for item_id, bought, *_ in rows),
        fresh=tuple(item_id for item_id, _, fresh, *_ in rows if fresh)[:fold_limit],
        seen_ms=tuple(int(ms or 0) for *_, ms, _ in rows),
        seen_weight=tuple(float(w or 0.0) for *_, w in rows),
        user_id=row.get("user_id"),
        category_ok=bool(row.get("category_ok", True)),
        brand_ok=bool(row.get("brand_ok", True)),
    )


def item_matrix(
    driver: Driver, version: str, database: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Item vectors of ``version`` (only those rewritten after ``since`` when given).

    The version's slot is read first: a version keeps its slot for life, and its values stay
    there until the full write-back after the next one, so the two reads agree.
    """
    name = read_plain(driver, VERSION_SLOT, database, version=version)[0]["slot"]
    if name is None:  # unknown version, or one never written
        return []
    return read_plain(
        driver, ITEM_MATRIX[slot_of(name).name], database, version=version, since=since
    )


def item_vectors(
    driver: Driver, version: str, database: str | None = None, since: datetime | None = None
) -> list[ItemVectorRow]:
    """:func:`item_matrix` as typed rows (what the API's in-memory index is built from)."""
    return [
        ItemVectorRow(
            item_id=r["item_id"],
            title=r["title"],
            embedding=r["embedding"],
            prior=float(r["prior"]),
            log_degree=float(r["log_degree"]),
            categories=tuple(r["categories"]),
            leaves=tuple(r["leaves"]),
            brands=tuple(r["brands"]),
        )
        for r in item_matrix(driver, version, database, since)
    ]


def server_clock(driver: Driver, database: str | None = None) -> datetime:
    """The database's transaction clock (watermarks compare against it, not ours)."""
    now: datetime = read_plain(driver, READ_CLOCK, database)[0]["now"].to_native()
    return now


def popular_items(
    driver: Driver,
    k: int,
    half_life_ms: float,
    filters: Filters,
    user_id: str | None = None,
    database: str | None = None,
) -> list[PopularItem]:
    """The ``k`` items with the most decayed interaction weight, in the filters' scope."""
    rows = read_plain(
        driver,
        POPULAR_ITEMS,
        database,
        k=k,
        half_life_ms=half_life_ms,
        user_id=user_id,
        **filters.as_params(),
    )
    return [
        PopularItem(r["item_id"], r["title"], float(r["score"]), tuple(r["categories"]))
        for r in rows
    ]


class Reads(StoreArea):
    """The store's reads operations, bound to its driver and database."""

    def similar_items(self, item_id: str, k: int, candidates: int | None = None) -> SimilarItems:
        """An item's nearest neighbours by the vector index (see :func:`similar_items`)."""
        return similar_items(self.driver, item_id, k, candidates=candidates, database=self.database)

    def recommend_state(
        self, user_id: str, filters: Filters, fold_limit: int = 50
    ) -> RecommendState:
        """The user's recommendation state, and whether the request's filter values exist."""
        return recommend_state(
            self.driver, user_id, filters, fold_limit=fold_limit, database=self.database
        )

    def item_vectors(self, version: str, since: datetime | None = None) -> list[ItemVectorRow]:
        """Item vectors of ``version`` (only those rewritten after ``since`` when given)."""
        return item_vectors(self.driver, version, since=since, database=self.database)

    def server_clock(self) -> datetime:
        """The database's transaction clock (watermarks compare against it, not ours)."""
        return server_clock(self.driver, database=self.database)

    def repeat_purchases(self) -> RepeatPurchases:
        """Each category's buyers and repeat buyers (see :mod:`graphdb.repeat_purchase`)."""
        return repeat_purchases(self.driver, database=self.database)

    def category_order(self, version: str) -> StoredCategoryOrder:
        """The within-category order ``version`` chose (see :mod:`graphdb.category_order`)."""
        return category_order(self.driver, version, database=self.database)

    def category_continuity(self) -> CategoryContinuity:
        """How users keep to a category (see :mod:`graphdb.category_spread`)."""
        return category_continuity(self.driver, database=self.database)

    def category_spread(self) -> CategorySpread:
        """How users spread over categories (see :mod:`graphdb.category_spread`)."""
        return category_spread(self.driver, database=self.database)

    def popular_items(
        self, k: int, half_life_ms: float, filters: Filters, user_id: str | None = None
    ) -> list[PopularItem]:
        """The ``k`` items with the most decayed interaction weight, in the filters' scope."""
        return popular_items(self.driver, k, half_life_ms, filters, user_id, database=self.database)
