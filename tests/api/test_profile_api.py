"""Interest profiles over time windows and a user's graph neighbourhood."""

from __future__ import annotations

import time

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

DAY = 86_400


@pytest.fixture()
def drifting_user(client: FlaskClient) -> str:
    """A user who liked shoes a month ago and has moved to books this week."""
    items = [
        {"item_id": "shoe-1", "category_path": ["Fashion", "Shoes"], "brand": "Fleet"},
        {"item_id": "shoe-2", "category_path": ["Fashion", "Shoes"], "brand": "Fleet"},
        {"item_id": "book-1", "category_path": ["Media", "Books"], "brand": "Quill"},
    ]
    assert client.put("/api/v1/items", json=items).status_code == 200
    now = int(time.time())
    events = [
        {"user_id": "drifter", "item_id": "shoe-1", "type": "purchase", "ts": now - 25 * DAY},
        {"user_id": "drifter", "item_id": "shoe-2", "type": "view", "ts": now - 24 * DAY},
        {"user_id": "drifter", "item_id": "book-1", "type": "purchase", "ts": now - 2 * DAY},
        {"user_id": "other", "item_id": "book-1", "type": "view", "ts": now - 1 * DAY},
    ]
    assert client.post("/api/v1/events", json=events).status_code == 200
    return "drifter"


def test_interest_profile_and_drift_across_windows(client: FlaskClient, drifting_user: str) -> None:
    body = client.get(f"/api/v1/users/{drifting_user}/interests?window=10d&windows=3").get_json()
    kinds = {(row["kind"], row["id"]) for row in body["interests"]}
    assert {("category", "fashion/shoes"), ("category", "media/books"), ("brand", "fleet")} <= kinds
    weights = [row["weight"] for row in body["interests"]]
    assert weights == sorted(weights, reverse=True)
    first, last = body["windows"][0], body["windows"][-1]
    assert [c["id"] for c in first["categories"]] == ["fashion/shoes"]
    assert [c["id"] for c in last["categories"]] == ["media/books"]
    change = {c["id"]: c["change"] for c in body["change"]}
    assert change["media/books"] > 0 > change["fashion/shoes"]


def test_graph_neighbourhood_grows_with_depth(client: FlaskClient, drifting_user: str) -> None:
    one = client.get(f"/api/v1/users/{drifting_user}/graph?depth=1").get_json()
    labels = {n["label"] for n in one["nodes"]}
    assert labels == {"User", "Item", "Category", "Brand"}
    assert {e["type"] for e in one["edges"]} == {"INTERACTED", "INTERESTED_IN"}
    two = client.get(f"/api/v1/users/{drifting_user}/graph?depth=2").get_json()
    keys = {n["key"] for n in two["nodes"]}
    assert "other" in keys and len(two["edges"]) > len(one["edges"])
    ids = {n["id"] for n in two["nodes"]}
    assert all(e["source"] in ids and e["target"] in ids for e in two["edges"])


@pytest.mark.parametrize(
    ("path", "status", "parameter"),
    [("interests?window=forever", 400, "window"), ("interests?window=0d", 400, "window"),
     ("interests?windows=99", 400, "windows"), ("graph?depth=4", 400, "depth"),
     ("graph?depth=0", 400, "depth"), ("graph?limit=x", 400, "limit"), ("graph?hops=2", 400, "hops"),
     ("interests?window=9999w&windows=12", 400, "window"), ("interests?window=3651d", 400, "window")],
)  # fmt: skip
def test_bad_parameters(
    client: FlaskClient, drifting_user: str, path: str, status: int, parameter: str
) -> None:
    response = client.get(f"/api/v1/users/{drifting_user}/{path}")
    assert response.status_code == status
    assert response.get_json()["error"]["details"]["parameter"] == parameter


def test_the_longest_windows_reach_back_without_failing(
    client: FlaskClient, drifting_user: str
) -> None:
    response = client.get(f"/api/v1/users/{drifting_user}/interests?window=521w&windows=12")
    assert response.status_code == 200
    windows = response.get_json()["windows"]
    assert len(windows) == 12 and windows[0]["start"] < "1910"
    message = client.get(f"/api/v1/users/{drifting_user}/interests?window=9999w").get_json()
    assert "at most 3650d" in message["error"]["message"]


def test_unknown_user_is_404(client: FlaskClient, graph: Driver) -> None:
    for path in ("interests", "graph"):
        response = client.get(f"/api/v1/users/nobody/{path}")
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
