"""Tags in the graph: which items and users need (re)tagging, and writing what was computed.

``(:Item)-[:HAS_TAG {weight, source}]->(:Tag {tag_id, name})`` says what an item is about;
``(:User)-[:INTERESTED_IN {weight, count, last_ts, mentions}]->(:Tag)`` what a user likes;
``(:Item)-[:MENTIONS]->(:Phrase {text})`` every candidate tag an item's texts gave, so that how
many items share a phrase (its degree) is one lookup: the extractor drops the catalogue's
common phrases. Counting candidates, not tags, keeps that stable: a phrase dropped as common
still counts, so dropping it never makes it rare.
The phrases and weights are computed outside this package (``ml.tags``, ``ml.tag_interests``);
here they are only read and written, a page per managed transaction, as plain rows.

Change tracking: an item is (re)tagged when it never was (``tagged_at`` is null) or when it
changed (``changed_at``: a catalog upsert, a new event such as a review, an erased reviewer)
after ``tagged_at`` minus an overlap margin. ``tagged_at`` is the clock of the read that saw
the item's text, so a write that committed after that read is seen by the next run; the margin
covers transactions that started before the read and committed after it (``changed_at`` is a
transaction's *start* time). Users are refreshed the same way (``tag_interests_at``), and an
item whose tags changed clears ``tag_interests_at`` of every user who interacted with it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Generic, TypeVar

from neo4j import Driver, ManagedTransaction, RoutingControl

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.params import batch_rows

T = TypeVar("T")

# A page of items to tag, after a cursor, with everything the extractor reads and the tags
# they have now (to tell whether re-tagging changed anything).
READ_ITEMS_TO_TAG = """
MATCH (i:Item)
WHERE i.item_id > $after
  AND ($everything OR i.tagged_at IS NULL
       OR i.changed_at > i.tagged_at - duration({seconds: $overlap_s}))
WITH i ORDER BY i.item_id LIMIT $batch
RETURN i.item_id AS item_id, i.title AS title, i.description AS description,
       COLLECT { MATCH (i)-[:IN_CATEGORY]->(c:Category) UNWIND c.path AS name RETURN name }
         + COLLECT { MATCH (i)-[:BY_BRAND]->(b:Brand) RETURN b.name } AS names,
       COLLECT { MATCH (i)<-[:ON]-(x:Interaction {type: 'review'}) WHERE x.text IS NOT NULL
                 RETURN x.text ORDER BY x.event_id } AS reviews,
       [(i)-[r:HAS_TAG]->(t:Tag) | [t.tag_id, r.weight, r.source]] AS current,
       [(i)-[:MENTIONS]->(p:Phrase) | p.text] AS mentions, i.tagged_at IS NOT NULL AS tagged,
       datetime.transaction() AS read_at
"""
# How many tagged items there are and how many items mention each phrase (its degree).
READ_PHRASE_COUNTS = """
CALL () { MATCH (i:Item) WHERE i.tagged_at IS NOT NULL RETURN count(i) AS tagged }
UNWIND $phrases AS phrase
OPTIONAL MATCH (p:Phrase {text: phrase})
RETURN tagged, phrase, CASE WHEN p IS NULL THEN 0 ELSE COUNT { (p)<-[:MENTIONS]-() } END AS items
"""
# Tags an item no longer has are unlinked; the rest are merged on the key, then set.
WRITE_ITEM_TAGS = """
UNWIND $rows AS row
MATCH (i:Item {item_id: row.item_id})
CALL (i, row) {
  MATCH (i)-[old:HAS_TAG]->(t:Tag) WHERE NOT t.tag_id IN [tag IN row.tags | tag.tag_id]
  DELETE old
}
CALL (i, row) {
  WITH i, row WHERE row.changed
  MATCH (i)<-[:INTERACTED]-(u:User)
  REMOVE u.tag_interests_at
}
CALL (i, row) {
  MATCH (i)-[old:MENTIONS]->(p:Phrase) WHERE NOT p.text IN row.phrases
  DELETE old
}
CALL (i, row) {
  UNWIND row.phrases AS phrase
  MERGE (p:Phrase {text: phrase})
  MERGE (i)-[:MENTIONS]->(p)
}
SET i.tagged_at = $read_at
WITH i, row
UNWIND row.tags AS tag
MERGE (t:Tag {tag_id: tag.tag_id})
ON CREATE SET t.created_at = datetime.transaction()
SET t.name = tag.tag_id
MERGE (i)-[r:HAS_TAG]->(t)
SET r.weight = tag.weight, r.source = tag.source
"""
# A page of users to refresh: their events (review text only where it is a review) and the
# tags of every item they interacted with.
READ_USERS_TO_REFRESH = """
MATCH (u:User)
WHERE u.user_id > $after
  AND ($everything OR u.tag_interests_at IS NULL
       OR u.changed_at > u.tag_interests_at - duration({seconds: $overlap_s}))
