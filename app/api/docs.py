"""The API's own description: OpenAPI JSON and an offline HTML page."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.api.spec import build_spec, render_docs

bp = Blueprint("docs", __name__)


@bp.get("/api/v1/openapi.json")
def openapi() -> Response:
    return jsonify(build_spec(current_app))


@bp.get("/docs")
def docs_page() -> Response:
    return Response(render_docs(build_spec(current_app)), mimetype="text/html")
