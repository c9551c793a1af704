"""Validation of incoming events and catalog items, shared by HTTP intake and file import.

Every problem is reported with the index of the offending record and the field, so a client
can fix a 1,000-event batch without guessing. Nothing is written unless the whole batch passes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Required

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    TypeAdapter,
    ValidationError,
    with_config,
)
from typing_extensions import TypedDict

from app.ingest.ids import (
    ID_RULE,
    MAX_ID_CHARS,
    RESERVED_ITEM_IDS,
    RESERVED_ITEM_RULE,
    Identifier,
)
from app.ingest.timestamps import TimeWindow, event_ms
from app.settings import Settings, setting_default
from graphdb.catalog import ItemRow
from graphdb.fold import EVENT_TYPES, RATED_TYPES, EventRow, EventType

# Longest accepted catalog strings (ids: ``app.ingest.ids``). The data sources cut their text
# to these, so every record they produce passes; the free-text limit is a setting
# (``IntakeLimits.max_text_chars``).
MAX_TITLE_CHARS = 1000
MAX_BRAND_CHARS = 200
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")


@dataclass(frozen=True)
class FieldProblem:
    index: int | None
    field: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "message": self.message}


class InvalidInput(ValueError):
    """One or more records failed validation; ``problems`` names each index and field."""

    def __init__(
        self, problems: Sequence[FieldProblem], what: str = "event", total: int | None = None
    ) -> None:
        self.problems = list(problems)
        # How many problems there were in all: ``problems`` may hold only the first of them.
        self.total = max(total or 0, len(self.problems))
        first = self.problems[0]
        where = f"{what} {first.index}" if first.index is not None else what
        more = f" (and {len(self.problems) - 1} more problems)" if len(self.problems) > 1 else ""
        super().__init__(f"{where}: field '{first.field}': {first.message}{more}")


@dataclass(frozen=True)
class IntakeLimits:
    """What intake accepts. The defaults are the settings' defaults (``IG_MAX_BATCH_EVENTS``, ...).

    Attributes:
        max_batch: Most records in one batch (events or items).
        max_text_chars: Longest review text and item description.
        max_future_skew_s: How far past the server's clock an event's time may be.
        min_event_year: Events before January 1st of this year are refused.
    """

    max_batch: int = setting_default("max_batch_events")
    max_text_chars: int = setting_default("max_text_chars")
    max_future_skew_s: float = setting_default("max_future_skew_s")
    min_event_year: int = setting_default("min_event_year")


def limits_from_settings(s: Settings) -> IntakeLimits:
    """The intake limits the settings ask for."""
    return IntakeLimits(
        max_batch=s.max_batch_events,
        max_text_chars=s.max_text_chars,
        max_future_skew_s=s.max_future_skew_s,
        min_event_year=s.min_event_year,
    )


# Numbers are JSON numbers (an integer or a fraction): strict, so neither "5" nor true passes
# for one (booleans are StrictBool, strings are strings), as the OpenAPI schema says.
StarValue = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Price = Annotated[float, Field(strict=True, ge=0, allow_inf_nan=False)]
EVENT_CONFIG = ConfigDict(extra="forbid", str_strip_whitespace=True)


class EventIn(BaseModel):
    """One behaviour event as a client sends it (the documented request body).

    ``ts`` is an RFC 3339 timestamp with a zone, or epoch seconds; absent means now.
    Intake validates with ``_EventFields``, the same fields as a typed dict: building a model
    object per event cost three times as much, and a first load validates millions.
    ``tests/unit/test_event_validation.py`` keeps the two schemas equal.
    """

    model_config = EVENT_CONFIG

    event_id: Identifier | None = None
    user_id: Identifier
    item_id: Identifier
    type: EventType
    ts: str | float | None = None
    value: StarValue | None = None
    text: str | None = None
    session_id: Identifier | None = None


@with_config(EVENT_CONFIG)
class _EventFields(TypedDict, total=False):
    event_id: Identifier | None
    user_id: Required[Identifier]
    item_id: Required[Identifier]
    type: Required[EventType]
    ts: Any  # checked by _ts_seconds, which names the accepted forms in its errors
    value: StarValue | None
    text: str | None
    session_id: Identifier | None


EVENT_FIELDS = TypeAdapter(_EventFields)
EVENT_BATCH = TypeAdapter(list[_EventFields])


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    item_id: Identifier
    title: Annotated[str, Field(max_length=MAX_TITLE_CHARS)] | None = None
    description: str | None = None  # at most IntakeLimits.max_text_chars, see parse_items
    category_path: (
        Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=10)]
        | None
    ) = None
    brand: Annotated[str, Field(min_length=1, max_length=MAX_BRAND_CHARS)] | None = None
    price: Price | None = None
    in_stock: StrictBool | None = None
    attributes: (
        Annotated[
            dict[Annotated[str, Field(min_length=1, max_length=100)], str | int | float | bool],
            Field(max_length=100),
        ]
        | None
    ) = None


def derive_event_id(fields: Mapping[str, Any], ts_ms: int) -> str:
    """A deterministic id for an event sent without one, so a resend is recognised."""
    parts = [
        fields["user_id"],
        fields["item_id"],
        fields["type"],
        str(ts_ms),
        repr(fields.get("value")),
        fields.get("text") or "",
        fields.get("session_id") or "",
    ]
    return "d-" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _check_value(
    kind: str, value: float | None, text: str | None, limits: IntakeLimits
) -> Sequence[tuple[str, str]]:
    if value is None and text is None and kind != "rating":
        return ()  # the common event: every rule below needs a value, a text, or a rating
    problems = []
    if kind in RATED_TYPES and value is not None and not 1 <= value <= 5:
        problems.append(("value", f"{kind} value must be between 1 and 5 stars"))
    if kind == "rating" and value is None:
        problems.append(("value", "a rating needs a value between 1 and 5"))
    if kind not in RATED_TYPES and value is not None:
        problems.append(
            ("value", f"value is only accepted for rating and review events, not {kind}")
        )
    if text is not None and kind != "review":
        problems.append(("text", "text is only accepted for review events"))
    if text is not None and len(text) > limits.max_text_chars:
        problems.append(("text", f"text is longer than {limits.max_text_chars} characters"))
    return problems


# Clearer words than pydantic's for some errors (a pattern only ids have).
_MESSAGES = {"extra_forbidden": "unknown field", "string_pattern_mismatch": ID_RULE}


def _pydantic_problems(exc: ValidationError, index: int | None) -> list[FieldProblem]:
    problems: list[FieldProblem] = []
    for err in exc.errors(include_url=False):
        # The top-level name is what a client sent; deeper parts are pydantic's type tags.
        field = str(err["loc"][0]) if err["loc"] else "(record)"
        message = _MESSAGES.get(err["type"], err["msg"])
        if not any(p.field == field for p in problems):
            problems.append(FieldProblem(index, field, message.removeprefix("Value error, ")))
    return problems


def _as_records(payload: Any, key: str) -> list[Any]:
    if isinstance(payload, Mapping) and key in payload:
        others = sorted(str(name) for name in payload if name != key)
        if others:  # {"events": [...], "evnets": ...} would otherwise drop what was meant
            problem = FieldProblem(None, others[0], f"unknown field beside '{key}'")
            raise InvalidInput([problem], what=key.removesuffix("s"))
        payload = payload[key]
    elif isinstance(payload, Mapping):
        payload = [payload]
    if not isinstance(payload, list):
        raise InvalidInput(
            [FieldProblem(None, key, f"expected an object, a list, or {{'{key}': [...]}}")]
        )
    return payload


def _checked_fields(records: list[Any]) -> tuple[list[dict[str, Any] | None], list[FieldProblem]]:
    """Each record's fields (None where they are invalid) and the problems found.

    The whole batch is checked in one call; only a batch with problems is checked again
    record by record, to report every bad record and still check the others' values.
    """
    try:
        return list(EVENT_BATCH.validate_python(records)), []  # type: ignore[arg-type]
    except ValidationError:
        pass
    checked: list[dict[str, Any] | None] = []
    problems: list[FieldProblem] = []
    for index, record in enumerate(records):
        try:
            checked.append(EVENT_FIELDS.validate_python(record))  # type: ignore[arg-type]
        except ValidationError as exc:
            problems += _pydantic_problems(exc, index)
            checked.append(None)
    return checked, problems


def _event_problems(fields: Mapping[str, Any], limits: IntakeLimits) -> list[tuple[str, str]]:
    problems = list(_check_value(fields["type"], fields.get("value"), fields.get("text"), limits))
    if fields["item_id"] in RESERVED_ITEM_IDS:
        problems.append(("item_id", RESERVED_ITEM_RULE))
    user = fields["user_id"]
    if "@" in user and EMAIL.match(user):
        problems.append(("user_id", "looks like an e-mail address; send an opaque user id instead"))
    return problems


def parse_events(
    payload: Any, limits: IntakeLimits, now: datetime | None = None, *, sentiment: bool = True
) -> list[EventRow]:
    """Validate a single event, a list, or ``{"events": [...]}``; all or nothing.

    ``sentiment=False`` skips scoring review texts: for a check whose rows are not stored.
    """
    records = _as_records(payload, "events")
    if not records:
        raise InvalidInput([FieldProblem(None, "events", "the batch is empty")])
    if len(records) > limits.max_batch:
        raise InvalidInput(
            [
                FieldProblem(
                    None,
                    "events",
                    f"batch of {len(records)} exceeds the limit of {limits.max_batch} events",
                )
            ]
        )
    window = TimeWindow.of_batch(
        now or datetime.now(UTC), limits.max_future_skew_s, limits.min_event_year
    )
    checked, problems = _checked_fields(records)
    rows = []
    for index, fields in enumerate(checked):
        if fields is None:
            continue
        row_problems = _event_problems(fields, limits)
        try:
            ts_ms = event_ms(fields.get("ts"), window)
        except ValueError as exc:
            row_problems.append(("ts", str(exc)))
        if row_problems:
            problems += [FieldProblem(index, f, m) for f, m in row_problems]
            continue
        rows.append(EventRow(
            fields.get("event_id") or derive_event_id(fields, ts_ms), fields["user_id"],
            fields["item_id"], fields["type"], ts_ms, fields.get("value"), fields.get("text"),
            fields.get("session_id"),
        ))  # fmt: skip
    if problems:
        problems.sort(key=lambda p: p.index or 0)  # by record; stable: fields keep their order
        raise InvalidInput(problems[:50], total=len(problems))
    return _with_sentiment(rows) if sentiment else rows


def _with_sentiment(rows: list[EventRow]) -> list[EventRow]:
    """Score the text of every review once, at intake (the fold reads ``sentiment``)."""
    if not any(row.type == "review" and row.text for row in rows):
        return rows
    # Imported here, not at module level: the HTTP layer starts without ml/ (torch-free anyway).
    from ml.sentiment import score_texts

    reviews = [k for k, row in enumerate(rows) if row.type == "review" and row.text]
    scores = score_texts([rows[k].text or "" for k in reviews])  # one batched encoder pass
    scored = list(rows)
    for k, score in zip(reviews, scores, strict=True):
        scored[k] = rows[k]._replace(sentiment=float(score))
    return scored


def parse_items(payload: Any, limits: IntakeLimits) -> list[ItemRow]:
    """Validate a single item, a list, or ``{"items": [...]}``; all or nothing.

    Args:
        payload: The request body (or a chunk of an import).
        limits: ``max_batch`` bounds the records, ``max_text_chars`` each description.

    Raises:
        InvalidInput: Naming each bad record's index and field (the first 50).
    """
    records = _as_records(payload, "items")
    if not records:
        raise InvalidInput([FieldProblem(None, "items", "the batch is empty")], what="item")
    if len(records) > limits.max_batch:
        too_many = f"batch of {len(records)} exceeds the limit of {limits.max_batch} items"
        raise InvalidInput([FieldProblem(None, "items", too_many)], what="item")
    rows, problems = [], []
    for index, record in enumerate(records):
        try:
            item = ItemIn.model_validate(record)
        except ValidationError as exc:
            problems += _pydantic_problems(exc, index)
            continue
        if item.item_id in RESERVED_ITEM_IDS:
            problems.append(FieldProblem(index, "item_id", RESERVED_ITEM_RULE))
            continue
        if item.description is not None and len(item.description) > limits.max_text_chars:
            too_long = f"description is longer than {limits.max_text_chars} characters"
            problems.append(FieldProblem(index, "description", too_long))
            continue
        rows.append(_item_row(item))
    if problems:
        raise InvalidInput(problems[:50], what="item", total=len(problems))
    return rows


def _item_row(item: ItemIn) -> ItemRow:
    """The row to store; ``provided`` keeps which fields the client sent (absent ones are kept)."""
    return ItemRow(
        item_id=item.item_id,
        title=item.title,
        description=item.description,
        category_path=tuple(item.category_path) if item.category_path is not None else None,
        brand=item.brand,
        price=item.price,
        in_stock=item.in_stock,
        attributes=item.attributes,
        provided=frozenset(item.model_fields_set),
    )


__all__ = [
    "EVENT_TYPES",
    "MAX_BRAND_CHARS",
    "MAX_ID_CHARS",
    "MAX_TITLE_CHARS",
    "EventType",
    "FieldProblem",
    "IntakeLimits",
    "InvalidInput",
    "limits_from_settings",
    "parse_events",
    "parse_items",
]
