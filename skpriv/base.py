"""The privacy mixin shared by every skpriv estimator and transformer.

It holds the parameter constraints for the privacy parameters, which have the
same names and rules everywhere, and the fit template that every private
estimator follows (imbalanced-learn's pattern: a public method validates and
records, one private method learns)::

    fit(X, y, **fit_params)          # public, never overridden
      -> validate parameters         # _parameter_constraints + finiteness
      -> _fit(X, y, rng, **params)   # the estimator's own work
      -> record the DP event         # dp_event_, read by privacy_spent
"""

import inspect
import warnings
from numbers import Real

import numpy as np
from dp_accounting import ComposedDpEvent, DpEvent, NonPrivateDpEvent
from sklearn.utils.validation import _num_samples

from .exceptions import PrivacyLeakWarning
from .utils._errors import call_hiding_values
from .utils._random import check_random_state
from .utils._sklearn_compat import Interval, StrOptions, _fit_context
from .utils._stack import user_stacklevel
from .utils._validation import check_delta, check_epsilon

__all__ = [
    "DP",
    "PRIVACY_CONSTRAINTS",
    "PUBLIC",
    "UNCOVERED",
    "PrivacyMixin",
    "declared_releases",
    "fitted_attributes",
    "release_kinds",
    "uncovered_releases",
    "warn_large_delta",
]

# --------------------------------------------------------------------------
# What a fitted object releases. Every fitted attribute (a name ending in
# ``_``) of a skpriv object is one of three kinds, declared once per class in
# ``_privacy_releases`` (merged along the class hierarchy; override
# ``_release_kinds`` when a kind depends on a parameter):
#
# - ``DP``: a function of the noisy releases and public inputs only;
# - ``PUBLIC``: parameters, declared metadata, or what docs/privacy_model.rst
#   treats as public (the number of rows ``n``, the number of features);
# - ``"uncovered: <why>"``: computed from the private data without noise;
#   ``privacy_spent`` names it, with the reason, in ``PrivacySpent.uncovered``.
#
# An attribute a class does not declare counts as uncovered (the safe side),
# and the common release check fails it when it differs between neighbours.
# --------------------------------------------------------------------------

DP = "dp"
PUBLIC = "public"
UNCOVERED = "uncovered"

#: Declared for every skpriv object: the input width (public metadata), the
#: recorded DP event and the row count (``n`` is public: privacy model page).
_COMMON_RELEASES = {
    "n_features_in_": PUBLIC,
    "feature_names_in_": PUBLIC,
    "dp_event_": PUBLIC,
    "dp_n_samples_": PUBLIC,
}


def _parse_release(attr: str, spec: str) -> tuple[str, str]:
    kind, _, reason = spec.partition(":")
    kind, reason = kind.strip(), reason.strip()
    if kind not in (DP, PUBLIC, UNCOVERED) or (kind == UNCOVERED) != bool(reason):
        raise ValueError(
            f"release declaration of {attr!r} must be 'dp', 'public' or "
            f"'uncovered: <reason>'; got {spec!r}."
        )
    return kind, reason


def declared_releases(cls) -> dict | None:
    """The ``_privacy_releases`` of ``cls`` merged along its MRO (None if none)."""
    specs, found = {}, False
    for klass in reversed(cls.__mro__):
        own = klass.__dict__.get("_privacy_releases")
        if own is not None:
            found = True
            specs.update(own)
    return specs if found else None


def release_kinds(est) -> dict | None:
    """``{attribute: (kind, reason)}`` declared for ``est``, or None.

    A class whose kinds depend on its parameters overrides
    ``_release_kinds(self)`` (returning the specs, starting from
    :func:`declared_releases`). ``None`` means the object declares nothing (a
    scikit-learn estimator): callers treat all it learned as one uncovered
    release.
    """
    method = getattr(est, "_release_kinds", None)
    specs = method() if callable(method) else declared_releases(type(est))
    if specs is None:
        return None
    specs = {**_COMMON_RELEASES, **specs}
    return {attr: _parse_release(attr, spec) for attr, spec in specs.items()}


