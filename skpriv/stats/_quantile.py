"""Private quantiles: the exponential mechanism over a public grid (Smith 2011).

The candidates are the points of a public grid: ``n_grid + 1`` equally spaced
points of the public bounds, or, without bounds, a log-spaced grid symmetric
around zero (:func:`log_grid`). The utility of a candidate ``c`` for the
quantile ``q`` of ``N`` values is ``-|#{x < c} - q N|``; adding or removing
one row (holding ``m`` values) changes it by at most ``m * max(q, 1 - q)``.
The mechanism picks the candidate maximising ``epsilon * u(c) / (2 *
sensitivity) + G(c)`` with independent standard Gumbel ``G`` (the Gumbel-max
form of the exponential mechanism: exactly its distribution, computed in log
space, so no weight under- or overflows).

Floating point: the output is a grid point, a function of public values and
the chosen index only, so its low-order bits carry nothing about the data (the
attack of Mironov 2012 needs outputs that depend on the data's own bits).
What floating point still touches is the *probability* of each index: the
scores are rounded to float64 (relative error about ``2**-52``) and the Gumbel
draws come from a 53-bit uniform through two logarithms, which moves each
probability by a relative amount far below ``1e-9`` except in the extreme
Gumbel tail (probability below ``2**-53``): the same stance as the grid
samplers of :mod:`skpriv.mechanisms`, stated rather than proven away. The
rounding of data values to ranks is exact (comparisons).
"""

import math

import dp_accounting
import numpy as np

__all__ = ["em_event", "grid_quantiles", "log_grid", "uniform_grid"]

#: Octaves and points per octave of the log-spaced grid used without bounds.
LOG_GRID_MIN_EXP = -20
LOG_GRID_MAX_EXP = 40
LOG_GRID_PER_OCTAVE = 8


def log_grid() -> np.ndarray:
    """The public candidates used without bounds: 0 and ``+-2**(k / 8)``.

    From ``2**-20`` to ``2**40`` in magnitude (about 1e-6 to 1e12), eight
    points per octave (a relative resolution of 9%): 961 candidates.
    """
    exps = np.arange(
        LOG_GRID_MIN_EXP * LOG_GRID_PER_OCTAVE,
        LOG_GRID_MAX_EXP * LOG_GRID_PER_OCTAVE + 1,
    )
    pos = np.exp2(exps / LOG_GRID_PER_OCTAVE)
    return np.concatenate([-pos[::-1], [0.0], pos])


def uniform_grid(lower: float, upper: float, n_grid: int) -> np.ndarray:
    """``n_grid + 1`` equally spaced public candidates from lower to upper."""
    return lower + (upper - lower) * (np.arange(n_grid + 1) / n_grid)


def em_event(epsilon: float):
    """The event of one exponential-mechanism release at pure ``epsilon``.

    dp-accounting has no exponential-mechanism event; binary randomized
    response at ``epsilon`` dominates every pure ``epsilon``-DP mechanism
    (Kairouz, Oh & Viswanath 2015), so it bounds the release tightly.
    """
    return dp_accounting.RandomizedResponseDpEvent(
        noise_parameter=2.0 / (math.exp(min(epsilon, 700.0)) + 1.0), num_buckets=2
    )


def grid_quantiles(sorted_values, qs, candidates, epsilon, per_row, rng):
    """One exponential-mechanism draw per quantile, over ``candidates``.

    Parameters
    ----------
    sorted_values : ndarray of shape (N,)
        The values of one feature, sorted (clipped or not: only ranks matter).
    qs : ndarray of shape (Q,)
        Quantiles in [0, 1].
    candidates : ndarray of shape (K,)
        Sorted public grid.
    epsilon : float
        Pure epsilon of *each* quantile's release.
    per_row : int
        Values one row contributes (``m``): the utility's sensitivity is
        ``m * max(q, 1 - q)``.
    rng : numpy.random.Generator

    Returns
    -------
    values : ndarray of shape (Q,)
        The chosen grid points.
    """
    n = sorted_values.size
    ranks = np.searchsorted(sorted_values, candidates, side="left").astype(np.float64)
    qs = np.asarray(qs, dtype=np.float64)
    sens = per_row * np.maximum(qs, 1.0 - qs)
    # scores[i, k] = epsilon * u_k / (2 sens_i) + Gumbel
    scores = np.abs(ranks[None, :] - (qs * n)[:, None])
    scores *= -(epsilon / (2.0 * sens))[:, None]
    scores += rng.gumbel(size=scores.shape)
    return candidates[np.argmax(scores, axis=1)]


#: Smallest and largest tail mass of the quantiles ``bounds="private"``
#: estimates as bounds (``q`` and ``1 - q``).
PRIVATE_BOUNDS_TAIL = (0.01, 0.25)


def bounds_tail(
    n_values: int, per_row: int, epsilon_each: float, n_candidates: int
) -> float:
    """Tail mass ``q`` of the private bounds: the smallest the mechanism can locate.

    A candidate outside the data loses ``q N`` in utility against the true
    quantile, and there are up to ``n_candidates`` such candidates: the
    exponential mechanism prefers the truth only when ``epsilon q N / (2 m)``
    exceeds ``log(n_candidates)`` by a margin. So ``q = 2 m (log K + 4) /
    (epsilon N)``, kept within :data:`PRIVATE_BOUNDS_TAIL`; it depends only on
    public values (the number of values, the budget, the grid).
    """
    lo, hi = PRIVATE_BOUNDS_TAIL
    need = (
        2.0
        * per_row
        * (math.log(n_candidates) + 4.0)
        / (epsilon_each * max(n_values, 1))
    )
    return float(min(hi, max(lo, need)))


def private_bounds(columns, epsilon, per_row, rng):
    """Private ``(lower, upper)`` of each column on the public log grid.

    Two exponential-mechanism draws per column (the quantiles ``q`` and ``1 -
    q`` of :func:`bounds_tail`: 1% when the data and budget allow, up to 25%
    for few rows or a small budget), ``epsilon`` split equally over all of
    them. An empty interval (both draws on one grid point) is widened to the
    next grid point above: post-processing.

    Parameters
    ----------
    columns : list of ndarray
        Each column's values, sorted.
    epsilon : float
        Pure epsilon of the whole release.
    per_row : int
        Values one row contributes to each column.
    rng : numpy.random.Generator

    Returns
    -------
    lower, upper : ndarray of shape (n_columns,)
    event : dp_accounting.DpEvent
    """
    grid = log_grid()
    d = len(columns)
    each = epsilon / (2 * d)
    lower = np.empty(d)
    upper = np.empty(d)
    for j, col in enumerate(columns):
        q = bounds_tail(col.size, per_row, each, grid.size)
        lo, hi = grid_quantiles(col, (q, 1.0 - q), grid, each, per_row, rng)
        if hi <= lo:
            hi = grid[min(np.searchsorted(grid, lo, side="right"), grid.size - 1)]
            if hi <= lo:  # lo is the top of the grid
                lo = grid[-2]
        lower[j], upper[j] = lo, hi
    event = em_event(each)
    event = event if 2 * d == 1 else dp_accounting.SelfComposedDpEvent(event, 2 * d)
    return lower, upper, event
