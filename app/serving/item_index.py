"""The active model version's item vectors, held in each API worker for ranking.

Ranking every item for a user is one ``[n_items × dim]`` matrix-vector product (41k × 64 is
about a millisecond), far cheaper than an approximate-nearest-neighbour query plus filters
in the database per request. The copy is keyed by model version: when the active version
changes, the next request loads the new one (under a lock, so one thread does it). When an
incremental refresh rewrites some vectors of the same version (its ``revision`` moves), only
the items rewritten since the last load are read and patched into a copy, which then
replaces the old index in one assignment, so concurrent requests never see a half update.

Long-term scores are the cosine plus the version's popularity prior (``ml.popularity``):
``prior`` holds ``weight * log(1 + degree)`` per item, read with the vectors, so it follows
the live graph's degrees at each load. Each category's repeat purchases
(``graphdb.repeat_purchase``) are read with the vectors, at each load and patch, so the lists
ranked over one index and the live answers over it agree.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

import numpy as np

from app.serving.novelty import fit_focus, fit_new_category_rate
from graphdb.category_order import StoredCategoryOrder
from graphdb.reads import ItemVectorRow
from graphdb.repeat_purchase import RepeatPurchases
from graphdb.store import GraphStore

# Re-read vectors written this long before the last load too: a refresh transaction that
# began before the load may commit after it.
RELOAD_OVERLAP = timedelta(seconds=60)


# Share of random item pairs less similar than two items a reason calls "similar".
NEAR_QUANTILE = 0.99


@dataclass
class ItemIndex:
    version: str
    ids: list[str]
    titles: list[str | None]
    unit: np.ndarray  # float32 [n_items, dim], rows L2-normalised
    categories: list[list[str]]  # each item's categories and their ancestors
    leaves: list[list[str]]
    brands: list[list[str]]
    prior: np.ndarray  # float32 [n_items], added to every user's cosine (zeros: none)
    # Cosine above which two items count as near (see near_cosine): a reason "similar to X"
    # is given only then.
    near: float = 1.0
    # Each category's buyers and repeat buyers, as the graph had them at the last load or
    # patch (app.serving.repeat).
    repeats: RepeatPurchases = field(default_factory=RepeatPurchases)
    # The shop's rate of "somewhere new", fitted at the last full load (app.serving.intent;
    # ``None``: nothing to fit it on, the setting's rate applies).
    new_category_rate: float | None = None
    # How strongly the shop's users keep to the category they are in, fitted at the last full
    # load (app.serving.novelty.fit_focus; ``None``: nothing to fit it on).
    focus: float | None = None
    # The order within a category the version chose on its holdout (app.serving.intent).
    category_order: StoredCategoryOrder = field(default_factory=StoredCategoryOrder)
    # log(1 + degree) per item (the category orders' popularity; empty: all alike).
    log_degree: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    revision: int = 0
    loaded_at: datetime | None = None
    position: dict[str, int] = field(init=False)
    has_prior: bool = field(init=False)  # checked per request: skip the add when all zero
    _masks: dict[tuple[str, str], np.ndarray] = field(init=False, default_factory=dict)
    _counts: dict[str, int] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.position = {item_id: k for k, item_id in enumerate(self.ids)}
        self.has_prior = bool(np.any(self.prior))

    def long_table(self) -> np.ndarray:
        """Rows a long-term query is scored on: the unit vectors, and the prior as a column."""
        return np.hstack([self.unit, self.prior[:, None]]) if self.has_prior else self.unit

    def long_query(self, user: np.ndarray) -> np.ndarray:
        """``user`` as a query of :meth:`long_table` (a 1 appended for the prior column)."""
        return np.append(user, np.float32(1.0)).astype(np.float32) if self.has_prior else user

    def long_scores(self, user: np.ndarray) -> np.ndarray:
        """Every item's long-term score for a unit user vector: cosine plus prior."""
        scores = self.unit @ user
        if self.has_prior:
            scores += self.prior
        return scores

    @classmethod
    def from_rows(cls, version: str, rows: Sequence[ItemVectorRow]) -> ItemIndex:
        dims = len(rows[0].embedding) if rows else 0
        vectors = np.asarray([r.embedding for r in rows], dtype=np.float32).reshape(-1, dims)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        return cls(
            version=version,
            ids=[r.item_id for r in rows],
            titles=[r.title for r in rows],
            unit=vectors,
            categories=[list(r.categories) for r in rows],
            leaves=[list(r.leaves) for r in rows],
            brands=[list(r.brands) for r in rows],
            prior=np.asarray([r.prior for r in rows], dtype=np.float32),
            near=near_cosine(vectors),
            log_degree=np.asarray([r.log_degree for r in rows], dtype=np.float32),
        )

    def patched(
        self, rows: Sequence[ItemVectorRow], revision: int, loaded_at: datetime
    ) -> ItemIndex:
        """A copy with ``rows`` replacing (or appended to) this index's items."""
        update = ItemIndex.from_rows(self.version, rows)
        unit, prior = self.unit.copy(), self.prior.copy()
        log_degree = self.popularity().copy()
        ids, titles = list(self.ids), list(self.titles)
        categories, leaves, brands = list(self.categories), list(self.leaves), list(self.brands)
        appended = []
        for k, item_id in enumerate(update.ids):
            pos = self.position.get(item_id)
            if pos is None:
                appended.append(k)
                ids.append(item_id)
                titles.append(update.titles[k])
                categories.append(update.categories[k])
                leaves.append(update.leaves[k])
                brands.append(update.brands[k])
                continue
            unit[pos], prior[pos] = update.unit[k], update.prior[k]
            log_degree[pos] = update.log_degree[k]
            titles[pos], categories[pos] = update.titles[k], update.categories[k]
            leaves[pos], brands[pos] = update.leaves[k], update.brands[k]
        if appended:
            unit = np.vstack([unit, update.unit[appended]])
            prior = np.concatenate([prior, update.prior[appended]])
            log_degree = np.concatenate([log_degree, update.log_degree[appended]])
        return replace(self, ids=ids, titles=titles, unit=unit, prior=prior, categories=categories,
                       leaves=leaves, brands=brands, revision=revision,
                       loaded_at=loaded_at, log_degree=log_degree)  # fmt: skip

    def popularity(self) -> np.ndarray:
        """``log(1 + degree)`` per item (zeros where the index was built without it)."""
        if len(self.log_degree) != len(self.ids):
            return np.zeros(len(self.ids), dtype=np.float32)
        return self.log_degree

    def mask(self, kind: str, value: str) -> np.ndarray:
        """Items in a category (or below it) or of a brand, as a boolean mask (cached)."""
        key = (kind, value)
        if key not in self._masks:
            lists = self.categories if kind == "category" else self.brands
            self._masks[key] = np.fromiter((value in v for v in lists), bool, len(lists))
        return self._masks[key]

    def leaf_mask(self, category: str) -> np.ndarray:
        """Items filed directly in ``category``, as a boolean mask (cached)."""
        key = ("leaf", category)
        if key not in self._masks:
            self._masks[key] = np.fromiter(
                (category in v for v in self.leaves), bool, len(self.leaves)
            )
        return self._masks[key]

    def leaf_count(self) -> int:
        """How many categories items are filed directly in (cached)."""
        if "leaf_count" not in self._counts:
            self._counts["leaf_count"] = len({leaf for v in self.leaves for leaf in v})
        return self._counts["leaf_count"]

    def positions(self, item_ids: Sequence[str]) -> np.ndarray:
        found = [self.position[i] for i in item_ids if i in self.position]
        return np.asarray(found, dtype=np.int64)


