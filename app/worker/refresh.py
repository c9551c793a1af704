"""Incremental refresh: re-embed exactly the nodes a graph change reaches, with fixed weights.

A run reads what changed since the active version's watermark, patches the worker's live copy
of the graph, expands the changed nodes to their receptive field (``num_layers`` hops for
changed edges, one more for changed item content, which also moves the user layer-0 of the
item's users), embeds that field with the active model's weights, and writes back the
vectors that moved: always those of the nodes that changed, and of the bystanders (nodes moved
only through a neighbour's degree) at most ``refresh_write_budget`` a run, largest moves
first. The rest stay *pending*: the worker keeps what it computed beside what is stored and
writes them in the following runs, so the write, the costly part, grows with the traffic and
not with the graph, and the stored vectors still converge to a full recomputation. (Finding
the moved rows is one pass over the two matrices per run, far below the propagation's cost,
so no pending set is kept beside them.) The watermark advances in the last write transaction.

The first run of a process (or after a failure, or after the active version changed) is a
*cold* run: it reads the whole graph, computes every embedding and writes the ones that differ
from what is stored. That is also how a crashed run's work gets redone exactly. Only
inductive models can be refreshed: a transductive LightGCN has no vector for a new user until
it is retrained.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import torch

from app.settings import Settings
from app.training.live_graph import LiveGraph
from graphdb.changes import GraphChanges, RefreshState
from graphdb.embeddings import NodeVectors
from graphdb.store import GraphStore
from ml.embed import affected_users_items, embed_nodes, full_embeddings, to_global
from ml.models.graph import GraphOperators
from ml.registry import ModelRegistry
from ml.train import INDUCTIVE_KINDS, InductiveModel, default_device

log = logging.getLogger(__name__)

DRIFT_SAMPLE = 256  # untouched nodes re-embedded per run to prove they did not move


@dataclass
class RefreshReport:
    """What one refresh run did.

    Attributes:
        changed: Users and items whose graph data changed since the watermark.
        refreshed: Nodes re-embedded (the changes' receptive field).
        written: Nodes whose vector moved by more than the tolerance, written back.
        model_version: The active version refreshed.
        max_untouched_drift: Largest change, over a sample of nodes outside the receptive
            field, between their stored vector and a recomputation (zero if the rule holds).
        seconds: Wall-clock of the run.
        skipped_reason: Why nothing was done, if so.
        cold: Whether the run re-read the whole graph.
        timings: Seconds per phase (read, embed, write).
        pending: Bystander vectors that moved more than the tolerance but wait for a later
            run (the write budget was spent on larger moves).
        max_pending_move: Largest coordinate move among the pending vectors: how far the
            stored vectors are from a full recomputation after this run.
    """

    changed: int
    refreshed: int
    written: int
    model_version: str | None
    max_untouched_drift: float
    seconds: float
    skipped_reason: str | None = None
    cold: bool = False
    timings: dict[str, float] = field(default_factory=dict)
    pending: int = 0
    max_pending_move: float = 0.0


@dataclass
class _Loaded:
    """The worker's in-memory state for one active version."""

    version: str
    model: InductiveModel
    graph: LiveGraph
    ops: GraphOperators
    vectors: np.ndarray  # [n_users + n_items, dim] as stored now (users first)
    computed: np.ndarray  # the same rows as the active weights give them on ``graph`` now
    watermark: datetime


def _changed_rows(new: np.ndarray, old: np.ndarray, tolerance: float) -> np.ndarray:
    """Rows whose vector moved by more than ``tolerance`` (a NaN old row always counts)."""
    return np.flatnonzero(~(_moves(new, old) <= tolerance))


def _moves(new: np.ndarray, old: np.ndarray) -> np.ndarray:
    """Largest coordinate move per row (NaN where either side has no vector)."""
    return np.abs(new - old).max(axis=1) if len(new) else np.zeros(0)


@dataclass(frozen=True)
class WritePlan:
    """Which moved rows a warm run writes now and which wait.

    Attributes:
        rows: Global rows to write, sorted.
        pending: Moved bystander rows left for later runs.
        max_pending_move: Largest move among ``pending`` (0 when none).
    """

    rows: np.ndarray
    pending: int
    max_pending_move: float


def plan_writes(
    moves: np.ndarray, own: np.ndarray, writable: np.ndarray, tolerance: float, budget: int
) -> WritePlan:
    """Every moved row of a changed node, and the ``budget`` largest moved bystanders.

    Args:
        moves: Per global row, how far the computed vector is from the stored one (NaN: one
            of them is missing, which always counts as moved).
        own: Global rows of the nodes whose own edges or content changed.
        writable: Per global row, whether it may be written (erased users may not).
        tolerance: Smallest move written.
        budget: Most bystander rows written.
    """
    moved = ~(moves <= tolerance) & writable
    is_own = np.zeros(len(moves), dtype=bool)
    is_own[own] = True
    must = np.flatnonzero(moved & is_own)
    bystanders = np.flatnonzero(moved & ~is_own)
    size = np.nan_to_num(moves[bystanders], nan=np.inf)
    order = np.argsort(-size, kind="stable")
    taken, left = bystanders[order[:budget]], size[order[budget:]]
    return WritePlan(np.union1d(must, taken), len(left), float(left.max()) if len(left) else 0.0)


def _embed_field(model: InductiveModel, ops: GraphOperators, nodes: np.ndarray) -> np.ndarray:
    """Embeddings of ``nodes``: over their receptive field only, or, when the field is most
    of the graph anyway (a popular item is two hops from nearly everyone), by one full
    propagation, which is cheaper than gathering a subgraph that large."""
    if len(nodes) > ops.n_nodes // 2:
        return full_embeddings(model, ops).cpu().numpy()[nodes].astype(np.float32)
    return embed_nodes(model, ops, nodes).cpu().numpy().astype(np.float32)


class IncrementalRefresher:
    """Keeps the live graph between runs; one instance per worker process.

    Args:
        store: The process's graph store.
        settings: Service settings (model registry folder, decay, tolerances).
        device: Where to embed (default: CUDA when available).
        after_batch: Called after every written batch with the rows written so far (lease
            renewal, progress, fault injection in tests).
    """

    def __init__(
        self,
        store: GraphStore,
        settings: Settings,
        device: torch.device | None = None,
        after_batch: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.device = device or default_device()
        self.after_batch = after_batch
        self._loaded: _Loaded | None = None

    def reset(self) -> None:
        """Forgets the cached graph (after a full retrain, or to force a cold run)."""
        self._loaded = None

    def run(self) -> RefreshReport:
        """One refresh of the active version; raises on failure (the next run redoes it)."""
        started = time.perf_counter()
        state = self.store.changes.read_refresh_state()
        reason = self._unsupported(state)
        if reason is not None:
            version = state.version if state is not None else None
            return RefreshReport(0, 0, 0, version, 0.0, time.perf_counter() - started, reason)
        assert state is not None
        loaded = self._loaded
        try:
            if (
                loaded is None
                or loaded.version != state.version
                or loaded.watermark != (state.watermark)
            ):
                report = self._cold_run(state)
            else:
                report = self._warm_run(loaded)
        except BaseException:
            self._loaded = None  # the live copy may be ahead of Neo4j: rebuild next time
            raise
        report.seconds = time.perf_counter() - started
        return report

    def _unsupported(self, state: RefreshState | None) -> str | None:
        if state is None:
            return "no active model version yet: run `interest-graph train` first"
        if state.model not in INDUCTIVE_KINDS:
            return (
                f"model {state.model!r} is transductive: new behaviour reaches it at the next "
                "full retrain (use IG_MODEL_KIND=interest for incremental refresh)"
            )
        if state.watermark is None:
            return "the active version predates incremental refresh: retrain once"
        extra = ModelRegistry(self.settings.model_dir).metadata(state.version).get("extra", {})
        if "item_ids" not in extra:
            return "the active version's registry entry has no item order: retrain once"
        return None

    def _load_model(self, version: str) -> tuple[InductiveModel, list[str], list[str]]:
        registry = ModelRegistry(self.settings.model_dir)
        model = registry.load(version, self.device)
        if not isinstance(model, InductiveModel):
            raise TypeError(f"model version {version} is not inductive")
        extra = registry.metadata(version)["extra"]
        return model, list(extra["item_ids"]), list(extra["feature_ids"])

    def _cold_run(self, state: RefreshState) -> RefreshReport:
        """Whole graph: embed everything, write what differs from the stored vectors."""
        tick = time.perf_counter()
        half_life = self.settings.fold_config().half_life_ms
        model, item_order, feature_ids = self._load_model(state.version)
        assert state.watermark is not None
        changed = self.store.changes.count_changes(state.watermark)
        snapshot = self.store.snapshots.read_snapshot(half_life)
        graph = LiveGraph.from_snapshot(
            snapshot, item_order, feature_ids, half_life, text_dim=model.text_dim
        )
        stored = self._stored_matrix(graph, state.version, model)
        read_s = time.perf_counter() - tick
        ops = GraphOperators.build(graph.to_interaction_graph(), self.device)
        vectors = full_embeddings(model, ops).cpu().numpy().astype(np.float32)
        embed_s = time.perf_counter() - tick - read_s
        rows = _changed_rows(vectors, stored, self.settings.refresh_write_tolerance)
        untouched = np.setdiff1d(np.arange(len(vectors)), rows)
        drift = float(np.nanmax(np.abs(vectors[untouched] - stored[untouched]), initial=0.0))
        self._write(state.version, graph, vectors, rows, snapshot.as_of)
        self._loaded = _Loaded(
            state.version, model, graph, ops, vectors, vectors.copy(), snapshot.as_of
        )
        return RefreshReport(
            changed, len(vectors), len(rows), state.version, drift, 0.0, cold=True,
            timings={"read_s": read_s, "embed_s": embed_s,
                     "write_s": time.perf_counter() - tick - read_s - embed_s},
        )  # fmt: skip

    def _stored_matrix(self, graph: LiveGraph, version: str, model: InductiveModel) -> np.ndarray:
        """Stored vectors lined up with ``graph`` (NaN where a node has none)."""
        users, items = self.store.changes.read_version_vectors(version)
        dim = model.user_proj.in_features
        out = np.full((graph.n_users + graph.n_items, dim), np.nan, dtype=np.float32)
        for vectors, positions, offset in (
            (users, graph.user_pos, 0),
            (items, graph.item_pos, graph.n_users),
        ):
            for k, node_id in enumerate(vectors.ids):
                pos = positions.get(node_id)
                if pos is not None and vectors.vectors.shape[1] == dim:
                    out[offset + pos] = vectors.vectors[k]
        return out

    def _warm_run(self, loaded: _Loaded) -> RefreshReport:
        """Patch in the changes, embed their receptive field, write what moved (bystanders
        within the budget, largest moves first)."""
        tick = time.perf_counter()
        changes = self.store.changes.read_changes(loaded.watermark, self.settings.refresh_overlap_s)
        read_s = time.perf_counter() - tick
        graph, old_ops = loaded.graph, loaded.ops
        users, items, content = self._apply(graph, changes)
        ops = GraphOperators.build(graph.to_interaction_graph(), self.device)
        nodes = self._field(loaded.model.num_layers, old_ops, ops, users, items, content)
        vectors = self._grown(loaded.vectors, old_ops, ops)
        computed = self._grown(loaded.computed, old_ops, ops)
        computed[nodes] = _embed_field(loaded.model, ops, nodes)
        drift = self._untouched_drift(loaded.model, ops, computed, nodes)
        embed_s = time.perf_counter() - tick - read_s
        writable = np.ones(ops.n_nodes, dtype=bool)
        writable[: ops.n_users] = np.isin(graph.user_ids, list(changes.user_ids))
        own = to_global(ops, users, np.union1d(items, content))
        plan = plan_writes(
            _moves(computed, vectors), own, writable,
            self.settings.refresh_write_tolerance, self.settings.refresh_write_budget,
        )  # fmt: skip
        # The mirror holds what is stored: a vector that moved less than the tolerance, or
        # waits for a later run, keeps its stored value here, so it is written once it matters.
        vectors[plan.rows] = computed[plan.rows]
        self._write(loaded.version, graph, vectors, plan.rows, changes.as_of)
        self._loaded = _Loaded(
            loaded.version, loaded.model, graph, ops, vectors, computed, changes.as_of
        )
        return RefreshReport(
            changes.fresh, len(nodes), len(plan.rows), loaded.version, drift, 0.0,
            timings={"read_s": read_s, "embed_s": embed_s,
                     "write_s": time.perf_counter() - tick - read_s - embed_s},
            pending=plan.pending, max_pending_move=plan.max_pending_move,
        )  # fmt: skip

    @staticmethod
    def _field(
        layers: int, old_ops: GraphOperators, ops: GraphOperators,
        users: np.ndarray, items: np.ndarray, content: np.ndarray,
    ) -> np.ndarray:  # fmt: skip
        """Global rows the changes reach: ``layers`` hops from changed edges, one more from
        changed item content (it moves the layer 0 of the item's users)."""
        field_users, field_items = affected_users_items([old_ops, ops], users, items, layers)
        more_users, more_items = affected_users_items(
            [ops], np.zeros(0, np.int64), content, layers + 1
        )
        return to_global(
            ops, np.union1d(field_users, more_users), np.union1d(field_items, more_items)
        )

    @staticmethod
    def _apply(
        graph: LiveGraph, changes: GraphChanges
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Patches ``graph``; returns changed users, items with changed edges, and items
        whose content changed (all positions)."""
        users = graph.replace_users(changes.users)
        orphaned = graph.remove_users_except(changes.user_ids)
        items, content = graph.set_item_features(changes.item_features, changes.item_text)
        edge_items = np.unique(
            np.concatenate([items, orphaned, graph.edge_item[np.isin(graph.edge_user, users)]])
        )
        return users, edge_items, content

    @staticmethod
    def _grown(vectors: np.ndarray, old: GraphOperators, new: GraphOperators) -> np.ndarray:
        """``vectors`` re-laid for ``new``'s node numbering (new users/items as NaN rows)."""
        out = np.full((new.n_nodes, vectors.shape[1]), np.nan, dtype=np.float32)
        out[: old.n_users] = vectors[: old.n_users]
        out[new.n_users : new.n_users + old.n_items] = vectors[old.n_users :]
        return out

    def _untouched_drift(
        self, model: InductiveModel, ops: GraphOperators, vectors: np.ndarray, field: np.ndarray
    ) -> float:
        """Max change of a seeded sample of nodes outside ``field`` when recomputed."""
        outside = np.setdiff1d(np.arange(ops.n_nodes), field)
        outside = outside[~np.isnan(vectors[outside]).any(axis=1)]
        if len(outside) == 0:
            return 0.0
        rng = np.random.default_rng(len(outside))
        sample = np.sort(rng.choice(outside, min(DRIFT_SAMPLE, len(outside)), replace=False))
        again = embed_nodes(model, ops, sample).cpu().numpy()
        return float(np.abs(again - vectors[sample]).max())

    def _write(
        self, version: str, graph: LiveGraph, vectors: np.ndarray, rows: np.ndarray, as_of: datetime
    ) -> None:
        users = rows[rows < graph.n_users]
        items = rows[rows >= graph.n_users] - graph.n_users
        self.store.changes.write_refreshed_vectors(
            version,
            NodeVectors([graph.user_ids[u] for u in users], vectors[users]),
            NodeVectors([graph.item_ids[i] for i in items], vectors[items + graph.n_users]),
            as_of, batch_size=self.settings.refresh_write_batch, after_batch=self.after_batch,
        )  # fmt: skip
