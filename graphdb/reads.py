"""Read models for the API: items, similar items, recommendation candidates, profiles, stats.

Every function returns plain values: the serving reads (a user's recommendation state, the item
vectors) as frozen dataclasses, the rest as dicts and lists; nothing of the driver leaves this
module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from neo4j import Driver, RoutingControl

from graphdb.area import StoreArea
from graphdb.snapshot import READ_CLOCK

READ_ITEM = """
MATCH (i:Item {item_id: $item_id})
RETURN i {.item_id, .title, .description, .price, .in_stock, .in_catalog, .brand_name,
          .attributes, .embedding_version} AS item,
       [(i)-[:IN_CATEGORY]->(c:Category) | c {.category_id, .name, .path}] AS categories,
       [(i)-[:BY_BRAND]->(b:Brand) | b {.brand_id, .name}] AS brands,
       COUNT { (i)<-[:INTERACTED]-() } AS users
"""
MIN_KNN_CANDIDATES = 50
# One round trip: whether the item exists, the active version, and its nearest items.
SIMILAR_ITEMS = """
OPTIONAL MATCH (probe:Item {item_id: $item_id})
OPTIONAL MATCH (m:ModelVersion {active: true})
CALL (probe) {
  WITH probe WHERE probe.embedding IS NOT NULL
  CALL db.index.vector.queryNodes('item_embedding', $candidates, probe.embedding)
  YIELD node, score
  WITH node, score WHERE node <> probe
  ORDER BY score DESC
  RETURN collect({item_id: node.item_id, title: node.title, score: score})[..$k] AS items
}
RETURN probe IS NOT NULL AS found, probe.embedding IS NOT NULL AS embedded,
       m.version AS version, items
"""
# Everything a recommendation needs from the graph, in one round trip: the active version,
# the user's vector and interests, every item they interacted with (newest first, with
# whether they bought it), the positive interactions newer than the user's vector (to fold
# in at once), and whether the filter values exist. Ranking happens in the API
# process over its in-memory copy of the active version's item vectors.
# Shared with the batch read of ``graphdb.serving_feed``: the user's category interests, and
# every item they interacted with, newest first, with whether they bought it and whether the
# interaction is positive and newer than their vector (to fold in). ``m`` is the active version.
USER_CATEGORY_WEIGHTS = "[(u)-[r:INTERESTED_IN]->(c:Category) | [c.category_id, r.weight]]"
USER_SEEN_NEWEST_FIRST = """COLLECT {
         MATCH (u)-[r:INTERACTED]->(i:Item)
         RETURN [i.item_id, r.count_purchase > 0,
                 coalesce(r.weight > 0 AND (r.updated_at > m.watermark OR u.embedding IS NULL),
                          false)]
         ORDER BY r.last_ts DESC }"""
RECOMMEND_STATE = (
    """
OPTIONAL MATCH (m:ModelVersion {active: true})
OPTIONAL MATCH (u:User {user_id: $user_id})
RETURN m.version AS version, coalesce(m.revision, 0) AS revision,
       u IS NOT NULL AS known, u.embedding AS embedding,
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
ITEM_MATRIX = """
OPTIONAL MATCH (m:ModelVersion {version: $version})
WITH coalesce(m.prior_weight, 0.0) AS prior_weight
MATCH (i:Item) WHERE i.embedding_version = $version
  AND ($since IS NULL OR i.embedding_updated_at > $since)
RETURN i.item_id AS item_id, i.title AS title, i.embedding AS embedding,
       prior_weight * log(1.0 + COUNT { (i)<-[r:INTERACTED]-(:User) WHERE r.weight > 0 })
         AS prior,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
                 RETURN DISTINCT c.category_id } AS categories,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN c.category_id } AS leaves,
       COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN b.brand_id } AS brands
ORDER BY item_id
"""
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
GRAPH_STATS = """
CALL () { MATCH (n:User) RETURN count(n) AS users }
CALL () { MATCH (n:Item) RETURN count(n) AS items }
CALL () { MATCH (n:Category) RETURN count(n) AS categories }
CALL () { MATCH (n:Brand) RETURN count(n) AS brands }
CALL () { MATCH (n:Tag) RETURN count(n) AS tags }
CALL () { MATCH (n:Interaction) RETURN count(n) AS interactions }
CALL () { MATCH ()-[r:INTERACTED]->() RETURN count(r) AS interacted_edges }
CALL () { MATCH ()-[r:INTERESTED_IN]->() RETURN count(r) AS interest_edges }
CALL () { MATCH (n:Item) WHERE n.embedding IS NOT NULL RETURN count(n) AS embedded_items }
CALL () { MATCH (n:User) WHERE n.embedding IS NOT NULL RETURN count(n) AS embedded_users }
CALL () { MATCH (n:Item {in_catalog: false}) RETURN count(n) AS catalog_pending_items }
CALL () { MATCH (n:Item) WHERE n.text_embedding IS NOT NULL RETURN count(n) AS text_items }
RETURN users, items, categories, brands, tags, interactions, interacted_edges, interest_edges,
       embedded_items, embedded_users, text_items, catalog_pending_items
"""
LIST_MODEL_VERSIONS = """
MATCH (m:ModelVersion)
RETURN m {.version, .active, .status, .dims, .model, .metrics, .n_users, .n_items,
          created_at: toString(m.created_at), activated_at: toString(m.activated_at)} AS m
ORDER BY m.created_at DESC
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
        seen: ``(item_id, bought)`` of every item the user interacted with, newest first.
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
        categories: Its categories and their ancestors.
        leaves: The categories it is filed in directly.
        brands: Its brands.
    """

    item_id: str
    title: str | None
    embedding: list[float]
    prior: float
    categories: tuple[str, ...] = ()
    leaves: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()


