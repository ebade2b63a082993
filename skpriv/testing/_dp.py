"""Empirical DP checks for CI: ``check_dp`` and ``assert_privacy_spent``."""

import time
import warnings
from dataclasses import dataclass

import numpy as np
from joblib import hash as joblib_hash
from sklearn.base import clone, is_classifier

from ..audit._membership import _threshold_epsilons
from ..utils._random import check_random_state

__all__ = ["DPCheckResult", "assert_privacy_spent", "check_dp"]

#: Entries of one released array turned into statistics (evenly spaced).
_MAX_ENTRIES = 64
#: Candidate thresholds per statistic (quantiles of the selection half).
_N_THRESHOLDS = 32
#: The common rows are scaled this far beyond the data's range: a correct
#: estimator clips them to its bounds (the worst case it is calibrated for),
#: one that ignores its bounds shows the row.
_FAR = 10.0


@dataclass(frozen=True)
class DPCheckResult:
    """What :func:`check_dp` measured.

    A frozen dataclass returned by :func:`check_dp` when the check passes;
    each parameter is a read-only attribute of the same name.

    Parameters
    ----------
    epsilon_lower_bound : float
        Epsilon the estimator must at least spend, with probability at least
        ``1 - false_failure``.
    epsilon : float
        The claimed epsilon the bound was compared with.
    delta : float
        The claimed delta (subtracted from the true positive rates).
    statistic : str
        The statistic behind the bound (``"<release>[<entry>]"``, ``"sum"``
        or ``"user"``), chosen on the selection half of the runs.
    tpr, fpr : float
        Rates of the test "statistic beyond the threshold" on the evaluation
        halves of the runs fitted on the second and on the first data set.
    n_runs : int
        Randomized runs made (half on each neighbouring data set).
    max_detectable_epsilon : float
        The largest bound these many runs can certify (perfect separation):
        leaks beyond it read as this value. Raise ``n_runs`` to see further.
    seconds : float
        Wall time of the check.

    See Also
    --------
    check_dp : The check that returns it.

    Examples
    --------
    >>> from skpriv.testing import DPCheckResult
    >>> res = DPCheckResult(0.0, 1.0, 0.0, "sum", 0.5, 0.5, 200, 2.1, 0.1)
    >>> res.epsilon_lower_bound <= res.epsilon
    True
    """

    epsilon_lower_bound: float
    epsilon: float
    delta: float
    statistic: str
    tpr: float
    fpr: float
    n_runs: int
    max_detectable_epsilon: float
    seconds: float


# ---------------------------------------------------------------- data sets


def _as_2d_float(X):
    X = np.asarray(X)
    return X.reshape(-1, 1) if X.ndim == 1 else X


def _default_data(estimator, rng):
    """40 rows of 2 features in the estimator's bounds (or [0, 1])."""
    lo, hi = 0.0, 1.0
    bounds = _param(estimator, "bounds")
    if isinstance(bounds, tuple) and len(bounds) == 2:
        lo, hi = np.asarray(bounds[0], float), np.asarray(bounds[1], float)
    if _categorical(estimator):
        X = rng.integers(0, 4, size=(40, 2))
    else:
        X = lo + (hi - lo) * rng.random((40, 2))
    y = None
    if _is_classifier(estimator):
        y = np.arange(40) % 2
    elif _needs_y(estimator):
        y = X @ np.array([1.0, -1.0]) + 0.1 * rng.standard_normal(40)
    return X, y


def _is_classifier(estimator):
    return hasattr(estimator, "fit") and is_classifier(estimator)


def _categorical(estimator):
    """Whether the estimator reads categories (randomized response, encoders)."""
    return hasattr(estimator, "get_params") and "categories" in estimator.get_params(
        deep=False
    )


def _param(estimator, name):
    if hasattr(estimator, "get_params"):
        return estimator.get_params(deep=False).get(name)
    return None


def _needs_y(estimator):
    return hasattr(estimator, "predict") and not hasattr(estimator, "transform")


