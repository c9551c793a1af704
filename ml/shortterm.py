"""Serving-side short-term interest scores and their blend with long-term scores (numpy only).

The API process does not import torch: the trained :class:`ml.models.sequence.
SequenceRecommender` is exported to a :class:`ShortTermParams` of numpy arrays
(:func:`ml.sequence.export_short_term`) and one user's forward pass is re-implemented here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np

DEFAULT_SHORT_TERM_WEIGHT: Final = 0.5
"""Share of the short-term component in :func:`blend_scores` (chosen on validation data)."""
MIN_STD: Final = 1e-12
"""A score vector whose spread is below this is constant: "no opinion" (z-scores of 0)."""


@dataclass(frozen=True)
class AttentionBlockParams:
    """Weights of one causal self-attention block; ``Linear`` weights are ``[out, in]``."""

    attention_norm_weight: np.ndarray
    attention_norm_bias: np.ndarray
    query_weight: np.ndarray
    query_bias: np.ndarray
    key_weight: np.ndarray
    key_bias: np.ndarray
    value_weight: np.ndarray
    value_bias: np.ndarray
    attention_out_weight: np.ndarray
    attention_out_bias: np.ndarray
    ffn_norm_weight: np.ndarray
    ffn_norm_bias: np.ndarray
    ffn_in_weight: np.ndarray
    ffn_in_bias: np.ndarray
    ffn_out_weight: np.ndarray
    ffn_out_bias: np.ndarray


@dataclass(frozen=True)
class ShortTermParams:
    """Everything needed to score one user's history without torch.

    Attributes:
        item_embedding: ``[n_items + 1, dim]``; row 0 is padding, item ``k`` is row ``k + 1``.
        position_embedding: ``[max_len, dim]``; the newest item uses the last row.
        blocks: Attention blocks in application order.
        final_norm_weight: ``[dim]`` scale of the final LayerNorm.
        final_norm_bias: ``[dim]`` shift of the final LayerNorm.
        embedding_scale: Factor applied to item embeddings before adding positions.
        norm_eps: LayerNorm epsilon.
    """

    item_embedding: np.ndarray
    position_embedding: np.ndarray
    blocks: list[AttentionBlockParams] = field(default_factory=list)
    final_norm_weight: np.ndarray = field(default_factory=lambda: np.ones(0, np.float32))
    final_norm_bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    embedding_scale: float = 1.0
    norm_eps: float = 1e-5

    @property
    def n_items(self) -> int:
        """Number of scored items."""
        return int(self.item_embedding.shape[0]) - 1

    @property
    def max_len(self) -> int:
        """Longest history read; older items are ignored."""
        return int(self.position_embedding.shape[0])


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _softmax_rows(x: np.ndarray) -> np.ndarray:
    shifted = np.exp(x - x.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _apply_block(hidden: np.ndarray, block: AttentionBlockParams, eps: float) -> np.ndarray:
    """One block over an unpadded ``[n, dim]`` sequence (causal: position i sees j <= i)."""
    normed = _layer_norm(hidden, block.attention_norm_weight, block.attention_norm_bias, eps)
    query = normed @ block.query_weight.T + block.query_bias
    key = normed @ block.key_weight.T + block.key_bias
    value = normed @ block.value_weight.T + block.value_bias
    logits = query @ key.T / np.sqrt(query.shape[-1])
    n = len(hidden)
    logits[np.triu_indices(n, k=1)] = -np.inf
    attended = _softmax_rows(logits) @ value
    hidden = hidden + attended @ block.attention_out_weight.T + block.attention_out_bias
    normed = _layer_norm(hidden, block.ffn_norm_weight, block.ffn_norm_bias, eps)
    inner = np.maximum(normed @ block.ffn_in_weight.T + block.ffn_in_bias, 0.0)
    return hidden + inner @ block.ffn_out_weight.T + block.ffn_out_bias


def short_term_readout(
    params: ShortTermParams, item_rows_oldest_first: np.ndarray
) -> np.ndarray | None:
    """The user's query vector from their recent items: next-item scores are ``table @ it``.

    Args:
        params: Exported model weights.
        item_rows_oldest_first: The user's distinct items ordered by their latest interaction,
            oldest first, as item indices ``0..n_items-1`` of the trained model. Indices outside
            that range (items newer than the model) are skipped; only the last ``max_len``
            remaining items are read.

    Returns:
        ``float64[dim]``, or ``None`` when no item of the history is known to the model.
    """
    items = np.asarray(item_rows_oldest_first, dtype=np.int64).ravel()
    items = items[(items >= 0) & (items < params.n_items)][-params.max_len :]
    if len(items) == 0:
        return None
    # Only the history's rows go through the blocks (in float64, at most max_len of them).
    positions = params.position_embedding[params.max_len - len(items) :]
    hidden = params.item_embedding[items + 1].astype(np.float64) * params.embedding_scale
    hidden = hidden + positions
    for block in params.blocks:
        hidden = _apply_block(hidden, block, params.norm_eps)
    readout: np.ndarray = _layer_norm(
        hidden[-1], params.final_norm_weight, params.final_norm_bias, params.norm_eps
    )
    return readout


def short_term_scores(params: ShortTermParams, item_rows_oldest_first: np.ndarray) -> np.ndarray:
    """Next-item scores of one user from their recent items (the model's eval-mode forward).

    Args:
        params: Exported model weights.
        item_rows_oldest_first: As for :func:`short_term_readout`.

    Returns:
        ``float32[n_items]`` scores (next-item logits); all zeros for an empty history, which
        :func:`blend_scores` turns into "no short-term opinion".
    """
    readout = short_term_readout(params, item_rows_oldest_first)
    if readout is None:
        return np.zeros(params.n_items, dtype=np.float32)
    # The readout over every item stays in the table's float32 and converts nothing per call.
    table = params.item_embedding[1:]
    return np.asarray(table @ readout.astype(table.dtype), dtype=np.float32)


def standardize_scores(scores: np.ndarray) -> np.ndarray:
    """Scores shifted and scaled to mean 0 and standard deviation 1 along the last axis.

    Non-finite entries (e.g. ``-inf`` on masked items) are ignored by the statistics and kept
    as they are; constant rows become all zeros.
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim == 1 and np.isfinite(scores).all():  # the serving case: one user, no mask
        std = float(scores.std())
        return (scores - scores.mean()) / std if std > MIN_STD else np.zeros_like(scores)
    finite = np.isfinite(scores)
    count = np.maximum(finite.sum(axis=-1, keepdims=True), 1)
    clean = np.where(finite, scores, 0.0)
    mean = clean.sum(axis=-1, keepdims=True) / count
    var = (np.where(finite, clean - mean, 0.0) ** 2).sum(axis=-1, keepdims=True) / count
    std = np.sqrt(var)
    safe_std = np.where(std > MIN_STD, std, 1.0)
    return np.where(finite, (clean - mean) / safe_std * (std > MIN_STD), scores)


def blend_scores(
    long_scores: np.ndarray,
    short_scores: np.ndarray,
    weight: float = DEFAULT_SHORT_TERM_WEIGHT,
) -> np.ndarray:
    """Combines long-term (graph cosine) and short-term (next-item logit) scores of items.

    The two parts live on unrelated scales: cosines are bounded in [-1, 1] and bunched
    together, while logits are unbounded and their spread grows with training. Each part is
    therefore standardised per user (:func:`standardize_scores`: z-score over the items) before
    the convex combination ``(1 - weight) * z(long) + weight * z(short)``. A z-score is
    invariant to any positive affine change of a part's scale, so ``weight`` means the same for
    every model version and needs no temperature; a user without short-term history gets
    all-zero short scores, which standardise to zeros and leave the long-term ranking intact.
    ``weight = 0`` gives ``z(long)`` and ``weight = 1`` gives ``z(short)``: the same order as
    the respective part.

    Args:
        long_scores: ``[..., n_items]`` long-term scores.
        short_scores: ``[..., n_items]`` short-term scores (same shape).
        weight: Share of the short-term part, in ``[0, 1]``.

    Returns:
        ``float32[..., n_items]`` blended scores (higher = better).
    """
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    if np.shape(long_scores) != np.shape(short_scores):
        raise ValueError("long_scores and short_scores must have the same shape")
    long_z = standardize_scores(long_scores)
    if weight == 0.0:
        return long_z.astype(np.float32)
    short_z = standardize_scores(short_scores)
    if weight == 1.0:
        return short_z.astype(np.float32)
    return ((1.0 - weight) * long_z + weight * short_z).astype(np.float32)
