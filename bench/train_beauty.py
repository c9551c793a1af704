"""Amazon Beauty (leave-one-out by time): train a graph model, report HR@10 / NDCG@10.

Example::

    .venv/bin/python bench/train_beauty.py --model inductive --device cpu

Protocol of SASRec / S3-Rec: per user the last item is the test target, the previous one the
validation target (used for early stopping), every item is ranked and the user's earlier items
are masked. At test time the validation interaction is part of the user's history: it is added
to the graph before computing embeddings (no retraining), as a sequential model would see it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._common import resolve_device, write_result
from ml.datasets import load_beauty, shared_data_dir, with_validation_edges
from ml.evaluate import evaluate_ranking, plot_training_curve
from ml.models import GraphOperators
from ml.train import TrainConfig, embed_all, train


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "amazon-beauty")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--model", default="inductive", choices=["lightgcn", "inductive"])
    parser.add_argument("--no-features", action="store_true", help="ignore item attributes")
    parser.add_argument(
        "--loss", default="full_softmax", choices=["full_softmax", "softmax", "bpr"]
    )
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--time-budget-s", type=float, default=None)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--user-batch-size", type=int, default=512)
    parser.add_argument("--negatives", type=int, default=1024)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--lr-decay", type=float, default=1.0, help="per-epoch lr factor")
    parser.add_argument("--weight-decay", type=float, default=0.0)
    parser.add_argument("--id-dropout", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=5)
    parser.add_argument("--plot", type=Path, default=None, help="training-curve PNG")
    parser.add_argument("--name", default="train_beauty", help="result file name")
    return parser.parse_args()


def config_from_args(args: argparse.Namespace) -> TrainConfig:
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
        patience=args.patience,
        monitor="ndcg@10",
        eval_k=(10, 20),
        time_budget_s=args.time_budget_s,
        id_dropout=args.id_dropout,
    )


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    device = resolve_device(args.device)
    data = load_beauty(args.data_dir, with_features=not args.no_features)
    config = config_from_args(args)

    def on_epoch(row: dict[str, float], model, ops) -> None:
        keep = ("epoch", "loss", "seconds", "hit_rate@10", "ndcg@10")
        print({k: round(v, 4) for k, v in row.items() if k in keep}, flush=True)

    result = train(data.graph, config, device, validation=data.validation, on_epoch=on_epoch)
    test_graph = with_validation_edges(data)
    users, items = embed_all(result.model, GraphOperators.build(test_graph, device))
    seen = test_graph.user_items()
    test = evaluate_ranking(users, items, data.test, seen, (10, 20))
    print({k: round(v, 4) for k, v in test.items()}, flush=True)
    kind = "gpu" if device.type == "cuda" else "cpu"
    metrics = {
        "beauty_hr10": test["hit_rate@10"],
        "beauty_ndcg10": test["ndcg@10"],
        "beauty_hr20": test["hit_rate@20"],
        "beauty_ndcg20": test["ndcg@20"],
        f"beauty_{kind}_s_per_epoch": result.seconds_per_epoch,
        f"beauty_{kind}_minutes": (time.perf_counter() - started) / 60,
    }
    details = {
        "config": config.to_dict(),
        "features": not args.no_features,
        "epochs_run": len(result.history),
        "best_epoch": result.best_epoch,
        "validation": result.best_metrics,
        "test": test,
        "history": result.history,
    }
    path = write_result(args.name, metrics, details)
    if args.plot is not None:
        plot_training_curve(result.history, args.plot, metric="ndcg@10")
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
