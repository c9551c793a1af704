"""The key-phrase extractor and the tag-interest rule, on hand-written texts (no database)."""

from __future__ import annotations

import pytest

from ml.phrases import mentioned_phrases, singular, stop_words
from ml.tag_interests import UserEvent, tag_interests
from ml.tags import TagConfig, TaggableItem, extract_tags, noun_phrases

HALF_LIFE_MS = 30 * 86_400_000.0
DAY_MS = 86_400_000
PHONE = TaggableItem(
    "phone",
    title="Pixel phone with long battery life",
    description="A bright OLED screen, a fast camera and two days of battery life.",
    reviews=(
        "The battery life is great but the screen scratches easily.",
        "Camera is superb. Battery life could be better.",
        "My daughter loves the camera.",
    ),
    known_names=("Electronics", "Phones", "Pixel"),
)


def test_candidates_are_noun_phrases_cut_at_stop_and_opinion_words() -> None:
    text = "The battery life is great but the screen scratches easily"
    assert noun_phrases(text) == ["battery life", "screen"]
    # Verbs, bare adjectives and vague nouns are never tags (issue 22: "include", "described",
    # "age"); a hyphenated word stays one word ("self-care", not "self" and "care").
    described = "Includes a rustic self-care kit for ages 3 and up, as described."
    assert noun_phrases(described) == ["rustic self-care kit"]
    assert noun_phrases("Single physical card, classic black") == ["single physical card"]
    # After the head noun only nouns go on: "including" starts no phrase of its own.
    assert noun_phrases("Use it at theaters including Regal and AMC.") == [
        "theater", "regal", "amc"
    ]  # fmt: skip


def test_junk_is_dropped_and_plurals_are_made_singular() -> None:
    phrases = noun_phrases("5 stars!! Two gift cards, 100 dollars... and the batteries: ok")
    assert phrases == ["gift card", "dollar", "battery"]
    assert not set(" ".join(phrases).split()) & stop_words()
    assert [singular(w) for w in ("glass", "christmas", "boxes", "movies", "knives")] == [
        "glass", "christmas", "box", "movie", "knife"
    ]  # fmt: skip


def test_title_case_is_read_as_words_not_names() -> None:
    # Title Case would make every unknown word a proper noun; the words are tagged as such.
    title = "Gift Card in a Diamond Plate Tin (Classic Black Card Design)"
    assert noun_phrases(title, also_stop=frozenset({"gift", "card"})) == [
        "diamond plate tin", "design"
    ]  # fmt: skip


def test_long_runs_keep_their_head_and_mentions_give_every_sub_phrase() -> None:
    assert noun_phrases("a soft plush toy storage box", max_words=3) == ["toy storage box"]
    assert {"screen", "phone screen", "phone"} <= mentioned_phrases("the phone screen cracked")
    assert mentioned_phrases(None) == set()


def test_item_tags_rank_by_yake_and_skip_where_words() -> None:
    tags = extract_tags(PHONE)
    # YAKE ranks the catalog's own noun phrases; weights go by rank: 1, 1/2, 1/3.
    assert [t.tag_id for t in tags] == ["bright oled screen", "battery life", "camera"]
    assert [t.weight for t in tags] == pytest.approx([1.0, 1 / 2, 1 / 3])
    assert [t.source for t in tags] == ["text", "review+text", "review+text"]
    # "phone" and "pixel" are the item's category and brand ("where"), never its tags;
    # "screen" and "daughter" are each one reviewer's word on an item with three reviews.
    words = set(" ".join(t.tag_id for t in tags).split())
    assert not {"phone", "pixel", "daughter"} & words and "screen" not in [t.tag_id for t in tags]
    second = "Screen is too dim outdoors."
    more = TaggableItem("phone", PHONE.title, PHONE.description, (*PHONE.reviews, second),
                        PHONE.known_names)  # fmt: skip
    by_id = {t.tag_id: t for t in extract_tags(more)}
    assert by_id["screen"].source == "review"  # two reviewers named it now


def test_extraction_is_deterministic_and_bounded() -> None:
    first = extract_tags(PHONE, TagConfig(top_n=2))
    assert first == extract_tags(PHONE, TagConfig(top_n=2)) and len(first) == 2
    shuffled = TaggableItem(PHONE.item_id, PHONE.title, PHONE.description,
                            PHONE.reviews[::-1], PHONE.known_names)  # fmt: skip
    assert {t.tag_id for t in extract_tags(shuffled)} == {t.tag_id for t in extract_tags(PHONE)}
    assert extract_tags(TaggableItem("empty", title="The best, 10/10!!")) == []
    with pytest.raises(ValueError):
        TagConfig(top_n=0)


def _event(item: str, kind: str, day: int, weight: float, **extra: object) -> UserEvent:
    return UserEvent(item, kind, day * DAY_MS, weight, **extra)  # type: ignore[arg-type]


ITEM_TAGS = {"phone": {"battery life": 1.0, "screen": 0.5}, "case": {"leather": 1.0}}


def test_interest_follows_event_weights_tag_strength_and_decay() -> None:
    events = [_event("phone", "purchase", 0, 8.0), _event("case", "view", 30, 1.0)]
    got = {i.tag_id: i for i in tag_interests(events, ITEM_TAGS, HALF_LIFE_MS)}
    assert got["battery life"].weight == pytest.approx(8.0)
    assert got["screen"].weight == pytest.approx(4.0)  # the item's tag weight scales it
    assert got["leather"].weight == pytest.approx(1.0) and got["leather"].last_ms == 30 * DAY_MS
    later = [*events, _event("phone", "view", 30, 1.0)]
    again = {i.tag_id: i for i in tag_interests(later, ITEM_TAGS, HALF_LIFE_MS)}
    assert again["battery life"].weight == pytest.approx(8.0 * 0.5 + 1.0)  # decayed to day 30
    assert again["battery life"].count == 2


def test_a_tag_criticised_in_a_review_gains_nothing_from_that_item() -> None:
    bought = _event("phone", "purchase", 0, 8.0)
    panned = _event("phone", "review", 1, -4.8, text="The screen scratches easily.",
                    sentiment=-0.6)  # fmt: skip
    got = {i.tag_id: i for i in tag_interests([bought, panned], ITEM_TAGS, HALF_LIFE_MS)}
    assert got["screen"].weight < 0 and got["screen"].mentions == 1
    assert got["battery life"].weight > 0  # the purchase still counts for what was not panned
    # Stars can be positive while the words are not: the tag still gains nothing.
    mixed = _event("phone", "review", 1, 3.0, text="Screen is awful.", sentiment=-0.5)
    got = {i.tag_id: i for i in tag_interests([bought, mixed], ITEM_TAGS, HALF_LIFE_MS)}
    assert "screen" not in got and got["battery life"].weight > 8.0


def test_praise_counts_at_full_strength_and_order_does_not_matter() -> None:
    praised = _event("phone", "review", 2, 6.0, text="Love the screen", sentiment=0.6)
    events = [_event("phone", "view", 0, 1.0), praised]
    got = {i.tag_id: i for i in tag_interests(events, ITEM_TAGS, HALF_LIFE_MS)}
    assert got["screen"].weight == pytest.approx(6.0 + 0.5 * 2 ** (-2 / 30))
    assert tag_interests(events[::-1], ITEM_TAGS, HALF_LIFE_MS) == tag_interests(
        events, ITEM_TAGS, HALF_LIFE_MS
    )
