"""A review's sentiment, scored at intake, moves the stored weights (real server, real model)."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

EVENTS = "/api/v1/events"
ITEMS = "/api/v1/items"
BOUGHT = "2024-05-01T12:00:00Z"
REVIEWED = "2024-05-03T12:00:00Z"
NEGATIVE = "Awful. The card did not work, I was embarrassed at the register. Terrible, avoid."
POSITIVE = "Love it! Perfect gift, arrived quickly and worked great."


def _post(client: FlaskClient, events: list[dict[str, Any]]) -> None:
    response = client.post(EVENTS, json={"events": events})
    assert response.status_code == 200, response.get_json()


def _history(user: str, review: str | None) -> list[dict[str, Any]]:
    events = [{"user_id": user, "item_id": "card", "type": "purchase", "ts": BOUGHT}]
    if review is not None:
        events.append(
            {"user_id": user, "item_id": "card", "type": "review", "ts": REVIEWED, "text": review}
        )
    return events


def _weights(graph: Driver, user: str) -> dict[str, float]:
    """Each edge's weight decayed to the review's time, so users with and without one compare."""
    records = graph.execute_query(
        "MATCH (:User {user_id: $user})-[r:INTERACTED|INTERESTED_IN]->(t) "
        "RETURN labels(t)[0] AS kind, "
        "r.weight * 2.0 ^ (-(datetime($at).epochMillis - r.last_ts.epochMillis) / $half_life_ms) "
        "AS weight",
        user=user,
        at=REVIEWED,
        half_life_ms=30 * 86_400_000.0,
    ).records
    return {r["kind"]: r["weight"] for r in records}


def test_negative_review_lowers_item_category_and_brand_weights(
    client: FlaskClient, graph: Driver
) -> None:
    item = {
        "item_id": "card",
        "title": "Gift card",
        "category_path": ["Gift Cards"],
        "brand": "Acme",
    }
    assert client.put(ITEMS, json=item).status_code == 200
    _post(
        client, _history("alone", None) + _history("panned", NEGATIVE) + _history("liked", POSITIVE)
    )

    alone, panned, liked = (_weights(graph, u) for u in ("alone", "panned", "liked"))
    assert set(alone) == set(panned) == set(liked) == {"Item", "Category", "Brand"}
    for kind in ("Item", "Category", "Brand"):
        assert panned[kind] < alone[kind] < liked[kind], kind
        assert alone[kind] == pytest.approx(8.0 * 2 ** (-2 / 30))

    stored = graph.execute_query(
        "MATCH (u:User)-[:PERFORMED]->(x:Interaction {type: 'review'}) "
        "RETURN u.user_id AS user, x.sentiment AS sentiment, x.weight AS weight"
    ).records
    by_user = {r["user"]: r for r in stored}
    assert by_user["panned"]["sentiment"] < 0 and by_user["panned"]["weight"] < 0
    assert by_user["liked"]["sentiment"] > 0 and by_user["liked"]["weight"] > 0
    assert by_user["panned"]["weight"] == pytest.approx(6.0 * by_user["panned"]["sentiment"])
    purchase = graph.execute_query(
        "MATCH (x:Interaction {type: 'purchase'}) RETURN collect(x.sentiment) AS s"
    ).records[0]["s"]
    assert purchase == []  # only review text is scored
