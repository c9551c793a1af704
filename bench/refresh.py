"""Incremental refresh cost at Gowalla scale (~810k interactions) after 1,000 new events.

Service mode (the CPU figure): a bench Neo4j is bulk-loaded with the Gowalla training split,
the inductive model is trained (briefly: refresh cost does not depend on quality), the worker's
refresher runs once cold, then 1,000 real later check-ins (sampled from the test split) are
ingested and the warm run is timed end to end: pull the changes, patch the live graph, embed
the receptive field, write back the vectors that moved, advance the watermark.

Embed-only mode (the GPU figure; the accelerator machine has no Neo4j): the same ml/ code
paths on the dataset files — rebuild the operators with the 1,000 new edges, expand to the
receptive field, embed it — timed on the chosen device.

Examples::

    .venv/bin/python bench/refresh.py service
    .venv/bin/python bench/refresh.py embed-only --device cuda --data-dir .data/gowalla
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.settings import shared_data_dir
from bench._common import resolve_device, write_result
from ml.data import InteractionGraph
from ml.datasets import load_gowalla
from ml.embed import affected_users_items, embed_nodes, to_global
from ml.models.graph import GraphOperators
from ml.train import TrainConfig, build_model

NEW_EVENTS = 1000


def with_new_edges(
    graph: InteractionGraph, users: np.ndarray, items: np.ndarray
) -> InteractionGraph:
    return InteractionGraph(
        n_users=graph.n_users, n_items=graph.n_items,
        user_index=np.concatenate([graph.user_index, users]),
        item_index=np.concatenate([graph.item_index, items]),
        weight=np.concatenate([graph.weight, np.ones(len(users), np.float32)]),
    )  # fmt: skip


def embed_only(args: argparse.Namespace) -> dict[str, Any]:
    """Operators rebuild + receptive field + embedding on ``args.device`` (files only)."""
    device = resolve_device(args.device)
    data = load_gowalla(args.data_dir)
    rng = np.random.default_rng(args.seed)
    picks = rng.choice(data.test.nnz, NEW_EVENTS, replace=False)
    users, items = data.test.rows()[picks], data.test.indices[picks]
    config = TrainConfig(model="interest", dim=64, num_layers=2, seed=args.seed)
    model = build_model(config, data.graph.n_users, data.graph.n_items, 0, device).eval()
    old_ops = GraphOperators.build(data.graph, device)
    timings = []
    for _ in range(args.repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        tick = time.perf_counter()
        ops = GraphOperators.build(with_new_edges(data.graph, users, items), device)
        field_users, field_items = affected_users_items([old_ops, ops], users, items, 2)
        vectors = embed_nodes(model, ops, to_global(ops, field_users, field_items))
        vectors.cpu()
        timings.append(time.perf_counter() - tick)
    kind = "gpu" if device.type == "cuda" else "cpu"
    return {
        "metrics": {f"refresh_{kind}_embed_s_1000_events": float(np.median(timings))},
        "details": {"refreshed_nodes": len(field_users) + len(field_items),
                    "all_nodes": ops.n_nodes, "timings": timings, "device": str(device)},
    }  # fmt: skip


def service(args: argparse.Namespace) -> dict[str, Any]:
    """End to end against a real Neo4j on this machine (bulk load, train, refresh)."""
    from app.ingest.importer import import_events
    from app.ingest.loading import offline_load
    from app.ingest.sources.datasets import open_dataset
    from app.ingest.validation import IntakeLimits
    from app.training.pipeline import run_training, train_config_from
    from app.worker.refresh import IncrementalRefresher
    from bench.benchlib import fresh_service_settings
    from graphdb.driver import connect
    from graphdb.fold import FoldConfig
    from graphdb.local.server import stop
    from graphdb.store import GraphStore

    settings = fresh_service_settings(
        "refresh", neo4j_heap="3g", neo4j_pagecache="1g", model_kind="interest",
        train_time_budget_s=args.train_budget_s, train_epochs=50,
    )  # fmt: skip
    gowalla = shared_data_dir() / "gowalla"
    try:
        load = offline_load(settings, open_dataset("gowalla", gowalla))
        with connect(settings.neo4j_target()) as driver:
            trained = run_training(
                GraphStore(driver), settings, train_config_from(settings), force=True
            )
            refresher = IncrementalRefresher(
                GraphStore(driver), settings, device=torch.device("cpu")
            )
            cold = refresher.run()
            later = list(open_dataset("gowalla", gowalla, split="test").events())
            events = random.Random(args.seed).sample(later, 2 * NEW_EVENTS)
            import_events(
                GraphStore(driver),
                events[:NEW_EVENTS],
                FoldConfig(),
                IntakeLimits(),
                progress=False,
            )
            warm = refresher.run()
            # The same again with a looser write tolerance (an operator's trade-off: vectors
            # that moved less than it are not rewritten until their moves add up).
            refresher.settings = settings.model_copy(
                update={"refresh_write_tolerance": args.loose_tolerance}
            )
            import_events(
                GraphStore(driver),
                events[NEW_EVENTS:],
                FoldConfig(),
                IntakeLimits(),
                progress=False,
            )
            loose = refresher.run()
    finally:
        stop(settings.server_config())
    return {
        "metrics": {"refresh_cpu_s_1000_events": warm.seconds,
                    "refresh_cpu_nodes_refreshed": warm.refreshed,
                    "refresh_cpu_nodes_written": warm.written,
                    "refresh_cpu_s_1000_events_loose": loose.seconds,
                    "refresh_cpu_nodes_written_loose": loose.written},
        "details": {"warm": asdict(warm), "cold": asdict(cold), "loose": asdict(loose),
                    "loose_tolerance": args.loose_tolerance, "training": trained.summary(),
                    "bulk_load_s": load.seconds},
    }  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["service", "embed-only"])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "gowalla")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--train-budget-s", type=float, default=120.0)
    parser.add_argument("--loose-tolerance", type=float, default=1e-3)
    args = parser.parse_args()
    out = service(args) if args.mode == "service" else embed_only(args)
    name = "refresh" if args.mode == "service" else f"refresh_embed_{args.device}"
    path = write_result(name.replace(":", ""), out["metrics"], out["details"])
    print(out["metrics"], f"\nwritten to {path}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
