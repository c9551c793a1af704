"""Gunicorn server hooks, loaded by ``interest-graph serve`` with ``--config python:...``."""

from __future__ import annotations

from typing import Any

# The longest request line gunicorn bounds (its default is 4,094 bytes; 0 would read a line
# without any bound). Longer lines get gunicorn's own 414, which the app never sees (as JSON:
# app.api.gunicorn_worker). A thousand ids to exclude always fit in the body of
# POST /users/{id}/recommendations.
limit_request_line = 8190
# Its own refusals (414, 431, 400 before the app) in the API's JSON error shape.
worker_class = "app.api.gunicorn_worker.JsonErrorWorker"
# Access lines carry the route template, never a user id from the path (docs/privacy.md).
logger_class = "app.api.access_log.RouteAccessLogger"


def post_worker_init(worker: Any) -> None:
    """Each worker loads the active model in the background as soon as it has its app."""
    from app.api.warmup import warm_up_in_background

    warm_up_in_background(worker.wsgi)


def child_exit(server: Any, worker: Any) -> None:
    """A gone worker's per-process gauges leave /metrics with it."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
