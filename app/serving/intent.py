"""Lists that follow the interest graph: each category's share of a user's list follows the
evidence for it.

The vectors rank items well *within* a taste, but a user's vector is an average of months of
behaviour: a user whose interests moved is still shown mostly what they used to like. The
graph knows better. Each ``(:User)-[:INTERESTED_IN]->(:Category)`` edge holds the decayed sum
of the user's events in that category, so the shares of those weights ``w_c`` (decayed to the
user's newest interest, so only relative age matters and no clock is read) are the long-term
evidence for each interest. What the user is doing right now is their current *session*: the run
of their newest items with no gap longer than ``session_gap_ms``. Has their focus moved? A
change-point model weighs the session against the interests as they stood before it
(:func:`_switch_posteriors`): ``P(H_c)``, the chance that the user is now shopping category
``c``, is set by how far ONE event in a category they never used moves it
(``switch_after_one``, a quarter by default), and grows fast when the session stays there,
since two strays in a row in the same new category are unlikely. The list is filled category
by category in proportion to the predicted category of the next event,

    p_c = (1 - rho * sum_f P(H_f)) * w_c + rho * P(H_c),

where a moved focus puts a share ``rho`` (``focus``) of the next events in its category and
the rest follows the long-term interests. One event elsewhere after a long history therefore
takes about ``rho / 4`` of the list plus its long-term weight, so the established interests
keep the rest; a second event there moves most of the list; nothing moves against the
evidence.

A share ``o`` of the list stays the model's own: its best items outside those categories, for
an interest the graph has no edge for yet. Read as a Chinese restaurant process, a user with
``n`` items goes somewhere new next with probability ``alpha / (n + alpha)``, with ``alpha``
fitted to how the shop's users spread over categories (``app.serving.novelty``), so
``o = max(floor, alpha / (n + alpha))``: much room for a newcomer, little for a regular of a
shop whose users keep to their categories. Were the model's picks allowed inside the
categories too, a category's count would be its share plus however many of the model's
favourites it holds at the moment, which rises and falls with the model from one event to the
next; kept apart, every category holds exactly its share.

How much of the long-term part is shared out by category at all is the shop's: where the
model's scores already rank a user's next item better than their categories' best items do
(Amazon Beauty, whose shoppers cross categories freely), a share ``lambda`` of it goes to the
categories and ``1 - lambda`` to the best scores anywhere (:data:`app.serving.buckets.FREE`),

    p_c = (1 - mu * rho * sum_f P(H_f)) * lambda * w_c + mu * rho * P(H_c),

and where a shop's next items follow the session less than ``rho`` says (its short-term
model already reads the session), the session's part is scaled by ``mu``. Each version
chooses ``lambda`` and ``mu`` on its training holdout (``app.training.sharing``); 1 and 1,
the lists following the graph in full, where it cannot tell.

Within a category the user *as they are in that category* decides. Their vector is an average
over all they did, so in a category they have only just entered it points at their old taste,
and the category's slots went to items that are merely least unlike it. The items they
interacted with in the category say more: a category's items are ordered as the model scores
items (cosine plus its popularity prior), but for the direction of those items, each weighted
as the graph weighs it (event type, decayed to the user's newest interaction). Where the user
has no embedded item in a category, the model's scores order it.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from app.serving.buckets import FREE
from app.serving.item_index import ItemIndex
from app.serving.novelty import DEFAULT_FOCUS
from graphdb.reads import RecommendState
from ml.category_order import order_weights
from ml.shortterm import standardize_scores

if TYPE_CHECKING:
    from app.settings import Settings

# How many of the user's newest items a category's direction is drawn from: bounds the work
# for long histories, whose older items have decayed to little anyway.
OWN_ITEMS = 100


@dataclass(frozen=True)
class IntentMix:
    """How a list is shared out between a user's interests.

    Attributes:
        switch_after_one: ``P(H_c)`` after one session event in a category the user had no
            interest in (:func:`_switch_posteriors`; more: a stray moves the list further).
        focus: ``rho``: the share of a moved user's next events in the category they moved to
            (``None``: fitted to how the shop's users keep to a category,
            ``app.serving.novelty.fit_focus``, else its default).
        stray_rate: ``eps``: the chance that an event of an unmoved user lies anywhere,
            not where their interests say.
        session_gap_ms: A gap longer than this between two of the user's events ends a
            session.
        session_items: At most this many of the session's newest items count.
        open_prior_events: ``alpha`` above where the graph gives none to fit it on.
        popularity_events: How many of the user's own items in a category its popularity
            counts as when ordering it (:func:`category_orders`; 0: the own items alone;
            ``None``: the model version's choice, see :meth:`order_of`).
        model_weight: The model's share of a category's order (``None``: the version's).
        open_share: The least share of the model's own picks, however long the history.
        interest_share: ``lambda``: the share of the long-term part given out by category
            (``None``: the version's choice, else 1).
        session_share: ``mu``: how much of ``rho`` a moved focus takes of the list
            (``None``: the version's choice, else 1).
        enabled: Whether lists are shared out at all (off: the scores alone rank).
    """

    switch_after_one: float = 0.25
    focus: float | None = None
    stray_rate: float = 0.1
    session_gap_ms: float = 30 * 60_000.0
    session_items: int = 10
    open_prior_events: float = 2.0
    popularity_events: float | None = None
    model_weight: float | None = None
    open_share: float = 0.05
    interest_share: float | None = None
    session_share: float | None = None
    enabled: bool = True

    def order_of(self, index: ItemIndex) -> tuple[float, float]:
        """``(kappa, beta)`` of :func:`category_orders`: the settings where set, else what
        the version chose on its holdout (``ml.category_order``), else the own items alone."""
        stored = index.category_order
        kappa = self.popularity_events
        if kappa is None:
            kappa = stored.popularity_events or 0.0
        beta = self.model_weight
        if beta is None:
            beta = stored.model_weight or 0.0
        return kappa, beta

    @classmethod
    def from_settings(cls, settings: Settings) -> IntentMix:
        """The mix the service's settings ask for (the API ranks with it; training judges
        the version's choices with the same)."""
        return cls(
            switch_after_one=settings.rec_intent_switch_after_one,
            focus=settings.rec_intent_focus,
            stray_rate=settings.rec_intent_stray_rate,
            session_gap_ms=settings.rec_intent_session_gap_minutes * 60_000.0,
            session_items=settings.rec_intent_session_items,
            open_prior_events=settings.rec_open_prior_events,
            popularity_events=settings.rec_intent_popularity_events,
            model_weight=settings.rec_intent_model_weight,
            open_share=settings.rec_open_share,
            interest_share=settings.rec_intent_interest_share,
            session_share=settings.rec_intent_session_share,
            enabled=settings.rec_intent,
        )

    def interest_share_of(self, index: ItemIndex) -> float:
        """``lambda``: the setting where set, else the version's choice, else 1."""
        if self.interest_share is not None:
            return self.interest_share
        stored = index.category_order.interest_share
        return stored if stored is not None else 1.0

    def session_share_of(self, index: ItemIndex) -> float:
        """``mu``: the setting where set, else the version's choice, else 1."""
        if self.session_share is not None:
            return self.session_share
        stored = index.category_order.session_share
        return stored if stored is not None else 1.0

    def focus_of(self, index: ItemIndex) -> float:
        """``rho``: the setting where set, else the shop's fitted focus, else the default."""
        if self.focus is not None:
            return self.focus
        return index.focus if index.focus is not None else DEFAULT_FOCUS

    def open_share_of(self, state: RecommendState, new_category_rate: float | None) -> float:
        """The share of the model's own picks for this user: ``max(floor, alpha/(n + alpha))``.

        ``alpha`` is the shop's rate fitted from the graph (``app.serving.novelty``) where
        there is one, else ``open_prior_events``; ``n`` the user's items.
        """
        alpha = self.open_prior_events if new_category_rate is None else new_category_rate
        n = len(state.seen)
        chance_new = alpha / (n + alpha) if n and alpha > 0 else float(n == 0)
        return max(self.open_share, chance_new)


def category_shares(
    state: RecommendState, index: ItemIndex, mix: IntentMix, half_life_ms: float
) -> dict[str, float]:
    """``p_c`` for every category with evidence, and ``FREE``'s share where ``lambda`` < 1
    (empty: no evidence, so nothing is shared out).

    ``p_c = (1 - mu * rho * sum_f P(H_f)) * lambda * w_c + mu * rho * P(H_c)``: the
    long-term shares, less what the session's focus takes (:func:`_switch_posteriors`);
    ``FREE`` gets ``(1 - mu * rho * sum_f P(H_f)) * (1 - lambda)``.
    """
    weights, newest = _decayed_interests(state, half_life_ms)
    total = sum(weights.values())
    interests = {c: w / total for c, w in weights.items()} if total > 0 else {}
    session = _session_items(state, index, mix, newest, half_life_ms)
    switch: dict[str, float] = {}
    rho = 0.0
    if session:
        rho = mix.focus_of(index)
        switch = _switch_posteriors(_before_session(weights, session), session,
                                    mix.switch_after_one, mix.stray_rate, rho,
                                    index.leaf_count())  # fmt: skip
    moved = rho * mix.session_share_of(index)  # the list's share for a moved focus
    kept = 1.0 - moved * sum(switch.values())
    lam = mix.interest_share_of(index) if interests else 1.0
    shares = {c: kept * lam * w for c, w in interests.items()}
    for c, p in switch.items():
        shares[c] = shares.get(c, 0.0) + moved * p
    if lam < 1.0:
        shares[FREE] = kept * (1.0 - lam)
    norm = sum(shares.values())
    return {c: v / norm for c, v in shares.items() if v > 0} if norm > 0 else {}


def _decayed_interests(
    state: RecommendState, half_life_ms: float
) -> tuple[dict[str, float], float | None]:
    """The interest weights decayed to the user's newest interest, and that time (epoch ms)."""
    interests = [(c, w, state.category_last_ms.get(c)) for c, w in state.categories if w > 0]
    newest = max((ms for _, _, ms in interests if ms is not None), default=None)
    decayed = {
        c: w * (2.0 ** (-(newest - ms) / half_life_ms) if newest and ms else 1.0)
        for c, w, ms in interests
    }
    return decayed, newest


def _session_items(
    state: RecommendState,
    index: ItemIndex,
    mix: IntentMix,
    reference_ms: float | None,
    half_life_ms: float,
) -> list[tuple[tuple[str, ...], float]]:
    """The current session's items as ``(categories, weight decayed to reference_ms)``.

    The session is the run of the user's newest items with no gap longer than
    ``session_gap_ms`` between them (only the newest when no times were read), at most
    ``session_items`` of them; items without a category are passed over.
    """
    items: list[tuple[tuple[str, ...], float]] = []
    times, weights = state.seen_ms, state.seen_weight
    for n, item_id in enumerate(state.seen_ids):
        if len(items) >= mix.session_items:
            break
        if n > 0 and (n >= len(times) or times[n - 1] - times[n] > mix.session_gap_ms):
            break
        pos = index.position.get(item_id)
        if pos is None or not index.leaves[pos]:
            continue
        weight = weights[n] if n < len(weights) else 0.0
        if reference_ms is not None and n < len(times):
            weight *= 2.0 ** (-(reference_ms - times[n]) / half_life_ms)
        items.append((tuple(index.leaves[pos]), weight))
    return items


def _before_session(
    weights: dict[str, float], session: list[tuple[tuple[str, ...], float]]
) -> dict[str, float]:
    """The interest shares as they stood before the session: its items' weights taken out
    (never below zero, as the event types may weigh an interest and an item differently)."""
    before = dict(weights)
    for leaves, weight in session:
        for leaf in leaves:
            if leaf in before:
                before[leaf] = max(0.0, before[leaf] - weight / len(leaves))
    total = sum(before.values())
    return {c: w / total for c, w in before.items()} if total > 0 else {}


def _switch_posteriors(
    before: dict[str, float],
    session: list[tuple[tuple[str, ...], float]],
    switch_after_one: float,
    eps: float,
    rho: float,
    n_categories: int,
) -> dict[str, float]:
    """``P(H_c | session)`` for each category ``c`` of the session: has the user's focus
    moved to ``c``?

    A change-point model. Under ``H_0`` (no move) each session item lies in category ``e``
    with ``q_0(e) = (1 - eps) * b_e + eps / C``: the shares ``b`` from before the session, or
    a stray anywhere among the ``C`` categories. Under ``H_c`` it lies in ``c`` with
    probability ``rho`` (``focus``), else as under ``H_0``. Each ``H_c``'s prior odds are
    set so that ONE item in a category the user had no weight in gives ``P(H_c)`` =
    ``switch_after_one``; a second one there is far likelier under ``H_c`` than as a second
    stray, so the list follows a session that stays in a new category at once, while a single
    stray event after a long history moves it little. An item of several categories is split
    evenly between them.
    """
    stray = eps / max(n_categories, 1)

    def q_none(leaf: str) -> float:
        return (1.0 - eps) * before.get(leaf, 0.0) + stray

    def log_likelihood(focus: str | None) -> float:
        total = 0.0
        for leaves in (leaves for leaves, _ in session):
            q = sum(rho * (leaf == focus) + (1.0 - rho * (focus is not None)) * q_none(leaf)
                    for leaf in leaves)  # fmt: skip
            total += math.log(max(q / len(leaves), 1e-300))
        return total

    after_one = min(max(switch_after_one, 1e-9), 1.0 - 1e-9)
    fresh_odds = stray / (rho + (1.0 - rho) * stray)  # H_c against H_0 for one such item
    log_prior = math.log(after_one / (1.0 - after_one)) + math.log(fresh_odds)
    candidates = sorted({leaf for leaves, _ in session for leaf in leaves})
    logs = {c: log_prior + log_likelihood(c) for c in candidates}
    base = log_likelihood(None)
    top = max([base, *logs.values()])
    norm = math.exp(base - top) + sum(math.exp(v - top) for v in logs.values())
    return {c: math.exp(v - top) / norm for c, v in logs.items()}


def category_orders(
    index: ItemIndex,
    state: RecommendState,
    categories: Collection[str],
    half_life_ms: float,
    order: tuple[float, float],
    scores: np.ndarray,
) -> dict[str, np.ndarray]:
    """Per category the user has embedded items in, the scores its items are ordered by.

    Three parts, each standardised over the category's items: the user's own direction there
    (:func:`_own_directions`) scored as the model scores a user's vector (cosine plus the
    version's popularity prior), the category's popularity, ``log(1 + degree)``, and the
    service's own ``scores``. With ``m`` own items in the category and ``order`` =
    ``(kappa, beta)`` the order is

        (1 - beta) * (m / (m + kappa) * z(own) + kappa / (m + kappa) * z(popularity))
        + beta * z(scores),

    so popularity is a prior worth ``kappa`` of the user's own items, as the long-term
    interests are for the shares: with ``kappa`` > 0 a category just entered is ordered
    mostly by what its shoppers pick, and the user's own taste there takes over as they show
    it. Each version chooses the pair on its training holdout (``ml.category_order``).
    ``-inf`` outside the category.
    """
    orders: dict[str, np.ndarray] = {}
    popularity = index.popularity()
    kappa, beta = order
    owned = _own_directions(index, state, categories, half_life_ms)
    for category, (direction, m) in owned.items():
        norm = float(np.linalg.norm(direction))
        if norm == 0.0:
            continue
        rows = np.flatnonzero(index.leaf_mask(category))
        own = index.unit[rows] @ (direction / norm).astype(np.float32) + index.prior[rows]
        w_own, w_crowd, w_model = order_weights(m, kappa, beta)
        mixed = w_own * standardize_scores(own) + w_crowd * standardize_scores(popularity[rows])
        if w_model > 0:
            mixed += w_model * standardize_scores(scores[rows])
        ordered = np.full(len(index.ids), -np.inf)
        ordered[rows] = mixed
        orders[category] = ordered
    return orders


def _own_directions(
    index: ItemIndex, state: RecommendState, categories: Collection[str], half_life_ms: float
) -> dict[str, tuple[np.ndarray, int]]:
    """Per category, the sum of the user's item vectors there, each weighted by its
    interaction weight decayed to the user's newest interaction, and how many items."""
    n = min(len(state.seen), len(state.seen_ms), len(state.seen_weight), OWN_ITEMS)
    if n == 0:
        return {}
    newest = max(state.seen_ms[:n])
    directions: dict[str, tuple[np.ndarray, int]] = {}
    for k in range(n):
        pos = index.position.get(state.seen[k][0])
        weight = state.seen_weight[k] * 2.0 ** (-(newest - state.seen_ms[k]) / half_life_ms)
        if pos is None or weight <= 0:
            continue
        for leaf in index.leaves[pos]:
            if leaf in categories:
                total, count = directions.get(leaf, (np.zeros(index.unit.shape[1]), 0))
                directions[leaf] = (total + weight * index.unit[pos], count + 1)
    return directions
