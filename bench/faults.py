"""Faults: the service against a killed database, a killed training, racing duplicates, fuzzing
and a revoked key, on a stack of its own (Neo4j, the API under gunicorn, the ``train`` CLI).

Metrics (``bench/results/faults.json``):

* ``fault_acked_events_lost``: 4 writer threads post batches of events with unique ids while
  the Neo4j JVM is killed with SIGKILL and started again; acknowledged (200) ids missing from
  the graph afterwards (must be 0);
* ``fault_neo4j_recovery_s``: from the kill to the answer (200) of the first write sent after it;
* ``fault_writeback_crash_consistent``: 1 when a ``train`` killed while staging vectors leaves
  the served version, the registry's note and ``GET /api/v1/models`` on the version served,
  and the next retrain is gated against it and takes back the staged vectors, the staging
  version and its registry folder (every check is in ``details``);
* ``fault_concurrent_duplicate_5xx``: 20 threads each post 50 events whose ids come from a
  shared pool of 300; server errors among those 1,000 answers (must be 0);
* ``fuzz_cases`` / ``fuzz_5xx``: schemathesis over every operation (``bench.fuzz``), left out
  when that module is not there;
* ``revoke_effective_s``: a key revoked in the graph (as ``interest-graph apikey revoke``
  does; the API has no key endpoint) until no API worker accepts it any more.

Run from the repository root::

    .venv/bin/python bench/faults.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.benchlib import REPO_ROOT, local_server, start_api, write_result
from graphdb.driver import Neo4jTarget, connect
from graphdb.local.server import ServerConfig, start, status, stop
from graphdb.migrations import migrate
from graphdb.store import GraphStore

WORK = REPO_ROOT / "var" / "bench" / "faults"
CLI = Path(sys.executable).parent / "interest-graph"
ACCESS_LOG = WORK / "access.log"
API_WORKERS = 2
LEASE_TTL_S = 5.0  # the least the settings allow: a killed training's lease ends this soon
# Slot values of versions never switched to (a killed training's), in either slot.
STAGED = (
    "MATCH (m:ModelVersion) WHERE NOT m.status IN ['active', 'superseded'] "
    "MATCH (n) WHERE n.embedding_version_a = m.version OR n.embedding_version_b = m.version "
    "RETURN count(n) AS n"
)
STORED = "MATCH (x:Interaction) WHERE x.event_id IN $ids RETURN count(x) AS n"


@dataclass
class Stack:
    config: ServerConfig
    base: str
    key: str
    env: dict[str, str]
    store: GraphStore
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def count(self, query: str, **params: Any) -> int:
        return int(self.store.reads.driver.execute_query(query, **params).records[0]["n"])


def call(
    base: str,
    path: str,
    key: str,
    payload: Any | None = None,
    timeout: float = 30.0,
    agent: str = "bench-faults",
) -> tuple[int, Any]:
    """One request; the status and the JSON body (``None`` when there is none)."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(
        base + path, data=data, method="POST" if data else "GET",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}",
                 "User-Agent": agent},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, None


# -- the stack and its shop --------------------------------------------------------------------


