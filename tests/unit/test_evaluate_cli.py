"""``interest-graph evaluate`` on a tiny split in the Gowalla file format (no server needed)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from app.cli import main


def _write_split(folder: Path, seed: int = 0) -> None:
    """4 communities of 50 items; each user trains on 10 items of theirs and tests on 3."""
    rng = random.Random(seed)
    train, test = [], []
    for user in range(80):
        block = list(range((user % 4) * 50, (user % 4) * 50 + 50))
        picked = rng.sample(block, 13)
        train.append(" ".join(map(str, [user, *picked[:10]])))
        test.append(" ".join(map(str, [user, *picked[10:]])))
    folder.mkdir()
    (folder / "train.txt").write_text("\n".join(train) + "\n")
    (folder / "test.txt").write_text("\n".join(test) + "\n")


def test_evaluate_writes_metrics_and_curve_and_finds_the_communities(tmp_path: Path) -> None:
    data, out = tmp_path / "gowalla", tmp_path / "report"
    _write_split(data)
    code = main(["evaluate", "gowalla", "--path", str(data), "--out", str(out),
                 "--model", "lightgcn", "--epochs", "15"])  # fmt: skip
    assert code == 0
    report = json.loads((out / "metrics.json").read_text())
    assert (out / "training_curve.png").stat().st_size > 1000
    # Random ranking would give about 20/190 = 0.105; knowing the community gives ~0.5.
    assert report["test"]["recall@20"] > 0.3
    assert {"ndcg@20", "precision@20", "hit_rate@20", "mrr", "coverage@20"} <= set(report["test"])
