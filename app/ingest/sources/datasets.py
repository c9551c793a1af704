"""Mappers from the public research datasets in ``../shared/data`` to API-shaped dicts.

Each mapper takes the dataset's folder and returns a :class:`DatasetStream` that reads the files in
place on every pass (they are never copied). Conventions shared by all of them, see
``docs/datasets.md``:

* ids are namespaced per dataset, ``<dataset>:u<user>`` and ``<dataset>:i<item>``, so several
  datasets can live in one graph without colliding;
* event ids are derived from the record's content, so importing twice changes nothing;
* timestamps are RFC 3339 UTC strings; where a dataset has none, a documented rule makes them up.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from app.ingest.sources.files import SourceFormatError, count_lines, read_json_objects
from app.ingest.sources.stream import DatasetStream, Event, Item, empty_item, rfc3339
from app.ingest.sources.text import (
    clean_category_path,
    clean_text,
    looks_like_category,
    parse_price,
)
from app.ingest.validation import MAX_BRAND_CHARS, MAX_TITLE_CHARS, IntakeLimits
from app.settings import shared_data_dir

# Texts are cut to intake's default limit, so a server with default settings takes every record.
MAX_TEXT_LEN = IntakeLimits().max_text_chars

# Gowalla has no timestamps. The check-ins were collected up to October 2010, so train events sit
# at the end of the collection and test events one day later: a temporal cut-off between the two
# reproduces the published split exactly.
GOWALLA_TRAIN_TS = "2010-10-31T00:00:00Z"
GOWALLA_TEST_TS = "2010-11-01T00:00:00Z"

# Beauty keeps the time order but not the times. Each user's k-th of n items is placed
# (n - 1 - k) days before this instant, so every history ends at the end of the 2014 crawl, order
# is kept, and one day between steps is a plausible purchase cadence for recency decay.
BEAUTY_END = datetime(2014, 7, 1, tzinfo=UTC)
BEAUTY_STEP_SECONDS = 86_400
BEAUTY_ROOT = "Beauty"

GiftCardCatalog = Literal["reviewed", "all"]
GowallaSplit = Literal["train", "test", "all"]


# --------------------------------------------------------------------------- adjacency files


def _read_adjacency(path: Path) -> Iterator[tuple[int, list[int]]]:
    """Yield ``(user, [item, ...])`` from ``user item item ...`` lines."""
    with open(path, encoding="ascii") as lines:
        for number, line in enumerate(lines, start=1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                numbers = [int(token) for token in tokens]
            except ValueError as exc:
                raise SourceFormatError(path, number, f"expected integers: {exc}") from exc
            yield numbers[0], numbers[1:]


def _count_adjacency_pairs(path: Path) -> int:
    with open(path, "rb") as lines:
        return sum(max(len(line.split()) - 1, 0) for line in lines)


# --------------------------------------------------------------------------- Gowalla


def gowalla(path: Path | str, split: GowallaSplit = "train") -> DatasetStream:
    """Gowalla check-ins (LightGCN split): every (user, spot) pair becomes one ``purchase``."""
    folder = Path(path)
    splits = ("train", "test") if split == "all" else (split,)
    files = {name: folder / f"{name}.txt" for name in splits}
    for file in files.values():
        if not file.is_file():
            raise FileNotFoundError(file)

    def events() -> Iterator[Event]:
        for name, file in files.items():
            ts = GOWALLA_TRAIN_TS if name == "train" else GOWALLA_TEST_TS
            for user, items in _read_adjacency(file):
                for item in items:
                    yield {
                        "event_id": f"gowalla:{name}:{user}:{item}",
                        "user_id": f"gowalla:u{user}",
                        "item_id": f"gowalla:i{item}",
                        "type": "purchase",
                        "ts": ts,
                    }

    item_list = folder / "item_list.txt"
    return DatasetStream(
        name="gowalla",
        make_items=lambda: _gowalla_items(item_list),
        make_events=events,
        count_items=lambda: max(count_lines(item_list) - 1, 0) if item_list.is_file() else 0,
        count_events=lambda: sum(_count_adjacency_pairs(file) for file in files.values()),
        description=f"Gowalla check-ins, LightGCN split ({split})",
    )


def _gowalla_items(item_list: Path) -> Iterator[Item]:
    """Minimal catalog entries: Gowalla has no product data, only the original spot id."""
    if not item_list.is_file():
        return
    with open(item_list, encoding="ascii") as lines:
        for number, line in enumerate(lines, start=1):
            tokens = line.split()
            if number == 1 or not tokens:  # header "org_id remap_id"
                continue
            if len(tokens) != 2 or not tokens[1].isdigit():
                raise SourceFormatError(item_list, number, "expected 'org_id remap_id'")
            item = empty_item(f"gowalla:i{tokens[1]}")
            item["attributes"] = {"gowalla_spot_id": tokens[0]}
            yield item


# --------------------------------------------------------------------------- Amazon Beauty


def amazon_beauty(path: Path | str) -> DatasetStream:
    """Amazon 2014 Beauty 5-core (S3-Rec copy): ordered purchase sequences + attribute ids."""
    folder = Path(path)
    sequences = folder / "Beauty.txt"
    attributes = folder / "Beauty_item2attributes.json"
    if not sequences.is_file():
        raise FileNotFoundError(sequences)

    def events() -> Iterator[Event]:
        end = int(BEAUTY_END.timestamp())
        for user, items in _read_adjacency(sequences):
            last = len(items) - 1
            for position, item in enumerate(items):
                yield {
                    "event_id": f"beauty:{user}:{position}:{item}",
                    "user_id": f"beauty:u{user}",
                    "item_id": f"beauty:i{item}",
                    "type": "purchase",
                    "ts": rfc3339(end - (last - position) * BEAUTY_STEP_SECONDS),
                }

    def items() -> Iterator[Item]:
        if attributes.is_file():
            yield from beauty_items(_load_attribute_lists(attributes))

    return DatasetStream(
        name="amazon-beauty",
        make_items=items,
        make_events=events,
        count_items=lambda: len(_load_attribute_lists(attributes)) if attributes.is_file() else 0,
        count_events=lambda: _count_adjacency_pairs(sequences),
        description="Amazon 2014 Beauty 5-core (S3-Rec), synthetic day-spaced timestamps",
    )


def _load_attribute_lists(path: Path) -> dict[int, list[int]]:
    with open(path, encoding="utf-8") as handle:
        raw = json.load(handle)
    if not isinstance(raw, dict):
        raise SourceFormatError(path, 1, "expected a JSON object {item: [attribute, ...]}")
    return {int(item): [int(attr) for attr in attrs] for item, attrs in raw.items()}


def beauty_items(attribute_lists: dict[int, list[int]]) -> Iterator[Item]:
    """Turn S3-Rec attribute ids back into a brand and a category path.

    S3-Rec built each list as ``[brand] + category path(s) without the root "Beauty"``, numbering
    names by first appearance. So an id that ever appears after position 0 is a category and one
    seen only first is a brand; each category's most frequent predecessor is its parent, which
    recovers a tree with six top-level categories (the real Beauty departments, names unknown).
    The item's path is the first chain that follows that tree; all raw ids stay in attributes.
    """
    categories = {attr for attrs in attribute_lists.values() for attr in attrs[1:]}
    parents = _category_parents(attribute_lists, categories)
    for item, attrs in sorted(attribute_lists.items()):
        brand = attrs[0] if attrs and attrs[0] not in categories else None
        category_ids = attrs[1:] if brand is not None else attrs
        path: list[int] = []
        for attr in category_ids:
            if parents.get(attr) != (path[-1] if path else None):
                break
            path.append(attr)
        record = empty_item(f"beauty:i{item}")
        record["category_path"] = [BEAUTY_ROOT] + [f"cat-{attr}" for attr in path]
        record["brand"] = f"brand-{brand}" if brand is not None else None
        extra = [attr for attr in dict.fromkeys(category_ids) if attr not in path]
        record["attributes"] = {"attr_ids": ",".join(str(attr) for attr in attrs)}
        if extra:
            record["attributes"]["other_category_ids"] = ",".join(str(attr) for attr in extra)
        yield record


def _category_parents(
    attribute_lists: dict[int, list[int]], categories: set[int]
) -> dict[int, int | None]:
    predecessors: dict[int, Counter[int | None]] = {}
    for attrs in attribute_lists.values():
        previous: int | None = None
        for attr in attrs:
            if attr in categories:
                predecessors.setdefault(attr, Counter())[previous] += 1
                previous = attr
    # Ties go to the smaller id (ids grow with first appearance) so the tree is deterministic.
    return {
        attr: min(counts.items(), key=lambda pair: (-pair[1], pair[0] or 0))[0]
        for attr, counts in predecessors.items()
    }


# --------------------------------------------------------------------------- Amazon Gift Cards


def amazon_gift_cards(path: Path | str, catalog: GiftCardCatalog = "reviewed") -> DatasetStream:
    """Amazon 2018 Gift Cards 5-core: reviews (+ purchases when verified) and product metadata.

    ``catalog="reviewed"`` emits only the products that have reviews (148); ``"all"`` emits all
    1,547 metadata records, the rest becoming cold-start items.
    """
    folder = Path(path)
    reviews = folder / "Gift_Cards_5.json.gz"
    meta = folder / "meta_Gift_Cards.json.gz"
    if not reviews.is_file():
        raise FileNotFoundError(reviews)

    def events() -> Iterator[Event]:
        for number, review in _read_json_lines(reviews):
            yield from gift_card_review_events(review, reviews, number)

    def items() -> Iterator[Item]:
        if not meta.is_file():
            return
        wanted = _reviewed_asins(reviews) if catalog == "reviewed" else None
        seen: set[str] = set()
        for _, product in _read_json_lines(meta):
            asin = str(product.get("asin", ""))
            if not asin or asin in seen or (wanted is not None and asin not in wanted):
                continue
            seen.add(asin)
            yield gift_card_item(product)

    def count_events() -> int:
        return sum(1 + bool(review.get("verified")) for _, review in _read_json_lines(reviews))

    def count_items() -> int:
        if catalog == "reviewed":
            return len(_reviewed_asins(reviews))
        return count_lines(meta) if meta.is_file() else 0

    return DatasetStream(
        name="amazon-gift-cards",
        make_items=items,
        make_events=events,
        count_items=count_items,
        count_events=count_events,
        description=f"Amazon 2018 Gift Cards 5-core reviews, catalog={catalog}",
    )


def _read_json_lines(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    return read_json_objects(path)


def _reviewed_asins(reviews: Path) -> set[str]:
    return {str(review["asin"]) for _, review in _read_json_lines(reviews) if "asin" in review}


def gift_card_review_events(review: dict[str, Any], path: Path, line: int) -> Iterator[Event]:
    """One ``review`` event, plus a ``purchase`` at the same instant when Amazon verified it.

    Only the opaque ``reviewerID`` is used; ``reviewerName`` (a person's name) never leaves here.
    """
    try:
        reviewer = str(review["reviewerID"])
        asin = str(review["asin"])
        stars = float(review["overall"])
        epoch = int(review["unixReviewTime"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SourceFormatError(path, line, f"incomplete review: {exc!r}") from exc
    summary = str(review.get("summary") or "").strip()
    body = str(review.get("reviewText") or "").strip()
    text = "\n".join(part for part in (summary, body) if part)[:MAX_TEXT_LEN]
    # The same reviewer may review one ASIN twice on one day (Amazon merges denominations under
    # one ASIN), so the text's digest is part of the key; it is stable across re-imports.
    digest = hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]
    key = f"{reviewer}:{asin}:{epoch}:{digest}"
    common = {"user_id": f"giftcards:u{reviewer}", "item_id": f"giftcards:i{asin}"}
    ts = rfc3339(epoch)
    event: Event = {"event_id": f"giftcards:review:{key}", **common, "type": "review", "ts": ts}
    event["value"] = stars
    if text:
        event["text"] = text
    yield event
    if review.get("verified") is True:
        yield {"event_id": f"giftcards:purchase:{key}", **common, "type": "purchase", "ts": ts}


# Scraped metadata occasionally runs longer than the API's limits and is cut rather than rejected.
_BOILERPLATE_PREFIXES = ("Statements regarding dietary supplements",)


def gift_card_item(product: dict[str, Any]) -> Item:
    """Map one 2018 metadata record; scraped HTML and entity escapes are cleaned up."""
    item = empty_item(f"giftcards:i{product['asin']}")
    title = clean_text(_as_str(product.get("title")))
    item["title"] = title[:MAX_TITLE_CHARS] if title else None
    paragraphs = product.get("description") or []
    if isinstance(paragraphs, str):
        paragraphs = [paragraphs]
    cleaned = [clean_text(_as_str(paragraph)) for paragraph in paragraphs]
    # Amazon appends an FDA disclaimer to many listings; it says nothing about the product.
    kept = [text for text in cleaned if text and not text.startswith(_BOILERPLATE_PREFIXES)]
    item["description"] = "\n".join(kept)[:MAX_TEXT_LEN] or None
    raw_path = product.get("category")
    item["category_path"] = clean_category_path(raw_path) if isinstance(raw_path, list) else []
    brand = clean_text(_as_str(product.get("brand")))
    item["brand"] = brand[:MAX_BRAND_CHARS] if brand else None
    item["price"] = parse_price(product.get("price"))
    main_category = clean_text(_as_str(product.get("main_cat")))
    if main_category and looks_like_category(main_category):
        item["attributes"] = {"main_cat": main_category}
    return item


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- registry

# Where each dataset comes from (docs/datasets.md and ../shared/data/README.md say more).
DATASET_SOURCES: dict[str, tuple[str, str]] = {
    "gowalla": (
        "train.txt, test.txt, item_list.txt",
        "the LightGCN split, data/gowalla/ of https://github.com/gusye1234/LightGCN-PyTorch",
    ),
    "amazon-beauty": (
        "Beauty.txt, Beauty_item2attributes.json",
        "S3-Rec's copy, data/ of https://github.com/RUCAIBox/CIKM2020-S3Rec",
    ),
    "amazon-gift-cards": (
        "Gift_Cards_5.json.gz, meta_Gift_Cards.json.gz",
        "Amazon Review Data (2018), the Gift Cards 5-core and metadata files, "
        "https://nijianmo.github.io/amazon/",
    ),
}


class DatasetNotFound(FileNotFoundError):
    """A dataset's files are not where the import looks; the message says where to get them."""

    def __init__(self, name: str, folder: Path, missing: object) -> None:
        files, origin = DATASET_SOURCES[name]
        super().__init__(
            f"dataset {name!r} not found: no {missing} (the import reads {files} from "
            f"{folder}). Get it from {origin}, then put the files in {folder}, pass their "
            f"folder as PATH, or set IG_SHARED_DATA to the folder that holds {name}/ "
            "(docs/datasets.md describes each dataset)."
        )
        self.folder = folder


DATASETS: dict[str, Callable[..., DatasetStream]] = {
    "gowalla": gowalla,
    "amazon-beauty": amazon_beauty,
    "amazon-gift-cards": amazon_gift_cards,
}


def open_dataset(name: str, path: Path | str | None = None, **options: Any) -> DatasetStream:
    """Open a dataset by name; ``path`` defaults to ``shared_data_dir() / name``."""
    try:
        mapper = DATASETS[name]
    except KeyError:
        known = ", ".join(sorted(DATASETS))
        raise ValueError(f"unknown dataset {name!r}; known: {known}") from None
    folder = Path(path) if path is not None else shared_data_dir() / name
    try:
        return mapper(folder, **options)
    except FileNotFoundError as exc:
        raise DatasetNotFound(name, folder.absolute(), exc.filename or exc) from None