def _read(driver: Driver, query: str, database: str | None, **params: Any) -> list[dict[str, Any]]:
    records = driver.execute_query(
        query, params, database_=database, routing_=RoutingControl.READ
    ).records
    return [record.data() for record in records]


def _read_plain(
    driver: Driver, query: str, database: str | None, **params: Any
) -> list[dict[str, Any]]:
    """``_read`` for queries that return no nodes, relationships or paths (the hot paths).

    ``Record.data()`` walks every value recursively to turn graph objects into dicts; for
    plain values it changes nothing but costs about a millisecond per recommendation.
    """
    records = driver.execute_query(
        query, params, database_=database, routing_=RoutingControl.READ
    ).records
    return [dict(record) for record in records]


def read_item(driver: Driver, item_id: str, database: str | None = None) -> dict[str, Any] | None:
    rows = _read(driver, READ_ITEM, database, item_id=item_id)
    if not rows:
        return None
    row = rows[0]
    return {
        **row["item"],
        "categories": row["categories"],
        "brands": row["brands"],
        "users": row["users"],
    }


def similar_items(
    driver: Driver,
    item_id: str,
    k: int,
    database: str | None = None,
    candidates: int | None = None,
) -> dict[str, Any]:
    """``{found, embedded, version, items}`` for an item's nearest neighbours.

    ``candidates`` (default ``knn_candidates(k)``) is how many the vector index is asked for.
    """
    candidates = candidates or knn_candidates(k)
    return _read_plain(
        driver, SIMILAR_ITEMS, database, item_id=item_id, k=k, candidates=candidates
    )[0]


def knn_candidates(k: int) -> int:
    """How many neighbours to ask the HNSW index for when ``k`` (plus the probe) are kept.

    The search is approximate and its beam is as wide as the request, so a wider request
    and keeping the best ``k`` finds more of the true neighbours (``bench/writeback.py``
    measures both).
    """
    return max(3 * k, k + 1, MIN_KNN_CANDIDATES)


def recommend_state(
    driver: Driver,
    user_id: str,
    filters: Filters,
    database: str | None = None,
    fold_limit: int = 50,
) -> RecommendState:
    """The user's recommendation state, and whether the request's filter values exist."""
    row = _read_plain(
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
        categories=tuple((str(c), float(w)) for c, w in row["categories"]),
        seen=tuple((item_id, bool(bought)) for item_id, bought, _ in rows),
        fresh=tuple(item_id for item_id, _, fresh in rows if fresh)[:fold_limit],
        user_id=row.get("user_id"),
        category_ok=bool(row.get("category_ok", True)),
        brand_ok=bool(row.get("brand_ok", True)),
    )


