"""Every id intake accepts is addressable by every route; ids that cannot be are refused (400).

Over a real HTTP server (``live_api``): it decodes ``%2F`` before routing, as WSGI servers do.
Events with such ids are refused in ``test_events_api.BAD_EVENTS``; items here.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
import requests
from flask.testing import FlaskClient
from neo4j import Driver

from tests.api.test_events_api import _event, _snapshot

EVENTS = "/api/v1/events"
ITEMS = "/api/v1/items"


@pytest.mark.parametrize(
    ("item_id", "message"), [("x/y", "'/'"), ("..", "'..'"), ("search", "search route")]
)
def test_item_ids_no_route_can_address_are_refused(
    client: FlaskClient, graph: Driver, item_id: str, message: str
) -> None:
    client.put(ITEMS, json={"item_id": "kept", "title": "t"})
    before = _snapshot(graph)
    response = client.put(ITEMS, json=[{"item_id": "fine", "title": "t"}, {"item_id": item_id}])
    assert response.status_code == 400
    details = response.get_json()["error"]["details"]
    assert details[0]["index"] == 1 and details[0]["field"] == "item_id"
    assert message in details[0]["message"]
    assert _snapshot(graph) == before


# Accepted ids with every character that needs percent-encoding in a path segment.
ODD_USER = "u?#%;:é+&=...x"
ODD_ITEM = "i?#%25;é&=..."


def _url(base: str, *parts: str, query: str = "") -> str:
    return base + "/".join(quote(p, safe="") for p in parts) + query


def test_every_accepted_id_is_addressable_by_every_route(live_api: str, graph: Driver) -> None:
    http = requests.Session()
    users, items = f"{live_api}/api/v1/users/", f"{live_api}/api/v1/items/"
    events = [_event(user_id=ODD_USER, item_id=ODD_ITEM), _event(user_id="...", item_id=ODD_ITEM)]
    assert http.post(live_api + EVENTS, json=events).status_code == 200
    for user in (ODD_USER, "..."):
        for route in ("interests", "graph", "recommendations"):
            response = http.get(_url(users, user, route), allow_redirects=False)
            assert response.status_code == 200, (user, route, response.text)
            assert response.json()["user_id"] == user
    exclude = http.get(
        _url(users, ODD_USER, "recommendations", query="?exclude=" + quote(ODD_ITEM))
    )
    assert exclude.status_code == 200
    assert ODD_ITEM not in [row["item_id"] for row in exclude.json()["items"]]
    assert http.get(_url(items, ODD_ITEM)).json()["item_id"] == ODD_ITEM
    assert http.get(_url(items, ODD_ITEM, "similar")).json()["item_id"] == ODD_ITEM
    erased = http.delete(_url(users, ODD_USER))
    assert erased.status_code == 200 and erased.json()["user_id"] == ODD_USER
    assert http.get(_url(users, ODD_USER, "interests")).status_code == 404


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/users/bi_mr%2F/interests"),
        ("GET", "/api/v1/users/bi_mr//interests"),
        ("GET", "/api/v1//users/bi_mr/interests"),
        ("GET", "/api/v1/users/bi_mr/interests/"),
        ("DELETE", "/api/v1/users/bi_mr%2F"),
        ("DELETE", "/api/v1/users/bi_mr/"),
        ("GET", "/api/v1/items/i1%2F"),
        ("GET", "/api/v1/items/i1//similar"),
    ],
)
def test_slashed_paths_are_json_404s_never_redirects_to_another_id(
    live_api: str, graph: Driver, method: str, path: str
) -> None:
    http = requests.Session()
    assert http.post(live_api + EVENTS, json=_event(user_id="bi_mr")).status_code == 200
    response = http.request(method, live_api + path, allow_redirects=False)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert http.get(f"{live_api}/api/v1/users/bi_mr/interests").status_code == 200
