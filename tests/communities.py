"""Two communities of users and items that share nothing, trained with the inductive model.

A change inside one community cannot reach the other through the graph, which makes "what a
refresh must leave alone" observable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings
from app.training.pipeline import run_training, train_config_from
from graphdb.fold import FoldConfig
from graphdb.store import GraphStore
from tests.conftest import CLEAN_DATA, Neo4jTestServer

START = datetime(2024, 5, 1, tzinfo=UTC)


def community_events(community: str, users: int, items: int, seed: int) -> list[dict[str, Any]]:
    """A community of users who only touch their own community's items."""
    rng = np.random.default_rng(seed)
    rows = []
    for u in range(users):
        for i in rng.choice(items, size=4, replace=False):
            ts = START + timedelta(hours=int(rng.integers(0, 24 * 20)))
            kind = "purchase" if rng.random() < 0.3 else "view"
            rows.append({"user_id": f"{community}-u{u}", "item_id": f"{community}-i{i}",
                         "type": kind, "ts": ts.isoformat()})  # fmt: skip
    return rows


def community_items(community: str, items: int) -> list[dict[str, Any]]:
    return [
        {"item_id": f"{community}-i{i}", "title": f"{community} {i}",
         "category_path": [community, f"{community}-{i % 3}"], "brand": f"brand-{i % 2}"}
        for i in range(items)
    ]  # fmt: skip


def load(driver: Driver, items: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    if items:
        import_items(GraphStore(driver), items, progress=False)
    import_events(GraphStore(driver), events, FoldConfig(), IntakeLimits(), progress=False)


def trained_communities(
    driver: Driver, server: Neo4jTestServer, tmp_path: Path, **overrides: Any
) -> Settings:
    """Loads communities ``a`` and ``b`` (15 users, 12 items each) and trains once."""
    for name, seed in (("a", 1), ("b", 2)):
        load(driver, community_items(name, 12), community_events(name, 15, 12, seed))
    target = server.target
    values: dict[str, Any] = dict(
        neo4j_uri=target.uri, neo4j_password=target.password,
        neo4j_auth=target.password is not None, model_dir=tmp_path / "models",
        train_epochs=3, model_kind="inductive",
    )  # fmt: skip
    values.update(overrides)
    settings = load_settings(**values)
    assert run_training(
        GraphStore(driver), settings, train_config_from(settings), force=True
    ).promoted
    return settings


SHOP_COMMUNITIES, SHOP_USERS, SHOP_ITEMS, SHOP_EVENTS = 4, 30, 40, 8


def separated_shop(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users who only buy within their community; items carry no category, so only the
    interactions tell the communities apart."""
    rng = np.random.default_rng(seed)
    items = [{"item_id": f"c{c}-i{i}", "title": f"item {c}-{i}"}
             for c in range(SHOP_COMMUNITIES) for i in range(SHOP_ITEMS)]  # fmt: skip
    events = [
        {"user_id": f"c{c}-u{u}", "item_id": f"c{c}-i{i}", "type": "purchase",
         "ts": (START + timedelta(minutes=int(rng.integers(0, 60 * 24 * 30)))).isoformat()}
        for c in range(SHOP_COMMUNITIES) for u in range(SHOP_USERS)
        for i in rng.choice(SHOP_ITEMS, size=SHOP_EVENTS, replace=False)
    ]  # fmt: skip
    return items, events


def separated_settings(server: Neo4jTestServer, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings to train on :func:`separated_shop` in seconds (no short-term component)."""
    target = server.target
    return load_settings(**{
        "neo4j_uri": target.uri, "neo4j_password": target.password,
        "neo4j_auth": target.password is not None, "model_dir": tmp_path / "models",
        "train_epochs": 8, "model_kind": "inductive", "short_term_weight": 0.0, **overrides,
    })  # fmt: skip


def trained_shop(
    driver: Driver,
    server: Neo4jTestServer,
    model_dir: Path,
    items: list[dict[str, Any]],
    events: list[dict[str, Any]],
) -> Settings:
    """Empties the graph, loads a shop, trains once (8 epochs, lists off) and returns the
    settings that serve it."""
    driver.execute_query(CLEAN_DATA)
    store = GraphStore(driver)
    import_items(store, items, progress=False)
    import_events(store, events, FoldConfig(), IntakeLimits(), progress=False)
    target = server.target
    settings = load_settings(
        neo4j_uri=target.uri, neo4j_password=target.password,
        neo4j_auth=target.password is not None, model_dir=model_dir,
        train_epochs=8, api_auth=False, rec_lists=False,
    )  # fmt: skip
    assert run_training(store, settings, train_config_from(settings)).promoted
    return settings
