"""Every metric the Grafana dashboard queries is one a real app exports at /metrics.

The dashboard's PromQL is read with a real PromQL parser (``promql_parser``); the app is the
test app over the real Neo4j fixture, after requests, events and a finished refresh run, so
that every series (histograms included) has samples, not only its HELP line.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import promql_parser
import pytest
from flask import Flask
from neo4j import Driver
from prometheus_client.parser import text_string_to_metric_families

from app.api import create_app
from app.api.metrics import metrics_of
from app.api.wiring import services_of
from app.settings import load_settings
from graphdb.refresh_runs import RunOutcome, finish_run, start_run
from tests.conftest import free_port

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = REPO_ROOT / "docs" / "monitoring" / "grafana" / "dashboards" / "interest-graph.json"
# Grafana's own range variables, given the values they take on a 15 s scrape.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "15s", "$__range": "6h"}
UNKNOWN_VARIABLE = re.compile(r"\$\{?\w+")


def panel_queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """``(panel title, expression)`` for every target of every panel, rows' panels too."""
    for panel in dashboard["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            for target in inner.get("targets", []):
                yield inner["title"], target["expr"]


def queried_metrics(expression: str) -> set[str]:
    """The metric names a PromQL expression selects (``name{...}`` or ``{__name__="..."}``)."""
    for variable, value in GRAFANA_VARIABLES.items():
        expression = expression.replace(variable, value)
    leftover = UNKNOWN_VARIABLE.search(expression)
    assert leftover is None, f"unknown dashboard variable {leftover.group()} in {expression}"
    names: set[str] = set()

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")

    promql_parser.walk(promql_parser.parse(expression), visit)
    return names


def dashboard_metrics(dashboard: dict[str, Any]) -> dict[str, set[str]]:
    """Each queried metric name and the panels that query it."""
    found: dict[str, set[str]] = {}
    for title, expression in panel_queries(dashboard):
        for name in queried_metrics(expression):
            found.setdefault(name, set()).add(title)
    return found


def exported_samples(app: Flask) -> set[str]:
    """The sample names (``*_bucket``, ``*_total``, ...) the app's /metrics carries."""
    text = app.test_client().get("/metrics").get_data(as_text=True)
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


def missing_metrics(dashboard: dict[str, Any], exported: set[str]) -> dict[str, set[str]]:
    return {n: p for n, p in dashboard_metrics(dashboard).items() if n not in exported}


@pytest.fixture()
def exercised(app: Flask, graph: Driver) -> set[str]:
    """The app's exported samples after it served a route, an error, events and a run."""
    metrics_of(app).graph.every_s = 0.0  # read the graph at this scrape
    client = app.test_client()
    assert client.get("/api/v1/graph/stats").status_code == 200
    assert client.get("/api/v1/items/nope").status_code == 404
    event = {"event_id": "dash-e1", "user_id": "dash-u1", "item_id": "dash-i1", "type": "view"}
    assert client.post("/api/v1/events", json=[event, event]).status_code == 200
    exported_samples(app)  # a new reader counts the runs that finish from its first read on
    run = start_run(graph, "incremental", "dashboard-test")
    finish_run(graph, run.id, "succeeded", RunOutcome(seconds=2.0))
    return exported_samples(app)


def test_every_dashboard_metric_is_exported(exercised: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    queried = dashboard_metrics(dashboard)
    # The panels the issue asks for are there (a dashboard querying nothing would pass).
    assert {
        "ig_events_ingested_total", "ig_http_request_duration_seconds_bucket",
        "ig_http_request_duration_seconds_count", "ig_refresh_run_duration_seconds_count",
        "ig_embedding_staleness_seconds", "ig_rec_lists_users", "ig_graph_users", "ig_neo4j_up",
    } <= set(queried)  # fmt: skip
    assert missing_metrics(dashboard, exercised) == {}


def test_a_panel_querying_an_unexported_metric_is_caught(exercised: set[str]) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    dashboard["panels"].append({
        "title": "Typo", "targets": [{"expr": 'sum(rate({__name__="ig_event_ingested_total"}[5m]))'}],
    })  # fmt: skip
    dashboard["panels"][0]["targets"][0]["expr"] = "min(ig_neo4j_upp)"
    assert missing_metrics(dashboard, exercised) == {
        "ig_event_ingested_total": {"Typo"}, "ig_neo4j_upp": {dashboard["panels"][0]["title"]},
    }  # fmt: skip


def test_exported_values_are_real(app: Flask, exercised: set[str]) -> None:
    """Neo4j answers, two events (one a duplicate), one user in the graph."""
    text = app.test_client().get("/metrics").get_data(as_text=True)
    assert "ig_neo4j_up 1.0" in text
    assert "ig_graph_users 1.0" in text
    assert 'ig_events_ingested_total{outcome="accepted"} 1.0' in text
    assert 'ig_events_ingested_total{outcome="duplicate"} 1.0' in text


def test_neo4j_down_reads_zero() -> None:
    """With nothing listening where the graph should be, the scrape still answers: down."""
    settings = load_settings(
        neo4j_uri=f"bolt://127.0.0.1:{free_port()}", neo4j_auth=False, api_auth=False
    )
    app = create_app(settings, autostart_lists=False)
    try:
        text = app.test_client().get("/metrics").get_data(as_text=True)
    finally:
        services_of(app).close()
    assert "ig_neo4j_up 0.0" in text
    assert "ig_graph_users NaN" in text