def near_cosine(unit: np.ndarray, quantile: float = NEAR_QUANTILE, pairs: int = 20_000) -> float:
    """The cosine that only ``1 - quantile`` of random item pairs exceed.

    Cosines of one model are comparable with each other, not with another model's: what counts
    as near is read from the model itself. With the default, an item X is "near" item P when
    X is closer to P than 99 % of items are to each other, on average. Seeded, so every worker
    of a version agrees.
    """
    if len(unit) < 2:
        return 1.0
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, len(unit), pairs), rng.integers(0, len(unit), pairs)
    keep = a != b
    cosines = np.einsum("ij,ij->i", unit[a[keep]], unit[b[keep]])
    return float(np.quantile(cosines, quantile)) if len(cosines) else 1.0


class ItemIndexCache:
    """One ``ItemIndex`` per process, reloaded when the active version changes.

    Args:
        store: The graph the vectors are read from.
    """

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        self._index: ItemIndex | None = None
        self._lock = threading.Lock()

    @property
    def loaded_version(self) -> str | None:
        """The version held now (``None`` before the first load)."""
        index = self._index
        return index.version if index is not None else None

    def get(self, version: str, revision: int = 0) -> ItemIndex:
        """The index of ``version`` at ``revision`` or later, loaded or patched if need be."""
        index = self._index
        if index is not None and index.version == version and index.revision >= revision:
            return index
        with self._lock:
            index = self._index
            if index is None or index.version != version:
                loaded_at = self.store.reads.server_clock()
                rows = self.store.reads.item_vectors(version)
                index = ItemIndex.from_rows(version, rows)
                index.revision, index.loaded_at = revision, loaded_at
                # A shop-wide constant that moves slowly: refitted per version, not per patch.
                index.new_category_rate = fit_new_category_rate(self.store.reads.category_spread())
                index.focus = fit_focus(self.store.reads.category_continuity())
                index.category_order = self.store.reads.category_order(version)
            elif index.revision < revision:
                loaded_at = self.store.reads.server_clock()
                since = (index.loaded_at or loaded_at) - RELOAD_OVERLAP
                rows = self.store.reads.item_vectors(version, since)
                index = index.patched(rows, revision, loaded_at)
            else:
                return index
            # One pass over the purchase edges, only here: once per load or refresh, never
            # per request.
            index.repeats = self.store.reads.repeat_purchases()
            self._index = index
            return index
