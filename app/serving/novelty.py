"""The shop's rate of "somewhere new": how often a user's next item lies in a category they
have not been to, fitted to the graph (``graphdb.category_spread``).

It sizes the share of a list left to the model's own picks outside the user's categories
(``app.serving.intent``): a shop where people wander leaves more room for new categories than
one where they keep to their aisles.
"""

from __future__ import annotations

import math

import numpy as np

from graphdb.category_spread import CategoryContinuity, CategorySpread

# The focus assumed before the graph says anything, and how many consecutive pairs of items
# that assumption is worth (a small shop's few pairs should not swing it to an extreme).
DEFAULT_FOCUS = 0.8
FOCUS_PRIOR_PAIRS = 10.0


def fit_new_category_rate(spread: CategorySpread) -> float | None:
    """The ``alpha`` under which the users' spread over categories is likeliest, or ``None``.

    Read as a Chinese restaurant process, a user's next item lies in a category they have not
    been to with probability ``alpha / (n + alpha)`` after ``n`` items. The probability of a
    user's ``n`` items lying in ``d`` categories depends on ``alpha`` only through
    ``alpha**d * Gamma(alpha) / Gamma(alpha + n)`` (the Ewens formula), so the users' counts
    are all the fit needs: the maximum of the log-likelihood (unimodal in ``log alpha``),
    found by golden-section search over ``alpha`` in ``[1e-3, 1e3]``. ``None`` without users
    of two items or more.
    """
    rows = np.asarray(spread.rows, dtype=np.float64).reshape(-1, 3)
    if not len(rows):
        return None
    n, d, users = rows[:, 0], rows[:, 1], rows[:, 2]

    def log_likelihood(log_alpha: float) -> float:
        alpha = math.exp(log_alpha)
        gammas = np.fromiter((math.lgamma(alpha) - math.lgamma(alpha + k) for k in n), float)
        return float(np.sum(users * (d * log_alpha + gammas)))

    low, high = math.log(1e-3), math.log(1e3)
    ratio = (math.sqrt(5.0) - 1.0) / 2.0
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if log_likelihood(a) < log_likelihood(b):
            low = a
        else:
            high = b
    return math.exp((low + high) / 2.0)


def fit_focus(continuity: CategoryContinuity) -> float | None:
    """The share of a moved user's next events in the category they moved to (``rho`` of
    ``app.serving.intent``), from how often the shop's users' next item lies in the category
    of their previous one: ``(stays + m * rho_0) / (pairs + m)``, the default ``rho_0`` worth
    ``m`` pairs, kept within ``[0.05, 0.99]`` so neither the session nor the long-term
    interests ever take the whole list. ``None`` without a single pair.
    """
    if continuity.pairs <= 0:
        return None
    stays = continuity.stays + FOCUS_PRIOR_PAIRS * DEFAULT_FOCUS
    return min(0.99, max(0.05, stays / (continuity.pairs + FOCUS_PRIOR_PAIRS)))