def _extreme_rows(estimator, X, y):
    """``(x_lo, x_hi, y_lo, y_hi)``: two rows as far apart as possible.

    Numeric rows lie ``_FAR`` spans beyond the declared bounds (or norm, or
    the data's range); text rows take, in each column, values from the first
    and from the last distinct value.
    """
    if hasattr(X, "iloc"):
        first, last = X.iloc[[0]].copy(), X.iloc[[-1]].copy()
        for col in X.columns:
            values = X[col].dropna().unique()
            if len(values) and np.issubdtype(np.asarray(values).dtype, np.number):
                span = float(np.ptp(values)) or 1.0
                first[col] = values.min() - _FAR * span
                last[col] = values.max() + _FAR * span
            elif len(values) > 1:
                first[col], last[col] = values[0], values[-1]
        x_lo, x_hi = first, last
    else:
        X = np.asarray(X)
        if np.issubdtype(X.dtype, np.number) and not _categorical(estimator):
            lo, hi = X.min(0).astype(float), X.max(0).astype(float)
            bounds = _param(estimator, "bounds")
            norm = _param(estimator, "data_norm")
            if isinstance(bounds, tuple) and len(bounds) == 2:
                lo = np.broadcast_to(np.asarray(bounds[0], float), lo.shape)
                hi = np.broadcast_to(np.asarray(bounds[1], float), hi.shape)
            elif isinstance(norm, int | float) and not isinstance(norm, bool):
                lo = np.full(lo.shape, -norm / np.sqrt(lo.size))
                hi = np.full(hi.shape, norm / np.sqrt(hi.size))
            span = np.maximum(hi - lo, 1.0)
            x_lo = (lo - _FAR * span)[None].astype(np.result_type(X.dtype, float))
            x_hi = (hi + _FAR * span)[None].astype(x_lo.dtype)
        else:
            x_lo, x_hi = X[:1].copy(), X[:1].copy()
            for j in range(X.shape[1]):
                values = np.unique(X[:, j])
                x_lo[0, j], x_hi[0, j] = values[0], values[-1]
    if y is None:
        return x_lo, x_hi, None, None
    y = np.asarray(y)
    if _is_classifier(estimator) or not np.issubdtype(y.dtype, np.number):
        labels = np.unique(y[y != -1]) if np.issubdtype(y.dtype, np.number) else y
        labels = np.unique(labels)
        return x_lo, x_hi, labels[:1], labels[-1:]
    span = float(np.ptp(y)) or 1.0
    return (
        x_lo,
        x_hi,
        np.array([y.min() - _FAR * span]),
        np.array([y.max() + _FAR * span]),
    )


def _concat(a, b):
    if a is None:
        return None
    if hasattr(a, "iloc"):
        import pandas as pd

        return pd.concat([a, b], ignore_index=True)
    return np.concatenate([np.asarray(a), np.asarray(b).astype(np.asarray(a).dtype)])


def _replace_first(a, row):
    if a is None:
        return None
    if hasattr(a, "iloc"):
        import pandas as pd

        return pd.concat([row, a.iloc[1:]], ignore_index=True)
    return np.concatenate(
        [np.asarray(row).astype(np.asarray(a).dtype), np.asarray(a)[1:]]
    )


def _neighbouring_worlds(estimator, X, y, neighbours):
    """The two data sets and the row each world holds ``[(X, y, x_row, y_row)]``."""
    x_lo, x_hi, y_lo, y_hi = _extreme_rows(estimator, X, y)
    if neighbours == "add_remove":
        return [(X, y, x_lo, y_lo), (_concat(X, x_hi), _concat(y, y_hi), x_hi, y_hi)]
    return [
        (_replace_first(X, x_lo), _replace_first(y, y_lo), x_lo, y_lo),
        (_replace_first(X, x_hi), _replace_first(y, y_hi), x_hi, y_hi),
    ]


# ---------------------------------------------------------------- releases


