"""Whole-graph views: ``/api/v1/graph/stats`` and ``/api/v1/models``."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.spec import documented
from app.api.wiring import graph_store

bp = Blueprint("graph", __name__, url_prefix="/api/v1")


@bp.get("/graph/stats")
@documented("Counts of nodes, edges and embeddings in the graph")
def stats() -> Response:
    return jsonify(graph_store().reads.graph_stats())


@bp.get("/models")
@documented("Model versions with their metrics; which one is active")
def models() -> Response:
    versions = graph_store().reads.model_versions()
    active = next((v["version"] for v in versions if v.get("active")), None)
    return jsonify({"active": active, "versions": versions})
