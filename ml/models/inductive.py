"""Inductive GCN: embeds users and items never seen in training, without retraining."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ml.models.graph import (
    GraphOperators,
    concat_ranges,
    propagate,
    propagate_subset,
    receptive_field,
)


class InductiveGCN(nn.Module):
    """A LightGCN whose layer-0 embeddings are computed from the graph, not looked up per user.

    * item ``x0`` = its ID embedding (for items known at training time, optional) + the mean of
      its content-feature embeddings (categories, brand, ...) + a learned linear map of its
      text vector (a pretrained sentence encoder's output; optional);
    * user ``x0`` = ``P`` times the weighted mean of the ``x0`` of the items the user interacted
      with (``P`` a learned square matrix initialised to identity);
    * final embedding = mean of ``A^k x0`` for ``k = 0..num_layers`` as in LightGCN.

    Users therefore have no per-user parameters: a brand-new user with a few interactions, or a
    user whose interactions changed, is embedded by rebuilding the graph operators and calling
    :meth:`embed_nodes`. A new item is embedded from its features and text (plus its neighbours
    if it already has interactions). ``id_dropout`` hides item IDs during training so the content
    path alone also produces useful item embeddings (cold start): the text map learns to place
    an item's description where items bought by the same people sit.

    Args:
        n_items: Number of items with a trained ID embedding (ids beyond get none).
        n_features: Size of the item feature vocabulary (0 = no features).
        dim: Embedding size.
        num_layers: Propagation depth.
        use_item_id: Give known items a free ID embedding.
        cosine: L2-normalise final embeddings (dot product = cosine).
        id_dropout: Probability of hiding an item's ID embedding in a training step.
        init_std: Standard deviation of the normal initialisation.
        text_dim: Width of the item text vectors (0 = the model reads no text).
    """

    def __init__(
        self,
        n_items: int,
        n_features: int,
        dim: int = 64,
        num_layers: int = 2,
        use_item_id: bool = True,
        cosine: bool = False,
        id_dropout: float = 0.0,
        init_std: float = 0.1,
        text_dim: int = 0,
    ) -> None:
        super().__init__()
        if not use_item_id and n_features == 0 and text_dim == 0:
            raise ValueError("an item needs an ID embedding, content features or text")
        self.n_items = n_items
        self.num_layers = num_layers
        self.cosine = cosine
        self.id_dropout = id_dropout
        self.item_id = nn.Embedding(n_items, dim) if use_item_id else None
        self.feature = nn.EmbeddingBag(max(n_features, 1), dim, mode="mean")
        self.user_proj = nn.Linear(dim, dim, bias=False)
        for table in (self.item_id, self.feature):
            if table is not None:
                nn.init.normal_(table.weight, std=init_std)
        nn.init.eye_(self.user_proj.weight)
        self.has_features = n_features > 0
        self.text_dim = text_dim
        self.text_proj = nn.Linear(text_dim, dim, bias=False) if text_dim > 0 else None
        if self.text_proj is not None:
            # Zero: training starts from the text-free model and takes from the text only what
            # the interactions confirm (uninformative titles then add no noise). The gradient of
            # a linear map does not vanish at zero, so the text is learned all the same.
            nn.init.zeros_(self.text_proj.weight)

    def item_base(self, ops: GraphOperators, items: np.ndarray) -> torch.Tensor:
        """Layer-0 embeddings of ``items`` (local item ids) from ID, features and text."""
        device = self.user_proj.weight.device
        out = torch.zeros(len(items), self.user_proj.in_features, device=device)
        if len(items) == 0:
            return out
        features = ops.item_features
        if self.has_features and features is not None:
            starts, ends = features.indptr[items], features.indptr[items + 1]
            flat = torch.from_numpy(features.indices[concat_ranges(starts, ends)]).to(device)
            offsets = np.zeros(len(items), dtype=np.int64)
            np.cumsum((ends - starts)[:-1], out=offsets[1:])
            out = out + self.feature(flat, torch.from_numpy(offsets).to(device))
        if self.text_proj is not None and ops.item_text is not None:
            if ops.item_text.shape[1] != self.text_dim:
                raise ValueError(
                    f"the model reads {self.text_dim}-d item text, the graph has "
                    f"{ops.item_text.shape[1]}-d vectors"
                )
            out = out + self.text_proj(ops.item_text[torch.from_numpy(items).to(device)])
        if self.item_id is not None:
            known = torch.from_numpy(items < self.n_items).to(device)
            ids = torch.from_numpy(np.minimum(items, self.n_items - 1)).to(device)
            keep = known.float()
            if self.training and self.id_dropout > 0:
                keep = keep * (torch.rand(len(items), device=device) >= self.id_dropout).float()
            out = out + self.item_id(ids) * keep[:, None]
        return out

    def base_embeddings(self, ops: GraphOperators, nodes: np.ndarray | None = None) -> torch.Tensor:
        """Layer-0 embeddings of ``nodes`` (global ids, users first, sorted), or of all nodes."""
        if nodes is None:
            items = self.item_base(ops, np.arange(ops.n_items))
            users = self.user_proj(ops.user_mean_t @ items)
            return torch.cat([users, items])
        nodes = np.asarray(nodes, dtype=np.int64)
        user_nodes = nodes[nodes < ops.n_users]
        item_nodes = nodes[nodes >= ops.n_users] - ops.n_users
        neighbour_items = ops.user_mean.neighbours(user_nodes)
        block = ops.user_mean.block(user_nodes, neighbour_items, ops.device)
        users = self.user_proj(block @ self.item_base(ops, neighbour_items))
        return torch.cat([users, self.item_base(ops, item_nodes)])

    def finalize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Applies the output normalisation used for scoring."""
        return F.normalize(embeddings, dim=-1) if self.cosine else embeddings

    def forward(self, ops: GraphOperators) -> torch.Tensor:
        """Final embeddings of all nodes of ``ops``, shape ``[n_users + n_items, dim]``."""
        return self.finalize(propagate(ops.adjacency_t, self.base_embeddings(ops), self.num_layers))

    def embed_nodes(self, ops: GraphOperators, nodes: np.ndarray) -> torch.Tensor:
        """Final embeddings of ``nodes`` (global ids) computed from their receptive field only.

        Equal (up to float rounding) to ``forward(ops)[sorted unique nodes]``.
        """
        fields = receptive_field(ops.adjacency, nodes, self.num_layers)
        base = self.base_embeddings(ops, fields[0])
        return self.finalize(propagate_subset(ops.adjacency, base, fields, ops.device))

    def regularized_parameters(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> list[torch.Tensor]:
        """Parameters touched by a batch, for L2 regularisation (item IDs of the batch)."""
        del users  # users own no parameters
        if self.item_id is None:
            return []
        return [self.item_id(items.clamp(max=self.n_items - 1))]
