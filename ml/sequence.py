"""Training of the short-term (sequence-aware) interest model and its export for serving.

Each user's history is the list of their distinct items ordered by the latest interaction,
oldest first (production keeps one user-item edge per pair with its last timestamp). The model
(:class:`ml.models.sequence.SequenceRecommender`) learns next-item prediction at every position
of the last ``max_len + 1`` items with an exact softmax cross-entropy over all items, and is
early-stopped on the ranking of each validation user's held-out next item.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ml.data import CSRMatrix, InteractionGraph
from ml.early_stopping import LoopConfig, LoopOutcome, descend, train_with_early_stopping
from ml.evaluate import dense_rows, ranking_metrics_from_scores
from ml.histories import ItemSequences, split_last_items, user_sequences
from ml.models.sequence import CausalAttentionBlock, SequenceRecommender
from ml.shortterm import AttentionBlockParams, ShortTermParams


@dataclass
class SequenceConfig:
    """Hyper-parameters of the short-term model (JSON-serialisable via :meth:`to_dict`).

    The defaults were chosen on a validation split (Amazon Beauty's second-to-last items):
    with the full softmax a 3e-3 learning rate converges in about ten epochs, and dropout 0.3
    beat 0.5 there.

    Attributes:
        max_len: Most recent items read per user.
        dim: Hidden / embedding size.
        num_blocks: Causal self-attention blocks.
        dropout: Dropout rate of embeddings, attention and residual branches.
        lr: Adam learning rate.
        weight_decay: Adam (L2) weight decay.
        batch_size: Users per step.
        epochs: Maximum passes over the users.
        seed: Seed of initialisation, dropout and batching.
        patience: Stop after this many validations without improvement.
        eval_every: Validate every this many epochs.
        time_budget_s: Stop after the epoch that crosses this wall-clock budget (``None`` = off).
        validation_users: Users whose newest item is held out when no validation targets are
            given (``None`` = every user with at least 3 items).
        monitor: Validation metric for early stopping and model selection.
        eval_k: Cut-offs reported on validation.
    """

    max_len: int = 50
    dim: int = 64
    num_blocks: int = 1
    dropout: float = 0.3
    lr: float = 3e-3
    weight_decay: float = 0.0
    batch_size: int = 256
    epochs: int = 100
    seed: int = 0
    patience: int = 3
    eval_every: int = 1
    time_budget_s: float | None = None
    validation_users: int | None = 5000
    monitor: str = "ndcg@10"
    eval_k: tuple[int, ...] = (10, 20)

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view of the config."""
        out = asdict(self)
        out["eval_k"] = list(self.eval_k)
        return out

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SequenceConfig:
        """Inverse of :meth:`to_dict` (unknown keys are rejected)."""
        values = dict(values)
        values["eval_k"] = tuple(values.get("eval_k", (10, 20)))
        return cls(**values)


@dataclass(kw_only=True)
class SequenceTrainResult(LoopOutcome):
    """Outcome of :func:`train_short_term` (the loop's record, see :class:`LoopOutcome`).

    Attributes:
        model: The model with the best validation weights loaded (in eval mode).
        config: The config used.
    """

    model: SequenceRecommender
    config: SequenceConfig


def build_sequence_model(
    config: SequenceConfig, n_items: int, device: torch.device
) -> SequenceRecommender:
    """A fresh :class:`SequenceRecommender` shaped by ``config`` on ``device``."""
    return SequenceRecommender(
        n_items,
        max_len=config.max_len,
        dim=config.dim,
        num_blocks=config.num_blocks,
        dropout=config.dropout,
        device=device,
    )


def _batch_loss(
    model: SequenceRecommender, sequences: ItemSequences, users: np.ndarray
) -> torch.Tensor:
    """Mean next-item cross-entropy (full softmax) over every position of a batch of users."""
    window = torch.from_numpy(sequences.padded_rows(users, model.max_len + 1)).to(model.device)
    inputs, targets = window[:, :-1], window[:, 1:]
    # Left padding: a non-padding input is always followed by a real target.
    real = inputs != 0
    hidden = model.encode(inputs)[real]
    logits = hidden @ model.item_vectors().T
    return F.cross_entropy(logits, targets[real] - 1)


def _length_bucketed_batches(
    lengths: np.ndarray, batch_size: int, rng: np.random.Generator
) -> list[np.ndarray]:
    """Batches of users with a next-item pair, each of similar history length, in random order.

    A batch is padded to its longest history; mixing a few long histories into every batch
    would multiply the attention / FFN work on padding several times over.
    """
    users = np.flatnonzero(lengths >= 2)
    users = users[np.lexsort((rng.random(len(users)), lengths[users]))]
    batches = [users[start : start + batch_size] for start in range(0, len(users), batch_size)]
    return [batches[k] for k in rng.permutation(len(batches))]


def _run_epoch(
    model: SequenceRecommender,
    sequences: ItemSequences,
    optimizer: torch.optim.Optimizer,
    config: SequenceConfig,
    rng: np.random.Generator,
) -> float:
    """One pass over every user with a next-item pair; returns the mean batch loss."""
    model.train()
    batches = _length_bucketed_batches(sequences.lengths(), config.batch_size, rng)
    return descend((_batch_loss(model, sequences, users) for users in batches), optimizer)


@torch.no_grad()
def score_histories(
    model: SequenceRecommender,
    sequences: ItemSequences,
    users: np.ndarray,
    batch_size: int = 1024,
) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
    """Eval-mode next-item scores of ``users`` from their histories, batch by batch.

    Yields:
        ``(batch_users, scores)`` with ``scores`` ``[len(batch_users), n_items]`` on the
        model's device; a user without history gets all-zero scores.
    """
    was_training = model.training
    model.eval()
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        rows = torch.from_numpy(sequences.padded_rows(batch, model.max_len)).to(model.device)
        scores = model(rows)
        yield batch, scores.masked_fill((rows[:, -1] == 0)[:, None], 0.0)
    model.train(was_training)


def evaluate_short_term(
    model: SequenceRecommender,
    sequences: ItemSequences,
    targets: CSRMatrix,
    exclude: CSRMatrix | None,
    ks: tuple[int, ...] = (10, 20),
) -> dict[str, float]:
    """Full-ranking metrics of the short-term scores, ``exclude`` items masked.

    Returns:
        ``{metric: mean over users with targets}`` plus ``users``.
    """
    users = np.flatnonzero(targets.row_lengths() > 0)
    sums: dict[str, float] = {}
    for batch, scores in score_histories(model, sequences, users):
        if exclude is not None:
            scores.masked_fill_(dense_rows(exclude, batch, scores.device), -torch.inf)
        relevant = dense_rows(targets, batch, scores.device)
        for name, values in ranking_metrics_from_scores(scores, relevant, ks).items():
            sums[name] = sums.get(name, 0.0) + float(values.sum())
    result = {name: total / max(len(users), 1) for name, total in sums.items()}
    result["users"] = float(len(users))
    return result


def _validation_setup(
    graph: InteractionGraph, validation: CSRMatrix | None, config: SequenceConfig
) -> tuple[ItemSequences, CSRMatrix]:
    """Training histories and validation targets: given targets, or each user's newest item."""
    sequences = user_sequences(graph)
    if validation is not None:
        return sequences, validation
    return split_last_items(sequences, config.validation_users, config.seed)


def train_short_term(
    graph: InteractionGraph,
    config: SequenceConfig,
    device: torch.device,
    validation: CSRMatrix | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> SequenceTrainResult:
    """Trains the short-term model on next-item prediction with early stopping.

    Args:
        graph: Interactions with timestamps (``ts``) that order each user's history.
        config: Hyper-parameters.
        device: Where to train (CUDA when available is the caller's usual choice).
        validation: Next-item targets ``user -> item`` following each user's history in
            ``graph``; if ``None`` the newest item of up to ``config.validation_users`` users is
            held out of training for validation.
        on_epoch: Called after every epoch with the history row (e.g. for progress logs).

    Returns:
        The best model by ``config.monitor`` (eval mode) and the training history.
    """
    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    sequences, targets = _validation_setup(graph, validation, config)
    seen = sequences.item_sets()
    model = build_sequence_model(config, graph.n_items, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    loop = LoopConfig(
        config.epochs, config.eval_every, config.patience, config.monitor, config.time_budget_s
    )
    outcome = train_with_early_stopping(
        model,
        loop,
        run_epoch=lambda: _run_epoch(model, sequences, optimizer, config, rng),
        validate=lambda: evaluate_short_term(model, sequences, targets, seen, config.eval_k),
        on_epoch=on_epoch,
    )
    outcome.total_seconds = time.perf_counter() - started
    return SequenceTrainResult(model=model, config=config, **vars(outcome))


def _numpy(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().to("cpu", torch.float32).numpy().copy()


def export_short_term(model: SequenceRecommender) -> ShortTermParams:
    """Copies the weights of a trained model into numpy arrays for :mod:`ml.shortterm`."""
    blocks = [_export_block(block) for block in model.blocks]
    return ShortTermParams(
        item_embedding=_numpy(model.item_embedding.weight),
        position_embedding=_numpy(model.position_embedding.weight),
        blocks=blocks,
        final_norm_weight=_numpy(model.final_norm.weight),
        final_norm_bias=_numpy(model.final_norm.bias),
        embedding_scale=model.embedding_scale,
        norm_eps=float(model.final_norm.eps),
    )


def _export_block(block: torch.nn.Module) -> AttentionBlockParams:
    assert isinstance(block, CausalAttentionBlock)
    layers = ("attention_norm", "query", "key", "value", "attention_out", "ffn_norm", "ffn_in")
    arrays: dict[str, np.ndarray] = {}
    for name in (*layers, "ffn_out"):
        layer = getattr(block, name)
        arrays[f"{name}_weight"], arrays[f"{name}_bias"] = _numpy(layer.weight), _numpy(layer.bias)
    return AttentionBlockParams(**arrays)
