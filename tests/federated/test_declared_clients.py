"""A declared client population (``client_ids``): the DP-local-learner edge.

With record-level DP from the local learner and given ``clients``, a client
with one row disappeared when that row was removed (the average then ran
over one client fewer), which the recorded record-level event does not
cover. Declared clients stay in the average (an empty one trains on zero
rows: noise only) and the average divides by the public count; undeclared,
the model is named as not covered.
"""

import dp_accounting
import numpy as np
import pytest
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.linear_model import SGDRegressor

from skpriv.accounting import privacy_spent
from skpriv.base import uncovered_releases
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.federated import FederatedRegressor, ParameterAdapter, register_adapter
from skpriv.federated._adapters import _REGISTRY
from skpriv.mechanisms import Gaussian


class _NoisyMean(RegressorMixin, BaseEstimator):
    """A DP local learner: the Gaussian-noised sum of the clipped first
    column over a public size (sensitivity 1 under add/remove of a row)."""

    calls = []  # row counts of every fit, to see empty clients train

    def __init__(self, sigma=1.0, public_size=10, random_state=None):
        self.sigma = sigma
        self.public_size = public_size
        self.random_state = random_state

    def _planned_dp_event(self, n_samples):
        return dp_accounting.GaussianDpEvent(self.sigma)

    def fit(self, X, y):
        _NoisyMean.calls.append(len(X))
        total = np.clip(np.asarray(X, dtype=float)[:, 0], -1, 1).sum()
        mech = Gaussian(self.sigma)
        rng = np.random.default_rng(self.random_state)
        noisy = mech.randomise(np.array([total]), rng)[0]
        self.coef_ = np.array([noisy / self.public_size, 0.0])
        self.intercept_ = 0.0
        self.dp_event_ = self._planned_dp_event(len(X))
        return self

    def predict(self, X):
        return np.asarray(X) @ self.coef_ + self.intercept_


class _NoisyMeanAdapter(ParameterAdapter):
    trains_on_zero_rows = True

    def initialize(self, estimator, n_features, classes, rng):
        estimator.coef_ = np.zeros(n_features)
        estimator.intercept_ = 0.0
        return estimator

    def get_weights(self, estimator):
        return [estimator.coef_.copy(), np.atleast_1d(estimator.intercept_)]

    def set_weights(self, estimator, weights):
        estimator.coef_, estimator.intercept_ = weights[0], float(weights[1][0])

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        estimator.set_params(random_state=seed)
        estimator.fit(X, y)
        return {}


class _NoEmptyAdapter(_NoisyMeanAdapter):
    trains_on_zero_rows = False


@pytest.fixture
def noisy_mean():
    register_adapter(_NoisyMean, _NoisyMeanAdapter)
    _NoisyMean.calls.clear()
    yield
    _REGISTRY.pop(0)


def _data(extra_row):
    """Clients 0 and 1 with 4 rows each; client 2 holds one row or none."""
    X = np.zeros((8 + extra_row, 2))
    X[:8, 0] = 0.5
    clients = np.r_[np.repeat([0, 1], 4), np.full(extra_row, 2)]
    if extra_row:
        X[8, 0] = 1.0  # the extreme row
    return X, np.zeros(len(X)), clients


def _uncovered(fed):
    return dict(uncovered_releases(fed))


def test_undeclared_clients_name_the_model_as_uncovered(noisy_mean):
    X, y, clients = _data(1)
    fed = FederatedRegressor(_NoisyMean(), n_rounds=1, random_state=0)
    fed.fit(X, y, clients=clients)
    reasons = _uncovered(fed)
    assert "estimator_" in reasons and "client_ids" in reasons["estimator_"]
    with pytest.warns(PrivacyLeakWarning, match="client_ids"):
        spent = privacy_spent(fed, delta=1e-5)
    assert any(u.attribute == "estimator_" for u in spent.uncovered)


