"""Planning what fits nobody kept spent: searches' folds, meta-estimators' refits.

A search fits each candidate once per split, in worker processes whose
estimators are discarded; a meta-estimator such as ``RFE`` or
``SelfTrainingClassifier`` fits its estimator several times and keeps the
last fit. What those fits spent is planned from the parameters by the
estimators' own plans (``_planned_dp_event(n)``, the same plan ``fit``
records), counted as the search and the meta-estimator really run them:

- a local-DP transformer (``_releases_private_output``) releases its rows
  again at every ``transform``: in a search each row is charged for the
  training fits, the scoring of its test fold and of its training folds
  (``return_train_score``), once per estimator call the scorers make;
- a fit on a cross-validation fold sees a training set that one added row
  changes by ``g`` rows (:func:`fold_shift`): its event is
  charged for ``g`` rows (group privacy) where the event allows it exactly,
  and named as not covered otherwise.

What cannot be bounded is returned as :class:`UncoveredRelease` by
:func:`planned_uncovered`, never dropped silently.
"""

import math
from numbers import Integral, Real
from typing import NamedTuple

import dp_accounting
import numpy as np
from sklearn.base import clone

from ._folds import fold_counts, fold_membership, fold_shift, group_event
from ._scoring import scoring_calls
from ._walk import (
    PRIVATE,
    SEARCH,
    UncoveredRelease,
    _estimators_in,
    _Fits,
    as_walkable,
    fitted_children,
    is_search,
    walk,
)

__all__ = [
    "collect_dp_events",
    "default_delta",
    "events_by_part",
    "fold_shift",
    "group_event",
    "planned_delta",
    "planned_events",
    "plan",
    "planned_uncovered",
    "search_events",
]


def _composed(events):
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)


def _repeated(events, count):
    """``events`` composed ``count`` times ([] when nothing to repeat)."""
    if not events or count <= 0:
        return []
    event = _composed(events)
    return [event if count == 1 else dp_accounting.SelfComposedDpEvent(event, count)]


class _Context:
    """What planning learns on the way: uncovered fits, widths of fitted parts."""

    def __init__(self, path="", widths=None):
        self.path = path
        self.widths = dict(widths or {})
        self.uncovered = []

    def name(self, where, attribute, reason):
        self.uncovered.append(UncoveredRelease(where or "search", attribute, reason))

    def charged(self, events, g, reason, where):
        """``events`` of one fit on a fold whose training set moves by ``g`` rows."""
        if not events:
            return []
        event = _composed(events)
        if g is None:
            self.name(where, "fits", reason)
            return [event]
        grouped = group_event(event, g)
        if grouped is None:
            self.name(
                where,
                "fits",
                f"{reason}; the fits' subsampled DP events have no exact "
                f"group-privacy bound, so they are counted for one row",
            )
            return [event]
        return [grouped]


# --------------------------------------------------------------------------
# Meta-estimators that fit their estimator several times
# --------------------------------------------------------------------------


def _rfe_fits(n_features: int, n_select, step) -> int:
    """Fits ``RFE`` makes: one per elimination round, and the final one."""
    if n_select is None:
        n_select = n_features // 2
    elif isinstance(n_select, Real) and not isinstance(n_select, Integral):
        n_select = int(n_features * n_select)
    step = int(max(1, step * n_features)) if 0.0 < step < 1.0 else int(step)
    return math.ceil(max(n_features - int(n_select), 0) / step) + 1


def _meta_kind(est):
    """The registered kind of meta-estimator ``est`` is, by class (or None)."""
    from sklearn.feature_selection import RFE, RFECV
    from sklearn.semi_supervised import SelfTrainingClassifier

    if isinstance(est, RFECV):
        return "rfecv"
    if isinstance(est, RFE):
        return "rfe"
    if isinstance(est, SelfTrainingClassifier):
        return "self_training"
    return None


def _refits_on_internal_folds(est) -> bool:
    """A meta-estimator with a ``cv`` parameter that fitted private children.

    StackingClassifier, ClassifierChain(cv=...), CalibratedClassifierCV and
    the like fit their estimators on internal folds and keep only some fits;
    unless registered above, what the dropped fits spent is unknown.
    """
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    if params.get("cv") is None or is_search(est):
        return False
    return any(
        getattr(child, "dp_event_", None) is not None
        or any(p.role == PRIVATE for p in walk(child))
        for _, child in fitted_children(est)
    )


