"""Items: catalog upsert (``PUT``, one or a batch, all or nothing), details, similar items."""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from flask import Blueprint, Response, jsonify

from app.api.common import intake_limits, json_body
from app.api.errors import ApiError
from app.api.params import int_arg, text_arg
from app.api.spec import Param, documented, text_param
from app.api.wiring import graph_store, services
from app.ingest.validation import ItemIn, parse_items
from app.serving.search import MAX_QUERY_CHARS, search
from app.serving.similar import similar

bp = Blueprint("items", __name__, url_prefix="/api/v1/items")


@bp.put("")
@documented(
    'Upsert catalog items (one, a list, or {"items": [...]})',
    body=ItemIn,
    batch="items",
    scope="write",
)
def put_items() -> tuple[Response, int]:
    rows = parse_items(json_body(), intake_limits())
    upserted = graph_store().catalog.upsert_items(rows)
    return jsonify({"upserted": upserted, "item_ids": [row.item_id for row in rows]}), 200


@bp.get("/search")
@documented(
    "Items whose text (title, description, categories, brand) is nearest a query in meaning",
    query={
        "q": text_param(
            "what to look for, in words (1 to 500 characters)", MAX_QUERY_CHARS, required=True
        ),
        "k": Param(int, "how many items", 20, 1, 100),
    },
)
def search_items() -> Response:
    query = cast(str, text_arg("q", MAX_QUERY_CHARS, required=True))  # required: never None
    matches = search(graph_store(), query, int_arg("k", 20, 1, 100))
    return jsonify({"query": query, "items": [asdict(m) for m in matches]})


@bp.get("/<id:item_id>")
@documented("An item with its categories, brand and audience size", responses={404: "unknown item"})
def get_item(item_id: str) -> Response:
    item = graph_store().inspection.read_item(item_id)
    if item is None:
        raise ApiError(404, "not_found", f"no item {item_id!r}")
    return jsonify(asdict(item))


@bp.get("/<id:item_id>/similar")
@documented(
    "Items nearest to an item in embedding space (exact, in memory; vector index fallback)",
    query={"k": Param(int, "how many items", 20, 1, 1000)},
    responses={404: "unknown item"},
)
def get_similar(item_id: str) -> Response:
    k = int_arg("k", 20, 1, 1000)
    serving = services()
    lists = serving.serving_lists()
    active = lists.active_model() if lists is not None else None
    result = similar(serving.store, item_id, k, serving.ranking.items, active)
    if not result.found:
        raise ApiError(404, "not_found", f"no item {item_id!r}")
    return jsonify(
        {
            "item_id": item_id,
            "model_version": result.version,
            "embedded": result.embedded,
            "items": [asdict(n) for n in result.items],
        }
    )
