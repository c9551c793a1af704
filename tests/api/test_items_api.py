"""PUT /api/v1/items: catalog upsert with category paths and brands."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient
from neo4j import Driver

URL = "/api/v1/items"

ITEM = {
    "item_id": "sku-1",
    "title": "Trail runner",
    "description": "A light shoe",
    "category_path": ["Shoes", "Running", "Trail"],
    "brand": "Fleet Feet",
    "price": 120.5,
    "in_stock": True,
    "attributes": {"colour": "red", "size": 42},
}


def test_upsert_creates_item_category_chain_and_brand(client: FlaskClient, graph: Driver) -> None:
    response = client.put(URL, json={"items": [ITEM]})
    assert response.status_code == 200 and response.get_json()["upserted"] == 1
    record = graph.execute_query(
        "MATCH (i:Item {item_id: 'sku-1'})-[:IN_CATEGORY]->(c:Category)-[:SUBCATEGORY_OF*]->(root) "
        "WHERE NOT (root)-[:SUBCATEGORY_OF]->() "
        "MATCH (i)-[:BY_BRAND]->(b:Brand) "
        "RETURN i AS i, c.category_id AS leaf, root.name AS root, b.brand_id AS brand"
    ).records[0]
    assert record["leaf"] == "shoes/running/trail" and record["root"] == "Shoes"
    assert record["brand"] == "fleet-feet"
    item = record["i"]
    assert item["title"] == "Trail runner" and item["price"] == 120.5 and item["in_catalog"] is True
    assert json.loads(item["attributes"]) == {"colour": "red", "size": 42}  # stored as text
    shown = client.get("/api/v1/items/sku-1").get_json()
    assert shown["attributes"] == {"colour": "red", "size": 42}  # served as the object it is


def test_partial_update_keeps_unsent_fields_and_moves_category(
    client: FlaskClient, graph: Driver
) -> None:
    client.put(URL, json=ITEM)
    response = client.put(
        URL, json={"item_id": "sku-1", "price": 99.0, "category_path": ["Shoes", "Walking"]}
    )
    assert response.status_code == 200
    record = graph.execute_query(
        "MATCH (i:Item {item_id: 'sku-1'}) "
        "RETURN i.title AS title, i.price AS price, [(i)-[:IN_CATEGORY]->(c) | c.category_id] AS cats, "
        "[(i)-[:BY_BRAND]->(b) | b.brand_id] AS brands"
    ).records[0]
    assert record["title"] == "Trail runner" and record["price"] == 99.0
    assert record["cats"] == ["shoes/walking"] and record["brands"] == ["fleet-feet"]


def test_bad_item_is_named_and_nothing_changes(client: FlaskClient, graph: Driver) -> None:
    client.put(URL, json=ITEM)
    response = client.put(URL, json=[{"item_id": "sku-2", "title": "ok"}, {**ITEM, "price": -3}])
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail == {"index": 1, "field": "price", "message": detail["message"]}
    assert "greater than or equal to 0" in detail["message"]
    ids = graph.execute_query("MATCH (i:Item) RETURN collect(i.item_id) AS ids").records[0]["ids"]
    assert ids == ["sku-1"]
    price = graph.execute_query("MATCH (i:Item {item_id:'sku-1'}) RETURN i.price AS p").records[0][
        "p"
    ]
    assert price == 120.5


# Strict and alike: a number is a JSON number, a boolean a JSON boolean, text a JSON string.
WRONGLY_TYPED = [
    ("in_stock", "yes"), ("in_stock", 1), ("category_path", "Shoes"),
    ("attributes", {"nested": {"a": 1}}), ("price", "1"), ("price", False), ("price", True),
    ("title", 5), ("brand", ["Acme"]),
]  # fmt: skip


@pytest.mark.parametrize(("field", "value"), WRONGLY_TYPED)
def test_wrongly_typed_fields_are_refused(
    client: FlaskClient, graph: Driver, field: str, value: object
) -> None:
    client.put(URL, json=ITEM)
    response = client.put(URL, json={"item_id": "sku-1", field: value})
    assert response.status_code == 400
    detail = response.get_json()["error"]["details"][0]
    assert detail["index"] == 0 and detail["field"] == field
    item = client.get("/api/v1/items/sku-1").get_json()
    assert item["title"] == ITEM["title"] and item["price"] == ITEM["price"]