def shop(users: int, items: int, seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Users who shop in one of 8 categories, 10 events each over the last month."""
    rng = np.random.default_rng(seed)
    catalog = [{"item_id": f"f-i{i}", "title": f"item {i}",
                "category_path": ["Shop", f"Category {i % 8}"]} for i in range(items)]  # fmt: skip
    start_at = datetime.now(UTC) - timedelta(days=30)
    events = []
    for u in range(users):
        home = [i for i in range(items) if i % 8 == u % 8]
        for n, i in enumerate(rng.choice(home, size=10, replace=False)):
            at = start_at + timedelta(hours=3 * n + u % 24)
            events.append({"user_id": f"f-u{u}", "item_id": f"f-i{i}", "ts": at.isoformat(),
                           "type": "purchase" if rng.random() < 0.3 else "view"})  # fmt: skip
    return catalog, events


def start_stack(config: ServerConfig) -> Stack:
    start(config)
    store = GraphStore(connect(Neo4jTarget(config.bolt_uri)))
    migrate(store.reads.driver)
    key = store.api_keys.create("bench-faults", ["admin"])
    env = {"IG_NEO4J_URI": config.bolt_uri, "IG_NEO4J_AUTH": "false", "IG_API_AUTH": "true",
           "IG_MODEL_DIR": str(WORK / "models"), "IG_MODEL_KIND": "inductive",
           "IG_TRAIN_EPOCHS": "8", "IG_SHORT_TERM_WEIGHT": "0",
           "IG_LEASE_TTL_S": str(LEASE_TTL_S), "IG_NEO4J_RETRY_S": "2"}  # fmt: skip
    # The access log names the worker (its pid) that answered each request (by user agent).
    logged = {**env, "GUNICORN_CMD_ARGS": "--access-logformat='%(p)s %(s)s %(a)s'"}
    api, base = start_api(logged, workers=API_WORKERS, access_log=ACCESS_LOG)
    return Stack(config, base, key, env, store, [api])


def load_shop(stack: Stack, catalog: list[dict[str, Any]], events: list[dict[str, Any]]) -> None:
    request = urllib.request.Request(
        stack.base + "/api/v1/items", data=json.dumps({"items": catalog}).encode(), method="PUT",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {stack.key}"},
    )  # fmt: skip
    urllib.request.urlopen(request, timeout=120).read()
    for at in range(0, len(events), 1000):
        code, _ = call(stack.base, "/api/v1/events", stack.key, {"events": events[at : at + 1000]})
        if code != 200:
            raise SystemExit(f"loading the shop's events answered {code}")


def train_cli(stack: Stack, *args: str, **env: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(CLI), "train", *args], env={**os.environ, **stack.env, **env},
        stdout=subprocess.DEVNULL, stderr=(WORK / "train.log").open("a"),
    )  # fmt: skip


# -- a training killed while staging ----------------------------------------------------------


def kill_while_staging(stack: Stack) -> None:
    """A forced retrain, one vector per staging transaction, SIGKILLed once it stages."""
    proc = train_cli(stack, "--force", IG_TRAIN_WRITE_BATCH="1")
    deadline = time.monotonic() + 300
    try:
        while stack.count(STAGED) == 0:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the training ended ({proc.returncode}) before staging")
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def served_views(stack: Stack, registry: Any) -> dict[str, Any]:
    """Which version the graph, ``GET /api/v1/models`` and the registry's note say is served."""
    _, listed = call(stack.base, "/api/v1/models", stack.key)
    active = stack.store.embeddings.active_version()
    return {"graph": active.version if active else None, "api": listed["active"],
            "api_active_count": sum(bool(v["active"]) for v in listed["versions"]),
            "note": registry.active(), "statuses": {v["version"]: v["status"]
                                                    for v in listed["versions"]}}  # fmt: skip


def writeback_crash(stack: Stack) -> tuple[float, dict[str, Any]]:
    from app.settings import load_settings
    from app.training.pipeline import run_training, train_config_from
    from ml.registry import ModelRegistry

    registry = ModelRegistry(WORK / "models")
    served = registry.active()
    kill_while_staging(stack)
    killed = sorted(set(registry.versions()) - {served})
    after_kill = served_views(stack, registry)
    checks = {"kill_served_unchanged": after_kill["graph"] == after_kill["api"] == served,
              "kill_one_active": after_kill["api_active_count"] == 1,
              "kill_note_unchanged": after_kill["note"] == served,
              "kill_left_staged": stack.count(STAGED) > 0}  # fmt: skip
    time.sleep(LEASE_TTL_S)  # the killed training's lease ends
    settings = load_settings(neo4j_uri=stack.config.bolt_uri, neo4j_auth=False,
                             model_dir=WORK / "models", model_kind="inductive", train_epochs=8,
                             short_term_weight=0.0, lease_ttl_s=LEASE_TTL_S)  # fmt: skip
    report = run_training(stack.store, settings, train_config_from(settings, seed=1))
    after = served_views(stack, registry)
    now_served = report.version if report.promoted else served
    checks |= {
        "next_gated_against_served": report.gate is not None and report.gate.champion is not None,
        "next_no_staged_left": stack.count(STAGED) == 0,
        "next_killed_abandoned": all(after["statuses"].get(v) == "abandoned" for v in killed),
        "next_killed_folders_gone": not set(killed) & set(registry.versions()),
        "next_consistent": after["graph"] == after["api"] == after["note"] == now_served,
        "next_one_active": after["api_active_count"] == 1,
    }
    details = {
        "served": served,
        "killed": killed,
        "next": report.version,
        "next_promoted": report.promoted,
        "next_reason": report.reason,
        "checks": checks,
    }
    return float(all(checks.values()) and bool(killed)), details


# -- racing duplicates ------------------------------------------------------------------------


def concurrent_duplicates(stack: Stack, catalog: list[dict[str, Any]]) -> tuple[int, dict]:
    """20 threads x 50 single-event posts, ids drawn from a shared pool of 300."""
    now = datetime.now(UTC)
    pool = [{"event_id": f"dup-{k}", "user_id": f"f-u{k % 50}",
             "item_id": catalog[k % len(catalog)]["item_id"], "type": "view",
             "ts": (now - timedelta(seconds=k)).isoformat()} for k in range(300)]  # fmt: skip
    codes: list[int] = []
    posted: set[str] = set()
    lock = threading.Lock()

    def post(seed: int) -> None:
        for k in np.random.default_rng(seed).integers(0, len(pool), 50):
            code, _ = call(stack.base, "/api/v1/events", stack.key, pool[k])
            with lock:
                codes.append(code)
                posted.add(pool[k]["event_id"])

    _run_threads(post, 20)
    stored = stack.count(STORED, ids=sorted(posted))
    counts = {str(c): codes.count(c) for c in sorted(set(codes))}
    return sum(c >= 500 for c in codes), {"codes": counts, "distinct_ids": len(posted),
                                          "stored": stored}  # fmt: skip


def _run_threads(target: Callable[[int], None], n: int) -> None:
    threads = [threading.Thread(target=target, args=(k,)) for k in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


# -- Neo4j killed under writers ---------------------------------------------------------------


@dataclass
class Writes:
    acked: list[str] = field(default_factory=list)
    # (sent, answered) times of accepted batches
    accepted_at: list[tuple[float, float]] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, code: int, sent: float, ids: list[str]) -> None:
        answered = time.monotonic()
        with self.lock:
            self.codes[str(code)] = self.codes.get(str(code), 0) + 1
            if code == 200:
                self.acked.extend(ids)
                self.accepted_at.append((sent, answered))


def kill_neo4j_under_writers(
    stack: Stack, catalog: list[dict[str, Any]]
) -> tuple[int, float, dict[str, Any]]:
    writes, stop_writing = Writes(), threading.Event()

    def writer(w: int) -> None:
        n = 0
        while not stop_writing.is_set():
            ids = [f"kill-{w}-{n + k}" for k in range(10)]
            n += 10
            batch = [{"event_id": i, "user_id": f"f-u{w}", "type": "view",
                      "item_id": catalog[(n + w) % len(catalog)]["item_id"],
                      "ts": datetime.now(UTC).isoformat()} for i in ids]  # fmt: skip
            sent = time.monotonic()
            try:
                code, _ = call(stack.base, "/api/v1/events", stack.key, batch, timeout=60)
            except OSError:
                code = 0  # no answer at all
            writes.note(code, sent, ids)
            time.sleep(0.02)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3.0)
    pid = status(stack.config).pid
    assert pid is not None, "Neo4j is not running"
    killed_at = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    while _running(pid):
        time.sleep(0.05)
    restarting = time.monotonic()
    start(stack.config)  # as `interest-graph neo4j start` does: recovery from the log
    restart_s = time.monotonic() - restarting
    while not any(sent > killed_at for sent, _ in list(writes.accepted_at)):
        assert time.monotonic() - killed_at < 300, "no write was accepted after the restart"
        time.sleep(0.05)
    time.sleep(2.0)
    stop_writing.set()
    for thread in threads:
        thread.join()
    # Until the answer: a batch sent during the outage waits in the driver's retries, so its
    # send time would understate the outage.
    recovery = min(done for sent, done in writes.accepted_at if sent > killed_at) - killed_at
    lost = len(writes.acked) - stack.count(STORED, ids=writes.acked)
    details = {"acked_events": len(writes.acked), "codes": writes.codes,
               "restart_s": round(restart_s, 2)}  # fmt: skip
    return lost, recovery, details


