"""Shared helpers of the bench scripts: machine description and result JSON files."""

from __future__ import annotations

import json
import os
import platform
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine_description() -> str:
    """CPU model, core count, RAM and GPU (if any) of this machine, in one line."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    parts = [f"{cpu}, {os.cpu_count()} cores"]
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        parts.append(f"{pages / 2**30:.0f} GiB RAM")
    except (ValueError, OSError):
        pass
    try:
        import torch

        if torch.cuda.is_available():
            parts.append(f"GPU {torch.cuda.get_device_name(0)}")
    except ImportError:
        pass
    return ", ".join(parts) + f", {platform.system()} {platform.release()}"


def write_result(script: str, metrics: dict[str, float], extra: dict | None = None) -> Path:
    """Writes ``bench/results/<script>.json`` with command, machine, date and metrics."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    payload = {
        "command": " ".join(shlex.quote(a) for a in [Path(sys.executable).name, *sys.argv]),
        "machine": machine_description(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "metrics": {name: float(value) for name, value in metrics.items()},
    }
    if extra:
        payload["details"] = extra
    path = RESULTS_DIR / f"{script}.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when available, else CPU; anything else is passed to torch."""
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
