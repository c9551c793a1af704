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

from app.serving.item_index import ItemIndex
from ml.blend import StackedScoreTables
from ml.shortterm import ShortTermParams, short_term_readout
from ml.shortterm_store import SHORT_TERM_FILE, load_short_term

log = logging.getLogger(__name__)


@dataclass
class ShortTermModel:
    """One version's sequence model and the item ids of its rows."""

    params: ShortTermParams
    item_ids: list[str]
    row_of: dict[str, int] = field(init=False)
    _stacked: dict[tuple[str, int, int], StackedScoreTables] = field(
        init=False, default_factory=dict
    )
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.row_of = {item_id: k for k, item_id in enumerate(self.item_ids)}

    def aligned_table(self, index: ItemIndex) -> np.ndarray:
        """The model's item rows in ``index``'s item order.

        An item the model never saw gets the mean row: its score is then the mean score of
        the model's items, i.e. "average", not "worst".
        """
        table = self.params.item_embedding[1:]
        rows = np.fromiter((self.row_of.get(i, -1) for i in index.ids), np.int64, len(index.ids))
        aligned = np.empty((len(rows), table.shape[1]), dtype=np.float32)
        known = rows >= 0
        aligned[known] = table[rows[known]]
        aligned[~known] = table.mean(axis=0) if len(table) else 0.0
        return aligned

    def tables_for(self, index: ItemIndex) -> StackedScoreTables:
        """``index``'s vectors beside this model's rows, built once per index generation."""
        key = (index.version, index.revision, len(index.ids))
        tables = self._stacked.get(key)
        if tables is None:
            with self._lock:  # one thread builds; the others wait for it
                tables = self._stacked.get(key)
                if tables is None:
                    tables = StackedScoreTables.build(index.long_table(), self.aligned_table(index))
                    self._stacked = {key: tables}  # one index generation at a time
        return tables

    def readout(self, history_newest_first: list[str]) -> np.ndarray | None:
        """The history's query vector, or ``None`` when the model knows none of its items."""
        recent = history_newest_first[: self.params.max_len]
        rows = [self.row_of[i] for i in reversed(recent) if i in self.row_of]
        if not rows:
            return None
        return short_term_readout(self.params, np.asarray(rows, dtype=np.int64))

    def blended_scores(
        self, index: ItemIndex, user: np.ndarray, history: list[str], weight: float
    ) -> np.ndarray | None:
        """Long-term scores of ``user`` blended with the history's short-term scores.

        ``None`` when the model knows none of the history's items (long-term only then).
        Equal to :func:`ml.shortterm.blend_scores` of the two full score vectors, computed
        in one product over :meth:`tables_for` instead.
        """
        readout = self.readout(history)
        if readout is None:
            return None
        return self.tables_for(index).blended(index.long_query(user), readout, weight)


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
