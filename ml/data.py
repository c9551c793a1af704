"""Exchange format between the graph side and the model side (numpy only, no torch).

The graph side exports the user-item interaction graph as an :class:`InteractionGraph` of plain
numpy arrays; everything the models need (adjacency, masks, holdout splits) is derived from it.
Keeping this module free of torch lets the graph side build and validate it cheaply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ml.interests import (
    ATTRIBUTE_KINDS,
    UserInterests,
    interests_from_interactions,
    without_held_out,
)


@dataclass(frozen=True)
class CSRMatrix:
    """A compressed-sparse-row index of a 0/1 matrix (``row -> sorted column ids``).

    Attributes:
        indptr: int64[n_rows + 1], row ``r`` owns ``indices[indptr[r]:indptr[r + 1]]``.
        indices: int64[nnz] column ids.
        n_cols: Number of columns.
    """

    indptr: np.ndarray
    indices: np.ndarray
    n_cols: int

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return len(self.indptr) - 1

    @property
    def nnz(self) -> int:
        """Number of stored entries."""
        return int(self.indptr[-1])

    def row(self, r: int) -> np.ndarray:
        """Column ids stored in row ``r``."""
        return self.indices[self.indptr[r] : self.indptr[r + 1]]

    def row_lengths(self) -> np.ndarray:
        """Entries per row, int64[n_rows]."""
        return np.diff(self.indptr)

    def rows(self) -> np.ndarray:
        """Row id of every stored entry (the COO expansion), int64[nnz]."""
        return np.repeat(np.arange(self.n_rows, dtype=np.int64), self.row_lengths())

    @classmethod
    def from_pairs(cls, rows: np.ndarray, cols: np.ndarray, n_rows: int, n_cols: int) -> CSRMatrix:
        """Builds a CSR index from ``(row, col)`` pairs; duplicate pairs are kept once."""
        rows = np.asarray(rows, dtype=np.int64)
        cols = np.asarray(cols, dtype=np.int64)
        key = np.unique(rows * np.int64(n_cols) + cols)
        uniq_rows, uniq_cols = np.divmod(key, np.int64(n_cols))
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(uniq_rows, minlength=n_rows), out=indptr[1:])
        return cls(indptr=indptr, indices=uniq_cols.astype(np.int64), n_cols=n_cols)


def _as_array(name: str, value: np.ndarray, dtype: type) -> np.ndarray:
    array: np.ndarray = np.ascontiguousarray(value, dtype=dtype)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {array.shape}")
    return array


def _check_range(name: str, array: np.ndarray, upper: int) -> None:
    if len(array) and (array.min() < 0 or array.max() >= upper):
        raise ValueError(f"{name} has ids outside [0, {upper})")


@dataclass(frozen=True)
class InteractionGraph:
    """A weighted bipartite user-item interaction graph as numpy arrays.

    Edges are ``(user_index[e], item_index[e])`` with a strictly positive ``weight[e]``
    (e.g. interaction counts or ratings) and an optional timestamp in milliseconds. Duplicate
    edges are allowed; the adjacency builder sums their weights. Items may carry content
    features (categories, brands, ...) as a CSR index ``item -> feature ids``.

    Attributes:
        n_users: Number of user nodes (ids ``0..n_users-1``).
        n_items: Number of item nodes (ids ``0..n_items-1``).
        user_index: int64[E] user endpoint of every edge.
        item_index: int64[E] item endpoint of every edge.
        weight: float32[E] strictly positive finite edge weights.
        ts: int64[E] edge timestamps in ms (or any monotone clock), or ``None``.
        user_ids: External id of every user (defaults to ``"0".."n_users-1"``).
        item_ids: External id of every item (defaults to ``"0".."n_items-1"``).
        item_feature_ptr: int64[n_items + 1] CSR pointer of item features, or ``None``.
        item_feature_index: int64[F] feature ids of the CSR, or ``None``.
        n_features: Size of the feature vocabulary (0 without features).
        item_text: float32[n_items, text_dim] text vectors of the items (a zero row for an
            item without text), or ``None`` when no item has text.
        interests: The users' ``INTERESTED_IN`` edges over the feature vocabulary, or ``None``.
        feature_kind: int8[n_features] node type of every feature (an index into
            :data:`ml.interests.ATTRIBUTE_KINDS`), or ``None`` (all categories).
    """

    n_users: int
    n_items: int
    user_index: np.ndarray
    item_index: np.ndarray
    weight: np.ndarray
    ts: np.ndarray | None = None
    user_ids: list[str] = field(default_factory=list)
    item_ids: list[str] = field(default_factory=list)
    item_feature_ptr: np.ndarray | None = None
    item_feature_index: np.ndarray | None = None
    n_features: int = 0
    item_text: np.ndarray | None = None
    interests: UserInterests | None = None
    feature_kind: np.ndarray | None = None

    def __post_init__(self) -> None:
        # Frozen dataclass: normalise dtypes through object.__setattr__ once, then validate.
        set_ = object.__setattr__
        if self.n_users < 0 or self.n_items < 0:
            raise ValueError("n_users and n_items must be non-negative")
        set_(self, "user_index", _as_array("user_index", self.user_index, np.int64))
        set_(self, "item_index", _as_array("item_index", self.item_index, np.int64))
        set_(self, "weight", _as_array("weight", self.weight, np.float32))
        n_edges = len(self.user_index)
        if len(self.item_index) != n_edges or len(self.weight) != n_edges:
            raise ValueError("user_index, item_index and weight must have the same length")
        _check_range("user_index", self.user_index, self.n_users)
        _check_range("item_index", self.item_index, self.n_items)
        if n_edges and not (np.all(np.isfinite(self.weight)) and self.weight.min() > 0):
            raise ValueError("weight must be finite and > 0")
        if self.ts is not None:
            set_(self, "ts", _as_array("ts", self.ts, np.int64))
            if len(self.ts) != n_edges:
                raise ValueError("ts must have one entry per edge")
        set_(self, "user_ids", _default_ids("user_ids", self.user_ids, self.n_users))
        set_(self, "item_ids", _default_ids("item_ids", self.item_ids, self.n_items))
        self._validate_features()
        self._validate_text()
        self._validate_interests()

    def _validate_text(self) -> None:
        if self.item_text is None:
            return
        text = np.ascontiguousarray(self.item_text, dtype=np.float32)
        if text.ndim != 2 or text.shape[0] != self.n_items or text.shape[1] == 0:
            raise ValueError(f"item_text must have shape (n_items, dim), got {text.shape}")
        if not np.all(np.isfinite(text)):
            raise ValueError("item_text must be finite")
        object.__setattr__(self, "item_text", text)

    def _validate_interests(self) -> None:
        if self.interests is not None:
            if self.interests.n_users != self.n_users:
                raise ValueError("interests must have one row per user")
            _check_range("interests", self.interests.indices, self.n_features)
        if self.feature_kind is not None:
            kind = np.ascontiguousarray(self.feature_kind, dtype=np.int8)
            if kind.shape != (self.n_features,):
                raise ValueError("feature_kind must have one entry per feature")
            _check_range("feature_kind", kind, len(ATTRIBUTE_KINDS))
            object.__setattr__(self, "feature_kind", kind)

    def interactions_by_feature(self, mask: np.ndarray | None = None) -> UserInterests:
        """What the graph's interest fold gives from these edges (or those under ``mask``)."""
        if self.item_feature_ptr is None or self.item_feature_index is None:
            raise ValueError("the graph has no item features")
        take = slice(None) if mask is None else mask
        return interests_from_interactions(
            self.n_users,
            self.user_index[take],
            self.item_index[take],
            self.weight[take],
            self.item_feature_ptr,
            self.item_feature_index,
        )

    def with_interests(self, interests: UserInterests) -> InteractionGraph:
        """The same graph with ``interests`` as the users' interest edges."""
        return self.with_edges(np.ones(self.n_edges, dtype=bool), interests)

    @property
    def text_dim(self) -> int:
        """Width of the item text vectors (0 without text)."""
        return 0 if self.item_text is None else int(self.item_text.shape[1])

    def _validate_features(self) -> None:
        ptr, index = self.item_feature_ptr, self.item_feature_index
        if ptr is None and index is None:
            return
        if ptr is None or index is None:
            raise ValueError("item_feature_ptr and item_feature_index go together")
        ptr = _as_array("item_feature_ptr", ptr, np.int64)
        index = _as_array("item_feature_index", index, np.int64)
        if len(ptr) != self.n_items + 1 or ptr[0] != 0 or ptr[-1] != len(index):
            raise ValueError("item_feature_ptr must have n_items + 1 entries from 0 to len(index)")
        if np.any(np.diff(ptr) < 0):
            raise ValueError("item_feature_ptr must be non-decreasing")
        _check_range("item_feature_index", index, self.n_features)
        object.__setattr__(self, "item_feature_ptr", ptr)
        object.__setattr__(self, "item_feature_index", index)

    @property
    def n_edges(self) -> int:
        """Number of (possibly duplicate) edges."""
        return len(self.user_index)

    @property
    def has_features(self) -> bool:
        """Whether items carry a content-feature CSR."""
        return self.item_feature_ptr is not None

    def item_features(self) -> CSRMatrix | None:
        """The item -> feature-id CSR, or ``None`` without features."""
        if self.item_feature_ptr is None or self.item_feature_index is None:
            return None
        return CSRMatrix(self.item_feature_ptr, self.item_feature_index, self.n_features)

    def user_items(self) -> CSRMatrix:
        """The user -> interacted-items CSR (deduplicated), e.g. to mask seen items."""
        return CSRMatrix.from_pairs(self.user_index, self.item_index, self.n_users, self.n_items)

    def fingerprint(self) -> str:
        """A SHA-256 over sizes and edge arrays: identifies the training data of a model."""
        import hashlib

        digest = hashlib.sha256()
        digest.update(np.array([self.n_users, self.n_items, self.n_features], np.int64).tobytes())
        for array in (self.user_index, self.item_index, self.weight, self.ts):
            if array is not None:
                digest.update(array.tobytes())
        if self.item_feature_ptr is not None and self.item_feature_index is not None:
            digest.update(self.item_feature_ptr.tobytes())
            digest.update(self.item_feature_index.tobytes())
        if self.item_text is not None:
            digest.update(self.item_text.tobytes())
        if self.interests is not None:
            for array in (self.interests.indptr, self.interests.indices, self.interests.weights):
                digest.update(array.tobytes())
        return digest.hexdigest()

    def with_edges(
        self, mask: np.ndarray, interests: UserInterests | None = None
    ) -> InteractionGraph:
        """A graph over the same nodes and features keeping only edges where ``mask`` is true
        (and ``interests`` in place of the graph's own, if given)."""
        return InteractionGraph(
            n_users=self.n_users,
            n_items=self.n_items,
            user_index=self.user_index[mask],
            item_index=self.item_index[mask],
            weight=self.weight[mask],
            ts=None if self.ts is None else self.ts[mask],
            user_ids=self.user_ids,
            item_ids=self.item_ids,
            item_feature_ptr=self.item_feature_ptr,
            item_feature_index=self.item_feature_index,
            n_features=self.n_features,
            item_text=self.item_text,
            interests=self.interests if interests is None else interests,
            feature_kind=self.feature_kind,
        )


