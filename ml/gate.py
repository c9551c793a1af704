"""The promotion gate: the serving model and a new one, scored on the same, new holdout.

A retrained model replaces the serving one only if it is not worse *on today's data*. Each
model's stored validation figure was measured on its own holdout, drawn from the graph of its
day; comparing figures from two holdouts compares two data sets, not two models (a graph that
grew harder refuses every retrain for ever). So the gate re-scores the serving weights on the
challenger's holdout, through the same ranking protocol, before deciding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ml.data import CSRMatrix
from ml.evaluate import evaluate_ranking
from ml.models.graph import GraphOperators
from ml.popularity import choose_prior_weight
from ml.train import EmbeddingModel, TrainConfig, embed_all


@dataclass(frozen=True)
class Holdout:
    """A validation split, as both models are scored on it.

    Attributes:
        targets: Held-out items per user (the validation edges), ``[n_users, n_items]``.
        exclude: Items each user has in the training part (never counted as hits).
        log_degree: ``log(1 + degree)`` per item in the training part (the popularity prior).
    """

    targets: CSRMatrix
    exclude: CSRMatrix
    log_degree: np.ndarray


@dataclass(frozen=True)
class Promotion:
    """What the gate decided.

    Attributes:
        promoted: Whether the challenger is served from now on.
        reason: Why, in words (shown in refresh runs and the CLI).
        challenger: The challenger's score on the holdout (``None``: not scored).
        champion: The serving model's score on the same holdout (``None``: none, or it could
            not be scored).
    """

    promoted: bool
    reason: str
    challenger: float | None = None
    champion: float | None = None


def holdout_score(
    model: EmbeddingModel,
    ops: GraphOperators,
    holdout: Holdout,
    config: TrainConfig,
    item_order: np.ndarray | None = None,
) -> float:
    """``config.monitor`` of ``model`` on ``holdout``, ranked as training validates.

    Args:
        model: The weights to score.
        ops: The holdout's training part, in the model's own node order.
        holdout: Targets, exclusions and prior, in the holdout's item order.
        config: Gives the metric (``monitor``), the cut-offs and whether a popularity prior
            is chosen; with one, the prior weight is picked on the holdout for each model
            alike (``ml.popularity.choose_prior_weight``).
        item_order: Row of ``ops``'s item table for each holdout item (``None``: the same
            order), so a model whose ID table is ordered differently is scored all the same.

    Returns:
        The metric, e.g. recall@20.
    """
    user_vec, item_vec = embed_all(model, ops)
    if item_order is not None:
        item_vec = item_vec[torch.from_numpy(item_order).to(item_vec.device)]
    if config.popularity_prior:
        _, metrics = choose_prior_weight(
            user_vec, item_vec, holdout.log_degree, holdout.targets, holdout.exclude,
            config.eval_k, config.monitor,
        )  # fmt: skip
    else:
        metrics = evaluate_ranking(
            user_vec, item_vec, holdout.targets, holdout.exclude, config.eval_k
        )
    return float(metrics[config.monitor])


def decide(
    challenger: float | None,
    champion: float | None,
    metric: str,
    *,
    serving: str | None,
    force: bool = False,
    tolerance: float = 0.0,
) -> Promotion:
    """Promote unless the challenger scored worse than the champion on the same holdout.

    Args:
        challenger: The new model's score.
        champion: The serving model's score on the same holdout; ``None`` when nothing is
            served or the serving model could not be scored (then nothing is compared).
        metric: The metric's name, for the reason.
        serving: The serving version (``None``: none yet), for the reason.
        force: Promote whatever the scores.
        tolerance: Drop allowed before it counts as worse.
    """
    if force:
        return Promotion(True, "forced", challenger, champion)
    if serving is None:
        return Promotion(True, "no active version", challenger, champion)
    if challenger is None:
        return Promotion(False, f"the new model has no {metric}", challenger, champion)
    if champion is None:
        reason = f"active {serving} cannot be scored on today's holdout"
        return Promotion(True, reason, challenger, champion)
    if challenger < champion - tolerance:
        reason = f"{metric} on today's holdout: {challenger:.4f} < active {serving} {champion:.4f}"
        return Promotion(False, reason, challenger, champion)
    return Promotion(True, f"not worse on today's holdout ({challenger:.4f} >= {champion:.4f})",
                     challenger, champion)  # fmt: skip
