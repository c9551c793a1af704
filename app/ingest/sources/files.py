"""Streaming readers for ``interest-graph import events|items FILE``.

Two formats, each optionally gzip-compressed (detected by the magic bytes, so a compressed file
without a ``.gz`` suffix still works):

* CSV with a header row; cells are converted to the JSON types the API expects and an empty cell
  means "absent" (CSV cannot tell an empty string from a missing value).
* JSON Lines, one object per line; values are passed through unchanged because JSON already
  carries types. Blank lines are skipped.

Readers yield plain dicts and never validate business rules (event types, id lengths, ...): the
server does that, so a file and an HTTP client are judged by the same code. They do reject lines
they cannot parse, with the file name and line number.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Literal

from app.ingest.sources.stream import Event, Item

Kind = Literal["events", "items"]
Format = Literal["csv", "jsonl"]

GZIP_MAGIC = b"\x1f\x8b"
CATEGORY_SEPARATOR = " > "

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id",
    "user_id",
    "item_id",
    "type",
    "ts",
    "value",
    "text",
    "session_id",
)
ITEM_COLUMNS: tuple[str, ...] = (
    "item_id",
    "title",
    "description",
    "category_path",
    "brand",
    "price",
    "in_stock",
    "attributes",
)
REQUIRED_COLUMNS: dict[Kind, tuple[str, ...]] = {
    "events": ("user_id", "item_id", "type", "ts"),
    "items": ("item_id",),
}
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class SourceFormatError(ValueError):
    """A line of an import file could not be parsed; carries the file and 1-based line."""

    def __init__(self, path: Path | str, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = str(path)
        self.line = line
        self.message = message


def is_gzip(path: Path | str) -> bool:
    with open(path, "rb") as raw:
        return raw.read(2) == GZIP_MAGIC


def open_binary(path: Path | str) -> io.BufferedIOBase:
    """Open a file for reading bytes, decompressing transparently when it is gzip."""
    if is_gzip(path):
        return gzip.open(path, "rb")
    return open(path, "rb")


def detect_format(path: Path | str) -> Format:
    """Pick CSV or JSON Lines from the suffix (ignoring ``.gz``), else from the first byte."""
    suffixes = [s.lower() for s in Path(path).suffixes if s.lower() != ".gz"]
    if suffixes and suffixes[-1] == ".csv":
        return "csv"
    if suffixes and suffixes[-1] in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    with open_binary(path) as stream:
        for line in stream:
            stripped = line.lstrip(b"\xef\xbb\xbf").strip()
            if stripped:
                return "jsonl" if stripped.startswith(b"{") else "csv"
    return "jsonl"


def count_lines(path: Path | str, chunk_size: int = 1 << 20) -> int:
    """Count physical lines fast (newline bytes in 1 MiB chunks), for a progress-bar total."""
    total = 0
    last = b"\n"
    with open_binary(path) as stream:
        while chunk := stream.read(chunk_size):
            total += chunk.count(b"\n")
            last = chunk[-1:]
    # A final line without a trailing newline is still a line.
    return total + (0 if last == b"\n" else 1)


def count_records(path: Path | str) -> int:
    """Approximate number of records (lines minus the CSV header); exact for one-line records."""
    lines = count_lines(path)
    return max(lines - 1, 0) if detect_format(path) == "csv" else lines


def read_events(path: Path | str) -> Iterator[Event]:
    """Yield event dicts from a CSV or JSON Lines file (optionally gzip)."""
    return read_records(path, "events")


def read_items(path: Path | str) -> Iterator[Item]:
    """Yield item dicts from a CSV or JSON Lines file (optionally gzip)."""
    return read_records(path, "items")


def read_records(path: Path | str, kind: Kind) -> Iterator[dict[str, Any]]:
    return (record for _, record in read_numbered_records(path, kind))


def read_numbered_records(path: Path | str, kind: Kind) -> Iterator[tuple[int, dict[str, Any]]]:
    """(first physical line, record) pairs, so import errors can name the file's line."""
    if detect_format(path) == "csv":
        return _read_csv(Path(path), kind)
    return read_json_objects(Path(path))


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    """Yield (line number, text) pairs; decoding per line lets bad bytes report their line."""
    with open_binary(path) as stream:
        for number, raw in enumerate(stream, start=1):
            if number == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise SourceFormatError(path, number, f"not valid UTF-8 ({exc.reason})") from exc


