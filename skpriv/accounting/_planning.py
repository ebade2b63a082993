"""Planning what a search's fits spent, from its candidates' parameters.

A search fits each candidate once per split, in worker processes whose
estimators are discarded; what they spent is planned from the parameters
and the training-fold sizes by the estimators' own plans
(``_planned_dp_event(n)``, the same plan ``fit`` records).
"""

import math
import warnings
from numbers import Real

import dp_accounting
import numpy as np
from sklearn.base import clone

from ..exceptions import PrivacyLeakWarning
from ._walk import (
    PRIVATE,
    SEARCH,
    _estimators_in,
    as_walkable,
    fitted_children,
    is_search,
    walk,
)

__all__ = [
    "collect_dp_events",
    "default_delta",
    "events_by_part",
    "planned_delta",
    "planned_events",
    "search_events",
]


def _planned_children(obj):
    """Unfitted sub-estimators given as parameters (for planning a search)."""
    for value in obj.get_params(deep=False).values():
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, tuple) and len(item) >= 2:
                    yield from (e for _, e in _estimators_in(item[1], ""))
                else:
                    yield from (e for _, e in _estimators_in(item, ""))
        else:
            yield from (e for _, e in _estimators_in(value, ""))


def planned_events(estimator, n_samples):
    """DP events that fitting ``estimator`` on ``n_samples`` rows would record."""
    if hasattr(estimator, "_planned_dp_event"):
        return [estimator._planned_dp_event(n_samples)]
    if is_search(estimator) or hasattr(estimator, "cv"):
        # A nested search: plan its inner estimator once per fit it will make.
        return _planned_search_events(estimator, n_samples)
    events = []
    for child in _planned_children(estimator):
        events.extend(planned_events(child, n_samples))
    return events


def _planned_search_events(search, n_samples):
    """Upper bound on what an unfitted (nested) search spends on ``n_samples``.

    Every candidate is fitted once per split of the inner splitter; the refit
    is bounded by all candidates' fits composed (it is one of them).
    """
    from sklearn.model_selection import (
        GridSearchCV,
        ParameterGrid,
        ParameterSampler,
        RandomizedSearchCV,
        check_cv,
    )

    name = type(search).__name__
    if isinstance(search, GridSearchCV):
        candidates = list(ParameterGrid(search.param_grid))
    elif isinstance(search, RandomizedSearchCV) and isinstance(
        search.random_state, (int, np.integer)
    ):
        candidates = list(
            ParameterSampler(
                search.param_distributions,
                search.n_iter,
                random_state=search.random_state,
            )
        )
    else:
        raise ValueError(
            f"privacy_spent cannot plan the fits of {name} nested in a search "
            f"(only GridSearchCV, and RandomizedSearchCV with an integer "
            f"random_state, are planned); compose the cost by hand."
        )
    n_splits = check_cv(search.cv).get_n_splits()
    n_inner = None
    if n_samples is not None:
        n_inner = int(n_samples) - math.ceil(int(n_samples) / n_splits)
    events, refit = [], []
    for params in candidates:
        candidate = clone(search.estimator).set_params(**params)
        planned = planned_events(candidate, n_inner)
        if planned:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.ComposedDpEvent(planned), n_splits
                )
            )
        refit.extend(planned_events(candidate, n_samples))
    if search.refit and refit:
        events.append(dp_accounting.ComposedDpEvent(refit))
    return events


def _n_samples_from(obj):
    """The training-set size recorded by any skpriv part of a fitted object."""
    n = getattr(obj, "dp_n_samples_", None)
    if n is not None:
        return n
    for _, child in fitted_children(obj):
        n = _n_samples_from(child)
        if n is not None:
            return n
    return None


def _smallest_training_fold(search, n_samples, n_splits):
    """Rows in the smallest training fold of ``search``'s splitter.

    It is the conservative size for subsampled mechanisms (the smaller the
    data, the larger the sampling rate). The splitter is run on ``n_samples``
    placeholder rows; for splitters that need the real ``y`` or groups it
    falls back to K-fold sizes. Returns ``(n_train, exact)``.
    """
    from sklearn.model_selection import check_cv

    cv = search.cv
    if n_splits * n_samples > 10**8:  # e.g. LeaveOneOut on many rows: too slow
        return n_samples - math.ceil(n_samples / n_splits), False
    try:
        splitter = check_cv(cv)
        sizes = [
            len(train)
            for train, _ in splitter.split(
                np.zeros((n_samples, 1)), np.zeros(n_samples)
            )
        ]
    except Exception:
        sizes = []
    if sizes:
        return min(sizes), True
    return n_samples - math.ceil(n_samples / n_splits), False


def _fitted_template(search):
    best = getattr(search, "best_estimator_", None)
    return best if best is not None else search.estimator


