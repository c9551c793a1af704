"""A brand-new item with no interactions is placed by its text: end to end, real encoder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import torch
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.wiring import EXTENSION_KEY
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from app.training.text_index import embed_item_texts
from app.worker.refresh import IncrementalRefresher
from graphdb.store import GraphStore
from tests.communities import load
from tests.conftest import Neo4jTestServer

START = datetime(2024, 3, 1, tzinfo=UTC)
THEMES = {
    "coffee": [
        "Dark roast espresso coffee beans", "Ethiopian single origin coffee beans",
        "Ceramic pour-over coffee dripper", "Burr grinder for coffee beans",
        "Stainless steel milk frothing pitcher", "Decaf Colombian ground coffee",
        "Cold brew coffee maker", "Paper coffee filters, 100 pack",
    ],
    "running": [
        "Trail running shoes with grippy soles", "Breathable running socks",
        "GPS running watch with heart rate", "Reflective running vest for night runs",
        "Hydration belt for long runs", "Compression running tights",
        "Lightweight running cap", "Foam roller for sore legs after running",
    ],
}  # fmt: skip
NEW_ITEMS = {
    "new-coffee": "Medium roast whole bean coffee",
    "new-running": "Marathon running shoes",
}


def _shop() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Two groups of shoppers who only buy within their theme; items have text, nothing else."""
    rng = np.random.default_rng(5)
    items, events = [], []
    for theme, titles in THEMES.items():
        items += [{"item_id": f"{theme}-{k}", "title": t} for k, t in enumerate(titles)]
        for u in range(12):
            for k in rng.choice(len(titles), 4, replace=False):
                ts = START + timedelta(hours=int(rng.integers(0, 500)))
                events.append({"user_id": f"{theme}-u{u}", "item_id": f"{theme}-{k}",
                               "type": "purchase", "ts": ts.isoformat()})  # fmt: skip
    return items, events


def _settings(server: Neo4jTestServer, tmp_path: Path) -> Settings:
    target = server.target
    return load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password,
        neo4j_auth=target.password is not None, model_dir=tmp_path / "models",
        model_kind="inductive", train_epochs=20, train_id_dropout=0.5,
        short_term_weight=0.0, api_auth=False,
    )  # fmt: skip


def _rank(client: FlaskClient, user_id: str) -> list[str]:
    response = client.get(f"/api/v1/users/{user_id}/recommendations?k=100")
    assert response.status_code == 200, response.get_json()
    return [item["item_id"] for item in response.get_json()["items"]]


def test_a_new_item_is_recommended_to_the_people_its_text_suits(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    settings = _settings(neo4j_server, tmp_path)
    load(graph, *_shop())
    assert run_training(
        GraphStore(graph), settings, train_config_from(settings), force=True
    ).promoted
    new = [{"item_id": item_id, "title": title} for item_id, title in NEW_ITEMS.items()]
    load(graph, new, [])
    assert embed_item_texts(GraphStore(graph)) == 2  # the new items' text, nothing else was edited
    report = IncrementalRefresher(GraphStore(graph), settings, device=torch.device("cpu")).run()
    assert report.skipped_reason is None

    app = create_app(settings)
    try:
        client = app.test_client()
        for theme, other in (("coffee", "running"), ("running", "coffee")):
            placed = 0
            for u in range(12):
                ranking = _rank(client, f"{theme}-u{u}")
                assert f"new-{theme}" in ranking and f"new-{other}" in ranking
                placed += ranking.index(f"new-{theme}") < ranking.index(f"new-{other}")
            assert placed >= 11, f"{theme}: new item of the theme first for {placed}/12 users"
    finally:
        app.extensions[EXTENSION_KEY].close()
