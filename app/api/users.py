"""Per-user resources: recommendations, interest profile over time, graph neighbourhood."""

from __future__ import annotations

import re
import time
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from app.api.common import settings, validated_body
from app.api.errors import ApiError
from app.api.openapi import operation
from app.api.params import (
    OptionalText,
    QueryModel,
    QueryText,
    bool_arg,
    float_arg,
    int_arg,
    list_arg,
    str_arg,
    text_arg,
)
from app.api.responses import Recommendations
from app.api.responses_ops import Erasure, InterestProfile, UserGraph
from app.api.wiring import graph_store, services
from app.ingest.ids import Identifier
from app.serving.recommend import (
    RecommendationRequest,
    UnknownFilterValue,
    recommend,
)
from app.serving.search import MAX_QUERY_CHARS, STEER_CANDIDATES, search
from graphdb.reads import Filters
from graphdb.serving_feed import erasure_key

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")


UNKNOWN_IS_404 = {404: "unknown category or brand"}


class RecommendQuery(QueryModel):
    k: int = Field(20, ge=1, le=1000, description="how many items")
    exclude_seen: bool = Field(True, description="drop items the user interacted with")
    category: OptionalText = Field(
        None, description="only items in this category (or below it); blank: any; unknown: 404"
    )
    brand: OptionalText = Field(
        None, description="only items of this brand; blank: any; unknown: 404"
    )
    diversity: float = Field(
        0.0, ge=0, le=1, description="0 = pure relevance, 1 = maximal MMR diversity"
    )
    q: QueryText | SkipJsonSchema[None] = Field(
        None,
        description="steer toward a need stated in words (items whose text matches it; "
        "1 to 500 characters)",
    )


class RecommendGetQuery(RecommendQuery):
    exclude: OptionalText = Field(
        None,
        description="comma-separated item ids to leave out (up to 1,000, as long as the "
        "request line fits 8,190 bytes; POST them in a body for more)",
    )


MAX_EXCLUDE = 1000


class ExcludeIn(BaseModel):
    """Item ids to leave out of the recommendations (up to 1,000, each a stored item id)."""

    model_config = ConfigDict(extra="forbid")

    exclude: list[Identifier] = Field(default_factory=list, max_length=MAX_EXCLUDE)


@bp.get("/<id:user_id>/recommendations")
@operation(Recommendations, query=RecommendGetQuery, errors=UNKNOWN_IS_404)
def recommendations(user_id: str) -> Response:
    """Top-k items for a user: personal or a marked fallback

    Personal items are ranked in the API worker over the active model's item vectors (which
    each worker holds in memory), with the user's newest events folded in. An unknown or not
    yet embedded user gets a fallback (popular in their categories, popular, or the best
    matches of ``q``), named in ``fallback``.
    """
    return _recommend(user_id, list_arg("exclude", MAX_EXCLUDE))


@bp.post("/<id:user_id>/recommendations")
@operation(Recommendations, query=RecommendQuery, body=ExcludeIn, errors=UNKNOWN_IS_404)
def recommendations_excluding(user_id: str) -> Response:
    """As GET, with the item ids to leave out in a JSON body

    ``{"exclude": [...]}`` holds up to 1,000 ids, which a request line cannot always carry.
    It only reads: the read scope is enough.
    """
    wanted = validated_body(ExcludeIn, '{"exclude": ["i1"]}')
    return _recommend(user_id, tuple(dict.fromkeys(wanted.exclude)))


def _recommend(user_id: str, exclude: tuple[str, ...]) -> Response:
    filters = Filters(
        exclude=exclude,
        exclude_seen=bool_arg("exclude_seen", True),
        category=str_arg("category"),
        brand=str_arg("brand"),
    )
    request = RecommendationRequest(
        user_id=user_id,
        k=int_arg("k", 20, 1, 1000),
        filters=filters,
        diversity=float_arg("diversity", 0.0, 0.0, 1.0),
        steer=_stated_need(),
    )
    serving = services()
    lists = serving.serving_lists()
    body = lists.answer(request) if lists is not None else None
    if body is not None:
        return jsonify(body)
    try:
        body = recommend(request, serving.ranking)
    except UnknownFilterValue as exc:
        # 404, as for an unknown item or user: the value is well formed, what it names is absent.
        raise ApiError(
            404, "not_found", f"query parameter '{exc.name}': {exc}", {"parameter": exc.name}
        ) from None
    return jsonify(body)


def _stated_need() -> dict[str, tuple[float, str | None]] | None:
    """Items whose text best matches ``q=`` (their scores and titles), or ``None`` without it."""
    query = text_arg("q", MAX_QUERY_CHARS)
    if query is None:
        return None
    found = search(graph_store(), query, STEER_CANDIDATES)
    return {row.item_id: (row.score, row.title) for row in found}


WINDOW = re.compile(r"^([1-9][0-9]{0,3})([hdw])$")
UNIT_MS = {"h": 3_600_000, "d": 86_400_000, "w": 7 * 86_400_000}
# Ten years: twelve windows then reach back 120 years, well inside what dates can hold.
MAX_WINDOW_MS = 3650 * UNIT_MS["d"]
# The same set as one pattern, for the OpenAPI document: 1-9999h, 1-3650d, 1-521w.
WINDOW_PATTERN = (
    r"^(?:[1-9][0-9]{0,3}h"
    r"|(?:[1-9][0-9]{0,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)d"
    r"|(?:[1-9][0-9]?|[1-4][0-9]{2}|5[01][0-9]|52[01])w)$"
)


