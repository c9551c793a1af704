"""How much of a list the user's categories share out, chosen per version on its holdout.

The served list gives the long-term part of every list out by the user's category interests
(``app.serving.intent``): a share ``lambda`` goes to the categories, the rest to the model's
best scores anywhere. Whether that pays is the shop's. Where shoppers keep to their
categories, it does; where they cross them freely (Amazon Beauty), the categories' best items
crowd out better picks of the model. So every version judges it on its own training holdout,
with the very code that serves: for each held-out item, the list the service would show the
user as the training graph had them (their vector, their short-term history, their category
weights and their last session) is built under each pair of :data:`SHARES` (``lambda``, and
``mu``, how much of the list a moved session takes), and the held-out item is looked for in
its top ``cutoff``.

Full sharing (1, 1) is kept unless another pair hits clearly more often: by at least
:data:`MARGIN_SE` standard errors of the paired difference, *and* hits no less often on the
moved cases, the held-out items outside the user's strongest category. A tie or a noisy edge
keeps the lists following the graph's interests, which is what the product promises; so does
a holdout with fewer than :data:`MIN_MOVED_CASES` moved cases: a shop whose users kept to one
category while the training data were gathered cannot show that following a move does not
pay (on such a shop, a stationary holdout once chose ``lambda`` < 1 and the lists then lagged
the users' new categories).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from app.serving.intent import IntentMix
from app.serving.item_index import ItemIndex
from app.serving.novelty import fit_focus, fit_new_category_rate
from app.serving.recommend import Mixing, RecommendationRequest, ranked_positions
from app.serving.short_term import ShortTermModel
from app.settings import Settings
from graphdb.category_order import StoredCategoryOrder
from graphdb.reads import RecommendState
from graphdb.snapshot import GraphSnapshot
from graphdb.store import GraphStore
from ml.category_order import CategoryOrder
from ml.data import CSRMatrix, InteractionGraph
from ml.popularity import item_log_degree
from ml.shortterm import ShortTermParams
from ml.train import TrainResult, embed_all

# (lambda, mu), full sharing first: the choice falls back to it.
SHARES = tuple((lam, mu) for mu in (1.0, 0.5, 0.0) for lam in (1.0, 0.5, 0.0))
MARGIN_SE = 2.0
# Below this many cases a holdout cannot tell the shares apart: full sharing stays.
MIN_CASES = 200
# Below this many held-out items outside the user's strongest category, nothing can show
# that sharing less follows a move as well: full sharing stays.
MIN_MOVED_CASES = 50


@dataclass(frozen=True)
class SharingChoice:
    """The chosen ``lambda`` and ``mu`` and what the holdout said.

    Attributes:
        interest_share: ``lambda``.
        session_share: ``mu``.
        hit_rates: Hit rate at the cutoff under each ``(lambda, mu)`` tried.
        scores_alone: The same for the scores alone (nothing shared out), for the record.
        cases: How many held-out items were judged.
        moved_cases: How many of them lay outside the user's strongest category.
        short_term: Whether the lists blended the short-term model's scores in.
    """

    interest_share: float = 1.0
    session_share: float = 1.0
    hit_rates: dict[tuple[float, float], float] | None = None
    scores_alone: float = float("nan")
    cases: int = 0
    short_term: bool = False
    moved_cases: int = 0

    def as_metrics(self) -> dict[str, float]:
        """The share and, where anything was judged, the holdout's figures (JSON-safe)."""
        metrics = {"category_interest_share": self.interest_share,
                   "category_session_share": self.session_share,
                   "category_share_cases": float(self.cases),
                   "category_share_moved_cases": float(self.moved_cases)}  # fmt: skip
        if self.cases and self.hit_rates:
            for (lam, mu), rate in self.hit_rates.items():
                metrics[f"category_share_hr_{lam:g}_{mu:g}"] = rate
            metrics["category_share_hr_scores_alone"] = self.scores_alone
        return metrics


@dataclass(frozen=True)
class ShortTermPart:
    """The version's sequence model as the service blends it in.

    Attributes:
        params: Its weights.
        held_out: The ``user -> item`` it held out of its own training (each user's newest).
        weight: Its share of the blended score.
    """

    params: ShortTermParams
    held_out: CSRMatrix
    weight: float


