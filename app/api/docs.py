"""The API's own description: the OpenAPI document and an interactive page (Swagger UI).

The page and its assets are served by the app itself, from the Swagger UI distribution the
``swagger-ui-py`` package ships (Swagger UI 5, which reads OpenAPI 3.1), so /docs works
offline and behind firewalls: no CDN, no third-party request.
"""

from __future__ import annotations

from pathlib import Path

import swagger_ui
from flask import Blueprint, Response, current_app, jsonify, url_for

from app.api.openapi import document, operation
from app.api.responses_ops import OpenApiDocument

ASSETS = Path(swagger_ui.__file__).resolve().parent / "static"
SPEC_URL = "/api/v1/openapi.json"

# Under /docs/assets/, which the document leaves out (files, not operations).
bp = Blueprint("docs", __name__, static_folder=str(ASSETS), static_url_path="/docs/assets")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Interest Graph API</title>
<link rel="stylesheet" href="{css}"></head>
<body><div id="swagger-ui"></div>
<script src="{js}"></script>
<script src="{init}"></script>
</body></html>
"""

# The initialiser is a file, not inline, so the page needs no 'unsafe-inline' script policy.
INIT = """window.onload = function () {{
  window.ui = SwaggerUIBundle({{
    url: "{spec}", dom_id: "#swagger-ui", deepLinking: true,
    validatorUrl: null, tryItOutEnabled: false,
    presets: [SwaggerUIBundle.presets.apis], layout: "BaseLayout"
  }});
}};
"""


@bp.get(SPEC_URL)
@operation(OpenApiDocument)
def openapi() -> Response:
    """This OpenAPI document (3.1), generated from the code"""
    return jsonify(document(current_app))


@bp.get("/docs")
@operation(None, media="text/html")
def docs_page() -> Response:
    """This API's interactive documentation (Swagger UI), served offline"""
    page = PAGE.format(
        css=url_for("docs.static", filename="swagger-ui.css"),
        js=url_for("docs.static", filename="swagger-ui-bundle.js"),
        init=url_for("docs.init_script"),
    )
    return Response(page, mimetype="text/html")


@bp.get("/docs/assets/init.js")
def init_script() -> Response:
    return Response(INIT.format(spec=SPEC_URL), mimetype="text/javascript")
