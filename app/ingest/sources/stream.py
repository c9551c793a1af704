"""The common shape every data source produces: plain dicts in the HTTP API's JSON shape.

Events are what ``POST /api/v1/events`` accepts and items what ``PUT /api/v1/items`` accepts, so a
file, a research dataset and a live client all go through the same server-side validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graphdb.fold import EVENT_TYPES

Event = dict[str, Any]
Item = dict[str, Any]

__all__ = ["EVENT_TYPES", "DatasetStream", "Event", "Item", "empty_item", "rfc3339"]


def rfc3339(epoch_seconds: float) -> str:
    """Format epoch seconds as an RFC 3339 UTC string (``2014-07-01T12:00:00Z``).

    Whole seconds only: sub-second precision adds nothing for interest decay and keeps
    the strings short and stable across platforms.
    """
    moment = datetime.fromtimestamp(int(epoch_seconds), tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def empty_item(item_id: str) -> Item:
    """An item dict with every field present and unknown, to be filled in by a mapper."""
    return {
        "item_id": item_id,
        "title": None,
        "description": None,
        "category_path": [],
        "brand": None,
        "price": None,
        "in_stock": None,
        "attributes": {},
    }


@dataclass(frozen=True)
class DatasetStream:
    """A re-iterable source of items and events.

    ``items()`` and ``events()`` start a fresh pass over the underlying files each time they are
    called, so a million-event import streams with constant memory and can be repeated. Import
    items first: events on items without a catalog entry create catalog-pending items.
    """

    name: str
    make_items: Callable[[], Iterator[Item]]
    make_events: Callable[[], Iterator[Event]]
    count_items: Callable[[], int]
    count_events: Callable[[], int]
    description: str = ""
    notes: dict[str, str] = field(default_factory=dict)

    def items(self) -> Iterator[Item]:
        return self.make_items()

    def events(self) -> Iterator[Event]:
        return self.make_events()

    def approx_item_count(self) -> int:
        """Number of items ``items()`` will yield (exact where cheap; for progress bars)."""
        return self.count_items()

    def approx_event_count(self) -> int:
        """Number of events ``events()`` will yield (exact where cheap; for progress bars)."""
        return self.count_events()
