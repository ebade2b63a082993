"""DPLinearRegression: differentially private least squares (noisy statistics)."""

import math
from numbers import Real

import dp_accounting as dpa
import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ..accounting import gaussian_sigma
from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import Laplace
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, validate_data
from ..utils._validation import clip_to_bounds, resolve_bounds
from ._budget import calibration_epsilon
from ._mechanisms import PLD_SLACK, gaussian_release, private_norm_bound

__all__ = ["DPLinearRegression"]

#: Share of the budget (of epsilon, or of mu^2 in Gaussian-DP terms) spent on
#: the private bound of the row norms; the rest is split evenly between the
#: Gram matrix and ``Z^T t``.
NORM_SHARE = 0.1
GRAM_SHARE = 0.5
#: Quantile of the scaled rows' norms that the private norm bound estimates.
NORM_QUANTILE = 0.9
#: With fewer features the norm bound from the bounds alone (``d`` in L1,
#: ``sqrt(d)`` in L2) is about as small as a quantile: nothing is spent on it.
MIN_FEATURES_FOR_NORM = 3


def _scaling(lower, upper, centred):
    """``(centre, half_width)`` mapping ``[lower, upper]`` into ``[-1, 1]``.

    Without an intercept the model cannot absorb a shift, so the data is
    only scaled, by the largest absolute bound: the sensitivity then comes
    from ``max(|lower|, |upper|)``, never from ``upper - lower`` (the trap of
    a lower bound assumed to be zero).
    """
    if centred:
        return (lower + upper) / 2.0, (upper - lower) / 2.0
    return np.zeros_like(lower), np.maximum(np.abs(lower), np.abs(upper))