def _width(est, ctx, where):
    """Input width of a (possibly unfitted) meta-estimator, or raise."""
    d = getattr(est, "n_features_in_", None) or ctx.widths.get(type(est))
    if d is None:
        raise ValueError(
            f"privacy_spent cannot plan the fits of {type(est).__name__} at "
            f"{where or 'the top'} without its number of input features: "
            f"refit the search (refit=True) so that the fitted estimator tells."
        )
    return int(d)


def _self_training_fits(est, n_samples):
    """Bound on the fits of ``SelfTrainingClassifier``: iterations + final."""
    if est.max_iter is not None:
        return int(est.max_iter) + 1
    labelled = getattr(est, "labeled_iter_", None)
    if labelled is not None:
        # One more unlabelled row (a neighbour) allows one more iteration.
        return int(np.sum(labelled != 0)) + 2
    return (int(n_samples) if n_samples is not None else 0) + 2


class _FitPlan(NamedTuple):
    """DP events of one fit, split by how they repeat.

    ``central``: spent once per fit on its training set (charged for the rows
    a fold moves by). ``local_fit``: local-DP releases of each training row
    made by one fit. ``local_call``: local-DP releases of each row passed to
    one later ``transform``, ``predict`` or ``score`` call.
    """

    central: list
    local_fit: list
    local_call: list

    @property
    def per_fit(self):
        return self.central + self.local_fit


def _meta_plan(est, kind, n_samples, ctx, where):
    """The :class:`_FitPlan` of an unfitted registered meta-estimator."""
    inner = _split_plan(est.estimator, n_samples, ctx, where)
    if kind == "rfe":
        fits = _rfe_fits(_width(est, ctx, where), est.n_features_to_select, est.step)
        return _FitPlan(
            _repeated(inner.central, fits),
            _repeated(inner.local_fit, fits),
            inner.local_call,
        )
    if kind == "self_training":
        fits = _self_training_fits(est, n_samples)
        central = _repeated(inner.central, fits)
        if est.criterion == "k_best" and fits > 1:
            # Top-k selection: an added row can displace one other row.
            later = ctx.charged(inner.central, 2, "k_best pseudo-labelling", where)
            central = inner.central + _repeated(later, fits - 1)
        return _FitPlan(central, _repeated(inner.local_fit, fits), inner.local_call)
    # RFECV: an RFE down to min_features_to_select on every training fold
    # (each round scored on the test fold), then on all rows a final RFE
    # (at most as many rounds) and the estimator on the chosen features.
    from sklearn.model_selection import check_cv

    d = _width(est, ctx, where)
    per_rfe = _rfe_fits(d, est.min_features_to_select, est.step)
    n_splits = check_cv(est.cv).get_n_splits()
    g, reason = fold_shift(est.cv, est.estimator)
    fold = ctx.charged(inner.central, g, reason, where)
    central = _repeated(fold, n_splits * per_rfe) + _repeated(
        inner.central, per_rfe + 1
    )
    # A row is in each fold's training set (fitted) or test set (scored).
    rounds = n_splits * per_rfe + per_rfe + 1
    local = _repeated(inner.local_fit + inner.local_call, rounds)
    return _FitPlan(central, local, inner.local_call)


# --------------------------------------------------------------------------
# Planning one unfitted estimator
# --------------------------------------------------------------------------


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


def _split_plan(estimator, n_samples, ctx, where=""):
    """The :class:`_FitPlan` of fitting unfitted ``estimator`` on ``n_samples``."""
    if hasattr(estimator, "_planned_dp_event"):
        event = estimator._planned_dp_event(n_samples)
        if getattr(estimator, "_releases_private_output", False) is True:
            return _FitPlan([], [event], [event])
        return _FitPlan([event], [], [])
    kind = _meta_kind(estimator)
    if kind is not None:
        return _meta_plan(estimator, kind, n_samples, ctx, where)
    if is_search(estimator) or hasattr(estimator, "cv"):
        # A nested search: plan its inner estimator once per fit it will make.
        return _FitPlan(_planned_search_events(estimator, n_samples, ctx), [], [])
    plan = _FitPlan([], [], [])
    for child in _planned_children(estimator):
        sub = _split_plan(child, n_samples, ctx, where)
        plan.central.extend(sub.central)
        plan.local_fit.extend(sub.local_fit)
        plan.local_call.extend(sub.local_call)
    return plan


def planned_events(estimator, n_samples):
    """DP events that fitting ``estimator`` on ``n_samples`` rows would record."""
    return _split_plan(estimator, n_samples, _Context()).per_fit


def _row_releases(n_train, n_test, fit_plan, calls, train_calls):
    """Local-DP releases of a row in ``n_train`` training and ``n_test`` test
    folds: each fit releases it, each scoring call on its fold again."""
    events = _repeated(fit_plan.local_fit, n_train)
    events += _repeated(fit_plan.local_call, n_train * train_calls + n_test * calls)
    return events


