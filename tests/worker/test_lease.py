"""The worker lease against the real server: one holder, expiry takeover, release, locking."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta

from neo4j import Driver

from graphdb.lease import (
    ACQUIRE_LEASE,
    Lease,
    acquire_lease,
    read_lease,
    release_lease,
    renew_lease,
    wall_clock,
)
from graphdb.store import GraphStore

NAME = "test-lease"


class SteppedClock:
    """A clock that moves only when a test steps it."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def step(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_only_one_holder_at_a_time(graph: Driver) -> None:
    assert acquire_lease(graph, NAME, "a", ttl_s=30)
    assert not acquire_lease(graph, NAME, "b", ttl_s=30)
    assert acquire_lease(graph, NAME, "a", ttl_s=30)  # the holder may take it again (extends)
    assert renew_lease(graph, NAME, "a", ttl_s=30) and not renew_lease(graph, NAME, "b", ttl_s=30)
    state = read_lease(graph, NAME)
    assert state is not None and state.holder == "a" and state.live
    assert graph.execute_query(
        "MATCH (l:WorkerLease {name: $n}) RETURN count(l) AS n, l._lock IS NULL AS unlocked", n=NAME
    ).records[0].values() == [1, True]


def test_an_expired_lease_is_taken_over(graph: Driver) -> None:
    clock = SteppedClock(wall_clock())
    crashed = Lease(GraphStore(graph).leases, NAME, ttl_s=30, holder="crashed", clock=clock)
    standby = Lease(GraphStore(graph).leases, NAME, ttl_s=30, holder="standby", clock=clock)
    assert crashed.acquire()
    assert not standby.acquire()
    assert acquire_lease(graph, NAME, "crashed", ttl_s=0.2, now=clock())  # last renewal, dies
    clock.step(0.5)
    state = read_lease(graph, NAME, now=clock())
    assert state is not None and state.holder == "crashed" and not state.live
    assert standby.acquire()
    assert not crashed.renew()  # it cannot renew its way back
    record = graph.execute_query(
        "MATCH (l:WorkerLease {name: $n}) RETURN l.holder AS h, l.previous_holder AS p", n=NAME
    ).records[0]
    assert (record["h"], record["p"]) == ("standby", "crashed")


def test_release_frees_the_lease_and_only_the_holder_can_release(graph: Driver) -> None:
    leases = GraphStore(graph).leases
    a, b = Lease(leases, NAME, ttl_s=30, holder="a"), Lease(leases, NAME, ttl_s=30, holder="b")
    assert a.acquire() and a.held and not b.acquire() and not b.held
    assert not b.release()
    assert read_lease(graph, NAME).holder == "a"  # type: ignore[union-attr]
    assert a.release() and not a.held
    state = read_lease(graph, NAME)
    assert state is not None and state.holder is None and not state.live
    assert b.acquire() and not a.acquire()


def test_concurrent_acquisitions_serialise_on_the_lease_node(graph: Driver) -> None:
    """A contender reading while the first acquisition is uncommitted must not also win."""
    assert acquire_lease(graph, NAME, "setup", ttl_s=30)
    assert release_lease(graph, NAME, "setup")  # the node exists, free
    results: list[bool] = []
    with graph.session() as session:
        tx = session.begin_transaction()
        first = tx.run(
            ACQUIRE_LEASE, name=NAME, holder="a", ttl_ms=30_000, now=wall_clock()
        ).single(strict=True)
        assert first["acquired"]
        contender = threading.Thread(
            target=lambda: results.append(acquire_lease(graph, NAME, "b", ttl_s=30))
        )
        contender.start()
        time.sleep(0.5)
        assert contender.is_alive(), "the contender did not wait for the lease node's lock"
        tx.commit()
    contender.join(timeout=20)
    assert results == [False]
    assert read_lease(graph, NAME).holder == "a"  # type: ignore[union-attr]
