"""Counting doubles: they record every fit and every row they transform."""

from collections import Counter

import dp_accounting as dpa
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_is_fitted

from skpriv.base import PrivacyMixin, privacy_constraints
from skpriv.utils._sklearn_compat import validate_data

#: Rows (by the id in column 0) each CountingNoise transform saw.
ROWS_SEEN = Counter()
#: Training-set sizes of every CountingClassifier fit.
FITS = []


class CountingNoise(PrivacyMixin, TransformerMixin, BaseEstimator):
    """A local-DP transformer (Laplace, epsilon per row per call) that counts.

    Column 0 holds a row id and passes through; the other columns get
    Laplace noise of scale ``(d - 1) / epsilon`` for values in [0, 1].
    """

    _parameter_constraints = privacy_constraints("epsilon", "random_state")
    _releases_private_output = True
    _privacy_releases = {"rng_": "public"}

    def __init__(self, epsilon=1.0, random_state=None):
        self.epsilon = epsilon
        self.random_state = random_state

    def _fit(self, X, y, rng):
        validate_data(self, X)
        self.rng_ = rng
        return self

    def _planned_dp_event(self, n_samples):
        return dpa.LaplaceDpEvent(1.0 / self.epsilon)

    def transform(self, X):
        check_is_fitted(self)
        X = np.array(validate_data(self, X, reset=False), dtype=float)
        ROWS_SEEN.update(int(i) for i in X[:, 0])
        d = X.shape[1] - 1
        X[:, 1:] = np.clip(X[:, 1:], 0, 1) + self.rng_.laplace(
            0, d / self.epsilon, size=X[:, 1:].shape
        )
        return X


class CountingClassifier(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """A central-DP classifier stand-in (Laplace event) that counts its fits."""

    _parameter_constraints = privacy_constraints("epsilon", "random_state")
    _privacy_releases = {"coef_": "dp", "classes_": "public", "model_": "dp"}

    def __init__(self, epsilon=1.0, random_state=None):
        self.epsilon = epsilon
        self.random_state = random_state

    def _fit(self, X, y, rng):
        X, y = validate_data(self, X, y)
        FITS.append(len(X))
        self.model_ = LogisticRegression().fit(X, y)
        self.classes_ = self.model_.classes_
        self.coef_ = self.model_.coef_ + rng.laplace(0, 0.01, self.model_.coef_.shape)
        return self

    def _planned_dp_event(self, n_samples):
        return dpa.LaplaceDpEvent(1.0 / self.epsilon)

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)

    def decision_function(self, X):
        return self.model_.decision_function(X)
