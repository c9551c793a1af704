"""Amazon Beauty (leave-one-out by time): graph + short-term models, report HR@10 / NDCG@10.

Example::

    .venv/bin/python bench/train_beauty.py --device cpu

Protocol of SASRec / S3-Rec: per user the last item is the test target, the previous one the
validation target (used for early stopping), every item is ranked and the user's earlier items
are masked. At test time the validation interaction is part of the user's history: it is added
to the graph before computing embeddings and to the user's sequence (no retraining).

Two models are trained: the long-term graph model (``ml.train``) and the short-term sequence
model (``ml.sequence``). The headline metrics score the product's blend
(``ml.shortterm.blend_scores`` at ``--short-weight``, default = the product default); graph-only
and short-term-only figures are reported beside it, and a validation sweep of the weight is
kept in the details (the weight is never chosen on test).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import torch

from app.settings import shared_data_dir
from bench._common import resolve_device, write_result
from ml.data import CSRMatrix, InteractionGraph
from ml.datasets import load_beauty, with_validation_edges
from ml.evaluate import dense_rows, plot_training_curve, ranking_metrics_from_scores
from ml.histories import user_sequences
from ml.models import GraphOperators, SequenceRecommender
from ml.popularity import item_prior
from ml.sequence import SequenceConfig, score_histories, train_short_term
from ml.shortterm import DEFAULT_SHORT_TERM_WEIGHT, blend_scores
from ml.train import TrainConfig, embed_all, train

VALIDATION_WEIGHTS = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "amazon-beauty")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument(
        "--model", default="interest", choices=["lightgcn", "inductive", "interest"]
    )
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
    parser.add_argument("--learn-prior", action="store_true", help="train the popularity prior")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=5)
    short = SequenceConfig()
    parser.add_argument("--short-weight", type=float, default=DEFAULT_SHORT_TERM_WEIGHT)
    parser.add_argument("--short-max-len", type=int, default=short.max_len)
    parser.add_argument("--short-dim", type=int, default=short.dim)
    parser.add_argument("--short-blocks", type=int, default=short.num_blocks)
    parser.add_argument("--short-dropout", type=float, default=short.dropout)
    parser.add_argument("--short-lr", type=float, default=short.lr)
    parser.add_argument("--short-batch-size", type=int, default=short.batch_size)
    parser.add_argument("--short-epochs", type=int, default=short.epochs)
    parser.add_argument("--short-patience", type=int, default=short.patience)
    parser.add_argument("--short-time-budget-s", type=float, default=short.time_budget_s)
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
        learn_prior=args.learn_prior,
    )


def short_config_from_args(args: argparse.Namespace) -> SequenceConfig:
    return SequenceConfig(
        max_len=args.short_max_len,
        dim=args.short_dim,
        num_blocks=args.short_blocks,
        dropout=args.short_dropout,
        lr=args.short_lr,
        batch_size=args.short_batch_size,
        epochs=args.short_epochs,
        seed=args.seed,
        patience=args.short_patience,
        time_budget_s=args.short_time_budget_s,
    )


def _blend_metrics(
    long_term: tuple[torch.Tensor, torch.Tensor],
    short_model: SequenceRecommender,
    graph: InteractionGraph,
    targets: CSRMatrix,
    weights: tuple[float, ...],
    prior_weight: float,
) -> dict[float, dict[str, float]]:
    """Full-ranking metrics of ``blend_scores`` at every weight (0 = graph, 1 = short-term).

    Histories and masked items come from ``graph``; users are those with a target. Long-term
    scores are the served ones: cosine plus the popularity prior (``ml.popularity``).
    """
    user_vec, item_vec = long_term
    prior = item_prior(graph, prior_weight, item_vec.device)
    exclude, sequences = graph.user_items(), user_sequences(graph)
    users = np.flatnonzero(targets.row_lengths() > 0)
    sums: dict[float, dict[str, float]] = {weight: {} for weight in weights}
    for batch, short in score_histories(short_model, sequences, users):
        index = torch.from_numpy(batch).to(user_vec.device)
        long = (user_vec[index] @ item_vec.T + prior).cpu().numpy()
        short_np = short.cpu().numpy()
        seen = dense_rows(exclude, batch, torch.device("cpu"))
        relevant = dense_rows(targets, batch, torch.device("cpu"))
        for weight in weights:
            scores = torch.from_numpy(blend_scores(long, short_np, weight))
            metrics = ranking_metrics_from_scores(
                scores.masked_fill(seen, -torch.inf), relevant, (10, 20)
            )
            for name, values in metrics.items():
                sums[weight][name] = sums[weight].get(name, 0.0) + float(values.sum())
    return {w: {k: v / len(users) for k, v in m.items()} for w, m in sums.items()}


def _headline(prefix: str, metrics: dict[str, float], suffix: str = "") -> dict[str, float]:
    return {
        f"{prefix}_hr10{suffix}": metrics["hit_rate@10"],
        f"{prefix}_ndcg10{suffix}": metrics["ndcg@10"],
        f"{prefix}_hr20{suffix}": metrics["hit_rate@20"],
        f"{prefix}_ndcg20{suffix}": metrics["ndcg@20"],
    }


def _log(label: str, metrics: dict[str, float]) -> None:
    keep = ("epoch", "loss", "seconds", "hit_rate@10", "ndcg@10", "hit_rate@20", "ndcg@20")
    print(label, {k: round(v, 4) for k, v in metrics.items() if k in keep}, flush=True)


def with_folded_interests(graph: InteractionGraph) -> InteractionGraph:
    """``graph`` with the interests the service's ingest would fold from its edges."""
    if not graph.has_features:
        return graph
    return graph.with_interests(graph.interactions_by_feature())


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    device = resolve_device(args.device)
    data = load_beauty(args.data_dir, with_features=not args.no_features)
    # The files have no INTERESTED_IN edges: the graph's fold of the same events stands in.
    data = replace(data, graph=with_folded_interests(data.graph))
    config, short_config = config_from_args(args), short_config_from_args(args)
    graph_run = train(
        data.graph,
        config,
        device,
        validation=data.validation,
        on_epoch=lambda row, model, ops: _log("graph", row),
    )
    short_run = train_short_term(
        data.graph,
        short_config,
        device,
        validation=data.validation,
        on_epoch=lambda row: _log("short", row),
    )
    parts = (0.0, args.short_weight, 1.0)
    # Validation: histories = training graph, targets = the validation items.
    validation_embeddings = embed_all(graph_run.model, graph_run.ops)
    assert data.validation is not None
    sweep = _blend_metrics(
        validation_embeddings, short_run.model, data.graph, data.validation,
        tuple(sorted({*VALIDATION_WEIGHTS, *parts})), graph_run.prior_weight,
    )  # fmt: skip
    for weight, row in sweep.items():
        _log(f"validation weight={weight}", row)
    # Test: the validation interaction joins every history (graph and sequence), no retraining.
    test_graph = with_folded_interests(with_validation_edges(data))
    test_embeddings = embed_all(graph_run.model, GraphOperators.build(test_graph, device))
    test = _blend_metrics(
        test_embeddings, short_run.model, test_graph, data.test, parts, graph_run.prior_weight
    )
    for weight, row in test.items():
        _log(f"test weight={weight}", row)
    kind = "gpu" if device.type == "cuda" else "cpu"
    metrics = {
        **_headline("beauty", test[args.short_weight]),
        **_headline("beauty", test[0.0], "_graph"),
        **_headline("beauty", test[1.0], "_short"),
        **_headline("beauty_val", sweep[args.short_weight]),
        **_headline("beauty_val", sweep[0.0], "_graph"),
        **_headline("beauty_val", sweep[1.0], "_short"),
        f"beauty_{kind}_s_per_epoch": graph_run.seconds_per_epoch,
        f"beauty_{kind}_short_s_per_epoch": short_run.seconds_per_epoch,
        f"beauty_{kind}_minutes": (time.perf_counter() - started) / 60,
    }
    details = {
        "config": config.to_dict(),
        "short_config": short_config.to_dict(),
        "short_weight": args.short_weight,
        "prior_weight": graph_run.prior_weight,
        "features": not args.no_features,
        "epochs_run": len(graph_run.history),
        "best_epoch": graph_run.best_epoch,
        "short_epochs_run": len(short_run.history),
        "short_best_epoch": short_run.best_epoch,
        "validation_by_short_weight": {str(w): row for w, row in sweep.items()},
        "test": {"blend": test[args.short_weight], "graph": test[0.0], "short": test[1.0]},
        "history": graph_run.history,
        "short_history": short_run.history,
    }
    path = write_result(args.name, metrics, details)
    if args.plot is not None:
        plot_training_curve(graph_run.history, args.plot, metric="ndcg@10")
    print(f"wrote {path}", flush=True)


if __name__ == "__main__":
    main()
