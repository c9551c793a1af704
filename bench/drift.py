"""Drift: do a user's recommendations follow their interests when those move?

A shop of 20 categories x 50 items (popularity within a category falls as a power law of the
item's rank). Every user spent last month in one category (25 events, mostly views). A full
retrain runs; then the *drift* users each buy 9 items in another category, one a minute, and
read their top-20 after each purchase; the *stable* users make ONE purchase elsewhere. All of
it goes through the running service's HTTP API (Neo4j, the API under gunicorn, the worker that
runs the requested retrain), nothing through the database. The generator is this script's own
and seeded (``--seed``). Metrics (``bench/results/drift.json``):

* ``drift_new_share_at1`` / ``_at3`` / ``_at8``: the new category's share of the top-20 after
  the 1st / 3rd / 8th purchase (mean over users);
* ``drift_share_never_falls``: share of users whose new-category share never fell;
* ``drift_hit_ratio_vs_rule``: mean over the 8 steps of the service's next-item hit@20 over
  the hit@20 of a trivial rule (the most popular unseen items of the category of the user's
  last event), with both hit rates (``drift_service_hit20``, ``drift_rule_hit20``);
* ``drift_stable_share_after_one``: the established category's share after one stray event;
* ``drift_reflect_ms_p50``: a purchase posted, then the list read (median, ms).

Run from the repository root::

    .venv/bin/python bench/drift.py [--users 200] [--stable-users 100] [--seed 0] [--quick]
        [--name drift]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import REPO_ROOT, local_server, start_api, write_result
from graphdb.driver import Neo4jTarget, connect
from graphdb.local.server import ServerConfig, start, stop
from graphdb.migrations import migrate

WORK = REPO_ROOT / "var" / "bench" / "drift"
CATEGORIES, PER_CATEGORY, HISTORY, PURCHASES = 20, 50, 25, 9


@dataclass
class Shopper:
    user_id: str
    home: int
    away: int
    history: list[str] = field(default_factory=list)
    purchases: list[str] = field(default_factory=list)


def _pick(rng: np.random.Generator, category: int, taken: set[str], n: int) -> list[str]:
    """``n`` distinct items of ``category`` not in ``taken``, drawn by popularity."""
    weights = np.arange(1, PER_CATEGORY + 1, dtype=np.float64) ** -1.0
    free = [r for r in range(PER_CATEGORY) if f"d{category}-i{r}" not in taken]
    p = weights[free] / weights[free].sum()
    return [f"d{category}-i{r}" for r in rng.choice(free, size=n, replace=False, p=p)]


def shoppers(rng: np.random.Generator, n: int, prefix: str) -> list[Shopper]:
    out = []
    for u in range(n):
        home = int(rng.integers(CATEGORIES))
        away = int((home + rng.integers(1, CATEGORIES)) % CATEGORIES)
        shopper = Shopper(f"{prefix}{u}", home, away, _pick(rng, home, set(), HISTORY))
        shopper.purchases = _pick(rng, away, set(shopper.history), PURCHASES)
        out.append(shopper)
    return out


def catalog() -> list[dict[str, Any]]:
    return [{"item_id": f"d{c}-i{i}", "title": f"item {i} of category {c}",
             "category_path": ["Shop", f"Category {c}"]}
            for c in range(CATEGORIES) for i in range(PER_CATEGORY)]  # fmt: skip


def history_events(rng: np.random.Generator, people: list[Shopper]) -> list[dict[str, Any]]:
    start_at = datetime.now(UTC) - timedelta(days=31)
    kinds = ["view"] * 6 + ["cart", "purchase"]
    return [{"user_id": s.user_id, "item_id": item, "type": str(rng.choice(kinds)),
             "ts": (start_at + timedelta(hours=n)).isoformat()}
            for s in people for n, item in enumerate(s.history)]  # fmt: skip


def call(base: str, path: str, payload: Any | None = None, method: str | None = None) -> Any:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        base + path, data=data, method=method or ("POST" if data else "GET"),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def top20(base: str, user: str) -> list[str]:
    return [i["item_id"] for i in call(base, f"/api/v1/users/{user}/recommendations?k=20")["items"]]


def retrain(base: str) -> dict[str, Any]:
    """Asks the worker for a full retrain through the API and waits for its end."""
    run = call(base, "/api/v1/refresh", {"kind": "full"})
    while True:
        state = call(base, f"/api/v1/refresh/runs/{run['run_id']}")
        if state["status"] not in ("queued", "running"):
            return dict(state)
        time.sleep(2)


def rule_list(popularity: dict[str, int], category: int, seen: set[str]) -> set[str]:
    """The most popular unseen items of ``category``: the trivial rule."""
    items = [f"d{category}-i{i}" for i in range(PER_CATEGORY)]
    ranked = sorted((i for i in items if i not in seen), key=lambda i: (-popularity.get(i, 0), i))
    return set(ranked[:20])


@dataclass
class Tally:
    shares: list[list[float]] = field(default_factory=list)  # per user, after each purchase
    service_hits: np.ndarray = field(default_factory=lambda: np.zeros(PURCHASES - 1))
    rule_hits: np.ndarray = field(default_factory=lambda: np.zeros(PURCHASES - 1))
    reflect_ms: list[float] = field(default_factory=list)


def drift_user(base: str, s: Shopper, popularity: dict[str, int], tally: Tally) -> None:
    """Posts the user's purchases one a minute (event time), reading the list after each."""
    seen, shares = set(s.history), []
    first = datetime.now(UTC) - timedelta(minutes=PURCHASES + 1)
    for step, item in enumerate(s.purchases):
        event = {"user_id": s.user_id, "item_id": item, "type": "purchase",
                 "ts": (first + timedelta(minutes=step)).isoformat()}  # fmt: skip
        tick = time.perf_counter()
        call(base, "/api/v1/events", event)
        ranked = top20(base, s.user_id)
        tally.reflect_ms.append((time.perf_counter() - tick) * 1000)
        seen.add(item)
        popularity[item] = popularity.get(item, 0) + 1
        shares.append(sum(i.startswith(f"d{s.away}-") for i in ranked) / 20)
        if step + 1 < len(s.purchases):
            upcoming = s.purchases[step + 1]
            tally.service_hits[step] += upcoming in ranked
            tally.rule_hits[step] += upcoming in rule_list(popularity, s.away, seen)
    tally.shares.append(shares)


