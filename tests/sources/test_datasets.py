"""Dataset mappers: counts against the data README, determinism, shapes and privacy."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from collections.abc import Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import pytest

from app.ingest.sources.datasets import (
    BEAUTY_ROOT,
    GOWALLA_TEST_TS,
    GOWALLA_TRAIN_TS,
    amazon_beauty,
    amazon_gift_cards,
    beauty_items,
    gift_card_item,
    gowalla,
    open_dataset,
)
from app.ingest.sources.text import clean_category_path, clean_text, parse_price
from app.settings import shared_data_dir

from .shapes import assert_shapes, needs_shared

DATA = shared_data_dir()


def digest(events: Iterable[dict[str, Any]]) -> str:
    hasher = hashlib.sha256()
    for event in events:
        hasher.update(json.dumps(event, sort_keys=True).encode())
    return hasher.hexdigest()


# --------------------------------------------------------------------------- no data needed


def test_shared_data_dir_honours_env_override(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("IG_SHARED_DATA", str(tmp_path))
    assert shared_data_dir() == tmp_path
    monkeypatch.delenv("IG_SHARED_DATA")
    assert shared_data_dir() == Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_open_dataset_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="unknown dataset"):
        open_dataset("movielens")


def test_missing_dataset_files_raise_file_not_found(tmp_path: Path) -> None:
    for mapper in (gowalla, amazon_beauty, amazon_gift_cards):
        with pytest.raises(FileNotFoundError):
            mapper(tmp_path)


def test_beauty_attribute_ids_become_brand_and_category_path() -> None:
    # S3-Rec layout: [brand] + category path(s) without the root. 10, 11 are categories
    # (seen after position 0), 100/101 brands; item 4 has no brand and a second path.
    lists = {1: [100, 10, 11], 2: [101, 10, 11], 3: [100, 10], 4: [10, 11, 20, 21], 5: [20, 21]}
    items = {item["item_id"]: item for item in beauty_items(lists)}
    assert items["beauty:i1"]["category_path"] == [BEAUTY_ROOT, "cat-10", "cat-11"]
    assert items["beauty:i1"]["brand"] == "brand-100"
    assert items["beauty:i4"]["brand"] is None
    assert items["beauty:i4"]["category_path"] == [BEAUTY_ROOT, "cat-10", "cat-11"]
    assert items["beauty:i4"]["attributes"] == {
        "attr_ids": "10,11,20,21",
        "other_category_ids": "20,21",
    }
    assert items["beauty:i5"]["category_path"] == [BEAUTY_ROOT, "cat-20", "cat-21"]
    assert_shapes([], list(items.values()))


def test_gift_card_item_cleans_scraped_metadata() -> None:
    product = {
        "asin": "B0TEST",
        "title": " Maggiano&#39;s Gift Card &amp;amp; Box",
        "description": [
            "<div>Great <b>food</b></div>",
            "Statements regarding dietary supplements x",
        ],
        "category": ["Gift Cards", "Gift Cards", "No expiration, no fees.", "Extra"],
        "brand": "",
        "price": "$10.00 - $20.00",
        "main_cat": '<img src="x.png" alt="AMAZON FASHION"/>',
    }
    item = gift_card_item(product)
    assert item["title"] == "Maggiano's Gift Card & Box"
    assert item["description"] == "Great food"
    assert item["category_path"] == ["Gift Cards"]
    assert item["brand"] is None and item["price"] is None and item["attributes"] == {}


@pytest.mark.parametrize(
    ("raw", "price"),
    [
        ("$25.00", 25.0),
        ("$1,250.00", 1250.0),
        ("7", 7.0),
        (19.5, 19.5),
        ("", None),
        ("$10.00 - $20.00", None),
        (".a-box-inner{background-color:#fff}", None),
        (None, None),
        (-3, None),
        ("$1,25.00", None),
    ],
)
def test_parse_price(raw: object, price: float | None) -> None:
    assert parse_price(raw) == price


def test_text_cleaning_helpers() -> None:
    assert clean_text("  a &lt;b&gt; <br/>  c  ") == "a c"  # escaped tags are still tags
    assert clean_text("Tom &amp;amp; Jerry") == "Tom & Jerry"  # double-escaped
    assert clean_text("<p></p>") is None
    assert clean_category_path(["Gift Cards", "Gift Cards", "</span>", "Gift Cards"]) == [
        "Gift Cards"
    ]
    assert clean_category_path(["A &amp; B", "Sub"]) == ["A & B", "Sub"]


# --------------------------------------------------------------------------- Gowalla


@pytest.mark.shared_data
@needs_shared("gowalla")
def test_gowalla_train_matches_readme_counts_and_is_deterministic() -> None:
    stream = gowalla(DATA / "gowalla")
    users: set[str] = set()
    ids: set[str] = set()
    hasher = hashlib.sha256()
    for event in stream.events():
        users.add(event["user_id"])
        ids.add(event["event_id"])
        hasher.update(event["event_id"].encode())
        assert event["type"] == "purchase" and event["ts"] == GOWALLA_TRAIN_TS
    assert len(ids) == 810_128 == stream.approx_event_count()
    assert len(users) == 29_858
    again = hashlib.sha256()
    for event in gowalla(DATA / "gowalla").events():
        again.update(event["event_id"].encode())
    assert again.hexdigest() == hasher.hexdigest()


@pytest.mark.shared_data
@needs_shared("gowalla")
def test_gowalla_items_test_split_and_shapes() -> None:
    stream = gowalla(DATA / "gowalla", split="all")
    items = list(stream.items())
    assert len(items) == 40_981 == stream.approx_item_count()
    assert len({item["item_id"] for item in items}) == 40_981
    counts = Counter(event["ts"] for event in stream.events())
    assert counts == {GOWALLA_TRAIN_TS: 810_128, GOWALLA_TEST_TS: 217_242}
    sample = list(islice(gowalla(DATA / "gowalla", split="test").events(), 2000))
    assert sample[0]["event_id"].startswith("gowalla:test:")
    assert_shapes(sample, items)


# --------------------------------------------------------------------------- Amazon Beauty


@pytest.mark.shared_data
@needs_shared("amazon-beauty")
def test_beauty_events_keep_each_users_order_with_increasing_times() -> None:
    folder = DATA / "amazon-beauty"
    expected: dict[str, list[str]] = {}
    for line in (folder / "Beauty.txt").read_text().split("\n"):
        if line.strip():
            user, *items = line.split()
            expected[f"beauty:u{user}"] = [f"beauty:i{item}" for item in items]
    stream = amazon_beauty(folder)
    seen: dict[str, list[dict[str, Any]]] = {}
    for event in stream.events():
        seen.setdefault(event["user_id"], []).append(event)
    assert len(seen) == 22_363
    assert sum(len(events) for events in seen.values()) == 198_502 == stream.approx_event_count()
    for user, events in seen.items():
        assert [e["item_id"] for e in events] == expected[user]
        stamps = [e["ts"] for e in events]
        assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
        assert stamps[-1] == "2014-07-01T00:00:00Z"
    all_events = [e for events in seen.values() for e in events]
    assert len({e["event_id"] for e in all_events}) == len(all_events)
    assert digest(all_events) == digest(amazon_beauty(folder).events())
    assert_shapes(all_events[:5000], [])


@pytest.mark.shared_data
@needs_shared("amazon-beauty")
def test_beauty_items_recover_six_departments_and_keep_raw_ids() -> None:
    folder = DATA / "amazon-beauty"
    raw = json.loads((folder / "Beauty_item2attributes.json").read_text())
    items = list(amazon_beauty(folder).items())
    assert len(items) == 12_101
    assert_shapes([], items)
    departments = Counter(i["category_path"][1] for i in items if len(i["category_path"]) > 1)
    assert len(departments) == 6
    assert sum(departments.values()) >= 12_000
    for item in items:
        original = raw[item["item_id"].removeprefix("beauty:i")]
        assert item["attributes"]["attr_ids"] == ",".join(map(str, original))
    used = {a for i in items for a in i["attributes"]["attr_ids"].split(",")}
    assert len(used) == 637
    brands = {i["brand"] for i in items if i["brand"]}
    categories = {s for i in items for s in i["category_path"][1:]}
    assert not brands & categories and 300 < len(brands) < 637


# --------------------------------------------------------------------------- Amazon Gift Cards


def raw_reviews(folder: Path) -> list[dict[str, Any]]:
    with gzip.open(folder / "Gift_Cards_5.json.gz", "rt", encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.shared_data
@needs_shared("amazon-gift-cards")
def test_gift_cards_reviews_purchases_and_counts() -> None:
    folder = DATA / "amazon-gift-cards"
    reviews = raw_reviews(folder)
    stream = amazon_gift_cards(folder)
    events = list(stream.events())
    kinds = Counter(e["type"] for e in events)
    assert kinds["review"] == 2_972
    assert kinds["purchase"] == sum(1 for r in reviews if r["verified"] is True)
    assert len(events) == stream.approx_event_count()
    assert len({e["user_id"] for e in events}) == 458
    assert len({e["item_id"] for e in events}) == 148
    assert len({e["event_id"] for e in events}) == len(events)  # incl. same-day double reviews
    assert digest(events) == digest(amazon_gift_cards(folder).events())
    assert_shapes(events, [])
    stamps = sorted(e["ts"] for e in events)
    assert stamps[0].startswith("2012-") and stamps[-1].startswith("2018-")
    first = next(e for e in events if e["type"] == "review")
    assert first["value"] == reviews[0]["overall"]
    assert first["text"] == f"{reviews[0]['summary']}\n{reviews[0]['reviewText']}"


@pytest.mark.shared_data
@needs_shared("amazon-gift-cards")
def test_gift_cards_never_emit_personal_data() -> None:
    folder = DATA / "amazon-gift-cards"
    names = {r["reviewerName"] for r in raw_reviews(folder) if r.get("reviewerName")}
    for event in amazon_gift_cards(folder).events():
        assert set(event) <= {"event_id", "user_id", "item_id", "type", "ts", "value", "text"}
        for key in ("event_id", "user_id", "item_id"):
            assert not any(name in event[key] for name in names if len(name) > 3), event


@pytest.mark.shared_data
@needs_shared("amazon-gift-cards")
def test_gift_card_catalog_is_cleaned() -> None:
    folder = DATA / "amazon-gift-cards"
    reviewed = list(amazon_gift_cards(folder).items())
    everything = {i["item_id"]: i for i in amazon_gift_cards(folder, catalog="all").items()}
    assert len(reviewed) == 148 and len(everything) == 1_547
    assert_shapes([], list(everything.values()))
    titles = [i["title"] for i in everything.values() if i["title"]]
    assert "Maggiano's Gift Card" in titles
    assert not [t for t in titles if "&#" in t or "&amp;" in t or "&gt;" in t]
    assert everything["giftcards:iB001H53QE4"]["price"] == 1250.0
    segments = {s for i in everything.values() for s in i["category_path"]}
    assert segments == {"Gift Cards", "Gift Card Accessories"}
    # Only 527 of the 1,547 records name a brand; blanks must become None, not "".
    assert sum(1 for i in everything.values() if i["brand"]) == 527
