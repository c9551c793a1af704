"""The epoch loop shared by every trainer: validate, keep the best weights, stop early.

Both the graph model (:mod:`ml.train`) and the short-term model (:mod:`ml.sequence`) train
for up to ``epochs`` passes, validate every ``eval_every`` epochs (and at the last epoch, and
when the time budget runs out), keep a copy of the weights with the best monitored metric, and
stop after ``patience`` validations without improvement. The best weights are loaded back.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn


@dataclass(frozen=True)
class LoopConfig:
    """How long to train and when to stop.

    Attributes:
        epochs: Maximum number of epochs.
        eval_every: Validate every this many epochs.
        patience: Stop after this many validations without improvement.
        monitor: Validation metric to maximise.
        time_budget_s: Stop after the epoch that crosses this wall-clock budget (``None``: off).
    """

    epochs: int
    eval_every: int
    patience: int
    monitor: str
    time_budget_s: float | None = None


@dataclass(kw_only=True)
class LoopOutcome:
    """What the loop did; each trainer's result extends it with its model.

    Attributes:
        history: Per-epoch ``{"epoch", "loss", "seconds", "elapsed", <validation metrics>}``.
        best_epoch: Epoch whose weights were kept.
        best_metrics: Validation metrics of ``best_epoch``.
        seconds_per_epoch: Mean training seconds per epoch (validation excluded).
        total_seconds: Wall-clock of the whole training call (set by the trainer).
    """

    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = 0
    best_metrics: dict[str, float] = field(default_factory=dict)
    seconds_per_epoch: float = 0.0
    total_seconds: float = 0.0


@dataclass
class _BestWeights:
    state: dict[str, torch.Tensor]
    value: float = -np.inf
    epoch: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    stale: int = 0

    def update(self, model: nn.Module, row: dict[str, float], monitor: str) -> None:
        if row[monitor] > self.value:
            self.state = copy.deepcopy(model.state_dict())
            self.value, self.epoch, self.metrics = row[monitor], int(row["epoch"]), dict(row)
            self.stale = 0
        else:
            self.stale += 1


def descend(losses: Iterable[torch.Tensor], optimizer: torch.optim.Optimizer) -> float:
    """One optimizer step per loss as ``losses`` yields it; returns the mean loss (an epoch's
    inner loop, shared by the trainers)."""
    total, steps = 0.0, 0
    for loss in losses:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        total, steps = total + float(loss.detach()), steps + 1
    return total / max(steps, 1)


def train_with_early_stopping(
    model: nn.Module,
    config: LoopConfig,
    run_epoch: Callable[[], float],
    validate: Callable[[], dict[str, float]],
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> LoopOutcome:
    """Runs the epochs; leaves the best validated weights in ``model`` (in eval mode).

    Args:
        model: The module being trained (its ``state_dict`` is what is kept).
        config: Epochs, validation cadence, patience, metric and time budget.
        run_epoch: One pass over the training data; returns the mean loss.
        validate: Validation metrics of the current weights (must contain ``config.monitor``).
        on_epoch: Called with every epoch's row ``{"epoch", "loss", "seconds", "elapsed",
            <validation metrics>}``.
    """
    started = time.perf_counter()
    outcome = LoopOutcome()
    best = _BestWeights(copy.deepcopy(model.state_dict()))
    for epoch in range(1, config.epochs + 1):
        tick = time.perf_counter()
        row: dict[str, float] = {"epoch": epoch, "loss": run_epoch()}
        row["seconds"] = time.perf_counter() - tick
        budget = config.time_budget_s
        out_of_time = budget is not None and time.perf_counter() - started >= budget
        if epoch % config.eval_every == 0 or epoch == config.epochs or out_of_time:
            row.update(validate())
            best.update(model, row, config.monitor)
        row["elapsed"] = time.perf_counter() - started
        outcome.history.append(row)
        if on_epoch is not None:
            on_epoch(row)
        if best.stale >= config.patience or out_of_time:
            break
    model.load_state_dict(best.state)
    model.eval()
    outcome.best_epoch, outcome.best_metrics = best.epoch, best.metrics
    outcome.seconds_per_epoch = sum(r["seconds"] for r in outcome.history) / len(outcome.history)
    return outcome
