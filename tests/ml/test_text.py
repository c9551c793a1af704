"""The real sentence encoder on a handful of items (CPU, weights from the installed package)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from ml.text import TEXT_DIM, ItemText, TextEncoder, encode_items, item_text

ITEMS = [
    ItemText("Starbucks gift card", "Redeem for coffee, tea and pastries.", ("Gift Cards",)),
    ItemText("Dunkin' eGift card", "Good for coffee and donuts at any Dunkin' shop.", ("Gift Cards",)),
    ItemText("Trail running shoes", "Grippy outsole for muddy mountain trails.", ("Shoes", "Running"),
             "Salomon"),
    ItemText("Lightweight running sneakers", "Breathable mesh trainers for road and trail runs.",
             ("Shoes", "Running")),
    ItemText("Cast iron skillet", "Pre-seasoned 12-inch frying pan.", ("Kitchen", "Cookware")),
]  # fmt: skip


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    return encode_items(ITEMS, device="cpu", batch_size=2)


def test_vectors_are_unit_length_float32_rows(vectors: np.ndarray) -> None:
    assert vectors.shape == (len(ITEMS), TEXT_DIM) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_similar_items_land_closer_than_unrelated_ones(vectors: np.ndarray) -> None:
    sim = vectors @ vectors.T
    coffee_a, coffee_b, shoes_a, shoes_b, pan = range(5)
    assert sim[coffee_a, coffee_b] > max(sim[coffee_a, shoes_a], sim[coffee_a, pan])
    assert sim[shoes_a, shoes_b] > max(sim[shoes_a, coffee_b], sim[shoes_a, pan])
    nearest = np.argsort(-sim, axis=1)[:, 1]  # the closest other item
    assert list(nearest[:4]) == [coffee_b, coffee_a, shoes_b, shoes_a]


def test_encoding_is_batch_independent_and_empty_text_is_zero(vectors: np.ndarray) -> None:
    encoder = TextEncoder("cpu")
    one = encoder.encode([item_text(ITEMS[2])])
    np.testing.assert_allclose(one[0], vectors[2], atol=1e-5)
    empty = encode_items([ItemText(), ITEMS[0]], device="cpu")
    assert not empty[0].any() and empty[1] @ vectors[0] == pytest.approx(1.0, abs=1e-5)


def test_item_text_joins_the_catalog_fields() -> None:
    text = item_text(ItemText("Shoe", "x" * 5000, ("Shoes", "Running"), "Acme"))
    assert text.startswith("Shoe\nShoes > Running\nBrand: Acme\n")
    assert len(text) < 700  # the description is cut


def test_the_numpy_query_encoder_matches_the_batch_encoder(vectors: np.ndarray) -> None:
    """The API's torch-free encoder puts texts where the batch job's sentence-transformers do."""
    from ml.query_encoder import QueryEncoder, model_folder

    encoder = QueryEncoder(model_folder())
    mine = encoder.encode([item_text(item) for item in ITEMS])
    assert mine.shape == vectors.shape and mine.dtype == np.float32
    np.testing.assert_allclose((mine * vectors).sum(axis=1), 1.0, atol=1e-4)
    query = encoder.encode(["a voucher for a coffee shop"])[0]
    assert int(np.argmax(vectors @ query)) in (0, 1)  # one of the two coffee gift cards


def test_the_query_encoder_runs_blas_on_the_threads_it_is_given() -> None:
    """One BLAS thread by default (callers run it in parallel already); ``None`` leaves the
    library's own count, as ``bench/validation_threads.py`` compares."""
    from threadpoolctl import threadpool_info

    from ml.query_encoder import QueryEncoder, model_folder

    encoder = QueryEncoder(model_folder())
    seen: list[int] = []
    encode_batch = encoder._encode_batch

    def recording(batch: list[Any]) -> np.ndarray:
        seen.append(max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas"))
        return encode_batch(batch)

    encoder._encode_batch = recording  # type: ignore[method-assign,assignment]
    encoder.encode(["a voucher for a coffee shop"])
    encoder.blas_threads = None
    encoder.encode(["a voucher for a coffee shop"])
    default = max(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
    assert seen == [1, default]
