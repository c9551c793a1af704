"""Liveness (the process answers) and readiness (the graph store answers)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from app.api.wiring import graph_store

bp = Blueprint("health", __name__, url_prefix="/health")


@bp.get("/live")
def live() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/ready")
def ready() -> tuple[Response, int]:
    graph_store().ping()
    return jsonify({"status": "ready", "neo4j": "ok"}), 200