def item_matrix(
    driver: Driver, version: str, database: str | None = None, since: datetime | None = None
) -> list[dict[str, Any]]:
    """Item vectors of ``version`` (only those rewritten after ``since`` when given)."""
    return _read_plain(driver, ITEM_MATRIX, database, version=version, since=since)


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
            categories=tuple(r["categories"]),
            leaves=tuple(r["leaves"]),
            brands=tuple(r["brands"]),
        )
        for r in item_matrix(driver, version, database, since)
    ]


def server_clock(driver: Driver, database: str | None = None) -> datetime:
    """The database's transaction clock (watermarks compare against it, not ours)."""
    now: datetime = _read(driver, READ_CLOCK, database)[0]["now"].to_native()
    return now


def popular_items(
    driver: Driver,
    k: int,
    half_life_ms: float,
    filters: Filters,
    user_id: str | None = None,
    database: str | None = None,
) -> list[dict[str, Any]]:
    return _read(
        driver,
        POPULAR_ITEMS,
        database,
        k=k,
        half_life_ms=half_life_ms,
        user_id=user_id,
        **filters.as_params(),
    )


def graph_stats(driver: Driver, database: str | None = None) -> dict[str, int]:
    return {k: int(v) for k, v in _read(driver, GRAPH_STATS, database)[0].items()}


def model_versions(driver: Driver, database: str | None = None) -> list[dict[str, Any]]:
    versions = [row["m"] for row in _read(driver, LIST_MODEL_VERSIONS, database)]
    for version in versions:
        version["metrics"] = json.loads(version.get("metrics") or "{}")
    return versions


_INTEREST_TAIL = """
WITH t, r, r.weight * 2.0 ^ (-(datetime().epochMillis - r.last_ts.epochMillis) / $half_life_ms)
       AS weight
RETURN CASE WHEN t:Category THEN 'category' WHEN t:Brand THEN 'brand' ELSE 'tag' END AS kind,
       coalesce(t.category_id, t.brand_id, t.tag_id) AS id, t.name AS name, weight,
       r.count AS events, toString(r.last_ts) AS last_ts
ORDER BY weight DESC, id
LIMIT $limit
"""
# Where a user's interest lies (categories and brands) and what it is in (tags), listed apart
# so that a user's many tags never crowd their categories out of the limit.
INTEREST_PROFILE = (
    "MATCH (u:User {user_id: $user_id})-[r:INTERESTED_IN]->(t) WHERE t:Category OR t:Brand"
    + _INTEREST_TAIL
)
TAG_INTEREST_PROFILE = (
    "MATCH (u:User {user_id: $user_id})-[r:INTERESTED_IN]->(t:Tag)" + _INTEREST_TAIL
)
# Raw events per window (not decayed): how much attention each category got in that window.
INTEREST_WINDOWS = """
MATCH (:User {user_id: $user_id})-[:PERFORMED]->(x:Interaction)-[:ON]->(:Item)
      -[:IN_CATEGORY]->(c:Category)
WHERE x.ts >= datetime({epochMillis: $start_ms})
WITH c, toInteger((x.ts.epochMillis - $start_ms) / $window_ms) AS window, sum(x.weight) AS weight
WHERE window < $windows
RETURN window, c.category_id AS id, c.name AS name, weight
ORDER BY window, weight DESC, id
"""
USER_EXISTS = "MATCH (u:User {user_id: $user_id}) RETURN u.user_id AS id"
# The neighbourhood is read by depth-specific constants: Cypher cannot parameterise the
# bounds of a variable-length pattern.
_NEIGHBOURHOOD_TAIL = """
WITH p LIMIT $limit
UNWIND relationships(p) AS r
WITH DISTINCT r
RETURN elementId(startNode(r)) AS source, elementId(endNode(r)) AS target, type(r) AS type,
       r.weight AS weight, startNode(r) AS a, endNode(r) AS b
"""
_HOPS = "-[:INTERACTED|INTERESTED_IN|IN_CATEGORY|BY_BRAND|SUBCATEGORY_OF|HAS_TAG"
NEIGHBOURHOOD = {
    1: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..1]-()" + _NEIGHBOURHOOD_TAIL,
    2: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..2]-()" + _NEIGHBOURHOOD_TAIL,
    3: "MATCH p = (u:User {user_id: $user_id})" + _HOPS + "*1..3]-()" + _NEIGHBOURHOOD_TAIL,
}


