"""DPPCA: common checks, accuracy, privacy accounting."""

import math
import warnings

import numpy as np
import pytest
from sklearn.decomposition import PCA

from skpriv.accounting import privacy_spent
from skpriv.decomposition import DPPCA
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.utils.estimator_checks import make_test_instance, parametrize_with_checks

ESTIMATORS = [
    make_test_instance(DPPCA),
    DPPCA(n_components=2, epsilon=2.0, data_norm=2.0, random_state=0),
    DPPCA(epsilon=2.0, data_norm="private", centering="none", random_state=0),
]


@parametrize_with_checks(ESTIMATORS)
def test_common_checks(estimator, check):
    check(estimator)


def _data(n=20_000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 4)) * [3.0, 1.5, 0.5, 0.1] + [1.0, 0.0, 0.0, 0.0]


def test_components_match_pca_at_a_large_budget():
    X = _data()
    dp = DPPCA(n_components=2, epsilon=10.0, data_norm=12.0, random_state=0).fit(X)
    ref = PCA(n_components=2).fit(X)
    overlap = np.abs(np.sum(dp.components_ * ref.components_, axis=1))
    assert np.all(overlap > 0.99)
    np.testing.assert_allclose(
        dp.explained_variance_, ref.explained_variance_, rtol=0.1
    )
    np.testing.assert_allclose(dp.mean_, X.mean(axis=0), atol=0.1)
    Z = dp.transform(X)
    assert Z.shape == (X.shape[0], 2)
    full = DPPCA(epsilon=10.0, data_norm=12.0, random_state=0).fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-8)


def test_privacy_spent_equals_epsilon_and_split():
    X = _data(2000)
    for est in (
        DPPCA(epsilon=1.0, data_norm=12.0, random_state=0),
        DPPCA(epsilon=1.0, data_norm=12.0, centering="none", random_state=0),
        DPPCA(epsilon=1.0, data_norm="private", random_state=0),
    ):
        est.fit(X)
        spent = privacy_spent(est, strict=True)
        assert spent.delta == 1e-5
        assert spent.epsilon <= 1.0 + 1e-9
        assert sum(est.epsilon_split_.values()) == pytest.approx(1.0)
    assert est.epsilon_split_["data_norm"] == pytest.approx(0.1)
    assert 3.0 < est.data_norm_ < 12.0


def test_covariance_noise_matches_formula(monkeypatch):
    # Trace of the noisy second moment of zero rows: sum of d diagonal noises.
    from skpriv.decomposition import _pca
    from skpriv.stats._noise import gaussian_mu

    from ..mechanisms._stats import assert_mean_matches

    seen = []
    real_eigh = np.linalg.eigh

    def spy(a):
        seen.append(np.trace(a))
        return real_eigh(a)

    monkeypatch.setattr(_pca.np.linalg, "eigh", spy)
    n, d = 100, 2
    X = np.zeros((n, d))
    est = DPPCA(epsilon=1.0, data_norm=1.0, centering="none")
    rng = np.random.default_rng(0)
    for _ in range(3000):
        est.set_params(random_state=rng).fit(X)
    sd = _pca._gaussian(1.0 / gaussian_mu(1.0, 1e-5), 1.0, 3).sigma / n
    trace = np.array(seen)
    # Trace = sum of 2 independent N(0, sd**2): its square has mean 2 sd**2.
    assert_mean_matches(trace**2, 2 * sd**2, math.sqrt(2) * 2 * sd**2, "cov noise")


def test_data_norm_none_warns_and_is_uncovered():
    X = _data(500)
    with pytest.warns(PrivacyLeakWarning, match="data_norm=None"):
        est = DPPCA(epsilon=1.0, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spent = privacy_spent(est)
    assert "data_norm_" in {r.attribute for r in spent.uncovered}


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_components": 9, "data_norm": 1.0}, "n_components"),
        ({"delta": 0.0, "data_norm": 1.0}, "delta"),
        ({"data_norm": -1.0}, "data_norm"),
        ({"centering": "public", "data_norm": 1.0}, "centering"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        DPPCA(**params).fit(_data(50))
