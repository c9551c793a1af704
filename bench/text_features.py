"""Text features on Amazon Gift Cards: review sentiment against the stars, item encoding speed.

Example::

    .venv/bin/python bench/text_features.py

Sentiment: every review of ``Gift_Cards_5.json.gz`` (its summary and text, joined exactly as
``interest-graph import`` does) is scored by ``ml.sentiment`` (a zero-shot reading with the packaged
all-MiniLM-L6-v2 encoder; nothing in it is fitted on these reviews or their stars). The stars are
read only here, to judge the scores. A review counts as read right when
the score moves interest the way the stars do: positive (4-5 stars) needs a score above 0,
negative (1-2 stars) below 0; a score of exactly 0 is wrong for both, since the fold then
neither raises nor lowers the weight. ``sentiment_balanced_accuracy`` is the mean of the two
recalls (the classes are very unequal), ``sentiment_spearman`` the rank correlation of the
score with the stars over all reviews, 3-star ones included. The speed (after the model load)
is of this process on this machine; the 1-minute load average at the start is recorded with it,
since other work on the same cores slows it.

Encoding: the catalog entries of ``meta_Gift_Cards.json.gz`` (mapped as the importer maps them)
are encoded by ``ml.text`` in batches; items/s excludes the model load and one warm-up batch.
The GPU figure is measured only where CUDA is present. The data is read in place.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import mannwhitneyu, spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.sources.datasets import gift_card_item, gift_card_review_events
from app.ingest.sources.files import read_json_objects
from app.settings import shared_data_dir
from bench._common import write_result
from ml import sentiment


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "amazon-gift-cards")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--skip-encoder", action="store_true", help="sentiment figures only")
    parser.add_argument("--name", default="text_features", help="result file name")
    return parser.parse_args()


def load_reviews(path: Path) -> tuple[list[str], np.ndarray]:
    """Text and stars of every review, the text built by the importer's own mapping."""
    texts, stars = [], []
    for line, review in read_json_objects(path):
        for event in gift_card_review_events(review, path, line):
            if event["type"] == "review":
                texts.append(str(event.get("text", "")))
                stars.append(float(event["value"]))
    return texts, np.asarray(stars)


def sentiment_metrics(texts: list[str], stars: np.ndarray) -> tuple[dict[str, float], dict]:
    sentiment.score_text("warm-up")  # the model load is not part of the per-review time
    load_average = os.getloadavg()[0]
    start = time.perf_counter()
    scores = sentiment.score_texts(texts)
    seconds = time.perf_counter() - start
    positive, negative = stars >= 4, stars <= 2
    recall_pos = float(np.mean(scores[positive] > 0))
    recall_neg = float(np.mean(scores[negative] < 0))
    auc = mannwhitneyu(scores[positive], scores[negative]).statistic / (
        positive.sum() * negative.sum()
    )
    metrics = {
        "sentiment_balanced_accuracy": (recall_pos + recall_neg) / 2,
        "sentiment_spearman": float(spearmanr(scores, stars).statistic),
    }
    details = {
        "sentiment_model": sentiment.MODEL_NAME,
        "reviews": len(texts),
        "reviews_by_stars": {str(s): int(np.sum(stars == s)) for s in range(1, 6)},
        "recall_positive": recall_pos,
        "recall_negative": recall_neg,
        "zero_scores": int(np.sum(scores == 0)),
        "balanced_accuracy_zero_as_positive": (
            float(np.mean(scores[positive] >= 0)) + float(np.mean(scores[negative] < 0))
        )
        / 2,
        "roc_auc_positive_vs_negative": float(auc),
        "mean_score_by_stars": {
            str(s): float(scores[stars == s].mean()) for s in range(1, 6) if np.any(stars == s)
        },
        "reviews_per_s": len(texts) / seconds,
        "sentiment_ms_per_review": 1000 * seconds / len(texts),
        "load_average_at_sentiment_start": load_average,
        # numpy's BLAS threads: on busy shared cores one thread runs the small products faster
        "openblas_num_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
    }
    return metrics, details


def load_items(path: Path) -> list[Any]:
    from ml.text import ItemText

    items, seen = [], set()
    for _, product in read_json_objects(path):
        asin = str(product.get("asin", ""))
        if not asin or asin in seen:
            continue
        seen.add(asin)
        item = gift_card_item(product)
        items.append(
            ItemText(
                item["title"], item["description"], tuple(item["category_path"]), item["brand"]
            )
        )
    return items


def encode_rate(items: list[Any], device: str, batch_size: int) -> float:
    """Items per second, after the load and a warm-up batch."""
    from ml.text import TextEncoder, item_text

    encoder = TextEncoder(device)
    texts = [item_text(item) for item in items]
    encoder.encode(texts[:batch_size], batch_size)
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    start = time.perf_counter()
    encoder.encode(texts, batch_size)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return len(texts) / (time.perf_counter() - start)


def encoder_metrics(meta: Path, batch_size: int) -> tuple[dict[str, float], dict]:
    import torch

    from ml.text import MODEL_NAME, TEXT_DIM

    items = load_items(meta)
    metrics = {"encode_items_per_s_cpu": encode_rate(items, "cpu", batch_size)}
    if torch.cuda.is_available():
        metrics["encode_items_per_s_gpu"] = encode_rate(items, "cuda", batch_size)
    details = {
        "encoder_model": MODEL_NAME,
        "encoder_dim": TEXT_DIM,
        "items_encoded": len(items),
        "encoder_batch_size": batch_size,
        "cpu_threads": torch.get_num_threads(),
    }
    return metrics, details


def main() -> None:
    args = parse_args()
    texts, stars = load_reviews(args.data_dir / "Gift_Cards_5.json.gz")
    metrics, details = sentiment_metrics(texts, stars)
    if not args.skip_encoder:
        more, more_details = encoder_metrics(
            args.data_dir / "meta_Gift_Cards.json.gz", args.batch_size
        )
        metrics.update(more)
        details.update(more_details)
    path = write_result(args.name, metrics, details)
    for name, value in metrics.items():
        print(f"{name}: {value:.4f}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
