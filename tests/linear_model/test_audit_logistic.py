"""One-run canary audit of DPLogisticRegression, with power controls.

The bound of :func:`skpriv.audit.canary_audit` exceeds the true epsilon of
an (epsilon, delta)-DP algorithm with probability at most ``(1 -
confidence) + 2 m delta``; with ``confidence = 1 - 1e-6``, ``delta = 1e-10``
and ``m = 400`` canaries the false-failure rate is about 1e-6.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from skpriv.audit import canary_audit
from skpriv.linear_model import DPLogisticRegression
from skpriv.linear_model import _mechanisms as mech

CONFIDENCE = 1 - 1e-6
DELTA = 1e-10
EPSILON = 1.0


def _data(seed=0, n=200, m=400):
    """Base rows in 4 features; each canary has a feature of its own at norm 1."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    y = (X[:, 0] > 0).astype(int)
    X = np.c_[X, np.zeros((n, m))]
    Xc = np.c_[np.zeros((m, 4)), np.eye(m)]
    yc = rng.integers(0, 2, m)
    return X, y, Xc, yc


def _audit(estimator):
    X, y, Xc, yc = _data()
    return canary_audit(
        estimator,
        X,
        y,
        Xc,
        yc,
        score="margin",
        n_guesses=200,
        delta=DELTA,
        confidence=CONFIDENCE,
        random_state=0,
    )


@pytest.mark.parametrize("solver", ["gd", "ssp"])
def test_dp_model_stays_below_declared_epsilon(solver):
    est = DPLogisticRegression(
        epsilon=EPSILON, delta=DELTA, data_norm=1.0, solver=solver, random_state=0
    )
    assert _audit(est).epsilon_lower_bound < EPSILON


@pytest.mark.parametrize("solver", ["ssp", "output"])
def test_pure_dp_model_stays_below_declared_epsilon(solver):
    est = DPLogisticRegression(
        epsilon=EPSILON, delta=0.0, data_norm=1.0, solver=solver, random_state=0
    )
    assert _audit(est).epsilon_lower_bound < EPSILON


def test_power_non_private_model_exceeds_declared_epsilon():
    assert _audit(LogisticRegression(C=100.0)).epsilon_lower_bound > EPSILON


def test_power_mis_scaled_mechanism_exceeds_declared_epsilon(monkeypatch):
    """The same audit catches DPLogisticRegression with 1000x too little noise."""
    original = mech.gaussian_release

    def too_little_noise(values, sensitivity, noise_multiplier, rng):
        noisy, event = original(values, sensitivity, noise_multiplier / 1000, rng)
        return noisy, event

    monkeypatch.setattr(mech, "gaussian_release", too_little_noise)
    est = DPLogisticRegression(
        epsilon=EPSILON,
        delta=DELTA,
        data_norm=1.0,
        solver="gd",
        C=100.0,
        random_state=0,
    )
    assert _audit(est).epsilon_lower_bound > EPSILON