WITH u ORDER BY u.user_id LIMIT $batch
RETURN u.user_id AS user_id,
       COLLECT { MATCH (u)-[:PERFORMED]->(x:Interaction)-[:ON]->(i:Item)
                 RETURN [i.item_id, x.type, x.ts.epochMillis, x.weight,
                         CASE WHEN x.type = 'review' THEN x.text END, x.sentiment] } AS events,
       COLLECT { MATCH (u)-[:INTERACTED]->(i:Item)-[r:HAS_TAG]->(t:Tag)
                 RETURN [i.item_id, t.tag_id, r.weight] } AS tags,
       datetime.transaction() AS read_at
"""
# Replaces a user's tag interests whole. weight_now is upkeep's decayed copy: stale once the
# weight is rewritten, so it is cleared until the next upkeep pass.
WRITE_TAG_INTERESTS = """
UNWIND $rows AS row
MATCH (u:User {user_id: row.user_id})
CALL (u, row) {
  MATCH (u)-[old:INTERESTED_IN]->(t:Tag)
  WHERE NOT t.tag_id IN [interest IN row.interests | interest.tag_id]
  DELETE old
}
SET u.tag_interests_at = $read_at
WITH u, row
UNWIND row.interests AS interest
MATCH (t:Tag {tag_id: interest.tag_id})
MERGE (u)-[r:INTERESTED_IN]->(t)
SET r.weight = interest.weight, r.count = interest.count,
    r.last_ts = datetime({epochMillis: interest.last_ms}), r.mentions = interest.mentions,
    r.weight_now = null, r.weight_now_at = null
"""
# Tags no item carries and no user is interested in any more (items re-tagged, users erased).
DELETE_ORPHAN_TAGS = """
MATCH (t:Tag)
WHERE NOT EXISTS { (t)<-[:HAS_TAG]-() } AND NOT EXISTS { (t)<-[:INTERESTED_IN]-() }
DETACH DELETE t
RETURN count(*) AS deleted
"""
DELETE_ORPHAN_PHRASES = """
MATCH (p:Phrase) WHERE NOT EXISTS { (p)<-[:MENTIONS]-() }
DELETE p
RETURN count(*) AS deleted
"""


@dataclass(frozen=True)
class ItemTexts:
    """What the extractor needs of one item, and the tags it has now."""

    item_id: str
    title: str | None
    description: str | None
    reviews: tuple[str, ...]
    names: tuple[str, ...]  # category path segments and brand name
    current: frozenset[tuple[str, float, str]]  # (tag_id, weight, source)
    mentions: frozenset[str] = frozenset()  # the phrases it counts for in the catalogue now
    tagged: bool = False  # whether it was tagged before (counts among the tagged items)


@dataclass(frozen=True)
class UserHistory:
    """One user's events as plain tuples and their items' tags."""

    user_id: str
    events: tuple[tuple[str, str, int, float, str | None, float | None], ...]
    item_tags: dict[str, dict[str, float]]  # item_id -> tag_id -> HAS_TAG weight


@dataclass(frozen=True)
class TagWeight:
    """One tag of one item: ``weight`` in (0, 1]; ``source`` is text, review or text+review."""

    tag_id: str
    weight: float
    source: str


@dataclass(frozen=True)
class ItemTags:
    """An item's newly extracted tags, and whether they differ from the tags it has."""

    item_id: str
    changed: bool
    tags: tuple[TagWeight, ...]
    phrases: tuple[str, ...] = ()  # every candidate tag, for the catalogue's phrase counts

    def as_param(self) -> dict[str, Any]:
        """The row of ``WRITE_ITEM_TAGS``."""
        return {"item_id": self.item_id, "changed": self.changed,
                "tags": [asdict(t) for t in self.tags], "phrases": list(self.phrases)}  # fmt: skip