def choose_sharing(
    store: GraphStore,
    settings: Settings,
    result: TrainResult,
    snapshot: GraphSnapshot,
    order: CategoryOrder,
    short_term: ShortTermPart | None,
) -> SharingChoice:
    """The version's ``lambda`` and ``mu`` (full sharing for a shop without categories, or when the
    settings fix it or turn sharing off: nothing to choose then)."""
    leaves, targets = snapshot.item_leaves, result.targets
    intent = IntentMix.from_settings(settings)
    fixed = not intent.enabled or None not in (intent.interest_share, intent.session_share)
    if fixed or not leaves or not any(leaves) or targets is None or targets.nnz == 0:
        return SharingChoice()
    if result.train_graph is None:
        return SharingChoice()
    rates = (fit_new_category_rate(store.reads.category_spread()),
             fit_focus(store.reads.category_continuity()))  # fmt: skip
    half_life = settings.fold_config().half_life_ms
    lists = holdout_lists(result, leaves, order, rates, short_term, half_life)
    held_out = short_term.held_out if short_term is not None else None
    return choose_interest_share(lists, targets, intent, held_out, seed=settings.train_seed)


@dataclass(frozen=True)
class HoldoutLists:
    """What the served lists of the holdout's users are built from.

    Attributes:
        index: The items as the service would hold them: the training vectors, the version's
            prior and within-category order, the shop's fitted rates.
        users: float32[n_users, d] the users' unit vectors on the training graph.
        train: The training graph (each user's items, weights and times).
        item_leaves: Each item's leaf categories.
        short_term: The version's sequence model (``None``: long-term scores only).
        short_term_weight: Its share of the blended score.
        half_life_ms: The interest weights' decay half-life.
    """

    index: ItemIndex
    users: np.ndarray
    train: InteractionGraph
    item_leaves: list[list[str]]
    short_term: ShortTermModel | None
    short_term_weight: float
    half_life_ms: float


def holdout_lists(
    result: TrainResult,
    item_leaves: list[list[str]],
    order: CategoryOrder,
    rates: tuple[float | None, float | None],
    short_term: ShortTermPart | None,
    half_life_ms: float,
) -> HoldoutLists:
    """The inputs of the holdout's lists (``rates``: the shop's new-category rate and focus,
    fitted as the API fits them)."""
    assert result.train_graph is not None
    train = result.train_graph
    with torch.no_grad():
        users, items = embed_all(result.model, result.ops)
    unit = _unit_rows(items.cpu().numpy())
    log_degree = item_log_degree(train).astype(np.float32)
    index = ItemIndex(
        version="holdout", ids=list(train.item_ids), titles=[None] * train.n_items, unit=unit,
        categories=item_leaves, leaves=item_leaves, brands=[[] for _ in item_leaves],
        prior=(result.prior_weight * log_degree).astype(np.float32),
        new_category_rate=rates[0], focus=rates[1],
        category_order=StoredCategoryOrder(order.popularity_events, order.model_weight),
        log_degree=log_degree,
    )  # fmt: skip
    model, weight = None, 0.0
    if short_term is not None:
        model = ShortTermModel(short_term.params, list(train.item_ids))
        weight = short_term.weight
    return HoldoutLists(index, _unit_rows(users.cpu().numpy()), train, item_leaves, model,
                        weight, half_life_ms)  # fmt: skip


def choose_interest_share(
    lists: HoldoutLists,
    targets: CSRMatrix,
    intent: IntentMix,
    short_term_held_out: CSRMatrix | None = None,
    cutoff: int = 20,
    max_cases: int = 2000,
    seed: int = 0,
) -> SharingChoice:
    """The ``(lambda, mu)`` under which the served lists hit the held-out items best.

    Args:
        lists: What the lists are built from (:func:`holdout_lists`).
        targets: The graph model's held-out ``user -> items``.
        intent: The service's mix (its ``interest_share`` and ``session_share`` are what
            is tried).
        short_term_held_out: What the sequence model held out of its own training: where
            it blends in, only those of the graph model's held-out items are judged, so
            neither part saw the answer.
        cutoff: List length.
        max_cases: At most this many held-out items (a seeded sample).
        seed: Seed of that sample.
    """
    cases = _cases(lists, targets, short_term_held_out, max_cases, seed)
    if len(cases) == 0:
        return SharingChoice()
    # A share the settings fix is not the version's to choose: only the other one varies.
    pairs = [
        (lam, mu)
        for lam, mu in SHARES
        if intent.interest_share in (None, lam) and intent.session_share in (None, mu)
    ]
    if not pairs:  # a fixed share off the grid
        pairs = [(intent.interest_share or 1.0, intent.session_share or 1.0)]
    mixes = [Mixing(replace(intent, interest_share=lam, session_share=mu), lists.half_life_ms)
             for lam, mu in pairs]  # fmt: skip
    hits = np.zeros((len(cases), len(mixes) + 1))
    moved = np.zeros(len(cases), dtype=bool)
    for row, (user, target) in enumerate(cases):
        state, scores = _user_lists_input(lists, int(user))
        moved[row] = _outside_top_category(state, lists.item_leaves[int(target)])
        request = RecommendationRequest(user_id=str(user), k=cutoff)
        for col, mix in enumerate([*mixes, None]):
            picked, _ = ranked_positions(lists.index, request, state, scores, mix)
            hits[row, col] = float(int(target) in picked.tolist())
    choice = _pick(hits, moved, pairs, lists.short_term is not None)
    # Too few cases to tell the shares apart: recorded, but full sharing stays.
    full = replace(choice, interest_share=pairs[0][0], session_share=pairs[0][1])
    return choice if len(cases) >= MIN_CASES else full


