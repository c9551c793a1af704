"""Prometheus metrics: request latency per route, and embedding staleness read at scrape.

Under gunicorn every worker is a process; with ``PROMETHEUS_MULTIPROC_DIR`` set (``serve``
sets it) the exposition aggregates all workers, otherwise it shows this process only.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.graph import database, graph_driver
from graphdb.embeddings import active_version

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

bp = Blueprint("metrics", __name__)


class EmbeddingStaleness(Collector):
    """Seconds since the active model version was switched on (NaN when there is none)."""

    def __init__(self, app: Flask) -> None:
        self.app = app

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "ig_embedding_staleness_seconds", "Seconds since the active embeddings were written"
        )
        with self.app.app_context():
            try:
                info = active_version(graph_driver(), database())
            except Exception:  # the graph being down must not break the scrape
                info = None
        age = (
            time.time() - info.activated_at.timestamp()
            if info and info.activated_at
            else float("nan")
        )
        gauge.add_metric([], age)
        yield gauge


def init_metrics(app: Flask) -> None:
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram(
        "ig_http_request_duration_seconds", "Request latency by route",
        ["method", "route", "status"], buckets=BUCKETS, registry=registry,
    )  # fmt: skip
    app.extensions["metrics"] = (registry, EmbeddingStaleness(app))

    @app.before_request
    def _start_timer() -> None:
        g.request_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("request_started")
        if started is not None:
            route = request.url_rule.rule if request.url_rule else "unmatched"
            latency.labels(request.method, route, str(response.status_code)).observe(
                time.perf_counter() - started
            )
        return response

    app.register_blueprint(bp)


@bp.get("/metrics")
def expose() -> Response:
    from flask import current_app

    local, staleness = current_app.extensions["metrics"]
    registry = local
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    body = generate_latest(registry)
    scrape = CollectorRegistry()
    scrape.register(staleness)
    body += generate_latest(scrape)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