def interest_profile(
    driver: Driver, user_id: str, half_life_ms: float, limit: int, database: str | None = None
) -> list[dict[str, Any]]:
    return _read(
        driver, INTEREST_PROFILE, database, user_id=user_id, half_life_ms=half_life_ms, limit=limit
    )


def tag_interest_profile(
    driver: Driver, user_id: str, half_life_ms: float, limit: int, database: str | None = None
) -> list[dict[str, Any]]:
    """A user's tag interests, decayed to now, strongest first (same rows as the profile)."""
    return _read(
        driver,
        TAG_INTEREST_PROFILE,
        database,
        user_id=user_id,
        half_life_ms=half_life_ms,
        limit=limit,
    )


def interest_windows(
    driver: Driver,
    user_id: str,
    start_ms: int,
    window_ms: int,
    windows: int,
    database: str | None = None,
) -> list[dict[str, Any]]:
    return _read(
        driver,
        INTEREST_WINDOWS,
        database,
        user_id=user_id,
        start_ms=start_ms,
        window_ms=window_ms,
        windows=windows,
    )


def user_exists(driver: Driver, user_id: str, database: str | None = None) -> bool:
    return bool(_read(driver, USER_EXISTS, database, user_id=user_id))


def _node_view(node: Any) -> dict[str, Any]:
    label = sorted(node.labels)[0] if node.labels else "Node"
    key = {
        "User": "user_id",
        "Item": "item_id",
        "Category": "category_id",
        "Brand": "brand_id",
        "Tag": "tag_id",
    }
    props = dict(node)
    return {
        "id": node.element_id,
        "label": label,
        "key": props.get(key.get(label, "")),
        "name": props.get("title") or props.get("name"),
    }


def neighbourhood(
    driver: Driver, user_id: str, depth: int, limit: int, database: str | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Nodes and edges within ``depth`` hops of a user, for drawing."""
    records = driver.execute_query(
        NEIGHBOURHOOD[depth],
        user_id=user_id,
        limit=limit,
        database_=database,
        routing_=RoutingControl.READ,
    ).records
    nodes: dict[str, dict[str, Any]] = {}
    edges = []
    for r in records:
        for node in (r["a"], r["b"]):
            nodes.setdefault(node.element_id, _node_view(node))
        edges.append(
            {"source": r["source"], "target": r["target"], "type": r["type"], "weight": r["weight"]}
        )
    return {"nodes": list(nodes.values()), "edges": edges}


class Reads(StoreArea):
    """The store's reads operations, bound to its driver and database."""

    def read_item(self, item_id: str) -> dict[str, Any] | None:
        return read_item(self.driver, item_id, database=self.database)

    def similar_items(self, item_id: str, k: int, candidates: int | None = None) -> dict[str, Any]:
        """``{found, embedded, version, items}`` for an item's nearest neighbours."""
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

    def popular_items(
        self, k: int, half_life_ms: float, filters: Filters, user_id: str | None = None
    ) -> list[dict[str, Any]]:
        return popular_items(self.driver, k, half_life_ms, filters, user_id, database=self.database)

    def graph_stats(self) -> dict[str, int]:
        return graph_stats(self.driver, database=self.database)

    def model_versions(self) -> list[dict[str, Any]]:
        return model_versions(self.driver, database=self.database)

    def interest_profile(
        self, user_id: str, half_life_ms: float, limit: int
    ) -> list[dict[str, Any]]:
        return interest_profile(self.driver, user_id, half_life_ms, limit, database=self.database)

    def tag_interest_profile(
        self, user_id: str, half_life_ms: float, limit: int
    ) -> list[dict[str, Any]]:
        """A user's tag interests, decayed to now, strongest first (same rows as the profile)."""
        return tag_interest_profile(
            self.driver, user_id, half_life_ms, limit, database=self.database
        )

    def interest_windows(
        self, user_id: str, start_ms: int, window_ms: int, windows: int
    ) -> list[dict[str, Any]]:
        return interest_windows(
            self.driver, user_id, start_ms, window_ms, windows, database=self.database
        )

    def user_exists(self, user_id: str) -> bool:
        return user_exists(self.driver, user_id, database=self.database)

    def neighbourhood(
        self, user_id: str, depth: int, limit: int
    ) -> dict[str, list[dict[str, Any]]]:
        """Nodes and edges within ``depth`` hops of a user, for drawing."""
        return neighbourhood(self.driver, user_id, depth, limit, database=self.database)
