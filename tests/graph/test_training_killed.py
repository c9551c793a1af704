"""``interest-graph train`` killed at any point leaves the served version and the registry's
note as they were, the next retrain is judged against the version really served, and it
takes back what the killed ones left: staged vectors, staging versions, registry folders."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from app.ingest.importer import import_events, import_items
from app.ingest.validation import IntakeLimits
from app.training.pipeline import run_training, train_config_from
from graphdb.fold import FoldConfig
from graphdb.slots import active_stamp
from graphdb.store import GraphStore
from ml.registry import ModelRegistry
from tests.communities import separated_settings, separated_shop
from tests.conftest import Neo4jTestServer

LEASE_TTL_S = 5.0  # the least the settings allow: how long a killed training's lease outlives it
CLI = Path(sys.executable).parent / "interest-graph"
# Slot values of versions that never became active (a killed training's).
STAGED = (
    "MATCH (m:ModelVersion) WHERE m.status <> 'active' AND m.status <> 'superseded' "
    "MATCH (n) WHERE n.embedding_version_a = m.version OR n.embedding_version_b = m.version "
    "RETURN count(n) AS n"
)
NOT_SERVED = (
    "MATCH (m:ModelVersion {active: true}) MATCH (n) WHERE (n:User OR n:Item) "
    "AND coalesce(" + active_stamp("n") + ", '') <> $version RETURN count(n) AS n"
)


def _env(server: Neo4jTestServer, tmp_path: Path) -> dict[str, str]:
    target = server.target
    env = {**os.environ, "IG_NEO4J_URI": target.uri, "IG_MODEL_DIR": str(tmp_path / "models"),
           "IG_NEO4J_AUTH": "true" if target.password else "false", "IG_TRAIN_EPOCHS": "8",
           "IG_MODEL_KIND": "inductive", "IG_SHORT_TERM_WEIGHT": "0",
           "IG_LEASE_TTL_S": str(LEASE_TTL_S),
           # One vector per staging transaction: the write-back lasts long enough to be hit.
           "IG_TRAIN_WRITE_BATCH": "1"}  # fmt: skip
    if target.password:
        env["IG_NEO4J_PASSWORD"] = target.password
    return env


def _count(store: GraphStore, query: str, **params: str) -> int:
    return int(store.reads.driver.execute_query(query, **params).records[0]["n"])


def _kill_when(
    condition: Callable[[], bool], server: Neo4jTestServer, tmp_path: Path, what: str
) -> None:
    """Starts a forced retrain (so it would write back) and SIGKILLs it once ``condition``."""
    proc = subprocess.Popen(
        [str(CLI), "train", "--force"], env=_env(server, tmp_path),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not condition():
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                pytest.fail(f"the training ended ({proc.returncode}) before {what}: {err}")
            assert time.monotonic() < deadline, f"timed out waiting until {what}"
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_training_killed_anywhere_changes_nothing_served_and_is_cleaned_up(
    graph: object, neo4j_server: Neo4jTestServer, tmp_path: Path, client: FlaskClient
) -> None:
    store = GraphStore(graph)  # type: ignore[arg-type]
    items, events = separated_shop(seed=5)
    import_items(store, items, progress=False)
    import_events(store, events, FoldConfig(), IntakeLimits(), progress=False)
    settings = separated_settings(neo4j_server, tmp_path, lease_ttl_s=LEASE_TTL_S)
    served = run_training(store, settings, train_config_from(settings)).version
    registry = ModelRegistry(settings.model_dir)
    kept, started, killed = 0, 0.0, set()
    points: list[tuple[str, Callable[[], bool]]] = [
        ("it starts", lambda: time.monotonic() - started > 1.0),
        ("its version is in the registry", lambda: len(registry.versions()) > kept),
        ("its vectors are being staged", lambda: _count(store, STAGED) > 0),
    ]
    for what, condition in points:
        kept, started = len(registry.versions()), time.monotonic()
        _kill_when(condition, neo4j_server, tmp_path, what)
        active = store.embeddings.active_version()
        assert active is not None and active.version == served, what
        assert _count(store, NOT_SERVED, version=served) == 0, what  # no vector of another
        assert registry.active() == served, what
        killed |= set(registry.versions()) - {served}  # a later one may clean it up already
    assert _count(store, STAGED) > 0  # the last one died with vectors staged
    assert len(killed) >= 2  # the ones killed once saved and while staging
    time.sleep(LEASE_TTL_S)  # the dead trainings' leases end
    # The next retrain takes back what they left and is judged against the version served.
    report = run_training(store, settings, train_config_from(settings, seed=1))
    assert report.gate is not None and report.gate.champion is not None
    assert _count(store, STAGED) == 0
    status = {v.version: v.status for v in store.inspection.model_versions()}
    assert "staging" not in status.values()
    assert all(status[v] == "abandoned" for v in killed), status
    assert set(registry.versions()) == {served, report.version}  # the killed folders are gone
    left = {path.name for path in registry.versions_dir.glob(".*")}  # no half-saved ones
    assert left == {f".gone-{v}" for v in killed}  # the names stay taken
    listed = client.get("/api/v1/models").get_json()
    now_served = report.version if report.promoted else served
    assert [v["version"] for v in listed["versions"] if v["active"]] == [now_served]
    assert listed["active"] == now_served == registry.active()
