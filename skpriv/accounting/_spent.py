"""``privacy_spent``: compose the DP events recorded by fitted objects."""

import logging
import math
import warnings
from numbers import Real
from typing import NamedTuple

import dp_accounting
import numpy as np
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.pld import privacy_loss_distribution as PLD
from dp_accounting.rdp import rdp_privacy_accountant
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from ..exceptions import PrivacyLeakWarning
from ..utils._validation import check_delta

__all__ = [
    "PrivacySpent",
    "collect_dp_events",
    "make_accountant",
    "non_private_parts",
    "privacy_spent",
    "pure_epsilon",
]

_RDP_ORDERS = (
    [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]
)


class PrivacySpent(NamedTuple):
    """Privacy spent, as ``(epsilon, delta)``.

    The named tuple :func:`privacy_spent` returns: the data it was computed on
    is ``(epsilon, delta)``-differentially private with respect to what the
    fitted object released. It unpacks like a plain tuple.

    Parameters
    ----------
    epsilon : float
        Privacy loss bound; ``0.0`` when nothing private touched the data,
        ``inf`` when a non-private step did.
    delta : float
        Probability with which the ``epsilon`` bound may fail, in [0, 1).

    See Also
    --------
    privacy_spent : Compute the privacy a fitted object spent.

    Examples
    --------
    >>> from skpriv.accounting import PrivacySpent
    >>> spent = PrivacySpent(epsilon=1.0, delta=1e-5)
    >>> spent
    PrivacySpent(epsilon=1.0, delta=1e-05)
    >>> epsilon, delta = spent
    >>> epsilon
    1.0
    """

    epsilon: float
    delta: float


class _LocalRRMixin:
    """Compose ``RandomizedResponseDpEvent`` as a replace-one (local) event.

    dp-accounting's accountants, built for add/remove-one neighbours, refuse
    randomized response, whose natural relation is replace-one. skpriv's
    local-DP transformers record every event for the replacement of one row's
    values (Laplace and Gaussian events carry the full replacement
    sensitivity), so the replace-one privacy loss of randomized response
    composes with them exactly; this adds that case and defers the rest.
    """

    def _maybe_compose(self, event, count, do_compose):
        if not isinstance(event, dp_accounting.RandomizedResponseDpEvent):
            return super()._maybe_compose(event, count, do_compose)
        if do_compose and event.num_buckets > 1:
            if event.noise_parameter == 0:
                self._contains_non_dp_event = True
            else:
                self._compose_rr(event, count)
        return None


class _PLDAccountant(_LocalRRMixin, pld_privacy_accountant.PLDAccountant):
    def _compose_rr(self, event, count):
        rr = PLD.from_randomized_response(
            noise_parameter=event.noise_parameter,
            num_buckets=event.num_buckets,
            value_discretization_interval=self._value_discretization_interval,
            neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE,
        )
        self._pld = self._pld.compose(rr.self_compose(count))


class _NoConvergenceNotes(logging.Filter):
    """Drop dp-accounting's RDP note that a fractional order was skipped.

    The RDP accountant logs it (through absl) for every order whose series
    does not converge, common at large sampling rates and small noise, and
    takes the minimum over the remaining orders, which is still a valid
    bound: the note is noise for users.
    """

    def filter(self, record):
        return "failed to converge" not in record.getMessage()


_ABSL_LOGGER = logging.getLogger("absl")
_NO_CONVERGENCE_NOTES = _NoConvergenceNotes()


class _RdpAccountant(_LocalRRMixin, rdp_privacy_accountant.RdpAccountant):
    def _maybe_compose(self, event, count, do_compose):
        _ABSL_LOGGER.addFilter(_NO_CONVERGENCE_NOTES)
        try:
            return super()._maybe_compose(event, count, do_compose)
        finally:
            _ABSL_LOGGER.removeFilter(_NO_CONVERGENCE_NOTES)

    def _compose_rr(self, event, count):
        self._rdp += count * rdp_privacy_accountant._compute_randomized_response_rdp(
            event.noise_parameter,
            event.num_buckets,
            self._orders,
            dp_accounting.NeighboringRelation.REPLACE_ONE,
        )


