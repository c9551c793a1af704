"""Replay a time-ordered dataset through the running service: does keeping the graph live pay?

Train on everything before a cut-off time, then stream a seeded sample of users' later events
in time order through ``POST /api/v1/events``; before each event ask ``GET .../recommendations
?k=20`` for that user and score the event's item (online HR@20 / NDCG@20). Modes, each from
the same restored database and model:

* ``frozen``  — no request-time fold-in, no short-term component, no sharing out between
  interests (all three react to new events), no refresh;
* ``foldin``  — the product's request-time fold-in and short-term component, no refresh;
* ``live``    — ``foldin`` plus the worker's scheduled incremental refresh;
* ``foldin_scores`` — ``foldin`` with the lists ranked by the scores alone, not shared out
  between the user's interests (``IG_REC_INTENT=false``): what that sharing changes;
* ``popular`` — the service's trending fallback (asked for a user it has never seen, minus
  what the real user already has), scored in the ``frozen`` pass.

Example::

    .venv/bin/python bench/replay.py amazon-beauty --users 1500
    .venv/bin/python bench/replay.py amazon-gift-cards --stream-share 0.2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.importer import import_events, import_items
from app.ingest.sources.datasets import open_dataset
from app.ingest.validation import IntakeLimits
from app.settings import Settings, load_settings, shared_data_dir
from app.training.pipeline import run_training, train_config_from
from bench.benchlib import REPO_ROOT, free_port, start_api, write_result
from graphdb.apikeys import create_key
from graphdb.driver import Neo4jTarget, connect
from graphdb.fold import FoldConfig
from graphdb.local.backup import dump_database, load_database
from graphdb.local.server import ServerConfig, start, stop
from graphdb.migrations import migrate
from graphdb.store import GraphStore

WORK = REPO_ROOT / "var" / "bench" / "replay"
MODE_ENV = {
    "frozen": {"IG_FOLDIN_WEIGHT": "0", "IG_SHORT_TERM_WEIGHT": "0", "IG_REC_INTENT": "false"},
    "foldin": {},
    "live": {},
    "foldin_scores": {"IG_REC_INTENT": "false"},
}
MODES = ("frozen", "foldin", "live", "foldin_scores", "popular")
NOBODY = "replay-nobody-has-this-id"


@dataclass
class Split:
    train: list[dict[str, Any]]
    stream: list[dict[str, Any]]
    items: list[dict[str, Any]]
    cutoff: str


def split_events(name: str, stream_share: float, users: int, seed: int) -> Split:
    """Everything before the cut-off trains; sampled users' later events are replayed."""
    source = open_dataset(name, shared_data_dir() / name)
    events = sorted(source.events(), key=lambda e: (e["ts"], e["user_id"], e["event_id"]))
    cutoff = events[min(int(len(events) * (1 - stream_share)), len(events) - 1)]["ts"]
    train = [e for e in events if e["ts"] < cutoff]
    later = [e for e in events if e["ts"] >= cutoff]
    candidates = sorted({e["user_id"] for e in later})
    chosen = set(random.Random(seed).sample(candidates, min(users, len(candidates))))
    stream = [e for e in later if e["user_id"] in chosen]
    return Split(train, stream, list(source.items()), cutoff)


def bench_config() -> ServerConfig:
    state = WORK / "neo4j"
    shutil.rmtree(state, ignore_errors=True)
    return ServerConfig(
        cache_dir=Path.home() / ".cache" / "interest-graph", state_dir=state,
        bolt_port=free_port(), http_port=free_port(), heap="2g", pagecache="512m", auth=False,
    )  # fmt: skip


def bench_settings(config: ServerConfig, models: Path, budget_s: float) -> Settings:
    return load_settings(
        neo4j_uri=config.bolt_uri, neo4j_auth=False, model_dir=models, model_kind="interest",
        train_time_budget_s=budget_s,
    )  # fmt: skip


def prepare(split: Split, config: ServerConfig, settings: Settings) -> dict[str, Any]:
    """Load the training part, train once, dump the database for every mode to start from."""
    start(config)
    with connect(Neo4jTarget(config.bolt_uri)) as driver:
        migrate(driver)
        import_items(GraphStore(driver), split.items, progress=False)
        import_events(GraphStore(driver), split.train, FoldConfig(), IntakeLimits(), progress=False)
        report = run_training(GraphStore(driver), settings, train_config_from(settings), force=True)
        key = create_key(driver, "replay", ["read", "write"])
    stop(config)
    dump_database(config, WORK / "dump")
    return {"train_report": report.summary(), "key": key}


def _call(url: str, key: str, payload: Any | None = None) -> tuple[Any, float]:
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        url, data=data, method="POST" if data else "GET",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )  # fmt: skip
    tick = time.perf_counter()
    # Generous: the first answer of a version loads its item index, slow on a busy machine.
    with urllib.request.urlopen(request, timeout=180) as response:
        body = json.loads(response.read())
    return body, (time.perf_counter() - tick) * 1000


@dataclass
class Score:
    hits: int = 0
    ndcg: float = 0.0
    events: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def add(self, ranked: list[str], item: str, k: int = 20) -> None:
        self.events += 1
        if item in ranked[:k]:
            self.hits += 1
            self.ndcg += 1 / math.log2(ranked.index(item) + 2)

    def summary(self) -> dict[str, float]:
        n = max(self.events, 1)
        out = {"hr20": self.hits / n, "ndcg20": self.ndcg / n, "events": self.events}
        if self.latencies_ms:
            out["recs_p50_ms"] = statistics.median(self.latencies_ms)
        return out