def _running(pid: int) -> bool:
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)  # the server is our child: reap it
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


# -- a revoked key ----------------------------------------------------------------------------


def revoke_effective(stack: Stack) -> tuple[float, dict[str, Any]]:
    """Seconds from the revocation's commit until every API worker refuses the key.

    Six threads poll with the key, each request tagged by its user agent; gunicorn's access
    log says which worker answered it. Per worker: the first refusal sent after its last
    acceptance; the figure is the latest of those over the workers.
    """
    raw = stack.store.api_keys.create("bench-revoked", ["read"])
    path = "/api/v1/graph/stats"
    warm = [call(stack.base, path, raw)[0] for _ in range(40)]  # every worker caches it
    assert set(warm) == {200}, warm
    sent: dict[str, tuple[float, int]] = {}
    lock, done = threading.Lock(), threading.Event()

    def poll(k: int) -> None:
        n = 0
        while not done.is_set():
            probe, n, at = f"probe-{k}-{n}", n + 1, time.monotonic()
            code, _ = call(stack.base, path, raw, agent=probe)
            with lock:
                sent[probe] = (at, code)

    pollers = [threading.Thread(target=poll, args=(k,)) for k in range(6)]
    for thread in pollers:
        thread.start()
    time.sleep(0.5)
    revoked_at = time.monotonic()
    assert stack.store.api_keys.revoke(raw.split("_")[1])
    time.sleep(3.0)  # six of the workers' 0.5 s polls
    done.set()
    for thread in pollers:
        thread.join()
    time.sleep(0.5)  # the last log lines
    return _effective_per_worker(sent, _answered_by(), revoked_at)


