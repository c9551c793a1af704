"""The shop's rate of "somewhere new": how often a user's next item lies in a category they
have not been to, fitted to the graph (``graphdb.category_spread``).

It sizes the share of a list left to the model's own picks outside the user's categories
(``app.serving.intent``): a shop where people wander leaves more room for new categories than
one where they keep to their aisles.
"""

from __future__ import annotations

import math

import numpy as np

from graphdb.category_spread import CategorySpread


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
