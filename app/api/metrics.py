"""Prometheus metrics: request latency per route and events taken in; embedding staleness,
refresh-run durations, users in the graph and whether Neo4j answers, read from the graph (at
most every few seconds) at scrape. docs/monitoring/ holds the dashboard that shows them.

Under gunicorn every worker is a process; with ``PROMETHEUS_MULTIPROC_DIR`` set (``serve``
sets it) the exposition aggregates all workers, otherwise it shows this process only. The app
holds its metrics in one typed :class:`ApiMetrics` under :data:`METRICS_KEY`.
"""

from __future__ import annotations

import bisect
import itertools
import math
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from app.api.openapi import operation
from app.api.wiring import graph_store

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
REFRESH_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0)
GRAPH_READ_EVERY_S = 15.0
METRICS_KEY = "interest_graph.metrics"

bp = Blueprint("metrics", __name__)


class GraphMetrics(Collector):
    """Embedding staleness and refresh-run durations (from what the worker wrote to the graph),
    users in the graph and whether the last read of it succeeded (``ig_neo4j_up``).

    Staleness is the time since the last full training or succeeded refresh (NaN before the
    first). Durations are the runs that finished since this process first looked, fed into a
    histogram by kind and status. The graph is read at most every ``every_s`` seconds with
    one small indexed read; scrapes in between (or while a read is under way) use what the
    last read found, so /metrics stays fast even when the graph is slow or down.
    """

    def __init__(self, app: Flask, every_s: float = GRAPH_READ_EVERY_S) -> None:
        self.app, self.every_s = app, every_s
        self._reading = threading.Lock()  # one graph read at a time; others use the last one
        self._state = threading.Lock()  # held only to update or copy what was read
        self._read_at = -math.inf
        self._fresh_at: datetime | None = None
        self._users = math.nan  # unknown until a read succeeds
        self._up = 0.0
        self._watermark: Any = None
        self._counts: dict[tuple[str, str], list[int]] = {}  # per bucket, not cumulative
        self._sums: dict[tuple[str, str], float] = {}

    def _read_graph(self) -> None:
        if time.monotonic() - self._read_at < self.every_s:
            return
        self._read_at = time.monotonic()  # a failing graph is asked again only after every_s
        with self.app.app_context():
            try:
                runs = graph_store().runs
                fresh = runs.read_freshness(self._watermark)
            except Exception:  # the graph being down must not break the scrape
                self._up = 0.0
                return
        with self._state:
            self._up, self._users = 1.0, float(fresh.users)
            self._fresh_at, self._watermark = fresh.fresh_at, fresh.watermark
            for run in fresh.finished:
                key = (run.kind, run.status)
                counts = self._counts.setdefault(key, [0] * (len(REFRESH_BUCKETS) + 1))
                counts[bisect.bisect_left(REFRESH_BUCKETS, run.seconds)] += 1
                self._sums[key] = self._sums.get(key, 0.0) + run.seconds

    def collect(self) -> Iterator[Metric]:
        if self._reading.acquire(blocking=False):
            try:
                self._read_graph()
            finally:
                self._reading.release()
        with self._state:
            fresh_at, users, up = self._fresh_at, self._users, self._up
            series = [(key, list(counts), self._sums[key]) for key, counts in self._counts.items()]
        gauge = GaugeMetricFamily(
            "ig_embedding_staleness_seconds",
            "Seconds since the last full training or succeeded refresh",
        )
        gauge.add_metric([], time.time() - fresh_at.timestamp() if fresh_at else float("nan"))
        yield gauge
        yield GaugeMetricFamily(
            "ig_neo4j_up", "1 when the last read of the graph (at scrape) succeeded", value=up
        )
        yield GaugeMetricFamily("ig_graph_users", "Users stored in the graph", value=users)
        histogram = HistogramMetricFamily(
            "ig_refresh_run_duration_seconds",
            "Duration of finished refresh runs (read from the graph)",
            labels=["kind", "status"],
        )
        bounds = [*(str(b) for b in REFRESH_BUCKETS), "+Inf"]
        for key, counts, total in sorted(series):
            cumulative = zip(bounds, itertools.accumulate(counts), strict=True)
            histogram.add_metric(list(key), list(cumulative), total)
        yield histogram


@dataclass(frozen=True)
class ApiMetrics:
    """The metrics of one app.

    Attributes:
        registry: This process's registry: request latency, events and the lists gauge.
        graph: Staleness, refresh-run durations, users and Neo4j up, read at scrape.
        rec_lists_users: How many users this worker can answer from a list ranked in advance.
        events_ingested: Events ``POST /api/v1/events`` took in, by ``outcome`` (``accepted``
            or ``duplicate``).
    """

    registry: CollectorRegistry
    graph: GraphMetrics
    rec_lists_users: Gauge
    events_ingested: Counter


def metrics_of(app: Flask) -> ApiMetrics:
    """The metrics of ``app`` (set up by :func:`init_metrics`)."""
    value: ApiMetrics = app.extensions[METRICS_KEY]
    return value


def init_metrics(app: Flask) -> ApiMetrics:
    """Registers the metrics, the latency hooks and ``/metrics`` on ``app``; returns them."""
    registry = CollectorRegistry(auto_describe=True)
    latency = Histogram(
        "ig_http_request_duration_seconds", "Request latency by route",
        ["method", "route", "status"], buckets=BUCKETS, registry=registry,
    )  # fmt: skip
    rec_lists_users = Gauge(
        "ig_rec_lists_users", "Users with a list ranked in advance in this worker",
        registry=registry, multiprocess_mode="liveall",
    )  # fmt: skip
    events_ingested = Counter(
        "ig_events_ingested", "Events taken in through the API, by outcome",
        ["outcome"], registry=registry,
    )  # fmt: skip
    metrics = ApiMetrics(registry, GraphMetrics(app), rec_lists_users, events_ingested)
    app.extensions[METRICS_KEY] = metrics

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
    return metrics


@bp.get("/metrics")
@operation(None, media="text/plain")
def expose() -> Response:
    """Prometheus metrics of this process and of the graph (text exposition format)"""
    metrics = metrics_of(current_app)
    registry = metrics.registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    body = generate_latest(registry)
    scrape = CollectorRegistry()
    scrape.register(metrics.graph)
    body += generate_latest(scrape)
    return Response(body, mimetype=CONTENT_TYPE_LATEST)