@dataclass(frozen=True)
class TagInterestEdge:
    """One ``(:User)-[:INTERESTED_IN]->(:Tag)`` edge: weight as of ``last_ms`` (epoch ms).

    ``count`` is how many events built it, ``mentions`` those whose own text named the tag.
    """

    tag_id: str
    weight: float
    count: int
    last_ms: int
    mentions: int


@dataclass(frozen=True)
class UserTagInterests:
    """A user's recomputed tag interests (they replace the user's tag interests whole)."""

    user_id: str
    interests: tuple[TagInterestEdge, ...]

    def as_param(self) -> dict[str, Any]:
        """The row of ``WRITE_TAG_INTERESTS``."""
        return {"user_id": self.user_id, "interests": [asdict(i) for i in self.interests]}


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of rows, the key to read the next page after, and the clock of the read."""

    rows: list[T]
    last_key: str
    read_at: Any  # a neo4j DateTime, written back as the rows' watermark


def _items_tx(
    tx: ManagedTransaction, after: str, batch: int, overlap_s: int, everything: bool
) -> Page[ItemTexts]:
    records = list(tx.run(READ_ITEMS_TO_TAG, after=after, batch=batch, overlap_s=overlap_s,
                          everything=everything))  # fmt: skip
    rows = [
        ItemTexts(
            r["item_id"],
            r["title"],
            r["description"],
            tuple(r["reviews"]),
            tuple(n for n in r["names"] if n),
            frozenset((t[0], float(t[1]), t[2]) for t in r["current"]),
            frozenset(r["mentions"]),
            bool(r["tagged"]),
        )  # fmt: skip
        for r in records
    ]
    return _page(rows, [r["item_id"] for r in records], records)


def _page(rows: list[T], keys: list[str], records: list[Any]) -> Page[T]:
    return Page(rows, keys[-1] if keys else "", records[0]["read_at"] if records else None)


def _read_page(
    driver: Driver,
    read_tx: Callable[..., Page[T]],
    args: tuple[str, int, int, bool],
    database: str | None,
) -> Page[T]:
    """One page read in its own managed read transaction."""
    with causal_session(driver, database) as session:
        return session.execute_read(read_tx, *args)


def read_items_to_tag(
    driver: Driver,
    after: str,
    batch: int,
    overlap_s: int,
    everything: bool = False,
    database: str | None = None,
) -> Page[ItemTexts]:
    """The next page of items (by ``item_id`` after ``after``) that need tagging."""
    return _read_page(driver, _items_tx, (after, batch, overlap_s, everything), database)


def _write_tx(tx: ManagedTransaction, query: str, rows: list[dict[str, Any]], read_at: Any) -> None:
    tx.run(query, rows=batch_rows(rows), read_at=read_at).consume()


def write_item_tags(
    driver: Driver, rows: Sequence[ItemTags], read_at: Any, database: str | None = None
) -> None:
    """Store the tags of one page of items (``read_at``: the clock of their read)."""
    params = [row.as_param() for row in rows]
    with causal_session(driver, database) as session:
        session.execute_write(_write_tx, WRITE_ITEM_TAGS, params, read_at)


def _users_tx(
    tx: ManagedTransaction, after: str, batch: int, overlap_s: int, everything: bool
) -> Page[UserHistory]:
    records = list(tx.run(READ_USERS_TO_REFRESH, after=after, batch=batch, overlap_s=overlap_s,
                          everything=everything))  # fmt: skip
    rows = []
    for r in records:
        item_tags: dict[str, dict[str, float]] = {}
        for item_id, tag_id, weight in r["tags"]:
            item_tags.setdefault(item_id, {})[tag_id] = float(weight)
        events = tuple((e[0], e[1], int(e[2]), float(e[3] or 0.0), e[4], e[5]) for e in r["events"])
        rows.append(UserHistory(r["user_id"], events, item_tags))
    return _page(rows, [r["user_id"] for r in records], records)


def read_users_to_refresh(
    driver: Driver,
    after: str,
    batch: int,
    overlap_s: int,
    everything: bool = False,
    database: str | None = None,
) -> Page[UserHistory]:
    """The next page of users (by ``user_id`` after ``after``) whose tag interests are stale."""
    return _read_page(driver, _users_tx, (after, batch, overlap_s, everything), database)


def write_tag_interests(
    driver: Driver, rows: Sequence[UserTagInterests], read_at: Any, database: str | None = None
) -> None:
    """Replace the tag interests of one page of users (``read_at``: the clock of their read)."""
    params = [row.as_param() for row in rows]
    with causal_session(driver, database) as session:
        session.execute_write(_write_tx, WRITE_TAG_INTERESTS, params, read_at)


@dataclass(frozen=True)
class PhraseItemCounts:
    """How many items are tagged, and how many items mention each asked-for phrase."""

    tagged_items: int
    items: dict[str, int]


def read_phrase_counts(
    driver: Driver, phrases: Sequence[str], database: str | None = None
) -> PhraseItemCounts:
    """The catalogue's counts of ``phrases`` (one key lookup and a degree each)."""
    records = driver.execute_query(
        READ_PHRASE_COUNTS, phrases=list(phrases), database_=database, routing_=RoutingControl.READ
    ).records
    tagged = int(records[0]["tagged"]) if records else 0
    return PhraseItemCounts(tagged, {r["phrase"]: int(r["items"]) for r in records})