def search_events(search, n_samples):
    n_splits = int(search.n_splits_)
    if (
        n_samples is None
        and getattr(search, "refit", False)
        and hasattr(search, "best_estimator_")
    ):
        n_samples = _n_samples_from(search.best_estimator_)
    n_train, exact = None, True
    if n_samples is not None:
        n_train, exact = _smallest_training_fold(search, int(n_samples), n_splits)
    # Successive halving fits each candidate on a budget of resources
    # (rows, or the value of a parameter) that grows with the iterations.
    resource = getattr(search, "resource", None)
    n_resources = search.cv_results_.get("n_resources") if resource else None
    # Candidates are planned from what was fitted: the refitted best
    # estimator carries the template's parameters as they were at fit time
    # (``search.estimator`` may have been changed since).
    template = _fitted_template(search)
    events = []
    for i, params in enumerate(search.cv_results_["params"]):
        candidate = clone(template).set_params(**params)
        n_fit = n_train
        if n_resources is not None and resource == "n_samples":
            n_fit, _ = _smallest_training_fold(search, int(n_resources[i]), n_splits)
        elif n_resources is not None:
            candidate.set_params(**{resource: int(n_resources[i])})
        planned = planned_events(candidate, n_fit)
        if not exact and planned != planned_events(candidate, max(1, n_fit // 2)):
            exact = True  # warn once
            warnings.warn(
                f"privacy_spent could not run the splitter {search.cv!r} of "
                f"{type(search).__name__} without its data (groups or labels); "
                f"its training folds are taken as K-fold's ({n_train} rows). "
                f"Subsampled mechanisms trained on fewer rows spent more than "
                f"reported.",
                PrivacyLeakWarning,
                stacklevel=4,
            )
        if planned:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.ComposedDpEvent(planned), n_splits
                )
            )
    if getattr(search, "refit", False) and hasattr(search, "best_estimator_"):
        refit_events = collect_dp_events(search.best_estimator_)
        best = clone(template).set_params(**search.best_params_)
        n_planned = len(planned_events(best, n_train))
        if len(refit_events) > n_planned:
            # A meta-estimator fitted its DP estimators several times
            # (bagging, one-vs-rest, stacking): one plan per template misses it.
            warnings.warn(
                f"privacy_spent: the refitted best estimator of "
                f"{type(search).__name__} recorded {len(refit_events)} DP fits "
                f"where its parameters plan {n_planned}; a meta-estimator in it "
                f"fits its estimators several times, so the fits made in the "
                f"search's folds are under-counted. Use a search whose private "
                f"estimators are fitted once per fold, or compose the cost by "
                f"hand.",
                PrivacyLeakWarning,
                stacklevel=4,
            )
        events.extend(refit_events)
    return events


def collect_dp_events(obj, n_samples=None):
    """List every DP event recorded by a fitted object and its parts.

    Walks ``obj`` and its fitted parts (pipeline steps, column transformers,
    attributes ending in ``_`` that hold estimators) and returns each
    ``dp_event_`` found. A skpriv meta-estimator's event already includes its
    children's, so its children are not visited. For a search, every
    candidate's fits are planned from its parameters (once per split) and the
    refitted best estimator's events are added.

    Parameters
    ----------
    obj : estimator
        A fitted estimator, Pipeline, ColumnTransformer, FeatureUnion,
        meta-estimator or search.
    n_samples : int, default=None
        Size of the data a search was fitted on (see :func:`privacy_spent`).

    Returns
    -------
    events : list of dp_accounting.DpEvent
        The events, in the order the parts were visited; empty when nothing
        private was fitted.

    See Also
    --------
    privacy_spent : Compose these events into ``(epsilon, delta)``.
    make_accountant : Accountant to compose them by hand.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from skpriv.accounting import collect_dp_events
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> X = [[0.0, 1.0], [0.5, 0.2], [1.0, 0.0]]
    >>> pipe = make_pipeline(
    ...     LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)
    ... ).fit(X)
    >>> collect_dp_events(pipe)
    [SelfComposedDpEvent(event=LaplaceDpEvent(noise_multiplier=2.0), count=2)]
    """
    return [event for _, event in events_by_part(as_walkable(obj), n_samples)]


def events_by_part(obj, n_samples=None):
    """``(path, event)`` for every DP event of fitted ``obj``, in walk order."""
    out = []
    for part in walk(obj):
        where = part.path or type(part.est).__name__
        if part.role == SEARCH:
            out.extend((where, e) for e in search_events(part.est, n_samples))
        elif part.role == PRIVATE:
            out.append((where, part.est.dp_event_))
    return out


def _delta_param(est) -> float:
    """``est``'s ``delta`` parameter as a float (0 if it has none)."""
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    d = params.get("delta")
    if isinstance(d, Real) and not isinstance(d, (bool, np.bool_)):
        return float(d)
    return 0.0


def planned_delta(estimator) -> float:
    """Sum of the ``delta`` parameters of the private parts of an unfitted object."""
    if hasattr(estimator, "_planned_dp_event"):
        return _delta_param(estimator)
    return sum(planned_delta(child) for child in _planned_children(estimator))


def default_delta(obj) -> float:
    """Sum of the ``delta`` parameters of the private parts (0 if all pure)."""
    total = 0.0
    for part in walk(obj):
        if part.role == PRIVATE:
            total += _delta_param(part.est)
        elif part.role == SEARCH:
            search = part.est
            if hasattr(search, "best_estimator_"):
                total += default_delta(search.best_estimator_)
            else:  # refit=False: the candidates' parameters tell
                total += max(
                    planned_delta(clone(search.estimator).set_params(**params))
                    for params in search.cv_results_["params"]
                )
    return min(total, 0.5)