def test_a_declared_client_stays_in_the_average_when_its_row_goes(noisy_mean):
    models = []
    for extra in (1, 0):  # neighbours: client 2's only row, then none
        X, y, clients = _data(extra)
        fed = FederatedRegressor(
            _NoisyMean(sigma=1e-6),
            n_rounds=1,
            client_ids=[0, 1, 2],
            random_state=0,
        ).fit(X, y, clients=clients)
        models.append(fed.estimator_.coef_[0])
        assert "estimator_" not in _uncovered(fed)
        assert fed.n_clients_ == 3 and list(fed.client_ids_) == [0, 1, 2]
        assert privacy_spent(fed, delta=1e-5).epsilon == pytest.approx(fed.epsilon_)
    # Client 2 trained on zero rows (noise only) in the second fit.
    assert _NoisyMean.calls[-3:] == [4, 4, 0]
    # The public denominator 3 both times: the row moves the model by
    # (its clipped value / public_size) / 3, as the sensitivity assumes.
    # (Before, the average ran over 2 clients without it: 0.2 vs 0.2333.)
    assert models[0] == pytest.approx((0.2 + 0.2 + 0.1) / 3, abs=1e-4)
    assert models[1] == pytest.approx((0.2 + 0.2 + 0.0) / 3, abs=1e-4)


def test_a_learner_that_cannot_train_on_zero_rows_is_named_or_refused():
    register_adapter(_NoisyMean, _NoEmptyAdapter)
    try:
        X, y, clients = _data(1)
        fed = FederatedRegressor(_NoisyMean(), n_rounds=1, client_ids=[0, 1, 2])
        fed.fit(X, y, clients=clients)
        assert "zero rows" in _uncovered(fed)["estimator_"]
        X, y, clients = _data(0)
        with pytest.raises(ValueError, match="cannot train on zero rows"):
            fed.fit(X, y, clients=clients)
    finally:
        _REGISTRY.pop(0)


def test_declared_population_errors_quote_no_id():
    X = np.zeros((6, 2))
    y = np.zeros(6)
    clients = np.array(["alice", "alice", "bob", "bob", "carol", "carol"])
    with pytest.raises(ValueError, match="1 id") as info:
        FederatedRegressor(n_rounds=1, client_ids=["alice", "bob"]).fit(
            X, y, clients=clients
        )
    assert "carol" not in str(info.value)
    with pytest.raises(ValueError, match="repeat"):
        FederatedRegressor(client_ids=[1, 1]).fit(X, y, clients=np.zeros(6))
    with pytest.raises(ValueError, match="disagrees"):
        FederatedRegressor(client_ids=[0, 1], n_clients=3).fit(
            X, y, clients=np.zeros(6)
        )


def test_client_level_dp_takes_the_population_size_as_n_clients():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -1.0, 0.5])
    clients = np.repeat(np.arange(4), 10)
    kw = dict(n_rounds=2, clip_norm=1.0, noise_multiplier=1.0, random_state=0)
    # Declared clients 0..5, two of them without rows: no n_clients needed.
    fed = FederatedRegressor(SGDRegressor(), client_ids=np.arange(6), **kw)
    fed.fit(X, y, clients=clients)
    assert fed._plan(clients_given=True).denominator == 6.0
    assert fed.n_clients_ == 6
    assert "estimator_" not in _uncovered(fed)


def test_without_dp_an_empty_declared_client_sits_out():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 3))
    y = X @ np.array([1.0, -1.0, 0.5])
    clients = np.repeat(np.arange(4), 10)
    kw = dict(n_rounds=3, random_state=0)
    plain = FederatedRegressor(SGDRegressor(random_state=0), **kw).fit(
        X, y, clients=clients
    )
    declared = FederatedRegressor(
        SGDRegressor(random_state=0), client_ids=[0, 1, 2, 3, 7], **kw
    ).fit(X, y, clients=clients)
    assert declared.score(X, y) == pytest.approx(plain.score(X, y), abs=0.05)
    assert list(declared.client_ids_) == [0, 1, 2, 3, 7]
