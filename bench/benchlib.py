"""Shared pieces of the benchmark scripts: result files, machine description, a Neo4j."""

from __future__ import annotations

import json
import os
import platform
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.release()}"
    return f"{os.cpu_count()} cores ({cpu}), {mem_gib:.0f} GiB RAM, {system}"


def write_result(
    script: str, metrics: dict[str, float], extra: dict[str, object] | None = None
) -> Path:
    """Write ``bench/results/<script>.json`` in the project's result format."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload: dict[str, object] = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {name: float(value) for name, value in metrics.items()},
    }
    if extra:
        payload["details"] = extra
    path = RESULTS_DIR / f"{script}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    return path


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
