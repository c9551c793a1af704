"""Liveness (the process answers) and readiness (the graph store answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.openapi import operation
from app.api.responses_ops import Live, Ready
from app.api.wiring import graph_store

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
@operation(Live)
def live() -> Response:
    """Liveness: the process answers"""
    return jsonify({"status": "ok"})


@bp.get("/ready")
@operation(Ready, errors={503: "the graph store is unavailable; retry after Retry-After"})
def ready() -> tuple[Response, int]:
    """Readiness: the graph store answers"""
    graph_store().ping()
    return jsonify({"status": "ready", "neo4j": "ok"}), 200