def make_accountant(accountant: str = "pld"):
    """Return a fresh dp-accounting accountant: ``"pld"`` or ``"rdp"``.

    These are dp-accounting's ``PLDAccountant`` (value discretisation
    ``1e-4``) and ``RdpAccountant`` (a fixed grid of Rényi orders). Both also
    compose ``RandomizedResponseDpEvent`` (recorded by local randomized
    response), which dp-accounting refuses, with its replace-one privacy loss.

    Parameters
    ----------
    accountant : {"pld", "rdp"}, default="pld"
        Privacy-loss-distribution accountant (tight) or Rényi DP accountant
        (faster, looser).

    Returns
    -------
    accountant : dp_accounting.PrivacyAccountant
        An empty accountant: ``compose`` DP events into it, then read
        ``get_epsilon(delta)``.

    See Also
    --------
    privacy_spent : Compose the events of a fitted object in one call.
    collect_dp_events : The events a fitted object recorded.

    Examples
    --------
    >>> import dp_accounting
    >>> from skpriv.accounting import make_accountant
    >>> accountant = make_accountant("rdp")
    >>> accountant = accountant.compose(dp_accounting.GaussianDpEvent(1.0), 10)
    >>> round(float(accountant.get_epsilon(1e-5)), 2)
    19.05
    """
    if accountant == "pld":
        return _PLDAccountant(value_discretization_interval=1e-4)
    if accountant == "rdp":
        return _RdpAccountant(_RDP_ORDERS)
    raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")


def gaussian_mu2(event):
    """``sum 1 / noise_multiplier**2`` if ``event`` composes only Gaussians.

    A composition of Gaussian mechanisms with noise multipliers ``s_i`` is
    exactly the Gaussian mechanism with noise multiplier
    ``(sum_i s_i**-2) ** -0.5``. Returns ``None`` for any other event.
    """
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.GaussianDpEvent):
        nm = event.noise_multiplier
        return math.inf if nm == 0 else 1.0 / nm**2
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        inner = gaussian_mu2(event.event)
        return None if inner is None else event.count * inner
    if isinstance(event, dp_accounting.ComposedDpEvent):
        parts = [gaussian_mu2(e) for e in event.events]
        return None if any(p is None for p in parts) else float(sum(parts))
    return None


def pure_epsilon(event) -> float:
    """Epsilon at delta=0 of a pure-DP event (``inf`` if it is not pure DP).

    At delta = 0 the tight composition of pure-DP mechanisms is the sum of
    their epsilons (no advanced composition applies), and Poisson sampling at
    rate q amplifies epsilon to ``log(1 + q (e^epsilon - 1))``. The PLD
    accountant, whose discretisation is pessimistic, returns ``inf`` at
    delta=0, so pure DP is reported through this exact calculation instead.

    Parameters
    ----------
    event : dp_accounting.DpEvent
        Laplace, discrete Laplace, randomized response or no-op events, and
        compositions and Poisson samplings of them. Any other event (Gaussian,
        non-private...) has no pure-DP guarantee.

    Returns
    -------
    epsilon : float
        Exact epsilon of ``event`` at delta = 0, or ``inf`` if it is not pure
        DP.

    See Also
    --------
    privacy_spent : Uses this at ``delta=0``.
    laplace_scale : Calibration of the Laplace mechanism.

    Examples
    --------
    >>> import dp_accounting
    >>> from skpriv.accounting import pure_epsilon
    >>> laplace = dp_accounting.LaplaceDpEvent(noise_multiplier=2.0)
    >>> pure_epsilon(dp_accounting.SelfComposedDpEvent(laplace, 3))
    1.5
    >>> pure_epsilon(dp_accounting.GaussianDpEvent(1.0))
    inf
    """
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.LaplaceDpEvent):
        return 1.0 / event.noise_multiplier if event.noise_multiplier > 0 else math.inf
    if isinstance(event, dp_accounting.dp_event.DiscreteLaplaceDpEvent):
        return event.noise_parameter * event.sensitivity
    if isinstance(event, dp_accounting.RandomizedResponseDpEvent):
        p, k = event.noise_parameter, event.num_buckets
        if k <= 1:
            return 0.0  # a single bucket reveals nothing
        if p <= 0:
            return math.inf
        return math.log((1.0 - p + p / k) / (p / k))
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return sum(pure_epsilon(e) for e in event.events)
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        return event.count * pure_epsilon(event.event)
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        eps = pure_epsilon(event.event)
        q = event.sampling_probability
        return math.log1p(q * math.expm1(eps)) if math.isfinite(eps) else math.inf
    return math.inf


