"""Graph inspection reads for the API: an item's details, whole-graph counts, model versions,
a user's interest profile and its drift across windows (the graph around a user is read in
:mod:`graphdb.neighbourhood`).

These are the reads a person looks through (``/items/<id>``, ``/graph/stats``, ``/models``,
``/users/<id>/interests``, ``/users/<id>/graph``); the reads that rank recommendations live in
:mod:`graphdb.reads`. Every function returns frozen dataclasses; the API builds its JSON from
them, so no Cypher alias leaves this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from neo4j import Driver, RoutingControl

from graphdb.area import StoreArea
from graphdb.neighbourhood import Neighbourhood, neighbourhood
from graphdb.slots import SLOTS, active_stamp

# ``embedding_version``: the version stamp in the active version's slot (``graphdb.slots``).
READ_ITEM = (
    """
MATCH (i:Item {item_id: $item_id})
OPTIONAL MATCH (m:ModelVersion {active: true})
RETURN i {.item_id, .title, .description, .price, .in_stock, .in_catalog, .brand_name,
          .attributes, embedding_version: """
    + active_stamp("i")
    + """} AS item,
       [(i)-[:IN_CATEGORY]->(c:Category) | c {.category_id, .name, .path}] AS categories,
       [(i)-[:BY_BRAND]->(b:Brand) | b {.brand_id, .name}] AS brands,
       COUNT { (i)<-[:INTERACTED]-() } AS users
"""
)
# Nodes embedded by the active version, counted on its slot's range-indexed version stamp.
_EMBEDDED = """
CALL (active, slot) {{ MATCH (n:Item) WHERE slot = '{name}' AND n.{version} = active
                      RETURN count(n) AS items_{name} }}
CALL (active, slot) {{ MATCH (n:User) WHERE slot = '{name}' AND n.{version} = active
                      RETURN count(n) AS users_{name} }}"""
GRAPH_STATS = (
    "OPTIONAL MATCH (m:ModelVersion {active: true})\nWITH m.version AS active, m.slot AS slot"
    + "".join(_EMBEDDED.format(name=s.name, version=s.version) for s in SLOTS.values())
    + """
CALL () { MATCH (n:User) RETURN count(n) AS users }
CALL () { MATCH (n:Item) RETURN count(n) AS items }
CALL () { MATCH (n:Category) RETURN count(n) AS categories }
CALL () { MATCH (n:Brand) RETURN count(n) AS brands }
CALL () { MATCH (n:Tag) RETURN count(n) AS tags }
CALL () { MATCH (n:Interaction) RETURN count(n) AS interactions }
CALL () { MATCH ()-[r:INTERACTED]->() RETURN count(r) AS interacted_edges }
CALL () { MATCH ()-[r:INTERESTED_IN]->() RETURN count(r) AS interest_edges }
CALL () { MATCH (n:Item {in_catalog: false}) RETURN count(n) AS catalog_pending_items }
CALL () { MATCH (n:Item) WHERE n.text_embedding IS NOT NULL RETURN count(n) AS text_items }
RETURN users, items, categories, brands, tags, interactions, interacted_edges, interest_edges,
       items_a + items_b AS embedded_items, users_a + users_b AS embedded_users, text_items,
       catalog_pending_items
"""
)
LIST_MODEL_VERSIONS = """
MATCH (m:ModelVersion)
RETURN m {.version, .active, .status, .dims, .model, .metrics, .n_users, .n_items,
          created_at: toString(m.created_at), activated_at: toString(m.activated_at)} AS m
ORDER BY m.created_at DESC
"""
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


@dataclass(frozen=True)
class CategoryRef:
    """A category an item is filed in: its id, name and path (root first)."""

    category_id: str
    name: str | None
    path: tuple[str, ...] | None


@dataclass(frozen=True)
class BrandRef:
    """A brand of an item."""

    brand_id: str
    name: str | None


@dataclass(frozen=True)
class ItemDetails:
    """One item as ``/items/<id>`` shows it: its catalog properties (``None`` where it has
    none), the categories it is filed in directly, its brands and how many users interacted with
    it. ``in_catalog`` is ``False`` for an item seen only in events so far; ``attributes`` is the
    object the catalog stored (kept as JSON text on the node, a map of scalars);
    ``embedding_version`` is the version of its vector.
    """

    item_id: str
    title: str | None
    description: str | None
    price: float | None
    in_stock: bool | None
    in_catalog: bool | None
    brand_name: str | None
    attributes: dict[str, Any] | None
    embedding_version: str | None
    categories: tuple[CategoryRef, ...]
    brands: tuple[BrandRef, ...]
    users: int


@dataclass(frozen=True)
class GraphStats:
    """Counts of nodes, edges and embeddings in the whole graph."""

    users: int
    items: int
    categories: int
    brands: int
    tags: int
    interactions: int
    interacted_edges: int
    interest_edges: int
    embedded_items: int
    embedded_users: int
    text_items: int
    catalog_pending_items: int


@dataclass(frozen=True)
class ModelVersionSummary:
    """One model version as ``/models`` lists it: whether it is the one served, its status
    (``staging``, ``active``, ``failed``), width, model kind, evaluation metrics (an open-ended
    map by metric name, as training stored it), users and items embedded at activation, and
    when it was created and activated (ISO text; ``None``: never activated).
    """

    version: str
    active: bool | None
    status: str | None
    dims: int | None
    model: str | None
    metrics: dict[str, Any]
    n_users: int | None
    n_items: int | None
    created_at: str | None
    activated_at: str | None


@dataclass(frozen=True)
class Interest:
    """One interest of a user, its weight decayed to now.

    Attributes:
        kind: ``category``, ``brand`` or ``tag``.
        id: The category, brand or tag id.
        name: Its name.
        weight: The interest's weight decayed to now (negative: the user criticised it).
        events: How many events built it.
        last_ts: The newest of them (ISO text).
    """

    kind: str
    id: str
    name: str | None
    weight: float
    events: int | None
    last_ts: str | None


@dataclass(frozen=True)
class WindowInterest:
    """How much raw event weight a category got in one window (0 = the oldest)."""

    window: int
    id: str
    name: str | None
    weight: float


def _read(driver: Driver, query: str, database: str | None, **params: Any) -> list[dict[str, Any]]:
    records = driver.execute_query(
        query, params, database_=database, routing_=RoutingControl.READ
    ).records
    return [record.data() for record in records]


def read_item(driver: Driver, item_id: str, database: str | None = None) -> ItemDetails | None:
    """The item's details, or ``None`` when there is no such item."""
    rows = _read(driver, READ_ITEM, database, item_id=item_id)
    if not rows:
        return None
    row = rows[0]
    categories = tuple(
        CategoryRef(c["category_id"], c["name"], None if c["path"] is None else tuple(c["path"]))
        for c in row["categories"]
    )
    brands = tuple(BrandRef(b["brand_id"], b["name"]) for b in row["brands"])
    item = dict(row["item"])
    item["attributes"] = _attributes(item.get("attributes"))
    return ItemDetails(**item, categories=categories, brands=brands, users=int(row["users"]))


