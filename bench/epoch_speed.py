"""Seconds per Gowalla training epoch of the model kinds, interleaved in one process.

This machine's speed swings by up to 2.5x, so kinds are timed in the same run, in ABBA-like
rounds (``lightgcn, interest, inductive`` then reversed), each round one full epoch of the
shipped training loop (full softmax, 64 dims, 2 layers, the service's batch size) from a fresh
model. Reports the median per kind (``bench/results/epoch_speed.json``):
``gowalla_cpu_s_per_epoch_<kind>`` and ``gowalla_epoch_ratio_interest_vs_lightgcn``.

Run from the repository root::

    .venv/bin/python bench/epoch_speed.py [--rounds 2] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import shared_data_dir
from bench._common import resolve_device, write_result
from ml.datasets import load_gowalla
from ml.epoch import Trainable, run_epoch
from ml.models import GraphOperators
from ml.train import TrainConfig, build_model, seed_everything
from ml.training_edges import TrainingEdges

KINDS = ("lightgcn", "interest", "inductive")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "gowalla")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    device = resolve_device(args.device)
    graph = load_gowalla(args.data_dir).graph
    ops, batches = GraphOperators.build(graph, device), TrainingEdges.from_graph(graph)
    seconds: dict[str, list[float]] = {kind: [] for kind in KINDS}
    for round_ in range(args.rounds):
        for kind in KINDS if round_ % 2 == 0 else tuple(reversed(KINDS)):
            config = TrainConfig(model=kind)
            rng = seed_everything(config.seed)
            model = build_model(config, graph.n_users, graph.n_items, 0, device)
            optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
            tick = time.perf_counter()
            run_epoch(Trainable(model, None), ops, batches, optimizer, config, rng)
            seconds[kind].append(time.perf_counter() - tick)
            print(kind, round(seconds[kind][-1], 1), flush=True)
    median = {kind: statistics.median(values) for kind, values in seconds.items()}
    kind_name = "gpu" if device.type == "cuda" else "cpu"
    metrics = {f"gowalla_{kind_name}_s_per_epoch_{k}": v for k, v in median.items()}
    metrics["gowalla_epoch_ratio_interest_vs_lightgcn"] = median["interest"] / median["lightgcn"]
    print(f"wrote {write_result('epoch_speed', metrics, {'seconds': seconds})}")


if __name__ == "__main__":
    main()