def _planned_search_events(search, n_samples, ctx):
    """Upper bound on what an unfitted (nested) search spends on ``n_samples``.

    Every candidate is fitted once per split of the inner splitter (each fit
    charged for the rows its training set moves by); the refit is bounded by
    all candidates' fits composed (it is one of them).
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
    g, reason = fold_shift(search.cv, search.estimator)
    calls = scoring_calls(search, search.estimator)
    train_calls = calls if search.return_train_score else 0
    n_inner = None
    if n_samples is not None:
        n_inner = int(n_samples) - math.ceil(int(n_samples) / n_splits)
    events, refit = [], []
    for params in candidates:
        candidate = clone(search.estimator).set_params(**params)
        plan = _split_plan(candidate, n_inner, ctx, ctx.path)
        fold = ctx.charged(plan.central, g, reason, ctx.path)
        events.extend(_repeated(fold, n_splits))
        n_train, n_test = fold_membership(search.cv, n_splits)
        events.extend(_row_releases(n_train, n_test, plan, calls, train_calls))
        refit.extend(_split_plan(candidate, n_samples, ctx, ctx.path).per_fit)
    if search.refit and refit:
        events.append(_composed(refit))
    return events


# --------------------------------------------------------------------------
# A fitted search
# --------------------------------------------------------------------------


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


def _fitted_template(search):
    best = getattr(search, "best_estimator_", None)
    return best if best is not None else search.estimator


def _fitted_widths(obj):
    """``{class: largest n_features_in_}`` over the fitted estimators in ``obj``."""
    widths = {}

    def visit(est, depth):
        if depth > 20:
            return
        d = getattr(est, "n_features_in_", None)
        if d is not None:
            widths[type(est)] = max(widths.get(type(est), 0), int(d))
        children = list(fitted_children(est))
        for name in ("estimator", "estimator_"):
            child = getattr(est, name, None)
            if child is not None and hasattr(child, "get_params"):
                children.append((name, child))
        for _, child in children:
            visit(child, depth + 1)

    visit(obj, 0)
    return widths


def search_events(search, n_samples, ctx=None):
    """The DP events of every fit a fitted search made (see the module)."""

    ctx = ctx if ctx is not None else _Context()
    where = ctx.path or type(search).__name__
    n_splits = int(search.n_splits_)
    best = getattr(search, "best_estimator_", None)
    if n_samples is None and getattr(search, "refit", False) and best is not None:
        n_samples = _n_samples_from(best)
    # Candidates are planned from what was fitted: the refitted best
    # estimator carries the template's parameters as they were at fit time
    # (``search.estimator`` may have been changed since). Without a refit
    # only the current template is left.
    template = _fitted_template(search)
    if best is None:
        ctx.name(
            where,
            "fits",
            "refit=False: its fits are planned from the estimator's parameters "
            "as they are now, which set_params after fit may have changed",
        )
    ctx.widths.update(_fitted_widths(best) if best is not None else {})
    if best is None and hasattr(search, "n_features_in_"):
        ctx.widths.setdefault(type(template), int(search.n_features_in_))
    elif best is not None and hasattr(best, "n_features_in_"):
        ctx.widths.setdefault(type(best), int(best.n_features_in_))
    counts = None
    if n_samples is not None:
        counts = fold_counts(search.cv, int(n_samples), n_splits)
    if counts is not None:
        n_train, row_train, row_test = counts
    else:
        n_train = None
        if n_samples is not None:
            n_train = int(n_samples) - math.ceil(int(n_samples) / n_splits)
        row_train = row_test = None
    max_train, max_test = fold_membership(search.cv, n_splits)
    g, reason = fold_shift(search.cv, search.estimator)
    calls = scoring_calls(search, template)
    train_calls = calls if getattr(search, "return_train_score", False) else 0
    # Successive halving fits each candidate on a budget of resources
    # (rows, or the value of a parameter) that grows with the iterations.
    resource = getattr(search, "resource", None)
    n_resources = search.cv_results_.get("n_resources") if resource else None
    events, warned = [], counts is not None
    for i, params in enumerate(search.cv_results_["params"]):
        candidate = clone(template).set_params(**params)
        n_fit = n_train
        if n_resources is not None and resource == "n_samples":
            sub = fold_counts(search.cv, int(n_resources[i]), n_splits)
            n_fit = (
                sub[0]
                if sub
                else int(n_resources[i]) - math.ceil(int(n_resources[i]) / n_splits)
            )
        elif n_resources is not None:
            candidate.set_params(**{resource: int(n_resources[i])})
        plan = _split_plan(candidate, n_fit, ctx, where)
        if (
            not warned
            and n_fit is not None
            and plan.per_fit
            != (
                _split_plan(
                    candidate, max(1, n_fit // 2), _Context(widths=ctx.widths), where
                ).per_fit
            )
        ):
            warned = True
            ctx.name(
                where,
                "fits",
                f"privacy_spent could not run the splitter {search.cv!r} "
                f"without the data, so "
                f"its training folds were taken as K-fold's ({n_train} rows); "
                f"subsampled fits on smaller folds spent more than reported",
            )
        events.extend(_repeated(ctx.charged(plan.central, g, reason, where), n_splits))
        if plan.local_fit or plan.local_call:
            events.extend(
                _local_search_releases(
                    plan, row_train, row_test, max_train, max_test, calls, train_calls
                )
            )
    if getattr(search, "refit", False) and best is not None:
        refit_parts = _plan_fitted(
            best, None, _Context(_join(where, "best_estimator_"))
        )
        refit_events = [e for _, e in refit_parts[0]]
        ctx.uncovered.extend(refit_parts[1])
        best_plan = _split_plan(
            clone(template).set_params(**search.best_params_),
            n_train,
            _Context(widths=ctx.widths),
        )
        n_planned = len(best_plan.per_fit)
        n_recorded = len(collect_dp_events(best))
        if n_recorded > n_planned:
            # A meta-estimator fitted its DP estimators several times
            # (bagging, one-vs-rest, stacking): one plan per template misses it.
            ctx.name(
                where,
                "fits",
                f"the refitted best estimator recorded {n_recorded} DP fits "
                f"where its parameters plan {n_planned}: a meta-estimator in "
                f"it fits its estimators several times, so the fits made in "
                f"the search's folds are under-counted",
            )
        events.extend(refit_events)
    return events


def _local_search_releases(plan, row_train, row_test, max_train, max_test, calls, t):
    """The local-DP releases of the most released row over a search's splits."""
    if row_train is None:
        return _row_releases(max_train, max_test, plan, calls, t)
    # Each row: its training folds' fits and train scoring, its test folds'
    # scoring; the events compose the same way for every row, so the row
    # with the most fits and calls of each kind bounds them all.
    fit_counts = row_train
    call_counts = row_train * t + row_test * calls
    if plan.local_fit == plan.local_call:
        total = int((fit_counts + call_counts).max())
        return _repeated(plan.local_fit, total)
    return _repeated(plan.local_fit, int(fit_counts.max())) + _repeated(
        plan.local_call, int(call_counts.max())
    )


