"""Full-ranking evaluation (every item ranked, seen items masked) and training-curve plots."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ml.data import CSRMatrix

_MASKED = -float("inf")


def dense_rows(csr: CSRMatrix, users: np.ndarray, device: torch.device) -> torch.Tensor:
    """``[len(users), n_cols]`` boolean matrix of the given CSR rows."""
    out = torch.zeros(len(users), csr.n_cols, dtype=torch.bool, device=device)
    lengths = csr.indptr[users + 1] - csr.indptr[users]
    starts = np.repeat(csr.indptr[users] - np.cumsum(lengths) + lengths, lengths)
    cols = csr.indices[starts + np.arange(int(lengths.sum()))]
    rows = np.repeat(np.arange(len(users)), lengths)
    out[torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device)] = True
    return out


def ranking_metrics_from_scores(
    scores: torch.Tensor, targets: torch.Tensor, ks: Sequence[int]
) -> dict[str, torch.Tensor]:
    """Per-user metrics of one batch from masked scores.

    Args:
        scores: ``[B, n_items]`` scores, already ``-inf`` on masked (seen) items.
        targets: ``[B, n_items]`` boolean relevance; every row has at least one target.
        ks: Cut-offs.

    Returns:
        ``{metric: [B] tensor}`` with ``recall@k``, ``precision@k``, ``ndcg@k``, ``hit_rate@k``
        for every ``k`` and the full-ranking ``mrr``.
    """
    n_targets = targets.sum(1).float()
    depth = min(max(ks), scores.shape[1])  # a catalogue smaller than K ranks everything
    top = torch.topk(scores, depth, dim=1).indices
    hits = targets.gather(1, top).float()
    discount = 1.0 / torch.log2(torch.arange(2, depth + 2, device=scores.device).float())
    out: dict[str, torch.Tensor] = {}
    for k in ks:
        hits_k = hits[:, :k].sum(1)
        ideal = torch.cumsum(discount, 0)[n_targets.clamp(max=min(k, depth)).long() - 1]
        out[f"recall@{k}"] = hits_k / n_targets
        out[f"precision@{k}"] = hits_k / k
        out[f"hit_rate@{k}"] = (hits_k > 0).float()
        out[f"ndcg@{k}"] = (hits[:, :k] * discount[:k]).sum(1) / ideal
    # Rank of the best-placed target among unmasked items (ties resolved pessimistically).
    best = scores.masked_fill(~targets, _MASKED).max(1).values
    rank = (scores > best[:, None]).sum(1) + (scores == best[:, None]).sum(1)
    out["mrr"] = 1.0 / rank.float()
    return out


@torch.no_grad()
def evaluate_ranking(
    user_embeddings: torch.Tensor,
    item_embeddings: torch.Tensor,
    targets: CSRMatrix,
    exclude: CSRMatrix | None = None,
    ks: Sequence[int] = (20,),
    users: np.ndarray | None = None,
    batch_size: int = 1024,
    prior: torch.Tensor | None = None,
) -> dict[str, float]:
    """Full-ranking metrics averaged over users with at least one target.

    Every item is scored by the dot product (plus ``prior``, when given); a user's ``exclude``
    items (the training items) are masked. Recall@K = hits / |targets|, NDCG@K uses IDCG over
    ``min(|targets|, K)`` positions, MRR is the reciprocal full rank of the best-ranked target.
    ``coverage@k`` is the share of the catalogue appearing in at least one top-K list.

    Args:
        user_embeddings: ``[n_users, d]``.
        item_embeddings: ``[n_items, d]`` (same device).
        targets: Relevant items per user.
        exclude: Items never to rank per user (``None`` = mask nothing).
        ks: Cut-offs.
        users: Users to evaluate (default: all with targets).
        batch_size: Users scored per matmul.
        prior: ``[n_items]`` added to every user's scores (see :mod:`ml.popularity`).

    Returns:
        ``{metric: mean value}`` plus ``users`` (how many were evaluated).
    """
    device = item_embeddings.device
    if users is None:
        users = np.flatnonzero(targets.row_lengths() > 0)
    users = users[targets.row_lengths()[users] > 0]
    sums: dict[str, float] = {}
    shown = {k: torch.zeros(item_embeddings.shape[0], dtype=torch.bool, device=device) for k in ks}
    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        scores = user_embeddings[torch.from_numpy(batch).to(device)] @ item_embeddings.T
        if prior is not None:
            scores += prior
        if exclude is not None:
            scores.masked_fill_(dense_rows(exclude, batch, device), _MASKED)
        metrics = ranking_metrics_from_scores(scores, dense_rows(targets, batch, device), ks)
        for name, values in metrics.items():
            sums[name] = sums.get(name, 0.0) + float(values.sum())
        top = torch.topk(scores, min(max(ks), scores.shape[1]), dim=1).indices
        for k in ks:
            shown[k][top[:, :k].flatten()] = True
    result = {name: total / max(len(users), 1) for name, total in sums.items()}
    result.update({f"coverage@{k}": float(shown[k].float().mean()) for k in ks})
    result["users"] = float(len(users))
    return result


def plot_training_curve(
    history: Sequence[dict[str, float]], path: Path, metric: str = "recall@20"
) -> None:
    """Saves loss and ``metric`` per epoch (from ``TrainResult.history``) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # headless: no display on servers / CI
    import matplotlib.pyplot as plt

    epochs = [row["epoch"] for row in history]
    fig, loss_axis = plt.subplots(figsize=(7, 4))
    loss_axis.plot(epochs, [row["loss"] for row in history], color="tab:blue", label="loss")
    loss_axis.set_xlabel("epoch")
    loss_axis.set_ylabel("training loss", color="tab:blue")
    scored = [row for row in history if metric in row]
    if scored:
        metric_axis = loss_axis.twinx()
        metric_axis.plot(
            [row["epoch"] for row in scored], [row[metric] for row in scored], "o-", color="tab:red"
        )
        metric_axis.set_ylabel(f"validation {metric}", color="tab:red")
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