def stable_share(base: str, s: Shopper) -> float:
    event = {"user_id": s.user_id, "item_id": s.purchases[0], "type": "purchase",
             "ts": datetime.now(UTC).isoformat()}  # fmt: skip
    call(base, "/api/v1/events", event)
    return sum(i.startswith(f"d{s.home}-") for i in top20(base, s.user_id)) / 20


def metrics_of(tally: Tally, stable: list[float]) -> dict[str, float]:
    shares = np.asarray(tally.shares)
    ratios = tally.service_hits / np.maximum(tally.rule_hits, 1)
    never_falls = [all(b >= a for a, b in zip(row, row[1:], strict=False)) for row in tally.shares]
    users = len(tally.shares)
    return {
        "drift_new_share_at1": float(shares[:, 0].mean()),
        "drift_new_share_at3": float(shares[:, 2].mean()),
        "drift_new_share_at8": float(shares[:, 7].mean()),
        "drift_share_never_falls": float(np.mean(never_falls)),
        "drift_hit_ratio_vs_rule": float(ratios.mean()),
        "drift_service_hit20": float(tally.service_hits.sum() / (users * (PURCHASES - 1))),
        "drift_rule_hit20": float(tally.rule_hits.sum() / (users * (PURCHASES - 1))),
        "drift_stable_share_after_one": float(np.mean(stable)),
        "drift_reflect_ms_p50": float(statistics.median(tally.reflect_ms)),
    }


def stack(config: ServerConfig, models: Path) -> tuple[list[subprocess.Popen[bytes]], str]:
    """Neo4j (migrated), the API under gunicorn and the worker, on this machine."""
    start(config)
    with connect(Neo4jTarget(config.bolt_uri)) as driver:
        migrate(driver)
    env = {"IG_NEO4J_URI": config.bolt_uri, "IG_NEO4J_AUTH": "false", "IG_API_AUTH": "false",
           "IG_MODEL_DIR": str(models), "IG_REFRESH_POLL_S": "1"}  # fmt: skip
    api, base = start_api(env, workers=2)
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "interest-graph"), "worker"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=(WORK / "worker.log").open("w"),
    )  # fmt: skip
    return [api, worker], base


def load(base: str, events: list[dict[str, Any]]) -> None:
    call(base, "/api/v1/items", {"items": catalog()}, method="PUT")
    for start_at in range(0, len(events), 1000):
        call(base, "/api/v1/events", {"events": events[start_at : start_at + 1000]})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=200, help="users whose interest moves")
    parser.add_argument("--stable-users", type=int, default=100, help="users with one stray event")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="60 + 30 users")
    parser.add_argument("--name", default="drift", help="result file: bench/results/NAME.json")
    args = parser.parse_args()
    if args.quick:
        args.users, args.stable_users = 60, 30
    rng = np.random.default_rng(args.seed)
    movers, steady = shoppers(rng, args.users, "m"), shoppers(rng, args.stable_users, "s")
    history = history_events(rng, movers + steady)
    popularity: dict[str, int] = {}
    for event in history:
        popularity[event["item_id"]] = popularity.get(event["item_id"], 0) + 1
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = local_server(WORK / "neo4j")
    procs, base = stack(config, WORK / "models")
    try:
        load(base, history)
        run = retrain(base)
        if run["status"] != "succeeded":
            raise SystemExit(f"the retrain did not succeed: {run}")
        tally = Tally()
        for shopper in movers:
            drift_user(base, shopper, popularity, tally)
        stable = [stable_share(base, shopper) for shopper in steady]
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=60)
        stop(config)
    metrics = metrics_of(tally, stable)
    details = {"users": args.users, "stable_users": args.stable_users, "seed": args.seed,
               "retrain": {k: run[k] for k in ("model_version", "seconds", "written")},
               "shares_by_step": np.asarray(tally.shares).mean(axis=0).round(4).tolist(),
               "service_hits_by_step": tally.service_hits.tolist(),
               "rule_hits_by_step": tally.rule_hits.tolist()}  # fmt: skip
    path = write_result(args.name, metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
