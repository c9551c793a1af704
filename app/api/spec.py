"""OpenAPI 3 from the code: each view declares its summary and query parameters once.

``@documented`` both describes a route and enforces its query string (unknown parameters
are a 400), so the published contract and the behaviour cannot drift apart. Request bodies
use the pydantic models that validate them.
"""

from __future__ import annotations

import functools
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask

from app.api.params import reject_unknown

F = TypeVar("F", bound=Callable[..., Any])
JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


@dataclass(frozen=True)
class Param:
    type: type
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class RouteDoc:
    summary: str
    query: dict[str, Param] = field(default_factory=dict)
    body: type | None = None
    scope: str = "read"
    responses: dict[int, str] = field(default_factory=dict)


def documented(
    summary: str,
    *,
    query: dict[str, Param] | None = None,
    body: type | None = None,
    scope: str = "read",
    responses: dict[int, str] | None = None,
) -> Callable[[F], F]:
    doc = RouteDoc(summary, query or {}, body, scope, responses or {})

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reject_unknown(set(doc.query))
            return view(*args, **kwargs)

        wrapper.route_doc = doc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _param_schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": JSON_TYPES[param.type]}
    if param.default is not None:
        schema["default"] = param.default
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    return schema


def _operation(doc: RouteDoc | None, path_args: list[str], endpoint: str) -> dict[str, Any]:
    doc = doc or RouteDoc(endpoint.replace(".", " ").replace("_", " "), scope="public")
    parameters = [
        {"name": a, "in": "path", "required": True, "schema": {"type": "string"}} for a in path_args
    ]
    parameters += [
        {
            "name": n,
            "in": "query",
            "required": False,
            "description": p.description,
            "schema": _param_schema(p),
        }
        for n, p in doc.query.items()
    ]
    responses: dict[str, Any] = {
        str(code): {"description": text} for code, text in doc.responses.items()
    }
    responses.setdefault("200", {"description": "OK"})
    error = {"schema": {"$ref": "#/components/schemas/Error"}}
    responses["4XX"] = {"description": "Client error", "content": {"application/json": error}}
    operation: dict[str, Any] = {
        "summary": doc.summary,
        "operationId": endpoint,
        "parameters": parameters,
        "responses": responses,
    }
    if doc.scope != "public":
        operation["security"] = [{"apiKey": []}]
        operation["x-scope"] = doc.scope
    if doc.body is not None:
        schema = doc.body.model_json_schema()  # type: ignore[attr-defined]
        single = {"$ref": f"#/components/schemas/{schema.get('title', 'Body')}"}
        operation["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"oneOf": [single, {"type": "array", "items": single}]}
                }
            },
        }
    return operation


ERROR_SCHEMA = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "details": {},
            },
        }
    },
}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route the app serves."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        doc: RouteDoc | None = getattr(view, "route_doc", None)
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = _operation(doc, sorted(rule.arguments), rule.endpoint)
            paths.setdefault(path, {})[method.lower()] = op
        if doc is not None and doc.body is not None:
            schema = doc.body.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
            schemas.update(schema.pop("$defs", {}))
            schemas[schema.get("title", "Body")] = schema
    return {
        "openapi": "3.0.3",
        "info": {"title": "Interest Graph Service", "version": "1"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "igk_... API key"}
            },
        },
    }


def render_docs(spec: dict[str, Any]) -> str:
    """A self-contained HTML page (no scripts, no CDN) listing every operation."""
    rows = []
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            params = (
                ", ".join(f"{p['name']} ({p['in']})" for p in op.get("parameters", [])) or "&ndash;"
            )
            cells = [
                f"<code>{method.upper()}</code>",
                f"<code>{html.escape(path)}</code>",
                html.escape(op["summary"]),
                html.escape(op.get("x-scope", "public")),
                html.escape(params),
            ]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>Interest Graph API</title>"
        "<style>body{font-family:sans-serif;margin:2em}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}"
        "</style></head><body><h1>Interest Graph API</h1>"
        "<p>Machine-readable contract: <a href='/api/v1/openapi.json'>/api/v1/openapi.json</a>. "
        "Send keys as <code>Authorization: Bearer igk_...</code>.</p><table><tr><th>method</th>"
        "<th>path</th><th>what</th><th>scope</th><th>parameters</th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
