"""The documented maximum of ids to exclude (1,000 of the longest allowed) is reachable."""

from __future__ import annotations

from flask.testing import FlaskClient

from app.api.auth import required_scope
from app.ingest.ids import MAX_ID_CHARS

URL = "/api/v1/users/nobody-yet/recommendations"


def _seed(client: FlaskClient) -> None:
    events = [
        {"user_id": f"u{u}", "item_id": f"i{i}", "type": "purchase", "ts": "2024-05-01T12:00:00Z"}
        for u in range(4)
        for i in range(u + 2)
    ]
    assert client.post("/api/v1/events", json=events).status_code == 200


def test_a_thousand_longest_ids_can_be_excluded_in_a_body(client: FlaskClient) -> None:
    _seed(client)
    top = client.get(f"{URL}?k=3").get_json()["items"]
    assert top, "the fallback list is empty: nothing to exclude"
    padding = [f"{n:04d}".ljust(MAX_ID_CHARS, "x") for n in range(999)]
    wanted = {"exclude": [top[0]["item_id"], *padding]}
    response = client.post(f"{URL}?k=3", json=wanted)
    assert response.status_code == 200, response.get_json()
    assert top[0]["item_id"] not in [i["item_id"] for i in response.get_json()["items"]]
    too_many = client.post(URL, json={"exclude": [*padding, "a", "b"]})
    assert too_many.status_code == 400
    assert too_many.get_json()["error"]["details"] == {"field": "exclude"}
    for bad in ([], {"exclude": ["a/b"]}, {"exclude": "i1"}, {"other": []}):
        refused = client.post(URL, json=bad)
        assert refused.status_code == 400 and refused.get_json()["error"]["code"] == "invalid_input"


def test_posting_exclusions_needs_only_the_read_scope() -> None:
    assert required_scope("POST", "users.recommendations_excluding") == "read"
    assert required_scope("POST", "events.post_events") == "write"