def fitted_attributes(est) -> list[str]:
    """Names of ``est``'s fitted attributes (instance attributes ending in ``_``)."""
    return sorted(
        name
        for name in vars(est)
        if name.endswith("_") and not name.startswith("_") and not name.endswith("__")
    )


def uncovered_releases(est) -> list[tuple[str, str]]:
    """``(attribute, reason)`` for what ``est`` releases outside its DP guarantee.

    Declared-uncovered attributes with their reason, and fitted attributes
    the class does not declare at all. For an object that declares nothing,
    ``[("*", ...)]``: everything it learned.
    """
    kinds = release_kinds(est)
    if kinds is None:
        return [("*", "learned from the data without differential privacy")]
    out = []
    for attr in fitted_attributes(est):
        kind, reason = kinds.get(attr, (UNCOVERED, "not declared by its class"))
        if kind == UNCOVERED:
            out.append((attr, reason))
    return out


#: Constraint fragments for the privacy parameters; estimators pick the ones
#: they have: ``_parameter_constraints = {**pick("epsilon", "delta"), ...}``.
PRIVACY_CONSTRAINTS = {
    "epsilon": [Interval(Real, 0, None, closed="neither")],
    "delta": [Interval(Real, 0, 1, closed="left")],
    "bounds": [tuple, list, None],
    "data_norm": [
        Interval(Real, 0, None, closed="neither"),
        StrOptions({"private"}),
        None,
    ],
    "random_state": ["random_state", np.random.Generator],
}


def privacy_constraints(*names: str) -> dict:
    """The shared constraints of the named privacy parameters."""
    return {name: list(PRIVACY_CONSTRAINTS[name]) for name in names}


def reject_fit_params(estimator, fit_params):
    """Refuse extra ``fit`` arguments (``sample_weight`` above all) clearly.

    A weight above 1 would give one row more influence than the sensitivity
    the noise is calibrated to, so private estimators take no weights.
    """
    if fit_params:
        raise TypeError(
            f"{type(estimator).__name__}.fit got unexpected keyword arguments "
            f"{sorted(fit_params)!r}. sample_weight is not supported: a "
            f"weight above 1 would give one row more influence than the "
            f"sensitivity the noise is calibrated to."
        )


def warn_large_delta(estimator, n_units, unit="rows") -> None:
    """One rule for every estimator: warn when ``delta >= 1 / n``.

    With ``delta`` at least one over the number of protected units, a
    mechanism that publishes one unit's data outright with probability
    ``delta`` satisfies the guarantee: it says nothing.
    """
    delta = getattr(estimator, "delta", None)
    if not isinstance(delta, Real) or isinstance(delta, bool) or not n_units:
        return
    if delta > 0 and delta >= 1.0 / n_units:
        warnings.warn(
            f"{type(estimator).__name__}: delta={delta:g} is not below 1 / n = "
            f"{1.0 / n_units:.3g} for n={n_units} {unit}; an (epsilon, delta) "
            f"guarantee with such a delta allows publishing one unit's data "
            f"outright. Choose delta well below 1 / n.",
            PrivacyLeakWarning,
            stacklevel=user_stacklevel(),
        )


def _unexpected_fit_params(method, fit_params) -> dict:
    """The ``fit_params`` that ``method`` (an estimator's ``_fit``) does not take."""
    params = inspect.signature(method).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return {}
    named = {p.name for p in params} - {"X", "y", "rng"}
    return {k: v for k, v in fit_params.items() if k not in named}


