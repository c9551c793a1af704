"""Saving and loading :class:`ml.shortterm.ShortTermParams` as one ``.npz`` file (numpy only).

The model registry keeps the file beside a version's graph weights; the API process loads it
without torch. Arrays are stored by name (``block<k>.<field>`` for attention blocks), scalars
as 0-d arrays, and the file is written to a temporary name first, then renamed.
"""

from __future__ import annotations

import os
from dataclasses import fields
from pathlib import Path

import numpy as np

from ml.shortterm import AttentionBlockParams, ShortTermParams

# The file beside a model version that training writes and the API reads.
SHORT_TERM_FILE = "shortterm.npz"

_TOP = ("item_embedding", "position_embedding", "final_norm_weight", "final_norm_bias")
_SCALARS = ("embedding_scale", "norm_eps")


def save_short_term(params: ShortTermParams, path: Path) -> None:
    """Writes ``params`` to ``path`` atomically."""
    arrays: dict[str, np.ndarray] = {name: getattr(params, name) for name in _TOP}
    arrays.update({name: np.asarray(getattr(params, name)) for name in _SCALARS})
    arrays["num_blocks"] = np.asarray(len(params.blocks))
    for k, block in enumerate(params.blocks):
        for spec in fields(AttentionBlockParams):
            arrays[f"block{k}.{spec.name}"] = getattr(block, spec.name)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
    np.savez(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_short_term(path: Path) -> ShortTermParams:
    """Reads what :func:`save_short_term` wrote."""
    with np.load(path) as data:
        names = [spec.name for spec in fields(AttentionBlockParams)]
        blocks = [
            AttentionBlockParams(**{name: data[f"block{k}.{name}"] for name in names})
            for k in range(int(data["num_blocks"]))
        ]
        return ShortTermParams(
            **{name: data[name] for name in _TOP},
            blocks=blocks,
            embedding_scale=float(data["embedding_scale"]),
            norm_eps=float(data["norm_eps"]),
        )
