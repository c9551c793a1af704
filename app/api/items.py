"""Catalog upsert: ``PUT /api/v1/items`` takes one item or a batch, all or nothing."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.common import json_body, settings
from app.graph import database, graph_driver
from app.validation import parse_items
from graphdb.catalog import upsert_items

bp = Blueprint("items", __name__, url_prefix="/api/v1/items")


@bp.put("")
def put_items() -> tuple[Response, int]:
    rows = parse_items(json_body(), settings().max_batch_events)
    upserted = upsert_items(graph_driver(), rows, database())
    return jsonify({"upserted": upserted, "item_ids": [row.item_id for row in rows]}), 200