def _attributes(stored: object) -> dict[str, Any] | None:
    """The attributes' JSON text as the object it is (``None``: none, or unreadable text
    written by hand in Cypher)."""
    if not isinstance(stored, str):
        return None
    try:
        value = json.loads(stored)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def graph_stats(driver: Driver, database: str | None = None) -> GraphStats:
    """Counts of nodes, edges and embeddings in the whole graph."""
    row = _read(driver, GRAPH_STATS, database)[0]
    return GraphStats(**{k: int(v) for k, v in row.items()})


def model_versions(driver: Driver, database: str | None = None) -> list[ModelVersionSummary]:
    """Every model version, newest first."""
    versions = []
    for row in _read(driver, LIST_MODEL_VERSIONS, database):
        m = row["m"]
        versions.append(
            ModelVersionSummary(**{**m, "metrics": json.loads(m.get("metrics") or "{}")})
        )
    return versions


def _interests(
    driver: Driver, query: str, user_id: str, half_life_ms: float, limit: int, database: str | None
) -> list[Interest]:
    rows = _read(driver, query, database, user_id=user_id, half_life_ms=half_life_ms, limit=limit)
    return [Interest(**r) for r in rows]


def interest_profile(
    driver: Driver, user_id: str, half_life_ms: float, limit: int, database: str | None = None
) -> list[Interest]:
    """A user's category and brand interests, decayed to now, strongest first."""
    return _interests(driver, INTEREST_PROFILE, user_id, half_life_ms, limit, database)


def tag_interest_profile(
    driver: Driver, user_id: str, half_life_ms: float, limit: int, database: str | None = None
) -> list[Interest]:
    """A user's tag interests, decayed to now, strongest first (same rows as the profile)."""
    return _interests(driver, TAG_INTEREST_PROFILE, user_id, half_life_ms, limit, database)


def interest_windows(
    driver: Driver,
    user_id: str,
    start_ms: int,
    window_ms: int,
    windows: int,
    database: str | None = None,
) -> list[WindowInterest]:
    """Raw event weight per category in ``windows`` windows of ``window_ms`` from ``start_ms``."""
    rows = _read(
        driver,
        INTEREST_WINDOWS,
        database,
        user_id=user_id,
        start_ms=start_ms,
        window_ms=window_ms,
        windows=windows,
    )
    return [WindowInterest(int(r["window"]), r["id"], r["name"], r["weight"]) for r in rows]


def user_exists(driver: Driver, user_id: str, database: str | None = None) -> bool:
    """Whether the graph has the user."""
    return bool(_read(driver, USER_EXISTS, database, user_id=user_id))


class Inspection(StoreArea):
    """The store's graph-inspection reads, bound to its driver and database."""

    def read_item(self, item_id: str) -> ItemDetails | None:
        """The item's details, or ``None`` when there is no such item."""
        return read_item(self.driver, item_id, database=self.database)

    def graph_stats(self) -> GraphStats:
        """Counts of nodes, edges and embeddings in the whole graph."""
        return graph_stats(self.driver, database=self.database)

    def model_versions(self) -> list[ModelVersionSummary]:
        """Every model version, newest first."""
        return model_versions(self.driver, database=self.database)

    def interest_profile(self, user_id: str, half_life_ms: float, limit: int) -> list[Interest]:
        """A user's category and brand interests, decayed to now, strongest first."""
        return interest_profile(self.driver, user_id, half_life_ms, limit, database=self.database)

    def tag_interest_profile(self, user_id: str, half_life_ms: float, limit: int) -> list[Interest]:
        """A user's tag interests, decayed to now, strongest first (same rows as the profile)."""
        return tag_interest_profile(
            self.driver, user_id, half_life_ms, limit, database=self.database
        )

    def interest_windows(
        self, user_id: str, start_ms: int, window_ms: int, windows: int
    ) -> list[WindowInterest]:
        """Raw event weight per category in ``windows`` windows of ``window_ms``."""
        return interest_windows(
            self.driver, user_id, start_ms, window_ms, windows, database=self.database
        )

    def user_exists(self, user_id: str) -> bool:
        """Whether the graph has the user."""
        return user_exists(self.driver, user_id, database=self.database)

    def neighbourhood(self, user_id: str, depth: int, limit: int) -> Neighbourhood:
        """Nodes and edges within ``depth`` hops of a user, for drawing."""
        return neighbourhood(self.driver, user_id, depth, limit, database=self.database)
