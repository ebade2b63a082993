"""Tiny private estimators used to test the shared machinery (not public)."""

from numbers import Integral, Real

import dp_accounting as dpa
import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from skpriv.base import PrivacyMixin, privacy_constraints
from skpriv.utils._sklearn_compat import Interval, validate_data


class ToyNoisyMean(PrivacyMixin, TransformerMixin, BaseEstimator):
    """Centres data on a Laplace-noised mean of rows clipped to [0, 1]."""

    _parameter_constraints = privacy_constraints("epsilon", "random_state")
    _privacy_releases = {"mean_": "dp"}

    def __init__(self, epsilon=1.0, random_state=None):
        self.epsilon = epsilon
        self.random_state = random_state

    def _fit(self, X, y, rng):
        X = validate_data(self, X)
        n, d = X.shape
        clipped = np.clip(X, 0.0, 1.0)
        # Replace-one sensitivity of the mean of d features in [0, 1]: d / n.
        self.mean_ = clipped.mean(0) + rng.laplace(0.0, d / (n * self.epsilon), size=d)
        return self

    def _planned_dp_event(self, n_samples):
        return dpa.LaplaceDpEvent(1.0 / self.epsilon)

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X - self.mean_


class ToySubsampledGaussian(PrivacyMixin, TransformerMixin, BaseEstimator):
    """Five Poisson-subsampled Gaussian steps whose rate depends on n_samples."""

    _parameter_constraints = {
        "noise_multiplier": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        **privacy_constraints("random_state"),
    }
    _privacy_releases = {"offset_": "dp"}

    def __init__(self, noise_multiplier=1.0, batch_size=10, random_state=None):
        self.noise_multiplier = noise_multiplier
        self.batch_size = batch_size
        self.random_state = random_state

    def _fit(self, X, y, rng):
        X = validate_data(self, X)
        self.offset_ = rng.normal(0, self.noise_multiplier, size=X.shape[1])
        return self

    def _planned_dp_event(self, n_samples):
        if n_samples is None:
            raise ValueError("ToySubsampledGaussian needs n_samples to plan its cost.")
        q = min(1.0, self.batch_size / n_samples)
        return dpa.SelfComposedDpEvent(
            dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(self.noise_multiplier)), 5
        )

    def transform(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return X + self.offset_
