"""Causal consistency across processes: Neo4j bookmarks as an opaque token a client carries.

In a cluster (Aura, Enterprise) the driver routes reads to secondaries, which may lag the leader
by a few transactions. Within one process every transaction joins the driver's bookmark manager
(``execute_query`` does so by default; sessions through :func:`graphdb.driver.causal_session`),
so a process always reads what it wrote. Across processes - a client that writes through one API
host and reads through another - the client carries the bookmark: the write's answer gives it as
a token, the read sends it back, and the reading process waits until its server has applied that
transaction before it reads.

The token is the bookmarks' raw values as a JSON list, base64url-encoded: opaque to clients,
safe in an HTTP header. A token is checked against the server (one trivial read that must wait
for it) *before* it joins the process's chain, so a forged one is refused with an error and
never makes the process's later reads fail.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from neo4j import READ_ACCESS, Bookmarks
from neo4j.exceptions import ClientError

from graphdb.area import StoreArea

MAX_TOKEN_CHARS = 4096
MAX_BOOKMARKS = 16
WAIT_READ = "RETURN 1 AS ready"


class BookmarkError(ValueError):
    """A consistency token that is malformed or that the server does not know."""


def encode_token(raw_values: list[str] | tuple[str, ...] | frozenset[str]) -> str:
    """The client-facing token for a set of raw bookmark values ('' when there are none)."""
    if not raw_values:
        return ""
    text = json.dumps(sorted(raw_values), separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_token(token: str) -> list[str]:
    """The raw bookmark values in ``token``; raises :class:`BookmarkError` when it is not one."""
    if len(token) > MAX_TOKEN_CHARS:
        raise BookmarkError(f"a consistency token has at most {MAX_TOKEN_CHARS} characters")
    try:
        padded = token + "=" * (-len(token) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise BookmarkError("not a consistency token this service issued") from exc
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise BookmarkError("not a consistency token this service issued")
    if not values or len(values) > MAX_BOOKMARKS:
        raise BookmarkError(f"a consistency token holds 1 to {MAX_BOOKMARKS} bookmarks")
    return values


def _invalid_bookmark(exc: ClientError) -> bool:
    return (exc.code or "").startswith("Neo.ClientError.Transaction.InvalidBookmark")


@dataclass(frozen=True)
class Consistency(StoreArea):
    """This process's place in the causal chain, and joining a client's."""

    def token(self) -> str:
        """A token for everything this process has committed so far ('' before any write)."""
        return encode_token(tuple(self.driver.execute_query_bookmark_manager.get_bookmarks()))

    def wait_for(self, token: str) -> None:
        """Make this process's next reads see at least what ``token`` names.

        Raises:
            BookmarkError: the token is malformed or names a transaction the server never had.
            neo4j.exceptions.TransientError: the server did not catch up within its
                ``db.transaction.bookmark_ready_timeout`` (callers treat it as "busy").
        """
        values = decode_token(token)
        bookmarks = Bookmarks.from_raw_values(values)
        with self.driver.session(
            database=self.database, bookmarks=bookmarks, default_access_mode=READ_ACCESS
        ) as session:
            try:
                session.run(WAIT_READ).consume()
            except ClientError as exc:
                if _invalid_bookmark(exc):
                    unknown = "the graph store does not know this consistency token"
                    raise BookmarkError(unknown) from exc
                raise
        # Known good now: the process's later reads (any server) wait for it too.
        self.driver.execute_query_bookmark_manager.update_bookmarks((), values)
