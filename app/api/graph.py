"""Whole-graph views: ``/api/v1/graph/stats`` and ``/api/v1/models``."""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, jsonify

from app.api.openapi import operation
from app.api.responses_ops import GraphStats, Models
from app.api.wiring import graph_store

bp = Blueprint("graph", __name__, url_prefix="/api/v1")


@bp.get("/graph/stats")
@operation(GraphStats)
def stats() -> Response:
    """Counts of nodes, edges and embeddings in the graph"""
    return jsonify(asdict(graph_store().inspection.graph_stats()))


@bp.get("/models")
@operation(Models)
def models() -> Response:
    """Model versions with their metrics; which one is active"""
    versions = graph_store().inspection.model_versions()
    active = next((v.version for v in versions if v.active), None)
    return jsonify({"active": active, "versions": [asdict(v) for v in versions]})
