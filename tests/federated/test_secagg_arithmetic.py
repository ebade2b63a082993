"""Secure aggregation changes who sees the updates, nothing else (issue 14)."""

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, SGDClassifier

from skpriv.federated import FederatedClassifier, FederatedRegressor
from skpriv.federated._secagg import (
    FixedPointOverflowError,
    SecureAggregator,
    fixed_point_sum,
    quantize,
)


@pytest.fixture(scope="module")
def large_target():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20_000, 3))
    y = 1e8 + X @ [1.0, 2.0, 3.0] + rng.normal(size=20_000)
    return X, y


def test_sum_never_wraps_in_the_ring(large_target):
    # Each client's weighted update fitted the ring, their sum did not: the
    # old code decoded a wrapped sum (R^2 = -857) without a word.
    X, y = large_target
    kw = dict(n_rounds=1, n_clients=10, random_state=0)
    plain = FederatedRegressor(LinearRegression(), **kw).fit(X, y)
    secure = FederatedRegressor(LinearRegression(), secure_aggregation=True, **kw).fit(
        X, y
    )
    assert plain.score(X, y) > 0.9
    assert secure.score(X, y) == pytest.approx(plain.score(X, y), abs=1e-9)
    np.testing.assert_array_equal(secure.estimator_.coef_, plain.estimator_.coef_)


def test_values_too_large_for_the_ring_raise_without_quoting_them(large_target):
    X, y = large_target
    fed = FederatedRegressor(
        LinearRegression(), n_rounds=1, n_clients=10, secure_aggregation=True
    )
    secret = 123456789.0e6
    with pytest.raises(ValueError, match="fixed-point range") as info:
        fed.fit(X, y * 1e6 + secret - 1e14)
    assert "1.23" not in str(info.value) and "e+14" not in str(info.value)
    # Plain FedAvg has no ring: it still fits.
    FederatedRegressor(LinearRegression(), n_rounds=1, n_clients=10).fit(X, y * 1e6)


def test_quantize_bounds_the_sum_not_each_value():
    bits = 24
    near = np.array([[2.0 ** (62 - bits) * 0.4]])
    quantize(near, bits, n_summands=2)  # two of them sum below 2**62
    with pytest.raises(FixedPointOverflowError):
        quantize(near, bits, n_summands=3)
    with pytest.raises(FixedPointOverflowError):
        fixed_point_sum(np.repeat(near, 3, axis=0), bits)
    agg = SecureAggregator(random_state=0)
    with pytest.raises(FixedPointOverflowError):
        agg.aggregate(np.repeat(near, 3, axis=0))
    # Below the bound the masked sum equals the fixed-point sum exactly.
    vectors = np.random.default_rng(0).normal(size=(5, 7)) * 1e3
    np.testing.assert_array_equal(agg.aggregate(vectors), fixed_point_sum(vectors, 24))


@pytest.mark.parametrize("shuffle", [True, False])
def test_secure_aggregation_leaves_the_model_unchanged(shuffle):
    # sklearn's "optimal" schedule starts with step 1 / (alpha * 1000) = 10:
    # local training amplifies one rounding step of the average into a
    # different model within a few rounds (a relative change of 1e-15 of
    # the plain average does the same). The old code averaged in floating
    # point without secure aggregation and in fixed point with it, and its
    # models differed by 1.1 to 3.5 in coef_ after rounds 2 to 5.
    X, y = make_classification(
        n_samples=20_000, n_features=20, n_informative=10, n_classes=3, random_state=0
    )
    kw = dict(n_rounds=5, n_clients=20, random_state=0)
    inner = SGDClassifier(loss="log_loss", random_state=0, shuffle=shuffle)
    plain = FederatedClassifier(inner, **kw).fit(X, y)
    secure = FederatedClassifier(inner, secure_aggregation=True, **kw).fit(X, y)
    np.testing.assert_array_equal(secure.estimator_.coef_, plain.estimator_.coef_)
    np.testing.assert_array_equal(
        secure.estimator_.intercept_, plain.estimator_.intercept_
    )
    assert secure.estimator_.t_ == plain.estimator_.t_
    assert [h["score"] for h in secure.history_] == [h["score"] for h in plain.history_]
