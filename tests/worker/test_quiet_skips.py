"""A poll skipped because its job's previous run is still going is not a warning."""

from __future__ import annotations

import logging
import threading

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED
from apscheduler.schedulers.background import BackgroundScheduler

from app.worker.quiet_skips import install


def test_a_long_run_leaves_one_info_line_not_a_warning_per_poll(
    caplog: pytest.LogCaptureFixture,
) -> None:
    quiet = install()
    release = threading.Event()
    scheduler = BackgroundScheduler()
    scheduler.add_job(lambda: release.wait(10), "interval", seconds=0.1, id="slow",
                      name="slow", max_instances=1, coalesce=True)  # fmt: skip
    scheduler.add_listener(lambda event: quiet.job_ran(event.job_id), EVENT_JOB_EXECUTED)
    with caplog.at_level(logging.INFO):
        scheduler.start()
        try:
            threading.Event().wait(1.2)  # about ten polls while the first run blocks
        finally:
            release.set()
            scheduler.shutdown(wait=True)
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not warnings, [r.getMessage() for r in warnings]
    waits = [r.getMessage() for r in caplog.records if "still running" in r.getMessage()]
    assert waits == ["job slow still running: its next polls wait for it"]


def test_other_scheduler_warnings_pass() -> None:
    quiet = install()
    record = logging.LogRecord("apscheduler.scheduler", logging.WARNING, "", 0,
                               "Run time of job %s was missed", ("x",), None)  # fmt: skip
    assert quiet.filter(record)