class _Fits:
    """Several fitted objects (e.g. ``cross_validate``'s) walked as one."""

    def __init__(self, estimators):
        self.estimators_ = estimators


def _as_walkable(obj):
    """``obj``, with a list of fitted objects or ``cross_validate``'s dict wrapped."""
    if isinstance(obj, dict):
        if "estimator" not in obj:
            raise ValueError(
                f"privacy_spent got a dict with keys {sorted(obj)!r} but no "
                f"'estimator'; for the results of cross_validate, call it with "
                f"return_estimator=True so that the fitted estimators are kept."
            )
        obj = obj["estimator"]
    if isinstance(obj, (list, tuple)):
        for est in obj:
            check_is_fitted(est)
        return _Fits(list(obj))
    return obj


def _is_search(obj) -> bool:
    return hasattr(obj, "cv_results_") and hasattr(obj, "n_splits_")


def _fitted_children(obj):
    """Fitted sub-estimators held by ``obj`` (attributes ending in ``_``)."""
    # Pipelines hold fitted steps in ``steps`` (no trailing underscore).
    if hasattr(obj, "steps") and isinstance(obj.steps, list):
        for _, step in obj.steps:
            if step is not None and step != "passthrough":
                yield step
        return
    if hasattr(obj, "transformer_list") and not hasattr(obj, "transformers_"):
        for _, trans in obj.transformer_list:
            if trans not in (None, "drop", "passthrough"):
                yield trans
        return
    # Meta-estimators often hold the same fitted estimators twice (e.g.
    # ``estimators_`` and ``named_estimators_``): each fit counts once.
    seen = set()
    for name, value in vars(obj).items():
        if not name.endswith("_") or name.startswith("_"):
            continue
        if name == "transformers_":
            children = [item[1] for item in value]
            children = [t for t in children if not _is_passthrough(t)]
        else:
            children = _estimators_in(value)
        for child in children:
            # Unfitted templates (BaggingClassifier's ``estimator_``) spent
            # nothing and learned nothing.
            if id(child) not in seen and _is_fitted(child):
                seen.add(id(child))
                yield child


def _is_fitted(est) -> bool:
    try:
        check_is_fitted(est)
    except NotFittedError:
        return False
    except TypeError:  # not an estimator: let the caller decide
        return True
    return True


def _is_passthrough(trans):
    return isinstance(trans, str) and trans in ("drop", "passthrough")


def _estimators_in(value):
    if isinstance(value, BaseEstimator):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _estimators_in(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _estimators_in(item)


def _planned_children(obj):
    """Unfitted sub-estimators given as parameters (for planning a search)."""
    for value in obj.get_params(deep=False).values():
        if isinstance(value, (list, tuple)):
            for item in value:
                if isinstance(item, tuple) and len(item) >= 2:
                    yield from _estimators_in(item[1])
                else:
                    yield from _estimators_in(item)
        else:
            yield from _estimators_in(value)


def _planned_events(estimator, n_samples):
    """DP events that fitting ``estimator`` on ``n_samples`` rows would record."""
    if hasattr(estimator, "_planned_dp_event"):
        return [estimator._planned_dp_event(n_samples)]
    if _is_search(estimator) or hasattr(estimator, "cv"):
        # A nested search: plan its inner estimator once per fit it will make.
        return _planned_search_events(estimator, n_samples)
    events = []
    for child in _planned_children(estimator):
        events.extend(_planned_events(child, n_samples))
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
        planned = _planned_events(candidate, n_inner)
        if planned:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.ComposedDpEvent(planned), n_splits
                )
            )
        refit.extend(_planned_events(candidate, n_samples))
    if search.refit and refit:
        events.append(dp_accounting.ComposedDpEvent(refit))
    return events


def _n_samples_from(obj):
    """The training-set size recorded by any skpriv part of a fitted object."""
    n = getattr(obj, "dp_n_samples_", None)
    if n is not None:
        return n
    for child in _fitted_children(obj):
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


