"""DPStandardScaler and DPMinMaxScaler: checks, noise scales, privacy, pipelines."""

import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import StableKFold
from skpriv.preprocessing import DPMinMaxScaler, DPStandardScaler
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

from ..mechanisms._stats import ALPHA, Z

ESTIMATORS = [
    make_test_instance(DPStandardScaler),
    make_test_instance(DPMinMaxScaler),
    DPStandardScaler(epsilon=2.0, delta=1e-5, bounds=(0, 1), random_state=0),
    DPStandardScaler(epsilon=2.0, bounds="private", random_state=0),
    DPMinMaxScaler(epsilon=2.0, bounds="private", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_common_checks(estimator, check):
    check(estimator)


# ------------------------------------------------- golden noise scales


def _scaler_mean_noise_ok(monkeypatch_factor=None):
    # DPStandardScaler, pure DP: the moments get half the epsilon each; the
    # mean of feature j has Laplace noise of scale 2 d (w_j / 2 + g_j) /
    # (epsilon n) (budget split over the d features and the two sums).
    from skpriv.mechanisms import grid_granularity

    from ..mechanisms._stats import assert_mean_matches

    n, eps = 500, 1.0
    widths = np.array([1.0, 4.0])
    X = np.tile(widths / 2, (n, 1))
    d = widths.size
    nominal = d * (widths / 2) / (eps / 2)
    scale = d * (widths / 2 + [grid_granularity(s) for s in nominal]) / (eps / 2)
    b = scale / n
    rng = np.random.default_rng(0)
    means = np.array(
        [
            DPStandardScaler(eps, bounds=(0, widths), random_state=rng).fit(X).mean_
            for _ in range(4000)
        ]
    )
    for j in range(d):
        assert_mean_matches(np.abs(means[:, j] - X[0, j]), b[j], b[j], f"scaler {j}")


@pytest.mark.slow
def test_scaler_mean_noise_matches_formula():
    _scaler_mean_noise_ok()


@pytest.mark.slow
def test_scaler_noise_test_has_power(monkeypatch):
    from skpriv.stats import _functions
    from skpriv.stats._noise import Release

    real = _functions.plan_release

    def broken(sensitivity, share):
        r = real(sensitivity, share)
        return Release(r.kind, r.scales * 0.9, r.granularity, r.event)

    monkeypatch.setattr(_functions, "plan_release", broken)
    with pytest.raises(AssertionError, match="scaler"):
        _scaler_mean_noise_ok()


# ------------------------------------------------- accounting, pipelines


def test_privacy_spent_equals_the_budget():
    X = np.random.default_rng(0).uniform(0, 1, (300, 4))
    for est in (
        DPStandardScaler(1.0, bounds=(0, 1), random_state=0),
        DPStandardScaler(1.0, delta=1e-6, bounds=(0, 1), random_state=0),
        DPStandardScaler(1.0, bounds="private", random_state=0),
        DPMinMaxScaler(1.0, bounds=(0, 1), random_state=0),
        DPMinMaxScaler(1.0, bounds="private", random_state=0),
    ):
        est.fit(X)
        spent = privacy_spent(est, strict=True)
        assert spent.epsilon <= 1.0 + 1e-9
        assert spent.epsilon == pytest.approx(1.0, rel=1e-6)
        assert spent.epsilon == pytest.approx(
            epsilon_of(est._planned_dp_event(300), est.get_params().get("delta", 0))
        )
        assert sum(est.epsilon_split_.values()) == pytest.approx(1.0)


def test_private_bounds_state_the_split():
    X = np.random.default_rng(0).normal(3, 1, (5000, 2))
    est = DPStandardScaler(2.0, bounds="private", random_state=0).fit(X)
    assert est.epsilon_split_ == pytest.approx({"bounds": 0.4, "moments": 1.6})
    lower, upper = est.bounds_
    assert np.all(lower < 1.5) and np.all(upper > 4.5)
    np.testing.assert_allclose(est.mean_, 3, atol=0.2)
    np.testing.assert_allclose(est.scale_, 1, atol=0.2)


def test_grid_search_pipeline_is_covered_except_the_scores():
    X, y = load_breast_cancer(return_X_y=True)
    bounds = (np.zeros(X.shape[1]), 2.0 ** np.ceil(np.log2(X.max(axis=0))))
    pipe = make_pipeline(
        DPStandardScaler(epsilon=0.5, delta=1e-6, bounds=bounds, random_state=0),
        Normalizer(),
        DPLogisticRegression(data_norm=1.0, classes=[0, 1], random_state=0),
    )
    search = GridSearchCV(
        pipe,
        {"dplogisticregression__epsilon": [0.5, 1.0]},
        cv=StableKFold(3, random_state=0),
    ).fit(X, y)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        spent = privacy_spent(search, delta=1e-5)
    assert {r.attribute for r in spent.uncovered} == {
        "cv_results_",
        "best_score_",
        "best_params_",
    }
    assert math.isfinite(spent.epsilon) and spent.epsilon > 1.0
    assert all("dpstandardscaler" not in str(w.message) for w in record)


def test_column_transformer_of_dp_scalers():
    X = np.random.default_rng(0).uniform(0, 1, (400, 4))
    ct = ColumnTransformer(
        [
            ("std", DPStandardScaler(0.5, bounds=(0, 1), random_state=0), [0, 1]),
            ("mm", DPMinMaxScaler(0.5, bounds=(0, 1), random_state=0), [2, 3]),
        ]
    ).fit(X)
    assert ct.transform(X).shape == (400, 4)
    assert privacy_spent(ct, strict=True).epsilon == pytest.approx(1.0)


def test_bounds_none_warns_and_is_named_uncovered():
    X = np.random.default_rng(0).uniform(0, 1, (50, 2))
    with pytest.warns(PrivacyLeakWarning, match="bounds=None"):
        est = DPStandardScaler(random_state=0).fit(X)
    with pytest.warns(PrivacyLeakWarning):
        spent = privacy_spent(est)
    assert {r.attribute for r in spent.uncovered} == {
        "mean_",
        "var_",
        "scale_",
        "bounds_",
    }


def test_transform_round_trips_and_flags():
    X = np.random.default_rng(0).uniform(0, 1, (200, 3))
    for est in (
        DPStandardScaler(2.0, bounds=(0, 1), random_state=0),
        DPStandardScaler(2.0, bounds=(0, 1), with_mean=False, random_state=0),
        DPMinMaxScaler(2.0, bounds=(0, 1), feature_range=(-1, 1), random_state=0),
    ):
        Xt = est.fit_transform(X)
        np.testing.assert_allclose(est.inverse_transform(Xt), X, atol=1e-9)
    only_mean = DPStandardScaler(2.0, bounds=(0, 1), with_std=False).fit(X)
    assert only_mean.var_ is None and only_mean.scale_ is None
    clipped = DPMinMaxScaler(2.0, bounds=(0, 1), clip=True, random_state=0).fit(X)
    assert clipped.transform(X * 3).max() <= 1.0


@pytest.mark.parametrize(
    "est, match",
    [
        (DPStandardScaler(bounds=(1, 0)), "bounds"),
        (DPStandardScaler(bounds="public"), "bounds"),
        (DPMinMaxScaler(bounds=(0, 1), feature_range=(1, 0)), "feature_range"),
        (DPMinMaxScaler(bounds=(0, 1), quantile_range=(50, 10)), "quantile_range"),
        (DPStandardScaler(bounds=(0, 1), delta=1.5), "delta"),
    ],
)
def test_bad_parameters_are_named(est, match):
    with pytest.raises(ValueError, match=match):
        est.fit(np.ones((5, 2)))
    assert not hasattr(est, "dp_event_")


def test_repeated_fits_draw_fresh_noise():
    X = np.random.default_rng(0).uniform(0, 1, (100, 2))
    est = DPStandardScaler(1.0, bounds=(0, 1))
    a = clone(est).fit(X).mean_
    b = clone(est).fit(X).mean_
    assert not np.array_equal(a, b)
    assert ALPHA > 0 and Z > 0  # shared statistical constants imported
