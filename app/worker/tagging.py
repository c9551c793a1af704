"""Keep item tags and users' tag interests current (``interest-graph tags`` and the worker).

One run has two passes, each a page per read and a page per write transaction:

1. items that changed since they were last tagged get their tags re-extracted (``ml.tags``)
   from their title, description and every review; a phrase more than a set share of the
   catalogue's items mention is no tag. The share comes from the graph's phrase counts (every
   item's candidates, ``graphdb.tags``) for the items outside the page, and from the page's own
   new candidates, so the first run over an empty graph already counts its page, and an edited
   item is judged against the whole catalogue. When an item's tags changed, the users who
   interacted with it are marked for the second pass;
2. users with new events or marked ones get their tag interests recomputed
   (``ml.tag_interests``) from their whole event history.

Tags nothing links to any more are then deleted. Both passes only ever replace what they
recompute, so a second run over an unchanged graph writes the same tags and weights.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from graphdb.store import GraphStore
from graphdb.tags import (
    ItemTags,
    ItemTexts,
    PhraseItemCounts,
    TagInterestEdge,
    TagWeight,
    UserHistory,
    UserTagInterests,
)
from ml.tag_interests import UserEvent, tag_interests
from ml.tags import Candidates, PhraseCounts, TagConfig, TaggableItem, candidates, select_tags

log = logging.getLogger(__name__)
BATCH = 500
OVERLAP_S = 5  # re-read writes that started up to this long before the last tagging read


@dataclass(frozen=True)
class TaggingReport:
    """What one run did."""

    items_tagged: int
    items_changed: int
    users_refreshed: int
    tags_deleted: int
    seconds: float

    def summary(self) -> str:
        return (
            f"tags: {self.items_tagged} items tagged ({self.items_changed} changed), "
            f"{self.users_refreshed} users' tag interests refreshed, "
            f"{self.tags_deleted} unused tags deleted in {self.seconds:.1f}s"
        )


def _candidates(item: ItemTexts, config: TagConfig) -> Candidates:
    taggable = TaggableItem(item.item_id, item.title, item.description, item.reviews, item.names)
    return candidates(taggable, config)


def page_catalogue(
    page: list[ItemTexts], found: list[Candidates], graph: PhraseItemCounts
) -> PhraseCounts:
    """The catalogue's phrase counts as they will be once the page is written.

    The graph's counts still hold the page's items as they were (their old mentions, and each
    one among the tagged items if it was tagged): those are taken out, the new ones put in.
    """
    counts = dict(graph.items)
    for item in page:
        for phrase in item.mentions & counts.keys():
            counts[phrase] -= 1
    for item_candidates in found:
        for phrase in item_candidates.phrases:
            counts[phrase] = counts.get(phrase, 0) + 1
    items = graph.tagged_items - sum(item.tagged for item in page) + len(page)
    return PhraseCounts(items, counts)


def _item_rows(store: GraphStore, page: list[ItemTexts], config: TagConfig) -> list[ItemTags]:
    found = [_candidates(item, config) for item in page]
    phrases = sorted(set().union(*(c.phrases for c in found)))
    catalogue = page_catalogue(page, found, store.tags.read_phrase_counts(phrases))
    rows = []
    for item, item_candidates in zip(page, found, strict=True):
        tags = select_tags(item_candidates, config, catalogue)
        new = frozenset((t.tag_id, t.weight, t.source) for t in tags)
        rows.append(ItemTags(
            item_id=item.item_id,
            changed=new != item.current,
            tags=tuple(TagWeight(t.tag_id, t.weight, t.source) for t in tags),
            phrases=tuple(sorted(item_candidates.phrases)),
        ))  # fmt: skip
    return rows


def _user_row(user: UserHistory, half_life_ms: float) -> UserTagInterests:
    events = [UserEvent(*event) for event in user.events]
    interests = tag_interests(events, user.item_tags, half_life_ms)
    edges = (TagInterestEdge(i.tag_id, i.weight, i.count, i.last_ms, i.mentions) for i in interests)
    return UserTagInterests(user.user_id, tuple(edges))


def tag_items(
    store: GraphStore,
    config: TagConfig | None = None,
    everything: bool = False,
    batch: int = BATCH,
    should_stop: Callable[[], bool] | None = None,
    overlap_s: int = OVERLAP_S,
) -> tuple[int, int]:
    """Pass 1: (re)tag items that changed (all with ``everything``); returns (tagged, changed)."""
    config = config or TagConfig()
    tagged = changed = 0
    after = ""
    while should_stop is None or not should_stop():
        page = store.tags.read_items_to_tag(after, batch, overlap_s, everything)
        if not page.rows:
            break
        rows = _item_rows(store, page.rows, config)
        store.tags.write_item_tags(rows, page.read_at)
        tagged += len(rows)
        changed += sum(r.changed for r in rows)
        after = page.last_key
    return tagged, changed


def refresh_tag_interests(
    store: GraphStore,
    half_life_ms: float,
    everything: bool = False,
    batch: int = BATCH,
    should_stop: Callable[[], bool] | None = None,
    overlap_s: int = OVERLAP_S,
) -> int:
    """Pass 2: recompute the tag interests of users whose events or items' tags changed."""
    refreshed, after = 0, ""
    while should_stop is None or not should_stop():
        page = store.tags.read_users_to_refresh(after, batch, overlap_s, everything)
        if not page.rows:
            break
        store.tags.write_tag_interests(
            [_user_row(u, half_life_ms) for u in page.rows], page.read_at
        )
        refreshed += len(page.rows)
        after = page.last_key
    return refreshed


def run_tagging(
    store: GraphStore,
    half_life_ms: float,
    config: TagConfig | None = None,
    everything: bool = False,
    should_stop: Callable[[], bool] | None = None,
    overlap_s: int = OVERLAP_S,
) -> TaggingReport:
    """Both passes, then the removal of tags nothing uses; see the module docstring."""
    started = time.perf_counter()
    passes: dict[str, Any] = {
        "everything": everything, "should_stop": should_stop, "overlap_s": overlap_s
    }  # fmt: skip
    tagged, changed = tag_items(store, config, **passes)
    users = refresh_tag_interests(store, half_life_ms, **passes)
    deleted = store.tags.delete_orphan_tags()
    report = TaggingReport(tagged, changed, users, deleted, time.perf_counter() - started)
    if tagged or users:
        log.info(report.summary())
    return report
