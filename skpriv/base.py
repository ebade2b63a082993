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

from numbers import Real

import numpy as np
from dp_accounting import DpEvent
from sklearn.utils.validation import _num_samples

from .utils._random import check_random_state
from .utils._sklearn_compat import Interval, StrOptions, _fit_context
from .utils._validation import check_delta, check_epsilon

__all__ = ["PRIVACY_CONSTRAINTS", "PrivacyMixin"]

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


class PrivacyMixin:
    """Mixin for objects whose fit spends privacy budget.

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
        for attr in ("dp_event_", "dp_n_samples_"):
            if attr in self.__dict__:
                delattr(self, attr)
        rng = check_random_state(getattr(self, "random_state", None))
        self._fit(X, y, rng=rng, **fit_params)
        n_samples = _num_samples(X)
        self.dp_n_samples_ = n_samples
        if getattr(self, "dp_event_", None) is None:
            self.dp_event_ = self._planned_dp_event(n_samples)
        if not isinstance(self.dp_event_, DpEvent):
            raise TypeError(
                f"{type(self).__name__} recorded {self.dp_event_!r}, not a "
                f"dp_accounting.DpEvent."
            )
        return self

    def _fit(self, X, y, rng, **fit_params):  # pragma: no cover - abstract
        raise NotImplementedError

    def _planned_dp_event(self, n_samples):  # pragma: no cover - abstract
        raise NotImplementedError
