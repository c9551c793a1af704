"""Recommendations: ranking over the active item vectors, filters, MMR diversity, reasons.

A user with an embedding gets the items nearest to it (cosine similarity, ranked in process
over :class:`app.serving.item_index.ItemIndex`), minus what they already interacted with.
Interactions newer than the user's vector are folded into it at request time, so an accepted
event moves the user's recommendations at once, before any refresh; a new user with a few
interactions is ranked from those. A user with neither (unknown, or nothing embeddable) gets a
marked fallback: popular items in the categories they showed interest in, else popular overall.
Popularity is the decayed sum of interaction weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from app.serving.buckets import shared_out
from app.serving.fallback import PopularCache, popular_fallback, search_matches
from app.serving.intent import IntentMix, category_orders, category_shares
from app.serving.item_index import ItemIndex, ItemIndexCache
from app.serving.repeat import RepeatRule, held_back
from app.serving.short_term import ShortTermModels
from graphdb.reads import Filters, RecommendState
from graphdb.store import GraphStore
from ml.shortterm import DEFAULT_SHORT_TERM_WEIGHT, standardize_scores

STEER_WEIGHT = 0.5  # share of the text match when a request states a need (q=)


@dataclass(frozen=True)
class RecommendationRequest:
    """``steer``: item id -> (text match score, title) for a need stated in words (``q=``)."""

    user_id: str
    k: int = 20
    filters: Filters = Filters()
    diversity: float = 0.0
    steer: dict[str, tuple[float, str | None]] | None = None


def mmr(vectors: np.ndarray, relevance: np.ndarray, k: int, diversity: float) -> list[int]:
    """Maximal marginal relevance: trade relevance for dissimilarity to items already picked."""
    if len(relevance) == 0:
        return []
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    chosen: list[int] = []
    max_sim = np.full(len(relevance), -np.inf)
    available = np.ones(len(relevance), dtype=bool)
    for _ in range(min(k, len(relevance))):
        redundancy = np.where(np.isfinite(max_sim), max_sim, 0.0)
        gain = (1 - diversity) * relevance - diversity * redundancy
        gain[~available] = -np.inf
        pick = int(np.argmax(gain))
        chosen.append(pick)
        available[pick] = False
        max_sim = np.maximum(max_sim, unit @ unit[pick])
    return chosen


def _reasons(
    item: dict[str, Any], own: dict[str, Any] | None, liked: dict[str, str], near: float
) -> list[dict[str, Any]]:
    reasons: list[dict[str, Any]] = []
    if own is not None and own.get("sim", 0) > max(near, 0.0):
        verb = "bought" if own.get("bought") else "interacted with"
        label = own.get("title") or own["item_id"]
        reasons.append(
            {
                "type": "similar_to_item",
                "item_id": own["item_id"],
                "text": f"similar to {label} you {verb}",
            }
        )
    for category in item.get("categories") or []:
        if category in liked:
            reasons.append(
                {
                    "type": "category_you_like",
                    "category_id": category,
                    "text": f"in {liked[category]}, a category you like",
                }
            )
            break
    return reasons


def _candidate_mask(
    index: ItemIndex, request: RecommendationRequest, seen: Sequence[str]
) -> np.ndarray:
    """Items that may be recommended, the request's exclusions aside: not seen (unless
    asked), in the filters."""
    allowed = np.ones(len(index.ids), dtype=bool)
    f = request.filters
    if f.exclude_seen:
        allowed[index.positions(seen)] = False
    if f.category is not None:
        allowed &= index.mask("category", f.category)
    if f.brand is not None:
        allowed &= index.mask("brand", f.brand)
    return allowed


def top_positions(scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """Positions of the ``n`` best allowed scores, best first (ties by position)."""
    # Masking in place of gathering the allowed positions first: one pass fewer over the
    # whole catalogue. Scores of -inf are never recommended (steering marks misses so).
    masked = np.where(allowed, scores, -np.inf)
    if n < len(masked):
        candidates = np.argpartition(masked, len(masked) - n)[len(masked) - n :]
    else:
        candidates = np.arange(len(masked))
    candidates = candidates[np.isfinite(masked[candidates])]
    order = np.lexsort((candidates, -masked[candidates]))
    return candidates[order]


def _steered(
    index: ItemIndex,
    steer: dict[str, tuple[float, str | None]],
    scores: np.ndarray,
    allowed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Only the items matching the stated need, ranked half by the user, half by the match.

    Both parts are z-scored over those items (as the short-term blend does), so neither the
    cosine scale of the user's scores nor the text scores' dominate.
    """
    rows = index.positions(list(steer))
    match = np.array([steer[index.ids[r]][0] for r in rows.tolist()], dtype=np.float64)
    keep = np.zeros(len(index.ids), dtype=bool)
    keep[rows] = True
    blended = np.full(len(scores), -np.inf)
    if len(rows):
        blended[rows] = (1 - STEER_WEIGHT) * standardize_scores(
            scores[rows]
        ) + STEER_WEIGHT * standardize_scores(match)
    return blended, allowed & keep


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def folded_user_vector(
    index: ItemIndex, embedding: Sequence[float] | None, fresh: Sequence[str], weight: float
) -> np.ndarray | None:
    """The user's vector with interactions newer than it folded in, or ``None``.

    The stored vector reflects the graph as of the last refresh; items the user touched
    since then move it toward their mean direction at once (``weight`` is the share of that
    recent direction), and a user with no vector yet is the mean of what they touched.
    """
    rows = index.positions(fresh)
    base = _unit(np.asarray(embedding, dtype=np.float32)) if embedding is not None else None
    if len(rows) == 0:
        return base
    recent = _unit(index.unit[rows].mean(axis=0))
    if base is None or len(base) != len(recent):
        return recent
    return _unit((1.0 - weight) * base + weight * recent)


