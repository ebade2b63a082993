"""DPRandomForestClassifier: checks, golden noise, privacy loss, properties."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skpriv.ensemble._forest as forest_module
from skpriv.accounting import privacy_spent
from skpriv.ensemble import DPRandomForestClassifier
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks
from tests.naive_bayes._loss import loss_lower_bound, record_releases

X_BC, Y_BC = load_breast_cancer(return_X_y=True)
BOUNDS_BC = (np.floor(X_BC.min(0)), np.ceil(X_BC.max(0)))


@parametrize_with_checks([make_test_instance(DPRandomForestClassifier)])
def test_sklearn_and_privacy_checks(estimator, check):
    check(estimator)


def test_golden_noise_event_and_depth(monkeypatch):
    calls = record_releases(monkeypatch, forest_module, "DiscreteLaplace")
    clf = DPRandomForestClassifier(
        epsilon=0.7, bounds=BOUNDS_BC, classes=[0, 1], random_state=0
    ).fit(X_BC, Y_BC)
    ((mech, counts),) = calls
    # Disjoint trees: every leaf count gets the whole epsilon.
    assert mech.scale == pytest.approx(1 / 0.7)
    assert counts.sum() == X_BC.shape[0]  # each row counted once
    # log2(569 / 10) + 1.5 log2(30) - 1 = 12.19 -> 12.
    assert clf.leaf_counts_.shape == (10, 2**12, 2)
    spent = privacy_spent(clf)
    assert spent.epsilon == pytest.approx(0.7) and not spent.uncovered


def test_trees_do_not_depend_on_the_data():
    a = DPRandomForestClassifier(bounds=BOUNDS_BC, classes=[0, 1], max_depth=5)
    b = DPRandomForestClassifier(bounds=BOUNDS_BC, classes=[0, 1], max_depth=5)
    a.set_params(random_state=3).fit(X_BC, Y_BC)
    b.set_params(random_state=3).fit(X_BC[:50], Y_BC[:50])
    np.testing.assert_array_equal(a.features_, b.features_)
    np.testing.assert_array_equal(a.thresholds_, b.thresholds_)


def _neighbour_releases(monkeypatch):
    # One tree of depth 1 on [0, 1]: x = 0 always reaches leaf 0, so the
    # neighbours differ in one count (leaf 0, class 1) by one.
    calls = record_releases(monkeypatch, forest_module, "DiscreteLaplace")
    est = DPRandomForestClassifier(
        1, epsilon=1.0, bounds=(0, 1), classes=[0, 1], max_depth=1, random_state=0
    )
    est.fit([[0.0]], [0])
    est.fit([[0.0], [0.0]], [0, 1])
    (mech, a), (_, b) = calls
    return mech, a, b


def test_empirical_privacy_loss_within_epsilon(monkeypatch):
    mech, a, b = _neighbour_releases(monkeypatch)
    assert loss_lower_bound(mech, a, b, np.random.default_rng(5)) <= 1.0


def test_empirical_privacy_loss_test_has_power(monkeypatch):
    mech, a, b = _neighbour_releases(monkeypatch)
    lb = loss_lower_bound(mech, a, b, np.random.default_rng(5), scale_factor=0.9)
    assert lb > 1.0


def test_accuracy_on_breast_cancer():
    clf = DPRandomForestClassifier(
        epsilon=1.0, bounds=BOUNDS_BC, classes=[0, 1], random_state=0
    )
    assert clf.fit(X_BC, Y_BC).score(X_BC, Y_BC) > 0.85


def test_leak_warnings_and_uncovered_names():
    with pytest.warns(PrivacyLeakWarning):
        clf = DPRandomForestClassifier(random_state=0).fit(X_BC, Y_BC)
    with pytest.warns(PrivacyLeakWarning):
        named = {u.attribute for u in privacy_spent(clf).uncovered}
    assert {"bounds_", "classes_", "thresholds_", "leaf_counts_"} <= named


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": -1}, "epsilon"),
        ({"n_estimators": 0}, "n_estimators"),
        ({"max_depth": 0}, "max_depth"),
        ({"max_depth": 30}, "max_depth"),
        ({"bounds": (0, 0)}, "bounds"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            DPRandomForestClassifier(**params).fit([[0.0], [1.0]], [0, 1])


def test_bad_data():
    est = DPRandomForestClassifier(bounds=(0, 1), classes=[0, 1])
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.fit([[np.inf], [0.0]], [0, 1])
    with pytest.raises(ValueError, match="classes parameter"):
        est.fit([[0.0], [0.0]], [0, 2])


def test_pipeline_and_search():
    pipe = make_pipeline(
        FunctionTransformer(),
        DPRandomForestClassifier(
            bounds=BOUNDS_BC, classes=[0, 1], max_depth=6, random_state=0
        ),
    )
    assert privacy_spent(pipe.fit(X_BC, Y_BC)).epsilon == pytest.approx(1.0)
    search = GridSearchCV(pipe, {"dprandomforestclassifier__epsilon": [1.0, 2.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        spent = privacy_spent(search.fit(X_BC, Y_BC))
    assert spent.epsilon >= 2 * (1.0 + 2.0) - 1e-9


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(1, 30),
    d=st.integers(1, 4),
    depth=st.integers(1, 6),
    trees=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_properties(n, d, depth, trees, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, (n, d))
    y = rng.integers(0, 3, n)
    clf = DPRandomForestClassifier(
        trees, bounds=(-1, 1), classes=[0, 1, 2], max_depth=depth, random_state=seed
    ).fit(X, y)
    assert clf.leaf_counts_.dtype.kind == "i"
    assert np.all((clf.thresholds_ > -1) & (clf.thresholds_ < 1))
    np.testing.assert_allclose(clf.predict_proba(X).sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {0, 1, 2}
