"""Event intake: ``POST /api/v1/events`` takes one event or a batch, all or nothing."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.api.common import intake_limits, json_body, settings, wall_now
from app.api.metrics import metrics_of
from app.api.openapi import BodyForm, operation
from app.api.responses import EventsAccepted
from app.api.wiring import services
from app.ingest.validation import EventIn, parse_events

bp = Blueprint("events", __name__, url_prefix="/api/v1/events")


@bp.post("")
@operation(
    EventsAccepted,
    body=EventIn,
    form=BodyForm(batch="events"),
    errors={400: "a record is invalid", 413: "body too large", 415: "not JSON"},
)
def post_events() -> tuple[Response, int]:
    """Store behaviour events, all or nothing

    Send one event, a list of them, or ``{"events": [...]}``. If any record is invalid,
    nothing is stored and the 400 names each problem.
    """
    rows = parse_events(json_body(), intake_limits(), now=wall_now())
    serving = services()
    result = serving.store.events.write_events(rows, settings().fold_config())
    counted = metrics_of(current_app).events_ingested
    counted.labels("accepted").inc(result.created)
    counted.labels("duplicate").inc(result.duplicates)
    lists = serving.serving_lists()
    if lists is not None:  # this worker answers live at once; others within a second
        lists.forget([row.user_id for row in rows])
    body = {
        "accepted": result.created,
        "duplicates": result.duplicates,
        "event_ids": [row.event_id for row in rows],
    }
    return jsonify(body), 200
