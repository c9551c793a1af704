"""A user's interest in tags, recomputed from their events and their items' tags (pure Python).

Tag interests follow the category and brand interests (``graphdb.fold``): every event adds its
stored contribution (``Interaction.weight``: type weight, stars, review sentiment), decayed with
the same half-life, and the edge keeps its weight as of its newest counted event (``last_ts``)::

    weight = sum(contribution_e * share_e * 2 ** (-(last_ts - ts_e) / half_life))

``share_e`` is how strongly the item carries the tag (its ``HAS_TAG`` weight, in (0, 1]),
or 1.0 when the event is a review whose text names the tag: the user's own words are the
surest sign of what they care about.

**Criticism never raises interest.** A review is critical when its contribution is negative
(few stars, or negative text without stars) or when its text reads as a complaint (sentiment
at or below ``CRITICAL_SENTIMENT``). For a
tag a user named in a critical review of an item, none of that user's *positive*
contributions from that item count toward the tag; the negative ones still do. So buying a
phone and then complaining about its screen lowers (or leaves) the interest in "screen" while
the other tags of the phone still gain from the purchase.

Unlike category folds, tag interests are recomputed whole (an item's tags change when it is
re-tagged, so no past fold could be patched exactly); the result depends only on the events
and the tags, never on the order they are given in.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from ml.phrases import mentioned_phrases

# A review's words count as criticism from halfway to a plain complaint on the sentiment
# scale (ml.sentiment's negative anchor sentences score about -1); factual or neutral wording
# scores mildly negative there, and must not cancel what the purchase says about a tag.
CRITICAL_SENTIMENT = -0.5


@dataclass(frozen=True)
class UserEvent:
    """One stored event of a user: ``contribution`` is ``Interaction.weight``."""

    item_id: str
    type: str
    ts_ms: int
    contribution: float
    text: str | None = None
    sentiment: float | None = None

    @property
    def critical(self) -> bool:
        negative_text = self.sentiment is not None and self.sentiment <= CRITICAL_SENTIMENT
        return self.type == "review" and (self.contribution < 0 or negative_text)


@dataclass(frozen=True)
class TagInterest:
    """One ``(:User)-[:INTERESTED_IN]->(:Tag)`` edge: weight as of ``last_ms``."""

    tag_id: str
    weight: float
    count: int
    last_ms: int
    mentions: int  # events whose own text named the tag


@dataclass
class _Terms:
    terms: list[tuple[int, float]] = field(default_factory=list)
    mentions: int = 0

    def weight(self, half_life_ms: float) -> tuple[float, int]:
        last = max(ts for ts, _ in self.terms)
        total = sum(a * math.pow(2.0, -(last - ts) / half_life_ms) for ts, a in self.terms)
        return total, last


def _mentions(
    events: list[UserEvent], item_tags: Mapping[str, Mapping[str, float]]
) -> list[set[str]]:
    """For each event, the item tags its own review text names."""
    named = []
    for event in events:
        tags = item_tags.get(event.item_id, {})
        named.append(mentioned_phrases(event.text) & tags.keys() if event.text and tags else set())
    return named


def tag_interests(
    events: Iterable[UserEvent],
    item_tags: Mapping[str, Mapping[str, float]],
    half_life_ms: float,
) -> list[TagInterest]:
    """All of one user's tag interests, by tag id (see the module docstring for the rule)."""
    if not half_life_ms > 0:
        raise ValueError("half_life_ms must be positive")
    ordered = sorted(events, key=lambda e: (e.ts_ms, e.item_id, e.type, e.contribution))
    named = _mentions(ordered, item_tags)
    criticised = {
        (event.item_id, tag)
        for event, tags in zip(ordered, named, strict=True)
        if event.critical
        for tag in tags
    }
    by_tag: dict[str, _Terms] = defaultdict(_Terms)
    for event, tags in zip(ordered, named, strict=True):
        for tag, strength in item_tags.get(event.item_id, {}).items():
            amount = event.contribution * (1.0 if tag in tags else strength)
            if amount > 0 and (event.item_id, tag) in criticised:
                continue
            terms = by_tag[tag]
            terms.terms.append((event.ts_ms, amount))
            terms.mentions += tag in tags
    interests = []
    for tag, terms in sorted(by_tag.items()):
        weight, last = terms.weight(half_life_ms)
        interests.append(TagInterest(tag, weight, len(terms.terms), last, terms.mentions))
    return interests