@inject_docstring(random_state=PARAM_DOCS["random_state"])
class DPLinearRegression(PrivacyMixin, RegressorMixin, BaseEstimator):
    """Differentially private linear regression (least squares, optional ridge).

    A drop-in for :class:`sklearn.linear_model.LinearRegression` (and
    :class:`~sklearn.linear_model.Ridge` with ``alpha > 0``) whose
    coefficients and intercept are differentially private with respect to
    adding or removing one training row. It perturbs the sufficient
    statistics ``Z^T Z`` and ``Z^T t`` of the rows scaled into the public
    bounds, and solves the regularised normal equations (noisy sufficient
    statistics as in AdaSSP, Wang 2018).

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy budget of the fit (> 0, finite). Values above ``1e6`` are
        calibrated as ``1e6``: the noise is then negligible.

    delta : float, default=0.0
        ``0`` gives pure ``epsilon``-DP (Laplace noise); ``delta > 0`` gives
        ``(epsilon, delta)``-DP with Gaussian noise, more accurate for many
        features. Choose it well below ``1 / n_samples``.

    bounds_X : tuple (lower, upper), default=None
        Public bounds of the features: scalars or arrays of length
        ``n_features``; data outside is clipped. ``None`` reads them from the
        data and raises a :class:`~skpriv.exceptions.PrivacyLeakWarning`:
        the coefficients are then not covered by the guarantee.

    bounds_y : tuple (lower, upper), default=None
        Public bounds of the target, as ``bounds_X``.

    fit_intercept : bool, default=True
        Learn an intercept (covered by the guarantee).

    alpha : float, default=0.0
        L2 penalty on the coefficients, in the units of the data as in
        :class:`~sklearn.linear_model.Ridge` (the intercept is not
        penalised). The solver adds the regularisation that dominates the
        noise of the Gram matrix in any case.

    {random_state}

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Coefficients, on the scale of the input features.
    intercept_ : float
        Intercept (0.0 without ``fit_intercept``).
    bounds_X_ : tuple of ndarray
        The feature bounds used, ``(lower, upper)``.
    bounds_y_ : tuple of float
        The target bounds used.
    norm_bound_ : float
        Bound on the norm (L1 for pure DP, else L2) of a scaled row
        (features in ``[-1, 1]``); rows above it are scaled down.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    dp_event_ : dp_accounting.DpEvent
        What the fit spent, read by :func:`skpriv.accounting.privacy_spent`.
    dp_n_samples_ : int
        Number of training rows (treated as public).

    See Also
    --------
    sklearn.linear_model.LinearRegression : The non-private estimator.
    DPLogisticRegression : The same approach for classification.

    Notes
    -----
    Each feature is clipped to its bounds and mapped into ``[-1, 1]`` (by
    the midpoint and half-width of the bounds with an intercept; by the
    largest absolute bound without one), the target likewise into ``t`` in
    ``[-1, 1]``, and a constant 1 is appended for the intercept. With more
    than two features a share of 10% of the budget releases the 90th
    percentile of the rows' norms (a noisy histogram of their powers of
    two), and rows above it are scaled down to it: this bounds a row's
    contribution ``B`` by the size of typical rows instead of the corner of
    the box. The upper triangle of ``Z^T Z`` and ``Z^T t`` are then released
    with half of the rest each. With ``delta=0``: Laplace noise, L1
    sensitivities ``((B+1)^2 + min((B+1)^2, d+1)) / 2`` and ``B + 1``;
    with ``delta > 0``: Gaussian noise, L2 sensitivities ``B^2 + 1`` and
    ``sqrt(B^2 + 1)``, the shares of ``mu^2`` composing exactly to one
    Gaussian mechanism at ``(epsilon, delta)``. Negative eigenvalues of the
    noisy Gram matrix are set to zero and about the spectral norm of its
    noise is added to the diagonal (the adaptive ridge of AdaSSP [1]_),
    then ``alpha`` as a ridge penalty. Noise is drawn on a power-of-two grid
    (:mod:`skpriv.mechanisms`), the rounding included in the sensitivity.
    One plan (``_plan``) gives every noise scale and the recorded event.

    References
    ----------
    .. [1] Y.-X. Wang, "Revisiting differentially private linear regression:
       optimal and adaptive prediction & estimation in unbounded domain",
       UAI 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> from skpriv.linear_model import DPLinearRegression
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = DPLinearRegression(
    ...     epsilon=5.0, bounds_X=(-0.2, 0.2), bounds_y=(20, 350), random_state=0
    ... ).fit(X, y)
    >>> reg.coef_.shape
    (10,)
    >>> bool(reg.score(X, y) > 0.2)
    True
    """

    _privacy_releases = {
        "coef_": DP,
        "intercept_": DP,
        "bounds_X_": PUBLIC,
        "bounds_y_": PUBLIC,
        "norm_bound_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "delta", "random_state"),
        "bounds_X": [tuple, list, None],
        "bounds_y": [tuple, list, None],
        "fit_intercept": ["boolean"],
        "alpha": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        epsilon=1.0,
        delta=0.0,
        bounds_X=None,
        bounds_y=None,
        fit_intercept=True,
        alpha=0.0,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.bounds_X = bounds_X
        self.bounds_y = bounds_y
        self.fit_intercept = fit_intercept
        self.alpha = alpha
        self.random_state = random_state

    # ------------------------------------------------------------------
    # The plan: every noise scale and the event, from the parameters
    # ------------------------------------------------------------------

    def _plan(self, n_features):
        """Budget shares of the releases (data independent).

        Returns a dict with ``pure``, ``private_norm`` (whether the norm
        bound is released) and, for pure DP, the epsilons ``norm_eps``,
        ``gram_eps``, ``b_eps``; else the Gaussian noise multipliers
        ``norm_mult``, ``gram_mult``, ``b_mult`` (with the PLD margin).
        """
        epsilon = calibration_epsilon(self.epsilon)
        private_norm = n_features >= MIN_FEATURES_FOR_NORM
        norm_share = NORM_SHARE if private_norm else 0.0
        plan = {"pure": self.delta == 0, "private_norm": private_norm}
        if plan["pure"]:
            rest = epsilon * (1.0 - norm_share)
            plan.update(
                norm_eps=epsilon * norm_share,
                gram_eps=rest * GRAM_SHARE,
                b_eps=rest * (1.0 - GRAM_SHARE),
            )
            return plan
        mu2 = gaussian_sigma(epsilon, self.delta) ** -2
        rest = mu2 * (1.0 - norm_share)
        slack = 1.0 + PLD_SLACK
        plan.update(
            norm_mult=slack / math.sqrt(mu2 * norm_share) if private_norm else None,
            gram_mult=slack / math.sqrt(rest * GRAM_SHARE),
            b_mult=slack / math.sqrt(rest * (1.0 - GRAM_SHARE)),
        )
        return plan

    @staticmethod
    def _plan_event(plan):
        if plan["pure"]:
            eps = [plan["norm_eps"], plan["gram_eps"], plan["b_eps"]]
            events = [dpa.LaplaceDpEvent(1.0 / e) for e in eps if e > 0]
        else:
            mults = [plan["norm_mult"], plan["gram_mult"], plan["b_mult"]]
            events = [dpa.GaussianDpEvent(m) for m in mults if m is not None]
        return dpa.ComposedDpEvent(events)

    def _planned_dp_event(self, n_samples):
        n_features = getattr(self, "n_features_in_", None)
        if n_features is None:
            # The event depends on whether the norm bound is released; the
            # composition with it spends the whole budget, an upper bound.
            n_features = MIN_FEATURES_FOR_NORM
        return self._plan_event(self._plan(n_features))

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _fit(self, X, y, rng):
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        n_samples, d = X.shape
        lower, upper = resolve_bounds(self.bounds_X, X, name="bounds_X")
        y_lower, y_upper = resolve_bounds(self.bounds_y, y[:, None], name="bounds_y")
        self.bounds_X_ = (lower, upper)
        self.bounds_y_ = (float(y_lower[0]), float(y_upper[0]))
        centre, half = _scaling(lower, upper, self.fit_intercept)
        y_centre, y_half = _scaling(y_lower, y_upper, self.fit_intercept)
        Z = (clip_to_bounds(X, lower, upper) - centre) / half
        t = (np.clip(y, y_lower[0], y_upper[0]) - y_centre[0]) / y_half[0]
        np.clip(Z, -1.0, 1.0, out=Z)  # rounding of the division
        np.clip(t, -1.0, 1.0, out=t)

        plan = self._plan(d)
        pure = plan["pure"]
        # Bound of a scaled row's norm (L1 for Laplace, L2 for Gaussian).
        box = float(d) if pure else math.sqrt(d)
        if plan["private_norm"]:
            norms = np.abs(Z).sum(axis=1) if pure else np.linalg.norm(Z, axis=1)
            bound, _ = private_norm_bound(
                norms,
                rng,
                noise_multiplier=plan.get("norm_mult"),
                epsilon=plan["norm_eps"] if pure else None,
                q=NORM_QUANTILE,
            )
            self.norm_bound_ = min(bound, box)
        else:
            self.norm_bound_ = box
        B = self.norm_bound_
        norms = np.abs(Z).sum(axis=1) if pure else np.linalg.norm(Z, axis=1)
        with np.errstate(divide="ignore"):
            Z *= np.minimum(1.0, B / norms)[:, None]
        c = 1.0 if self.fit_intercept else 0.0
        if self.fit_intercept:
            Z = np.hstack([Z, np.ones((n_samples, 1))])
        D = Z.shape[1]
        iu = np.triu_indices(D)
        gram = (Z.T @ Z)[iu]
        stat = Z.T @ t
        if pure:
            b1 = B + c
            s_gram = (b1**2 + min(b1**2, d + c)) / 2.0
            gram_mech = Laplace.from_epsilon(
                plan["gram_eps"], sensitivity=s_gram, n_dims=gram.size
            )
            noisy_gram = gram_mech.randomise(gram, rng)
            b_mech = Laplace.from_epsilon(plan["b_eps"], sensitivity=b1, n_dims=D)
            noisy_b = b_mech.randomise(stat, rng)
            # Spectral norm of a symmetric matrix of iid noise (sd sqrt(2) s).
            lam = 2.0 * math.sqrt(2.0 * D) * gram_mech.scale
        else:
            r2 = B**2 + c
            noisy_gram, _ = gaussian_release(gram, r2, plan["gram_mult"], rng)
            noisy_b, _ = gaussian_release(stat, math.sqrt(r2), plan["b_mult"], rng)
            lam = 2.0 * math.sqrt(D) * plan["gram_mult"] * r2
        A = np.zeros((D, D))
        A[iu] = noisy_gram
        A = A + np.triu(A, 1).T
        evals, evecs = np.linalg.eigh(A)
        # Post-processing: project to PSD and add about the spectral norm of
        # the noise, so the noisy matrix dominates it (AdaSSP's ridge).
        A = (evecs * (np.maximum(evals, 0.0) + lam)) @ evecs.T
        # alpha ||coef_||^2 in data units: coef_j = w_j y_half / half_j and
        # the squared loss scales by y_half**2, so w_j is penalised by
        # alpha / half_j**2 (the intercept is not).
        A[np.arange(d), np.arange(d)] += self.alpha / half**2
        w = np.linalg.solve(A, noisy_b)
        coef = w[:d] * y_half[0] / half
        self.coef_ = coef
        if self.fit_intercept:
            self.intercept_ = float(y_centre[0] + y_half[0] * w[d] - coef @ centre)
        else:
            self.intercept_ = 0.0
        self.dp_event_ = self._plan_event(plan)
        self._fit_release_kinds = self._fitted_kinds(plan)
        return self

    def _fitted_kinds(self, plan):
        kinds = {}
        if plan["private_norm"]:
            kinds["norm_bound_"] = DP
        for name in ("bounds_X", "bounds_y"):
            if getattr(self, name) is None:
                kinds[f"{name}_"] = (
                    f"uncovered: the range of the training data ({name}=None)"
                )
                for attr in ("coef_", "intercept_"):
                    kinds[attr] = (
                        f"uncovered: its noise is calibrated to {name}_, read "
                        f"from the training data ({name}=None)"
                    )
        return kinds

    # ------------------------------------------------------------------
    # Prediction (post-processing)
    # ------------------------------------------------------------------

    def predict(self, X):
        """Predicted targets ``X @ coef_ + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Predictions.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return X @ self.coef_ + self.intercept_
