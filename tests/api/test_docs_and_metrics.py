"""The published contract matches the routes, the docs page works offline, metrics appear."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient


def test_openapi_lists_every_route_with_its_parameters(app: Flask, client: FlaskClient) -> None:
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    served = {
        (re.sub(r"<(?:[^<>:]+:)?([^<>]+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.rule.startswith("/docs/assets/")
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }  # fmt: skip
    documented = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert served == documented
    recs = spec["paths"]["/api/v1/users/{user_id}/recommendations"]["get"]
    names = {p["name"] for p in recs["parameters"]}
    assert names == {
        "user_id", "k", "exclude_seen", "category", "brand", "exclude", "diversity", "q"
    }  # fmt: skip
    k = next(p for p in recs["parameters"] if p["name"] == "k")
    assert k["schema"] == {"type": "integer", "default": 20, "minimum": 1, "maximum": 1000}
    body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]
    assert "EventIn" in str(body) and "EventIn" in spec["components"]["schemas"]
    assert spec["paths"]["/api/v1/users/{user_id}"]["delete"]["x-scope"] == "admin"


def test_declared_parameters_are_the_accepted_ones(client: FlaskClient) -> None:
    response = client.get("/api/v1/items/x/similar?k=3&n=4")
    assert (
        response.status_code == 400 and response.get_json()["error"]["details"]["parameter"] == "n"
    )


def test_docs_page_is_swagger_ui_served_by_the_app_itself(client: FlaskClient) -> None:
    page = client.get("/docs")
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "//" not in text  # no CDN, no protocol-relative URL: every asset is the app's own
    assets = re.findall(r'(?:src|href)="([^"]+)"', text)
    assert {a.rsplit("/", 1)[-1] for a in assets} == {
        "swagger-ui.css", "swagger-ui-bundle.js", "init.js"
    }  # fmt: skip
    for url in assets:
        asset = client.get(url)
        assert asset.status_code == 200 and asset.data, url
    bundle = client.get(next(a for a in assets if a.endswith("swagger-ui-bundle.js")))
    assert b"SwaggerUIBundle" in bundle.data and b"isOAS31" in bundle.data  # reads OpenAPI 3.1
    init = client.get(next(a for a in assets if a.endswith("init.js"))).get_data(as_text=True)
    assert '"/api/v1/openapi.json"' in init and "validatorUrl: null" in init


def test_metrics_expose_request_latency_and_staleness(client: FlaskClient) -> None:
    client.get("/api/v1/graph/stats")
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'ig_http_request_duration_seconds_count{method="GET",route="/api/v1/graph/stats",status="200"}'
        in text
    )
    assert "ig_embedding_staleness_seconds NaN" in text  # no model trained in this test
