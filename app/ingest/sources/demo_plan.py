"""Who visits the demo shop and when: the users and their sessions, planned in compact arrays.

A shop of a million users and ten million events must not hold its event list in memory. The
plan holds only what is small: per user their activity, preferred leaves and drift point (a few
numbers each), and per session its user, number and start (16 bytes each: 40 MB for 2.5M
sessions). The events themselves are generated session by session in time order and released
as soon as no later session can precede them (``app.ingest.sources.demo``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from app.ingest.sources import demo_catalog as vocab

# Evening-heavy shopping hours (weights for 00h..23h).
HOUR_WEIGHTS = (1, 1, 1, 1, 1, 1, 2, 3, 4, 4, 4, 5, 6, 5, 4, 4, 5, 6, 8, 9, 10, 9, 6, 3)


@dataclass(frozen=True)
class UserPlan:
    """Per user (row = user index): preferred leaves before and after their drift point.

    Attributes:
        sessions: int32[n] how many sessions each user has.
        before: int16[n, 3] preferred leaves until the drift point (first = main preference).
        after: int16[n, 3] preferred leaves after it (equal to ``before`` without drift).
        drift_at: float32[n] the fraction of the user's sessions after which ``after`` applies.
    """

    sessions: np.ndarray
    before: np.ndarray
    after: np.ndarray
    drift_at: np.ndarray

    def leaves(self, user: int, number: int) -> tuple[int, int, int]:
        """The preferred leaves of ``user`` in their session ``number`` (0-based)."""
        late = number >= self.drift_at[user] * self.sessions[user]
        row = (self.after if late else self.before)[user]
        return int(row[0]), int(row[1]), int(row[2])


@dataclass(frozen=True)
class SessionPlan:
    """Every session of the shop, ordered by start (then user, then number).

    Attributes:
        user: int32[s] the session's user.
        number: int32[s] its number among the user's sessions (in time order).
        start: int64[s] its start, epoch seconds.
    """

    user: np.ndarray
    number: np.ndarray
    start: np.ndarray


def plan_users(rng: random.Random, n_users: int, n_sessions: int, drift_share: float) -> UserPlan:
    """Pareto activity (a few heavy shoppers), two leaves of a main department and one of
    another; a ``drift_share`` of users moves their main interest to a third department."""
    activity = np.fromiter((rng.paretovariate(1.5) for _ in range(n_users)), np.float64, n_users)
    sessions = np.maximum(1, np.rint(activity * (n_sessions / activity.sum()))).astype(np.int32)
    by_department: dict[str, list[int]] = {}
    for leaf_index, leaf in enumerate(vocab.LEAVES):
        by_department.setdefault(leaf.path[0], []).append(leaf_index)
    departments = sorted(by_department)
    before = np.zeros((n_users, 3), np.int16)
    after = np.zeros((n_users, 3), np.int16)
    drift_at = np.zeros(n_users, np.float32)
    for index in range(n_users):
        main, other = rng.sample(departments, 2)
        before[index] = rng.sample(by_department[main], 2) + [rng.choice(by_department[other])]
        after[index] = before[index]
        if rng.random() < drift_share:
            # The new main interest comes from a department the user did not care about before.
            new = rng.choice([d for d in departments if d not in (main, other)])
            after[index] = rng.sample(by_department[new], 2) + [int(before[index, 2])]
        drift_at[index] = rng.uniform(0.35, 0.65)
    return UserPlan(sessions, before, after, drift_at)


def plan_sessions(rng: random.Random, users: UserPlan, start: int, end: int) -> SessionPlan:
    """Each session on a random day of ``[start, end)`` at an evening-heavy hour; numbered per
    user in time order, then all ordered by start."""
    total = int(users.sessions.sum())
    owner = np.repeat(np.arange(len(users.sessions), dtype=np.int32), users.sessions)
    days = max((end - start) // 86_400, 1)
    hours = rng.choices(range(24), weights=HOUR_WEIGHTS, k=total)
    starts = np.fromiter(
        (start + rng.randrange(days) * 86_400 + hour * 3600 + rng.randrange(3600)
         for hour in hours),
        np.int64, total,
    )  # fmt: skip
    starts = np.minimum(starts, end - 3600)
    by_user = np.lexsort((starts, owner))  # each user's sessions in time order
    first = np.concatenate([[0], np.cumsum(users.sessions)[:-1]])
    number = np.empty(total, np.int32)
    number[by_user] = np.arange(total) - np.repeat(first, users.sessions)
    order = np.lexsort((number, owner, starts))
    return SessionPlan(owner[order], number[order], starts[order])
