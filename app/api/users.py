"""Per-user resources: ``/api/v1/users/{user_id}/recommendations``."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.api.common import settings
from app.api.params import bool_arg, float_arg, int_arg, list_arg, reject_unknown, str_arg
from app.errors import ApiError
from app.graph import database, graph_driver
from app.recommend import PopularCache, RecommendationRequest, recommend
from graphdb.reads import Filters, unknown_filters

bp = Blueprint("users", __name__, url_prefix="/api/v1/users")

RECOMMENDATION_PARAMS = {"k", "exclude_seen", "category", "brand", "exclude", "diversity"}


def _popular_cache() -> PopularCache:
    cache: PopularCache = current_app.extensions.setdefault("popular_cache", PopularCache())
    return cache


@bp.get("/<user_id>/recommendations")
def recommendations(user_id: str) -> Response:
    reject_unknown(RECOMMENDATION_PARAMS)
    filters = Filters(
        exclude=list_arg("exclude"),
        exclude_seen=bool_arg("exclude_seen", True),
        category=str_arg("category"),
        brand=str_arg("brand"),
    )
    request = RecommendationRequest(
        user_id=user_id, k=int_arg("k", 20, 1, 1000), filters=filters,
        diversity=float_arg("diversity", 0.0, 0.0, 1.0),
    )  # fmt: skip
    unknown = unknown_filters(graph_driver(), filters, database())
    if unknown:
        name = unknown[0]
        raise ApiError(400, "invalid_parameter", f"query parameter '{name}': no such {name} "
                       f"{getattr(filters, name)!r}", {"parameter": name})  # fmt: skip
    body = recommend(graph_driver(), request, settings().fold_config().half_life_ms,
                     _popular_cache(), database())  # fmt: skip
    return jsonify(body)
