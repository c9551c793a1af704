"""Export the interaction graph as plain numpy arrays and id maps for the model side.

The watermark ``as_of`` is read *before* the data, so anything written after it is newer
than the watermark and a later incremental refresh picks it up; nothing falls in between.
Per-user rows (one record per user with lists) keep the number of Bolt records small.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session

READ_CLOCK = "RETURN datetime.transaction() AS now"
# Stored weights are each at their own last_ts; decay_to_common_clock() aligns them.
READ_USER_EDGES = """
MATCH (u:User)-[r:INTERACTED]->(i:Item)
RETURN u.user_id AS user_id, collect(i.item_id) AS item_ids, collect(r.weight) AS weights,
       collect(r.last_ts.epochMillis) AS last_ms
"""
READ_ITEMS = """
MATCH (i:Item)
RETURN i.item_id AS item_id,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(:Category)-[:SUBCATEGORY_OF*0..]->(c:Category)
                 RETURN DISTINCT 'category:' + c.category_id } AS categories,
       COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN 'brand:' + b.brand_id } AS brands,
       COLLECT { MATCH (i)-[:HAS_TAG]->(t:Tag) RETURN 'tag:' + t.tag_id } AS tags,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) RETURN c.category_id } AS leaves,
       i.text_embedding AS text
ORDER BY item_id
"""
# A user's interests, keyed as the item features are (the model reads both over one
# vocabulary); weights at each edge's own last_ts, aligned by decay_within_user().
# The feature key of an interest's target ``t``, as READ_ITEMS spells item features.
INTEREST_FEATURE = (
    "CASE WHEN t:Category THEN 'category:' + t.category_id "
    "WHEN t:Brand THEN 'brand:' + t.brand_id WHEN t:Tag THEN 'tag:' + t.tag_id END"
)
READ_USER_INTERESTS = (
    """
MATCH (u:User)-[r:INTERESTED_IN]->(t) WHERE r.weight > 0
WITH u, r, """
    + INTEREST_FEATURE
    + """ AS feature
WHERE feature IS NOT NULL
RETURN u.user_id AS user_id, collect(feature) AS features, collect(r.weight) AS weights,
       collect(r.last_ts.epochMillis) AS last_ms
"""
)
READ_USERS = "MATCH (u:User) RETURN u.user_id AS user_id ORDER BY user_id"


@dataclass(frozen=True)
class GraphSnapshot:
    """Users, items, weighted edges and item content features, indexed from 0.

    ``weight`` is the edge weight decayed to the newest edge's time (see
    :func:`decay_to_common_clock`) and may be <= 0 (a 1-star rating);
    the model side decides which edges count as positives.
    """

    as_of: datetime
    user_ids: list[str]
    item_ids: list[str]
    user_index: np.ndarray  # int64[E]
    item_index: np.ndarray  # int64[E]
    weight: np.ndarray  # float32[E]
    last_ts_ms: np.ndarray  # int64[E]
    feature_ids: list[str]
    item_feature_ptr: np.ndarray  # int64[n_items + 1]
    item_feature_index: np.ndarray  # int64[F]
    raw_weight: np.ndarray | None = None  # float64[E], each at its own last_ts (undecayed)
    item_text: np.ndarray | None = None  # float32[n_items, dim], zero rows = no text; None = none
    interests: UserInterestRows | None = None  # INTERESTED_IN edges over the feature vocabulary
    # The categories each item is filed in directly (its leaves), by category id.
    item_leaves: list[list[str]] | None = None

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)


MIN_DECAY = 1e-6


@dataclass(frozen=True)
class UserInterestRows:
    """``INTERESTED_IN`` edges as triples over the snapshot's positions: ``users[k]`` is
    interested in feature ``features[k]`` with ``weights[k]`` (decayed within the user)."""

    users: np.ndarray  # int64
    features: np.ndarray  # int64, into GraphSnapshot.feature_ids
    weights: np.ndarray  # float64 > 0


def feature_kind(feature_ids: list[str]) -> np.ndarray:
    """Node type code of every feature id (``category:``, ``brand:``, ``tag:`` prefixes), in
    the order of the model side's attribute kinds."""
    codes = {"category": 0, "brand": 1, "tag": 2}
    return np.fromiter(
        (codes.get(f.split(":", 1)[0], 0) for f in feature_ids), dtype=np.int8,
        count=len(feature_ids),
    )  # fmt: skip


def decay_within_user(weights: np.ndarray, last_ms: np.ndarray, half_life_ms: float) -> np.ndarray:
    """Interest weights decayed to the user's newest interest: only their ratios matter to
    the model (it takes a weighted mean), and they must not depend on when the graph is read,
    so a live copy patched user by user equals a fresh snapshot."""
    if len(weights) == 0:
        return np.asarray(weights, dtype=np.float64)
    age = (last_ms.max() - last_ms).astype(np.float64)
    return np.asarray(weights, dtype=np.float64) * np.maximum(
        np.exp2(-age / half_life_ms), MIN_DECAY
    )


def decay_to_common_clock(
    weights: np.ndarray, last_ms: np.ndarray, half_life_ms: float
) -> np.ndarray:
    """Decay every edge to the newest edge's time, so weights of different ages compare.

    The clock is the data's own (the newest ``last_ts``), not the wall clock: a history that
    ended years ago would otherwise decay to float32 zero everywhere, and a common factor
    changes nothing for a symmetrically normalised graph. The factor is floored at
    ``MIN_DECAY`` so a very old interaction still counts a little instead of vanishing.
    """
    if len(weights) == 0:
        return weights.astype(np.float32)
    age = (last_ms.max() - last_ms).astype(np.float64)
    factor = np.maximum(np.exp2(-age / half_life_ms), MIN_DECAY)
    return (weights.astype(np.float64) * factor).astype(np.float32)


