"""`interest-graph backup` and `restore` against the real local server: the graph, the active
model version pointer and the schema come back; wrong uses are refused with a clear message."""

from __future__ import annotations

import os
import shutil
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from app.cli import main
from app.settings import load_settings
from graphdb.catalog import ItemRow
from graphdb.driver import connect
from graphdb.embeddings import NodeVectors
from graphdb.fold import EventRow, FoldConfig
from graphdb.local.server import stop
from graphdb.store import GraphStore
from tests.conftest import free_port

pytestmark = pytest.mark.skipif(
    shutil.which("java") is None or shutil.which("mvn") is None,
    reason="backup and restore need the locally provisioned Neo4j",
)
T0 = 1_700_000_000_000
CACHE_DIR = os.environ.get("IG_CACHE_DIR", str(Path.home() / ".cache" / "interest-graph"))


def _use_local_server(monkeypatch: pytest.MonkeyPatch, state: Path) -> None:
    """Settings for a local server of its own, auth on (as deployed), small memory."""
    bolt = free_port()
    for name, value in {
        "IG_STATE_DIR": str(state), "IG_CACHE_DIR": CACHE_DIR, "IG_NEO4J_BOLT_PORT": str(bolt),
        "IG_NEO4J_HTTP_PORT": str(free_port()), "IG_NEO4J_URI": f"bolt://127.0.0.1:{bolt}",
        "IG_NEO4J_HEAP": "512m", "IG_NEO4J_PAGECACHE": "64m", "IG_NEO4J_AUTH": "true",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("IG_NEO4J_PASSWORD", raising=False)


def _store() -> GraphStore:
    return GraphStore.connect(load_settings().neo4j_target())


def _write_shop(store: GraphStore, version: str, seed: int) -> None:
    """Two items, two users' events and an active model version over them."""
    store.catalog.upsert_items([ItemRow("i1", title="kettle", provided=frozenset({"title"})),
                                ItemRow("i2", title="mug", provided=frozenset({"title"}))])  # fmt: skip
    store.events.write_events([
        EventRow("e1", "u1", "i1", "purchase", T0), EventRow("e2", "u2", "i2", "view", T0),
    ], FoldConfig(half_life_days=30))  # fmt: skip
    rng = np.random.default_rng(seed)
    vectors = {k: NodeVectors(ids, rng.standard_normal((2, 64)).astype(np.float32))
               for k, ids in (("users", ["u1", "u2"]), ("items", ["i1", "i2"]))}  # fmt: skip
    store.embeddings.write_model_version(
        version, vectors["users"], vectors["items"], model="interest", config={}, metrics={}
    )


def _picture(store: GraphStore) -> tuple[int, int, str | None, int]:
    """Interactions, data nodes, the active version and the migrations not applied."""
    active = store.embeddings.active_version()
    pending = store.migrations.migrate(dry_run=True).pending
    return (store.events.count_interactions(), store.events.count_data_nodes(),
            active.version if active else None, len(pending))  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out + out.err


def _started_shop(capsys: pytest.CaptureFixture[str]) -> tuple[int, int, str | None, int]:
    """Starts the local server, migrates, writes a shop with model ``v-original``; its picture."""
    assert _run(capsys, "neo4j", "start")[0] == 0
    assert _run(capsys, "migrate")[0] == 0
    with closing(_store()) as store:
        _write_shop(store, "v-original", seed=1)
        return _picture(store)


def test_backup_then_restore_brings_the_graph_and_active_version_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_local_server(monkeypatch, tmp_path / "var")
    dump = tmp_path / "backups" / "shop.dump"
    config = load_settings().server_config()
    try:
        before = _started_shop(capsys)
        assert before[0] == 2 and before[1] >= 4 and before[2:] == ("v-original", 0)
        code, said = _run(capsys, "backup", str(dump))
        assert code == 1 and "running" in said and "neo4j stop" in said and not dump.exists()

        assert _run(capsys, "neo4j", "stop")[0] == 0
        code, said = _run(capsys, "backup", str(dump))
        assert code == 0 and dump.stat().st_size > 0 and "model registry" in said

        # A later model version and then the loss of every node: the restore undoes both.
        assert _run(capsys, "neo4j", "start")[0] == 0
        with closing(_store()) as store:
            _write_shop(store, "v-later", seed=2)
            assert store.embeddings.active_version().version == "v-later"  # type: ignore[union-attr]
        with connect(load_settings().neo4j_target()) as driver:
            driver.execute_query("MATCH (n) DETACH DELETE n")
        with closing(_store()) as store:
            assert _picture(store)[:3] == (0, 0, None) and _picture(store)[3] > 0
        code, said = _run(capsys, "restore", str(dump))
        assert code == 1 and "running" in said
        assert _run(capsys, "neo4j", "stop")[0] == 0
        code, said = _run(capsys, "restore", str(tmp_path / "missing.dump"))
        assert code == 1 and "not found" in said
        assert _run(capsys, "restore", str(dump))[0] == 0

        assert _run(capsys, "neo4j", "start")[0] == 0
        with closing(_store()) as store:
            assert _picture(store) == before
            assert _run(capsys, "migrate", "--dry-run")[1].strip() == "schema is up to date"
    finally:
        stop(config)


def test_restore_into_a_fresh_state_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new machine: no state folder, no password yet; the restored graph starts with auth."""
    _use_local_server(monkeypatch, tmp_path / "old")
    dump = tmp_path / "shop.dump"
    old = load_settings().server_config()
    try:
        before = _started_shop(capsys)
    finally:
        stop(old)
    assert _run(capsys, "backup", str(dump))[0] == 0

    _use_local_server(monkeypatch, tmp_path / "new")
    new = load_settings().server_config()
    assert _run(capsys, "restore", str(dump))[0] == 0
    try:
        assert _run(capsys, "neo4j", "start")[0] == 0
        assert new.password_file.exists()
        with closing(_store()) as store:
            assert _picture(store) == before
    finally:
        stop(new)


def test_backup_refuses_a_graph_that_is_not_the_local_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _use_local_server(monkeypatch, tmp_path / "var")
    monkeypatch.setenv("IG_NEO4J_URI", "neo4j+s://abc123.databases.neo4j.io")
    code, said = _run(capsys, "backup", str(tmp_path / "x.dump"))
    assert code == 1 and "not the local server" in said and not (tmp_path / "x.dump").exists()
    code, said = _run(capsys, "restore", str(tmp_path / "x.dump"))
    assert code == 1