def _join(path, name):
    return f"{path}.{name}" if path else str(name)


# --------------------------------------------------------------------------
# A fitted object: the walk, with searches and meta-estimators planned
# --------------------------------------------------------------------------

#: Attributes of registered scikit-learn meta-estimators that are exact
#: statistics of the private rows (their other attributes are DP outputs:
#: functions of the DP fits, like RFE's ranking of DP coefficients).
_META_RELEASES = {
    "rfecv": (
        ("cv_results_", "exact cross-validation scores of the private rows"),
        ("n_features_", "chosen by exact cross-validation scores"),
        ("support_", "chosen by exact cross-validation scores"),
        ("ranking_", "chosen by exact cross-validation scores"),
    ),
    "self_training": (
        ("transduction_", "the training labels and predictions on training rows"),
        ("labeled_iter_", "which training rows were confidently predicted"),
        ("n_iter_", "stopping depends on predictions on the training rows"),
        ("termination_condition_", "stopping depends on the training rows"),
    ),
}


def _fitted_meta_extra(est, kind, ctx, where):
    """Events of the fits a fitted meta-estimator made but did not keep."""
    kept = est.estimator_
    n = _n_samples_from(kept)
    template = clone(kept)  # the parameters as they were at fit time
    if kind == "rfe":
        # ranking_.max() rounds: every round but the last refit is dropped.
        fits = int(np.max(est.ranking_))
        return _repeated(_split_plan(template, n, ctx, where).per_fit, fits - 1)
    if kind == "self_training":
        fits = _self_training_fits(est, None)
        labelled = getattr(est, "labeled_iter_", None)
        if labelled is not None:
            # The first fit saw only the rows labelled from the start: the
            # smallest training set, the largest sampling rate.
            n = int(np.sum(labelled == 0))
        plan = _split_plan(template, n, ctx, where)
        central = plan.central
        if est.criterion == "k_best":
            central = ctx.charged(central, 2, "k_best pseudo-labelling", where)
        return _repeated(central + plan.local_fit, fits - 1)
    # RFECV: the folds' RFEs, then the final RFE's rounds (the kept
    # estimator_ is one more fit).
    from sklearn.model_selection import check_cv

    d = int(est.n_features_in_)
    per_rfe = _rfe_fits(d, est.min_features_to_select, est.step)
    final = _rfe_fits(d, int(est.n_features_), est.step)
    splitter = check_cv(est.cv, classifier=hasattr(est, "classes_"))
    n_splits = splitter.get_n_splits()
    counts = fold_counts(splitter, int(n), n_splits) if n else None
    n_fold = counts[0] if counts else n
    fold_plan = _split_plan(template, n_fold, ctx, where)
    g, reason = fold_shift(est.cv, kept)
    fold = ctx.charged(fold_plan.central, g, reason, where)
    full_plan = _split_plan(template, n, ctx, where)
    events = _repeated(fold, n_splits * per_rfe)
    events += _repeated(full_plan.central, final)
    rounds = n_splits * per_rfe + final
    events += _repeated(fold_plan.local_fit + fold_plan.local_call, rounds)
    return events