def features_csr(
    per_item: list[list[str]],
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Sorted feature vocabulary and the item -> feature-id CSR (``ptr``, ``index``)."""
    vocabulary = sorted({f for features in per_item for f in features})
    position = {f: k for k, f in enumerate(vocabulary)}
    lengths = np.fromiter((len(f) for f in per_item), dtype=np.int64, count=len(per_item))
    ptr = np.zeros(len(per_item) + 1, dtype=np.int64)
    np.cumsum(lengths, out=ptr[1:])
    index = np.fromiter(
        (position[f] for features in per_item for f in sorted(features)), dtype=np.int64
    )
    return vocabulary, ptr, index


def text_matrix(vectors: list[list[float] | None]) -> np.ndarray | None:
    """Item text vectors as one float32 matrix (zero rows where an item has none), or
    ``None`` when no item has one. The width is the first vector's: every vector comes from
    the same encoder, so a row of another width is a stale leftover and counts as none."""
    present = [v for v in vectors if v is not None]
    if not present:
        return None
    dim = len(present[0])
    out = np.zeros((len(vectors), dim), dtype=np.float32)
    for row, vector in enumerate(vectors):
        if vector is not None and len(vector) == dim:
            out[row] = vector
    return out


def _edges(
    records: Iterable[dict[str, Any]], user_pos: dict[str, int], item_pos: dict[str, int]
) -> tuple[np.ndarray, ...]:
    users, items, weights, last = [], [], [], []
    for record in records:
        u = user_pos.get(record["user_id"])
        if u is None:
            continue  # created after the id lists were read: newer than as_of, next refresh
        for item_id, weight, last_ms in zip(
            record["item_ids"], record["weights"], record["last_ms"], strict=True
        ):
            i = item_pos.get(item_id)
            if i is not None:
                users.append(u)
                items.append(i)
                weights.append(weight)
                last.append(last_ms)
    return (
        np.asarray(users, dtype=np.int64),
        np.asarray(items, dtype=np.int64),
        np.asarray(weights, dtype=np.float64),
        np.asarray(last, dtype=np.int64),
    )


def interest_rows(
    records: Iterable[dict[str, Any]],
    user_pos: dict[str, int],
    feature_pos: dict[str, int],
    half_life_ms: float,
) -> UserInterestRows:
    """Triples of the users' interests in known features (others wait for a retrain)."""
    users, features, weights = [], [], []
    for record in records:
        u = user_pos.get(record["user_id"])
        if u is None:
            continue
        decayed = decay_within_user(
            np.asarray(record["weights"], dtype=np.float64),
            np.asarray(record["last_ms"], dtype=np.int64),
            half_life_ms,
        )
        for feature, weight in zip(record["features"], decayed, strict=True):
            f = feature_pos.get(feature)
            if f is not None and weight > 0:
                users.append(u)
                features.append(f)
                weights.append(weight)
    return UserInterestRows(
        np.asarray(users, dtype=np.int64),
        np.asarray(features, dtype=np.int64),
        np.asarray(weights, dtype=np.float64),
    )


def read_snapshot_tx(tx: ManagedTransaction, half_life_ms: float) -> GraphSnapshot:
    as_of = tx.run(READ_CLOCK).single(strict=True)["now"].to_native()
    user_ids = [r["user_id"] for r in tx.run(READ_USERS)]
    item_rows, texts, leaves = [], [], []
    for r in tx.run(READ_ITEMS):
        item_rows.append((r["item_id"], r["categories"] + r["brands"] + r["tags"]))
        texts.append(r["text"])
        leaves.append(list(r["leaves"]))
    item_ids = [item_id for item_id, _ in item_rows]
    user_pos = {u: k for k, u in enumerate(user_ids)}
    item_pos = {i: k for k, i in enumerate(item_ids)}
    edge_records = [r.data() for r in tx.run(READ_USER_EDGES, half_life_ms=half_life_ms)]
    users, items, raw, last = _edges(edge_records, user_pos, item_pos)
    weights = decay_to_common_clock(raw, last, half_life_ms)
    vocabulary, ptr, index = features_csr([features for _, features in item_rows])
    interests = interest_rows(
        (r.data() for r in tx.run(READ_USER_INTERESTS)),
        user_pos,
        {f: k for k, f in enumerate(vocabulary)},
        half_life_ms,
    )
    return GraphSnapshot(
        as_of=as_of,
        user_ids=user_ids,
        item_ids=item_ids,
        user_index=users,
        item_index=items,
        weight=weights,
        last_ts_ms=last,
        feature_ids=vocabulary,
        item_feature_ptr=ptr,
        item_feature_index=index,
        raw_weight=raw,
        item_text=text_matrix(texts),
        interests=interests,
        item_leaves=leaves,
    )


def read_snapshot(
    driver: Driver, half_life_ms: float, database: str | None = None
) -> GraphSnapshot:
    """The whole interaction graph, read in one transaction."""
    with causal_session(driver, database) as session:
        return session.execute_read(read_snapshot_tx, half_life_ms)


class Snapshots(StoreArea):
    """The store's snapshot operations, bound to its driver and database."""

    def read_snapshot(self, half_life_ms: float) -> GraphSnapshot:
        """The whole interaction graph, read in one transaction."""
        return read_snapshot(self.driver, half_life_ms, database=self.database)
