"""Refresh control: request an incremental or full refresh, and follow refresh runs.

``POST /api/v1/refresh`` only *queues* a run (admin scope: a full retrain is expensive). The
``interest-graph worker`` process that holds the worker lease claims queued runs every
``refresh_poll_s`` seconds and records how each ended; the web workers never train.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from flask import Blueprint, Response, jsonify, request, url_for
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.api import responses_ops as out
from app.api.common import validated_body
from app.api.errors import ApiError
from app.api.openapi import BodyForm, operation
from app.api.params import QueryModel, int_arg
from app.api.wiring import graph_store
from graphdb.refresh_runs import RefreshRun, RefreshRuns

bp = Blueprint("refresh", __name__, url_prefix="/api/v1/refresh")


class RefreshIn(BaseModel):
    """Which refresh to run: ``incremental`` (default) re-embeds what changed; ``full``
    retrains the model on the whole graph. ``force`` (full only) promotes the new model even
    if the active one scores better on today's holdout."""

    # The document says what _requested refuses: force true only with kind full.
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "anyOf": [
                {"properties": {"force": {"const": False}}},
                {"properties": {"kind": {"const": "full"}}, "required": ["kind"]},
            ]
        },
    )

    kind: Literal["incremental", "full"] = "incremental"
    force: StrictBool = False


def _requested() -> RefreshIn:
    if not request.get_data(cache=True):
        return RefreshIn()  # the body is optional
    wanted = validated_body(RefreshIn, '{"kind": "full"}')
    if wanted.force and wanted.kind != "full":
        message = "field 'force': applies to full retrains only (kind 'full')"
        raise ApiError(400, "invalid_input", message, {"field": "force"})
    return wanted


def _runs() -> RefreshRuns:
    return graph_store().runs


def _public(run: RefreshRun) -> dict[str, Any]:
    """A run as JSON: every field, timestamps in ISO 8601 (null while not reached); its id is
    ``run_id``, as ``POST /refresh`` names it."""
    fields = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in asdict(run).items()}
    return {"run_id": fields.pop("id"), **fields}


@bp.post("")
@operation(
    out.RefreshQueued,
    status=202,
    body=RefreshIn,
    form=BodyForm(required=False),
    errors={400: "unknown kind, or force without kind full", 415: "not JSON"},
)
def request_refresh() -> tuple[Response, int]:
    """Queue a refresh for the worker; Location names the run

    The body is optional; kind defaults to incremental. ``{"kind": "full", "force": true}``
    promotes the new model whatever the gate says. A run of the same kind still queued is
    returned instead of a new one (made forced, if this request is).
    """
    wanted = _requested()
    run, _ = _runs().queue_run(wanted.kind, trigger="api", force=wanted.force)
    response = jsonify(
        {"run_id": run.id, "kind": run.kind, "status": run.status, "force": run.force}
    )
    response.headers["Location"] = url_for("refresh.get_run", run_id=run.id)
    return response, 202


class RunsQuery(QueryModel):
    limit: int = Field(20, ge=1, le=100, description="most runs listed")


@bp.get("/runs")
@operation(out.RefreshRuns, query=RunsQuery)
def runs() -> Response:
    """Refresh runs, newest first: kind, status, timings, what changed and was written"""
    limit = int_arg("limit", 20, 1, 100)
    return jsonify({"runs": [_public(run) for run in _runs().list_runs(limit)]})


@bp.get("/runs/<run_id>")
@operation(out.RefreshRun, errors={404: "unknown run"})
def get_run(run_id: str) -> Response:
    """One refresh run"""
    run = _runs().read_run(run_id)
    if run is None:
        raise ApiError(404, "not_found", f"no refresh run {run_id!r}")
    return jsonify(_public(run))