def delete_orphan_tags(driver: Driver, database: str | None = None) -> int:
    """Remove tags and phrases nothing links to any more; returns how many tags."""
    records = driver.execute_query(DELETE_ORPHAN_TAGS, database_=database).records
    driver.execute_query(DELETE_ORPHAN_PHRASES, database_=database)
    return int(records[0]["deleted"])


class Tags(StoreArea):
    """The store's tags operations, bound to its driver and database."""

    def read_items_to_tag(
        self, after: str, batch: int, overlap_s: int, everything: bool = False
    ) -> Page[ItemTexts]:
        """The next page of items (by ``item_id`` after ``after``) that need tagging."""
        return read_items_to_tag(
            self.driver, after, batch, overlap_s, everything, database=self.database
        )

    def write_item_tags(self, rows: Sequence[ItemTags], read_at: Any) -> None:
        """Store the tags of one page of items (``read_at``: the clock of their read)."""
        return write_item_tags(self.driver, rows, read_at, database=self.database)

    def read_users_to_refresh(
        self, after: str, batch: int, overlap_s: int, everything: bool = False
    ) -> Page[UserHistory]:
        """The next page of users (by ``user_id`` after ``after``) whose tag interests are stale."""
        return read_users_to_refresh(
            self.driver, after, batch, overlap_s, everything, database=self.database
        )

    def write_tag_interests(self, rows: Sequence[UserTagInterests], read_at: Any) -> None:
        """Replace the tag interests of one page of users (``read_at``: the clock of their read)."""
        return write_tag_interests(self.driver, rows, read_at, database=self.database)

    def read_phrase_counts(self, phrases: Sequence[str]) -> PhraseItemCounts:
        """The catalogue's counts of ``phrases`` (one key lookup and a degree each)."""
        return read_phrase_counts(self.driver, phrases, database=self.database)

    def delete_orphan_tags(self) -> int:
        """Remove tags and phrases nothing links to any more; returns how many tags."""
        return delete_orphan_tags(self.driver, database=self.database)
