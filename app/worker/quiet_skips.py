"""APScheduler's "skipped: maximum number of running instances reached" warnings, quietened.

Every job runs with ``max_instances=1`` on purpose: a poll that comes while the previous run
of its job is still going (a full retrain takes minutes, the requested-refresh poll fires
every second) is meant to wait. APScheduler still logs each such skip as a WARNING, so a
retrain filled the worker's log with a warning a second about nothing wrong. The filter
drops those records and says once, at INFO, that a job's next polls wait for its run; the
next skip of that job after it ran again is announced again.
"""

from __future__ import annotations

import logging

SKIP_MESSAGE = 'Execution of job "%s" skipped: maximum number of running instances reached'
log = logging.getLogger("app.worker.scheduler")


class QuietSkips(logging.Filter):
    """Drops APScheduler's skip warnings, noting the first of a row per job at INFO."""

    def __init__(self) -> None:
        super().__init__()
        self.waiting: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not isinstance(record.msg, str) or not record.msg.startswith(SKIP_MESSAGE):
            return True
        # A job prints as "name (trigger: ..., next run at: ...)": the name is what stays.
        shown = str(record.args[0]) if isinstance(record.args, tuple) and record.args else "?"
        job = shown.split(" (", 1)[0]
        if job not in self.waiting:
            self.waiting.add(job)
            log.info("job %s still running: its next polls wait for it", job)
        return False

    def job_ran(self, job: str) -> None:
        """The job ran to its end: its next skip starts a new row."""
        self.waiting.discard(job)


def install(logger_name: str = "apscheduler.scheduler") -> QuietSkips:
    """The :class:`QuietSkips` on the scheduler's logger (attached once per process)."""
    logger = logging.getLogger(logger_name)
    for existing in logger.filters:
        if isinstance(existing, QuietSkips):
            return existing
    quiet = QuietSkips()
    logger.addFilter(quiet)
    return quiet
