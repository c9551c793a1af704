"""Whole-graph views: ``/api/v1/graph/stats`` and ``/api/v1/models``."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify

from app.api.spec import documented
from app.api.wiring import graph_store

bp = Blueprint("graph", __name__, url_prefix="/api/v1")


@bp.get("/graph/stats")
@documented("Counts of nodes, edges and embeddings in the graph")
def stats() -> Response:
    return jsonify(asdict(graph_store().inspection.graph_stats()))


@bp.get("/models")
@documented("Model versions with their metrics; which one is active")
def models() -> Response:
    versions = graph_store().inspection.model_versions()
    active = next((v.version for v in versions if v.active), None)
    return jsonify({"active": active, "versions": [asdict(v) for v in versions]})