def _default_ids(name: str, ids: Sequence[str], count: int) -> list[str]:
    if len(ids) == 0:
        return [str(k) for k in range(count)]
    if len(ids) != count:
        raise ValueError(f"{name} must have {count} entries, got {len(ids)}")
    return list(ids)


@dataclass(frozen=True)
class HoldoutSplit:
    """A training graph and the held-out targets (``user -> items``) used for validation."""

    train: InteractionGraph
    targets: CSRMatrix


def holdout_split(
    graph: InteractionGraph,
    fraction: float = 0.1,
    seed: int = 0,
    by_time: bool | None = None,
    max_users: int | None = None,
) -> HoldoutSplit:
    """Holds out part of every user's interactions for validation / early stopping.

    With timestamps (or ``by_time=True``) each user's latest interaction is held out
    (leave-one-out by time); otherwise a random ``fraction`` of each user's edges is held out.
    Users keep at least one training edge, so a user with a single edge is never held out.

    Args:
        graph: The full interaction graph.
        fraction: Share of each user's edges held out by the random split.
        seed: Seed of the random split.
        by_time: Force (``True``) or forbid (``False``) the time split; ``None`` = use the
            time split when ``ts`` is present.
        max_users: Hold out edges of at most this many random users (``None`` = every user);
            a sample keeps more edges for training and makes validation cheaper.

    Returns:
        The training graph (same nodes) and the held-out user -> item targets.
    """
    use_time = graph.ts is not None if by_time is None else by_time
    if use_time and graph.ts is None:
        raise ValueError("a time split needs ts")
    held = _latest_edge_mask(graph) if use_time else _random_edge_mask(graph, fraction, seed)
    if max_users is not None and max_users < graph.n_users:
        chosen = np.zeros(graph.n_users, dtype=bool)
        chosen[np.random.default_rng(seed + 1).choice(graph.n_users, max_users, replace=False)] = (
            True
        )
        held &= chosen[graph.user_index]
    targets = CSRMatrix.from_pairs(
        graph.user_index[held], graph.item_index[held], graph.n_users, graph.n_items
    )
    return HoldoutSplit(
        train=graph.with_edges(~held, _train_interests(graph, held)), targets=targets
    )


