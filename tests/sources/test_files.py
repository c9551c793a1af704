"""CSV / JSON Lines / gzip readers: type conversion, format detection and error locations."""

from __future__ import annotations

import csv
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from app.ingest.sources.demo import demo_stream
from app.ingest.sources.files import (
    EVENT_COLUMNS,
    ITEM_COLUMNS,
    SourceFormatError,
    count_lines,
    count_records,
    detect_format,
    read_events,
    read_items,
)

from .shapes import event_problems, item_problems

EVENTS_CSV = (
    "event_id,user_id,item_id,type,ts,value,text,session_id\n"
    "e1,u1,i1,view,2014-07-01T12:00:00Z,,,s1\n"
    'e2,u1,i1,review,1404216000,4,"Nice, ""really"" nice\nsecond line",\n'
    ",u2,i2,rating,2014-07-01T12:00:00+02:00,4.5,,\n"
)


def write(path: Path, text: str, compress: bool = False) -> Path:
    data = text.encode("utf-8")
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def test_events_csv_converts_types_and_drops_empty_cells(tmp_path: Path) -> None:
    events = list(read_events(write(tmp_path / "events.csv", EVENTS_CSV)))
    assert events == [
        {
            "event_id": "e1",
            "user_id": "u1",
            "item_id": "i1",
            "type": "view",
            "ts": "2014-07-01T12:00:00Z",
            "session_id": "s1",
        },
        {
            "event_id": "e2",
            "user_id": "u1",
            "item_id": "i1",
            "type": "review",
            "ts": 1404216000,
            "value": 4,
            "text": 'Nice, "really" nice\nsecond line',
        },
        {
            "user_id": "u2",
            "item_id": "i2",
            "type": "rating",
            "ts": "2014-07-01T12:00:00+02:00",
            "value": 4.5,
        },
    ]
    assert all(not event_problems(event) for event in events)


def test_items_csv_converts_paths_numbers_booleans_and_attributes(tmp_path: Path) -> None:
    text = (
        "item_id,title,description,category_path,brand,price,in_stock,attributes\n"
        'p1,Face Cream,"Rich, light",Beauty > Skin Care > Face,Acme,12.50,true,"{""size"": 50}"\n'
        "p2,,,,,0,0,\n"
        "p3,Mug,,Home,,7,1,{}\n"
        "p4,Pan,,,,,FALSE,\n"
    )
    items = list(read_items(write(tmp_path / "items.csv", text)))
    assert items[0] == {
        "item_id": "p1",
        "title": "Face Cream",
        "description": "Rich, light",
        "category_path": ["Beauty", "Skin Care", "Face"],
        "brand": "Acme",
        "price": 12.5,
        "in_stock": True,
        "attributes": {"size": 50},
    }
    assert items[1] == {"item_id": "p2", "price": 0, "in_stock": False}
    assert items[2]["in_stock"] is True and items[2]["category_path"] == ["Home"]
    assert items[3] == {"item_id": "p4", "title": "Pan", "in_stock": False}


def test_jsonl_passes_values_through_and_skips_blank_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"user_id": "u1", "item_id": "i1", "type": "cart", "ts": 1404216000.5}),
        "",
        json.dumps(
            {"user_id": "u1", "item_id": "i1", "type": "purchase", "ts": "2014-07-01T12:00:00Z"}
        ),
    ]
    events = list(read_events(write(tmp_path / "e.jsonl", "\n".join(lines) + "\n")))
    assert [e["type"] for e in events] == ["cart", "purchase"]
    assert events[0]["ts"] == 1404216000.5


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("events.csv.gz", EVENTS_CSV, "csv"),
        ("events.dat", EVENTS_CSV, "csv"),  # no suffix: sniffed after decompressing
        ("events.jsonl", '{"user_id": "u1"}\n', "jsonl"),  # gzip without .gz suffix
        ("events.bin", '\n{"user_id": "u1"}\n', "jsonl"),
    ],
)
def test_gzip_is_detected_by_magic_bytes(
    tmp_path: Path, name: str, text: str, expected: str
) -> None:
    path = write(tmp_path / name, text, compress=True)
    assert detect_format(path) == expected
    first = next(read_events(path))
    assert first["user_id"] == "u1"


def test_plain_file_with_gz_suffix_is_read_as_plain(tmp_path: Path) -> None:
    path = write(tmp_path / "events.csv.gz", EVENTS_CSV)
    assert len(list(read_events(path))) == 3


def error_for(path: Path, reader: Any = read_events) -> SourceFormatError:
    with pytest.raises(SourceFormatError) as caught:
        list(reader(path))
    assert str(path) in str(caught.value)
    return caught.value


def test_malformed_jsonl_line_reports_file_and_line(tmp_path: Path) -> None:
    good = json.dumps({"user_id": "u1", "item_id": "i1", "type": "view", "ts": 1})
    path = write(tmp_path / "bad.jsonl", f"{good}\n\n{{not json\n{good}\n", compress=True)
    error = error_for(path)
    assert error.line == 3
    assert f"{path}:3:" in str(error) and "invalid JSON" in str(error)


