"""``/api/v1/refresh``: queue runs, list and read them; validation, scopes, the contract."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.metrics import metrics_of
from app.api.wiring import EXTENSION_KEY
from app.settings import load_settings
from graphdb.apikeys import create_key
from graphdb.refresh_runs import RunOutcome, finish_run, start_run
from tests.conftest import Neo4jTestServer


def test_post_queues_an_incremental_run_by_default(client: FlaskClient) -> None:
    response = client.post("/api/v1/refresh")
    assert response.status_code == 202
    body = response.get_json()
    assert body["status"] == "queued" and body["kind"] == "incremental" and body["run_id"]
    assert response.headers["Location"] == f"/api/v1/refresh/runs/{body['run_id']}"
    run = client.get(response.headers["Location"]).get_json()
    assert (
        run["run_id"] == body["run_id"]
        and "id" not in run
        and run["status"] == "queued"
        and run["trigger"] == "api"
    )
    assert run["requested_at"].endswith("+00:00") and run["finished_at"] is None


def test_a_kind_still_queued_is_not_queued_twice(client: FlaskClient) -> None:
    first = client.post("/api/v1/refresh", json={"kind": "full"}).get_json()
    second = client.post("/api/v1/refresh", json={"kind": "full"}).get_json()
    other = client.post("/api/v1/refresh", json={}).get_json()
    assert first["run_id"] == second["run_id"] != other["run_id"]
    assert (first["kind"], other["kind"]) == ("full", "incremental")


def test_a_forced_full_retrain_joins_the_one_waiting(client: FlaskClient) -> None:
    plain = client.post("/api/v1/refresh", json={"kind": "full"}).get_json()
    assert plain["force"] is False
    forced = client.post("/api/v1/refresh", json={"kind": "full", "force": True}).get_json()
    assert forced["run_id"] == plain["run_id"] and forced["force"] is True
    run = client.get(f"/api/v1/refresh/runs/{plain['run_id']}").get_json()
    assert run["force"] is True and run["status"] == "queued"
    again = client.post("/api/v1/refresh", json={"kind": "full"}).get_json()
    assert again["run_id"] == plain["run_id"] and again["force"] is True  # never un-forced


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"kind": "partial"}, 400, "kind"),
        ({"kind": "incremental", "force": True}, 400, "force"),
        ({"force": True}, 400, "force"),
        ({"kind": "full", "force": "yes"}, 400, "force"),
        ([{"kind": "full"}], 400, None),
        ({"kind": None}, 400, "kind"),
    ],
)
def test_bad_bodies_are_400(client: FlaskClient, body: object, status: int, field: str) -> None:
    response = client.post("/api/v1/refresh", json=body)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input"
    if field:
        assert error["details"] == {"field": field} and f"'{field}'" in error["message"]
    assert client.get("/api/v1/refresh/runs").get_json()["runs"] == []  # nothing queued


def test_a_non_json_body_is_415(client: FlaskClient) -> None:
    response = client.post("/api/v1/refresh", data="kind=full", content_type="text/plain")
    assert response.status_code == 415


@pytest.mark.parametrize("limit", ["0", "101", "x", "-1"])
def test_runs_limit_outside_1_to_100_is_400(client: FlaskClient, limit: str) -> None:
    response = client.get(f"/api/v1/refresh/runs?limit={limit}")
    assert response.status_code == 400
    assert response.get_json()["error"]["details"] == {"parameter": "limit"}


def test_runs_are_listed_newest_first_up_to_limit(client: FlaskClient, graph: Driver) -> None:
    ids = [start_run(graph, "incremental", "w").id for _ in range(3)]
    finish_run(graph, ids[0], "succeeded", RunOutcome(seconds=0.5, written=4))
    runs = client.get("/api/v1/refresh/runs?limit=2").get_json()["runs"]
    assert [r["run_id"] for r in runs] == ids[::-1][:2]
    everything = client.get("/api/v1/refresh/runs?limit=100").get_json()["runs"]
    oldest = everything[-1]
    assert oldest["run_id"] == ids[0] and oldest["status"] == "succeeded" and oldest["written"] == 4
    assert "worker" not in oldest  # the holder's host and pid stay in the graph


def test_unknown_run_is_404(client: FlaskClient) -> None:
    response = client.get("/api/v1/refresh/runs/no-such-run")
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_refresh_routes_are_documented(client: FlaskClient) -> None:
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    post = paths["/api/v1/refresh"]["post"]
    assert post["x-scope"] == "admin" and "202" in post["responses"]
    assert "RefreshIn" in str(post["requestBody"])
    limit = next(p for p in paths["/api/v1/refresh/runs"]["get"]["parameters"])
    assert limit["name"] == "limit" and limit["schema"]["maximum"] == 100
    assert paths["/api/v1/refresh/runs/{run_id}"]["get"]["x-scope"] == "read"


@pytest.fixture()
def secured(graph: Driver, neo4j_server: Neo4jTestServer) -> Iterator[Flask]:
    target = neo4j_server.target
    app = create_app(load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password,
        neo4j_auth=target.password is not None, api_auth=True,
    ))  # fmt: skip
    yield app
    app.extensions[EXTENSION_KEY].close()


def test_requesting_a_refresh_needs_the_admin_scope(secured: Flask, graph: Driver) -> None:
    client = secured.test_client()
    keys = {scope: create_key(graph, scope, [scope]) for scope in ("read", "write", "admin")}

    def post(scope: str) -> int:
        headers = {"Authorization": f"Bearer {keys[scope]}"}
        return client.post("/api/v1/refresh", json={"kind": "full"}, headers=headers).status_code

    assert client.post("/api/v1/refresh").status_code == 401
    assert (post("read"), post("write"), post("admin")) == (403, 403, 202)
    headers = {"Authorization": f"Bearer {keys['read']}"}
    assert client.get("/api/v1/refresh/runs", headers=headers).status_code == 200


def test_metrics_show_run_durations_and_staleness(app: Flask, graph: Driver) -> None:
    client = app.test_client()
    collector = metrics_of(app).graph
    collector.every_s = 0.0  # read the graph at every scrape
    assert "ig_embedding_staleness_seconds NaN" in client.get("/metrics").get_data(as_text=True)
    finish_run(graph, start_run(graph, "incremental", "w").id, "succeeded", RunOutcome(seconds=3.0))
    finish_run(graph, start_run(graph, "full", "w").id, "failed", RunOutcome(seconds=700.0))
    text = client.get("/metrics").get_data(as_text=True)
    assert (
        'ig_refresh_run_duration_seconds_bucket{kind="incremental",le="5.0",status="succeeded"} 1.0'
        in text
    )
    assert (
        'ig_refresh_run_duration_seconds_bucket{kind="full",le="600.0",status="failed"} 0.0' in text
    )
    assert 'ig_refresh_run_duration_seconds_count{kind="full",status="failed"} 1.0' in text
    assert 'ig_refresh_run_duration_seconds_sum{kind="incremental",status="succeeded"} 3.0' in text
    staleness = next(
        line for line in text.splitlines() if line.startswith("ig_embedding_staleness_seconds ")
    )
    assert 0 <= float(staleness.split()[1]) < 60
    again = client.get("/metrics").get_data(as_text=True)  # runs are counted once
    assert 'ig_refresh_run_duration_seconds_count{kind="full",status="failed"} 1.0' in again