def _fingerprint(value):
    try:
        return joblib_hash(value)
    except Exception:  # objects joblib cannot pickle
        return repr(value)


def _released_attributes(est):
    """Fitted attributes under test: declared DP output or not declared at all.

    Declared public ones (the row count, given bounds) and declared
    not-covered ones (which :func:`assert_privacy_spent` reports) are left out.
    """
    from ..base import _COMMON_RELEASES, DP, fitted_attributes, release_kinds

    kinds = release_kinds(est) or {}
    out = []
    for attr in fitted_attributes(est):
        if attr in _COMMON_RELEASES:
            continue
        kind = kinds.get(attr, (DP, ""))[0]
        if kind == DP:
            out.append(attr)
    return out


def _release(estimator, world, probe, seed, statistic):
    """One randomized run on one world: ``{release name: value}``."""
    X, y, x_row, y_row = world
    if not hasattr(estimator, "fit"):  # a mechanism: f(X, y, random_state)
        out = estimator(X, y, seed)
        return {"output": out if statistic is None else statistic(out)}
    from ..accounting._walk import releases_private_output

    est = clone(estimator)
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y) if y is not None else est.fit(X)
        if statistic is not None:
            return {"user": statistic(est)}
        releases = {a: getattr(est, a) for a in _released_attributes(est)}
        if releases_private_output(est) and hasattr(est, "transform"):
            # Local DP: each transform call releases the rows it is given; the
            # two worlds' differing rows are released one each.
            releases["transform(row)"] = est.transform(x_row)
        else:
            for method in (
                "transform",
                "predict_proba",
                "decision_function",
                "predict",
            ):
                if hasattr(est, method):
                    try:
                        releases[f"{method}(probe)"] = getattr(est, method)(probe)
                    except Exception:  # a method the fitted object cannot run
                        continue
    return releases


def _numeric(value):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr


def _statistics(runs, n0):
    """``(names, matrix)``: one column per one-number statistic of the runs."""
    names, columns = [], []
    keys = sorted(set().union(*runs))
    for key in keys:
        values = [r.get(key) for r in runs]
        arrays = [_numeric(v) for v in values]
        if all(a is not None for a in arrays):
            shapes = {a.shape for a in arrays}
            if len(shapes) == 1:
                flat = np.stack([a.ravel() for a in arrays])
                idx = np.unique(
                    np.linspace(0, flat.shape[1] - 1, _MAX_ENTRIES).astype(int)
                )
                if flat.shape[1] == 0:
                    continue
                for i in idx:
                    names.append(f"{key}[{i}]" if flat.shape[1] > 1 else key)
                    columns.append(flat[:, i])
                if flat.shape[1] > 1:
                    names.append(f"sum({key})")
                    columns.append(flat.sum(1))
                continue
            names.append(f"size({key})")
            columns.append(np.array([a.size for a in arrays], dtype=float))
            continue
        # Anything else: whether it equals each of the first world's commonest
        # values (a deterministic difference shows as a perfect split).
        prints = np.array([_fingerprint(v) for v in values])
        common, counts = np.unique(prints[:n0], return_counts=True)
        for value in common[np.argsort(-counts)][:3]:
            names.append(f"{key}=={value[:8]}")
            columns.append((prints == value).astype(float))
    if not columns:
        return [], np.empty((len(runs), 0))
    stats = np.column_stack(columns)
    return names, np.nan_to_num(stats, nan=0.0, posinf=1e300, neginf=-1e300)


def _best_test(s0, s1, delta, alpha):
    """``(bound, threshold, sign)`` of the best "sign * s >= t" test."""
    best = (-1.0, 0.0, 1.0, -1.0)
    for sign in (1.0, -1.0):
        a, b = np.sort(sign * s1), np.sort(sign * s0)
        pooled = np.r_[a, b]
        thresholds = np.unique(
            np.quantile(pooled, np.linspace(0, 1, _N_THRESHOLDS + 2))
        )
        eps, tp, fp = _threshold_epsilons(a, b, thresholds, delta, alpha)
        adv = tp / a.size - fp / b.size
        key = np.lexsort((adv, eps))[-1]
        if (eps[key], adv[key]) > (best[0], best[3]):
            best = (float(eps[key]), float(thresholds[key]), sign, float(adv[key]))
    return best[:3]


