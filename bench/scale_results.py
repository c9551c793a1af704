"""``bench/results/scale.json`` and ``scale.png``: every stage's figures per size, kept as each
stage finishes, and the ``scale_*`` metrics derived from them.

The ``scale_*`` figure of a target is taken at the largest size where its stage ran; a growth
factor is the cost at the largest size over the cost at the smallest, for stages measured at
two sizes or more (the sizes are in ``details.growth_between``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench._common import RESULTS_DIR, write_result

# Target metric -> (stage, figure) at the largest size that ran the stage.
TARGETS = {
    "scale_events": ("bulk", "events"),
    "scale_bulk_events_per_s": ("bulk", "bulk_events_per_s"),
    "scale_full_train_writeback_min": ("train", "full_train_writeback_min"),
    "scale_train_s_per_epoch": ("train", "train_s_per_epoch"),
    "scale_writeback_per_s": ("train", "writeback_per_s"),
    "scale_refresh_s_10k_events": ("refresh", "refresh_s_10k_events"),
    "scale_refresh_refreshed": ("refresh", "refresh_refreshed"),
    "scale_api_recs_p99_ms": ("api", "api_recs_p99_ms"),
    "scale_api_filtered_p99_ms": ("api", "api_filtered_p99_ms"),
}
# The cost of each stage whose growth is judged.
COSTS = {
    "bulk": "bulk_s",
    "train": "full_train_writeback_min",
    "refresh": "refresh_s_10k_events",
    "api": "api_recs_p99_ms",
}
RSS = ("bulk_peak_rss_gib", "train_peak_rss_gib", "refresh_peak_rss_gib", "api_worker_rss_gib",
       "neo4j_rss_gib")  # fmt: skip


def _previous() -> dict[str, Any]:
    path = RESULTS_DIR / "scale.json"
    if not path.exists():
        return {}
    return dict(json.loads(path.read_text()).get("details", {}).get("sizes", {}))


def derived(sizes: dict[str, dict[str, dict[str, float]]]) -> tuple[dict[str, float], dict]:
    """The ``scale_*`` metrics from the per-size, per-stage figures."""
    metrics: dict[str, float] = {}
    ran = sorted(sizes, key=float)
    for name, (stage, figure) in TARGETS.items():
        with_stage = [s for s in ran if figure in sizes[s].get(stage, {})]
        if with_stage:
            metrics[name] = sizes[with_stage[-1]][stage][figure]
    if ran:
        largest = sizes[ran[-1]]
        rss = [v for st in largest.values() for k, v in st.items() if k in RSS and v == v]
        if rss:
            metrics["scale_max_rss_gib"] = max(rss)
        metrics["scale_size"] = float(ran[-1])
    growth, between = {}, {}
    for stage, figure in COSTS.items():
        measured = [s for s in ran if figure in sizes[s].get(stage, {})]
        if len(measured) >= 2:
            low, high = sizes[measured[0]][stage][figure], sizes[measured[-1]][stage][figure]
            if low > 0:
                growth[f"scale_growth_{stage}"] = high / low
                between[stage] = [float(measured[0]), float(measured[-1])]
    metrics.update(growth)
    if growth:
        metrics["scale_growth_worst_stage"] = max(growth.values())
    return {k: v for k, v in metrics.items() if not math.isnan(v)}, between


def record(size: float, stage: str, figures: dict[str, float], neo4j: dict[str, str]) -> Path:
    """Adds one stage's figures to the result file, recomputes the metrics, redraws the PNG."""
    sizes = _previous()
    sizes.setdefault(f"{size:g}", {})[stage] = figures
    metrics, between = derived(sizes)
    details = {"sizes": sizes, "growth_between": between, "neo4j": neo4j,
               "base": "1x = 1M events, 100k users, 10k items"}  # fmt: skip
    path = write_result("scale", metrics, details)
    plot(sizes, RESULTS_DIR / "scale.png")
    return path


def plot(sizes: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    """One panel per stage: its cost against the size, on log-log axes with the linear
    reference (cost in proportion to the data) through the smallest point."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(COSTS), figsize=(4 * len(COSTS), 3.4))
    for ax, (stage, figure) in zip(axes, COSTS.items(), strict=True):
        points = sorted((float(s), st[stage][figure]) for s, st in sizes.items()
                        if figure in st.get(stage, {}))  # fmt: skip
        ax.set_title(f"{stage}: {figure}", fontsize=9)
        ax.set_xlabel("size (x base)")
        if not points:
            ax.text(0.5, 0.5, "not run", ha="center", transform=ax.transAxes)
            continue
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, "o-", label="measured")
        ax.plot(xs, [ys[0] * x / xs[0] for x in xs], "--", color="grey", label="linear")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
