"""``interest-graph worker`` as its own process: it runs queued work, and stops cleanly."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from neo4j import Driver

from app.worker.scheduler import LEASE_NAME
from graphdb.lease import read_lease
from graphdb.refresh_runs import queue_run, read_run
from tests.conftest import Neo4jTestServer

CLI = Path(sys.executable).parent / "interest-graph"


def _env(server: Neo4jTestServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    target = server.target
    env = {**os.environ, "IG_NEO4J_URI": target.uri, "IG_MODEL_DIR": str(tmp_path / "models"),
           "IG_NEO4J_AUTH": "true" if target.password else "false", **extra}  # fmt: skip
    if target.password:
        env["IG_NEO4J_PASSWORD"] = target.password
    return env


def _wait_for(
    condition: Callable[[], bool], proc: subprocess.Popen[bytes], what: str, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"the worker exited ({proc.returncode}) before {what}: {_stderr(proc)}")
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.2)


def _stderr(proc: subprocess.Popen[bytes]) -> str:
    return proc.stderr.read().decode() if proc.stderr else ""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_worker_runs_queued_work_and_stops_cleanly(
    graph: Driver, neo4j_server: Neo4jTestServer, tmp_path: Path, signum: int
) -> None:
    run, _ = queue_run(graph, "incremental")  # no model yet: the refresh is skipped, with why
    proc = subprocess.Popen(
        [str(CLI), "worker"], env=_env(neo4j_server, tmp_path, IG_REFRESH_POLL_S="0.5"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:

        def leased() -> bool:
            state = read_lease(graph, LEASE_NAME)
            return state is not None and state.live

        def finished() -> bool:
            current = read_run(graph, run.id)
            return current is not None and current.status not in ("queued", "running")

        _wait_for(leased, proc, "the worker holds the lease", 30)
        _wait_for(finished, proc, "the queued run finished", 60)
        signalled = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=10) == 0, _stderr(proc)
        assert time.monotonic() - signalled < 10
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    ended = read_run(graph, run.id)
    assert ended is not None and ended.status == "skipped"
    assert "no active model version" in ended.reason
    state = read_lease(graph, LEASE_NAME)
    assert state is not None and state.holder is None and not state.live  # released
    assert "worker stopped" in _stderr(proc)


def test_an_invalid_retrain_cron_stops_the_worker_at_start(
    neo4j_server: Neo4jTestServer, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(CLI), "worker"], env=_env(neo4j_server, tmp_path, IG_RETRAIN_CRON="nightly"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert "retrain_cron" in done.stderr and "crontab" in done.stderr
