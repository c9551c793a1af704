"""Concurrent event batches whose ``event_id``s overlap, over real sockets and threads.

Two transactions that create the same event id race on the unique constraint; the loser must
come back as a de-duplicated 200, never a 500, and every event must be stored exactly once.
"""

from __future__ import annotations

import random
import threading
from typing import Any

import requests
from neo4j import Driver

POOL = 300
THREADS = 20
PER_BATCH = 50


def _event(k: int) -> dict[str, Any]:
    # The payload depends on the id only, so every repeat of an id is an exact duplicate.
    return {
        "event_id": f"pool-{k}",
        "user_id": f"u{k % 17}",
        "item_id": f"i{k % 23}",
        "type": "view",
        "ts": 1714564800 + k,
    }


def _post_all(base: str, batches: list[list[int]]) -> list[requests.Response]:
    responses: list[requests.Response] = []
    start = threading.Barrier(len(batches))

    def post(ids: list[int]) -> None:
        with requests.Session() as session:
            start.wait()
            response = session.post(f"{base}/api/v1/events", json=[_event(k) for k in ids])
            responses.append(response)

    threads = [threading.Thread(target=post, args=(ids,)) for ids in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return responses


def test_overlapping_concurrent_batches_store_each_event_once(live_api: str, graph: Driver) -> None:
    rng = random.Random(21)
    batches = [rng.sample(range(POOL), PER_BATCH) for _ in range(THREADS)]
    responses = _post_all(live_api, batches)
    assert len(responses) == THREADS
    assert [r.status_code for r in responses if r.status_code != 200] == []
    bodies = [r.json() for r in responses]
    sent = {k for ids in batches for k in ids}
    # Each distinct id was accepted by exactly one request and reported a duplicate by the rest.
    assert sum(b["accepted"] for b in bodies) == len(sent)
    assert sum(b["duplicates"] for b in bodies) == THREADS * PER_BATCH - len(sent)
    stored = graph.execute_query(
        "MATCH (u:User)-[:PERFORMED]->(x:Interaction)-[:ON]->(i:Item) "
        "RETURN x.event_id AS id, count(*) AS n"
    ).records
    assert {r["id"]: r["n"] for r in stored} == {f"pool-{k}": 1 for k in sent}
    # The folded edges count each event once too.
    folded = graph.execute_query("MATCH ()-[r:INTERACTED]->() RETURN sum(r.count) AS n").records
    assert folded[0]["n"] == len(sent)
