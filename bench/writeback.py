"""Embedding write-back into Neo4j's two embedding slots, and the recall of the vector index.

Loads Gowalla (29,858 users, 40,981 items, 810k interactions) into a fresh local Neo4j with
the offline loader and trains the default model once with a short time budget: its write-back
fills slot ``a`` from empty (as a first training does). Then it writes the trained vectors
(rows shifted, so every node gets a new value) as further versions, alternating the two ways
a version can fill its slot (``graphdb.embeddings``), each time reusing a slot full of an
older version, as a nightly retrain does:

- ``batched``: batches into the slot with its vector indexes in place;
- ``rebuild``: drop the slot's vector indexes, write unindexed, create them again and wait
  until ONLINE (the index build counted in the rate).

Each rate covers clearing the reused slot, writing, the index and the switch; the switch
itself is reported in ms. Then it measures what the vector index returns for the served
version: for a sample of items, the overlap of the similar-items Cypher query with the exact
20 nearest items by cosine. ``--layouts`` also runs ``bench/writeback_layouts.py`` (the
machine's unindexed ceiling). Writes ``bench/results/writeback.json``. Run from the root:

    .venv/bin/python bench/writeback.py [--train-budget-s 90] [--rounds 2] [--layouts]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from neo4j import Driver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.loading import offline_load
from app.ingest.sources.datasets import open_dataset
from app.settings import Settings, shared_data_dir
from app.training.pipeline import TrainingReport, run_training, train_config_from
from bench.benchlib import fresh_service_settings, write_result
from bench.writeback_layouts import measure_layouts, shifted
from graphdb.changes import read_version_vectors
from graphdb.driver import connect
from graphdb.embeddings import NodeVectors, WriteReport, write_version
from graphdb.local.server import stop
from graphdb.similar_items import knn_candidates, similar_items
from graphdb.store import GraphStore

K = 20


def index_recall(driver: Driver, items: NodeVectors, sample: int, candidates: int | None) -> float:
    """Mean overlap of the served neighbours with the exact top ``K`` by cosine."""
    unit = items.vectors / np.maximum(np.linalg.norm(items.vectors, axis=1, keepdims=True), 1e-12)
    probes = np.random.default_rng(7).choice(len(items.ids), size=sample, replace=False)
    found = 0
    for p in probes.tolist():
        cosines = unit @ unit[p]
        cosines[p] = -np.inf
        exact = {items.ids[q] for q in np.argpartition(-cosines, K)[:K].tolist()}
        served = similar_items(driver, items.ids[p], K, candidates=candidates).items
        found += len(exact & {row.item_id for row in served})
    return found / (sample * K)


def per_second(report: TrainingReport) -> float:
    return (report.written_users + report.written_items) / report.writeback_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-budget-s", type=float, default=90.0)
    parser.add_argument("--sample", type=int, default=500, help="items probed for recall")
    parser.add_argument("--rounds", type=int, default=2, help="writes of each mode")
    parser.add_argument("--layouts", action="store_true", help="also bench/writeback_layouts")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = fresh_service_settings(
        "writeback", neo4j_heap="2g", neo4j_pagecache="2g",
        train_time_budget_s=args.train_budget_s, train_epochs=200, short_term_weight=0.0,
    )  # fmt: skip
    print(offline_load(settings, open_dataset("gowalla", shared_data_dir() / "gowalla")).summary())
    try:
        with connect(settings.neo4j_target()) as driver:
            return measure(driver, settings, args)
    finally:
        stop(settings.server_config())


def slot_write(driver: Driver, version: str, users: NodeVectors, items: NodeVectors,
               rebuild: bool) -> WriteReport:  # fmt: skip
    report = write_version(driver, version, users, items, model="bench", config={},
                           metrics={}, rebuild_index=rebuild)  # fmt: skip
    print(f"{version}: {report}")
    return report


def rate(report: WriteReport) -> float:
    total = report.clear_s + report.write_s + report.index_s + report.switch_s
    return (report.users + report.items) / total


def measure(driver: Driver, settings: Settings, args: argparse.Namespace) -> int:
    config = train_config_from(settings)
    first = run_training(GraphStore(driver), settings, config)
    print(first.summary(), f"write-back {first.writeback_s:.1f}s")
    users, items = read_version_vectors(driver, first.version)
    # Into the empty slot b first, so every timed write below reuses a full slot.
    slot_write(driver, "bench-warm", shifted(users, 1), shifted(items, 1), rebuild=False)
    reports: dict[str, list[WriteReport]] = {"rebuild": [], "batched": []}
    for k in range(args.rounds):  # interleaved: the machine is shared, timings drift
        for mode in ("rebuild", "batched"):
            by = 2 + 2 * k + (mode == "batched")
            version = f"bench-{mode}-{k}"
            reports[mode].append(
                slot_write(
                    driver, version, shifted(users, by), shifted(items, by), mode == "rebuild"
                )
            )
    rates = {mode: [rate(r) for r in rs] for mode, rs in reports.items()}
    served = GraphStore(driver).embeddings.active_version()
    assert served is not None
    _, items = read_version_vectors(driver, served.version)  # recall of what is served now
    shipped = "batched"  # write_model_version's default: the faster one in this bench
    metrics = {
        "writeback_embeddings_per_s": float(np.median(rates[shipped])),
        "writeback_batched_index_per_s": float(np.median(rates["batched"])),
        "writeback_rebuild_index_per_s": float(np.median(rates["rebuild"])),
        "writeback_first_training_per_s": per_second(first),
        "writeback_switch_ms": 1000 * max(r.switch_s for rs in reports.values() for r in rs),
        "vector_index_recall20": index_recall(driver, items, args.sample, None),
        "vector_index_recall20_k_plus_1": index_recall(driver, items, args.sample, K + 1),
    }
    if args.layouts:
        metrics.update(measure_layouts(driver, users, items))
    details = {
        "embeddings": len(users.ids) + len(items.ids),
        "rates_per_s": rates,
        "phases_s": {mode: [asdict(r) for r in rs] for mode, rs in reports.items()},
        "first_training_writeback_s": first.writeback_s,
        "served_candidates": knn_candidates(K),
        "train_budget_s": args.train_budget_s,
        "model_metrics": first.metrics,
    }
    path = write_result("writeback", metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
