"""The interest-graph GNN: a heterogeneous PyG model over users, items and their attributes.

Node types are ``user``, ``item`` and the attribute types of :data:`ml.interests.ATTRIBUTE_KINDS`
(``category``, ``brand``, ``tag``); edge types are the graph's own relations, read backwards
as messages:

* ``(kind, describes, item)``: an item's ``IN_CATEGORY`` (with the category tree), ``BY_BRAND``
  and ``HAS_TAG`` edges, each of an item's ``F_i`` attributes weighing ``1/F_i``;
* ``(item, rev_interacted, user)``: the weighted, decayed ``INTERACTED`` edges, row-normalised;
* ``(kind, rev_interested_in, user)``: the user's ``INTERESTED_IN`` edges, row-normalised;
* ``(user, interacted, item)`` and back, symmetrically normalised, for the propagation.

Layer 0 (one :class:`~torch_geometric.nn.conv.HeteroConv` per node type, messages summed)::

    x_a   = E_attr[a]                                        (one learned row per attribute)
    x_i^0 = E_id[i] + sum_a x_a / F_i + T t_i                (ID, attributes, text)
    x_u^0 = P sum_i w_ui x_i^0 + Q sum_a v_ua x_a            (interactions, interests)

with ``w_u.`` and ``v_u.`` each summing to one. Then ``K`` :class:`~torch_geometric.nn.conv.LGConv`
layers over the user-item graph ``A = D^-1/2 W D^-1/2`` and the LightGCN mean
``x = (1/(K+1)) sum_k A^k x^0``. A user owns no parameters: the vector is a function of the
user's current edges, so an event or a moved interest changes it at once, without a retrain
(``P`` and ``Q`` start at the identity).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch_geometric.data import HeteroData
from torch_geometric.nn import HeteroConv, LGConv, SimpleConv

from ml.interests import ATTRIBUTE_KINDS
from ml.models.graph import (
    GraphOperators,
    HostCSR,
    kind_blocks,
    receptive_field,
    sparse_product,
    symmetric_spmm,
)

DESCRIBES, INTERESTED, INTERACTED = "describes", "rev_interested_in", "rev_interacted"


class _SymmetricLGConv(LGConv):
    """:class:`LGConv` over a pre-normalised adjacency: on the whole (symmetric) graph the
    backward pass reuses the matrix instead of transposing it on every step; on a rectangular
    block of a subset computation (``x`` given as a pair) it is a plain product."""

    def __init__(self) -> None:
        super().__init__(normalize=False)

    def message_and_aggregate(self, adj_t: Any, x: Any) -> torch.Tensor:
        if isinstance(x, tuple):
            return adj_t @ x[0]
        return symmetric_spmm(adj_t, x)


class _WeightedSum(SimpleConv):
    """Weighted sum along a relation whose weights sit in the sparse adjacency; the product
    runs through :func:`sparse_product` (cached transpose in the backward pass)."""

    def __init__(self) -> None:
        super().__init__(aggr="sum")

    def message_and_aggregate(self, adj_t: Any, x: Any) -> torch.Tensor:
        return sparse_product(adj_t, x[0] if isinstance(x, tuple) else x)


def _sum_conv(edge_types: list[tuple[str, str, str]]) -> HeteroConv:
    """Weighted sums along each relation (weights in the sparse adjacency), summed over types."""
    with warnings.catch_warnings():
        # PyG warns that attribute nodes receive no messages: by design, they are layer-0
        # inputs (a learned row each), only users and items are computed.
        warnings.filterwarnings("ignore", message="There exist node types")
        return HeteroConv({edge: _WeightedSum() for edge in edge_types}, aggr="sum")


class InterestGraphGNN(nn.Module):
    """A heterogeneous, inductive LightGCN over the interest graph (see the module docstring).

    Args:
        n_items: Items with a trained ID embedding (ids beyond get none).
        n_features: Number of attribute nodes (categories, brands and tags together).
        dim: Embedding size.
        num_layers: Propagation depth ``K``.
        use_item_id: Give known items a free ID embedding.
        cosine: L2-normalise the final embeddings (dot product = cosine).
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
        self.n_items, self.dim, self.num_layers = n_items, dim, num_layers
        self.cosine, self.id_dropout, self.text_dim = cosine, id_dropout, text_dim
        self.item_id = nn.Embedding(n_items, dim) if use_item_id else None
        self.attribute = nn.Embedding(max(n_features, 1), dim)
        for table in (self.item_id, self.attribute):
            if table is not None:
                nn.init.normal_(table.weight, std=init_std)
        self.text_proj = nn.Linear(text_dim, dim, bias=False) if text_dim > 0 else None
        self.user_proj = nn.Linear(dim, dim, bias=False)
        self.interest_proj = nn.Linear(dim, dim, bias=False)
        # Identity: a user starts as the mean of their items plus the mean of their interests,
        # both in the space the attributes share with the items.
        nn.init.eye_(self.user_proj.weight)
        nn.init.eye_(self.interest_proj.weight)
        if self.text_proj is not None:
            # Zero: training starts from the text-free model and takes from the text only what
            # the interactions confirm (a linear map's gradient does not vanish at zero).
            nn.init.zeros_(self.text_proj.weight)
        self.describe = _sum_conv([(kind, DESCRIBES, "item") for kind in ATTRIBUTE_KINDS])
        self.gather = _sum_conv(
            [("item", INTERACTED, "user")] + [(k, INTERESTED, "user") for k in ATTRIBUTE_KINDS]
        )
        self.layers = nn.ModuleList(_SymmetricLGConv() for _ in range(num_layers))

    @property
    def device(self) -> torch.device:
        """Where the parameters live."""
        return self.user_proj.weight.device

    def _attributes(
        self, blocks: dict[int, tuple[torch.Tensor, np.ndarray]], relation: str, dst: str
    ) -> tuple[dict[str, torch.Tensor], dict[tuple[str, str, str], torch.Tensor]]:
        """Attribute features and adjacencies for :class:`HeteroConv`, one entry per kind."""
        x_dict, edges = {}, {}
        for code, (block, ids) in blocks.items():
            kind = ATTRIBUTE_KINDS[code]
            x_dict[kind] = self.attribute(torch.from_numpy(ids).to(self.device))
            edges[(kind, relation, dst)] = block
        return x_dict, edges

    def item_base(self, ops: GraphOperators, items: np.ndarray | None = None) -> torch.Tensor:
        """Layer-0 item embeddings ``x_i^0`` of ``items`` (local ids; ``None`` = all)."""
        count = ops.n_items if items is None else len(items)
        out = torch.zeros(count, self.dim, device=self.device)
        if count == 0:
            return out
        if ops.item_attributes is not None:
            blocks = (
                ops.item_attributes_t if items is None
                else kind_blocks(ops.item_attributes, items, ops.feature_kind, ops.device)
            )  # fmt: skip
            messages = self.describe(*self._attributes(blocks, DESCRIBES, "item"))
            if "item" in messages:
                out = out + messages["item"]
        local = np.arange(ops.n_items) if items is None else items
        return out + self._text(ops, local) + self._item_ids(local)

    def _text(self, ops: GraphOperators, items: np.ndarray) -> torch.Tensor | float:
        if self.text_proj is None or ops.item_text is None:
            return 0.0
        if ops.item_text.shape[1] != self.text_dim:
            raise ValueError(
                f"the model reads {self.text_dim}-d item text, the graph has "
                f"{ops.item_text.shape[1]}-d vectors"
            )
        return self.text_proj(ops.item_text[torch.from_numpy(items).to(self.device)])

    def _item_ids(self, items: np.ndarray) -> torch.Tensor | float:
        if self.item_id is None:
            return 0.0
        known = torch.from_numpy(items < self.n_items).to(self.device).float()
        ids = torch.from_numpy(np.minimum(items, self.n_items - 1)).to(self.device)
        if self.training and self.id_dropout > 0:
            known = known * (torch.rand(len(items), device=self.device) >= self.id_dropout)
        return self.item_id(ids) * known[:, None]

    def user_base(self, ops: GraphOperators, users: np.ndarray | None = None) -> torch.Tensor:
        """Layer-0 user embeddings ``x_u^0`` of ``users`` (``None`` = all), from the user's
        interactions and interests."""
        if users is None:
            x_dict, edges = self._attributes(ops.interests_t, INTERESTED, "user")
            x_dict["item"] = self.item_base(ops)
            edges[("item", INTERACTED, "user")] = ops.user_mean_t
        else:
            blocks = (
                {} if ops.interests is None
                else kind_blocks(ops.interests, users, ops.feature_kind, ops.device)
            )  # fmt: skip
            x_dict, edges = self._attributes(blocks, INTERESTED, "user")
            neighbours = ops.user_mean.neighbours(users)
            x_dict["item"] = self.item_base(ops, neighbours)
            edges[("item", INTERACTED, "user")] = ops.user_mean.block(users, neighbours, ops.device)
        x_dict = {
            node: self.user_proj(x) if node == "item" else self.interest_proj(x)
            for node, x in x_dict.items()
        }
        return self.gather(x_dict, edges)["user"]

    def base_embeddings(self, ops: GraphOperators, nodes: np.ndarray | None = None) -> torch.Tensor:
        """Layer-0 embeddings of ``nodes`` (global ids, users first, sorted), or of all nodes."""
        if nodes is None:
            return torch.cat([self.user_base(ops), self.item_base(ops)])
        nodes = np.asarray(nodes, dtype=np.int64)
        users, items = nodes[nodes < ops.n_users], nodes[nodes >= ops.n_users] - ops.n_users
        return torch.cat([self.user_base(ops, users), self.item_base(ops, items)])

    def finalize(self, embeddings: torch.Tensor) -> torch.Tensor:
        """Applies the output normalisation used for scoring."""
        return F.normalize(embeddings, dim=-1) if self.cosine else embeddings

    def forward(self, ops: GraphOperators) -> torch.Tensor:
        """Final embeddings of all nodes of ``ops``, shape ``[n_users + n_items, dim]``."""
        hidden = total = self.base_embeddings(ops)
        for layer in self.layers:
            hidden = layer(hidden, ops.adjacency_t)
            total = total + hidden
        return self.finalize(total / (self.num_layers + 1))

    def embed_nodes(self, ops: GraphOperators, nodes: np.ndarray) -> torch.Tensor:
        """Final embeddings of ``nodes`` (global ids) computed from their receptive field only:
        layer ``k`` runs on the rows that layer ``k + 1`` needs. Equal (up to float rounding)
        to ``forward(ops)[sorted unique nodes]``."""
        fields = receptive_field(ops.adjacency, nodes, self.num_layers)
        targets = fields[-1]
        hidden = self.base_embeddings(ops, fields[0])
        total = hidden[np.searchsorted(fields[0], targets)]
        for k, layer in enumerate(self.layers, start=1):
            block = ops.adjacency.block(fields[k], fields[k - 1], ops.device)
            hidden = layer((hidden, None), block)
            total = total + hidden[np.searchsorted(fields[k], targets)]
        return self.finalize(total / (self.num_layers + 1))

    def regularized_parameters(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> list[torch.Tensor]:
        """Parameters touched by a batch, for L2 regularisation (item IDs of the batch)."""
        del users  # users own no parameters
        if self.item_id is None:
            return []
        return [self.item_id(items.clamp(max=self.n_items - 1))]


def _edge_index(matrix: HostCSR) -> tuple[torch.Tensor, torch.Tensor]:
    rows = np.repeat(np.arange(matrix.n_rows, dtype=np.int64), np.diff(matrix.indptr))
    return torch.from_numpy(np.stack([rows, matrix.indices])), torch.from_numpy(matrix.values)


def to_hetero_data(ops: GraphOperators) -> HeteroData:
    """The graph as PyG's :class:`HeteroData` (edge indices and weights per relation, forward
    direction), for inspection and for PyG tooling; the model reads the cached blocks."""
    data = HeteroData()
    data["user"].num_nodes, data["item"].num_nodes = ops.n_users, ops.n_items
    rows, cols = ops.user_mean.indptr, ops.user_mean.indices
    users = np.repeat(np.arange(ops.n_users, dtype=np.int64), np.diff(rows))
    data["user", "interacted", "item"].edge_index = torch.from_numpy(np.stack([users, cols]))
    data["user", "interacted", "item"].edge_weight = torch.from_numpy(ops.user_mean.values)
    kinds = ops.feature_kind
    for code, kind in enumerate(ATTRIBUTE_KINDS):
        ids = np.flatnonzero(kinds == code)
        data[kind].num_nodes, data[kind].feature_id = len(ids), torch.from_numpy(ids)
    for matrix, src, rel in (
        (ops.item_attributes, "item", "has"),
        (ops.interests, "user", "interested_in"),
    ):
        if matrix is None:
            continue
        index, weight = _edge_index(matrix)
        for code, kind in enumerate(ATTRIBUTE_KINDS):
            mine = torch.from_numpy(kinds[index[1].numpy()] == code)
            local = torch.from_numpy(
                np.searchsorted(np.flatnonzero(kinds == code), index[1][mine].numpy())
            )
            data[src, rel, kind].edge_index = torch.stack([index[0][mine], local])
            data[src, rel, kind].edge_weight = weight[mine]
    return data
