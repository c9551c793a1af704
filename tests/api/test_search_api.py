"""Semantic search: item texts embedded by the worker's job, queries encoded in the API."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver

from app.training.text_index import embed_item_texts
from graphdb.store import GraphStore

ITEMS = [
    {"item_id": "s1", "title": "Noise-cancelling over-ear headphones",
     "description": "Wireless Bluetooth headphones with 30 hours of battery.",
     "category_path": ["Electronics", "Audio"], "brand": "Sonique"},
    {"item_id": "s2", "title": "Trail running shoes",
     "description": "Grippy outsole for muddy mountain trails.",
     "category_path": ["Shoes", "Running"]},
    {"item_id": "s3", "title": "Cast iron skillet", "description": "Pre-seasoned frying pan.",
     "category_path": ["Kitchen", "Cookware"]},
    {"item_id": "s4", "title": "Espresso beans, dark roast", "description": "1 kg of coffee.",
     "category_path": ["Grocery", "Coffee"]},
]  # fmt: skip


def test_search_finds_items_by_meaning_and_follows_catalog_edits(
    client: FlaskClient, graph: Driver
) -> None:
    assert client.put("/api/v1/items", json=ITEMS).status_code == 200
    assert embed_item_texts(GraphStore(graph)) == 4
    assert embed_item_texts(GraphStore(graph)) == 0  # nothing changed: nothing re-encoded

    body = client.get("/api/v1/items/search?q=wireless%20headphones%20for%20music&k=3").get_json()
    assert body["query"] == "wireless headphones for music"
    assert [i["item_id"] for i in body["items"]][0] == "s1" and len(body["items"]) == 3
    assert body["items"][0]["title"].startswith("Noise-cancelling")
    top = client.get("/api/v1/items/search?q=something%20to%20fry%20eggs%20in").get_json()
    assert top["items"][0]["item_id"] == "s3"

    # An edited item is re-encoded by the next run and found under its new meaning.
    edit = {"item_id": "s2", "title": "Green tea sampler", "description": "Twelve loose teas."}
    assert client.put("/api/v1/items", json=edit).status_code == 200
    assert embed_item_texts(GraphStore(graph)) == 1
    tea = client.get("/api/v1/items/search?q=a%20selection%20of%20teas&k=1").get_json()
    assert tea["items"][0]["item_id"] == "s2"


def test_search_rejects_a_missing_or_oversized_query(client: FlaskClient) -> None:
    for url in ("/api/v1/items/search", "/api/v1/items/search?q=%20%20",
                "/api/v1/items/search?q=" + "x" * 501):  # fmt: skip
        response = client.get(url)
        assert response.status_code == 400
        assert response.get_json()["error"]["details"]["parameter"] == "q"
    assert client.get("/api/v1/items/search?q=tea&k=0").status_code == 400


def test_worker_warm_up_preloads_the_text_encoder(app: Flask) -> None:
    from app.api.warmup import warm_up_in_background
    from ml.query_encoder import packaged_encoder

    packaged_encoder.cache_clear()
    warm_up_in_background(app).join(timeout=120)
    assert packaged_encoder.cache_info().currsize == 1  # loaded before any search or review
