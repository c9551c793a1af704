"""The short-term (sequence) component at serving time, without torch.

Training saves each version's exported sequence model as ``shortterm.npz`` beside its graph
weights in the model registry, with the item order it was trained on. The API reads both once
per version (the registry folder must be readable by the API: the same machine, or the
worker's volume mounted read-only), scores a user's last items with :mod:`ml.shortterm`, and
lines the scores up with the in-memory item index. Items newer than the model have no
short-term score and count as average. Without the file (an older version, or a registry the
API cannot see) recommendations are long-term only.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.item_index import ItemIndex
from ml.shortterm import ShortTermParams, blend_scores, short_term_scores
from ml.shortterm_store import load_short_term

log = logging.getLogger(__name__)
SHORT_TERM_FILE = "shortterm.npz"


@dataclass
class ShortTermModel:
    """One version's sequence model and the item ids of its rows."""

    params: ShortTermParams
    item_ids: list[str]
    row_of: dict[str, int] = field(init=False)
    _aligned: dict[tuple[str, int, int], np.ndarray] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.row_of = {item_id: k for k, item_id in enumerate(self.item_ids)}

    def rows_for(self, index: ItemIndex) -> np.ndarray:
        """For each item of ``index``, its model row (-1 for items the model never saw)."""
        key = (index.version, index.revision, len(index.ids))
        aligned = self._aligned.get(key)
        if aligned is None:
            aligned = np.fromiter((self.row_of.get(i, -1) for i in index.ids), np.int64)
            self._aligned = {key: aligned}  # one index generation at a time
        return aligned

    def scores(self, index: ItemIndex, history_newest_first: list[str]) -> np.ndarray | None:
        """Short-term scores over ``index``'s items, or ``None`` without a usable history."""
        recent = history_newest_first[: self.params.max_len]
        rows = [self.row_of[i] for i in reversed(recent) if i in self.row_of]
        if not rows:
            return None
        by_row = short_term_scores(self.params, np.asarray(rows, dtype=np.int64))
        aligned = self.rows_for(index)
        known = aligned >= 0
        out = np.full(len(aligned), float(by_row.mean()), dtype=np.float32)
        out[known] = by_row[aligned[known]]
        return out


def blend(long_scores: np.ndarray, short: np.ndarray | None, weight: float) -> np.ndarray:
    """Long-term scores alone, or blended with the short-term ones (see ``blend_scores``)."""
    if short is None or weight <= 0:
        return long_scores
    return blend_scores(long_scores, short, weight)


class ShortTermModels:
    """Per-process cache of the short-term model of the active version.

    Args:
        model_dir: The model registry folder (``IG_MODEL_DIR``).
    """

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = Path(model_dir)
        self._version: str | None = None
        self._model: ShortTermModel | None = None
        self._lock = threading.Lock()

    def get(self, version: str) -> ShortTermModel | None:
        if self._version == version:
            return self._model
        with self._lock:
            if self._version != version:
                self._model = self._load(version)
                self._version = version
            return self._model

    def _load(self, version: str) -> ShortTermModel | None:
        folder = self.model_dir / "versions" / version
        try:
            params = load_short_term(folder / SHORT_TERM_FILE)
            meta = json.loads((folder / "meta.json").read_text())
            item_ids = list(meta["extra"]["item_ids"])
        except (OSError, KeyError, ValueError) as exc:
            log.warning("no short-term model for %s (%s): long-term only", version, exc)
            return None
        if len(item_ids) != params.n_items:
            log.warning("short-term model of %s does not match its item list", version)
            return None
        return ShortTermModel(params, item_ids)