def parse_window(raw: str) -> int:
    """Milliseconds of a window such as ``30d``; a ValueError says what is wrong."""
    match = WINDOW.match(raw)
    if match is None:
        raise ValueError(f"expected a duration like 30d, 12h or 2w, got {raw!r}")
    window_ms = int(match.group(1)) * UNIT_MS[match.group(2)]
    if window_ms > MAX_WINDOW_MS:
        raise ValueError(f"at most 3650d or 521w, got {raw!r}")
    return window_ms


def _window_ms() -> tuple[str, int]:
    raw = request.args.get("window", "30d")
    try:
        return raw, parse_window(raw)
    except ValueError as exc:
        raise ApiError(
            400, "invalid_parameter", f"query parameter 'window': {exc}", {"parameter": "window"}
        ) from None


UNKNOWN_USER = {404: "unknown user"}


def _require_user(user_id: str) -> None:
    if not graph_store().inspection.user_exists(user_id):
        raise ApiError(404, "not_found", f"no user {user_id!r}")


class InterestsQuery(QueryModel):
    window: str = Field(
        "30d",
        pattern=WINDOW_PATTERN,
        description="window length: 30d, 12h, 2w; at most 3650d or 521w",
    )
    windows: int = Field(3, ge=1, le=12, description="how many consecutive windows up to now")
    limit: int = Field(20, ge=1, le=200, description="most interests listed, and most tags listed")


@bp.get("/<id:user_id>/interests")
@operation(InterestProfile, query=InterestsQuery, errors=UNKNOWN_USER)
def interests(user_id: str) -> Response:
    """A user's interests, the tags they like, and how their interest moved

    ``interests``: categories and brands, weight decayed to now, strongest first. ``tags``:
    the same rows with kind ``tag`` for key-phrase tags of their reviews (a negative weight
    means they criticised it). ``windows`` and ``change``: raw category weight per window.
    """
    label, window_ms = _window_ms()
    windows = int_arg("windows", 3, 1, 12)
    limit = int_arg("limit", 20, 1, 200)
    _require_user(user_id)
    half_life_ms = settings().fold_config().half_life_ms
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - windows * window_ms
    inspection = graph_store().inspection
    profile = inspection.interest_profile(user_id, half_life_ms, limit)
    tags = inspection.tag_interest_profile(user_id, half_life_ms, limit)
    rows = inspection.interest_windows(user_id, start_ms, window_ms, windows)
    buckets: list[dict[str, Any]] = [
        {
            "start": _iso(start_ms + w * window_ms),
            "end": _iso(start_ms + (w + 1) * window_ms),
            "categories": [
                {"id": r.id, "name": r.name, "weight": r.weight} for r in rows if r.window == w
            ],
        }
        for w in range(windows)
    ]
    first = {c["id"]: c["weight"] for c in buckets[0]["categories"]}
    last = {c["id"]: c["weight"] for c in buckets[-1]["categories"]}
    change = sorted(
        ({"id": cid, "change": last.get(cid, 0.0) - first.get(cid, 0.0)} for cid in first | last),
        key=lambda c: (-abs(c["change"]), c["id"]),
    )
    return jsonify(
        {
            "user_id": user_id,
            "window": label,
            "interests": [asdict(r) for r in profile],
            "tags": [asdict(r) for r in tags],
            "windows": buckets,
            "change": change[:limit],
        }
    )


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="seconds")


class GraphQuery(QueryModel):
    depth: int = Field(1, ge=1, le=3, description="hops from the user")
    limit: int = Field(200, ge=1, le=5000, description="most paths read")


@bp.get("/<id:user_id>/graph")
@operation(UserGraph, query=GraphQuery, errors=UNKNOWN_USER)
def user_graph(user_id: str) -> Response:
    """Nodes and edges around a user, for drawing"""
    depth = int_arg("depth", 1, 1, 3)
    limit = int_arg("limit", 200, 1, 5000)
    _require_user(user_id)
    return jsonify(
        {
            "user_id": user_id,
            "depth": depth,
            **asdict(graph_store().inspection.neighbourhood(user_id, depth, limit)),
        }
    )


@bp.delete("/<id:user_id>")
@operation(Erasure, errors=UNKNOWN_USER)
def delete_user(user_id: str) -> Response:
    """Erase a user, then rotate the transaction log that holds them

    Goes: the user node, their interactions, edges (tag interests too) and embedding; items
    only their events made and tags only their reviews gave. The transaction log holding
    them is rotated so Neo4j prunes it at its next checkpoint (docs/privacy.md).
    """
    serving = services()
    key = erasure_key(user_id, serving.erasure_salt)
    erasure = serving.store.erasure.erase_user(user_id, key)
    if not erasure.user_found:
        raise ApiError(404, "not_found", f"no user {user_id!r}")
    lists = serving.serving_lists()
    if lists is not None:  # other workers learn it from the change feed within a second
        lists.forget([user_id])
    log = erasure.log
    return jsonify(
        {
            "user_id": user_id,
            "deleted": {
                "user": 1,
                "interactions": erasure.interactions,
                "items": erasure.items_deleted,
                "tags": erasure.tags_deleted,
            },
            "items_marked_for_refresh": erasure.items_marked,
            "transaction_logs": {
                "rotated": bool(log and log.rotated),
                "purged_within_s": log.purged_within_s if log else None,
            },
        }
    )
