"""API load: recommendations and similar items under 32 concurrent clients (wrk).

Loads Gowalla (810k interactions) into a fresh local Neo4j with the offline loader, trains
embeddings with a time budget, serves the API under gunicorn on this machine, and drives it
with wrk (a real HTTP load generator; ``apt-get install wrk``). Writes
``bench/results/api_load.json``. Run from the repository root:

    .venv/bin/python bench/api_load.py [--train-budget-s 240] [--duration-s 30]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.loading import offline_load
from app.ingest.sources.datasets import open_dataset
from app.settings import Settings, shared_data_dir
from app.training.pipeline import run_training, train_config_from
from bench.benchlib import (
    fresh_service_settings,
    start_api,
    worker_rss_mib,
    write_result,
)
from graphdb.apikeys import create_key
from graphdb.driver import connect
from graphdb.local.server import stop
from graphdb.store import GraphStore

LUA = """
local ids = {}
for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
math.randomseed(7)
local fmt, auth = os.getenv("PATH_FMT"), os.getenv("AUTH")
request = function()
  return wrk.format("GET", string.format(fmt, ids[math.random(#ids)]), {["Authorization"] = auth})
end
local mean_delay_ms = tonumber(os.getenv("MEAN_DELAY_MS") or "0")
if mean_delay_ms > 0 then
  -- Paced clients: exponential think times, so 32 connections offer a set rate instead of
  -- saturating the server; wrk's latencies then are service times at that load.
  delay = function() return -math.log(1 - math.random()) * mean_delay_ms end
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def parse_wrk(output: str) -> dict[str, float]:
    """p50/p99 latency (ms) and requests/s from ``wrk --latency`` output."""

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
        if match is None:
            raise RuntimeError(f"no {pct}% line in wrk output:\n{output}")
        return float(match.group(1)) * UNITS[match.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if errors:
        raise RuntimeError(f"wrk saw {errors.group(1)} error responses:\n{output}")
    return {
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "rps": float(rps.group(1)) if rps else 0.0,
    }


def run_wrk(
    url_fmt: str,
    ids: list[str],
    key: str,
    duration_s: int,
    connections: int,
    offered_rps: float | None = None,
) -> dict[str, float]:
    """One wrk run: closed loop (as fast as the server answers), or paced at ``offered_rps``."""
    # Each paced connection waits a mean think time between answers; the 5 ms allowed for
    # the answer itself keeps the offered rate at ``offered_rps`` when the target is met.
    think_ms = max(1000.0 * connections / offered_rps - 5.0, 1.0) if offered_rps else 0.0
    with tempfile.TemporaryDirectory() as tmp:
        ids_file, script = Path(tmp) / "ids.txt", Path(tmp) / "pick.lua"
        ids_file.write_text("\n".join(ids) + "\n")
        script.write_text(LUA)
        env = {
            **os.environ,
            "IDS_FILE": str(ids_file),
            "PATH_FMT": url_fmt,
            "AUTH": f"Bearer {key}",
            "MEAN_DELAY_MS": str(think_ms),
        }
        base = url_fmt.split("/api/")[0]
        out = subprocess.run(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{duration_s}s",
                "--latency",
                "-s",
                str(script),
                base,
            ],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    print(out)
    return parse_wrk(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-budget-s", type=float, default=240.0)
    parser.add_argument("--duration-s", type=int, default=30)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument(
        "--offered-rps",
        type=float,
        default=400.0,
        help="rate the paced clients offer (the latency figures)",
    )
    parser.add_argument(
        "--short-term-epochs",
        type=int,
        default=1,
        help="the sequence model is served, its quality is not measured here",
    )
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is needed: apt-get install wrk")
    settings = fresh_service_settings(
        "api", neo4j_heap="2g", neo4j_pagecache="2g", train_time_budget_s=args.train_budget_s,
        train_epochs=200, short_term_epochs=args.short_term_epochs,
    )  # fmt: skip
    load = offline_load(settings, open_dataset("gowalla", shared_data_dir() / "gowalla"))
    print(load.summary())
    try:
        return measure(settings, args)
    finally:
        stop(settings.server_config())


def measure(settings: Settings, args: argparse.Namespace) -> int:
    with connect(settings.neo4j_target()) as driver:
        report = run_training(GraphStore(driver), settings, train_config_from(settings))
        print(report.summary())
        key = create_key(driver, "bench", ["read"])
        users = [
            r["id"]
            for r in driver.execute_query(
                "MATCH (u:User) RETURN u.user_id AS id ORDER BY id"
            ).records
        ]
        items = [
            r["id"]
            for r in driver.execute_query(
                "MATCH (i:Item) WHERE i.embedding_a IS NOT NULL OR i.embedding_b IS NOT NULL "
                "RETURN i.item_id AS id ORDER BY id"
            ).records
        ]
    on = drive_api(settings, args, users, items, key, lists=True)
    off = drive_api(settings, args, users, items, key, lists=False)
    recs, recs_max, similar, similar_max = (
        on["recs"],
        on["recs_max"],
        on["similar"],
        on["similar_max"],
    )
    metrics = {
        # Latency at the offered rate (32 paced clients), and the rate the clients achieved.
        "api_recs_p50_ms": recs["p50_ms"],
        "api_recs_p99_ms": recs["p99_ms"],
        "api_recs_paced_rps": recs["rps"],
        # Throughput when the 32 clients send as fast as they are answered, and its latency.
        "api_recs_rps": recs_max["rps"],
        "api_recs_saturated_p50_ms": recs_max["p50_ms"],
        "api_recs_saturated_p99_ms": recs_max["p99_ms"],
        "api_similar_p50_ms": similar["p50_ms"],
        "api_similar_p99_ms": similar["p99_ms"],
        "api_similar_paced_rps": similar["rps"],
        "api_similar_rps": similar_max["rps"],
        "api_similar_saturated_p99_ms": similar_max["p99_ms"],
        "api_worker_rss_mb": on["worker_rss"],
        # The same recommendations ranked live for every request (IG_REC_LISTS=false).
        "api_recs_live_p50_ms": off["recs"]["p50_ms"],
        "api_recs_live_p99_ms": off["recs"]["p99_ms"],
        "api_recs_live_paced_rps": off["recs"]["rps"],
        "api_recs_live_rps": off["recs_max"]["rps"],
        "api_recs_live_saturated_p99_ms": off["recs_max"]["p99_ms"],
        "api_worker_rss_mb_live": off["worker_rss"],
    }
    details = {
        "model": report.version,
        # Write-back speed is measured by bench/writeback.py; this is the same write here.
        "writeback_s": report.writeback_s,
        "model_metrics": report.metrics,
        "users": len(users),
        "items": len(items),
        "connections": args.connections,
        "offered_rps": args.offered_rps,
        "workers": args.workers,
        "threads": settings.threads,
        "duration_s": args.duration_s,
        "short_term_epochs": settings.short_term_epochs,
        # From the API's start until every worker held its lists ranked in advance.
        "lists_ready_s": on["lists_ready_s"],
        "lists_users_per_worker": on["lists_users"],
    }
    path = write_result("api_load", metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


def lists_per_worker(base: str) -> list[float]:
    """``ig_rec_lists_users`` of each live worker, from /metrics."""
    body = urllib.request.urlopen(f"{base}/metrics", timeout=10).read().decode()
    return [float(m) for m in re.findall(r"^ig_rec_lists_users\{[^}]*\} (\S+)$", body, re.M)]


def wait_for_lists(
    base: str, workers: int, users: int, timeout_s: float = 900
) -> tuple[float, float]:
    """Seconds until every worker holds lists for 99 % of ``users``, and the fewest held."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        held = lists_per_worker(base)
        if len(held) >= workers and min(held) >= 0.99 * users:
            return time.monotonic() - started, min(held)
        time.sleep(2)
    raise RuntimeError(f"lists not ranked in {timeout_s:.0f} s: {lists_per_worker(base)}")


def drive_api(
    settings: Settings,
    args: argparse.Namespace,
    users: list[str],
    items: list[str],
    key: str,
    lists: bool,
) -> dict[str, Any]:
    """Serves the API (lists ranked in advance on or off) and drives it with wrk."""
    env = {"IG_NEO4J_URI": settings.neo4j_uri, "IG_NEO4J_AUTH": "false",
           "IG_REC_LISTS": str(lists).lower()}  # fmt: skip
    started = time.monotonic()
    proc, base = start_api(env, args.workers)
    out: dict[str, Any] = {}
    try:
        if lists:
            waited, held = wait_for_lists(base, args.workers, len(users))
            out["lists_ready_s"], out["lists_users"] = time.monotonic() - started, held
            print(f"lists ranked in advance: {held:.0f} users per worker after {waited:.0f} s")
        # Warm-up, not measured: each worker loads the active item matrix on first use.
        run_wrk(f"{base}/api/v1/users/%s/recommendations?k=20", users, key, 20, args.connections)
        recs_url = f"{base}/api/v1/users/%s/recommendations?k=20"
        similar_url = f"{base}/api/v1/items/%s/similar?k=20"
        n, secs, rate = args.connections, args.duration_s, args.offered_rps
        out["recs"] = run_wrk(recs_url, users, key, secs, n, offered_rps=rate)
        out["recs_max"] = run_wrk(recs_url, users, key, secs, n)
        if lists:  # similar items do not use the lists: measured once
            out["similar"] = run_wrk(similar_url, items, key, secs, n, offered_rps=rate)
            out["similar_max"] = run_wrk(similar_url, items, key, secs, n)
        out["worker_rss"] = worker_rss_mib(proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return out


if __name__ == "__main__":
    raise SystemExit(main())