def _train_interests(graph: InteractionGraph, held: np.ndarray) -> UserInterests | None:
    """The graph's interests less the held-out edges' evidence (see
    :func:`ml.interests.without_held_out`): validation must not read the answer from them."""
    if graph.interests is None or not graph.has_features:
        return None
    return without_held_out(
        graph.interests, graph.interactions_by_feature(held), graph.interactions_by_feature()
    )


def _user_order(graph: InteractionGraph, *keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edge order grouped by user, sorted by ``keys`` (last = primary) inside a user, plus rank."""
    order = np.lexsort((*keys, graph.user_index))
    counts = np.bincount(graph.user_index, minlength=graph.n_users)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    rank = np.arange(len(order)) - starts
    return order, rank


def _latest_edge_mask(graph: InteractionGraph) -> np.ndarray:
    assert graph.ts is not None
    # Ties on ts are broken by edge position, which is the natural order of most exports.
    order, rank = _user_order(graph, np.arange(graph.n_edges), graph.ts)
    counts = np.bincount(graph.user_index, minlength=graph.n_users)
    last_rank = counts[graph.user_index[order]] - 1
    held = np.zeros(graph.n_edges, dtype=bool)
    held[order] = (rank == last_rank) & (last_rank >= 1)
    return held


def _random_edge_mask(graph: InteractionGraph, fraction: float, seed: int) -> np.ndarray:
    if not 0.0 < fraction < 1.0:
        raise ValueError("fraction must be in (0, 1)")
    rng = np.random.default_rng(seed)
    order, rank = _user_order(graph, rng.random(graph.n_edges))
    counts = np.bincount(graph.user_index, minlength=graph.n_users)
    n_held = np.minimum(np.floor(counts * fraction + rng.random(graph.n_users)), counts - 1)
    held = np.zeros(graph.n_edges, dtype=bool)
    held[order] = rank < n_held[graph.user_index[order]]
    return held
