"""Embedding write-back into Neo4j and the recall of its vector index, at Gowalla scale.

Loads Gowalla (29,858 users, 40,981 items, 810k interactions) into a fresh local Neo4j
with the offline loader, trains the default model twice with a short time budget, and times
each write-back: the first fills empty vector indexes (as after a first training), the second
replaces every vector (as a nightly retrain does). Then it measures what the vector index
returns: for a sample of items, the overlap of the similar-items Cypher query
(``db.index.vector.queryNodes``) with the exact 20 nearest items by cosine. Writes
``bench/results/writeback.json`` (or ``writeback_quantized.json`` with ``--quantized``,
which first rebuilds the two embedding indexes with Neo4j's default, quantized settings).
Without ``--quantized`` it then writes the same vectors in other layouts
(``bench/writeback_layouts.py``): the machine's ceiling with no index, and batched writes into
a second indexed property. Run from the repository root:

    .venv/bin/python bench/writeback.py [--train-budget-s 90] [--quantized]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
from neo4j import Driver

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.loading import offline_load
from app.ingest.sources.datasets import open_dataset
from app.settings import Settings, shared_data_dir
from app.training.pipeline import TrainingReport, run_training, train_config_from
from bench.benchlib import fresh_service_settings, write_result
from bench.writeback_layouts import measure_layouts
from graphdb.changes import read_version_vectors
from graphdb.driver import connect
from graphdb.embeddings import NodeVectors
from graphdb.local.server import stop
from graphdb.reads import knn_candidates, similar_items
from graphdb.store import GraphStore

# The indexes as migration 0003 created them, before 0009: Neo4j 5.26's defaults.
QUANTIZED_INDEXES = (
    "DROP INDEX user_embedding IF EXISTS",
    "DROP INDEX item_embedding IF EXISTS",
    "CREATE VECTOR INDEX user_embedding FOR (u:User) ON u.embedding OPTIONS {indexConfig: "
    "{`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}}",
    "CREATE VECTOR INDEX item_embedding FOR (i:Item) ON i.embedding OPTIONS {indexConfig: "
    "{`vector.dimensions`: 64, `vector.similarity_function`: 'cosine'}}",
    "CALL db.awaitIndexes(300)",
)
READ_INDEX_OPTIONS = """
SHOW VECTOR INDEXES YIELD name, options WHERE name IN ['user_embedding', 'item_embedding']
RETURN name, options.indexConfig AS config
"""
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
    parser.add_argument("--quantized", action="store_true", help="Neo4j's default indexes")
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


def measure(driver: Driver, settings: Settings, args: argparse.Namespace) -> int:
    if args.quantized:
        for statement in QUANTIZED_INDEXES:
            driver.execute_query(statement)
    indexes = {r["name"]: r["config"] for r in driver.execute_query(READ_INDEX_OPTIONS).records}
    config = train_config_from(settings)
    first = run_training(GraphStore(driver), settings, config)
    print(first.summary(), f"write-back {first.writeback_s:.1f}s")
    second = run_training(GraphStore(driver), settings, config, force=True)
    print(second.summary(), f"write-back {second.writeback_s:.1f}s")
    users, items = read_version_vectors(driver, second.version)  # read once for both recalls
    metrics = {
        "writeback_embeddings_per_s": per_second(first),
        "writeback_replace_embeddings_per_s": per_second(second),
        "vector_index_recall20": index_recall(driver, items, args.sample, None),
        "vector_index_recall20_k_plus_1": index_recall(driver, items, args.sample, K + 1),
    }
    if not args.quantized:
        metrics.update(measure_layouts(driver, users, items))
    details = {
        "embeddings": second.written_users + second.written_items,
        "writeback_s": [first.writeback_s, second.writeback_s],
        "served_candidates": knn_candidates(K),
        "index_config": indexes,
        "train_budget_s": args.train_budget_s,
        "model_metrics": second.metrics,
    }
    name = "writeback_quantized" if args.quantized else "writeback"
    path = write_result(name, metrics, details)
    print(json.dumps(metrics, indent=2), f"\nwritten to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
