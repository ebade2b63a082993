"""A user's DP estimator following the privacy contract, and broken variants."""

import numpy as np
from sklearn.base import BaseEstimator

from skpriv.mechanisms import Laplace
from skpriv.utils import check_random_state


class DPSum(BaseEstimator):
    """Noisy sum of the first column clipped to ``bounds`` (a user's class).

    ``bug`` breaks it on purpose: ``"halved"`` halves the noise scale,
    ``"leak"`` keeps the exact maximum as an undeclared attribute,
    ``"noclip"`` ignores the bounds.
    """

    _privacy_releases = {"sum_": "dp"}

    def __init__(self, epsilon=1.0, bounds=(0.0, 1.0), bug=None, random_state=None):
        self.epsilon = epsilon
        self.bounds = bounds
        self.bug = bug
        self.random_state = random_state

    def fit(self, X, y=None):
        X = np.asarray(X, dtype=np.float64)
        lo, hi = self.bounds
        x = X[:, 0] if self.bug == "noclip" else np.clip(X[:, 0], lo, hi)
        mech = Laplace.from_epsilon(self.epsilon, sensitivity=hi - lo)
        if self.bug == "halved":
            mech = Laplace(mech.scale / 2, granularity=mech.granularity)
        self.sum_ = mech.randomise(
            np.array([x.sum()]), check_random_state(self.random_state)
        )
        if self.bug == "leak":
            self.max_ = X.max()
        self.dp_event_ = Laplace.from_epsilon(
            self.epsilon, sensitivity=hi - lo
        ).dp_event(hi - lo)
        self.n_features_in_ = X.shape[1]
        return self


def laplace_sum(scale_factor=1.0, epsilon=1.0):
    """A mechanism ``f(X, y, seed)``: Laplace sum of a [0, 1] column."""

    def mechanism(X, y, seed):
        mech = Laplace.from_epsilon(epsilon, sensitivity=1.0)
        mech = Laplace(mech.scale * scale_factor, granularity=mech.granularity)
        x = np.clip(np.asarray(X, dtype=np.float64)[:, 0], 0, 1)
        return mech.randomise(np.array([x.sum()]), np.random.default_rng(seed))

    return mechanism
