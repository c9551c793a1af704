"""A compact SASRec-style model of a user's short-term interest (their last N interactions)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class CausalAttentionBlock(nn.Module):
    """One pre-LayerNorm transformer block: single-head causal self-attention, then a ReLU FFN.

    Single head and plain ``Linear`` / ``LayerNorm`` layers keep the block small enough to be
    re-implemented exactly in numpy for serving (see :mod:`ml.shortterm`).

    Args:
        dim: Hidden size.
        dropout: Dropout on attention weights and on both residual branches (training only).
        device: Where the parameters live.
    """

    def __init__(self, dim: int, dropout: float, device: torch.device) -> None:
        super().__init__()
        self.attention_norm = nn.LayerNorm(dim, device=device)
        self.query = nn.Linear(dim, dim, device=device)
        self.key = nn.Linear(dim, dim, device=device)
        self.value = nn.Linear(dim, dim, device=device)
        self.attention_out = nn.Linear(dim, dim, device=device)
        self.ffn_norm = nn.LayerNorm(dim, device=device)
        self.ffn_in = nn.Linear(dim, dim, device=device)
        self.ffn_out = nn.Linear(dim, dim, device=device)
        self.dropout = nn.Dropout(dropout)

    def forward(self, hidden: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
        """Applies the block.

        Args:
            hidden: ``[B, L, dim]`` hidden states.
            allowed: ``[B, L, L]`` boolean, ``allowed[b, i, j]`` = position ``i`` may attend to
                ``j``; every row must allow at least one key (its own position).

        Returns:
            ``[B, L, dim]`` new hidden states.
        """
        normed = self.attention_norm(hidden)
        query, key, value = self.query(normed), self.key(normed), self.value(normed)
        logits = query @ key.transpose(1, 2) / math.sqrt(query.shape[-1])
        weights = torch.softmax(logits.masked_fill(~allowed, -torch.inf), dim=-1)
        attended = self.attention_out(self.dropout(weights) @ value)
        hidden = hidden + self.dropout(attended)
        feed = self.ffn_out(self.dropout(F.relu(self.ffn_in(self.ffn_norm(hidden)))))
        return hidden + self.dropout(feed)


class SequenceRecommender(nn.Module):
    """SASRec-style next-item model with tied input / output item embeddings.

    Sequences are ``[B, L]`` tensors of *item rows*: row 0 is padding and item ``k`` is row
    ``k + 1``. They are left-padded so the most recent item sits in the last column, and the
    positional embedding of a column counts from the right end of a ``max_len`` window: the
    newest item always gets position ``max_len - 1`` whatever the batch's padded width.
    The readout is the final hidden state of the last column, and an item's score is its dot
    product with that readout (the same table embeds inputs and outputs).

    Args:
        n_items: Number of items (the embedding table has ``n_items + 1`` rows).
        max_len: Longest history the model reads (older items are dropped by the caller).
        dim: Hidden size.
        num_blocks: Number of causal self-attention blocks.
        dropout: Dropout on embeddings, attention and residual branches.
        device: Where the parameters live.
    """

    def __init__(
        self,
        n_items: int,
        max_len: int = 50,
        dim: int = 64,
        num_blocks: int = 1,
        dropout: float = 0.3,
        device: torch.device | str = "cpu",
    ) -> None:
        super().__init__()
        device = torch.device(device)
        self.n_items = n_items
        self.max_len = max_len
        # SASRec scales item embeddings by sqrt(dim) so they dominate the positional ones.
        self.embedding_scale = math.sqrt(dim)
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0, device=device)
        self.position_embedding = nn.Embedding(max_len, dim, device=device)
        self.blocks = nn.ModuleList(
            CausalAttentionBlock(dim, dropout, device) for _ in range(num_blocks)
        )
        self.final_norm = nn.LayerNorm(dim, device=device)
        self.dropout = nn.Dropout(dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        # Small item vectors: with sqrt(dim) scaling and tied outputs, large ones give huge
        # initial logits and a slow start.
        nn.init.normal_(self.item_embedding.weight, std=1.0 / self.embedding_scale)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()

    @property
    def device(self) -> torch.device:
        """Device of the parameters."""
        return self.item_embedding.weight.device

    def encode(self, sequences: torch.Tensor) -> torch.Tensor:
        """Final hidden state at every position.

        Args:
            sequences: ``[B, L]`` left-padded item rows, ``L <= max_len``.

        Returns:
            ``[B, L, dim]`` hidden states (after the final LayerNorm); position ``i`` has seen
            the items at positions ``<= i`` only.
        """
        width = sequences.shape[1]
        if width > self.max_len:
            raise ValueError(f"sequences are {width} wide, the model reads at most {self.max_len}")
        positions = torch.arange(self.max_len - width, self.max_len, device=sequences.device)
        hidden = self.item_embedding(sequences) * self.embedding_scale
        hidden = self.dropout(hidden + self.position_embedding(positions))
        # Causal, padding keys hidden; a position may always see itself, so a padding query
        # (whose output is never used) still has a key and the softmax stays finite.
        causal = torch.ones(width, width, dtype=torch.bool, device=sequences.device).tril()
        allowed = causal & (sequences != 0)[:, None, :]
        allowed = allowed | torch.eye(width, dtype=torch.bool, device=sequences.device)
        for block in self.blocks:
            hidden = block(hidden, allowed)
        return self.final_norm(hidden)

    def item_vectors(self) -> torch.Tensor:
        """Output embeddings of the items (padding row excluded), ``[n_items, dim]``."""
        return self.item_embedding.weight[1:]

    def forward(self, sequences: torch.Tensor) -> torch.Tensor:
        """Scores of every item as the next interaction of each sequence.

        Args:
            sequences: ``[B, L]`` left-padded item rows (the newest item in the last column).

        Returns:
            ``[B, n_items]`` scores (logits of the next-item softmax).
        """
        return self.encode(sequences)[:, -1] @ self.item_vectors().T