def read_json_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line of a JSON Lines file, gzip or not."""
    for number, line in _decoded_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SourceFormatError(path, number, f"invalid JSON: {exc.msg}") from exc
        except RecursionError:  # the parser recurses per level: '[' x 2000 exhausts the stack
            raise SourceFormatError(path, number, "invalid JSON: nested too deeply") from None
        if not isinstance(record, dict):
            found = type(record).__name__
            raise SourceFormatError(path, number, f"expected a JSON object, got {found}")
        yield number, record


def _read_csv(path: Path, kind: Kind) -> Iterator[tuple[int, dict[str, Any]]]:
    line_numbers = _LineTracker(_decoded_lines(path))
    reader = csv.reader(line_numbers, strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise SourceFormatError(path, line_numbers.current, f"bad CSV header: {exc}") from exc
    if header is None:
        return
    columns = _check_header(path, [name.strip() for name in header], kind)
    converters = _EVENT_CONVERTERS if kind == "events" else _ITEM_CONVERTERS
    while True:
        start = line_numbers.current + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise SourceFormatError(path, line_numbers.current, f"bad CSV: {exc}") from exc
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            message = f"expected {len(columns)} cells, found {len(row)}"
            raise SourceFormatError(path, start, message)
        yield start, _convert_row(path, start, columns, row, converters)


class _LineTracker:
    """Feeds text lines to ``csv.reader`` while remembering the last physical line number.

    ``csv.reader.line_num`` counts lines handed to it, which is the same thing, but it is not
    available when the reader raises; keeping our own counter gives errors a line number too.
    """

    def __init__(self, lines: Iterable[tuple[int, str]]) -> None:
        self._lines = iter(lines)
        self.current = 0

    def __iter__(self) -> _LineTracker:
        return self

    def __next__(self) -> str:
        self.current, text = next(self._lines)
        return text


def _check_header(path: Path, header: list[str], kind: Kind) -> list[str]:
    known = EVENT_COLUMNS if kind == "events" else ITEM_COLUMNS
    unknown = [name for name in header if name not in known]
    if unknown:
        expected = ",".join(known)
        raise SourceFormatError(path, 1, f"unknown column(s) {unknown}; expected {expected}")
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise SourceFormatError(path, 1, f"duplicated column(s) {duplicated}")
    missing = [name for name in REQUIRED_COLUMNS[kind] if name not in header]
    if missing:
        raise SourceFormatError(path, 1, f"missing required column(s) {missing}")
    return header


def _convert_row(
    path: Path,
    line: int,
    columns: list[str],
    row: list[str],
    converters: dict[str, Callable[[str], Any]],
) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, cell in zip(columns, row, strict=True):
        # Free text keeps its spaces; everything else is trimmed before conversion.
        value = cell if name in ("text", "description", "title") else cell.strip()
        if value.strip() == "":
            continue
        try:
            record[name] = converters.get(name, str)(value)
        except ValueError as exc:
            raise SourceFormatError(path, line, f"column {name}: {exc}") from exc
    return record


def parse_number(text: str) -> int | float:
    """Parse ``"3"`` as 3 and ``"3.5"`` as 3.5; rejects NaN and infinities (not valid JSON)."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"not a number: {text!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"not a finite number: {text!r}")
    return number


def parse_bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"not a boolean (true/false/1/0): {text!r}")


def parse_timestamp(text: str) -> str | int | float:
    """Keep RFC 3339 strings as they are; a bare number is epoch seconds."""
    try:
        return parse_number(text)
    except ValueError:
        return text


def parse_category_path(text: str) -> list[str]:
    return [
        segment.strip() for segment in text.split(CATEGORY_SEPARATOR.strip()) if segment.strip()
    ]


def parse_attributes(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"attributes must be a JSON object: {exc.msg}") from exc
    except RecursionError:  # deeper than the parser's stack: no object a catalog needs
        raise ValueError("attributes must be a JSON object: nested too deeply") from None
    if not isinstance(value, dict):
        raise ValueError(f"attributes must be a JSON object, got {type(value).__name__}")
    return value


_EVENT_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "ts": parse_timestamp,
    "value": parse_number,
}
_ITEM_CONVERTERS: dict[str, Callable[[str], Any]] = {
    "category_path": parse_category_path,
    "price": parse_number,
    "in_stock": parse_bool,
    "attributes": parse_attributes,
}
