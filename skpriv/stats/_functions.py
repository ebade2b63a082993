"""Differentially private statistics: count, sum, mean, var, std, quantile, histogram."""

import builtins
import math
import warnings
from numbers import Real

import dp_accounting
import numpy as np

from ..accounting._budget import charge_budgets
from ..exceptions import PrivacyLeakWarning
from ..mechanisms import DiscreteLaplace
from ..utils._random import check_random_state
from ..utils._validation import check_bounds, check_delta, check_epsilon
from ._noise import apply_release, composed, plan_release, split_budget
from ._quantile import em_event, grid_quantiles, log_grid, private_bounds, uniform_grid

__all__ = ["count", "histogram", "mean", "quantile", "std", "sum", "var"]

#: Share of epsilon that ``bounds="private"`` spends on the bounds.
BOUNDS_SHARE = 0.2
#: Candidates of the uniform grid of :func:`quantile` with public bounds.
N_GRID = 2**16


# --------------------------------------------------------------------------
# Input handling
# --------------------------------------------------------------------------


def _as_rows(X, axis, name):
    """``X`` as float64 of shape (n_rows, n_features, values_per_row).

    A row (first axis) is the unit of privacy. ``axis=0`` gives one statistic
    per column; ``axis=None`` one statistic of every value, a row then
    contributing all its values.
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name}: X must be numeric (values not shown, to keep them private)."
        ) from None
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(
            f"{name}: X must be 1-D (one value per row) or 2-D (rows x "
            f"features); got {arr.ndim} dimensions."
        )
    if axis not in (None, 0):
        raise ValueError(
            f"{name}: axis must be None (every value) or 0 (one statistic per "
            f"column; rows are the unit of privacy); got axis={axis!r}."
        )
    if arr.shape[0] == 0 or arr.size == 0:
        raise ValueError(f"{name}: X is empty; a statistic needs at least one row.")
    if not np.isfinite(arr).all():
        raise ValueError(
            f"{name}: X contains NaN or infinity; impute or drop them first."
        )
    n = arr.shape[0]
    if arr.ndim == 1:
        return arr.reshape(n, 1, 1), ()
    if axis is None:
        return arr.reshape(n, 1, -1), ()
    return arr.reshape(n, -1, 1), (arr.shape[1],)


def _check_common(epsilon, delta, random_state):
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta)
    return epsilon, delta, check_random_state(random_state)


def _bounds(bounds, arr, name, *, stacklevel=4):
    """``(lower, upper)`` per feature, or ``"private"``; warn on None."""
    d = arr.shape[1]
    if isinstance(bounds, str):
        if bounds != "private":
            raise ValueError(
                f"{name}: bounds must be (lower, upper), 'private' or None; got "
                f"{bounds!r}."
            )
        return "private"
    if bounds is None:
        warnings.warn(
            f"{name}: bounds=None takes the bounds from the data, which leaks "
            f"information outside the differential privacy guarantee. Pass "
            f"public bounds=(lower, upper), or bounds='private' to spend part "
            f"of epsilon on them.",
            PrivacyLeakWarning,
            stacklevel=stacklevel,
        )
        lower = arr.min(axis=(0, 2))
        upper = arr.max(axis=(0, 2))
        upper = np.where(lower >= upper, lower + 1.0, upper)
        return lower, upper
    return check_bounds(bounds, d, name="bounds")


def _moments_setup(X, epsilon, delta, bounds, axis, random_state, name):
    """Data, bounds (private ones drawn now, after the charge), budget split."""
    epsilon, delta, rng = _check_common(epsilon, delta, random_state)
    arr, shape = _as_rows(X, axis, name)
    resolved = _bounds(bounds, arr, name, stacklevel=5)
    return arr, shape, resolved, epsilon, delta, rng


def _resolve_private(arr, resolved, epsilon, rng):
    """Draw private bounds if asked: ``(lower, upper, event, rest_epsilon)``."""
    if not (isinstance(resolved, str) and resolved == "private"):
        return resolved[0], resolved[1], None, epsilon
    columns = [np.sort(arr[:, j, :].ravel()) for j in range(arr.shape[1])]
    eps_b = BOUNDS_SHARE * epsilon
    lower, upper, event = private_bounds(columns, eps_b, arr.shape[2], rng)
    return lower, upper, event, epsilon - eps_b


def _plan_bounds_event(arr, resolved, epsilon):
    """The event of the private bounds, planned before drawing them."""
    if isinstance(resolved, str):
        d = arr.shape[1]
        each = BOUNDS_SHARE * epsilon / (2 * d)
        return dp_accounting.SelfComposedDpEvent(em_event(each), 2 * d)
    return None


# --------------------------------------------------------------------------
# Moments: centred sums of clipped values (n is public)
# --------------------------------------------------------------------------


def _centred_sums(arr, lower, upper, shares, epsilon, delta):
    """The releases (plans) of the centred sums ``S1`` and, if asked, ``S2``.

    ``S1 = sum(x - c)`` with ``c`` the middle of the bounds moves by at most
    ``m w / 2`` when a row (``m`` values) is added or removed;
    ``S2 = sum((x - c)**2 - w**2 / 8)`` by at most ``m w**2 / 8``. The
    number of rows is public (privacy model), so the sums, means and
    variances follow from them by post-processing.
    """
    m = arr.shape[2]
    width = upper - lower
    parts = split_budget(epsilon, delta, shares)
    plans = [plan_release(m * width / 2.0, parts[0])]
    if len(parts) > 1:
        plans.append(plan_release(m * width**2 / 8.0, parts[1]))
    return plans


def _moments(arr, lower, upper, plans, rng):
    """Noisy ``(mean, var)`` per feature from the planned releases."""
    n_values = arr.shape[0] * arr.shape[2]
    centre = lower + (upper - lower) / 2.0
    width = upper - lower
    x = np.clip(arr, lower[None, :, None], upper[None, :, None]) - centre[None, :, None]
    s1 = apply_release(plans[0], x.sum(axis=(0, 2)), rng)
    mean_c = s1 / n_values
    mean = np.clip(centre + mean_c, lower, upper)
    if len(plans) == 1:
        return mean, None
    s2 = apply_release(
        plans[1], (x**2 - (width**2 / 8.0)[None, :, None]).sum(axis=(0, 2)), rng
    )
    second = s2 / n_values + width**2 / 8.0
    var = np.clip(
        second - np.clip(mean_c, -width / 2, width / 2) ** 2, 0.0, width**2 / 4
    )
    return mean, var


def _moment_statistic(
    X, epsilon, bounds, axis, delta, random_state, budget, name, which
):
    arr, shape, resolved, epsilon, delta, rng = _moments_setup(
        X, epsilon, delta, bounds, axis, random_state, name
    )
    shares = (1.0,) if which in ("sum", "mean") else (1.0, 1.0)
    if isinstance(resolved, str):
        # Private bounds are drawn after the charge: the event depends on the
        # budget split alone (the noise per unit of width), so unit widths
        # plan it.
        unit = np.ones(arr.shape[1])
        rest = epsilon * (1.0 - BOUNDS_SHARE)
        plans = _centred_sums(arr, -unit, unit, shares, rest, delta)
        bounds_event = _plan_bounds_event(arr, resolved, epsilon)
    else:
        plans = _centred_sums(arr, *resolved, shares, epsilon, delta)
        bounds_event = None
    event = composed([bounds_event] + [p.event for p in plans])
    charge_budgets(budget, event, f"skpriv.stats.{name}")
    lower, upper, _, rest = _resolve_private(arr, resolved, epsilon, rng)
    if bounds_event is not None:
        plans = _centred_sums(arr, lower, upper, shares, rest, delta)
    mean, var = _moments(arr, lower, upper, plans, rng)
    if which == "sum":
        out = mean * (arr.shape[0] * arr.shape[2])
    elif which == "mean":
        out = mean
    elif which == "var":
        out = var
    else:
        out = np.sqrt(var)
    return out.reshape(shape) if shape else float(out[0])


_MOMENT_DOC = """
    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        The data; each row is one individual's (the unit of privacy).
    epsilon : float, default=1.0
        Privacy budget of the whole release (all features together).
    bounds : tuple of (lower, upper), "private" or None, default=None
        Public bounds of the values: scalars or arrays of length
        ``n_features`` (with ``axis=0``). Values are clipped to them.
        ``"private"`` spends 20% of ``epsilon`` on private bounds (low and high
        quantiles on a public log-spaced grid, see :func:`quantile`: the 1st
        and 99th percentiles when rows and budget allow, nearer the middle,
        up to the quartiles, for few rows or a small budget);
        ``None`` takes them from the data and warns
        (:class:`~skpriv.exceptions.PrivacyLeakWarning`).
    axis : {None, 0}, default=None
        ``None``: one statistic of every value (a row contributes all its
        values); ``0``: one per column, vectorized.
    delta : float, default=0.0
        ``0`` adds Laplace noise (pure DP, budget split equally over the
        features); ``> 0`` adds Gaussian noise calibrated to ``(epsilon,
        delta)`` on the vector of features (L2), smaller for many features.
    random_state : int, numpy.random.Generator or None, default=None
        Source of the noise; ``None`` (the private default) uses the
        operating system's entropy. A fixed seed is for tests only.
    budget : PrivacyBudget, default=None
        Charged before anything is released; raises
        :class:`~skpriv.exceptions.BudgetExceededError` (and releases
        nothing) if the release does not fit. Budgets entered with
        ``with budget:`` are charged too.
