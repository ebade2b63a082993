"""DPGaussianNB: contract checks, golden noise, privacy loss, properties."""

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skpriv.naive_bayes._gaussian as gaussian_module
from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.naive_bayes import DPGaussianNB
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

from ._loss import loss_lower_bound, record_releases

X_BC, Y_BC = load_breast_cancer(return_X_y=True)
BOUNDS_BC = (np.floor(X_BC.min(0)), np.ceil(X_BC.max(0)))


@parametrize_with_checks([make_test_instance(DPGaussianNB)])
def test_sklearn_and_privacy_checks(estimator, check):
    check(estimator)


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return est.fit(X, y)


# ------------------------------------------------------------ golden numbers


def test_plan_splits_epsilon_and_event_costs_exactly_epsilon():
    est = DPGaussianNB(epsilon=2.0)
    assert est._plan() == pytest.approx(
        {"count_eps": 0.1, "sum_eps": 1.6, "square_eps": 0.3}
    )
    clf = DPGaussianNB(
        epsilon=2.0, bounds=BOUNDS_BC, classes=[0, 1], random_state=0
    ).fit(X_BC, Y_BC)
    spent = privacy_spent(clf)
    assert spent.epsilon == pytest.approx(2.0, rel=1e-12)
    assert spent.delta == 0
    assert not spent.uncovered
    assert epsilon_of(clf._planned_dp_event(10), 0.0) == pytest.approx(2.0)


def test_golden_noise_scales(monkeypatch):
    calls = record_releases(monkeypatch, gaussian_module, "DiscreteLaplace", "Laplace")
    d = X_BC.shape[1]
    DPGaussianNB(epsilon=1.0, bounds=BOUNDS_BC, classes=[0, 1], random_state=0).fit(
        X_BC, Y_BC
    )
    (counts, c_values), (sums, s_values), (squares, q_values) = calls
    assert counts.scale == pytest.approx(1 / 0.05)
    # Laplace scale = (sensitivity + d * granularity) / epsilon share.
    assert sums.scale == pytest.approx((d / 2 + d * sums.granularity) / 0.8)
    assert squares.scale == pytest.approx((d / 8 + d * squares.granularity) / 0.15)
    assert c_values.tolist() == np.bincount(Y_BC).tolist()
    assert s_values.shape == (2, d) and np.abs(s_values).max() <= c_values.max() / 2
    assert q_values.shape == (d,)


# ----------------------------------------------- empirical privacy loss (1e-6)


def _neighbour_releases(monkeypatch):
    """The three releases on D and on D plus one extreme row of class 1."""
    calls = record_releases(monkeypatch, gaussian_module, "DiscreteLaplace", "Laplace")
    X = np.array([[0.5], [0.5], [0.5]])
    y = np.array([0, 0, 1])
    est = DPGaussianNB(epsilon=1.0, bounds=(0.0, 1.0), classes=[0, 1], random_state=0)
    est.fit(X, y)
    est.fit(np.vstack([X, [[1.0]]]), np.append(y, 1))
    assert len(calls) == 6
    return list(zip(calls[:3], calls[3:])), est._plan()


def test_empirical_privacy_loss_within_each_share(monkeypatch):
    pairs, plan = _neighbour_releases(monkeypatch)
    rng = np.random.default_rng(11)
    for ((mech, a), (_, b)), key in zip(pairs, ("count_eps", "sum_eps", "square_eps")):
        if key == "square_eps":
            # z^2 - 1/8 of the added row (z = 1/2) is +1/8, the sensitivity.
            assert float(b[0] - a[0]) == pytest.approx(0.125)
        assert loss_lower_bound(mech, a, b, rng) <= plan[key]


def test_empirical_privacy_loss_test_has_power(monkeypatch):
    pairs, plan = _neighbour_releases(monkeypatch)
    rng = np.random.default_rng(11)
    (mech, a), (_, b) = pairs[1]  # the class sums
    assert loss_lower_bound(mech, a, b, rng, scale_factor=0.9) > plan["sum_eps"]


