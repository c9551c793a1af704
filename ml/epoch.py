"""One epoch of the graph model's training, in one process or as one rank of several.

A step draws a *global* batch (users for the full softmax, edges otherwise) from the same
seeded generator in every process, so every process sees the batches one process would see.
With several processes (:mod:`ml.distributed`) each rank takes a contiguous share of that
batch (:class:`Shard`), sums the loss of its share over the weight of the whole batch and
scales it by the number of ranks: DistributedDataParallel averages the ranks' gradients, so the
average is the gradient of the one-process loss of the global batch. Everything random the
loss draws (shared negatives, BPR negatives) is drawn for the global batch on every rank and
sliced, which keeps the generators of all ranks in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ml.early_stopping import descend
from ml.losses import bpr_loss, full_softmax_loss, sample_negatives, sampled_softmax_loss
from ml.models.graph import GraphOperators, concat_ranges
from ml.popularity import LearnedPopularity
from ml.training_edges import TrainingEdges

if TYPE_CHECKING:
    from ml.train import EmbeddingModel, TrainConfig


@dataclass(frozen=True)
class Shard:
    """Which part of every global batch this process trains on.

    Attributes:
        rank: This process's rank, ``0 <= rank < world``.
        world: Number of processes sharing each batch.
    """

    rank: int = 0
    world: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.world:
            raise ValueError(f"rank {self.rank} is outside 0..{self.world - 1}")

    def part(self, n: int) -> slice:
        """This rank's contiguous share of a batch of ``n`` (sizes differ by one at most, the
        first ``n % world`` ranks take the larger share; as ``numpy.array_split``)."""
        size, extra = divmod(n, self.world)
        start = self.rank * size + min(self.rank, extra)
        return slice(start, start + size + (self.rank < extra))


SINGLE = Shard()


class Trainable(nn.Module):
    """The model and, when it is learned, the popularity prior: one module, so that
    DistributedDataParallel averages the gradients of both.

    Args:
        model: The embedding model.
        popularity: The learned prior, or ``None``.
    """

    def __init__(self, model: EmbeddingModel, popularity: LearnedPopularity | None) -> None:
        super().__init__()
        self.model, self.popularity = model, popularity

    def forward(self, ops: GraphOperators) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Every node's embedding and the items' logit bias (``None`` without a learned prior)."""
        bias = None if self.popularity is None else self.popularity.logit_bias()
        return self.model(ops), bias


@dataclass(frozen=True)
class _Step:
    """What every step of an epoch shares."""

    forward: nn.Module  # the Trainable, or DistributedDataParallel around it
    trainable: Trainable
    ops: GraphOperators
    batches: TrainingEdges
    config: TrainConfig
    shard: Shard

    def local(self, n: int) -> tuple[slice, int]:
        """This rank's share of a batch of ``n`` and the factor on its loss.

        A rank whose share is empty (a last batch smaller than the world) computes the whole
        batch at factor 0: every rank's autograd graph stays alike, as DDP needs.
        """
        part = self.shard.part(n)
        if part.stop > part.start:
            return part, self.shard.world
        return slice(0, n), 0

    def total(self, weights: np.ndarray) -> torch.Tensor | None:
        """The global batch's weight, the denominator of every rank's loss (``None``: one
        process, whose own weight it is)."""
        if self.shard.world == 1:
            return None
        return torch.from_numpy(weights).to(self.ops.device).sum()

    def regularisation(self, users: np.ndarray, items: np.ndarray, n: int) -> torch.Tensor | float:
        """L2 penalty of the global batch's parameters, added by rank 0 alone (times the world,
        as DDP divides it again)."""
        if self.config.weight_decay <= 0 or self.shard.rank != 0:
            return 0.0
        device = self.ops.device
        params = self.trainable.model.regularized_parameters(
            torch.from_numpy(users).to(device), torch.from_numpy(items).to(device)
        )
        penalty = sum(p.pow(2).sum() for p in params)
        return self.shard.world * self.config.weight_decay * penalty / n / 2


