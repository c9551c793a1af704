"""What the OpenAPI document says is what the API does, for the mismatches schemathesis found.

Each refusal is a 4xx in the one error shape, naming what was wrong, and writes nothing.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from neo4j import Driver
from pydantic import TypeAdapter, ValidationError

from app.api.users import WINDOW_PATTERN, parse_window
from app.ingest.ids import ID_PATTERN, NOT_BLANK, WHITE_SPACE, Identifier

EVENT = {"user_id": "u1", "item_id": "i1", "type": "view"}


def _count(graph: Driver) -> int:
    return int(graph.execute_query("MATCH (n) RETURN count(n) AS n").records[0]["n"])


def _spec(client: FlaskClient) -> dict[str, Any]:
    spec: dict[str, Any] = client.get("/api/v1/openapi.json").get_json()
    return spec


def test_the_window_pattern_is_the_set_the_code_accepts() -> None:
    pattern = re.compile(WINDOW_PATTERN)
    for n in range(10_001):
        for raw in (f"{n}h", f"{n}d", f"{n}w", f"0{n}d"):
            try:
                parse_window(raw)
                accepted = True
            except ValueError:
                accepted = False
            assert accepted == bool(pattern.match(raw)), raw


def test_white_space_means_the_same_in_the_document_and_the_code() -> None:
    # ECMA-262 (the document's regexes), Python and Rust (pydantic) disagree on '\s'; the
    # spelled-out class makes ids, non-blank text and stripping agree on every character.
    ids = TypeAdapter(Identifier)
    for code in [*range(0x3100), 0x180E, 0x200B, 0xFEFF]:
        char = chr(code)
        try:
            ids.validate_python(f"a{char}b")
            valid_id = True
        except ValidationError:
            valid_id = False
        assert valid_id == bool(re.match(ID_PATTERN, f"a{char}b")), hex(code)
        assert bool(re.search(NOT_BLANK, char)) == (char.strip(WHITE_SPACE) != ""), hex(code)


@pytest.mark.parametrize(
    ("url", "parameter"),
    [("/api/v1/items/search?q=", "q"), ("/api/v1/items/search?q=%20%20", "q"),
     ("/api/v1/users/u1/recommendations?q=", "q"), ("/api/v1/users/u1/interests?window=", "window"),
     ("/api/v1/users/u1/interests?window=030d", "window"), ("/api/v1/users/u1/graph?depth=", "depth"),
     ("/api/v1/users/u1/recommendations?diversity=", "diversity")],
)  # fmt: skip
def test_empty_and_blank_query_values_are_refused(
    client: FlaskClient, url: str, parameter: str
) -> None:
    client.post("/api/v1/events", json=EVENT)
    response = client.get(url)
    assert response.status_code == 400, url
    assert response.get_json()["error"]["details"] == {"parameter": parameter}


def test_search_documents_q_as_required_non_blank_text(client: FlaskClient) -> None:
    search = _spec(client)["paths"]["/api/v1/items/search"]["get"]
    q = next(p for p in search["parameters"] if p["name"] == "q")
    assert q["required"] is True
    assert q["schema"] == {"type": "string", "minLength": 1, "maxLength": 500, "pattern": NOT_BLANK}


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [("/api/v1/events", {"events": [EVENT], "evnets": []}, "evnets"),
     ("/api/v1/items", {"items": [{"item_id": "i1"}], "extra": 1}, "extra"),
     ("/api/v1/events", [{**EVENT, "user_id": " u1"}], "user_id"),
     ("/api/v1/events", [{**EVENT, "text": ""}], "text"),
     ("/api/v1/items", [{"item_id": "i1", "brand": "   "}], "brand")],
)  # fmt: skip
def test_batch_bodies_are_strict_and_write_nothing(
    client: FlaskClient, graph: Driver, url: str, body: Any, field: str
) -> None:
    before = _count(graph)
    send = client.put if url.endswith("items") else client.post
    response = send(url, json=body)
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid_input" and error["details"][0]["field"] == field
    assert _count(graph) == before


def test_the_batch_forms_and_limits_are_documented(client: FlaskClient) -> None:
    spec = _spec(client)
    body = spec["paths"]["/api/v1/events"]["post"]["requestBody"]["content"]["application/json"]
    single, listed, wrapped = body["schema"]["oneOf"]
    assert single == {"$ref": "#/components/schemas/EventIn"}
    assert listed["minItems"] == 1 and listed["maxItems"] == 1000
    assert wrapped["properties"] == {"events": listed} and wrapped["additionalProperties"] is False
    event = spec["components"]["schemas"]["EventIn"]
    assert [rule["properties"]["type"]["enum"] for rule in event["oneOf"]][:2] == [
        ["rating"], ["review"]
    ]  # fmt: skip
    assert event["properties"]["item_id"]["not"] == {"enum": ["search"]}


@pytest.mark.parametrize(
    ("url", "body"),
    [("/api/v1/users/u1/recommendations", []), ("/api/v1/refresh", [{"kind": "full"}]),
     ("/api/v1/refresh", {"force": True})],
)  # fmt: skip
def test_object_bodies_are_objects_as_documented(
    client: FlaskClient, graph: Driver, url: str, body: Any
) -> None:
    before = _count(graph)
    response = client.post(url, json=body)
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_input"
    assert _count(graph) == before
    operation = _spec(client)["paths"][url.replace("u1", "{user_id}")]["post"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert "$ref" in schema and "oneOf" not in schema  # one object, never a list


def test_the_refresh_body_is_optional_and_its_rule_documented(client: FlaskClient) -> None:
    operation = _spec(client)["paths"]["/api/v1/refresh"]["post"]
    assert operation["requestBody"]["required"] is False
    refresh = _spec(client)["components"]["schemas"]["RefreshIn"]
    assert {"properties": {"force": {"const": False}}} in refresh["anyOf"]


def test_a_path_segment_that_is_no_id_is_404(client: FlaskClient) -> None:
    # An unknown but well-formed user gets the popular fallback; a malformed one is no user.
    assert client.get("/api/v1/users/nobody/recommendations").status_code == 200
    for url in ("/api/v1/users/" + "x" * 129 + "/recommendations", "/api/v1/items/a%20b"):
        response = client.get(url)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"
    user = _spec(client)["paths"]["/api/v1/users/{user_id}/recommendations"]["get"]
    assert user["parameters"][0]["schema"]["pattern"] == ID_PATTERN