def _plan_fitted(obj, n_samples, ctx):
    """``([(path, event)], [UncoveredRelease])`` of fitted ``obj``."""
    out = []
    if isinstance(obj, _Fits) and "fit_time" in obj.scores:
        ctx.name(
            "cross_validate",
            "estimator",
            "fitted on cross-validation folds of a splitter privacy_spent "
            "cannot see: adding one row can move other rows between folds, "
            "which the per-fit events do not bound (plan it as a search "
            "with cv=StableKFold)",
        )
    for part in walk(obj, ctx.path):
        where = part.path or type(part.est).__name__
        if part.role == SEARCH:
            sub = _Context(part.path)
            out.extend((where, e) for e in search_events(part.est, n_samples, sub))
            ctx.uncovered.extend(sub.uncovered)
        elif part.role == PRIVATE:
            out.append((where, part.est.dp_event_))
        elif part.role == "container":
            kind = _meta_kind(part.est)
            if kind is None and _refits_on_internal_folds(part.est):
                ctx.name(
                    where,
                    "fits",
                    "fits its estimators again on internal cross-validation "
                    "folds (cross_val_predict) and discards those fits: they "
                    "are not counted",
                )
            if kind is not None and hasattr(part.est, "estimator_"):
                out.extend(
                    (where, e) for e in _fitted_meta_extra(part.est, kind, ctx, where)
                )
                ctx.uncovered.extend(
                    UncoveredRelease(where, attr, reason)
                    for attr, reason in _META_RELEASES.get(kind, ())
                    if hasattr(part.est, attr)
                )
    return out, ctx.uncovered


def events_by_part(obj, n_samples=None):
    """``(path, event)`` for every DP event of fitted ``obj``, in walk order.

    A search's fits and a meta-estimator's dropped fits are planned (see the
    module); what planning cannot bound is listed by :func:`planned_uncovered`.
    """
    return _plan_fitted(obj, n_samples, _Context())[0]


def plan(obj, n_samples=None):
    """``(events by part, planned uncovered releases)`` of fitted ``obj``, at once.

    :func:`privacy_spent` needs both; planning a search twice would run its
    splitter and its scoring probe twice.
    """
    return _plan_fitted(as_walkable(obj), n_samples, _Context())


def planned_uncovered(obj, n_samples=None):
    """The fits of fitted ``obj`` that planning could not bound.

    Fold fits of splitters that are not stable under adding a row, subsampled
    fits on unstable folds, fan-out meta-estimators in a search, the results
    of ``cross_validate``, and the exact statistics registered scikit-learn
    meta-estimators keep. Each is an :class:`UncoveredRelease`.
    """
    try:
        return _plan_fitted(as_walkable(obj), n_samples, _Context())[1]
    except ValueError:  # raised, with its message, by events_by_part
        return []


def collect_dp_events(obj, n_samples=None):
    """List every DP event recorded by a fitted object and its parts.

    Walks ``obj`` and its fitted parts (pipeline steps, column transformers,
    attributes ending in ``_`` that hold estimators) and returns each
    ``dp_event_`` found. A skpriv meta-estimator's event already includes its
    children's, so its children are not visited. For a search, every
    candidate's fits are planned from its parameters (once per split, charged
    for the rows the splitter moves when a row is added) and the refitted
    best estimator's events are added; for scikit-learn meta-estimators that
    refit their estimator (``RFE``, ``RFECV``, ``SelfTrainingClassifier``)
    the fits not kept are planned too.

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
