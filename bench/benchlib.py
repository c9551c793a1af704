"""Shared pieces of the service benchmarks: ports, the API under gunicorn, process memory.

Result files are written by ``bench._common.write_result`` (re-exported here).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench._common import write_result

if TYPE_CHECKING:
    from app.settings import Settings
    from graphdb.local.server import ServerConfig

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "REPO_ROOT",
    "free_port",
    "bench_server_config",
    "fresh_service_settings",
    "rss_mib",
    "start_api",
    "worker_rss_mib",
    "write_result",
]


def rss_mib(pid: int) -> float:
    """Resident memory of a process, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_server_config(state_dir: Path) -> ServerConfig:
    """A bench's own local Neo4j (no auth, free ports, 1 GiB heap) keeping its state in
    ``state_dir``."""
    from graphdb.local.server import ServerConfig

    return ServerConfig(
        cache_dir=Path.home() / ".cache" / "interest-graph", state_dir=state_dir,
        bolt_port=free_port(), http_port=free_port(), heap="1g", pagecache="256m", auth=False,
    )  # fmt: skip


def fresh_service_settings(name: str, **overrides: Any) -> Settings:
    """Settings for a bench's own local Neo4j: an emptied state folder ``var/bench/<name>``
    (server data and model registry), no auth, free ports, and that server's Bolt URI."""
    from app.settings import load_settings

    state = REPO_ROOT / "var" / "bench" / name
    shutil.rmtree(state, ignore_errors=True)
    settings = load_settings(
        state_dir=state, neo4j_auth=False, neo4j_bolt_port=free_port(),
        neo4j_http_port=free_port(), model_dir=state / "models", **overrides,
    )  # fmt: skip
    return settings.model_copy(update={"neo4j_uri": settings.server_config().bolt_uri})


def start_api(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    """``interest-graph serve`` under gunicorn on a free port; returns it once ready."""
    port = free_port()
    env = {**os.environ, **env, "IG_PORT": str(port), "IG_WORKERS": str(workers)}
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "interest-graph"), "serve"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{base}/health/ready", timeout=2).read()
            return proc, base
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise RuntimeError("API did not become ready")


def worker_rss_mib(proc: subprocess.Popen[bytes]) -> float:
    """The largest resident size among gunicorn's worker processes."""
    children = subprocess.run(
        ["pgrep", "-P", str(proc.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    return max((rss_mib(int(pid)) for pid in children), default=rss_mib(proc.pid))
