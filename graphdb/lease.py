"""A named lease in the graph: at most one worker process holds ``(:WorkerLease {name})``.

The holder renews the lease well before ``expires_at``; a holder that crashed simply stops
renewing, and once the lease has expired any other process may take it over. Expiry is
judged by the *server's* clock, so the workers' own clocks never have to agree.

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
from dataclasses import dataclass
from datetime import datetime

from neo4j import Driver, ManagedTransaction

from graphdb.area import StoreArea

ACQUIRE_LEASE = """
MERGE (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l, l.holder AS previous
WITH l, previous,
     previous IS NULL OR previous = $holder OR l.expires_at <= datetime() AS free
FOREACH (_ IN CASE WHEN free THEN [1] ELSE [] END |
  SET l.acquired_at = CASE WHEN previous = $holder THEN l.acquired_at ELSE datetime() END,
      l.previous_holder = CASE WHEN previous IS NULL OR previous = $holder
                               THEN l.previous_holder ELSE previous END,
      l.holder = $holder,
      l.renewed_at = datetime(),
      l.expires_at = datetime() + duration({milliseconds: $ttl_ms})
)
RETURN free AS acquired, l.holder AS holder, l.expires_at AS expires_at
"""
RENEW_LEASE = """
MATCH (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l WHERE l.holder = $holder
SET l.renewed_at = datetime(), l.expires_at = datetime() + duration({milliseconds: $ttl_ms})
RETURN count(l) AS renewed
"""
RELEASE_LEASE = """
MATCH (l:WorkerLease {name: $name})
SET l._lock = true
REMOVE l._lock
WITH l WHERE l.holder = $holder
SET l.last_holder = l.holder, l.released_at = datetime()
REMOVE l.holder, l.expires_at
RETURN count(l) AS released
"""
READ_LEASE = """
MATCH (l:WorkerLease {name: $name})
RETURN l.holder AS holder, l.expires_at AS expires_at,
       l.holder IS NOT NULL AND l.expires_at > datetime() AS live
"""


@dataclass(frozen=True)
class LeaseState:
    """Who holds a lease and until when; ``live`` is false once it expired or was released."""

    name: str
    holder: str | None
    expires_at: datetime | None
    live: bool


def new_holder_id() -> str:
    """Unique per process start: host, pid and a random suffix (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ms(ttl_s: float) -> int:
    if not ttl_s > 0:
        raise ValueError("a lease ttl must be positive")
    return int(ttl_s * 1000)


def _acquire_tx(tx: ManagedTransaction, name: str, holder: str, ttl_ms: int) -> bool:
    record = tx.run(ACQUIRE_LEASE, name=name, holder=holder, ttl_ms=ttl_ms).single(strict=True)
    return bool(record["acquired"])


def _renew_tx(tx: ManagedTransaction, name: str, holder: str, ttl_ms: int) -> bool:
    record = tx.run(RENEW_LEASE, name=name, holder=holder, ttl_ms=ttl_ms).single(strict=True)
    return int(record["renewed"]) == 1


def _release_tx(tx: ManagedTransaction, name: str, holder: str) -> bool:
    record = tx.run(RELEASE_LEASE, name=name, holder=holder).single(strict=True)
    return int(record["released"]) == 1


def acquire_lease(
    driver: Driver, name: str, holder: str, ttl_s: float, database: str | None = None
) -> bool:
    """Take the lease if it is free, expired or already ours (then it is extended)."""
    with driver.session(database=database) as session:
        return session.execute_write(_acquire_tx, name, holder, _ms(ttl_s))


def renew_lease(
    driver: Driver, name: str, holder: str, ttl_s: float, database: str | None = None
) -> bool:
    """Extend a lease we hold; false when it is no longer ours (taken over after expiry)."""
    with driver.session(database=database) as session:
        return session.execute_write(_renew_tx, name, holder, _ms(ttl_s))


def release_lease(driver: Driver, name: str, holder: str, database: str | None = None) -> bool:
    """Give the lease up at once, so another worker need not wait for it to expire."""
    with driver.session(database=database) as session:
        return session.execute_write(_release_tx, name, holder)


def read_lease(driver: Driver, name: str, database: str | None = None) -> LeaseState | None:
    records = driver.execute_query(READ_LEASE, name=name, database_=database).records
    if not records:
        return None
    r = records[0]
    expires = r["expires_at"].to_native() if r["expires_at"] is not None else None
    return LeaseState(name=name, holder=r["holder"], expires_at=expires, live=bool(r["live"]))


class Lease:
    """One process's handle on a named lease; ``held`` is what it last learned."""

    def __init__(
        self,
        driver: Driver,
        name: str,
        ttl_s: float,
        database: str | None = None,
        holder: str | None = None,
    ) -> None:
        _ms(ttl_s)
        self.driver, self.name, self.ttl_s, self.database = driver, name, ttl_s, database
        self.holder = holder or new_holder_id()
        self.held = False

    def acquire(self) -> bool:
        """Take or extend the lease; records whether this process now holds it."""
        self.held = acquire_lease(self.driver, self.name, self.holder, self.ttl_s, self.database)
        return self.held

    def renew(self) -> bool:
        self.held = renew_lease(self.driver, self.name, self.holder, self.ttl_s, self.database)
        return self.held

    def release(self) -> bool:
        released = release_lease(self.driver, self.name, self.holder, self.database)
        self.held = False
        return released


class Leases(StoreArea):
    """The store's lease operations, bound to its driver and database."""

    def acquire_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Take the lease if it is free, expired or already ours (then it is extended)."""
        return acquire_lease(self.driver, name, holder, ttl_s, database=self.database)

    def renew_lease(self, name: str, holder: str, ttl_s: float) -> bool:
        """Extend a lease we hold; false when it is no longer ours (taken over after expiry)."""
        return renew_lease(self.driver, name, holder, ttl_s, database=self.database)

    def release_lease(self, name: str, holder: str) -> bool:
        """Give the lease up at once, so another worker need not wait for it to expire."""
        return release_lease(self.driver, name, holder, database=self.database)

    def read_lease(self, name: str) -> LeaseState | None:
        return read_lease(self.driver, name, database=self.database)