def _search_events(search, n_samples):
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
    events = []
    for i, params in enumerate(search.cv_results_["params"]):
        candidate = clone(search.estimator).set_params(**params)
        n_fit = n_train
        if n_resources is not None and resource == "n_samples":
            n_fit, _ = _smallest_training_fold(search, int(n_resources[i]), n_splits)
        elif n_resources is not None:
            candidate.set_params(**{resource: int(n_resources[i])})
        planned = _planned_events(candidate, n_fit)
        if not exact and planned != _planned_events(candidate, max(1, n_fit // 2)):
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
        best = clone(search.estimator).set_params(**search.best_params_)
        n_planned = len(_planned_events(best, n_train))
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
    obj = _as_walkable(obj)
    if _is_search(obj):
        return _search_events(obj, n_samples)
    event = getattr(obj, "dp_event_", None)
    if event is not None:
        # skpriv meta-estimators include their children's events in their own.
        return [event]
    events = []
    for child in _fitted_children(obj):
        events.extend(collect_dp_events(child, n_samples))
    return events


def _learns_from_data(est) -> bool:
    """Whether a fitted leaf's state depends on its training data."""
    try:
        from sklearn.utils import get_tags

        return bool(get_tags(est).requires_fit)
    except Exception:  # objects without scikit-learn tags
        return True


def _learns_labels_only(est) -> bool:
    """Label encoders that meta-estimators fit on ``y`` learn only the label set.

    Every classifier, private ones included, releases its label set in
    ``classes_`` (DP protects rows, not the set of labels), so the encoders
    of ``OneVsRestClassifier`` or ``VotingClassifier`` are not flagged.
    """
    from sklearn.preprocessing import LabelBinarizer, LabelEncoder, MultiLabelBinarizer

    return isinstance(est, (LabelEncoder, LabelBinarizer, MultiLabelBinarizer))


def _releases_private_output(step) -> bool:
    """Whether every column a step outputs is a local-DP release."""
    if getattr(step, "_releases_private_output", False):
        return True
    if hasattr(step, "transformers_"):
        parts = [t for _, t, _ in step.transformers_ if t != "drop"]
        return bool(parts) and all(_releases_private_output(t) for t in parts)
    if hasattr(step, "steps") and isinstance(step.steps, list):
        # A nested pipeline: what follows a private release is post-processing.
        return any(
            not _is_passthrough(s) and s is not None and _releases_private_output(s)
            for _, s in step.steps
        )
    if hasattr(step, "transformer_list"):
        parts = [t for _, t in step.transformer_list if not _is_passthrough(t)]
        parts = [t for t in parts if t is not None]
        passthrough = any(
            _is_passthrough(t) and t != "drop" for _, t in step.transformer_list
        )
        return (
            bool(parts)
            and not passthrough
            and all(_releases_private_output(t) for t in parts)
        )
    return False


def non_private_parts(obj):
    """List the fitted parts that learned from the data without DP.

    A leaf of the walk done by :func:`collect_dp_events` (a fitted estimator
    with no ``dp_event_`` and no fitted sub-estimators) that needs fitting
    (scikit-learn's ``requires_fit`` tag) has state computed from the
    training data with no privacy guarantee: a ``StandardScaler``'s means, a
    plain ``LogisticRegression``'s coefficients. Stateless steps
    (``Normalizer``, ``FunctionTransformer``) are not listed, nor are
    pipeline steps after a local-DP transformer (``LaplaceNoise``,
    ``GaussianNoise``, ``RandomizedResponse``, or a ``ColumnTransformer`` made
    only of them): they learn from privatized rows, which is post-processing.

    Parameters
    ----------
    obj : estimator
        A fitted object.

    Returns
    -------
    names : list of str
        Class names of the non-private parts, in walk order.

    See Also
    --------
    privacy_spent : Warns about these parts and reports ``inf`` when nothing
        else was private.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer, StandardScaler
    >>> from skpriv.accounting import non_private_parts
    >>> pipe = make_pipeline(StandardScaler(), Normalizer()).fit([[0.0], [1.0]])
    >>> non_private_parts(pipe)
    ['StandardScaler']
    """
    obj = _as_walkable(obj)
    if _is_search(obj):
        best = getattr(obj, "best_estimator_", None)
        return non_private_parts(best) if best is not None else []
    if getattr(obj, "dp_event_", None) is not None:
        return []
    if hasattr(obj, "steps") and isinstance(obj.steps, list):
        names = []
        for _, step in obj.steps:
            if step is None or step == "passthrough":
                continue
            names.extend(non_private_parts(step))
            if _releases_private_output(step):
                break  # later steps only see privatized rows: post-processing
        return names
    children = list(_fitted_children(obj))
    if not children:
        if _learns_labels_only(obj):
            return []
        return [type(obj).__name__] if _learns_from_data(obj) else []
    names = []
    for child in children:
        names.extend(non_private_parts(child))
    return names


def _bootstrapped_parts(obj):
    """Fitted meta-estimators that resample rows with replacement for DP parts."""
    if _is_search(obj):
        best = getattr(obj, "best_estimator_", None)
        return _bootstrapped_parts(best) if best is not None else []
    if getattr(obj, "dp_event_", None) is not None:
        return []
    params = obj.get_params(deep=False) if hasattr(obj, "get_params") else {}
    children = list(_fitted_children(obj))
    if params.get("bootstrap") is True and any(
        collect_dp_events(child) for child in children
    ):
        return [type(obj).__name__]
    return [name for child in children for name in _bootstrapped_parts(child)]


def _delta_param(est) -> float:
    """``est``'s ``delta`` parameter as a float (0 if it has none)."""
    params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
    d = params.get("delta")
    if isinstance(d, Real) and not isinstance(d, (bool, np.bool_)):
        return float(d)
    return 0.0


def _planned_delta(estimator) -> float:
    """Sum of the ``delta`` parameters of the private parts of an unfitted object."""
    if hasattr(estimator, "_planned_dp_event"):
        return _delta_param(estimator)
    return sum(_planned_delta(child) for child in _planned_children(estimator))


def _default_delta(obj) -> float:
    """Sum of the ``delta`` parameters of the private parts (0 if all pure)."""
    total = 0.0
    seen = set()

    def visit(est):
        if id(est) in seen:
            return
        seen.add(id(est))
        nonlocal total
        if hasattr(est, "dp_event_"):
            total += _delta_param(est)
        if _is_search(est):
            if hasattr(est, "best_estimator_"):
                visit(est.best_estimator_)
            else:  # refit=False: the candidates' parameters tell
                total += max(
                    _planned_delta(clone(est.estimator).set_params(**params))
                    for params in est.cv_results_["params"]
                )
            return
        for child in _fitted_children(est):
            visit(child)

    visit(obj)
    return min(total, 0.5)


def privacy_spent(obj, delta=None, accountant="pld", *, n_samples=None):
    """Privacy spent on the training data by a fitted object, as (epsilon, delta).

    Every fitted skpriv estimator and transformer records the DP event of its
    fit (``dp_event_``: mechanism, noise, sampling, steps). This function
    walks ``obj`` — a single estimator, a ``Pipeline``, ``ColumnTransformer``,
    ``FeatureUnion``, any meta-estimator holding fitted estimators, or a
    ``GridSearchCV`` / ``RandomizedSearchCV`` — collects those events and
    composes them with a tight accountant from Google's dp-accounting
    library.

    A search counts every fit it made: each candidate once per split plus the
    refit. The candidates' fits happened in worker processes (``n_jobs > 1``)
    whose estimators are discarded, so their events are *planned* from the
    candidate's parameters and the training-fold size — every skpriv
    estimator can say what a fit on ``n`` rows spends
    (``_planned_dp_event(n)``; data-dependent costs are bounded from above).

    Parameters
    ----------
    obj : estimator, list of estimators or dict
        A fitted object, a list of fitted objects trained on the same data
        (their costs compose), or the dict returned by
        :func:`~sklearn.model_selection.cross_validate` with
        ``return_estimator=True`` (one fit per split).
    delta : float, default=None
        Target delta in [0, 1). ``None`` uses the sum of the ``delta``
        parameters of the private parts (0 when all are pure DP).
    accountant : {"pld", "rdp"}, default="pld"
        Privacy-loss-distribution (tight) or Rényi DP accountant.
    n_samples : int, default=None
        Only for searches whose candidates use subsampling (DP-SGD): the
        number of rows the search was fitted on. Inferred from the refitted
        best estimator when available.

    Returns
    -------
    spent : PrivacySpent
        Named tuple ``(epsilon, delta)``. ``epsilon`` is ``0.0`` when nothing
        learned from the data, and ``inf`` when parts learned from it without
        DP and no DP part was fitted, or a part recorded a non-private event.
        Non-private parts next to DP parts (a fitted ``StandardScaler`` before
        a DP model) raise a :class:`~skpriv.exceptions.PrivacyLeakWarning`
        naming them: the epsilon covers only the DP parts.

    See Also
    --------
    collect_dp_events : The events that are composed.
    pure_epsilon : Exact epsilon at ``delta=0``.
    make_accountant : The accountants.
    skpriv.display.PrivacyUtilityDisplay : Plot utility against epsilon.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> import warnings
    >>> from sklearn.preprocessing import Normalizer
    >>> privacy_spent(make_pipeline(Normalizer()).fit([[0.0], [1.0]]))
    PrivacySpent(epsilon=0.0, delta=0.0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     privacy_spent(make_pipeline(StandardScaler()).fit([[0.0], [1.0]]))
    PrivacySpent(epsilon=inf, delta=0.0)

    Two Laplace steps at epsilon 1.0 and 0.5 compose to 1.5 (pure DP):

    >>> X = [[0.0, 1.0], [0.5, 0.2], [1.0, 0.0]]
    >>> pipe = make_pipeline(
    ...     LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0),
    ...     LaplaceNoise(epsilon=0.5, bounds=(0, 1), random_state=0),
    ... ).fit(X)
    >>> privacy_spent(pipe)
    PrivacySpent(epsilon=1.5, delta=0.0)
    """
    if accountant not in ("pld", "rdp"):
        raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")
    # An unfitted object spent nothing, but reporting 0 (or inf with a warning
    # that it "learned from the data") would hide the mistake.
    obj = _as_walkable(obj)
    if hasattr(obj, "fit"):  # an estimator (a list's parts were checked)
        check_is_fitted(obj)
    elif not isinstance(obj, _Fits) and not hasattr(obj, "dp_event_"):
        raise TypeError(
            f"privacy_spent expects a fitted estimator, a list of them or the "
            f"dict of cross_validate(..., return_estimator=True); got "
            f"{type(obj).__name__}."
        )
    events = collect_dp_events(obj, n_samples=n_samples)
    if delta is None:
        delta = _default_delta(obj)
    delta = check_delta(delta)
    leaks = non_private_parts(obj)
    if leaks:
        warnings.warn(
            f"privacy_spent: {', '.join(leaks)} learned from the training data "
            f"without differential privacy; what they learned is not covered by "
            f"the reported epsilon. Fit them on public data or use private "
            f"counterparts (e.g. public bounds instead of a fitted scaler).",
            PrivacyLeakWarning,
            stacklevel=2,
        )
    resampled = _bootstrapped_parts(obj)
    if resampled:
        warnings.warn(
            f"privacy_spent: {', '.join(resampled)} (bootstrap=True) trained "
            f"its private estimators on rows drawn with replacement: a row "
            f"drawn k times in one sample costs up to k times the epsilon of "
            f"that estimator, which the reported epsilon does not cover. Use "
            f"bootstrap=False (sampling without replacement).",
            PrivacyLeakWarning,
            stacklevel=2,
        )
    if not events:
        return PrivacySpent(math.inf if leaks else 0.0, delta)
    acc = make_accountant(accountant)
    event = events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)
    if not acc.supports(event):
        raise ValueError(
            f"The {accountant!r} accountant does not support the recorded events "
            f"{event}; try accountant='pld' or 'rdp'."
        )
    if delta == 0.0:
        return PrivacySpent(pure_epsilon(event), 0.0)
    mu2 = gaussian_mu2(event)
    if accountant == "pld" and mu2 is not None and mu2 > 0:
        # Only (unsampled) Gaussians: their composition is exactly one Gaussian
        # mechanism, whose epsilon dp-accounting computes in closed form. The
        # PLD accountant gives the same value but takes minutes at low noise.
        if math.isinf(mu2):
            return PrivacySpent(math.inf, delta)
        sigma = 1.0 / math.sqrt(mu2)
        return PrivacySpent(
            float(dp_accounting.get_epsilon_gaussian(sigma, delta)), delta
        )
    acc.compose(event)
    return PrivacySpent(float(acc.get_epsilon(delta)), delta)
