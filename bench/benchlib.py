"""Shared pieces of the service benchmarks: ports, the API under gunicorn, process memory.

Result files are written by ``bench._common.write_result`` (re-exported here).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench._common import write_result

REPO_ROOT = Path(__file__).resolve().parents[1]

__all__ = [
    "REPO_ROOT",
    "free_port",
    "rss_mib",
    "shared_data_dir",
    "start_api",
    "worker_rss_mib",
    "write_result",
]


def shared_data_dir() -> Path:
    override = os.environ.get("IG_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


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