def _answered_by() -> dict[str, str]:
    """Probe -> the pid of the gunicorn worker that answered it, from the access log."""
    found = {}
    for line in ACCESS_LOG.read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].startswith("probe-"):
            found[parts[2]] = parts[0].strip("<>")
    return found


def _effective_per_worker(
    sent: dict[str, tuple[float, int]], worker_of: dict[str, str], revoked_at: float
) -> tuple[float, dict[str, Any]]:
    per_worker: dict[str, list[tuple[float, int]]] = {}
    for probe, (at, code) in sent.items():
        if at >= revoked_at and probe in worker_of:
            per_worker.setdefault(worker_of[probe], []).append((at, code))
    effective = {}
    for pid, answers in per_worker.items():
        last_ok = max((at for at, code in answers if code == 200), default=revoked_at)
        refused = [at for at, code in answers if code == 401 and at >= last_ok]
        if not refused:
            raise SystemExit(f"API worker {pid} still accepted the key 3 s after its revocation")
        effective[pid] = round(min(refused) - revoked_at, 3)
    if len(effective) < API_WORKERS:
        raise SystemExit(f"only {len(effective)} of {API_WORKERS} API workers were polled")
    return max(effective.values()), {
        "requests_after": sum(len(a) for a in per_worker.values()),
        "accepted_after": sum(code == 200 for a in per_worker.values() for _, code in a),
        "effective_s_by_worker": list(effective.values()),
    }


# -- the run ----------------------------------------------------------------------------------


def fuzz(stack: Stack) -> dict[str, float]:
    try:
        from bench.fuzz import fuzz_metrics  # another branch's module; absent until merged
    except ImportError as error:
        print(f"fuzz skipped: bench.fuzz is not available ({error})")
        return {}
    return fuzz_metrics(stack.base, stack.key)


def run(stack: Stack, users: int, items: int) -> tuple[dict[str, float], dict[str, Any]]:
    catalog, events = shop(users, items, seed=0)
    load_shop(stack, catalog, events)
    if train_cli(stack).wait() != 0:
        raise SystemExit(f"the first training failed; see {WORK / 'train.log'}")
    metrics: dict[str, float] = {}
    details: dict[str, Any] = {"users": users, "items": items, "events": len(events)}
    metrics["fault_writeback_crash_consistent"], details["writeback"] = writeback_crash(stack)
    metrics["fault_concurrent_duplicate_5xx"], details["duplicates"] = concurrent_duplicates(
        stack, catalog
    )
    metrics["revoke_effective_s"], details["revoke"] = revoke_effective(stack)
    lost, recovery, details["neo4j_kill"] = kill_neo4j_under_writers(stack, catalog)
    metrics["fault_acked_events_lost"], metrics["fault_neo4j_recovery_s"] = lost, recovery
    metrics |= fuzz(stack)
    return metrics, details


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--items", type=int, default=240)
    parser.add_argument("--quick", action="store_true", help="a shop of 160 users, 96 items")
    args = parser.parse_args()
    if args.quick:
        args.users, args.items = 160, 96
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    config = local_server(WORK / "neo4j")
    stack = start_stack(config)
    try:
        metrics, details = run(stack, args.users, args.items)
    finally:
        for proc in stack.procs:
            proc.terminate()
            proc.wait(timeout=60)
        stack.store.close()
        stop(config)
    path = write_result("faults", metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
