"""Recommendations follow the interest graph, through the API on real Neo4j: when a user's
interests move their list moves with the evidence, and one stray event does not overturn it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.wiring import services_of
from app.settings import Settings
from tests.communities import trained_shop
from tests.conftest import Neo4jTestServer

CATEGORIES, PER_CATEGORY, USERS_PER_CATEGORY, HISTORY = 8, 80, 12, 25
MONTH_AGO = datetime.now(UTC) - timedelta(days=30)


def _popular_pick(rng: np.random.Generator, category: int, taken: set[str]) -> str:
    """An item of ``category`` not yet taken, popularity falling as a power law of its rank."""
    ranks = np.arange(1, PER_CATEGORY + 1, dtype=np.float64) ** -1.1
    for rank in rng.choice(PER_CATEGORY, size=PER_CATEGORY, replace=False, p=ranks / ranks.sum()):
        item = f"s{category}-i{rank}"
        if item not in taken:
            return item
    raise AssertionError("category exhausted")


def _shop(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users who each spent last month in one category (views, some carts and purchases)."""
    rng = np.random.default_rng(seed)
    items = [{"item_id": f"s{c}-i{i}", "title": f"item {i} of category {c}",
              "category_path": ["Shop", f"Category {c}"]}
             for c in range(CATEGORIES) for i in range(PER_CATEGORY)]  # fmt: skip
    events = []
    for c in range(CATEGORIES):
        for u in range(USERS_PER_CATEGORY):
            taken: set[str] = set()
            for n in range(HISTORY):
                item = _popular_pick(rng, c, taken)
                taken.add(item)
                kind = rng.choice(["view", "view", "view", "cart", "purchase"])
                ts = MONTH_AGO + timedelta(hours=n)
                events.append({"user_id": f"s{c}-u{u}", "item_id": item, "type": str(kind),
                               "ts": ts.isoformat()})  # fmt: skip
    return items, events


@pytest.fixture(scope="module")
def shop_settings(
    driver: Driver, neo4j_server: Neo4jTestServer, tmp_path_factory: pytest.TempPathFactory
) -> Settings:
    items, events = _shop(seed=21)
    return trained_shop(driver, neo4j_server, tmp_path_factory.mktemp("models"), items, events)


@pytest.fixture()
def api(shop_settings: Settings) -> Iterator[FlaskClient]:
    app = create_app(shop_settings)
    yield app.test_client()
    services_of(app).close()


def _share(client: FlaskClient, user: str, category: int) -> float:
    body = client.get(f"/api/v1/users/{user}/recommendations?k=20").get_json()
    assert body["fallback"] is None and len(body["items"]) == 20, body
    return sum(i["item_id"].startswith(f"s{category}-") for i in body["items"]) / 20


def _buy(client: FlaskClient, user: str, item: str, minutes: int) -> None:
    ts = datetime.now(UTC) - timedelta(minutes=60 - minutes)
    event = {"user_id": user, "item_id": item, "type": "purchase", "ts": ts.isoformat()}
    assert client.post("/api/v1/events", json=event).status_code == 200


@pytest.mark.parametrize("user_no", [0, 5])
def test_a_moving_interest_moves_the_list_with_the_evidence(api: FlaskClient, user_no: int) -> None:
    """Rule (a): the new category holds half the list by the third purchase and its share
    never falls while same-category evidence grows."""
    user, home, new = f"s1-u{user_no}", 1, 6
    assert _share(api, user, home) >= 0.5 and _share(api, user, new) == 0.0
    rng, taken, shares = np.random.default_rng(user_no), set[str](), []
    for step in range(8):
        item = _popular_pick(rng, new, taken)
        taken.add(item)
        _buy(api, user, item, minutes=step)
        shares.append(_share(api, user, new))
    assert shares[2] >= 0.5, shares
    assert all(b >= a for a, b in zip(shares, shares[1:], strict=False)), shares


def test_one_stray_event_keeps_the_established_interest(api: FlaskClient) -> None:
    """Rule (b): a user with 25 events in their category who makes ONE event elsewhere keeps
    at least half of the list in it."""
    for user_no in range(3):
        user = f"s3-u{user_no}"
        _buy(api, user, "s5-i1", minutes=0)
        assert _share(api, user, 3) >= 0.5
        assert _share(api, user, 5) > 0.0  # the stray event is heard, in proportion


def test_a_shop_whose_shoppers_pick_by_popularity_orders_a_new_category_so(
    api: FlaskClient,
) -> None:
    """The version chose on its holdout to order a category by its popularity (these
    shoppers pick by it), so one purchase in a new category brings its popular head."""
    services = services_of(api.application)
    active = services.store.embeddings.active_version()
    assert active is not None
    chosen = services.store.reads.category_order(active.version)
    assert (chosen.popularity_events or 0.0) >= 10, chosen
    user, new = "s2-u0", 7
    _buy(api, user, f"s{new}-i0", minutes=0)
    body = api.get(f"/api/v1/users/{user}/recommendations?k=20").get_json()
    ranks = [int(i["item_id"].split("-i")[1]) for i in body["items"]
             if i["item_id"].startswith(f"s{new}-")]  # fmt: skip
    assert ranks and float(np.mean(ranks)) < 15, ranks  # uniform picks average about 40


def test_a_shop_whose_shoppers_keep_to_their_categories_keeps_lists_shared_out(
    api: FlaskClient,
) -> None:
    """The version judged on its holdout how much of a list the categories share out: these
    shoppers' next items lie in their category, so the categories keep all of it."""
    services = services_of(api.application)
    active = services.store.embeddings.active_version()
    assert active is not None
    assert active.metrics["category_share_cases"] > 0, active.metrics
    assert active.metrics["category_share_hr_1_1"] >= active.metrics["category_share_hr_0_1"]
    chosen = services.store.reads.category_order(active.version)
    assert (chosen.interest_share, chosen.session_share) == (1.0, 1.0)
