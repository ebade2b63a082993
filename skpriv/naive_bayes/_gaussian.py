"""DPGaussianNB: differentially private Gaussian naive Bayes."""

import math
from numbers import Real

import dp_accounting as dpa
import numpy as np
from scipy.special import logsumexp
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import DiscreteLaplace, Laplace
from ..utils._classes import encode_classes
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, validate_data
from ..utils._validation import clip_to_bounds, resolve_bounds

__all__ = ["DPGaussianNB"]

#: Shares of epsilon: the class counts, the class sums (the means) and the
#: pooled sum of squares (the variances). The means decide the classes and
#: carry the largest sensitivity (d/2 against d/8 for the squares), so they
#: get most; counts of hundreds of rows need little (benchmarks/models.py).
COUNT_SHARE = 0.05
SUM_SHARE = 0.80
SQUARE_SHARE = 0.15


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    bounds=PARAM_DOCS["bounds"],
    random_state=PARAM_DOCS["random_state"],
)
class DPGaussianNB(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """Differentially private Gaussian naive Bayes (pure epsilon-DP).

    A drop-in for :class:`sklearn.naive_bayes.GaussianNB` whose class counts,
    means and variances are released with Laplace noise (Vaidya et al. 2013):
    everything the model holds is ``epsilon``-DP with respect to adding or
    removing one training row.

    Parameters
    ----------
    {epsilon}

    {bounds}

    classes : array-like of shape (n_classes,), default=None
        The public list of labels (at least 2). ``None`` reads them from
        ``y`` and raises a :class:`~skpriv.exceptions.PrivacyLeakWarning`
        (``classes_`` is then not covered by the guarantee).

    priors : array-like of shape (n_classes,), default=None
        Public prior probabilities of the classes (in the order of the sorted
        ``classes_``). ``None`` uses the noisy class counts.

    var_smoothing : float, default=1e-9
        Share of the largest (noisy) variance added to every variance, as in
        scikit-learn.

    {random_state}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (public when ``classes`` is given).
    class_count_ : ndarray of shape (n_classes,)
        Noisy number of training rows of each class (DP output, integers,
        may be negative for a rare class).
    class_prior_ : ndarray of shape (n_classes,)
        ``priors``, or the noisy counts (floored at 1) normalised.
    theta_ : ndarray of shape (n_classes, n_features)
        Noisy mean of each feature per class, within ``bounds_``.
    var_ : ndarray of shape (n_classes, n_features)
        Noisy within-class variance of each feature, pooled over the classes
        (the same row for every class, see Notes).
    bounds_ : tuple of ndarray of shape (n_features,)
        The ``(lower, upper)`` bounds used (public when ``bounds`` is given).
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
    sklearn.naive_bayes.GaussianNB : The non-private estimator.
    skpriv.accounting.privacy_spent : Composes the cost of fits and searches.

    Notes
    -----
    Each feature is clipped to its bounds and mapped to ``z = (x - mid) /
    width`` in ``[-1/2, 1/2]``. Three releases, each with noise on a
    power-of-two grid (:mod:`skpriv.mechanisms`), compose to ``epsilon``:

    - the class counts (discrete Laplace, L1 sensitivity 1): 5% of epsilon;
    - the per-class sums of ``z`` (Laplace, L1 sensitivity ``d / 2``: a row
      changes the ``d`` sums of its own class only, so all classes share one
      budget by parallel composition): 80%;
    - the sum over all rows of ``z**2 - 1/8`` (in ``[-1/8, 1/8]``, L1
      sensitivity ``d / 8``; centring avoids the sensitivity trap of an
      uncentred square): 15%.

    The means are the noisy sums over the noisy counts; the variance of each
    feature is the pooled within-class variance, the noisy second moment
    (over the public ``n``) minus the count-weighted squared class means,
    floored at its noise level. Pooling spends the variance budget on all
    ``n`` rows at once instead of each class's share; it is the variance
    model of linear discriminant analysis and beats per-class variances at
    every epsilon in ``benchmarks/models.py``. Prediction is post-processing.

    References
    ----------
    .. [1] J. Vaidya, B. Shafiq, A. Basu, Y. Hong, "Differentially private
       naive Bayes classification", WI-IAT 2013.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.naive_bayes import DPGaussianNB
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> bounds = (X.min(0).round() - 1, X.max(0).round() + 1)  # public knowledge
    >>> clf = DPGaussianNB(epsilon=2.0, bounds=bounds, classes=[0, 1],
    ...                    random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    >>> round(privacy_spent(clf).epsilon, 6)
    2.0
    """

    _privacy_releases = {
        "classes_": PUBLIC,
        "class_count_": DP,
        "class_prior_": DP,
        "theta_": DP,
        "var_": DP,
        "bounds_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "bounds", "random_state"),
        "classes": ["array-like", None],
        "priors": ["array-like", None],
        "var_smoothing": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        epsilon=1.0,
        bounds=None,
        classes=None,
        priors=None,
        var_smoothing=1e-9,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.bounds = bounds
        self.classes = classes
        self.priors = priors
        self.var_smoothing = var_smoothing
        self.random_state = random_state

    # ------------------------------------------------------------------
    # Budget: one plan for the fit, its event and a search's planning
    # ------------------------------------------------------------------

    def _plan(self):
        """The epsilon of each release, from the parameters alone."""
        return {
            "count_eps": COUNT_SHARE * self.epsilon,
            "sum_eps": SUM_SHARE * self.epsilon,
            "square_eps": SQUARE_SHARE * self.epsilon,
        }

    @staticmethod
    def _plan_event(plan):
        # Each Laplace release is calibrated to exactly its epsilon, rounding
        # included, so its event is LaplaceDpEvent(1 / epsilon).
        return dpa.ComposedDpEvent(
            [
                dpa.dp_event.DiscreteLaplaceDpEvent(
                    noise_parameter=plan["count_eps"], sensitivity=1
                ),
                dpa.LaplaceDpEvent(noise_multiplier=1.0 / plan["sum_eps"]),
                dpa.LaplaceDpEvent(noise_multiplier=1.0 / plan["square_eps"]),
            ]
        )

    def _planned_dp_event(self, n_samples):
        return self._plan_event(self._plan())

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _fit(self, X, y, rng):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, codes, inferred = encode_classes(
            y, self.classes, owner="DPGaussianNB", stacklevel=5
        )
        n_classes = classes.size
        priors = self._check_priors(n_classes)
        lower, upper = resolve_bounds(self.bounds, X)
        n_samples, n_features = X.shape
        plan = self._plan()

        width = upper - lower
        mid = lower + width / 2
        Z = (clip_to_bounds(X, lower, upper) - mid) / width
        # Inside [-1/2, 1/2] even after the floating-point division.
        np.clip(Z, -0.5, 0.5, out=Z)

        counts = np.bincount(codes, minlength=n_classes)
        sums = np.zeros((n_classes, n_features))
        np.add.at(sums, codes, Z)
        squares = np.sum(np.clip(Z * Z - 0.125, -0.125, 0.125), axis=0)

        count_mech = DiscreteLaplace.from_epsilon(plan["count_eps"], 1)
        sum_mech = Laplace.from_epsilon(
            plan["sum_eps"], n_features / 2, n_dims=n_features
        )
        square_mech = Laplace.from_epsilon(
            plan["square_eps"], n_features / 8, n_dims=n_features
        )
        noisy_counts = count_mech.randomise(counts, rng)
        noisy_sums = sum_mech.randomise(sums, rng)
        noisy_squares = square_mech.randomise(squares, rng)

        # Post-processing of the noisy releases and public n from here on.
        safe_counts = np.maximum(noisy_counts, 1).astype(np.float64)
        means = np.clip(noisy_sums / safe_counts[:, None], -0.5, 0.5)
        second = noisy_squares / n_samples + 0.125
        weights = safe_counts / safe_counts.sum()
        var = second - weights @ (means * means)
        # Floor: the standard deviation of the noise in the second moment.
        floor = max(math.sqrt(2.0) * square_mech.scale / n_samples, 1e-6)
        var = np.clip(var, floor, 0.25)

        self.classes_ = classes
        self.class_count_ = noisy_counts.astype(np.float64)
        self.class_prior_ = priors if priors is not None else weights
        self.theta_ = mid + width * means
        var = np.tile(width * width * var, (n_classes, 1))
        self.var_ = var + self.var_smoothing * var.max()
        self.bounds_ = (lower, upper)
        self.dp_event_ = self._plan_event(plan)
        self._fit_release_kinds = self._fitted_kinds(inferred)
        return self

    def _check_priors(self, n_classes):
        if self.priors is None:
            return None
        priors = np.asarray(self.priors, dtype=np.float64)
        if priors.shape != (n_classes,):
            raise ValueError(
                f"priors must have one entry per class ({n_classes}); got "
                f"shape {priors.shape}."
            )
        if not np.all(np.isfinite(priors)) or np.any(priors < 0):
            raise ValueError("priors must be non-negative and finite.")
        if not np.isclose(priors.sum(), 1.0):
            raise ValueError("priors must sum to 1.")
        return priors

    def _fitted_kinds(self, classes_inferred):
        kinds = {}
        if classes_inferred:
            kinds["classes_"] = (
                "uncovered: the label set read from the training labels "
                "(classes=None); pass classes= to make it public"
            )
        if self.priors is not None:
            kinds["class_prior_"] = PUBLIC
        if self.bounds is None:
            reason = (
                "uncovered: calibrated to bounds_, read from the training data "
                "(bounds=None); pass public bounds= to cover it"
            )
            kinds["bounds_"] = (
                "uncovered: the per-feature min and max of the training data "
                "(bounds=None)"
            )
            kinds.update(dict.fromkeys(("class_count_", "theta_", "var_"), reason))
            if self.priors is None:
                kinds["class_prior_"] = reason
        return kinds

    # ------------------------------------------------------------------
    # Prediction (post-processing)
    # ------------------------------------------------------------------

    def predict_joint_log_proba(self, X):
        """Joint log-likelihood ``log P(x, c)`` of each sample and class.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        jll : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        with np.errstate(divide="ignore"):
            log_prior = np.log(self.class_prior_)
        norm = -0.5 * np.sum(np.log(2.0 * np.pi * self.var_), axis=1)
        # One class at a time, as scikit-learn: (n, d) memory, exact squares.
        quad = np.column_stack(
            [
                np.sum((X - theta) ** 2 / var, axis=1)
                for theta, var in zip(self.theta_, self.var_)
            ]
        )
        return log_prior + norm - 0.5 * quad

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The most probable class of each sample.
        """
        scores = self.predict_joint_log_proba(X)  # checks fitted first
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_log_proba(self, X):
        """Log of the class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        jll = self.predict_joint_log_proba(X)
        return jll - logsumexp(jll, axis=1, keepdims=True)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        return np.exp(self.predict_log_proba(X))
