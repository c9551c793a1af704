"""``interest-graph train``: graph snapshot -> GNN training -> registry -> Neo4j write-back.

This is where the graph side and the model side meet, through plain numpy arrays: a
``GraphSnapshot`` from ``graphdb`` becomes an ``InteractionGraph`` for ``ml``, and the
model's vectors go back as ``NodeVectors``. Only a version that passes the registry's check
against the graph's active version (no validation regression, unless forced) is written back
and switched active; the graph's pointer is the truth, the registry folder only notes it.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from app.settings import Settings
from app.training.category_order import choose_order
from app.training.gate import GateInput, judge_challenger
from app.training.progress import EpochProgress, Say
from app.training.recovery import TrainingLease, clean_up_after_crashes
from app.training.sharing import ShortTermPart, choose_sharing
from app.training.text_index import embed_item_texts
from graphdb.embeddings import NodeVectors
from graphdb.snapshot import GraphSnapshot, feature_kind
from graphdb.store import GraphStore
from ml.data import InteractionGraph
from ml.distributed import ParallelPlan, train_data_parallel
from ml.embed import full_embeddings
from ml.evaluate import plot_training_curve
from ml.gate import Promotion, holdout_score
from ml.histories import split_last_items, user_sequences
from ml.interests import UserInterests
from ml.models.graph import GraphOperators
from ml.registry import ModelRegistry, ModelShape
from ml.sequence import SequenceConfig, export_short_term, train_short_term
from ml.shortterm_store import SHORT_TERM_FILE, save_short_term
from ml.train import INDUCTIVE_KINDS, TrainConfig, TrainResult

log = logging.getLogger(__name__)


@dataclass
class TrainingReport:
    version: str
    promoted: bool
    reason: str
    written_users: int = 0
    written_items: int = 0
    writeback_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    device: str = "cpu"
    curve: Path | None = None
    gate: Promotion | None = None

    def summary(self) -> str:
        state = (
            f"{'promoted and written back' if self.promoted else 'kept inactive'} ({self.reason})"
        )
        shown = ", ".join(
            f"{k}={v:.4f}"
            for k, v in sorted(self.metrics.items())
            if "@" in k
            or k in ("prior_weight", "category_interest_share")
            or k.startswith("category_share_hr")
        )
        return (
            f"model {self.version} on {self.device} in {self.seconds:.1f}s: {state}; "
            f"{self.written_users} users and {self.written_items} items embedded; {shown}"
        )


def snapshot_to_graph(snapshot: GraphSnapshot) -> InteractionGraph:
    """Positive edges only: an item a user rated down is not evidence of interest."""
    keep, rows = snapshot.weight > 0, snapshot.interests
    return InteractionGraph(
        n_users=snapshot.n_users,
        n_items=snapshot.n_items,
        user_index=snapshot.user_index[keep],
        item_index=snapshot.item_index[keep],
        weight=snapshot.weight[keep],
        ts=snapshot.last_ts_ms[keep],
        user_ids=snapshot.user_ids,
        item_ids=snapshot.item_ids,
        item_feature_ptr=snapshot.item_feature_ptr,
        item_feature_index=snapshot.item_feature_index,
        n_features=len(snapshot.feature_ids),
        item_text=snapshot.item_text,
        interests=None if rows is None else UserInterests.from_edges(
            rows.users, rows.features, rows.weights, snapshot.n_users
        ),
        feature_kind=feature_kind(snapshot.feature_ids),
    )  # fmt: skip


def train_config_from(settings: Settings, **overrides: Any) -> TrainConfig:
    values: dict[str, Any] = {
        "model": settings.model_kind,
        "dim": settings.model_dim,
        "num_layers": settings.model_layers,
        "epochs": settings.train_epochs,
        "lr": settings.train_lr,
        "seed": settings.train_seed,
        "time_budget_s": settings.train_time_budget_s,
        "id_dropout": settings.train_id_dropout,
        "use_text": settings.train_use_text,
        "learn_prior": settings.train_learn_prior,
    }
    values.update({k: v for k, v in overrides.items() if v is not None})
    return TrainConfig(**values)


def run_training(
    store: GraphStore,
    settings: Settings,
    config: TrainConfig,
    *,
    force: bool = False,
    say: Say | None = None,
) -> TrainingReport:
    """Train on the current graph; promote and write back unless the serving model scores
    better on the same, new holdout (``app.training.gate``), or whatever the scores if
    ``force``. ``say``, when given, gets a progress line per epoch and per step.

    It first takes back what killed trainings left behind (``app.training.recovery``), under a
    training lease of its own that keeps the next one from taking back this run's work.
    """
    registry = ModelRegistry(settings.model_dir)
    with TrainingLease(store, settings.lease_ttl_s) as lease:
        clean_up_after_crashes(store, registry)
        return _train_and_promote(
            store, settings, config, registry, lease.holder, force, say or _quiet
        )


def _train_and_promote(
    store: GraphStore,
    settings: Settings,
    config: TrainConfig,
    registry: ModelRegistry,
    writer: str,
    force: bool,
    say: Say,
) -> TrainingReport:
    started = time.perf_counter()
    if config.model in INDUCTIVE_KINDS and config.use_text:
        # Item text is an input of the inductive model: vectors for new or edited catalog
        # entries first, so the snapshot below carries every item's current text.
        embed_item_texts(store)
    half_life = settings.fold_config().half_life_ms
    snapshot = store.snapshots.read_snapshot(half_life)
    graph = snapshot_to_graph(snapshot)
    if graph.n_edges == 0:
        raise ValueError("the graph has no interactions to learn from; import events first")
    result, device = _train_graph_model(graph, config, settings.train_processes, say)
    # Chosen before saving, so the registry's metrics and the graph's version both hold it.
    order = choose_order(result, snapshot, half_life)
    result.best_metrics = {**result.best_metrics, **order.as_metrics()}
    log.info("within-category order: %s", order)
    version, metrics = _save_version(registry, result, graph, snapshot, config, writer)
    short_metrics, short_term = _train_short_term(settings, graph, registry.versions_dir / version,
                                                  device, say)  # fmt: skip
    metrics.update(short_metrics)
    # Judged with the short-term part the service blends in, so after it is trained.
    sharing = choose_sharing(store, settings, result, snapshot, order, short_term)
    metrics.update(sharing.as_metrics())
    log.info("interest share: %s", sharing)
    curve = registry.versions_dir / version / "training_curve.png"
    plot_training_curve(result.history, curve, metric=config.monitor)
    promotion = _gate(store, registry, result, GateInput.of(snapshot, result, half_life),
                      config, device, force)  # fmt: skip
    report = TrainingReport(version, promotion.promoted, promotion.reason, metrics=metrics,
                            device=str(device), curve=curve, gate=promotion)  # fmt: skip
    if promotion.promoted:
        say(f"promoted ({promotion.reason}); writing vectors back to Neo4j ...")
        tick = time.perf_counter()
        # The graph switches in one small transaction after every vector is in the free slot:
        # a failure or a kill before it leaves the graph on the previous version (a kill's
        # leftovers are the next run's clean-up), and nothing to undo here.
        report.written_users, report.written_items = _write_back(
            store, version, result, graph, snapshot, config, metrics,
            settings.train_write_batch, writer,
        )  # fmt: skip
        report.writeback_s = time.perf_counter() - tick
        registry.note_active(version)
    registry.note_outcome(version, "promoted" if promotion.promoted else "kept", promotion.reason)
    report.seconds = time.perf_counter() - started
    return report


def _train_graph_model(
    graph: InteractionGraph, config: TrainConfig, processes: int, say: Say
) -> tuple[TrainResult, torch.device]:
    """The graph model trained on ``processes`` processes (``ml.distributed``), and the
    device the result (rank 0's) lives on."""
    device = ParallelPlan.for_processes(processes).device(0)
    on = f"{device}" if processes == 1 else f"{device}, {processes} processes"
    say(f"training on {graph.n_users:,} users, {graph.n_items:,} items, {graph.n_edges:,} "
        f"edges ({on}) ...")  # fmt: skip
    progress = EpochProgress("interest model", config.epochs, say, config.time_budget_s)
    result = train_data_parallel(
        graph, config, processes, on_epoch=lambda row, _model, _ops: progress(row)
    )
    return result, device


def _save_version(
    registry: ModelRegistry,
    result: TrainResult,
    graph: InteractionGraph,
    snapshot: GraphSnapshot,
    config: TrainConfig,
    writer: str,
) -> tuple[str, dict[str, float]]:
    metrics = {k: float(v) for k, v in result.best_metrics.items() if isinstance(v, int | float)}
    # The item order and feature vocabulary let an incremental refresh (and the gate) line
    # new graph snapshots up with the trained item-ID and feature tables.
    extra = {"as_of": snapshot.as_of.isoformat(), "seconds_per_epoch": result.seconds_per_epoch,
             "feature_ids": snapshot.feature_ids, "item_ids": snapshot.item_ids}  # fmt: skip
    shape = ModelShape.of(graph)
    version = registry.save(
        result.model, config, shape, metrics, graph.fingerprint(), extra, writer=writer
    )
    return version, metrics


def _gate(
    store: GraphStore,
    registry: ModelRegistry,
    result: TrainResult,
    data: GateInput,
    config: TrainConfig,
    device: torch.device,
    force: bool,
) -> Promotion:
    """The challenger and the serving version, each scored on ``data``'s holdout alike."""
    serving = store.embeddings.active_version()
    if serving is not None and registry.active() != serving.version:
        # A process killed between the graph's switch and the note left the note behind.
        registry.note_active(serving.version)
    challenger = holdout_score(result.model, result.ops, data.holdout, config)
    promotion = judge_challenger(
        serving.version if serving else None, challenger, data, registry, config, device, force
    )
    log.info("promotion gate: %s", promotion.reason)
    return promotion


def _quiet(_line: str) -> None:
    """Progress sink when nobody watches (tests, library use): the log has the summary."""


def _train_short_term(
    settings: Settings, graph: InteractionGraph, folder: Path, device: torch.device, say: Say
) -> tuple[dict[str, float], ShortTermPart | None]:
    """Trains the sequence component on the same graph and stores it beside the version.

    Its metrics are reported with a ``short_`` prefix; promotion still compares the graph
    model's validation metric, so a version is never held back by the short-term part.
    """
    if settings.short_term_weight <= 0 or graph.n_edges == 0:
        return {}, None
    config = SequenceConfig(
        max_len=settings.short_term_max_len, epochs=settings.short_term_epochs,
        seed=settings.train_seed, time_budget_s=settings.train_time_budget_s,
    )  # fmt: skip
    progress = EpochProgress("session model", config.epochs, say, config.time_budget_s)
    result = train_short_term(graph, config, device, on_epoch=progress)
    params = export_short_term(result.model)
    save_short_term(params, folder / SHORT_TERM_FILE)
    metrics = {f"short_{k}": float(v) for k, v in result.best_metrics.items() if "@" in k}
    # The same users' newest items train_short_term held out of its training (its seed).
    _, held_out = split_last_items(user_sequences(graph), config.validation_users, config.seed)
    return metrics, ShortTermPart(params, held_out, settings.short_term_weight)


def _write_back(
    store: GraphStore,
    version: str,
    result: TrainResult,
    graph: InteractionGraph,
    snapshot: GraphSnapshot,
    config: TrainConfig,
    metrics: dict[str, float],
    batch_size: int,
    writer: str,
) -> tuple[int, int]:
    # Propagate over the full graph (validation edges included) with the trained weights,
    # on the device they were trained on (rank 0's, when several processes trained).
    ops = GraphOperators.build(graph, result.ops.device)
    vectors = full_embeddings(result.model, ops).cpu().numpy().astype(np.float32)
    users = NodeVectors(snapshot.user_ids, vectors[: graph.n_users])
    items = NodeVectors(snapshot.item_ids, vectors[graph.n_users :])
    return store.embeddings.write_model_version(
        version, users, items, model=config.model, config=config.to_dict(),
        batch_size=batch_size, writer=writer,
        metrics=metrics, watermark=snapshot.as_of, prior_weight=metrics.get("prior_weight", 0.0),
    )  # fmt: skip