"""


def _moment_doc(func):
    func.__doc__ = func.__doc__.replace("{params}", _MOMENT_DOC.strip("\n"))
    return func


@_moment_doc
def sum(
    X, epsilon=1.0, bounds=None, *, axis=None, delta=0.0, random_state=None, budget=None
):  # noqa: A001
    """Differentially private sum.

    The values are clipped to ``bounds`` and centred on the middle ``c`` of
    the bounds; the centred sum moves by at most half the width when a row is
    added or removed, and gets noise calibrated to that. The sum is ``n * c``
    plus the noisy centred sum (the number of rows ``n`` is public).

    {params}

    Returns
    -------
    sum : float or ndarray of shape (n_features,)
        The noisy sum (per column with ``axis=0``).

    See Also
    --------
    mean : The noisy sum divided by the public number of values.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).uniform(0, 1, size=10_000)
    >>> s = stats.sum(X, epsilon=1.0, bounds=(0, 1), random_state=0)
    >>> bool(abs(s - X.sum()) < 20)
    True
    """
    return _moment_statistic(
        X, epsilon, bounds, axis, delta, random_state, budget, "sum", "sum"
    )


@_moment_doc
def mean(
    X, epsilon=1.0, bounds=None, *, axis=None, delta=0.0, random_state=None, budget=None
):
    """Differentially private mean.

    ``c + S / n`` with ``S`` the noisy sum of the clipped values centred on
    the middle ``c`` of the bounds (sensitivity ``(upper - lower) / 2`` per
    row and feature) and ``n`` the public number of values; clamped into the
    bounds (post-processing).

    {params}

    Returns
    -------
    mean : float or ndarray of shape (n_features,)
        The noisy mean, within the bounds.

    See Also
    --------
    var : Variance, from the same centred sums.
    skpriv.preprocessing.DPStandardScaler : Means and variances of features.

    Notes
    -----
    Neighbouring data sets differ by one added or removed row; the number of
    rows is public (see the privacy model). Under replacement of a row the
    sensitivity doubles: halve ``epsilon``'s guarantee accordingly.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).uniform(0, 10, size=(10_000, 2))
    >>> stats.mean(X, epsilon=1.0, bounds=(0, 10), axis=0, random_state=0).round(1)
    array([5., 5.])
    """
    return _moment_statistic(
        X, epsilon, bounds, axis, delta, random_state, budget, "mean", "mean"
    )


@_moment_doc
def var(
    X, epsilon=1.0, bounds=None, *, axis=None, delta=0.0, random_state=None, budget=None
):
    """Differentially private variance (``ddof=0``).

    Two noisy centred sums, of ``x - c`` and of ``(x - c)**2 - w**2 / 8``
    (``w`` the width of the bounds, sensitivities ``w / 2`` and ``w**2 /
    8``), each with half of the budget; the variance follows by
    post-processing and is clamped into ``[0, w**2 / 4]``.

    {params}

    Returns
    -------
    var : float or ndarray of shape (n_features,)
        The noisy variance, within ``[0, (upper - lower)**2 / 4]``.

    See Also
    --------
    std : Its square root.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).normal(0, 2, size=100_000)
    >>> v = stats.var(X, epsilon=1.0, bounds=(-10, 10), random_state=0)
    >>> bool(abs(v - 4.0) < 0.1)
    True
    """
    return _moment_statistic(
        X, epsilon, bounds, axis, delta, random_state, budget, "var", "var"
    )


@_moment_doc
def std(
    X, epsilon=1.0, bounds=None, *, axis=None, delta=0.0, random_state=None, budget=None
):
    """Differentially private standard deviation: the root of :func:`var`.

    The variance is released by :func:`var` (same noise, same budget); the
    square root is post-processing.

    {params}

    Returns
    -------
    std : float or ndarray of shape (n_features,)
        The noisy standard deviation.

    See Also
    --------
    var : The variance it is the square root of.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).normal(0, 2, size=100_000)
    >>> s = stats.std(X, epsilon=1.0, bounds=(-10, 10), random_state=0)
    >>> bool(abs(s - 2.0) < 0.05)
    True
    """
    return _moment_statistic(
        X, epsilon, bounds, axis, delta, random_state, budget, "std", "std"
    )


# --------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------


def count(X, epsilon=1.0, *, axis=None, random_state=None, budget=None):
    """Differentially private count of the non-zero (or ``True``) values.

    Discrete Laplace noise (integers, no floating point): a row holding
    ``m`` values moves the counts by at most ``m`` in total, so the noise
    scale is ``m / epsilon`` (``m = n_features`` with ``axis=None`` or with
    ``axis=0``, where each column's count moves by at most one).

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        The data; booleans count ``True``.
    epsilon : float, default=1.0
        Privacy budget of the whole release.
    axis : {None, 0}, default=None
        ``None``: one count of all values; ``0``: one per column.
    random_state : int, numpy.random.Generator or None, default=None
        Source of the noise (``None``: operating-system entropy).
    budget : PrivacyBudget, default=None
        Charged before the release (see :func:`mean`).

    Returns
    -------
    count : int or ndarray of int64 of shape (n_features,)
        Noisy counts (can be negative when the true count is small).

    See Also
    --------
    histogram : Counts per bin.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.arange(1000) % 2
    >>> bool(abs(stats.count(X, epsilon=1.0, random_state=0) - 500) < 20)
    True
    """
    epsilon, _, rng = _check_common(epsilon, 0.0, random_state)
    arr, shape = _as_rows(X, axis, "count")
    sensitivity = arr.shape[1] * arr.shape[2]
    mech = DiscreteLaplace.from_epsilon(epsilon, sensitivity=sensitivity)
    charge_budgets(budget, mech.dp_event(sensitivity), "skpriv.stats.count")
    counts = np.count_nonzero(arr, axis=(0, 2))
    noisy = mech.randomise(counts, rng)
    return noisy.reshape(shape) if shape else int(noisy[0])


def histogram(
    X,
    epsilon=1.0,
    bins=10,
    range=None,
    *,
    density=False,
    random_state=None,
    budget=None,
):  # noqa: A002
    """Differentially private histogram of one-dimensional data.

    ``numpy.histogram``'s counts with discrete Laplace noise of scale ``1 /
    epsilon`` (a row falls in one bin: adding or removing it moves one count
    by one). Integer noise: no floating-point artefact.

    Parameters
    ----------
    X : array-like of shape (n_samples,)
        One value per row.
    epsilon : float, default=1.0
        Privacy budget of the release.
    bins : int or array-like, default=10
        Number of equal-width bins in ``range``, or the bin edges (public).
    range : (float, float), default=None
        Lower and upper edge with an int ``bins``. ``None`` with an int
        ``bins`` takes the data's min and max and warns
        (:class:`~skpriv.exceptions.PrivacyLeakWarning`).
    density : bool, default=False
        Return a density (noisy counts clamped at 0, normalised by their sum
        and the bin widths: post-processing).
    random_state : int, numpy.random.Generator or None, default=None
        Source of the noise (``None``: operating-system entropy).
    budget : PrivacyBudget, default=None
        Charged before the release (see :func:`mean`).

    Returns
    -------
    hist : ndarray
        Noisy counts (int64, can be negative) or density (float64).
    bin_edges : ndarray of float64
        The edges (public).

    See Also
    --------
    numpy.histogram : The non-private histogram.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).uniform(0, 1, 10_000)
    >>> hist, edges = stats.histogram(X, epsilon=1.0, bins=4, range=(0, 1), random_state=0)
    >>> edges
    array([0.  , 0.25, 0.5 , 0.75, 1.  ])
    >>> bool(np.all(np.abs(hist - 2500) < 150))
    True
    """
    epsilon, _, rng = _check_common(epsilon, 0.0, random_state)
    arr, _ = _as_rows(X, None, "histogram")
    if arr.shape[2] != 1:
        raise ValueError(
            "histogram: X must be 1-D (one value per row); use it on one column "
            "at a time."
        )
    values = arr.ravel()
    edges_given = not isinstance(bins, (int, np.integer)) or isinstance(bins, bool)
    if not edges_given and range is None:
        warnings.warn(
            "histogram: range=None takes the bin range from the data's min and "
            "max, which leaks information outside the differential privacy "
            "guarantee. Pass a public range=(lower, upper) or bin edges.",
            PrivacyLeakWarning,
            stacklevel=2,
        )
    if range is not None:
        lo, hi = range
        if not (isinstance(lo, Real) and isinstance(hi, Real)) or not (
            math.isfinite(lo) and math.isfinite(hi) and lo < hi
        ):
            raise ValueError(
                f"histogram: range must be (lower, upper) with finite lower < "
                f"upper; got {range!r}."
            )
    mech = DiscreteLaplace.from_epsilon(epsilon, sensitivity=1)
    charge_budgets(budget, mech.dp_event(1), "skpriv.stats.histogram")
    counts, edges = np.histogram(values, bins=bins, range=range)
    noisy = mech.randomise(counts, rng)
    if not density:
        return noisy, edges
    kept = np.maximum(noisy, 0).astype(np.float64)
    total = kept.sum()
    widths = np.diff(edges)
    dens = (
        kept / (total * widths)
        if total > 0
        else np.full(kept.shape, 1.0 / (edges[-1] - edges[0]))
    )
    return dens, edges


# --------------------------------------------------------------------------
# Quantiles
# --------------------------------------------------------------------------


def quantile(
    X,
    q,
    epsilon=1.0,
    bounds=None,
    *,
    axis=None,
    n_grid=N_GRID,
    random_state=None,
    budget=None,
):
    """Differentially private quantiles: the exponential mechanism (Smith 2011).

    For each feature and each quantile, the exponential mechanism picks a
    point of a public grid with probability proportional to ``exp(epsilon_i *
    u(c) / (2 * sensitivity))``, where ``u(c) = -|#{x < c} - q n|`` and the
    sensitivity is ``m * max(q, 1 - q)`` for rows of ``m`` values;
    ``epsilon`` is split equally over the features and quantiles. Sampling is
    the Gumbel-max form, in log space, vectorized over the grid.

    Parameters
    ----------
    X : array-like of shape (n_samples,) or (n_samples, n_features)
        The data; each row is one individual's.
    q : float or array-like of float
        Quantiles in [0, 1].
    epsilon : float, default=1.0
        Privacy budget of the whole release (all quantiles and features).
    bounds : tuple of (lower, upper), "private" or None, default=None
        The candidates are ``n_grid + 1`` equally spaced points of the public
        bounds (values outside count as the nearest bound). ``"private"``
        uses a public log-spaced grid from ``2**-20`` to ``2**40`` in
        magnitude, both signs, eight points per octave: no bounds needed and
        no extra budget, at a relative resolution of 9%. ``None`` takes the
        bounds from the data and warns.
    axis : {None, 0}, default=None
        ``None``: quantiles of all values; ``0``: of each column.
    n_grid : int, default=65536
        Intervals of the uniform grid (resolution ``(upper - lower) /
        n_grid``).
    random_state : int, numpy.random.Generator or None, default=None
        Source of randomness (``None``: operating-system entropy).
    budget : PrivacyBudget, default=None
        Charged before the release (see :func:`mean`).

    Returns
    -------
    quantile : float or ndarray
        Shape ``q.shape + (n_features,)`` with ``axis=0`` (as
        ``numpy.quantile``), ``q.shape`` with ``axis=None``.

    See Also
    --------
    numpy.quantile : The non-private quantiles.

    Notes
    -----
    The output is a grid point, computed from public values and the chosen
    index, so its low-order bits say nothing about the data. The remaining
    floating-point effect is on the *probabilities*: the scores are float64
    (relative rounding about ``2**-52``) and the Gumbel noise comes from a
    53-bit uniform, which moves each outcome's probability by a relative
    amount far below ``1e-9`` outside the Gumbel tail beyond ``2**-53``:
    stated, not proven away, like the grid of :mod:`skpriv.mechanisms`.

    References
    ----------
    .. [1] A. Smith, "Privacy-preserving statistical estimation with optimal
       convergence rates", STOC 2011.
    .. [2] F. McSherry, K. Talwar, "Mechanism design via differential
       privacy", FOCS 2007.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> X = np.random.default_rng(0).uniform(0, 100, size=10_000)
    >>> med = stats.quantile(X, 0.5, epsilon=1.0, bounds=(0, 100), random_state=0)
    >>> bool(abs(med - 50) < 2)
    True
    """
    epsilon, _, rng = _check_common(epsilon, 0.0, random_state)
    qs = np.asarray(q, dtype=np.float64)
    if qs.ndim > 1 or not np.all((qs >= 0) & (qs <= 1)):
        raise ValueError(
            f"quantile: q must be a float or a 1-D array in [0, 1]; got {q!r}."
        )
    if (
        not isinstance(n_grid, (int, np.integer))
        or isinstance(n_grid, bool)
        or n_grid < 1
    ):
        raise ValueError(
            f"quantile: n_grid must be a positive integer; got {n_grid!r}."
        )
    arr, shape = _as_rows(X, axis, "quantile")
    resolved = _bounds(bounds, arr, "quantile", stacklevel=3)
    d, m = arr.shape[1], arr.shape[2]
    flat_q = qs.ravel()
    each = epsilon / (flat_q.size * d)
    n_releases = flat_q.size * d
    event = em_event(each)
    if n_releases > 1:
        event = dp_accounting.SelfComposedDpEvent(event, n_releases)
    charge_budgets(budget, event, "skpriv.stats.quantile")
    out = np.empty((flat_q.size, d))
    for j in builtins.range(d):
        col = np.sort(arr[:, j, :].ravel())
        if isinstance(resolved, str):
            grid = log_grid()
        else:
            grid = uniform_grid(resolved[0][j], resolved[1][j], int(n_grid))
        out[:, j] = grid_quantiles(col, flat_q, grid, each, m, rng)
    if shape:
        return out.reshape(qs.shape + shape)
    return float(out[0, 0]) if qs.ndim == 0 else out[:, 0]
