"""Erasing a person: their user node, interactions, edges and embedding, in one transaction.

The items they touched are stamped ``changed_at`` so the next refresh recomputes whatever
was derived from this user's behaviour (item embeddings, popularity is computed live), and the
next tagging run re-tags them without this user's review text. ``DETACH DELETE`` of the user
removes every edge of theirs, ``INTERESTED_IN`` to tags included. What exists only because of
this user goes too: an item no catalog upsert ever stored (``in_catalog = false``, made by
their events) that no one else interacted with, the tags of the items they reviewed whose
phrase came from reviews alone (possibly their words; the next tagging run re-tags those
items from the reviews left), the catalogue phrase counts of the items they reviewed
(``MENTIONS``: candidates drawn from their words too; re-made by that tagging run), and tags
and phrases left with no item and no user. Categories and brands
come only from catalog upserts, never from events, so they stay. A short-lived
``(:Erasure)`` tombstone keyed by a salted hash of the id (``graphdb.serving_feed``) tells API
workers to forget the user's precomputed list. After the commit the transaction log that holds
the erased records is rotated (``graphdb.txlog``), so Neo4j prunes it at its next checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session
from graphdb.serving_feed import MARK_ERASED
from graphdb.txlog import LogFlush, rotate_past_erasure

# Every item the user touched (by edge or by event) and the tags those items carry now.
MARK_TOUCHED_ITEMS = """
OPTIONAL MATCH (u:User {user_id: $user_id})
CALL (u) {
  MATCH (u)-[:INTERACTED]->(i:Item) RETURN i
  UNION
  MATCH (u)-[:PERFORMED]->(:Interaction)-[:ON]->(i:Item) RETURN i
}
SET i.changed_at = datetime.transaction()
WITH collect(i) AS touched
RETURN [i IN touched | i.item_id] AS items,
       COLLECT { UNWIND touched AS i MATCH (i)-[:HAS_TAG]->(t:Tag)
                 RETURN DISTINCT t.tag_id } AS tags
"""
# Tags that only reviews support, on the items this user reviewed: the phrase may be theirs.
DELETE_REVIEW_TAGS = """
MATCH (:User {user_id: $user_id})-[:PERFORMED]->(:Interaction {type: 'review'})-[:ON]->(i:Item)
WITH DISTINCT i
MATCH (i)-[r:HAS_TAG {source: 'review'}]->(:Tag)
DELETE r
RETURN count(r) AS n
"""
# The phrase counts of the items this user reviewed; phrases left unmentioned go too.
DELETE_REVIEWED_MENTIONS = """
MATCH (:User {user_id: $user_id})-[:PERFORMED]->(:Interaction {type: 'review'})-[:ON]->(i:Item)
WITH DISTINCT i
MATCH (i)-[m:MENTIONS]->(p:Phrase)
DELETE m
WITH DISTINCT p WHERE NOT EXISTS { (p)<-[:MENTIONS]-() }
DELETE p
RETURN count(p) AS n
"""
DELETE_INTERACTIONS = """
MATCH (:User {user_id: $user_id})-[:PERFORMED]->(x:Interaction)
DETACH DELETE x
RETURN count(*) AS n
"""
DELETE_USER = """
MATCH (u:User {user_id: $user_id})
DETACH DELETE u
RETURN count(*) AS n
"""
# Items the user's events made (never upserted by the catalog) that no one else touched.
DELETE_EVENT_ONLY_ITEMS = """
UNWIND $item_ids AS item_id
MATCH (i:Item {item_id: item_id})
WHERE i.in_catalog = false
  AND NOT EXISTS { (i)<-[:ON]-(:Interaction) } AND NOT EXISTS { (i)<-[:INTERACTED]-() }
DETACH DELETE i
RETURN count(*) AS n
"""
DELETE_ORPHANED_TAGS = """
UNWIND $tag_ids AS tag_id
MATCH (t:Tag {tag_id: tag_id})
WHERE NOT EXISTS { (t)<-[:HAS_TAG]-() } AND NOT EXISTS { (t)<-[:INTERESTED_IN]-() }
DETACH DELETE t
RETURN count(*) AS n
"""


@dataclass(frozen=True)
class Erasure:
    """What one erasure removed.

    Attributes:
        user_found: Whether there was such a user (nothing is written otherwise).
        interactions: Their interaction nodes deleted.
        items_marked: Items they touched, stamped for the next refresh and tagging run.
        items_deleted: Items that existed only through their events, deleted.
        tags_deleted: Tags left with no item and no user, deleted.
        log: What was done to the transaction logs after the commit.
    """

    user_found: bool
    interactions: int
    items_marked: int
    items_deleted: int = 0
    tags_deleted: int = 0
    log: LogFlush | None = None


def _count(tx: ManagedTransaction, query: str, **params: Any) -> int:
    return int(tx.run(query, **params).single(strict=True)["n"])


def erase_user_tx(tx: ManagedTransaction, user_id: str, tombstone_key: str) -> Erasure:
    """Erases ``user_id``; ``tombstone_key`` is ``graphdb.serving_feed.erasure_key`` of it."""
    touched = tx.run(MARK_TOUCHED_ITEMS, user_id=user_id).single(strict=True)
    items, tags = list(touched["items"]), list(touched["tags"])
    _count(tx, DELETE_REVIEW_TAGS, user_id=user_id)
    tx.run(DELETE_REVIEWED_MENTIONS, user_id=user_id).consume()
    events = _count(tx, DELETE_INTERACTIONS, user_id=user_id)
    if not _count(tx, DELETE_USER, user_id=user_id):
        return Erasure(False, 0, 0)
    items_deleted = _count(tx, DELETE_EVENT_ONLY_ITEMS, item_ids=items)
    tags_deleted = _count(tx, DELETE_ORPHANED_TAGS, tag_ids=tags)
    # API workers drop any list they ranked for this user in advance.
    tx.run(MARK_ERASED, key=tombstone_key).consume()
    return Erasure(True, events, len(items), items_deleted, tags_deleted)


def erase_user(
    driver: Driver, user_id: str, tombstone_key: str, database: str | None = None
) -> Erasure:
    """Erases the user in one transaction, then rotates the log file that holds it."""
    with causal_session(driver, database) as session:
        erasure = session.execute_write(erase_user_tx, user_id, tombstone_key)
    if not erasure.user_found:
        return erasure
    log = rotate_past_erasure(driver, database)
    return replace(erasure, log=log)


class Erasures(StoreArea):
    """The store's erase operations, bound to its driver and database."""

    def erase_user(self, user_id: str, tombstone_key: str) -> Erasure:
        return erase_user(self.driver, user_id, tombstone_key, database=self.database)
