"""Cold-start items on Amazon Gift Cards: Recall@20 of never-seen items, with and without text.

Example::

    .venv/bin/python bench/coldstart.py

The catalogue is every product of ``meta_Gift_Cards.json.gz`` (1,547, mapped as the importer
maps them: category path, brand, title, description); users are the reviewers of
``Gift_Cards_5.json.gz``, one edge per review. For each of ``--splits`` seeds, a fifth of the
reviewed items lose every review (``ml.coldstart.split_cold_items``): the inductive GCN trains on
the rest, where those items do not exist, and then embeds the whole catalogue with the cold
items appended from their content alone. Each reviewer of a cold item ranks all 1,547 items
(their training items masked) and Recall@20 counts their cold items in the top 20.

Both arms use the same split, seed and settings and read categories and brands; only the text
arm also reads the item's all-MiniLM-L6-v2 vector (``ml.text``), through the same model code
the service trains. The data is read in place.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.sources.datasets import gift_card_item, gift_card_review_events
from app.ingest.sources.files import read_json_objects
from app.settings import shared_data_dir
from bench._common import write_result
from graphdb.snapshot import features_csr
from ml.data import InteractionGraph


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "amazon-gift-cards")
    parser.add_argument("--splits", type=int, default=10, help="cold-item samples (seeds)")
    parser.add_argument("--cold-fraction", type=float, default=0.2)
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument(
        "--id-dropout",
        type=float,
        default=0.0,
        help="share of item IDs hidden per step (service default 0)",
    )
    parser.add_argument("--name", default="coldstart", help="result file name")
    return parser.parse_args()


def load_catalog(meta: Path) -> tuple[list[str], list[list[str]], list[Any]]:
    """Item ids, content features (category prefixes, brand) and texts, in catalogue order."""
    from ml.text import ItemText

    ids, features, texts, seen = [], [], [], set()
    for _, product in read_json_objects(meta):
        item = gift_card_item(product)
        if item["item_id"] in seen:
            continue
        seen.add(item["item_id"])
        path = list(item["category_path"])
        names = ["category:" + " > ".join(path[: k + 1]) for k in range(len(path))]
        if item["brand"]:
            names.append("brand:" + item["brand"].casefold())
        ids.append(item["item_id"])
        features.append(names)
        texts.append(ItemText(item["title"], item["description"], tuple(path), item["brand"]))
    return ids, features, texts


def load_graph(data_dir: Path) -> tuple[InteractionGraph, list[Any]]:
    """The reviews as a user-item graph over the whole catalogue, and every item's text."""
    item_ids, features, texts = load_catalog(data_dir / "meta_Gift_Cards.json.gz")
    item_pos = {item_id: k for k, item_id in enumerate(item_ids)}
    users: dict[str, int] = {}
    pairs = []
    path = data_dir / "Gift_Cards_5.json.gz"
    for line, review in read_json_objects(path):
        for event in gift_card_review_events(review, path, line):
            if event["type"] == "review" and event["item_id"] in item_pos:
                user = users.setdefault(event["user_id"], len(users))
                pairs.append((user, item_pos[event["item_id"]]))
    vocabulary, ptr, index = features_csr(features)  # the training snapshot's own layout
    edges = np.asarray(pairs, dtype=np.int64)
    graph = InteractionGraph(
        n_users=len(users), n_items=len(item_ids), user_index=edges[:, 0],
        item_index=edges[:, 1], weight=np.ones(len(edges), np.float32),
        user_ids=list(users), item_ids=item_ids, item_feature_ptr=ptr,
        item_feature_index=index, n_features=len(vocabulary),
    )  # fmt: skip
    return graph, texts


def cold_recall(
    graph: InteractionGraph, args: argparse.Namespace, use_text: bool
) -> tuple[list[float], list[float]]:
    """Recall@20 of the cold items of every split for one arm, and the validation Recall@20
    of the warm items (held-out reviews of items with a history) it was selected on."""
    import torch

    from ml.coldstart import cold_start_metrics, split_cold_items
    from ml.train import TrainConfig, train

    device = torch.device("cpu")
    cold, warm = [], []
    for seed in range(args.splits):
        split = split_cold_items(graph, args.cold_fraction, seed=seed)
        config = TrainConfig(
            model="inductive", dim=64, num_layers=2, epochs=args.epochs, lr=0.01,
            id_dropout=args.id_dropout, use_text=use_text, validation_users=None,
            patience=5, seed=seed,
        )  # fmt: skip
        result = train(split.train, config, device)
        cold.append(cold_start_metrics(result.model, split, (20,), device)["recall@20"])
        warm.append(float(result.best_metrics["recall@20"]))
    return cold, warm


def text_only_recall(graph: InteractionGraph, args: argparse.Namespace) -> list[float]:
    """Reference without a graph model: a user is the mean text vector of their training
    items, and every item is ranked by cosine to it."""
    import torch

    from ml.coldstart import split_cold_items
    from ml.evaluate import evaluate_ranking

    out = []
    for seed in range(args.splits):
        split = split_cold_items(graph, args.cold_fraction, seed=seed)
        assert split.serve.item_text is not None
        items = torch.from_numpy(split.serve.item_text)
        seen = split.serve.user_items()
        users = torch.stack([items[seen.row(u)].mean(0) for u in range(seen.n_rows)])
        metrics = evaluate_ranking(users, items, split.targets, seen, ks=(20,))
        out.append(metrics["recall@20"])
    return out


def main() -> None:
    args = parse_args()
    from ml.text import encode_items

    graph, texts = load_graph(args.data_dir)
    tick = time.perf_counter()
    graph = replace(graph, item_text=encode_items(texts, device="cpu"))
    encode_s = time.perf_counter() - tick
    with_text, warm_text = cold_recall(graph, args, use_text=True)
    without, warm_notext = cold_recall(graph, args, use_text=False)
    text_only = text_only_recall(graph, args)
    metrics = {
        "coldstart_recall20_text": float(np.mean(with_text)),
        "coldstart_recall20_notext": float(np.mean(without)),
    }
    details = {
        "users": graph.n_users, "items": graph.n_items,
        "reviewed_items": int(len(np.unique(graph.item_index))), "reviews": graph.n_edges,
        "splits": args.splits, "cold_fraction": args.cold_fraction,
        "recall20_text_per_split": with_text, "recall20_notext_per_split": without,
        "recall20_text_only_reference": float(np.mean(text_only)),
        "recall20_text_only_per_split": text_only,
        "id_dropout": args.id_dropout,
        "warm_validation_recall20_text": float(np.mean(warm_text)),
        "warm_validation_recall20_notext": float(np.mean(warm_notext)),
        "encode_s": encode_s,
    }  # fmt: skip
    path = write_result(args.name, metrics, details)
    for name, value in metrics.items():
        print(f"{name}: {value:.4f}")
    print(f"per split, text: {np.round(with_text, 4)}; no text: {np.round(without, 4)}")
    print(f"reference, text similarity alone: {np.round(text_only, 4)}")
    print(f"written to {path}")


if __name__ == "__main__":
    main()
