"""A named lease in the graph: at most one worker process holds ``(:WorkerLease {name})``.

The holder renews the lease well before ``expires_at``; a holder that crashed simply stops
renewing, and once the lease has expired any other process may take it over.

Time comes from the caller: every statement is handed ``$now`` from the :class:`Lease`'s
clock (the wall clock in UTC unless a test steps one), so expiry can be tested by stepping a
clock instead of sleeping. Workers on different machines then compare an ``expires_at``
written by one machine's clock with another machine's ``now``; that is acceptable because
the clocks are NTP-synchronised to within milliseconds while a lease lives ``lease_ttl_s``
(tens of seconds) and is renewed every third of it, so skew can only move a takeover of a
dead holder's lease by that much. It never lets two live holders overlap for longer either:
a worker that loses the lease learns so at its next renewal and stops between write batches.

Every statement first takes the lease node's write lock (``SET l._lock ... REMOVE``) and only
then reads ``holder`` and ``expires_at``: under Neo4j's read-committed isolation a plain read
followed by a write could let two contenders both see a free lease and both take it. With
the lock taken first, concurrent acquisitions are serialised on the node and the second one
sees the first one's committed holder.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea
from graphdb.driver import causal_session

ACQUIRE_LEASE = """
MERGE (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l, l.holder AS previous
WITH l, previous,
     previous IS NULL OR previous = $holder OR l.expires_at <= $now AS free
FOREACH (_ IN CASE WHEN free THEN [1] ELSE [] END |
  SET l.acquired_at = CASE WHEN previous = $holder THEN l.acquired_at ELSE $now END,
      l.previous_holder = CASE WHEN previous IS NULL OR previous = $holder
                               THEN l.previous_holder ELSE previous END,
      l.holder = $holder,
      l.renewed_at = $now,
      l.expires_at = $now + duration({milliseconds: $ttl_ms})
)
RETURN free AS acquired, l.holder AS holder, l.expires_at AS expires_at
"""
RENEW_LEASE = """
MATCH (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l WHERE l.holder = $holder
SET l.renewed_at = $now, l.expires_at = $now + duration({milliseconds: $ttl_ms})
RETURN count(l) AS renewed
"""
RELEASE_LEASE = """
MATCH (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l WHERE l.holder = $holder
SET l.last_holder = l.holder, l.released_at = $now
REMOVE l.holder, l.expires_at
RETURN count(l) AS released
"""
READ_LEASE = """
MATCH (l:WorkerLease {name: $name})
RETURN l.holder AS holder, l.expires_at AS expires_at,
       l.holder IS NOT NULL AND l.expires_at > $now AS live
"""


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease and until when; ``live`` is false once it expired or was released."""

    name: str
    holder: str | None
    expires_at: datetime | None
    live: bool


Clock = Callable[[], datetime]


def wall_clock() -> datetime:
    """The production clock: now, in UTC."""
    return datetime.now(UTC)


def new_holder_id() -> str:
    """Unique per process start: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ms(ttl_s: float) -> int:
    if not ttl_s > 0:
        raise ValueError("a lease ttl must be positive")
    return int(ttl_s * 1000)


def _acquire_tx(tx: ManagedTransaction, name: str, holder: str, ttl_ms: int, now: datetime) -> bool:
    record = tx.run(ACQUIRE_LEASE, name=name, holder=holder, ttl_ms=ttl_ms, now=now)
    return bool(record.single(strict=True)["acquired"])


def _renew_tx(tx: ManagedTransaction, name: str, holder: str, ttl_ms: int, now: datetime) -> bool:
    record = tx.run(RENEW_LEASE, name=name, holder=holder, ttl_ms=ttl_ms, now=now)
    return int(record.single(strict=True)["renewed"]) == 1


def _release_tx(tx: ManagedTransaction, name: str, holder: str, now: datetime) -> bool:
    record = tx.run(RELEASE_LEASE, name=name, holder=holder, now=now).single(strict=True)
    return int(record["released"]) == 1


def acquire_lease(
    driver: Driver,
    name: str,
    holder: str,
    ttl_s: float,
    database: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Take the lease if it is free, expired at ``now`` or already ours (then it is extended).

    ``now`` defaults to the wall clock (UTC); see the module docstring.
    """
    at = now or wall_clock()
    with causal_session(driver, database) as session:
        return session.execute_write(_acquire_tx, name, holder, _ms(ttl_s), at)


def renew_lease(
    driver: Driver,
    name: str,
    holder: str,
    ttl_s: float,
    database: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Extend a lease we hold to ``now + ttl_s``; false when it is no longer ours."""
    at = now or wall_clock()
    with causal_session(driver, database) as session:
        return session.execute_write(_renew_tx, name, holder, _ms(ttl_s), at)


def release_lease(
    driver: Driver,
    name: str,
    holder: str,
    database: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Give the lease up at once, so another worker need not wait for it to expire."""
    at = now or wall_clock()
    with causal_session(driver, database) as session:
        return session.execute_write(_release_tx, name, holder, at)


def read_lease(
    driver: Driver, name: str, database: str | None = None, now: datetime | None = None
) -> LeaseState | None:
    """Who holds ``name``; ``live``: unexpired at ``now`` (default: the wall clock)."""
    at = now or wall_clock()
    records = driver.execute_query(READ_LEASE, name=name, now=at, database_=database).records
    if not records:
        return None
    r = records[0]
    expires = r["expires_at"].to_native() if r["expires_at"] is not None else None
    return LeaseState(name=name, holder=r["holder"], expires_at=expires, live=bool(r["live"]))


class Leases(StoreArea):
    """The store's lease operations, bound to its driver and database.

    ``now`` defaults to the wall clock (UTC) everywhere; :class:`Lease` passes its clock's.
    """

    def acquire_lease(
        self, name: str, holder: str, ttl_s: float, now: datetime | None = None
    ) -> bool:
        """Take the lease if it is free, expired or already ours (then it is extended)."""
        return acquire_lease(self.driver, name, holder, ttl_s, self.database, now)

    def renew_lease(
        self, name: str, holder: str, ttl_s: float, now: datetime | None = None
    ) -> bool:
        """Extend a lease we hold; false when it is no longer ours (taken over after expiry)."""
        return renew_lease(self.driver, name, holder, ttl_s, self.database, now)

    def release_lease(self, name: str, holder: str, now: datetime | None = None) -> bool:
        """Give the lease up at once, so another worker need not wait for it to expire."""
        return release_lease(self.driver, name, holder, self.database, now)

    def read_lease(self, name: str, now: datetime | None = None) -> LeaseState | None:
        """Who holds ``name`` and whether the lease is live at ``now``."""
        return read_lease(self.driver, name, self.database, now)


class Lease:
    """One process's handle on a named lease; ``held`` is what it last learned.

    Args:
        leases: The store's lease area (``store.leases``).
        name: The lease's name.
        ttl_s: How long an acquisition or renewal holds it.
        holder: This process's holder id (default: host, pid and a random suffix).
        clock: Where "now" comes from (default: the wall clock, UTC); tests step one.
    """

    def __init__(
        self,
        leases: Leases,
        name: str,
        ttl_s: float,
        holder: str | None = None,
        clock: Clock = wall_clock,
    ) -> None:
        _ms(ttl_s)
        self.leases, self.name, self.ttl_s, self.clock = leases, name, ttl_s, clock
        self.holder = holder or new_holder_id()
        self.held = False

    def acquire(self) -> bool:
        """Take or extend the lease; records whether this process now holds it."""
        self.held = self.leases.acquire_lease(self.name, self.holder, self.ttl_s, self.clock())
        return self.held

    def renew(self) -> bool:
        """Extend the lease; records whether this process still holds it."""
        self.held = self.leases.renew_lease(self.name, self.holder, self.ttl_s, self.clock())
        return self.held

    def release(self) -> bool:
        """Give the lease up; true when it was ours."""
        released = self.leases.release_lease(self.name, self.holder, self.clock())
        self.held = False
        return released
