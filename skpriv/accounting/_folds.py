"""Cross-validation folds under neighbouring data sets, and group privacy.

A fit on a fold sees a training set that one row added to the whole data set
changes by ``g`` rows (:func:`fold_shift`); its event is charged for ``g``
rows (:func:`group_event`) where the event allows it exactly.
"""

import math
from numbers import Integral

import dp_accounting
import numpy as np

__all__ = ["fold_counts", "fold_membership", "fold_shift", "group_event"]


# --------------------------------------------------------------------------
# Group privacy: one event charged for g rows
# --------------------------------------------------------------------------


def group_event(event, g: int):
    """``event`` charged for ``g`` rows changed at once, or None if not exact.

    Laplace, Gaussian and discrete Laplace events scale their sensitivity by
    ``g`` (a sum over ``g`` rows moves by at most ``g`` sensitivities);
    randomized response becomes binary randomized response at ``g`` times its
    pure epsilon (which dominates every ``g * epsilon``-DP mechanism);
    compositions are charged part by part. Subsampled and other events have
    no exact group bound here: None.
    """
    if g == 1 or isinstance(event, dp_accounting.NoOpDpEvent):
        return event
    if isinstance(event, dp_accounting.NonPrivateDpEvent):
        return event
    if isinstance(event, dp_accounting.LaplaceDpEvent):
        return dp_accounting.LaplaceDpEvent(event.noise_multiplier / g)
    if isinstance(event, dp_accounting.GaussianDpEvent):
        return dp_accounting.GaussianDpEvent(event.noise_multiplier / g)
    if isinstance(event, dp_accounting.dp_event.DiscreteLaplaceDpEvent):
        return dp_accounting.dp_event.DiscreteLaplaceDpEvent(
            event.noise_parameter, event.sensitivity * g
        )
    if isinstance(event, dp_accounting.RandomizedResponseDpEvent):
        from ._accountants import pure_epsilon

        eps = g * pure_epsilon(event)
        p = 0.0 if math.isinf(eps) else 2.0 / (math.exp(min(eps, 700.0)) + 1.0)
        return dp_accounting.RandomizedResponseDpEvent(p, 2)
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        inner = group_event(event.event, g)
        return (
            None
            if inner is None
            else dp_accounting.SelfComposedDpEvent(inner, event.count)
        )
    if isinstance(event, dp_accounting.ComposedDpEvent):
        parts = [group_event(e, g) for e in event.events]
        return (
            None
            if any(p is None for p in parts)
            else dp_accounting.ComposedDpEvent(parts)
        )
    return None


_UNSTABLE = (
    "{name} folds: adding one row can move many rows between folds, so no "
    "per-fit DP event bounds the fold fits; use "
    "skpriv.model_selection.StableKFold"
)


def fold_shift(cv, estimator=None):
    """Rows by which a split's training set can change when one row is added.

    ``g`` bounds, for every split, the symmetric difference between its
    training set on a data set and on the same data with one row added (or
    removed); group privacy of ``g`` rows then bounds each fit on it.
    Returns ``(g, reason)``, ``g`` None when the splitter gives no bound. A
    splitter declares its own bound in ``_privacy_fold_shift`` (skpriv's
    ``StableKFold``: 1); an integer ``cv`` is ``StratifiedKFold`` for
    classifiers and ``KFold`` otherwise.
    """
    from sklearn.base import is_classifier
    from sklearn.model_selection import KFold

    if cv is None or (isinstance(cv, Integral) and not isinstance(cv, bool)):
        if estimator is not None and is_classifier(estimator):
            return None, _UNSTABLE.format(name="StratifiedKFold (cv=int)")
        cv = KFold(5 if cv is None else int(cv))
    declared = getattr(cv, "_privacy_fold_shift", None)
    if declared is not None:
        return int(declared), f"{type(cv).__name__}: {declared} row per fold"
    if type(cv) is KFold and not cv.shuffle:
        # Test folds are contiguous blocks: an added row moves each block's
        # two boundaries by at most one row, so a training set gains or loses
        # at most two other rows besides the added one (one boundary when
        # there are two folds); tests/accounting/test_folds.py enumerates it.
        g = 2 if cv.get_n_splits() == 2 else 3
        return g, f"KFold without shuffle: up to {g} rows per training fold"
    return None, _UNSTABLE.format(name=type(cv).__name__)


def fold_membership(cv, n_splits):
    """Most training and test folds one row is in, without running ``cv``."""
    from sklearn.model_selection._split import _BaseKFold

    if (
        cv is None
        or isinstance(cv, (Integral, _BaseKFold))
        or hasattr(cv, "_privacy_fold_shift")
    ):
        return n_splits - 1, 1  # the test folds partition the rows
    return n_splits, n_splits


def fold_counts(cv, n_samples, n_splits):
    """Run ``cv`` on ``n_samples`` placeholder rows.

    Returns ``(smallest training fold, per-row training-fold counts, per-row
    test-fold counts)``, or None for splitters that need the real data (the
    labels, groups, or the rows' values).
    """
    from sklearn.model_selection import check_cv

    if n_splits * n_samples > 10**8:  # e.g. LeaveOneOut on many rows: too slow
        return None
    n_train = np.zeros(n_samples, dtype=np.int64)
    n_test = np.zeros(n_samples, dtype=np.int64)
    sizes = []
    try:
        for train, test in check_cv(cv).split(
            np.zeros((n_samples, 1)), np.zeros(n_samples)
        ):
            n_train[train] += 1
            n_test[test] += 1
            sizes.append(len(train))
    except Exception:
        return None
    return (min(sizes), n_train, n_test) if sizes else None