def replay(base: str, key: str, split: Split, mode: str) -> dict[str, Any]:
    """Streams the events; scores the mode (and popularity in the frozen pass)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for event in split.train:
        seen[event["user_id"]].add(event["item_id"])
    score, popular, foldin_ms = Score(), Score(), []
    for n, event in enumerate(split.stream):
        user, item = event["user_id"], event["item_id"]
        body, ms = _call(f"{base}/api/v1/users/{user}/recommendations?k=20", key)
        score.latencies_ms.append(ms)
        score.add([r["item_id"] for r in body["items"]], item)
        if mode == "frozen":
            trending, _ = _call(f"{base}/api/v1/users/{NOBODY}/recommendations?k=300", key)
            ranked = [r["item_id"] for r in trending["items"] if r["item_id"] not in seen[user]]
            popular.add(ranked, item)
        _, post_ms = _call(f"{base}/api/v1/events", key, {"events": [event]})
        seen[user].add(item)
        if mode == "foldin" and n % 10 == 0:  # accepted event -> recommendations that use it
            _, get_ms = _call(f"{base}/api/v1/users/{user}/recommendations?k=20", key)
            foldin_ms.append(post_ms + get_ms)
    out: dict[str, Any] = {mode: score.summary()}
    if mode == "frozen":
        out["popular"] = popular.summary()
    if foldin_ms:
        out["foldin_latency_ms"] = statistics.median(foldin_ms)
    return out


def refresh_runs(config: ServerConfig) -> dict[str, float]:
    with connect(Neo4jTarget(config.bolt_uri)) as driver:
        records = driver.execute_query(
            "MATCH (r:RefreshRun) WHERE r.status = 'succeeded' AND r.kind = 'incremental' "
            "RETURN count(r) AS runs, avg(r.written) AS written, avg(r.refreshed) AS refreshed, "
            "max(r.max_untouched_drift) AS drift, avg(r.seconds) AS seconds"
        ).records
    return {k: float(v or 0.0) for k, v in records[0].data().items()}


def run_mode(
    mode: str, split: Split, config: ServerConfig, settings: Settings, key: str, refresh_s: int
) -> dict[str, Any]:
    load_database(config, WORK / "dump")
    start(config)
    env = {"IG_NEO4J_URI": config.bolt_uri, "IG_NEO4J_AUTH": "false",
           "IG_MODEL_DIR": str(settings.model_dir), **MODE_ENV[mode]}  # fmt: skip
    api, base = start_api(env, workers=2)
    worker = None
    if mode == "live":
        worker_env = {**env, "IG_REFRESH_INTERVAL_S": str(refresh_s)}
        worker = subprocess.Popen(
            [str(Path(sys.executable).parent / "interest-graph"), "worker"],
            env={**os.environ, **worker_env},
            stdout=subprocess.DEVNULL, stderr=(WORK / "worker.log").open("w"),
        )  # fmt: skip
    try:
        tick = time.perf_counter()
        result = replay(base, key, split, mode)
        result[f"{mode}_seconds"] = time.perf_counter() - tick
        if mode == "live":
            result["refresh_runs"] = refresh_runs(config)
    finally:
        for proc in (api, worker):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=60)
        stop(config)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dataset", choices=["amazon-beauty", "amazon-gift-cards"])
    parser.add_argument("--stream-share", type=float, default=0.2)
    parser.add_argument("--users", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--refresh-interval-s", type=int, default=20)
    parser.add_argument("--modes", default="frozen,foldin,live")
    parser.add_argument("--train-budget-s", type=float, default=300.0, help="per model part")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    split = split_events(args.dataset, args.stream_share, args.users, args.seed)
    print(f"train {len(split.train)} events, stream {len(split.stream)} (cut-off {split.cutoff})")
    config = bench_config()
    settings = bench_settings(config, WORK / "models", args.train_budget_s)
    shutil.rmtree(settings.model_dir, ignore_errors=True)
    details: dict[str, Any] = {"cutoff": split.cutoff, "train_events": len(split.train),
                               "stream_events": len(split.stream), "users": args.users,
                               "refresh_interval_s": args.refresh_interval_s}  # fmt: skip
    details.update(prepare(split, config, settings))
    key = details.pop("key")
    for mode in args.modes.split(","):
        details.update(run_mode(mode, split, config, settings, key, args.refresh_interval_s))
        print(json.dumps({k: v for k, v in details.items() if k in (mode, "popular")}), flush=True)
    short = "beauty" if args.dataset == "amazon-beauty" else "giftcards"
    metrics = {
        f"replay_{short}_hr20_{mode}": details[mode]["hr20"] for mode in MODES if mode in details
    }
    metrics.update({
        f"replay_{short}_ndcg20_{mode}": details[mode]["ndcg20"]
        for mode in MODES
        if mode in details
    })  # fmt: skip
    if "foldin_latency_ms" in details:
        metrics["foldin_latency_ms"] = details["foldin_latency_ms"]
    path = write_result(f"replay_{short}", metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
