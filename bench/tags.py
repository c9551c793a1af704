"""Tag precision on hand-labelled Amazon Gift Cards item-tag pairs (issue 22, target >= 0.8).

Re-extracts the tags of the 148 reviewed Gift Cards items (title, description, every review, the
category path and brand as "where" names, as the worker reads them from the graph; the
catalogue's phrase counts over all 148, as the worker's are once every item is tagged) and
scores them against ``bench/data/giftcards_tag_labels.csv``: precision is the share of labelled
pairs the extractor still produces that a person judged good; pairs it now produces that nobody
labelled are counted (``unlabelled_pairs``), never guessed. Coverage beside it, since precision
at no recall is no win: ``items_with_a_tag_share`` and ``tags_per_item``. The labels were made
for one extractor version (named in the file); after a change to ``ml/tags.py`` relabel.

    python bench/tags.py                 # writes bench/results/tags.json
    python bench/tags.py --sample 100    # prints a seeded sample of pairs to label (CSV)

Skips (exit 0, says so) when ../shared/data/amazon-gift-cards is absent.
"""

from __future__ import annotations

import argparse
import csv
import random
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.sources.datasets import amazon_gift_cards
from app.settings import shared_data_dir
from bench._common import write_result
from ml.tags import EXTRACTOR_VERSION, TaggableItem, candidates, count_phrases, select_tags

LABELS = Path(__file__).resolve().parent / "data" / "giftcards_tag_labels.csv"
SEED = 23  # 22 drew the labels of extractor version /1


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=shared_data_dir() / "amazon-gift-cards")
    parser.add_argument("--labels", type=Path, default=LABELS)
    parser.add_argument("--sample", type=int, default=0, help="print N pairs to label, then exit")
    return parser.parse_args()


def taggable_items(folder: Path) -> list[TaggableItem]:
    """The reviewed items with their texts, as ``graphdb.tags`` hands them to the extractor."""
    stream = amazon_gift_cards(folder)
    reviews: dict[str, list[str]] = defaultdict(list)
    for event in stream.events():
        if event["type"] == "review" and event.get("text"):
            reviews[event["item_id"]].append(str(event["text"]))
    items = []
    for item in stream.items():
        names = (*item["category_path"], *([item["brand"]] if item.get("brand") else []))
        items.append(TaggableItem(item["item_id"], item["title"], item["description"],
                                  tuple(reviews[item["item_id"]]), tuple(names)))  # fmt: skip
    return items


def extracted_pairs(items: list[TaggableItem]) -> list[tuple[str, str]]:
    """Every (item, tag) pair, the catalogue's phrase counts made of all the items' candidates
    (as the worker's are once every item was tagged)."""
    found = [candidates(item) for item in items]
    catalogue = count_phrases(found)
    return [(c.item_id, tag.tag_id) for c in found for tag in select_tags(c, catalogue=catalogue)]


def print_sample(items: list[TaggableItem], size: int) -> None:
    """A seeded sample of (item, tag) pairs with the item's title, for a person to judge."""
    pairs = random.Random(SEED).sample(extracted_pairs(items), size)
    titles = {item.item_id: item.title or "" for item in items}
    writer = csv.writer(sys.stdout)
    writer.writerow(["item_id", "tag", "label", "reason", "title"])
    for item_id, tag in sorted(pairs):
        writer.writerow([item_id, tag, "", "", titles[item_id]])


def read_labels(path: Path) -> dict[tuple[str, str], bool]:
    rows = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    labels = {}
    for row in csv.DictReader(rows):
        if row["label"] not in ("good", "bad"):
            raise SystemExit(f"{path}: label must be good or bad, got {row['label']!r}")
        labels[(row["item_id"], row["tag"])] = row["label"] == "good"
    return labels


def main() -> None:
    args = parse_args()
    if not (args.data_dir / "Gift_Cards_5.json.gz").is_file():
        print(f"skipped: {args.data_dir} is absent (the bench needs ../shared/data)")
        return
    items = taggable_items(args.data_dir)
    if args.sample:
        print_sample(items, args.sample)
        return
    labels = read_labels(args.labels)
    produced = set(extracted_pairs(items))
    tagged_items = {item_id for item_id, _ in produced}
    judged = [good for pair, good in labels.items() if pair in produced]
    precision = sum(judged) / len(judged) if judged else 0.0
    metrics = {
        "tags_precision_giftcards": precision,
        "labelled_pairs_produced": len(judged),
        "labelled_pairs": len(labels),
        "unlabelled_pairs": len(produced - labels.keys()),
        "pairs_produced": len(produced),
        "items": len(items),
        "items_with_a_tag_share": len(tagged_items) / len(items),
        "tags_per_item": len(produced) / len(items),
    }
    path = write_result("tags", metrics, {"extractor": EXTRACTOR_VERSION, "seed": SEED})
    print(f"precision {precision:.3f} over {len(judged)} labelled pairs -> {path}")


if __name__ == "__main__":
    main()
