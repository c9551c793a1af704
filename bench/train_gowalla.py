"""Gowalla (LightGCN split): train the weighted LightGCN, report full-ranking test metrics.

Example (the CPU figure of docs/benchmarks.md)::

    .venv/bin/python bench/train_gowalla.py --device cpu --time-budget-s 480

Early stopping uses a holdout of the training file (no validation split is published); the test
file is only read for the final evaluation and, with ``--track-test``, for the minutes-to-target
figure (never for model selection). Test rankings propagate over the whole training file, held-out
edges included, as ``interest-graph train`` does before it writes the embeddings back.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import Settings, shared_data_dir
from app.training.pipeline import train_config_from
from bench._common import resolve_device, write_result
from ml.data import CSRMatrix, InteractionGraph
from ml.datasets import BenchmarkData, load_gowalla
from ml.evaluate import evaluate_ranking, plot_training_curve
from ml.models import GraphOperators
from ml.popularity import PRIOR_WEIGHTS, item_prior
from ml.train import (
    EmbeddingModel,
    TrainConfig,
    TrainResult,
    embed_all,
    train,
    validation_setup,
)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "gowalla")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--time-budget-s", type=float, default=None)
    parser.add_argument(
        "--model", default="lightgcn", choices=["lightgcn", "inductive", "interest"]
    )
    parser.add_argument(
        "--shipped",
        action="store_true",
        help="train with the service's own defaults (what `interest-graph train` runs); "
        "the model options above are ignored; metrics gowalla_default_*",
    )
    parser.add_argument(
        "--loss", default="full_softmax", choices=["full_softmax", "softmax", "bpr"]
    )
    parser.add_argument("--user-batch-size", type=int, default=512)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch lr factor")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--learn-prior", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval-every", type=int, default=1)
    parser.add_argument("--patience", type=int, default=3)
    parser.add_argument("--target-recall", type=float, default=0.1830)
    parser.add_argument("--track-test", action="store_true", help="time to target on test")
    parser.add_argument("--plot", type=Path, default=None, help="training-curve PNG")
    parser.add_argument("--name", default="train_gowalla", help="result file name")
    parser.add_argument("--prior-grid", action="store_true", help="metrics at every prior weight")
    parser.add_argument("--save-embeddings", type=Path, default=None, help="npz of the vectors")
    return parser.parse_args()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    if args.shipped:
        # Settings() reads IG_* from the environment like the service: run with none set.
        return train_config_from(Settings())
    return TrainConfig(
        model=args.model,
        dim=args.dim,
        num_layers=args.layers,
        loss=args.loss,
        num_negatives=args.negatives,
        temperature=args.temperature,
        lr=args.lr,
        lr_decay=args.lr_decay,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size,
        user_batch_size=args.user_batch_size,
        epochs=args.epochs,
        seed=args.seed,
        eval_every=args.eval_every,
        patience=args.patience,
        time_budget_s=args.time_budget_s,
        learn_prior=args.learn_prior,
    )


class ProgressLog:
    """Prints every epoch; with ``track`` also times when the test recall first hits a target.

    The test evaluations done here are subtracted from the reported minutes and never feed
    model selection (which uses the validation holdout only).
    """

    def __init__(
        self,
        data: BenchmarkData,
        serve_ops: GraphOperators,
        target: float,
        track: bool,
        started: float,
    ) -> None:
        self.data, self.serve_ops = data, serve_ops
        self.target, self.track, self.started = target, track, started
        self.seen = data.graph.user_items()
        self.tracking_seconds = 0.0
        self.minutes_to_target: float | None = None

    def __call__(self, row: dict[str, float], model: EmbeddingModel, _: GraphOperators) -> None:
        keep = ("epoch", "loss", "seconds", "recall@20", "ndcg@20", "learned")
        line = {k: round(v, 4) for k, v in row.items() if k in keep}
        if self.track and self.minutes_to_target is None:
            tick = time.perf_counter()
            users, items = embed_all(model, self.serve_ops)
            recall = evaluate_ranking(users, items, self.data.test, self.seen, (20,))["recall@20"]
            self.tracking_seconds += time.perf_counter() - tick
            line["test_recall@20"] = round(recall, 4)
            if recall >= self.target:
                elapsed = time.perf_counter() - self.started - self.tracking_seconds
                self.minutes_to_target = elapsed / 60
        print(line, flush=True)


def metrics_by_prior_weight(
    graph: InteractionGraph,
    users: torch.Tensor,
    items: torch.Tensor,
    targets: CSRMatrix,
    seen: CSRMatrix,
) -> dict[str, dict[str, float]]:
    """Metrics at every weight of the prior's grid, the prior's degrees read from ``graph``."""
    out = {}
    for weight in PRIOR_WEIGHTS:
        prior = item_prior(graph, weight, users.device)
        out[str(weight)] = evaluate_ranking(users, items, targets, seen, (20,), prior=prior)
    return out


def prior_grid(
    data: BenchmarkData, result: TrainResult, users: torch.Tensor, items: torch.Tensor
) -> dict[str, dict[str, dict[str, float]]]:
    """How the prior's weight acts on validation (where it is chosen) and on test (a record
    only, never used for the choice)."""
    train_graph, targets = validation_setup(data.graph, None, result.config)
    val_users, val_items = embed_all(result.model, result.ops)
    return {
        "validation": metrics_by_prior_weight(
            train_graph, val_users, val_items, targets, train_graph.user_items()
        ),
        "test": metrics_by_prior_weight(
            data.graph, users, items, data.test, data.graph.user_items()
        ),
    }


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    device = resolve_device(args.device)
    data = load_gowalla(args.data_dir)
    config = config_from_args(args)
    # The model trains without the validation holdout, but serves over every training edge.
    serve_ops = GraphOperators.build(data.graph, device)
    log = ProgressLog(data, serve_ops, args.target_recall, args.track_test, started)
    result = train(data.graph, config, device, on_epoch=log)
    users, items = embed_all(result.model, serve_ops)
    cosine_only = evaluate_ranking(users, items, data.test, log.seen, (20,))
    # Served scores: cosine plus the popularity prior at the weight validation chose.
    prior = item_prior(data.graph, result.prior_weight, device)
    test = evaluate_ranking(users, items, data.test, log.seen, (20,), prior=prior)
    total_minutes = (time.perf_counter() - started - log.tracking_seconds) / 60
    print({k: round(v, 4) for k, v in test.items()}, flush=True)
    kind = "gpu" if device.type == "cuda" else "cpu"
    metrics = {
        "gowalla_recall20": test["recall@20"],
        "gowalla_ndcg20": test["ndcg@20"],
        f"gowalla_{kind}_s_per_epoch": result.seconds_per_epoch,
        f"gowalla_{kind}_minutes": total_minutes,
        f"gowalla_{kind}_recall20": test["recall@20"],
    }
    if log.minutes_to_target is not None:
        metrics[f"gowalla_{kind}_minutes_to_target"] = log.minutes_to_target
    if args.shipped:
        metrics["gowalla_default_recall20"] = test["recall@20"]
        metrics["gowalla_default_ndcg20"] = test["ndcg@20"]
    if args.save_embeddings is not None:
        np.savez(args.save_embeddings, users=users.cpu().numpy(), items=items.cpu().numpy())
    details = {
        "config": config.to_dict(),
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "validation": result.best_metrics,
        "test": test,
        "prior_weight": result.prior_weight,
        "test_without_prior": cosine_only,
        "history": result.history,
        "target_recall": args.target_recall,
    }
    if args.prior_grid:
        details["by_prior_weight"] = prior_grid(data, result, users, items)
    path = write_result(args.name, metrics, details)
    if args.plot is not None:
        plot_training_curve(result.history, args.plot)
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