# ---------------------------------------------------------------- check_dp


def _claimed(estimator, world, epsilon, delta, seed):
    if epsilon is not None:
        return float(epsilon), float(delta or 0.0)
    if not hasattr(estimator, "fit"):
        raise ValueError(
            "check_dp needs epsilon= for a mechanism given as a function; "
            "only fitted estimators report their own epsilon."
        )
    from ..accounting import privacy_spent

    est = clone(estimator)
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=seed)
    X, y = world[0], world[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y) if y is not None else est.fit(X)
        spent = privacy_spent(est, delta=delta)
    return float(spent.epsilon), float(spent.delta)


def check_dp(
    estimator,
    X=None,
    y=None,
    *,
    epsilon=None,
    delta=None,
    neighbours="add_remove",
    n_runs=1000,
    false_failure=1e-6,
    statistic=None,
    random_state=None,
    verbose=0,
):
    """Assert that an estimator's releases are no less private than it claims.

    Builds two neighbouring data sets from ``X`` (one row apart; the row lies
    far beyond the bounds the estimator declares, or beyond the data, so a
    correct estimator clips it to its worst case and one that ignores its
    bounds shows it), fits ``n_runs / 2`` independently seeded clones on each,
    and turns every release into one-number statistics: each DP or
    undeclared fitted attribute (entries and their sum), the outputs of
    ``transform`` / ``predict_proba`` / ``decision_function`` / ``predict``
    on fixed public rows, and, for local-DP transformers (noise, randomized
    response), the transform of the differing row itself. On a random half
    of the runs it picks the statistic and threshold that best tell the two
    data sets apart; on the other half, one-sided Clopper-Pearson intervals
    (``false_failure / 2`` each) bound its true and false positive rates,
    giving an epsilon that any ``(epsilon, delta)``-DP estimator exceeds with
    probability at most ``false_failure`` (Kairouz et al. 2015; the split
    keeps the choice from inflating the bound).

    Parameters
    ----------
    estimator : estimator or callable
        An unfitted estimator or transformer (cloned for every run), or a
        mechanism ``f(X, y, random_state) -> output`` (then ``epsilon`` is
        required).
    X : array-like of shape (n_samples, n_features), default=None
        Base data set; default: 40 rows of 2 features in the estimator's
        ``bounds`` (or [0, 1]), with binary labels for classifiers.
    y : array-like of shape (n_samples,), default=None
        Targets, if the estimator needs them.
    epsilon : float, default=None
        The claim. ``None`` reads it from a fitted clone through the privacy
        contract (:func:`~skpriv.accounting.privacy_spent`).
    delta : float, default=None
        The claimed delta; ``None`` reads it with ``epsilon`` (0 for a
        mechanism).
    neighbours : {"add_remove", "replace"}, default="add_remove"
        ``"add_remove"``: the second data set has one extra row;
        ``"replace"``: the first row is swapped for the far row.
    n_runs : int, default=1000
        Randomized fits in all (half per data set, half of those to choose
        the statistic). The cost is ``n_runs + 1`` fits. The largest epsilon
        it can certify is about ``log(n_runs / (4 log(2 / false_failure)))``
        (``result.max_detectable_epsilon``): 2000 runs see leaks up to about
        3.6, 1000 up to about 2.9.
    false_failure : float, default=1e-6
        Probability that the check fails a correct estimator.
    statistic : callable, default=None
        ``statistic(fitted_estimator) -> float or array`` (for a mechanism:
        of its output) replacing the built-in statistics.
    random_state : int, numpy.random.Generator or None, default=None
        Seeds the runs and the split; an int makes the check reproducible.
    verbose : int, default=0
        Print progress every tenth of the runs when positive.

    Returns
    -------
    result : DPCheckResult
        The certified lower bound, the statistic and rates behind it and the
        cost, when the check passes.

    Raises
    ------
    AssertionError
        When the certified lower bound exceeds the claimed epsilon; the
        message names the statistic and the bound.

    See Also
    --------
    assert_privacy_spent : The accounted spend within a budget, nothing
        uncovered.
    skpriv.audit.canary_audit : One-run audit of a whole training run.

    References
    ----------
    .. [1] P. Kairouz, S. Oh, P. Viswanath, "The composition theorem for
       differential privacy", ICML 2015.
    .. [2] Z. Ding, Y. Wang, G. Wang, D. Zhang, D. Kifer, "Detecting
       violations of differential privacy", CCS 2018.

    Examples
    --------
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> from skpriv.testing import check_dp
    >>> result = check_dp(LaplaceNoise(epsilon=1.0, bounds=(0, 1)),
    ...                   n_runs=400, random_state=0)
    >>> result.epsilon_lower_bound <= result.epsilon
    True
    """
    start = time.perf_counter()
    if neighbours not in ("add_remove", "replace"):
        raise ValueError(
            f"neighbours must be 'add_remove' or 'replace'; got {neighbours!r}."
        )
    if (
        isinstance(n_runs, bool)
        or not isinstance(n_runs, int | np.integer)
        or n_runs < 8
    ):
        raise ValueError(f"n_runs must be an integer >= 8; got {n_runs!r}.")
    if not (isinstance(false_failure, float | int) and 0 < false_failure < 1):
        raise ValueError(f"false_failure must lie in (0, 1); got {false_failure!r}.")
    if epsilon is not None and not (
        isinstance(epsilon, float | int) and epsilon >= 0 and not np.isnan(epsilon)
    ):
        raise ValueError(f"epsilon must be a number >= 0; got {epsilon!r}.")
    if statistic is not None and not callable(statistic):
        raise ValueError(f"statistic must be a callable or None; got {statistic!r}.")
    rng = check_random_state(random_state)
    if X is None:
        X, y = _default_data(estimator, rng)
    worlds = _neighbouring_worlds(estimator, X, y, neighbours)
    probe = X.iloc[:20] if hasattr(X, "iloc") else np.asarray(X)[:20]
    seeds = rng.integers(0, 2**31 - 1, size=n_runs + 1)
    claimed_eps, claimed_delta = _claimed(
        estimator, worlds[0], epsilon, delta, int(seeds[-1])
    )
    half = n_runs // 2
    runs = []
    for b, world in enumerate(worlds):
        for i in range(half):
            runs.append(
                _release(estimator, world, probe, int(seeds[b * half + i]), statistic)
            )
            done = b * half + i + 1
            if verbose > 0 and done % max(1, n_runs // 10) == 0:
                print(
                    f"check_dp: {done}/{2 * half} runs, {time.perf_counter() - start:.1f} s"
                )
    labels = np.r_[np.zeros(half, bool), np.ones(half, bool)]
    # The split is drawn before the statistics are made, so that none of
    # them (the commonest-value indicators included) sees the evaluation half.
    select = np.zeros(2 * half, bool)
    for b in (0, 1):
        idx = np.flatnonzero(labels == b)
        select[rng.choice(idx, size=idx.size // 2, replace=False)] = True
    order = np.r_[np.flatnonzero(select & ~labels), np.flatnonzero(~select | labels)]
    names, stats = _statistics([runs[i] for i in order], int((select & ~labels).sum()))
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    stats = stats[inverse]
    alpha = false_failure / 2.0
    best = (-1.0, "none", 0.0, 1.0)
    for j, name in enumerate(names):
        s = stats[:, j]
        bound, threshold, sign = _best_test(
            s[select & ~labels], s[select & labels], claimed_delta, alpha
        )
        if bound > best[0]:
            best = (bound, name, threshold, sign)
    _, name, threshold, sign = best
    e0, e1 = ~select & ~labels, ~select & labels
    if names:
        s = sign * stats[:, names.index(name)]
        a, b = np.sort(s[e1]), np.sort(s[e0])
        eps, tp, fp = _threshold_epsilons(
            a, b, np.array([threshold]), claimed_delta, alpha
        )
        bound, tpr, fpr = float(eps[0]), float(tp[0] / a.size), float(fp[0] / b.size)
    else:
        bound, tpr, fpr = 0.0, 0.0, 0.0
    n1, n0 = int(e1.sum()), int(e0.sum())
    top, _, _ = _threshold_epsilons(
        np.ones(n1), np.zeros(n0), np.array([0.5]), claimed_delta, alpha
    )
    result = DPCheckResult(
        epsilon_lower_bound=bound,
        epsilon=claimed_eps,
        delta=claimed_delta,
        statistic=name,
        tpr=tpr,
        fpr=fpr,
        n_runs=2 * half,
        max_detectable_epsilon=float(top[0]),
        seconds=time.perf_counter() - start,
    )
    if bound > claimed_eps:
        label = getattr(estimator, "__name__", type(estimator).__name__)
        raise AssertionError(
            f"{label} is less private than claimed: statistic {name!r} certifies "
            f"epsilon >= {bound:.3f} (with probability >= 1 - {false_failure:g}), "
            f"above the claimed epsilon = {claimed_eps:.3f} at delta = "
            f"{claimed_delta:.3g}. On {n1} + {n0} held-out runs the test "
            f"'{'+' if sign > 0 else '-'}statistic >= {threshold:.4g}' fired in "
            f"{tpr:.1%} of runs on the data set with the {neighbours} row and "
            f"{fpr:.1%} without it."
        )
    return result


def assert_privacy_spent(obj, epsilon, delta=None):
    """Assert that a fitted object spent at most ``epsilon`` and hid nothing.

    Composes every DP event the fitted object recorded (pipelines, searches
    and meta-estimators included) with :func:`~skpriv.accounting.privacy_spent`
    in strict mode: any release outside the guarantee (an undeclared fitted
    attribute, bounds read from the data, a search's exact scores) fails,
    as does a composed epsilon above the budget.

    Parameters
    ----------
    obj : fitted estimator, list of estimators or dict
        What :func:`~skpriv.accounting.privacy_spent` accepts.
    epsilon : float
        The budget.
    delta : float, default=None
        The delta at which the spend is computed; ``None`` uses the sum of
        the parts' ``delta`` parameters.

    Returns
    -------
    spent : PrivacySpent
        The composed ``(epsilon, delta)``, when within the budget.

    Raises
    ------
    AssertionError
        When the spend exceeds ``epsilon`` or a release is not covered; the
        message holds the per-part summary.

    See Also
    --------
    check_dp : Empirical check that the claim is not an underestimate.
    skpriv.accounting.privacy_spent : The composed spend.

    Examples
    --------
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> from skpriv.testing import assert_privacy_spent
    >>> noise = LaplaceNoise(epsilon=0.5, bounds=(0, 1)).fit([[0.2], [0.7]])
    >>> assert_privacy_spent(noise, epsilon=1.0)
    PrivacySpent(epsilon=0.5, delta=0.0)
    """
    from ..accounting import privacy_spent
    from ..exceptions import UncoveredReleaseError

    try:
        spent = privacy_spent(obj, delta=delta, strict=True)
    except UncoveredReleaseError as exc:
        raise AssertionError(f"releases not covered by privacy_spent: {exc}") from None
    if not spent.epsilon <= epsilon:
        raise AssertionError(
            f"privacy spent epsilon = {spent.epsilon:.4g} (delta = "
            f"{spent.delta:.3g}) exceeds the budget epsilon = {epsilon:g}:\n"
            f"{spent.summary()}"
        )
    return spent
