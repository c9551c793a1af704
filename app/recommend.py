"""Recommendations: vector-index candidates, filters, MMR diversity, reasons, fallbacks.

A user with an embedding gets the items nearest to it (cosine, via the Neo4j vector index),
minus what they already interacted with. A user without one (unknown, or new since the last
training) gets a marked fallback: popular items in the categories they showed interest in,
else popular overall. Popularity is the decayed sum of interaction weights.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from neo4j import Driver

from graphdb.reads import Filters, popular_items, recommend_state, vector_candidates

MAX_CANDIDATES = 1000


@dataclass(frozen=True)
class RecommendationRequest:
    user_id: str
    k: int = 20
    filters: Filters = Filters()
    diversity: float = 0.0


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
    item: dict[str, Any], own: dict[str, Any] | None, liked: set[str]
) -> list[dict[str, Any]]:
    reasons: list[dict[str, Any]] = []
    if own is not None and own.get("sim", 0) > 0:
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
                    "text": f"in {category}, a category you like",
                }
            )
            break
    return reasons


def _nearest_own(
    rows: list[dict[str, Any]], own: list[dict[str, Any]]
) -> list[dict[str, Any] | None]:
    """For each candidate, the user's own item most like it (cosine), computed here."""
    if not own or not rows:
        return [None] * len(rows)
    cand = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
    mine = np.asarray([o["embedding"] for o in own], dtype=np.float32)
    cand /= np.maximum(np.linalg.norm(cand, axis=1, keepdims=True), 1e-12)
    mine /= np.maximum(np.linalg.norm(mine, axis=1, keepdims=True), 1e-12)
    sims = cand @ mine.T
    best = sims.argmax(axis=1)
    return [{**own[j], "sim": float(sims[i, j])} for i, j in enumerate(best)]


def _personal(
    driver: Driver, request: RecommendationRequest, state: dict[str, Any], database: str | None
) -> list[dict[str, Any]]:
    pool = max(request.k * (4 if request.diversity > 0 else 2), request.k + state["seen"] + 20)
    rows = vector_candidates(
        driver, request.user_id, min(pool, MAX_CANDIDATES), request.filters, database
    )
    if request.diversity > 0 and rows:
        vectors = np.asarray([r["embedding"] for r in rows], dtype=np.float32)
        relevance = np.asarray([r["score"] for r in rows], dtype=np.float32)
        rows = [rows[i] for i in mmr(vectors, relevance, request.k, request.diversity)]
    rows = rows[: request.k]
    liked = {c for c, w in state["categories"] if w > 0}
    return [
        {
            "item_id": r["item_id"],
            "title": r["title"],
            "score": float(r["score"]),
            "reasons": _reasons(r, own, liked),
        }
        for r, own in zip(rows, _nearest_own(rows, state["own"]), strict=True)
    ]


class PopularCache:
    """Popular lists change slowly; recomputing them per request would scan every edge."""

    def __init__(self, ttl_s: float = 60.0) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[tuple[Any, ...], tuple[float, list[dict[str, Any]]]] = {}

    def get(self, key: tuple[Any, ...], compute: Any) -> list[dict[str, Any]]:
        hit = self._entries.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.ttl_s:
            return hit[1]
        value: list[dict[str, Any]] = compute()
        self._entries[key] = (now, value)
        return value


def _fallback(
    driver: Driver,
    request: RecommendationRequest,
    liked: list[str],
    half_life_ms: float,
    cache: PopularCache,
    database: str | None,
) -> tuple[str, list[dict[str, Any]]]:
    f = request.filters
    for kind, category in [("popular_in_your_categories", c) for c in liked[:3]] + [
        ("popular", f.category)
    ]:
        scoped = Filters(f.exclude, f.exclude_seen, category or f.category, f.brand)
        key = (
            scoped.category,
            scoped.brand,
            tuple(scoped.exclude),
            request.user_id if f.exclude_seen else None,
        )
        rows = cache.get(
            key,
            lambda s=scoped: popular_items(
                driver, request.k, half_life_ms, s, request.user_id, database
            ),
        )
        if rows:
            reason = "popular in a category you like" if kind != "popular" else "trending"
            return kind, [
                {
                    "item_id": r["item_id"],
                    "title": r["title"],
                    "score": float(r["score"]),
                    "reasons": [{"type": kind, "text": reason}],
                }
                for r in rows
            ]
    return "popular", []


class UnknownFilterValue(ValueError):
    """A category or brand filter names nothing in the graph."""

    def __init__(self, name: str, value: str | None) -> None:
        super().__init__(f"no such {name} {value!r}")
        self.name = name


def recommend(
    driver: Driver,
    request: RecommendationRequest,
    half_life_ms: float,
    cache: PopularCache,
    database: str | None = None,
) -> dict[str, Any]:
    """The response body of ``GET /api/v1/users/{id}/recommendations`` (2 graph round trips)."""
    state = recommend_state(driver, request.user_id, request.filters, database)
    for name in ("category", "brand"):
        if not state[f"{name}_ok"]:
            raise UnknownFilterValue(name, getattr(request.filters, name))
    liked = [c for c, w in sorted(state["categories"], key=lambda cw: -cw[1]) if w > 0]
    fallback: str | None = None
    items: list[dict[str, Any]] = []
    if state["embedding"] is not None and state["version"] is not None:
        items = _personal(driver, request, state, database)
    if not items:  # unknown or not yet embedded user, or filters left nothing personal
        fallback, items = _fallback(driver, request, liked, half_life_ms, cache, database)
    return {
        "user_id": request.user_id,
        "model_version": state["version"],
        "generated_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        "fallback": fallback,
        "items": items,
    }
