"""PATEClassifier defects of issue 14: each test fails on the code before it."""

import math
import warnings

import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import (
    check_classifiers_one_label,
    check_classifiers_regression_target,
)
from threadpoolctl import threadpool_limits

from skpriv.accounting import epsilon_of
from skpriv.ensemble import PATEClassifier
from skpriv.utils._sklearn_compat import InvalidParameterError


@pytest.fixture(autouse=True)
def _one_blas_thread():
    with threadpool_limits(1):
        yield


def _data(n=600, n_public=200, seed=0):
    X, y = make_classification(n, 5, n_informative=3, random_state=seed)
    y_fit = y.copy()
    y_fit[:n_public] = -1
    return X, y, y_fit


def test_budget_cutting_max_queries_warns():
    # sigma=20 at epsilon=1, delta=1e-5 pays for 14 GNMax queries, not 150.
    X, _, y_fit = _data()
    pate = PATEClassifier(
        n_teachers=5, sigma=20.0, max_queries=150, classes=[0, 1], random_state=0
    )
    with pytest.warns(UserWarning, match=r"asked 14 of the 150 queries.*max_queries"):
        pate.fit(X, y_fit)
    assert pate.n_queries_ == 14


def test_budget_cutting_the_pool_warns_and_calibrated_sigma_does_not():
    X, _, y_fit = _data()
    with pytest.warns(UserWarning, match=r"asked 14 of the 200 queries"):
        PATEClassifier(n_teachers=5, sigma=20.0, classes=[0, 1], random_state=0).fit(
            X, y_fit
        )
    with warnings.catch_warnings():
        # UserWarning (PrivacyLeakWarning included): scikit-learn 1.6 passes
        # scipy a deprecated option, a DeprecationWarning that is not ours.
        warnings.simplefilter("error", UserWarning)
        pate = PATEClassifier(
            n_teachers=5, max_queries=150, classes=[0, 1], random_state=0
        ).fit(X, y_fit)
    assert pate.n_queries_ == 150


def test_confident_gnmax_stopped_by_the_budget_warns():
    X, _, y_fit = _data()
    pate = PATEClassifier(
        n_teachers=5,
        aggregator="confident_gnmax",
        sigma=20.0,
        sigma_threshold=20.0,
        threshold=1.0,
        classes=[0, 1],
        random_state=0,
    )
    with pytest.warns(UserWarning, match="queries requested"):
        pate.fit(X, y_fit)
    assert pate.n_queries_ < 200


@pytest.mark.parametrize("aggregator", ["gnmax", "lnmax", "confident_gnmax"])
@pytest.mark.parametrize("epsilon", [1e7, 1e300])
def test_huge_epsilon_gives_finite_results_and_an_exact_event(aggregator, epsilon):
    X, y, y_fit = _data()
    pate = PATEClassifier(
        n_teachers=5,
        aggregator=aggregator,
        epsilon=epsilon,
        classes=[0, 1],
        keep_teachers=True,
        random_state=0,
    ).fit(X, y_fit)
    assert math.isfinite(pate.sigma_) and pate.sigma_ > 0
    assert pate.n_queries_ == 200
    # Noise this small changes no label the teachers agree on.
    assert pate.label_agreement_ == 1.0
    # The recorded event is what was added: its epsilon, re-derived, is epsilon_.
    accountant = "rdp" if aggregator == "lnmax" else "pld"
    assert epsilon_of(pate.dp_event_, 1e-5, accountant) == pate.epsilon_
    assert 1e5 < pate.epsilon_ <= epsilon
    assert pate.score(X[200:], y[200:]) > 0.6


@pytest.mark.parametrize(
    "teacher",
    [
        LogisticRegression(C=-1),
        make_pipeline(StandardScaler(), LogisticRegression(C=-1)),
    ],
)
@pytest.mark.parametrize("role", ["teacher", "student"])
def test_nested_parameters_are_validated_before_any_work(teacher, role):
    X, _, y_fit = _data()
    pate = PATEClassifier(
        **{role: teacher}, n_teachers=5, classes=[0, 1], random_state=0
    )
    with pytest.raises(InvalidParameterError, match=rf"{role}.*'C' parameter"):
        pate.fit(X, y_fit)
    assert not hasattr(pate, "dp_event_")


def test_default_constructor_names_bad_labels_before_missing_public_rows():
    # Two of the checks PATEClassifier() failed: the labels are checked first.
    check_classifiers_one_label("PATEClassifier", PATEClassifier(random_state=0))
    check_classifiers_regression_target(
        "PATEClassifier", PATEClassifier(random_state=0)
    )