def _user_edges(batches: TrainingEdges, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The training edges of ``users`` and the batch row (position in ``users``) of each."""
    starts, ends = batches.user_ptr[users], batches.user_ptr[users + 1]
    edges = batches.by_user[concat_ranges(starts, ends)]
    return edges, np.repeat(np.arange(len(users)), ends - starts)


def _user_batch_loss(step: _Step, users: np.ndarray) -> torch.Tensor:
    """Exact full-softmax loss of every interaction of this rank's share of ``users``."""
    device, batches = step.ops.device, step.batches
    part, factor = step.local(len(users))
    edges, edge_row = _user_edges(batches, users[part])
    embeddings, bias = step.forward(step.ops)
    all_edges = edges if step.shard.world == 1 else _user_edges(batches, users)[0]
    loss = full_softmax_loss(
        embeddings[torch.from_numpy(users[part]).to(device)],
        embeddings[batches.n_users :],
        torch.from_numpy(edge_row).to(device),
        torch.from_numpy(batches.items[edges]).to(device),
        torch.from_numpy(batches.weights[edges]).to(device),
        step.config.temperature,
        bias,
        total_weight=step.total(batches.weights[all_edges]),
    )
    items = np.unique(batches.items[all_edges])
    return factor * loss + step.regularisation(users, items, len(users))


def _batch_loss(step: _Step, index: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
    """Loss of this rank's share of a batch of edges after one full-graph propagation."""
    device, batches, config = step.ops.device, step.batches, step.config
    part, factor = step.local(len(index))
    users_np, items_np = batches.users[index], batches.items[index]
    users = torch.from_numpy(users_np[part]).to(device)
    items = torch.from_numpy(items_np[part]).to(device)
    weight = torch.from_numpy(batches.weights[index][part]).to(device)
    total = step.total(batches.weights[index])
    embeddings, _ = step.forward(step.ops)
    user_vec, item_vec = embeddings[users], embeddings[items + batches.n_users]
    if config.loss == "softmax":
        negatives = torch.from_numpy(rng.integers(0, batches.n_items, config.num_negatives))
        negative_vec = embeddings[negatives.to(device) + batches.n_users]
        loss = sampled_softmax_loss(
            user_vec, item_vec, negative_vec, weight, config.temperature, total
        )
    elif config.loss == "bpr":
        negatives_np = sample_negatives(batches.seen_keys, batches.n_items, users_np, rng)
        negative_vec = embeddings[torch.from_numpy(negatives_np[part]).to(device) + batches.n_users]
        loss = bpr_loss(user_vec, item_vec, negative_vec, weight, total)
        items_np = np.concatenate([items_np, negatives_np])
    else:
        raise ValueError(f"unknown loss {config.loss!r}")
    return factor * loss + step.regularisation(users_np, items_np, len(index))


def batch_loss(
    trainable: Trainable,
    ops: GraphOperators,
    batches: TrainingEdges,
    config: TrainConfig,
    index: np.ndarray,
    rng: np.random.Generator,
    shard: Shard = SINGLE,
    forward: nn.Module | None = None,
) -> torch.Tensor:
    """This rank's loss of one global batch: ``index`` holds users (full softmax) or edges.

    Over the ranks of a world the gradients of these losses average to the gradient of the
    :data:`SINGLE` loss of the batch (the arguments as for :func:`run_epoch`).
    """
    step = _Step(forward or trainable, trainable, ops, batches, config, shard)
    if config.loss == "full_softmax":
        return _user_batch_loss(step, index)
    return _batch_loss(step, index, rng)


def run_epoch(
    trainable: Trainable,
    ops: GraphOperators,
    batches: TrainingEdges,
    optimizer: torch.optim.Optimizer,
    config: TrainConfig,
    rng: np.random.Generator,
    shard: Shard = SINGLE,
    forward: nn.Module | None = None,
) -> float:
    """One pass over the training edges in random order; returns the mean batch loss (of
    this rank's loss, which the ranks average to the global one).

    Args:
        trainable: The model and its learned prior.
        ops: Graph operators of the training graph.
        batches: The training edges.
        optimizer: Steps ``trainable``'s parameters.
        config: Loss, batch sizes, temperature, weight decay.
        rng: The batch generator, seeded alike in every rank.
        shard: This process's share of each batch (:data:`SINGLE`: all of it).
        forward: What computes the embeddings (DDP around ``trainable``; default ``trainable``).
    """
    (forward or trainable).train()
    if config.loss == "full_softmax":
        active = np.flatnonzero(np.diff(batches.user_ptr) > 0)
        order, size = rng.permutation(active), config.user_batch_size
    else:
        order, size = rng.permutation(len(batches.users)), config.batch_size
    losses = (
        batch_loss(trainable, ops, batches, config, order[start : start + size], rng, shard,
                   forward)
        for start in range(0, len(order), size)
    )  # fmt: skip
    return descend(losses, optimizer)
