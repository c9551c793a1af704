"""Items: catalog upsert (``PUT``, one or a batch, all or nothing), details, similar items."""

from __future__ import annotations

from dataclasses import asdict
from typing import cast

from flask import Blueprint, Response, jsonify
from pydantic import Field

from app.api.common import intake_limits, json_body
from app.api.errors import ApiError
from app.api.openapi import BodyForm, operation
from app.api.params import QueryModel, QueryText, int_arg, text_arg
from app.api.responses import Item, ItemsUpserted, SearchResults, SimilarItems
from app.api.wiring import graph_store, services
from app.ingest.validation import ItemIn, parse_items
from app.serving.search import MAX_QUERY_CHARS, search
from app.serving.similar import similar

bp = Blueprint("items", __name__, url_prefix="/api/v1/items")


UNKNOWN_ITEM = {404: "unknown item"}


class SearchQuery(QueryModel):
    q: QueryText = Field(
        description="what to look for, in words (1 to 500 characters)",
    )
    k: int = Field(20, ge=1, le=100, description="how many items")


class SimilarQuery(QueryModel):
    k: int = Field(20, ge=1, le=1000, description="how many items")


@bp.put("")
@operation(
    ItemsUpserted,
    body=ItemIn,
    form=BodyForm(batch="items"),
    errors={400: "a record is invalid", 413: "body too large", 415: "not JSON"},
)
def put_items() -> tuple[Response, int]:
    """Upsert catalog items, all or nothing

    Send one item, a list of them, or ``{"items": [...]}``.
    """
    rows = parse_items(json_body(), intake_limits())
    upserted = graph_store().catalog.upsert_items(rows)
    return jsonify({"upserted": upserted, "item_ids": [row.item_id for row in rows]}), 200


@bp.get("/search")
@operation(SearchResults, query=SearchQuery)
def search_items() -> Response:
    """Items whose text is nearest a query in meaning

    The text is an item's title, description, categories and brand.
    """
    query = cast(str, text_arg("q", MAX_QUERY_CHARS, required=True))  # required: never None
    matches = search(graph_store(), query, int_arg("k", 20, 1, 100))
    return jsonify({"query": query, "items": [asdict(m) for m in matches]})


@bp.get("/<id:item_id>")
@operation(Item, errors=UNKNOWN_ITEM)
def get_item(item_id: str) -> Response:
    """An item with its categories, brands and audience size"""
    item = graph_store().inspection.read_item(item_id)
    if item is None:
        raise ApiError(404, "not_found", f"no item {item_id!r}")
    return jsonify(asdict(item))


@bp.get("/<id:item_id>/similar")
@operation(SimilarItems, query=SimilarQuery, errors=UNKNOWN_ITEM)
def get_similar(item_id: str) -> Response:
    """Items nearest to an item in embedding space

    Exact, over the vectors each worker holds in memory; the vector index where it has none.
    """
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
