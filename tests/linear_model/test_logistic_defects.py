"""DPLogisticRegression defects of issue 14: each test fails on the code before it."""

import math

import numpy as np
import pytest
from sklearn.datasets import make_classification

from skpriv.accounting import epsilon_of
from skpriv.linear_model import DPLogisticRegression


@pytest.mark.parametrize(
    "solver, delta",
    [("auto", 1e-5), ("gd", 1e-5), ("ssp", 1e-5), ("ssp", 0.0), ("output", 0.0)],
)
@pytest.mark.parametrize("epsilon", [1e7, 1e300])
def test_huge_epsilon_gives_finite_coefficients_and_an_exact_event(
    solver, delta, epsilon
):
    X, y = make_classification(600, 5, random_state=0)
    clf = DPLogisticRegression(
        epsilon=epsilon,
        delta=delta,
        data_norm=5.0,
        classes=[0, 1],
        solver=solver,
        random_state=0,
    ).fit(X, y)
    assert np.isfinite(clf.coef_).all() and np.isfinite(clf.intercept_).all()
    assert clf.score(X, y) > 0.85
    # The event records the noise added: calibrated to at most 1e6.
    spent = epsilon_of(clf.dp_event_, delta)
    assert math.isfinite(spent) and 1e5 < spent <= 1e6 * (1 + 1e-6)