# ------------------------------------------------------------ behaviour


def test_accuracy_and_speed_on_breast_cancer():
    clf = DPGaussianNB(epsilon=5.0, bounds=BOUNDS_BC, classes=[0, 1], random_state=0)
    assert clf.fit(X_BC, Y_BC).score(X_BC, Y_BC) > 0.85


def test_declared_public_inputs_leave_nothing_uncovered_and_priors_public():
    clf = DPGaussianNB(
        bounds=BOUNDS_BC, classes=[0, 1], priors=[0.4, 0.6], random_state=0
    ).fit(X_BC, Y_BC)
    np.testing.assert_allclose(clf.class_prior_, [0.4, 0.6])
    assert not privacy_spent(clf).uncovered


def test_bounds_and_classes_from_data_warn_and_are_named():
    with pytest.warns(PrivacyLeakWarning):
        clf = DPGaussianNB(random_state=0).fit(X_BC, Y_BC)
    with pytest.warns(PrivacyLeakWarning):
        spent = privacy_spent(clf)
    named = {u.attribute for u in spent.uncovered}
    assert {"bounds_", "classes_", "theta_", "var_"} <= named


def test_clipping_bounds_every_row():
    X = np.array([[0.0], [1.0], [1e9], [-1e9]])
    clf = DPGaussianNB(epsilon=1e4, bounds=(0, 1), classes=[0, 1], random_state=0).fit(
        X, [0, 0, 1, 1]
    )
    assert np.all((clf.theta_ >= 0) & (clf.theta_ <= 1))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": 0}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"bounds": (1, 0)}, "bounds"),
        ({"bounds": (0, [1, 2, 3])}, "bounds"),
        ({"priors": [0.5, 0.6]}, "priors"),
        ({"priors": [1.0]}, "priors"),
        ({"classes": [0]}, "classes"),
        ({"var_smoothing": -1}, "var_smoothing"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        _fit(DPGaussianNB(**params), [[0.0, 1.0], [1.0, 0.0]], [0, 1])


def test_bad_data():
    est = DPGaussianNB(bounds=(0, 1), classes=[0, 1])
    with pytest.raises(ValueError, match="NaN"):
        est.fit([[np.nan], [0.0]], [0, 1])
    with pytest.raises(ValueError, match="classes parameter"):
        est.fit([[0.0], [0.0]], [0, 7])
    with pytest.raises(TypeError, match="sample_weight"):
        est.fit([[0.0], [1.0]], [0, 1], sample_weight=[1, 1])


def test_pipeline_and_search_are_accounted():
    pipe = make_pipeline(
        FunctionTransformer(),
        DPGaussianNB(bounds=BOUNDS_BC, classes=[0, 1], random_state=0),
    )
    assert privacy_spent(pipe.fit(X_BC, Y_BC)).epsilon == pytest.approx(1.0)
    search = GridSearchCV(pipe, {"dpgaussiannb__epsilon": [0.5, 1.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        spent = privacy_spent(search.fit(X_BC, Y_BC))
    # Every fit is charged: 2 candidates x 2 folds and the refit, at least.
    assert (
        spent.epsilon
        >= 2 * (0.5 + 1.0) + search.best_params_["dpgaussiannb__epsilon"] - 1e-9
    )


@settings(max_examples=25, deadline=None)
@given(
    n=st.integers(2, 40),
    d=st.integers(1, 5),
    epsilon=st.floats(0.01, 100),
    seed=st.integers(0, 2**16),
)
def test_properties(n, d, epsilon, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (n, d))
    y = rng.integers(0, 3, n)
    clf = DPGaussianNB(
        epsilon=epsilon, bounds=(-2, 2), classes=[0, 1, 2], random_state=seed
    ).fit(X, y)
    assert np.all((clf.theta_ >= -2) & (clf.theta_ <= 2))
    assert np.all(clf.var_ > 0) and np.all(np.isfinite(clf.var_))
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert math.isclose(privacy_spent(clf).epsilon, epsilon, rel_tol=1e-9)
