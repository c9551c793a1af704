"""Compare two commits on one benchmark, runs interleaved (A B B A ...) on this machine.

This machine's speed swings up to 2.5x over an hour, so a figure measured today is only
comparable with one measured beside it. This script checks both commits out into temporary
git worktrees, runs the same bench script alternately in each (ABBA order, so a drift over the
run weighs on both sides alike), and writes ``bench/results/interleave_<name>.json``: every run's
metrics, each side's median, and the median ratio B/A per metric. Run from the repository root:

    .venv/bin/python bench/interleave.py --a 043144a --b HEAD --rounds 2 -- bench/ingest.py --quick

The bench script must write ``bench/results/<name>.json`` in the tree it runs from (every
script in ``bench/`` does); ``--name`` says which file, default the script's file name.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import shared_data_dir
from bench.benchlib import REPO_ROOT, write_result


def run_order(rounds: int) -> list[str]:
    """``ABBA`` repeated: each side runs first in half the pairs."""
    return [side for r in range(rounds) for side in (("A", "B") if r % 2 == 0 else ("B", "A"))]


def checkout(rev: str, folder: Path) -> Path:
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(folder), rev],
        cwd=REPO_ROOT, check=True, capture_output=True,
    )  # fmt: skip
    return folder


def run_bench(tree: Path, script: list[str], name: str) -> dict[str, float]:
    """Run the bench in ``tree`` with this interpreter; the metrics it wrote."""
    # PYTHONPATH: the package is installed editable from this checkout, so without it the
    # console scripts (`interest-graph serve`) and gunicorn would import this tree's code.
    env = {**os.environ, "IG_SHARED_DATA": str(shared_data_dir()), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": str(tree)}  # fmt: skip
    result = tree / "bench" / "results" / f"{name}.json"
    result.unlink(missing_ok=True)
    subprocess.run([sys.executable, *script], cwd=tree, env=env, check=True)
    metrics: dict[str, float] = json.loads(result.read_text())["metrics"]
    return metrics


def summarise(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Per metric: the median of each side and the ratio of the medians, B over A."""
    out: dict[str, float] = {}
    # A metric only one side reports (a bench that changed between them) is not compared.
    names = sorted(set.intersection(*(set(run["metrics"]) for run in runs)))
    for metric in names:
        sides = {
            side: [
                r["metrics"][metric] for r in runs if r["side"] == side and metric in r["metrics"]
            ]
            for side in ("A", "B")
        }
        a, b = statistics.median(sides["A"]), statistics.median(sides["B"])
        out[f"{metric}_a"], out[f"{metric}_b"] = a, b
        if a:
            out[f"{metric}_b_over_a"] = round(b / a, 4)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="the baseline commit")
    parser.add_argument("--b", default="HEAD", help="the commit compared with it")
    parser.add_argument("--rounds", type=int, default=2, help="AB pairs (ABBA order)")
    parser.add_argument("--name", help="the results file the bench writes (default: script name)")
    parser.add_argument("script", nargs=argparse.REMAINDER, help="-- bench/NAME.py [args]")
    args = parser.parse_args()
    script = [s for s in args.script if s != "--"]
    if not script:
        parser.error("give the bench script after --")
    name = args.name or Path(script[0]).stem
    revs = {side: subprocess.run(["git", "rev-parse", "--short", rev], cwd=REPO_ROOT, check=True,
                                 capture_output=True, text=True).stdout.strip()
            for side, rev in (("A", args.a), ("B", args.b))}  # fmt: skip
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ig-interleave-") as tmp:
        trees = {side: checkout(rev, Path(tmp) / side) for side, rev in revs.items()}
        try:
            for i, side in enumerate(run_order(args.rounds)):
                print(f"== run {i + 1}: {side} ({revs[side]})", file=sys.stderr, flush=True)
                runs.append({"side": side, "metrics": run_bench(trees[side], script, name)})
        finally:
            for tree in trees.values():
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT)
    details = {"a": revs["A"], "b": revs["B"], "script": script, "runs": runs}
    path = write_result(f"interleave_{name}", summarise(runs), details)
    print(json.dumps(summarise(runs), indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
