"""Transductive LightGCN over the weighted user-item graph."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.models.graph import GraphOperators, propagate, propagate_subset, receptive_field


class WeightedLightGCN(nn.Module):
    """LightGCN (He et al., 2020) with edge-weighted symmetric normalisation.

    Every user and item owns a free ID embedding ``x0``; the final embedding of a node is the
    mean of ``A^k x0`` over ``k = 0..num_layers`` with ``A = D^-1/2 W D^-1/2``. Users and items
    unseen in training have no ``x0`` here; use :class:`~ml.models.inductive.InductiveGCN` for them.

    Args:
        n_users: Number of users in the training graph.
        n_items: Number of items in the training graph.
        dim: Embedding size.
        num_layers: Propagation depth.
        cosine: If true, final embeddings are L2-normalised so dot product = cosine similarity
            (the scoring used with the softmax loss).
        init_std: Standard deviation of the normal initialisation.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int = 64,
        num_layers: int = 2,
        cosine: bool = False,
        init_std: float = 0.1,
    ) -> None:
        super().__init__()
        self.n_users = n_users
        self.n_items = n_items
        self.num_layers = num_layers
        self.cosine = cosine
        self.user_embedding = nn.Embedding(n_users, dim)
        self.item_embedding = nn.Embedding(n_items, dim)
        nn.init.normal_(self.user_embedding.weight, std=init_std)
        nn.init.normal_(self.item_embedding.weight, std=init_std)

    def base_embeddings(self, ops: GraphOperators, nodes: np.ndarray | None = None) -> torch.Tensor:
        """Layer-0 embeddings of ``nodes`` (global ids of ``ops``, users first), or of all nodes.

        Raises:
            ValueError: If ``ops`` has users or items this model was not trained on.
        """
        if ops.n_users > self.n_users or ops.n_items > self.n_items:
            raise ValueError(
                "WeightedLightGCN cannot embed unseen users/items; use InductiveGCN for them"
            )
        users, items = self.user_embedding.weight, self.item_embedding.weight
        table = torch.cat([users[: ops.n_users], items[: ops.n_items]])
        if nodes is None:
            return table
        return table[torch.from_numpy(np.asarray(nodes, dtype=np.int64)).to(table.device)]

    def finalize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Applies the output normalisation used for scoring."""
        return F.normalize(embeddings, dim=-1) if self.cosine else embeddings

    def forward(self, ops: GraphOperators) -> torch.Tensor:
        """Final embeddings of all nodes, shape ``[n_users + n_items, dim]``."""
        return self.finalize(propagate(ops.adjacency_t, self.base_embeddings(ops), self.num_layers))

    def embed_nodes(self, ops: GraphOperators, nodes: np.ndarray) -> torch.Tensor:
        """Final embeddings of ``nodes`` only, touching just their receptive field.

        Equal (up to float rounding) to ``forward(ops)[nodes]``; used for incremental refresh.
        Returns rows in sorted unique node order.
        """
        fields = receptive_field(ops.adjacency, nodes, self.num_layers)
        base = self.base_embeddings(ops, fields[0])
        return self.finalize(propagate_subset(ops.adjacency, base, fields, ops.device))

    def regularized_parameters(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> list[torch.Tensor]:
        """Layer-0 parameters touched by a batch (for LightGCN-style L2 regularisation)."""
        return [self.user_embedding(users), self.item_embedding(items)]
