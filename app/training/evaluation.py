"""``interest-graph evaluate``: train on a public benchmark split, rank all items, report.

Gowalla uses the LightGCN split's test file; Amazon Beauty is leave-one-out by time (the
validation item joins the history before the test ranking, without retraining). The
output folder gets ``metrics.json`` and ``training_curve.png``.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.datasets import BenchmarkData, load_beauty, load_gowalla, with_validation_edges
from ml.evaluate import evaluate_ranking, plot_training_curve
from ml.models import GraphOperators
from ml.popularity import item_prior
from ml.train import TrainConfig, default_device, embed_all, train

PROTOCOLS: dict[str, dict[str, Any]] = {
    "gowalla": {"ks": (20,), "monitor": "recall@20"},
    "amazon-beauty": {"ks": (10, 20), "monitor": "ndcg@10"},
}


def _load(name: str, path: Path) -> BenchmarkData:
    if name == "gowalla":
        return load_gowalla(path)
    if name == "amazon-beauty":
        return load_beauty(path)
    raise ValueError(f"unknown benchmark {name!r}; known: {sorted(PROTOCOLS)}")


def evaluate_benchmark(name: str, path: Path, config: TrainConfig, out_dir: Path) -> dict[str, Any]:
    """Train with early stopping on a holdout, then score the test split; write the report."""
    protocol = PROTOCOLS.get(name)
    if protocol is None:
        raise ValueError(f"unknown benchmark {name!r}; known: {sorted(PROTOCOLS)}")
    started = time.perf_counter()
    data = _load(name, path)
    config = replace(config, monitor=protocol["monitor"], eval_k=protocol["ks"])
    device = default_device()
    result = train(data.graph, config, device, validation=data.validation)
    history = with_validation_edges(data) if data.validation is not None else data.graph
    users, items = embed_all(result.model, GraphOperators.build(history, device))
    # Scored as served: cosine plus the popularity prior at the weight validation chose.
    prior = item_prior(history, result.prior_weight, device)
    test = evaluate_ranking(
        users, items, data.test, history.user_items(), protocol["ks"], prior=prior
    )
    report = {
        "benchmark": name, "device": str(device), "config": config.to_dict(),
        "test": test, "validation": result.best_metrics, "best_epoch": result.best_epoch,
        "seconds_per_epoch": result.seconds_per_epoch,
        "minutes": (time.perf_counter() - started) / 60,
    }  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_training_curve(result.history, out_dir / "training_curve.png", metric=config.monitor)
    return report
