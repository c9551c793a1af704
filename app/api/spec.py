"""OpenAPI 3 from the code: each view declares its summary and query parameters once.

``@documented`` both describes a route and enforces its query string (unknown parameters
are a 400), so the published contract and the behaviour cannot drift apart. Request bodies
use the pydantic models that validate them.
"""

from __future__ import annotations

import functools
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Flask
from pydantic import TypeAdapter

from app.api.params import reject_unknown
from app.ingest.ids import NOT_BLANK, Identifier
from app.ingest.schema import INTAKE_SCHEMAS, REF_TEMPLATE
from app.ingest.validation import IntakeLimits, limits_from_settings

F = TypeVar("F", bound=Callable[..., Any])
JSON_TYPES = {int: "integer", float: "number", bool: "boolean", str: "string"}


@dataclass(frozen=True)
class Param:
    type: type
    description: str
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    min_length: int | None = None
    max_length: int | None = None
    pattern: str | None = None


def text_param(description: str, max_chars: int, *, required: bool = False) -> Param:
    """Free text as ``params.text_arg`` takes it: 1 to ``max_chars`` characters, not blank."""
    return Param(
        str, description, required=required, min_length=1, max_length=max_chars, pattern=NOT_BLANK
    )


@dataclass(frozen=True)
class RouteDoc:
    """What a route documents. ``batch`` names the key of a batch body: the route then takes
    one record, a list of 1 to ``max_batch_events`` records, or ``{batch: [...]}``."""

    summary: str
    query: dict[str, Param] = field(default_factory=dict)
    body: type | None = None
    scope: str = "read"
    responses: dict[int, str] = field(default_factory=dict)
    batch: str | None = None
    body_required: bool = True


def documented(
    summary: str,
    *,
    query: dict[str, Param] | None = None,
    body: type | None = None,
    scope: str = "read",
    responses: dict[int, str] | None = None,
    batch: str | None = None,
    body_required: bool = True,
) -> Callable[[F], F]:
    doc = RouteDoc(summary, query or {}, body, scope, responses or {}, batch, body_required)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            reject_unknown(set(doc.query))
            return view(*args, **kwargs)

        wrapper.route_doc = doc  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


_ID_SCHEMA = TypeAdapter(Identifier).json_schema()
# Path segments are ids as intake accepts them; run ids are the UUIDs the graph gives runs.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "user_id": _ID_SCHEMA,
    "item_id": {**_ID_SCHEMA, "not": {"enum": ["search"]}},  # /items/search is the search
    "run_id": {"type": "string", "format": "uuid"},
}
ANY_TEXT = {"type": "string"}
_CONVERTED = re.compile(r"<(?:[^<>:]+:)?([^<>]+)>")  # '<id:user_id>' is '{user_id}'
_PARAM_KEYWORDS = ("default", "minimum", "maximum", "min_length", "max_length", "pattern")


def _param_schema(param: Param) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": JSON_TYPES[param.type]}
    for name in _PARAM_KEYWORDS:
        value = getattr(param, name)
        if value is not None:
            head, *rest = name.split("_")
            schema[head + "".join(part.title() for part in rest)] = value
    return schema


def _request_body(doc: RouteDoc, limits: IntakeLimits) -> dict[str, Any]:
    assert doc.body is not None
    single: dict[str, Any] = {"$ref": f"#/components/schemas/{doc.body.__name__}"}
    schema = single
    if doc.batch is not None:
        batch = {"type": "array", "items": single, "minItems": 1, "maxItems": limits.max_batch}
        wrapped = {
            "type": "object",
            "properties": {doc.batch: batch},
            "required": [doc.batch],
            "additionalProperties": False,
        }
        schema = {"oneOf": [single, batch, wrapped]}
    return {"required": doc.body_required, "content": {"application/json": {"schema": schema}}}


def _operation(
    doc: RouteDoc | None, path_args: list[str], endpoint: str, limits: IntakeLimits
) -> dict[str, Any]:
    doc = doc or RouteDoc(endpoint.replace(".", " ").replace("_", " "), scope="public")
    parameters = [
        {"name": a, "in": "path", "required": True, "schema": PATH_SCHEMAS.get(a, ANY_TEXT)}
        for a in path_args
    ]
    parameters += [
        {
            "name": n,
            "in": "query",
            "required": p.required,
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
        operation["requestBody"] = _request_body(doc, limits)
    return operation


def _body_schema(body: type, limits: IntakeLimits, now_s: float) -> dict[str, Any]:
    """A body model's schema, with the rules intake checks in code where it has any."""
    intake = INTAKE_SCHEMAS.get(body)
    if intake is not None:
        return intake(limits, now_s)
    return body.model_json_schema(ref_template=REF_TEMPLATE)  # type: ignore[attr-defined]


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
            "required": ["code", "message", "details"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}


def build_spec(app: Flask) -> dict[str, Any]:
    """The OpenAPI document of every route the app serves, with the limits its settings set.

    An event's newest accepted time moves with the clock, so that bound is as of this call.
    """
    limits = limits_from_settings(app.config["SETTINGS"])
    now_s: float = app.config["WALL_CLOCK"]()
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        doc: RouteDoc | None = getattr(view, "route_doc", None)
        path = _CONVERTED.sub(r"{\1}", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            op = _operation(doc, sorted(rule.arguments), rule.endpoint, limits)
            paths.setdefault(path, {})[method.lower()] = op
        if doc is not None and doc.body is not None:
            schema = _body_schema(doc.body, limits, now_s)
            schemas.update(schema.pop("$defs", {}))
            schemas[doc.body.__name__] = schema
    return {
        # 3.1: its schemas are JSON Schema, as the models' own ('type': 'null' for None).
        "openapi": "3.1.0",
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
