"""Epoch progress lines: what a person watching ``train`` or ``demo`` reads."""

from __future__ import annotations

from app.training.progress import EpochProgress, format_duration


def _row(epoch: int, elapsed: float, **metrics: float) -> dict[str, float]:
    return {"epoch": epoch, "loss": 0.5, "seconds": elapsed / epoch, "elapsed": elapsed, **metrics}


def test_line_names_epoch_loss_metrics_and_time_left() -> None:
    lines: list[str] = []
    progress = EpochProgress("interest model", 50, lines.append)
    progress(_row(5, 50.0, **{"recall@20": 0.1234}))
    assert lines == [
        "interest model: epoch 5/50, loss 0.5000, 10.0 s, recall@20 0.1234, at most 7 min 30 s left"
    ]


def test_time_left_is_bounded_by_the_budget_and_ends_at_zero() -> None:
    progress = EpochProgress("m", 100, print, time_budget_s=60.0)
    # 10 s epochs, 20 s used of a 60 s budget: 40 s plus the one epoch that crosses it.
    assert progress.time_left_s(2, 20.0) == 50.0
    assert EpochProgress("m", 3, print).time_left_s(3, 30.0) == 0.0


def test_durations_read_short() -> None:
    assert [format_duration(s) for s in (4.4, 65, 3725)] == ["4 s", "1 min 05 s", "1 h 02 min"]
