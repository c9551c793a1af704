"""Lists ranked in advance: the same answers as live ranking, and never staler than a second.

The lists' freshness window runs on a clock the tests step (:class:`SteppedClock`); only the
feed thread's own polling runs in real time.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from neo4j import Driver

from app.api import create_app
from app.api.wiring import services_of
from app.serving.rec_lists import RecLists
from app.serving.recommend import RecommendationRequest, recommend
from app.settings import Settings
from graphdb.erase import erase_user
from graphdb.fold import FoldConfig
from graphdb.ingest import write_events
from graphdb.reads import Filters
from graphdb.serving_feed import erasure_key, purge_erasures
from tests.communities import START, trained_communities
from tests.conftest import Neo4jTestServer


@pytest.fixture()
def shop(graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path) -> Settings:
    settings = trained_communities(graph, neo4j_server, tmp_path, api_auth=False,
                                   rec_lists_depth=10)  # fmt: skip
    # As if loaded an hour ago: users changed within the feed's 30 s overlap before a build
    # are (rightly) left to the live path, which would leave no list to test here.
    graph.execute_query("MATCH (u:User) SET u.changed_at = u.changed_at - duration('PT1H')")
    return settings


class SteppedClock:
    """Monotonic seconds that move only when a test steps them."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture()
def clock() -> SteppedClock:
    return SteppedClock()


@pytest.fixture()
def app(shop: Settings, clock: SteppedClock) -> Iterator[Flask]:
    # The tests drive the feed themselves: no request starts it behind their back.
    application = create_app(shop, clock=clock, autostart_lists=False)
    yield application
    services_of(application).close()


def _lists(app: Flask) -> RecLists:
    lists = services_of(app).lists
    assert lists is not None
    return lists


def _live(app: Flask, request: RecommendationRequest) -> dict[str, Any]:
    return recommend(request, services_of(app).ranking)


