"""The key-phrase extractor and the tag-interest rule, on hand-written texts (no database)."""

from __future__ import annotations

import pytest

from ml.phrases import mentioned_phrases, singular, stop_words
from ml.tag_interests import UserEvent, tag_interests
from ml.tags import (
    PhraseCounts,
    TagConfig,
    TaggableItem,
    candidates,
    count_phrases,
    extract_tags,
    noun_phrases,
    select_tags,
)

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
    assert [t.tag_id for t in tags] == ["oled screen", "battery life", "camera"]
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


def test_opinions_claims_and_lone_passing_words_are_not_tags() -> None:
    # TextBlob rates "famous" and "bright" subjective: they end a run like a stop word does.
    assert noun_phrases("the famous orange chicken and a bright OLED screen") == [
        "orange chicken", "oled screen"
    ]  # fmt: skip
    assert noun_phrases("a bright OLED screen", max_subjectivity=0.9) == ["bright oled screen"]
    # Only the adjective sense counts: the lexicon's "chicken" (coward) is not this noun.
    assert noun_phrases("grilled chicken") == ["grilled chicken"]
    # Superlatives and comparatives are claims ("finest", "larger"), never modifiers.
    assert noun_phrases("Made from the finest leather and the softest wool.") == [
        "leather", "wool"
    ]  # fmt: skip
    # A one-word tag needs two of the item's texts; a phrase of two words needs one.
    mug = TaggableItem("mug", "Camping mug, enamel", "Made of enamel. Carry it with pride.")
    assert {t.tag_id for t in extract_tags(mug)} == {"camping mug", "enamel"}
    one_text = TagConfig(min_word_documents=1)
    assert "pride" in {t.tag_id for t in extract_tags(mug, one_text)}


PATTERNS = (
    "alfa", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliett",
    "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango",
    "uniform",
)  # fmt: skip


def _catalogue(size: int) -> list[TaggableItem]:
    """``size`` mugs whose texts all say "gift box", each with its own pattern."""
    return [
        TaggableItem(
            f"mug{k}",
            f"Stoneware mug in a gift box, {PATTERNS[k]} glaze",
            f"A {PATTERNS[k]} glaze mug. Ships in a gift box.",
        )  # fmt: skip
        for k in range(size)
    ]


def test_a_phrase_most_of_the_catalogue_shares_is_no_tag() -> None:
    items = _catalogue(21)
    found = [candidates(item) for item in items]
    catalogue = count_phrases(found)
    assert catalogue.items == 21 and catalogue.counts["gift box"] == 21
    assert catalogue.counts["alfa glaze"] == 1
    alone = [t.tag_id for t in select_tags(found[0])]
    shared = select_tags(found[0], catalogue=catalogue)
    assert "gift box" in alone and "stoneware mug" in alone  # on all 21: says nothing of one
    assert [t.tag_id for t in shared] == ["alfa glaze mug", "alfa glaze"]
    assert [t.weight for t in shared] == [1.0, 0.5]  # ranks close up over what was dropped
    # A catalogue of fewer than min_catalog_items items has no frequencies yet.
    small = count_phrases(found[:19])
    assert "gift box" in [t.tag_id for t in select_tags(found[0], catalogue=small)]
    assert not PhraseCounts(100, {"gift box": 10}).too_common("gift box", TagConfig())
    assert PhraseCounts(100, {"gift box": 11}).too_common("gift box", TagConfig())


def test_extraction_is_deterministic_and_bounded() -> None:
    first = extract_tags(PHONE, TagConfig(top_n=2))
    assert first == extract_tags(PHONE, TagConfig(top_n=2)) and len(first) == 2
    shuffled = TaggableItem(PHONE.item_id, PHONE.title, PHONE.description,
                            PHONE.reviews[::-1], PHONE.known_names)  # fmt: skip
    assert {t.tag_id for t in extract_tags(shuffled)} == {t.tag_id for t in extract_tags(PHONE)}
    assert extract_tags(TaggableItem("empty", title="The best, 10/10!!")) == []
    with pytest.raises(ValueError):
        TagConfig(top_n=0)
    with pytest.raises(ValueError, match="max_item_share"):
        TagConfig(max_item_share=1.5)
    assert TagConfig().top_n == 4  # the k-th best of 8 was mostly noise (bench-notes)


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