@dataclass(frozen=True)
class ReasonContext:
    """What a user's reasons are drawn from: their recent items and the categories they like.

    Attributes:
        own: Positions of the user's 50 most recent items (newest first) in the item index.
        own_bought: Whether they bought each of those.
        liked: Categories with a positive interest weight: their display names, by id.
    """

    own: np.ndarray
    own_bought: np.ndarray
    liked: dict[str, str]

    @classmethod
    def of(cls, index: ItemIndex, state: RecommendState) -> ReasonContext:
        recent = [(index.position[i], b) for i, b in state.seen[:50] if i in index.position]
        return cls(
            own=np.asarray([pos for pos, _ in recent], dtype=np.int64),
            own_bought=np.asarray([bool(b) for _, b in recent], dtype=bool),
            liked={c: state.category_names.get(c, c) for c, w in state.categories if w > 0},
        )


def ranked_positions(
    index: ItemIndex,
    request: RecommendationRequest,
    state: RecommendState,
    scores: np.ndarray,
    mix: Mixing | None = None,
    repeat: RepeatRule | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The request's picks (positions, in list order) and their scores.

    With ``mix``, the list is shared out between the user's interests as the graph's evidence
    says (``app.serving.intent``), and with ``repeat`` near-duplicates of a recent purchase
    leave it (``app.serving.repeat``), unless the request narrows it itself (a category
    filter or a need stated in words): what it asks for is then what it gets.
    """
    seen = state.seen_ids
    pool = request.k * 4 if request.diversity > 0 else request.k
    eligible = _candidate_mask(index, request, seen)
    own_list = request.filters.category is None and request.steer is None
    duplicates = held_back(index, state, repeat) if repeat is not None and own_list else None
    if duplicates is not None:
        eligible &= ~duplicates
    excluded = index.positions(list(request.filters.exclude))
    allowed = eligible.copy()
    allowed[excluded] = False
    if request.steer is not None:
        scores, allowed = _steered(index, request.steer, scores, allowed)
    shares: dict[str, float] = {}
    if mix is not None and own_list:
        shares = category_shares(state, index, mix.intent, mix.half_life_ms)
    if mix is not None and shares:
        # Shared out before the request's own exclusions, which then only drop items: the
        # order is the user's, so a list ranked in advance answers such a request exactly.
        orders = category_orders(
            index, state, shares, mix.half_life_ms, mix.intent.order_of(index), scores
        )
        open_share = mix.intent.open_share_of(state, index.new_category_rate)
        ordered = shared_out(index, scores, eligible, shares, pool + len(excluded),
                             open_share, orders)  # fmt: skip
        picked = ordered[~np.isin(ordered, excluded)][:pool]
    else:
        picked = top_positions(scores, allowed, pool)
    if request.diversity > 0 and len(picked):
        chosen = mmr(index.unit[picked], scores[picked], request.k, request.diversity)
        picked = picked[chosen]
    picked = picked[: request.k]
    return picked, scores[picked]


def explained_items(
    index: ItemIndex, picked: np.ndarray, pick_scores: np.ndarray, context: ReasonContext
) -> list[dict[str, Any]]:
    """The response's items: id, title, score and the reasons drawn from the graph."""
    own = context.own
    # Each pick's closest own item, for all picks in one product.
    sims = index.unit[own] @ index.unit[picked].T if len(own) and len(picked) else None
    results = []
    for n, pos in enumerate(picked.tolist()):
        reason_own = None
        if sims is not None:
            best_row = int(np.argmax(sims[:, n]))
            best = int(own[best_row])
            reason_own = {
                "item_id": index.ids[best],
                "title": index.titles[best],
                "sim": float(sims[best_row, n]),
                "bought": bool(context.own_bought[best_row]),
            }
        item = {"categories": index.leaves[pos]}
        results.append(
            {
                "item_id": index.ids[pos],
                "title": index.titles[pos],
                "score": float(pick_scores[n]),
                "reasons": _reasons(item, reason_own, context.liked, index.near),
            }
        )
    return results


def _personal(
    index: ItemIndex,
    request: RecommendationRequest,
    state: RecommendState,
    scores: np.ndarray,
    mix: Mixing | None,
    repeat: RepeatRule | None,
) -> list[dict[str, Any]]:
    picked, pick_scores = ranked_positions(index, request, state, scores, mix, repeat)
    return explained_items(index, picked, pick_scores, ReasonContext.of(index, state))


@dataclass(frozen=True)
class Mixing:
    """:class:`IntentMix` with the decay half-life the interest weights are compared under."""

    intent: IntentMix
    half_life_ms: float


class UnknownFilterValue(ValueError):
    """A category or brand filter names nothing in the graph."""

    def __init__(self, name: str, value: str | None) -> None:
        super().__init__(f"no such {name} {value!r}")
        self.name = name


@dataclass
class Ranking:
    """What recommendations need besides the request: the graph, caches, ranking settings.

    Attributes:
        store: The graph the user's state (and fallbacks) are read from.
        half_life_ms: Decay half-life (popularity).
        popular: Popular-list cache (fallback).
        items: The active version's item vectors.
        short_term: The active version's sequence models (``None``: long-term only).
        foldin_weight: Share of interactions newer than the user's vector (instant fold-in).
        short_term_weight: Share of the short-term component in the final score.
        intent: How a list is shared out between the user's interests.
        repeat: When near-duplicates of a recent purchase leave the list.
    """

    store: GraphStore
    half_life_ms: float
    popular: PopularCache
    items: ItemIndexCache
    short_term: ShortTermModels | None = None
    foldin_weight: float = 0.5
    short_term_weight: float = DEFAULT_SHORT_TERM_WEIGHT
    intent: IntentMix = IntentMix()
    repeat: RepeatRule = RepeatRule()

    def mixing(self) -> Mixing | None:
        """How lists are shared out between interests (``None``: scores alone rank)."""
        return Mixing(self.intent, self.half_life_ms) if self.intent.enabled else None

    def repeat_rule(self) -> RepeatRule | None:
        """When recent purchases hold near-duplicates back (``None``: never)."""
        return self.repeat if self.repeat.enabled else None


def user_scores(ranking: Ranking, state: RecommendState) -> tuple[ItemIndex, np.ndarray] | None:
    """Long-term (with fold-in) and short-term scores of every item, or ``None``."""
    if state.version is None or (state.embedding is None and not state.fresh):
        return None
    index = ranking.items.get(state.version, state.revision)
    user = folded_user_vector(index, state.embedding, state.fresh, ranking.foldin_weight)
    if user is None:
        return None
    if ranking.short_term is not None and ranking.short_term_weight > 0:
        model = ranking.short_term.get(state.version)
        if model is not None:
            history = state.seen_ids
            blended = model.blended_scores(index, user, history, ranking.short_term_weight)
            if blended is not None:
                return index, blended
    return index, index.long_scores(user)


def recommendation_body(
    user_id: str, model_version: str | None, fallback: str | None, items: list[dict[str, Any]]
) -> dict[str, Any]:
    """The body of ``GET /api/v1/users/{id}/recommendations``, ranked live or from a list."""
    return {
        "user_id": user_id,
        "model_version": model_version,
        "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "fallback": fallback,
        "items": items,
    }


def recommend(request: RecommendationRequest, ranking: Ranking) -> dict[str, Any]:
    """The response body of ``GET /api/v1/users/{id}/recommendations`` (1 graph round trip)."""
    store = ranking.store
    state = store.reads.recommend_state(request.user_id, request.filters)
    if not state.category_ok:
        raise UnknownFilterValue("category", request.filters.category)
    if not state.brand_ok:
        raise UnknownFilterValue("brand", request.filters.brand)
    liked = [c for c, w in sorted(state.categories, key=lambda cw: -cw[1]) if w > 0]
    fallback: str | None = None
    ranked: list[dict[str, Any]] = []
    scored = user_scores(ranking, state)
    if scored is not None:
        ranked = _personal(
            scored[0], request, state, scored[1], ranking.mixing(), ranking.repeat_rule()
        )
    if not ranked and request.steer:  # nothing personal to blend: the best text matches
        fallback, ranked = (
            "search",
            search_matches(request.filters, request.k, request.steer, set(state.seen_ids)),
        )
    if not ranked:  # unknown or not yet embedded user, or filters left nothing personal
        seen = set(state.seen_ids)
        fallback, ranked = popular_fallback(
            store, request.filters, request.k, liked, seen, ranking.half_life_ms, ranking.popular
        )
    return recommendation_body(request.user_id, state.version, fallback, ranked)