def _items(body: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    return [(item["item_id"], item["reasons"]) for item in body["items"]]


def _purchase(graph: Driver, user_id: str, items: list[str]) -> None:
    """Events written by another process (as the importer or another API worker would)."""
    from app.ingest.validation import IntakeLimits, parse_events

    ts = (START + timedelta(days=30)).isoformat()
    events = [{"user_id": user_id, "item_id": i, "type": "purchase", "ts": ts} for i in items]
    write_events(graph, parse_events(events, IntakeLimits()), FoldConfig())


def test_a_list_ranked_in_advance_is_the_live_answer(app: Flask) -> None:
    lists = _lists(app)
    generation = lists.build()
    assert generation is not None and len(generation.rows) == 30  # every user has a list
    for user_id in ("a-u0", "a-u7", "b-u3"):
        for k, exclude in ((5, ()), (7, ("a-i1", "b-i2", "a-i5"))):
            request = RecommendationRequest(user_id, k, Filters(exclude=list(exclude)))
            cached = lists.answer(request)
            live = _live(app, request)
            assert cached is not None and cached["fallback"] is None
            assert _items(cached) == _items(live) and len(cached["items"]) == k
            assert [i["score"] for i in cached["items"]] == pytest.approx(
                [i["score"] for i in live["items"]], abs=1e-6
            )
            assert not set(exclude) & {i["item_id"] for i in cached["items"]}


def test_requests_a_list_cannot_answer_exactly_are_ranked_live(app: Flask) -> None:
    lists = _lists(app)
    lists.build()
    for request in (
        RecommendationRequest("a-u0", 11),  # deeper than the list (depth 10)
        RecommendationRequest("a-u0", 8, Filters(exclude=["x", "y", "z"])),  # 8 + 3 > 10
        RecommendationRequest("a-u0", 5, Filters(category="a")),
        RecommendationRequest("a-u0", 5, Filters(exclude_seen=False)),
        RecommendationRequest("a-u0", 5, diversity=0.5),
        RecommendationRequest("nobody", 5),  # unknown: the live path's marked fallback
    ):
        assert lists.answer(request) is None
    assert lists.answer(RecommendationRequest("a-u0", 5)) is not None


def test_an_event_written_elsewhere_reaches_the_answers_within_a_second(
    app: Flask, graph: Driver
) -> None:
    lists = _lists(app)
    lists.build()
    api = app.test_client()
    before = api.get("/api/v1/users/a-u0/recommendations?k=5").get_json()
    assert lists.answer(RecommendationRequest("a-u0", 5)) is not None  # served from the list
    bought = [i["item_id"] for i in before["items"][:2]]
    lists.start()  # the feed thread, as in a gunicorn worker

    _purchase(graph, "a-u0", bought)
    written = time.monotonic()
    after = before
    while time.monotonic() - written < 1.0:
        after = api.get("/api/v1/users/a-u0/recommendations?k=5").get_json()
        if not set(bought) & {i["item_id"] for i in after["items"]}:
            break
        time.sleep(0.02)
    assert not set(bought) & {i["item_id"] for i in after["items"]}, "still stale after 1 s"
    assert lists.answer(RecommendationRequest("a-u0", 5)) is None  # ranked live from now on
    assert lists.answer(RecommendationRequest("a-u1", 5)) is not None  # others keep theirs


@pytest.mark.parametrize("read_your_writes", [True, False])
def test_an_event_another_worker_accepted_is_answered_live_before_any_poll(
    shop: Settings, clock: SteppedClock, graph: Driver, read_your_writes: bool
) -> None:
    settings = shop.model_copy(update={"rec_lists_read_your_writes": read_your_writes})
    app = create_app(settings, clock=clock, autostart_lists=False)
    try:
        lists = _lists(app)
        lists.build()
        request = RecommendationRequest("a-u3", 5)
        before = lists.answer(request)
        assert before is not None  # served from the list
        _purchase(graph, "a-u3", [before["items"][0]["item_id"]])  # another worker took it
        # No poll has run: only the per-answer read can know the list is stale now.
        assert (lists.answer(request) is None) is read_your_writes
        assert lists.answer(RecommendationRequest("a-u4", 5)) is not None  # others keep theirs
    finally:
        services_of(app).close()


def test_an_event_accepted_by_this_worker_is_answered_live_at_once(app: Flask) -> None:
    lists = _lists(app)
    lists.build()
    api = app.test_client()
    before = api.get("/api/v1/users/b-u2/recommendations?k=5").get_json()
    bought = before["items"][0]["item_id"]
    ts = (START + timedelta(days=30)).isoformat()
    event = {"user_id": "b-u2", "item_id": bought, "type": "purchase", "ts": ts}
    assert api.post("/api/v1/events", json=event).status_code == 200

    after = api.get("/api/v1/users/b-u2/recommendations?k=5").get_json()  # no poll between
    assert bought not in {i["item_id"] for i in after["items"]}


def test_an_erased_user_is_never_answered_from_a_list(app: Flask, graph: Driver) -> None:
    lists = _lists(app)
    lists.build()
    assert lists.answer(RecommendationRequest("a-u3", 5)) is not None

    salt = services_of(app).erasure_salt
    # Erased through another process (another API worker: same salt).
    assert erase_user(graph, "a-u3", erasure_key("a-u3", salt)).user_found
    lists.poll()

    assert lists.answer(RecommendationRequest("a-u3", 5)) is None
    body = app.test_client().get("/api/v1/users/a-u3/recommendations?k=5").get_json()
    assert body["fallback"] is not None  # unknown now: nothing personal survives
    keys = [r["key"] for r in graph.execute_query("MATCH (e:Erasure) RETURN e.key AS key").records]
    assert keys == [erasure_key("a-u3", salt)] and "a-u3" not in keys[0]
    assert purge_erasures(graph, keep_s=3600) == 0
    assert purge_erasures(graph, keep_s=0) == 1


def test_lists_are_not_served_when_the_feed_has_gone_quiet(app: Flask, clock: SteppedClock) -> None:
    lists = _lists(app)
    lists.build()
    request = RecommendationRequest("a-u0", 5)
    assert lists.answer(request) is not None
    clock.step(1.1)  # no poll for over a second: a change might be waiting unseen

    assert lists.answer(request) is None
    lists.poll()
    assert lists.answer(request) is not None


def test_lists_can_be_switched_off(shop: Settings) -> None:
    application = create_app(shop.model_copy(update={"rec_lists": False}))
    try:
        assert services_of(application).lists is None
        client: FlaskClient = application.test_client()
        body = client.get("/api/v1/users/a-u0/recommendations?k=5").get_json()
        assert body["fallback"] is None and len(body["items"]) == 5
    finally:
        services_of(application).close()


def test_lists_serve_under_a_plain_app_without_any_server_hook(shop: Settings) -> None:
    """No gunicorn hook: the first request that uses the lists starts their change feed."""
    application = create_app(shop)
    lists = services_of(application).lists
    try:
        assert lists is not None and not lists.started
        client: FlaskClient = application.test_client()
        live = client.get("/api/v1/users/a-u0/recommendations?k=5").get_json()
        assert lists.started
        deadline = time.monotonic() + 30  # the feed builds the lists in its own thread
        while lists.answer(RecommendationRequest("a-u0", 5)) is None:
            assert time.monotonic() < deadline, "the lists were never built"
            time.sleep(0.05)
        served = client.get("/api/v1/users/a-u0/recommendations?k=5").get_json()
        cached = lists.answer(RecommendationRequest("a-u0", 5))
        assert cached is not None and _items(served) == _items(cached) == _items(live)
    finally:
        services_of(application).close()


def test_lists_are_rebuilt_after_a_refresh_at_most_every_rebuild_interval(
    app: Flask, graph: Driver, clock: SteppedClock
) -> None:
    lists = _lists(app)
    first = lists.build()
    assert first is not None and not lists.due()
    bump = "MATCH (m:ModelVersion {active: true}) SET m.revision = coalesce(m.revision, 0) + 1"
    graph.execute_query(bump)  # what a refresh that rewrote vectors does
    lists.poll()
    assert not lists.due()  # built under IG_REC_LISTS_REBUILD_S (600 s) ago

    clock.step(601)  # built 10 minutes ago now
    assert lists.due()
    second = lists.build()
    assert second is not None and second.revision == first.revision + 1
    assert not lists.due()
    assert lists.answer(RecommendationRequest("a-u0", 5)) is not None


def test_similar_items_take_the_active_version_from_a_fresh_feed(
    app: Flask, clock: SteppedClock
) -> None:
    from app.serving.similar import similar

    lists = _lists(app)
    lists.poll()
    active = lists.active_model()
    assert active is not None
    serving = services_of(app)
    items, store = serving.ranking.items, serving.store
    from_feed = similar(store, "a-i3", 5, items, active)
    from_graph = similar(store, "a-i3", 5, items)
    assert from_feed == from_graph and len(from_feed.items) == 5
    body = app.test_client().get("/api/v1/items/a-i3/similar?k=5").get_json()
    assert [i["item_id"] for i in body["items"]] == [i.item_id for i in from_feed.items]
    clock.step(1.1)
    assert lists.active_model() is None  # a quiet feed: the graph is asked again


def test_bad_parameters_get_a_400_and_leave_the_lists_as_they_were(app: Flask) -> None:
    lists = _lists(app)
    lists.build()
    api = app.test_client()
    served = lists.answer(RecommendationRequest("a-u0", 5))
    for query, parameter, status in (
        ("k=0", "k", 400), ("k=1001", "k", 400), ("category=nowhere", "category", 404)
    ):  # fmt: skip
        response = api.get(f"/api/v1/users/a-u0/recommendations?{query}")
        assert response.status_code == status, query
        assert parameter in response.get_json()["error"]["message"]
    assert lists.users == 30
    again = lists.answer(RecommendationRequest("a-u0", 5))
    assert again is not None and served is not None and _items(again) == _items(served)


def test_list_settings_out_of_range_stop_start_up_naming_the_setting() -> None:
    from pydantic import ValidationError

    from app.settings import load_settings

    for name, value in (("rec_lists_poll_s", 2.0), ("rec_lists_depth", 0),
                        ("rec_lists_rebuild_s", 1.0)):  # fmt: skip
        with pytest.raises(ValidationError, match=name):
            load_settings(**{name: value})


def test_a_write_begun_before_the_build_yet_committed_after_it_is_not_served(
    app: Flask, graph: Driver
) -> None:
    """``changed_at`` is a transaction's start: a write that began before the build's feed
    read and committed after its catch-up read must still stop the list, with no poll."""
    lists = _lists(app)
    began = graph.execute_query("RETURN datetime.transaction() AS t").records[0]["t"]
    assert lists.build() is not None  # its feed read starts after ``began``
    request = RecommendationRequest("a-u0", 5)
    assert lists.answer(request) is not None
    graph.execute_query("MATCH (u:User {user_id: 'a-u0'}) SET u.changed_at = $began", began=began)
    assert lists.answer(request) is None
    assert lists.answer(RecommendationRequest("a-u1", 5)) is not None
