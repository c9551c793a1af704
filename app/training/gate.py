"""The promotion gate, wired to the graph: which version serves, and its score on today's data.

``ml.gate`` scores weights and decides; this module finds the serving version (the graph's
``(:ModelVersion {active})``, the one pointer), loads its weights from the registry and lines
them up with today's snapshot, so they are scored on exactly the holdout the new model was
validated on. An inductive model embeds today's users from their current edges, so the
serving weights see the same training part the challenger saw; a transductive one (per-user
ID rows) cannot embed users it never saw and is not scored (the challenger is promoted, and
the reason says why).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import numpy as np
import torch

from app.training.live_graph import LiveGraph
from graphdb.snapshot import GraphSnapshot
from ml.data import InteractionGraph
from ml.gate import Holdout, Promotion, decide, holdout_score
from ml.models.graph import GraphOperators
from ml.popularity import item_log_degree
from ml.registry import ModelRegistry
from ml.train import EmbeddingModel, InductiveModel, TrainConfig, TrainResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateInput:
    """Today's data as both models are scored on it.

    Attributes:
        snapshot: The graph snapshot the challenger was trained on.
        train_graph: Its training part (the holdout's edges removed), in snapshot order.
        holdout: The held-out edges, exclusions and popularity prior.
        half_life_ms: The interest half-life, to line the snapshot up with a stored model.
    """

    snapshot: GraphSnapshot
    train_graph: InteractionGraph
    holdout: Holdout
    half_life_ms: float

    @classmethod
    def of(cls, snapshot: GraphSnapshot, result: TrainResult, half_life_ms: float) -> GateInput:
        """The split the challenger was validated on, as training made it."""
        if result.train_graph is None or result.targets is None:
            raise ValueError("the training result carries no validation split")
        train_graph = result.train_graph
        holdout = Holdout(result.targets, train_graph.user_items(), item_log_degree(train_graph))
        return cls(snapshot, train_graph, holdout, half_life_ms)


def judge_challenger(
    serving: str | None,
    challenger: float,
    data: GateInput,
    registry: ModelRegistry,
    config: TrainConfig,
    device: torch.device,
    force: bool = False,
) -> Promotion:
    """Promote unless ``serving``'s weights score better than ``challenger`` on ``data``."""
    champion = None
    if serving is not None and not force:
        champion = score_serving(serving, data, registry, config, device)
    return decide(challenger, champion, config.monitor, serving=serving, force=force)


def score_serving(
    version: str,
    data: GateInput,
    registry: ModelRegistry,
    config: TrainConfig,
    device: torch.device,
) -> float | None:
    """``version``'s score on today's holdout, or ``None`` when it cannot be scored."""
    if version not in registry.versions():
        log.warning("active version %s is not in the registry: not scored", version)
        return None
    model = registry.load(version, device)
    extra = registry.metadata(version).get("extra", {})
    if not isinstance(model, InductiveModel) or "item_ids" not in extra:
        return None
    ops, item_order = _lined_up(model, extra, data, device)
    return holdout_score(model, ops, data.holdout, config, item_order=item_order)


def _lined_up(
    model: EmbeddingModel, extra: dict[str, list[str]], data: GateInput, device: torch.device
) -> tuple[GraphOperators, np.ndarray]:
    """The training part in ``model``'s item order, and each snapshot item's row in it."""
    text_dim = model.text_dim if isinstance(model, InductiveModel) else 0
    live = LiveGraph.from_snapshot(
        data.snapshot, extra["item_ids"], extra.get("feature_ids", []), data.half_life_ms,
        text_dim=text_dim,
    )  # fmt: skip
    items = data.snapshot.item_ids
    item_order = np.fromiter((live.item_pos[item] for item in items), np.int64, len(items))
    train = data.train_graph
    graph = replace(
        live.to_interaction_graph(), user_index=train.user_index,
        item_index=item_order[train.item_index], weight=train.weight, ts=train.ts,
    )  # fmt: skip
    return GraphOperators.build(graph, device), item_order
