"""Event times at intake: the accepted forms of ``ts`` and the window a batch accepts."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """The accepted event times of one batch, in epoch seconds.

    Computed once per batch: building these bounds for every event cost more than checking it.
    """

    now_s: float
    latest_s: float
    earliest_s: float
    min_event_year: int

    @classmethod
    def of_batch(cls, now: datetime, max_future_skew_s: float, min_event_year: int) -> TimeWindow:
        now_s = now.timestamp()
        return cls(
            now_s=now_s,
            latest_s=now_s + max_future_skew_s,
            earliest_s=datetime(min_event_year, 1, 1, tzinfo=UTC).timestamp(),
            min_event_year=min_event_year,
        )


TS_FORMS = "expected an RFC 3339 timestamp (e.g. '2024-05-01T12:00:00Z') or epoch seconds"


def _epoch_seconds(raw: Any) -> float:
    """Epoch seconds of an RFC 3339 timestamp with a zone, or of an epoch-seconds number."""
    if isinstance(raw, str):  # the usual form first: this runs for every event of a load
        try:
            moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(TS_FORMS) from None
        if moment.tzinfo is None:
            raise ValueError("timestamp needs a time zone (e.g. '2024-05-01T12:00:00Z')")
        return moment.timestamp()
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            seconds = float(raw)
        except OverflowError:  # an integer past a float's range
            seconds = math.inf if raw > 0 else -math.inf
        if math.isnan(seconds):
            raise ValueError("epoch seconds must be a number, not NaN")
        return seconds
    raise ValueError(TS_FORMS)


def event_ms(raw: Any, window: TimeWindow) -> int:
    """Epoch milliseconds of an event's ``ts`` (absent: now); a ValueError names what is wrong."""
    if raw is None:
        return int(window.now_s * 1000)
    seconds = _epoch_seconds(raw)
    if seconds > window.latest_s:
        hint = " (epoch numbers are seconds, not milliseconds)" if seconds > 1e11 else ""
        raise ValueError(f"timestamp is in the future{hint}")
    if seconds < window.earliest_s:
        raise ValueError(f"timestamp is before {window.min_event_year}-01-01")
    return int(round(seconds * 1000))