class PrivacyMixin:
    """Mixin for objects whose fit spends privacy budget.

    Subclasses declare what a fit releases in ``_privacy_releases`` (see the
    module's comment above :data:`DP`).

    Subclasses implement:

    - ``_fit(self, X, y, rng, **fit_params)``: validate the data (with
      ``validate_data``), learn, set fitted attributes, return ``self``;
    - ``_planned_dp_event(self, n_samples)``: the ``dp_accounting.DpEvent``
      that a fit on ``n_samples`` rows with the current parameters spends (an
      upper bound where the cost depends on the data). ``privacy_spent`` uses
      it for the fits a search made in worker processes.

    After a successful fit the mixin sets ``dp_event_`` (what this fit spent;
    subclasses with data-dependent cost may set it in ``_fit``, then it is
    kept) and ``dp_n_samples_`` (training rows). A fit that fails validation
    records nothing, so invalid parameters never spend budget.
    """

    _privacy_releases: dict = {}

    def _check_privacy_params(self) -> None:
        """Checks beyond ``_parameter_constraints``: finiteness, no bools."""
        params = self.get_params(deep=False)
        if "epsilon" in params and params["epsilon"] is not None:
            check_epsilon(params["epsilon"])
        if "delta" in params and params["delta"] is not None:
            check_delta(params["delta"])

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, **fit_params):
        """Fit on ``X`` (and ``y``), spending the privacy budget once.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,), default=None
            Targets, where the estimator uses them.
        **fit_params : dict
            Estimator-specific fit parameters.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        return self._privacy_fit(X, y, **fit_params)

    def _privacy_fit(self, X, y=None, **fit_params):
        """The fit template; call it from a ``fit`` with a custom signature."""
        self._check_privacy_params()
        unexpected = _unexpected_fit_params(self._fit, fit_params)
        if unexpected:
            reject_fit_params(self, unexpected)
        # A PrivacyBudget active around this fit (``with budget:``) refuses
        # before any work when the planned event would exceed it.
        from .accounting._budget import after_fit, before_fit

        budgets = before_fit(self, _num_samples(X))
        # The previous fit's record goes only once this fit starts; a refit
        # that fails keeps it (and charges what it may have released).
        previous = {
            attr: self.__dict__.pop(attr)
            for attr in ("dp_event_", "dp_n_samples_")
            if attr in self.__dict__
        }
        rng = check_random_state(getattr(self, "random_state", None))
        try:
            # numpy's floating-point warnings (overflow in a norm, ...) depend
            # on the private values, and a warning is a release: a row of
            # norm 1e154 warned on one neighbour only. Non-finite results are
            # checked explicitly instead.
            with np.errstate(all="ignore"):
                call_hiding_values(self._fit, X, y, rng=rng, **fit_params)
        except BaseException:
            self._record_failed_fit(previous, X)
            raise
        n_samples = _num_samples(X)
        self.dp_n_samples_ = n_samples
        warn_large_delta(self, self._n_protected_units(n_samples))
        if getattr(self, "dp_event_", None) is None:
            self.dp_event_ = self._planned_dp_event(n_samples)
        if not isinstance(self.dp_event_, DpEvent):
            raise TypeError(
                f"{type(self).__name__} recorded {self.dp_event_!r}, not a "
                f"dp_accounting.DpEvent."
            )
        after_fit(self, budgets)
        return self

    def _record_failed_fit(self, previous, X) -> None:
        """Keep what a failed fit leaves released accounted for.

        A refit that raises leaves the previous fit's attributes (and
        whatever this fit set before failing) on the object: they stay
        charged with the previous event, composed with this fit's plan (it
        may have drawn noise from the new rows before failing). A first fit
        that failed before setting anything but public metadata released nothing.
        """
        kinds = release_kinds(self) or {}
        left = [
            a
            for a in fitted_attributes(self)
            if kinds.get(a, (UNCOVERED, ""))[0] != PUBLIC
        ]
        if not left:
            self.__dict__.update(previous)
            return
        events = [previous["dp_event_"]] if "dp_event_" in previous else []
        try:
            n_samples = _num_samples(X)
            events.append(self._planned_dp_event(n_samples))
        except Exception:  # no plan for this input: nothing can be claimed
            n_samples = None
            events.append(NonPrivateDpEvent())
        self.dp_event_ = events[0] if len(events) == 1 else ComposedDpEvent(events)
        self.dp_n_samples_ = previous.get("dp_n_samples_", n_samples)

    def _n_protected_units(self, n_samples):
        """How many units (rows; clients for client-level DP) the data holds."""
        return n_samples

    def _fit(self, X, y, rng, **fit_params):  # pragma: no cover - abstract
        raise NotImplementedError

    def _planned_dp_event(self, n_samples):  # pragma: no cover - abstract
        raise NotImplementedError
