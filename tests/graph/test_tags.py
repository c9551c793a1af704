"""Tagging on a real server: HAS_TAG edges, users' tag interests, criticism, idempotence."""

from __future__ import annotations

import itertools
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from neo4j import Driver

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.worker.tagging import run_tagging
from graphdb.erase import erase_user
from graphdb.fold import FoldConfig
from graphdb.serving_feed import erasure_key
from graphdb.store import GraphStore
from ml.phrases import mentioned_phrases
from ml.tag_interests import CRITICAL_SENTIMENT
from tests.conftest import require_shared_data

FOLD = FoldConfig()
NOW = datetime.now(UTC).replace(microsecond=0)
ITEMS = [
    {"item_id": "phone", "title": "Pixel phone with long battery life",
     "description": "Battery life of two days. Big screen. Fast camera.",
     "category_path": ["Electronics", "Phones"], "brand": "Pixel"},
    {"item_id": "case", "title": "Leather case",
     "description": "Made of leather, with card slots.",
     "category_path": ["Electronics", "Accessories"], "brand": "Hide"},
]  # fmt: skip


def _at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat()


def _events() -> list[dict[str, Any]]:
    return [
        {"user_id": "fan", "item_id": "phone", "type": "purchase", "ts": _at(10)},
        {"user_id": "fan", "item_id": "phone", "type": "review", "ts": _at(9), "value": 5,
         "text": "Battery life is amazing."},
        {"user_id": "fan", "item_id": "case", "type": "view", "ts": _at(1)},
        {"user_id": "critic", "item_id": "phone", "type": "purchase", "ts": _at(10)},
        {"user_id": "critic", "item_id": "phone", "type": "review", "ts": _at(9), "value": 1,
         "text": "The screen scratches easily."},
    ]  # fmt: skip


