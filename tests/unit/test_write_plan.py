"""Which moved vectors a refresh run writes: changed nodes always, bystanders by budget."""

from __future__ import annotations

import numpy as np

from app.worker.refresh import plan_writes


def test_changed_nodes_always_go_and_the_largest_bystanders_fill_the_budget() -> None:
    moves = np.array([0.0, 0.5, 1e-7, 0.2, 0.9, np.nan, 0.3])
    writable = np.ones(7, dtype=bool)
    plan = plan_writes(moves, own=np.array([1, 2]), writable=writable, tolerance=1e-6, budget=2)
    # 1 is own and moved; 2 is own but within the tolerance; the missing vector (5) counts as
    # the largest move, then 4; 6 and 3 wait
    assert plan.rows.tolist() == [1, 4, 5]
    assert plan.pending == 2 and plan.max_pending_move == 0.3


def test_rows_that_may_not_be_written_are_neither_written_nor_pending() -> None:
    moves = np.array([0.4, 0.4, 0.1])
    writable = np.array([False, True, True])
    plan = plan_writes(moves, own=np.array([0]), writable=writable, tolerance=1e-6, budget=5)
    assert plan.rows.tolist() == [1, 2] and plan.pending == 0 and plan.max_pending_move == 0.0
