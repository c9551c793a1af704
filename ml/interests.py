"""A user's interest edges (``INTERESTED_IN``) as the model side sees them: numpy only.

The graph keeps, for every user, a decayed weight per category, brand and tag they showed
interest in. The model reads those edges as its own input (a user's vector is a function of
their current interests), so they travel with the :class:`~ml.data.InteractionGraph` as a
weighted CSR ``user -> attribute`` over the same vocabulary as the item features.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Node types of the attributes, in the order of ``InteractionGraph.feature_kind`` codes.
ATTRIBUTE_KINDS: tuple[str, ...] = ("category", "brand", "tag")


@dataclass(frozen=True)
class UserInterests:
    """Weighted ``user -> attribute`` edges (strictly positive weights), CSR by user.

    Attributes:
        indptr: int64[n_users + 1]; user ``u`` owns ``indices[indptr[u]:indptr[u + 1]]``.
        indices: int64[nnz] attribute (feature) ids.
        weights: float32[nnz] interest weights, comparable within a user.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "indptr", np.ascontiguousarray(self.indptr, dtype=np.int64))
        set_(self, "indices", np.ascontiguousarray(self.indices, dtype=np.int64))
        set_(self, "weights", np.ascontiguousarray(self.weights, dtype=np.float32))
        if len(self.indices) != len(self.weights) or self.indptr[-1] != len(self.indices):
            raise ValueError("interest indptr, indices and weights do not line up")
        if len(self.weights) and not (np.all(np.isfinite(self.weights)) and self.weights.min() > 0):
            raise ValueError("interest weights must be finite and > 0")

    @property
    def n_users(self) -> int:
        """Number of users (rows)."""
        return len(self.indptr) - 1

    def rows(self) -> np.ndarray:
        """User of every stored edge, int64[nnz]."""
        return np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(self.indptr))

    @classmethod
    def from_edges(
        cls, users: np.ndarray, attributes: np.ndarray, weights: np.ndarray, n_users: int
    ) -> UserInterests:
        """Builds the CSR from ``(user, attribute, weight)`` triples; duplicates are summed and
        non-positive weights dropped (a criticised interest is no evidence to embed from)."""
        users = np.asarray(users, dtype=np.int64)
        attributes = np.asarray(attributes, dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64)
        width = np.int64(max(int(attributes.max(initial=-1)) + 1, 1))
        key, inverse = np.unique(users * width + attributes, return_inverse=True)
        summed = np.bincount(inverse, weights=weights, minlength=len(key))
        keep = summed > 0
        rows, cols = np.divmod(key[keep], width)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
        return cls(indptr, cols, summed[keep].astype(np.float32))


def interests_from_interactions(
    n_users: int,
    user_index: np.ndarray,
    item_index: np.ndarray,
    weight: np.ndarray,
    feature_ptr: np.ndarray,
    feature_index: np.ndarray,
) -> UserInterests:
    """The fold the graph does on ingest, from edges alone: a user's interest in an attribute
    is the summed weight of their edges to items carrying it. For data that come without
    ``INTERESTED_IN`` edges (public benchmark files)."""
    lengths = feature_ptr[item_index + 1] - feature_ptr[item_index]
    starts = np.repeat(feature_ptr[item_index], lengths)
    offsets = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return UserInterests.from_edges(
        np.repeat(user_index, lengths),
        feature_index[starts + offsets],
        np.repeat(weight, lengths),
        n_users,
    )


def without_held_out(
    interests: UserInterests,
    held: UserInterests,
    full: UserInterests,
) -> UserInterests:
    """Interests with the evidence of held-out edges taken out, so validation cannot read the
    held-out item's category from the user's interests.

    ``held`` and ``full`` are :func:`interests_from_interactions` of the held-out edges and of
    all edges. The graph's weights are on their own scale (event weights, decay), so a user's
    held-out share is removed in proportion: ``w' = max(0, w - held * sum(w) / sum(full))``,
    both sums over the attributes the user has an interest edge to.
    """
    users, cols = interests.rows(), interests.indices
    # The scale compares like with like: the fold's mass on the attributes the user has an
    # interest edge to (the graph folds into leaf categories, the items carry ancestors too).
    full_here = np.bincount(users, weights=_dense_lookup(full, users, cols),
                            minlength=interests.n_users)  # fmt: skip
    scale = _row_sums(interests) / np.maximum(full_here, 1e-12)
    lookup = _dense_lookup(held, users, cols)
    reduced = interests.weights - lookup * scale[users]
    # Float cancellation leaves crumbs where the held-out items were the only evidence.
    crumbs = reduced <= 1e-6 * _row_sums(interests)[users]
    return UserInterests.from_edges(users, cols, np.where(crumbs, 0.0, reduced), interests.n_users)


def _row_sums(interests: UserInterests) -> np.ndarray:
    return np.bincount(interests.rows(), weights=interests.weights, minlength=interests.n_users)


def _dense_lookup(table: UserInterests, users: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``table[users[k], cols[k]]`` (0 where absent), vectorised by key search."""
    width = np.int64(max(int(cols.max(initial=0)), int(table.indices.max(initial=0))) + 1)
    keys = table.rows() * width + table.indices  # sorted: CSR rows, sorted columns
    wanted = users * width + cols
    pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
    if len(keys) == 0:
        return np.zeros(len(wanted), dtype=np.float64)
    found = keys[pos] == wanted
    return np.where(found, table.weights[pos], 0.0).astype(np.float64)