def test_deeply_nested_jsonl_line_is_a_reported_bad_line(tmp_path: Path) -> None:
    deep = '{"a": ' * 100_000 + "1" + "}" * 100_000
    error = error_for(write(tmp_path / "deep.jsonl", '{"a": 1}\n' + deep + "\n"))
    assert error.line == 2 and "nested too deeply" in error.message


def test_jsonl_line_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    error = error_for(write(tmp_path / "list.jsonl", '{"a": 1}\n[1, 2]\n'))
    assert error.line == 2 and "expected a JSON object" in error.message


def test_csv_bad_number_counts_physical_lines_after_multiline_cell(tmp_path: Path) -> None:
    text = EVENTS_CSV + "e4,u1,i1,rating,2014-07-01T12:00:00Z,five,,\n"
    error = error_for(write(tmp_path / "bad.csv", text))
    # Header, e1, e2 spanning two lines, the third record: the bad row is physical line 6.
    assert error.line == 6
    assert "value" in error.message and "five" in error.message


@pytest.mark.parametrize(
    ("row", "fragment"),
    [
        ("p1,T,,,,,maybe,", "in_stock"),
        ("p1,T,,,,,,[1]", "attributes must be a JSON object"),
        ("p1,T,,,,,,{bad", "attributes must be a JSON object"),
        ("p1,T,,,,,," + "[" * 100_000, "nested too deeply"),
        ("p1,T,,,,nan,,", "price"),
        ("p1,T", "expected 8 cells, found 2"),
    ],
)
def test_csv_item_errors_name_column_and_line(tmp_path: Path, row: str, fragment: str) -> None:
    header = ",".join(ITEM_COLUMNS)
    path = write(tmp_path / "items.csv", f"{header}\np0,ok,,,,,,\n{row}\n")
    error = error_for(path, read_items)
    assert error.line == 3
    assert fragment in error.message


def test_csv_header_problems_are_reported_on_line_one(tmp_path: Path) -> None:
    unknown = error_for(write(tmp_path / "a.csv", "user_id,item_id,type,ts,colour\n"))
    missing = error_for(write(tmp_path / "b.csv", "user_id,item_id,type\nu,i,view\n"))
    assert unknown.line == 1 and "colour" in unknown.message
    assert missing.line == 1 and "ts" in missing.message


def test_invalid_utf8_is_reported_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.csv"
    path.write_bytes(EVENTS_CSV.encode() + "e9,u\xe9,i,view,1,,,\n".encode("latin-1"))
    assert error_for(path).line == 6


def test_unterminated_quote_is_a_format_error(tmp_path: Path) -> None:
    error = error_for(write(tmp_path / "q.csv", EVENTS_CSV + 'e5,u1,i1,review,1,,"open\n'))
    assert error.line >= 6


def test_count_lines_and_records(tmp_path: Path) -> None:
    assert count_lines(write(tmp_path / "a.csv", "h\n1\n2\n")) == 3
    assert count_lines(write(tmp_path / "b.csv", "h\n1\n2")) == 3  # no final newline
    assert count_lines(write(tmp_path / "c.jsonl", "{}\n" * 5000, compress=True)) == 5000
    assert count_lines(write(tmp_path / "d.jsonl", "")) == 0
    assert count_records(write(tmp_path / "e.csv", "h\n1\n2\n", compress=True)) == 2
    assert count_records(write(tmp_path / "f.jsonl", "{}\n{}\n")) == 2


def test_demo_data_round_trips_through_csv(tmp_path: Path) -> None:
    """What the demo emits survives CSV export + import unchanged (types included)."""
    stream = demo_stream(
        n_users=30, n_items=60, n_events=800, seed=5, now=datetime(2025, 1, 1, tzinfo=UTC)
    )
    events, items = list(stream.events()), list(stream.items())
    with gzip.open(tmp_path / "events.csv.gz", "wt", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=EVENT_COLUMNS)
        writer.writeheader()
        writer.writerows(events)
    with open(tmp_path / "items.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=ITEM_COLUMNS)
        writer.writeheader()
        for item in items:
            row = dict(item, category_path=" > ".join(item["category_path"]))
            row.update(
                attributes=json.dumps(item["attributes"]), in_stock=str(item["in_stock"]).lower()
            )
            writer.writerow(row)
    assert list(read_events(tmp_path / "events.csv.gz")) == events
    assert list(read_items(tmp_path / "items.csv")) == items


def test_shape_checker_catches_contract_violations() -> None:
    """The shape checks used across these tests must be able to fail."""
    good = {
        "user_id": "u",
        "item_id": "i",
        "type": "rating",
        "ts": "2014-07-01T12:00:00Z",
        "value": 3,
    }
    assert event_problems(good) == []
    assert event_problems({**good, "value": None})
    assert event_problems({**good, "ts": "2014-07-01 12:00"})
    assert event_problems({**good, "type": "view"})  # value on a view
    assert event_problems({**good, "reviewerName": "x"})
    assert event_problems({**good, "user_id": "has space"})
    item: dict[str, Any] = {
        "item_id": "p",
        "title": None,
        "description": None,
        "category_path": [],
        "brand": None,
        "price": None,
        "in_stock": None,
        "attributes": {},
    }
    assert item_problems(item) == []
    assert item_problems({**item, "attributes": {"nested": {"a": 1}}})
    assert item_problems({**item, "price": -1})
    assert item_problems({**item, "in_stock": "yes"})