def _pick(
    hits: np.ndarray, moved: np.ndarray, pairs: list[tuple[float, float]], short_term: bool
) -> SharingChoice:
    """Full sharing unless a pair beats it by ``MARGIN_SE`` standard errors and is not worse
    on at least ``MIN_MOVED_CASES`` moved cases (then the best of those that qualify)."""
    best = 0
    enough_moved = int(moved.sum()) >= MIN_MOVED_CASES
    for col in range(1, len(pairs)):
        diff = hits[:, col] - hits[:, 0]
        se = float(diff.std(ddof=1)) / math.sqrt(len(diff)) if len(diff) > 1 else math.inf
        follows = enough_moved and diff[moved].mean() >= 0.0
        if follows and diff.mean() > MARGIN_SE * se and hits[:, col].mean() > hits[:, best].mean():
            best = col
    rates = hits.mean(axis=0)
    return SharingChoice(
        interest_share=pairs[best][0], session_share=pairs[best][1],
        hit_rates={pair: float(rates[k]) for k, pair in enumerate(pairs)},
        scores_alone=float(rates[-1]), cases=len(hits), short_term=short_term,
        moved_cases=int(moved.sum()),
    )  # fmt: skip


def _outside_top_category(state: RecommendState, target_leaves: list[str]) -> bool:
    """Whether a held-out item lies outside the user's strongest category (a moved case)."""
    if not state.categories:
        return False
    top = max(state.categories, key=lambda pair: pair[1])[0]
    return top not in target_leaves


def _cases(
    lists: HoldoutLists,
    targets: CSRMatrix,
    short_term_held_out: CSRMatrix | None,
    max_cases: int,
    seed: int,
) -> np.ndarray:
    """``(user, item)`` held-out pairs to judge: with a short-term model, only those it held
    out too (same user, same item), so neither part has seen the answer."""
    pairs = np.stack([targets.rows(), targets.indices], axis=1)
    if lists.short_term is not None and short_term_held_out is not None:
        held = short_term_held_out
        both = set(zip(held.rows().tolist(), held.indices.tolist(), strict=True))
        pairs = pairs[[(int(u), int(i)) in both for u, i in pairs]].reshape(-1, 2)
    if len(pairs) > max_cases:
        pairs = pairs[np.random.default_rng(seed).choice(len(pairs), max_cases, replace=False)]
    return pairs


def _user_lists_input(lists: HoldoutLists, user: int) -> tuple[RecommendState, np.ndarray]:
    """The user's state as the graph held it at training time, and their served scores."""
    train = lists.train
    edges = np.flatnonzero(train.user_index == user)
    ts = train.ts[edges] if train.ts is not None else np.zeros(len(edges), dtype=np.int64)
    edges, ts = edges[np.argsort(-ts, kind="stable")], np.sort(ts)[::-1]
    newest = float(ts[0]) if len(ts) else 0.0
    # The training weights share one clock; the graph stores each at its own time.
    age = np.minimum((newest - ts) / lists.half_life_ms, 60.0)
    weights = train.weight[edges].astype(np.float64)
    categories: dict[str, float] = {}
    for item, weight in zip(train.item_index[edges], weights, strict=True):
        for leaf in lists.item_leaves[int(item)]:
            categories[leaf] = categories.get(leaf, 0.0) + float(weight)
    ids = [train.item_ids[int(i)] for i in train.item_index[edges]]
    state = RecommendState(
        version="holdout", revision=0, embedding=None, seen=tuple((i, False) for i in ids),
        fresh=(), categories=tuple(categories.items()),
        category_last_ms={c: int(newest) for c in categories},
        seen_ms=tuple(int(t) for t in ts), seen_weight=tuple(weights * np.exp2(age)),
    )  # fmt: skip
    vector = lists.users[user]
    if lists.short_term is not None:
        blended = lists.short_term.blended_scores(lists.index, vector, ids,
                                                  lists.short_term_weight)  # fmt: skip
        if blended is not None:
            return state, blended
    return state, lists.index.long_scores(vector)


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
