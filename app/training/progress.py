"""Epoch progress lines for a person watching ``train`` or ``demo``.

Training is the one step that runs for minutes; a silent terminal reads as a hang. Each
epoch's row from early stopping (``epoch``, ``loss``, ``seconds``, ``elapsed``) becomes one
line with the time left. The estimate is an upper bound: the mean epoch time times the
epochs still allowed (by the epoch cap and, when set, the time budget), since early
stopping can only end training sooner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Say = Callable[[str], None]


@dataclass
class EpochProgress:
    """Turns early stopping's per-epoch rows into progress lines.

    Attributes:
        label: What is training (``"interest model"``, ``"session model"``).
        max_epochs: The epoch cap.
        say: Where lines go (stderr for the CLI, a logger for the worker).
        time_budget_s: The wall-clock budget, if any, which also bounds the time left.
    """

    label: str
    max_epochs: int
    say: Say
    time_budget_s: float | None = None

    def __call__(self, row: dict[str, float]) -> None:
        self.say(self.line(row))

    def line(self, row: dict[str, float]) -> str:
        epoch = int(row["epoch"])
        elapsed = float(row["elapsed"])
        parts = [f"{self.label}: epoch {epoch}/{self.max_epochs}", f"loss {row['loss']:.4f}",
                 f"{row['seconds']:.1f} s"]  # fmt: skip
        metrics = [f"{k} {v:.4f}" for k, v in row.items() if "@" in k]
        parts.extend(metrics)
        parts.append(f"at most {format_duration(self.time_left_s(epoch, elapsed))} left")
        return ", ".join(parts)

    def time_left_s(self, epoch: int, elapsed: float) -> float:
        per_epoch = elapsed / max(epoch, 1)
        left = per_epoch * max(self.max_epochs - epoch, 0)
        if self.time_budget_s is not None:
            # The loop stops after the epoch that crosses the budget: one more epoch at most.
            left = min(left, max(self.time_budget_s - elapsed, 0.0) + per_epoch)
        return left if epoch < self.max_epochs else 0.0


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min 05 s``, ``1 h 02 min``: short enough for a progress line."""
    whole = int(round(seconds))
    if whole < 60:
        return f"{whole} s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
