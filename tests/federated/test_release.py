"""Issue 13 (privacy truth): what a federated fit releases is covered by its
epsilon (grid-safe noise, public denominator, no exact statistics under DP,
the sampling that ran is the sampling accounted)."""

import dp_accounting
import numpy as np
import pytest
from scipy import stats
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.datasets import make_regression
from sklearn.linear_model import SGDRegressor

from skpriv.federated import FederatedRegressor, register_adapter
from skpriv.federated._adapters import _REGISTRY, LinearWarmStartAdapter
from skpriv.mechanisms import grid_granularity


class _Frozen(RegressorMixin, BaseEstimator):
    def fit(self, X, y):
        self.coef_ = np.zeros(X.shape[1])
        self.intercept_ = 0.0
        return self

    def predict(self, X):
        return X @ self.coef_ + self.intercept_


class _Shift(LinearWarmStartAdapter):
    """Each client's update is the mean of its rows' first column (any size)."""

    def local_fit(self, estimator, X, y, **kw):
        estimator.coef_ = estimator.coef_ + X[:, 0].mean()
        return {}


@pytest.fixture
def shift_adapter():
    register_adapter(_Frozen, _Shift)
    yield
    _REGISTRY.pop(0)


def _dp_regressor(**kw):
    params = dict(
        n_rounds=1, clip_norm=0.5, noise_multiplier=2.0, random_state=0, delta=1e-5
    )
    params.update(kw)
    return FederatedRegressor(_Frozen(), **params)


def test_released_weights_are_multiples_of_the_noise_grid(shift_adapter):
    # Finding 2: the noise was added to a sum off the grid, so the low bits of
    # the released weights revealed the exact sum. Now the clipped updates
    # are rounded to the grid, so noisy sum = released weights * 4 is an
    # exact multiple of the grid step, whatever the clients' values.
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 0.1, (40, 50))
    clients = np.repeat(np.arange(4), 10)
    step = grid_granularity(2.0 * 0.5)
    for bump in (0.0, 1e-7):
        Xb = X.copy()
        Xb[0, 0] += bump  # a tiny change in one client's update
        fed = _dp_regressor(n_clients=4).fit(Xb, np.zeros(40), clients=clients)
        w = np.r_[fed.estimator_.coef_, fed.estimator_.intercept_]
        steps = w * 4 / step  # denominator 4 = client_fraction * n_clients
        np.testing.assert_array_equal(steps, np.rint(steps))


def _noise_consistent(w, sigma):
    """Two-sided chi-square test of the variance, false-failure rate 1e-6."""
    stat = np.sum(w**2) / sigma**2
    lo, hi = stats.chi2.ppf([0.5e-6, 1 - 0.5e-6], w.size)
    return lo < stat < hi


def _zero_update_weights(n_true_clients, n_declared):
    register_adapter(_Frozen, LinearWarmStartAdapter)
    try:
        X = np.zeros((n_true_clients * 2, 4000))
        clients = np.repeat(np.arange(n_true_clients), 2)

        class NoTraining(LinearWarmStartAdapter):
            def local_fit(self, estimator, X, y, **kw):
                return {}

        register_adapter(_Frozen, NoTraining)
        try:
            fed = _dp_regressor(n_clients=n_declared).fit(
                X, np.zeros(len(X)), clients=clients
            )
        finally:
            _REGISTRY.pop(0)
    finally:
        _REGISTRY.pop(0)
    return np.r_[fed.estimator_.coef_, fed.estimator_.intercept_]


@pytest.mark.parametrize("n_true", [10, 11])
def test_noise_scale_does_not_depend_on_the_true_client_count(n_true):
    # Finding 3: the denominator was the true number of clients (10 vs 11
    # told apart from the noise size). It is client_fraction * n_clients,
    # public: the noise on the released weights is nm * C / 10 either way.
    w = _zero_update_weights(n_true, n_declared=10)
    assert _noise_consistent(w, 2.0 * 0.5 / 10)


def test_noise_scale_test_has_power():
    # The same test fails on noise mis-scaled by 10% (a denominator of 11).
    w = _zero_update_weights(10, n_declared=10)
    assert not _noise_consistent(w, 2.0 * 0.5 / 11)
    assert not _noise_consistent(w, 2.0 * 0.5 / 10 * 1.1)


def test_dp_with_given_clients_needs_public_n_clients():
    X = np.zeros((20, 3))
    with pytest.raises(ValueError, match="n_clients"):
        FederatedRegressor(clip_norm=1.0, noise_multiplier=1.0).fit(
            X, np.zeros(20), clients=np.repeat(np.arange(4), 5)
        )


def test_no_exact_statistics_under_dp():
    # Finding 3: history_ held exact sampled-client and clipped counts, and
    # the SGD step counter t_ averaged the clients' private counters.
    X, y = make_regression(n_samples=300, n_features=5, random_state=0)
    y = y / 100
    clients = np.repeat(np.arange(6), 50)
    t_values = []
    for extra in (0, 1):
        # Neighbours: one more client, with many rows of huge targets.
        Xn = np.vstack([X, np.full((200 * extra, 5), 3.0)])
        yn = np.r_[y, np.full(200 * extra, 1e3)]
        cn = np.r_[clients, np.full(200 * extra, 99)]
        fed = FederatedRegressor(
            SGDRegressor(),
            n_rounds=3,
            client_fraction=0.7,
            n_clients=6,
            clip_norm=0.1,
            noise_multiplier=1.0,
            random_state=0,
        ).fit(Xn, yn, clients=cn)
        for record in fed.history_:
            assert set(record) <= {"round", "seconds"}
        assert not hasattr(fed, "n_clients_") and not hasattr(fed, "client_ids_")
        t_values.append(fed.estimator_.t_)
        # The schedule advances by the public expected steps per round.
        assert fed.estimator_.t_ == pytest.approx(1.0 + 3 * len(Xn) / 6)
    assert t_values[0] != t_values[1]  # n is public; the counters are not used


def test_secure_aggregation_with_dp_clips_each_client():
    # Finding 4 (in-process): under DP and secure aggregation each client's
    # update is clipped before masking, so one client moves the global
    # update by at most clip_norm / (client_fraction * n_clients).
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = X @ np.array([1.0, 2.0, -1.0])
    clients = np.repeat(np.arange(4), 100)
    fits = []
    for scale in (1.0, 1e4):
        ys = y.copy()
        ys[clients == 0] *= scale  # one client with a huge update
        fed = FederatedRegressor(
            SGDRegressor(learning_rate="constant", eta0=1e-3),
            n_rounds=1,
            n_clients=4,
            clip_norm=0.5,
            noise_multiplier=1e-6,
            secure_aggregation=True,
            random_state=0,
        ).fit(X, ys, clients=clients)
        fits.append(np.r_[fed.estimator_.coef_, fed.estimator_.intercept_])
    # Both the normal and the huge update of client 0 lie within 0.5 of 0.
    assert np.linalg.norm(fits[1] - fits[0]) <= 2 * 0.5 / 4 + 1e-4


def test_dp_event_comes_from_the_plan():
    fed = _dp_regressor(n_clients=5, client_fraction=0.4, n_rounds=3)
    planned = fed._planned_dp_event(100)
    X = np.random.default_rng(0).uniform(size=(50, 3))
    register_adapter(_Frozen, _Shift)
    try:
        fed.fit(X, np.zeros(50))
    finally:
        _REGISTRY.pop(0)
    assert repr(fed.dp_event_) == repr(planned)
    expected = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.4, dp_accounting.GaussianDpEvent(2.0)),
        3,
    )
    assert repr(fed.dp_event_) == repr(expected)
