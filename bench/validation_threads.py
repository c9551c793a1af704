"""Bulk-load validation of a demo shop with the text encoder on one BLAS thread, or on
OpenBLAS's default (one per core), interleaved A B A B in one run.

The offline loader validates events in forked workers (``app.ingest.parallel_validation``);
review texts go through the numpy sentence encoder for their sentiment. This measures what the
encoder's one-thread cap (``ml/query_encoder.py``) buys on this machine.

    python bench/validation_threads.py [--events 200000] [--rounds 2]

Writes ``bench/results/validation_threads.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.ingest.parallel_validation import validate_events
from app.ingest.sources.demo import DemoShape
from app.ingest.validation import limits_from_settings
from app.settings import load_settings
from bench._common import write_result
from ml.query_encoder import packaged_encoder


def run_once(events: int, capped: bool) -> float:
    settings = load_settings()
    shape = DemoShape(events // 10, max(1000, events // 100), events, 7)
    stream = shape.stream(now=datetime(2026, 12, 1, tzinfo=UTC))
    encoder = packaged_encoder()  # loaded here, before the fork, as the loader's parent does
    saved = encoder.blas_threads
    # Uncapped: the encoder as it was, with OpenBLAS's own thread count.
    encoder.blas_threads = 1 if capped else None
    try:
        tick = time.perf_counter()
        columns = validate_events(stream, limits_from_settings(settings), settings.fold_config())
        seconds = time.perf_counter() - tick
    finally:
        encoder.blas_threads = saved
    return len(columns.event_id) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    rates: dict[str, list[float]] = {"capped": [], "default": []}
    for _ in range(args.rounds):
        for mode in ("default", "capped"):
            rates[mode].append(run_once(args.events, mode == "capped"))
            print(f"{mode}: {rates[mode][-1]:,.0f} events/s", flush=True)
    metrics = {
        "validation_events_per_s_one_blas_thread": median(rates["capped"]),
        "validation_events_per_s_default_blas_threads": median(rates["default"]),
        "events": float(args.events),
    }
    metrics["validation_speedup"] = (
        metrics["validation_events_per_s_one_blas_thread"]
        / (metrics["validation_events_per_s_default_blas_threads"])
    )
    write_result("validation_threads", metrics, {"rounds": rates})


if __name__ == "__main__":
    main()