def _load(driver: Driver, items: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    import_items(GraphStore(driver), items, progress=False)
    stats = import_events(GraphStore(driver), events, FOLD, IntakeLimits(), progress=False)
    assert stats.created == len(events)


def _tag(driver: Driver, **options: Any) -> Any:
    return run_tagging(GraphStore(driver), FOLD.half_life_ms, overlap_s=0, **options)


def _item_tags(driver: Driver) -> dict[str, dict[str, tuple[float, str]]]:
    records = driver.execute_query(
        "MATCH (i:Item)-[r:HAS_TAG]->(t:Tag) RETURN i.item_id AS item, t.tag_id AS tag, "
        "r.weight AS weight, r.source AS source"
    ).records
    tags: dict[str, dict[str, tuple[float, str]]] = defaultdict(dict)
    for r in records:
        tags[r["item"]][r["tag"]] = (r["weight"], r["source"])
    return dict(tags)


def _interests(driver: Driver) -> dict[str, list[tuple[str, float, int, Any, int]]]:
    """Each user's tag interests, strongest first."""
    records = driver.execute_query(
        "MATCH (u:User)-[r:INTERESTED_IN]->(t:Tag) "
        "RETURN u.user_id AS user, t.tag_id AS tag, r.weight AS weight, r.count AS count, "
        "r.last_ts AS last_ts, r.mentions AS mentions ORDER BY user, weight DESC, tag"
    ).records
    found: dict[str, list[tuple[str, float, int, Any, int]]] = defaultdict(list)
    for r in records:
        found[r["user"]].append((r["tag"], r["weight"], r["count"], r["last_ts"], r["mentions"]))
    return dict(found)


def test_items_get_tags_and_users_get_ordered_tag_interests(graph: Driver) -> None:
    _load(graph, ITEMS, _events())
    report = _tag(graph)
    assert (report.items_tagged, report.items_changed, report.users_refreshed) == (2, 2, 2)
    tags = _item_tags(graph)
    assert list(tags["phone"]) and {"battery life", "screen"} <= set(tags["phone"])
    assert "camera" not in tags["phone"]  # one word, named in one text only ("Fast camera.")
    assert tags["phone"]["battery life"] == (1.0, "review+text")
    assert {"leather", "card slot"} <= set(tags["case"]) and "case" not in tags["case"]
    interests = _interests(graph)
    fan = {tag: weight for tag, weight, *_ in interests["fan"]}
    # The fan bought the phone and praised its battery life in words: that comes first.
    assert interests["fan"][0][0] == "battery life"
    assert fan["battery life"] > fan["screen"] > 0 and fan["leather"] > 0
    assert dict((t, m) for t, *_, m in interests["fan"])["battery life"] == 1


def test_a_tag_named_only_in_a_negative_review_gets_no_positive_interest(graph: Driver) -> None:
    _load(graph, ITEMS, _events())
    _tag(graph)
    critic = {
        tag: (weight, mentions) for tag, weight, _, _, mentions in _interests(graph)["critic"]
    }
    fan = {tag: weight for tag, weight, *_ in _interests(graph)["fan"]}
    assert critic["screen"][0] < 0 and critic["screen"][1] == 1  # panned in their own words
    assert 0 < critic["battery life"][0] < fan["battery life"]  # bought, then rated it 1 star


def test_tagging_twice_gives_the_same_graph_and_skips_what_did_not_change(graph: Driver) -> None:
    _load(graph, ITEMS, _events())
    _tag(graph)
    before = (_item_tags(graph), _interests(graph))
    again = _tag(graph)
    assert (again.items_tagged, again.users_refreshed) == (0, 0)
    everything = _tag(graph, everything=True)
    assert (everything.items_tagged, everything.items_changed, everything.users_refreshed) == (
        2,
        0,
        2,
    )
    assert (_item_tags(graph), _interests(graph)) == before
    tags = graph.execute_query("MATCH (t:Tag) RETURN count(t) AS n").records[0]["n"]
    assert tags == len(set(itertools.chain(*(t for t in before[0].values()))))


def test_a_catalog_edit_retags_the_item_and_refreshes_its_users(graph: Driver) -> None:
    _load(graph, ITEMS, _events())
    _tag(graph)
    edited = {
        **ITEMS[1],
        "title": "Wallet case",
        "description": "Vegan cork with a magnetic clasp.",
    }
    import_items(GraphStore(graph), [edited], progress=False)
    report = _tag(graph)
    assert (report.items_tagged, report.items_changed, report.users_refreshed) == (1, 1, 1)
    assert report.tags_deleted >= 2  # leather and card slot: no item and no user left
    tags = _item_tags(graph)
    assert "leather" not in tags["case"] and {"wallet case", "vegan cork", "magnetic clasp"} <= set(
        tags["case"]
    )
    fan = {tag for tag, *_ in _interests(graph)["fan"]}
    assert "magnetic clasp" in fan and "leather" not in fan
    assert not graph.execute_query("MATCH (t:Tag {tag_id: 'leather'}) RETURN t").records


PATTERNS = (
    "alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform",
)  # fmt: skip
MUGS = [
    {"item_id": f"mug{k:02}", "title": f"Stoneware mug in a gift box, {pattern} glaze",
     "description": f"A {pattern} glaze mug. Ships in a gift box.", "category_path": ["Kitchen"]}
    for k, pattern in enumerate(PATTERNS)
]  # fmt: skip
PHRASE_ITEMS = "MATCH (:Phrase {text: $text})<-[m:MENTIONS]-(:Item) RETURN count(m) AS n"


def test_phrases_the_catalogue_shares_are_no_tags_after_an_edit_too(graph: Driver) -> None:
    import_items(GraphStore(graph), MUGS, progress=False)
    _tag(graph)
    tags = _item_tags(graph)
    assert set(tags) == {mug["item_id"] for mug in MUGS}  # all 21 mugs tagged
    assert all(not {"gift box", "stoneware mug"} & set(t) for t in tags.values())
    assert set(tags["mug00"]) == {"alfa glaze mug", "alfa glaze"}
    assert graph.execute_query(PHRASE_ITEMS, text="gift box").records[0]["n"] == 21
    # An edit re-tags that item alone; the graph's counts, not its page of one, judge it.
    edited = {**MUGS[0], "description": "A alfa glaze mug. Ships in a gift box. Handmade lid."}
    import_items(GraphStore(graph), [edited], progress=False)
    report = _tag(graph)
    assert (report.items_tagged, report.items_changed) == (1, 1)
    assert set(_item_tags(graph)["mug00"]) == {"alfa glaze mug", "alfa glaze", "handmade lid"}
    # A dropped phrase still counts, so it never turns rare: a full re-run changes nothing.
    before = _item_tags(graph)
    assert _tag(graph, everything=True).items_changed == 0 and _item_tags(graph) == before


def test_erasure_takes_the_phrases_counted_from_the_users_review(graph: Driver) -> None:
    review = {"user_id": "victim", "item_id": "mug00", "type": "review", "ts": _at(1),
              "value": 5, "text": "My grandmother in Tromsø loves this mug."}  # fmt: skip
    _load(graph, MUGS[:2], [review])
    _tag(graph)
    phrases = "MATCH (p:Phrase) RETURN p.text AS text"
    assert any("grandmother" in r["text"] for r in graph.execute_query(phrases).records)
    erase_user(graph, "victim", erasure_key("victim", b"s" * 32))
    # The reviewed item's counts go whole (its next tagging re-makes them); others' stay.
    left = {r["text"] for r in graph.execute_query(phrases).records}
    assert left == {"bravo glaze mug", "bravo glaze", "stoneware mug", "gift box", "ship"}


@pytest.mark.shared_data
def test_gift_card_reviews_tag_items_and_respect_criticism(graph: Driver) -> None:
    from app.ingest.sources.datasets import amazon_gift_cards

    stream = amazon_gift_cards(require_shared_data("amazon-gift-cards"))
    events = list(itertools.islice(stream.events(), 1500))
    wanted = {e["item_id"] for e in events}
    # The whole catalogue, as a shop's is: how widely a phrase is shared is judged over it.
    catalogue = list(stream.items())
    _load(graph, catalogue, events)
    report = _tag(graph)
    assert report.items_tagged == len(catalogue) and report.users_refreshed > 100
    tags = _item_tags(graph)
    # One-word tags need two texts, and common phrases go: a few items keep none.
    assert len(wanted & set(tags)) >= 0.85 * len(wanted) and len(tags) >= 0.85 * len(catalogue)
    in_category = {i["item_id"] for i in catalogue if "Gift Cards" in i["category_path"]}
    every = [tag for item, item_tags in tags.items() if item in in_category for tag in item_tags]
    assert "gift card" not in every  # the category, "where", is not a tag
    assert all(len(item) <= 4 and max(w for w, _ in item.values()) == 1.0 for item in tags.values())
    _check_criticism(graph, tags)


def _check_criticism(graph: Driver, tags: dict[str, dict[str, tuple[float, str]]]) -> None:
    """A tag a user named only in critical reviews, on their only item with it, is not liked."""
    records = graph.execute_query(
        "MATCH (u:User)-[:PERFORMED]->(x:Interaction {type: 'review'})-[:ON]->(i:Item) "
        "WHERE x.weight < 0 OR x.sentiment <= $bound "
        "RETURN u.user_id AS user, i.item_id AS item, x.text AS text",
        bound=CRITICAL_SENTIMENT,
    ).records
    interests = {(u, t): w for u, rows in _interests(graph).items() for t, w, *_ in rows}
    holders: dict[str, set[str]] = defaultdict(set)
    for item, item_tags in tags.items():
        for tag in item_tags:
            holders[tag].add(item)
    checked = 0
    for r in records:
        for tag in mentioned_phrases(r["text"]) & set(tags.get(r["item"], {})):
            users_items = graph.execute_query(
                "MATCH (:User {user_id: $u})-[:INTERACTED]->(i:Item) RETURN i.item_id AS id",
                u=r["user"],
            ).records
            if {x["id"] for x in users_items} & holders[tag] == {r["item"]}:
                assert interests.get((r["user"], tag), 0.0) <= 0.0, (r["user"], tag)
                checked += 1
    assert checked > 0, "the slice has no critical review naming one of its item's tags"
