"""Data sources for imports: files, public research datasets and a built-in demo shop.

Every source yields plain dicts in the exact JSON shape the HTTP API accepts (see
``app.ingest.sources.stream``), so imported data passes through the same validation as live traffic.
"""

from app.ingest.sources.datasets import (
    DATASETS,
    amazon_beauty,
    amazon_gift_cards,
    gowalla,
    open_dataset,
)
from app.ingest.sources.demo import demo_stream
from app.ingest.sources.files import (
    SourceFormatError,
    count_lines,
    count_records,
    read_events,
    read_items,
    read_records,
)
from app.ingest.sources.stream import EVENT_TYPES, DatasetStream, Event, Item

__all__ = [
    "DATASETS",
    "EVENT_TYPES",
    "DatasetStream",
    "Event",
    "Item",
    "SourceFormatError",
    "amazon_beauty",
    "amazon_gift_cards",
    "count_lines",
    "count_records",
    "demo_stream",
    "gowalla",
    "open_dataset",
    "read_events",
    "read_items",
    "read_records",
]
