"""How a category's items are ordered in a user's list, chosen per model version on the
validation holdout.

A list shared out between a user's interests (``app.serving.intent``) fills each category's
slots with that category's best items. Three signals can order them, each standardised over
the category's items:

* ``own``: the user's own direction in the category (the weighted sum of the vectors of the
  items they interacted with there, decayed to their newest interaction), scored as the
  model scores a user: cosine plus the popularity prior;
* ``pop``: the category's popularity, ``log(1 + degree)``;
* ``model``: the model's score for the user (cosine of the user's vector plus the prior).

With ``m`` own items in the category the order is

    (1 - beta) * (m / (m + kappa) * z(own) + kappa / (m + kappa) * z(pop)) + beta * z(model),

so popularity is a prior worth ``kappa`` of the user's own items there, and ``beta`` is the
model's part. Which mix predicts best is a property of the shop, not of the code: where the
shoppers of a category buy what the others buy (popularity within the category is most of
the signal), ``kappa`` is large; where each shopper has a taste of their own (Amazon Beauty),
it is small. The pair is chosen on the training holdout: every held-out item with at least
one own item of the same user in its leaf category is ranked among that category's items the
user has not seen, under every pair of the grid, and the pair with the best NDCG at
``cutoff`` wins (ties go to the earlier pair: the plain own-items order first). The pair is
stored with the version and the serving side reads it from there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ml.shortterm import standardize_scores

if TYPE_CHECKING:  # numpy only at run time: the serving side imports order_weights
    from ml.data import CSRMatrix, InteractionGraph

# kappa: 0 is the user's own items alone; 1e6 is popularity alone.
POPULARITY_EVENTS = (0.0, 1.0, 3.0, 10.0, 30.0, 1e6)
MODEL_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)


@dataclass(frozen=True)
class CategoryOrder:
    """The within-category order chosen for a version (see the module docstring).

    Attributes:
        popularity_events: ``kappa``.
        model_weight: ``beta``.
        ndcg: The holdout NDCG at the cutoff of the chosen pair (``nan``: nothing to judge).
        default_ndcg: The same for the plain own-items order (``kappa = beta = 0``).
        cases: How many held-out items were judged.
    """

    popularity_events: float = 0.0
    model_weight: float = 0.0
    ndcg: float = float("nan")
    default_ndcg: float = float("nan")
    cases: int = 0

    def as_metrics(self) -> dict[str, float]:
        """The pair and, where anything was judged, its holdout figures (no NaN: the metrics
        travel as JSON)."""
        metrics = {
            "category_popularity_events": self.popularity_events,
            "category_model_weight": self.model_weight,
            "category_order_cases": float(self.cases),
        }
        if self.cases:
            metrics["category_order_ndcg"] = self.ndcg
            metrics["category_order_default_ndcg"] = self.default_ndcg
        return metrics


@dataclass(frozen=True)
class OrderInputs:
    """What the choice reads, all indexed as the training graph.

    Attributes:
        user_vec: float[n_users, d] the users' vectors.
        item_vec: float[n_items, d] the items' vectors.
        prior: float[n_items] the popularity prior added to cosines (zeros: none).
        log_degree: float[n_items] ``log(1 + degree)``.
        leaves: item -> leaf category codes (the categories items are filed in directly).
        half_life_ms: Half-life of the decay that weighs a user's items.
    """

    user_vec: np.ndarray
    item_vec: np.ndarray
    prior: np.ndarray
    log_degree: np.ndarray
    leaves: CSRMatrix
    half_life_ms: float


def grid() -> np.ndarray:
    """Every ``(kappa, beta)`` pair tried, the plain own-items order first."""
    return np.asarray([(k, b) for b in MODEL_WEIGHTS for k in POPULARITY_EVENTS])


def choose_category_order(
    inputs: OrderInputs,
    train: InteractionGraph,
    targets: CSRMatrix,
    cutoff: int = 20,
    max_cases: int = 5000,
    seed: int = 0,
) -> CategoryOrder:
    """The grid pair under which the held-out items rank best within their categories.

    Args:
        inputs: Vectors, prior, popularity and leaves (see :class:`OrderInputs`).
        train: The training graph (the users' own items, their weights and times).
        targets: The held-out ``user -> items``.
        cutoff: NDCG cut-off: about the most slots one category takes in a list.
        max_cases: At most this many held-out items are judged (a seeded sample).
        seed: Seed of that sample.

    Returns:
        The chosen order; the defaults when no held-out item has an own item in its category.
    """
    pairs = grid()
    unit = _unit_rows(inputs.item_vec)
    users = _unit_rows(inputs.user_vec)
    members = _leaf_members(inputs.leaves, len(unit))
    own_items = _UserItems.of(train, inputs.half_life_ms)
    cases = _cases(targets, max_cases, seed)
    gains, judged = np.zeros(len(pairs)), 0
    for user, target in cases:
        for leaf in inputs.leaves.row(int(target)):
            gain = _case_gains(inputs, unit, users[user], members[int(leaf)], own_items,
                               int(user), int(target), pairs, cutoff)  # fmt: skip
            if gain is not None:
                gains += gain
                judged += 1
    if judged == 0:
        return CategoryOrder()
    ndcg = gains / judged
    best = int(np.argmax(ndcg))  # the first of equals: the plainest order
    return CategoryOrder(
        popularity_events=float(pairs[best, 0]), model_weight=float(pairs[best, 1]),
        ndcg=float(ndcg[best]), default_ndcg=float(ndcg[0]), cases=judged,
    )  # fmt: skip


def order_weights(m: int, kappa: float, beta: float) -> tuple[float, float, float]:
    """The weights of ``z(own)``, ``z(pop)`` and ``z(model)`` for ``m`` own items."""
    own = m / (m + kappa) if m + kappa > 0 else 1.0
    return (1.0 - beta) * own, (1.0 - beta) * (1.0 - own), beta


def _case_gains(
    inputs: OrderInputs,
    unit: np.ndarray,
    user: np.ndarray,
    rows: np.ndarray,
    own_items: _UserItems,
    u: int,
    target: int,
    pairs: np.ndarray,
    cutoff: int,
) -> np.ndarray | None:
    """NDCG of ``target`` among ``rows`` the user has not seen, per pair; ``None``: no own
    item of the user in this category, so the order is not the choice's to make."""
    items, weights = own_items.of_user(u)
    inside = np.isin(items, rows)
    if not inside.any() or len(rows) < 2:
        return None
    direction = (weights[inside, None] * unit[items[inside]]).sum(axis=0)
    norm = float(np.linalg.norm(direction))
    if norm == 0.0:
        return None
    prior = inputs.prior[rows]
    signals = np.stack([
        standardize_scores(unit[rows] @ (direction / norm) + prior),
        standardize_scores(inputs.log_degree[rows].astype(np.float64)),
        standardize_scores(unit[rows] @ user + prior),
    ])  # fmt: skip
    m = int(inside.sum())
    mix = np.asarray([order_weights(m, k, b) for k, b in pairs])
    scores = mix @ signals  # [pairs, rows]
    candidates = ~np.isin(rows, items) | (rows == target)
    mine = scores[:, rows == target][:, 0]
    ahead = ((scores > mine[:, None]) & candidates[None, :]).sum(axis=1)
    return np.where(ahead < cutoff, 1.0 / np.log2(ahead + 2.0), 0.0)


@dataclass(frozen=True)
class _UserItems:
    """Each user's training items and their weights, decayed to the user's newest item."""

    ptr: np.ndarray
    items: np.ndarray
    weights: np.ndarray

    @classmethod
    def of(cls, graph: InteractionGraph, half_life_ms: float) -> _UserItems:
        order = np.argsort(graph.user_index, kind="stable")
        users, items = graph.user_index[order], graph.item_index[order]
        weights = graph.weight[order].astype(np.float64)
        if graph.ts is not None and half_life_ms > 0:
            ts = graph.ts[order].astype(np.float64)
            newest = np.full(graph.n_users, -np.inf)
            np.maximum.at(newest, users, ts)
            weights = weights * 2.0 ** (-(newest[users] - ts) / half_life_ms)
        ptr = np.zeros(graph.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(users, minlength=graph.n_users), out=ptr[1:])
        return cls(ptr, items, weights)

    def of_user(self, user: int) -> tuple[np.ndarray, np.ndarray]:
        lo, hi = self.ptr[user], self.ptr[user + 1]
        return self.items[lo:hi], self.weights[lo:hi]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def _leaf_members(leaves: CSRMatrix, n_items: int) -> list[np.ndarray]:
    """Per leaf code, the items filed in it."""
    item_of = np.repeat(np.arange(n_items), np.diff(leaves.indptr))
    order = np.argsort(leaves.indices, kind="stable")
    bounds = np.searchsorted(leaves.indices[order], np.arange(leaves.n_cols + 1))
    return [item_of[order[bounds[c] : bounds[c + 1]]] for c in range(leaves.n_cols)]


def _cases(targets: CSRMatrix, max_cases: int, seed: int) -> np.ndarray:
    """``(user, item)`` held-out pairs, a seeded sample of at most ``max_cases``."""
    users = np.repeat(np.arange(targets.n_rows), targets.row_lengths())
    pairs = np.stack([users, targets.indices], axis=1)
    if len(pairs) > max_cases:
        pairs = pairs[np.random.default_rng(seed).choice(len(pairs), max_cases, replace=False)]
    return pairs
