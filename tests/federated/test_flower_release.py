"""Flower with client-level DP (issue 13, finding 4): the sampling that runs
is the sampling accounted, updates are clipped per client, noise is on the
grid, and DP with SecAgg+ (which clips only the average) is refused."""

import dp_accounting
import numpy as np
import pytest
from sklearn.datasets import make_classification

pytest.importorskip("flwr")

from flwr.common import (  # noqa: E402
    Code,
    FitRes,
    Status,
    ndarrays_to_parameters,
    parameters_to_ndarrays,  # noqa: E402
)

from skpriv.federated import FederatedClassifier, flower  # noqa: E402


class _Manager:
    """The part of a Flower ClientManager a strategy uses."""

    def __init__(self, n):
        self.clients = {f"{i:03d}": f"proxy{i}" for i in range(n)}
        self.calls = []

    def wait_for(self, n, timeout=0):
        return len(self.clients) >= n

    def all(self):
        return dict(self.clients)

    def num_available(self):
        return len(self.clients)

    def sample(self, num_clients, min_num_clients=None, criterion=None):
        # Flower's SimpleClientManager: a fixed-size sample without replacement.
        rng = np.random.default_rng(len(self.calls))
        self.calls.append(num_clients)
        keys = sorted(self.clients)
        return [self.clients[k] for k in rng.choice(keys, num_clients, replace=False)]


def _run(fed, n_clients, n_rounds, data):
    """Drive a strategy like Flower's server loop, clients in-process."""
    X, y = data
    parts = np.array_split(np.arange(len(X)), n_clients)
    clients = {
        f"proxy{i}": flower.SkprivClient(fed, X[p], y[p], classes=[0, 1], seed=i)
        for i, p in enumerate(parts)
    }
    strategy = flower.make_strategy(
        fed, n_features=X.shape[1], n_clients=n_clients, classes=[0, 1]
    )
    manager = _Manager(n_clients)
    strategy.initialize_parameters(manager)
    sampled = []
    for rnd in range(1, n_rounds + 1):
        ins = strategy.configure_fit(rnd, strategy.parameters, manager)
        sampled.append(len(ins))
        if not ins:
            continue
        results = []
        for proxy, fit_ins in ins:
            params = parameters_to_ndarrays(fit_ins.parameters)
            new, n, _ = clients[proxy].fit(params, {})
            results.append(
                (proxy, FitRes(Status(Code.OK, ""), ndarrays_to_parameters(new), n, {}))
            )
        strategy.aggregate_fit(rnd, results, [])
        assert strategy.configure_evaluate(rnd, strategy.parameters, manager) == []
    return strategy, sampled


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=2000, n_features=5, random_state=0)


def test_dp_strategy_samples_poisson_and_records_it(data):
    # Flower sampled round(q N) clients per round (without replacement) while
    # the accounting assumed Poisson sampling (2.00 recorded vs 3.97). The DP
    # strategy now samples each client with probability q itself.
    fed = FederatedClassifier(
        client_fraction=0.1, clip_norm=1.0, noise_multiplier=1.0, random_state=0
    )
    strategy, sampled = _run(fed, n_clients=100, n_rounds=50, data=data)
    assert len(set(sampled)) > 3  # Binomial(100, 0.1) sizes, not always 10
    assert 6 <= np.mean(sampled) <= 14
    fitted = flower.fitted_estimator(strategy)
    assert fitted.n_rounds_ == 50
    assert all(set(r) == {"round"} for r in fitted.history_)  # no counts, scores
    # Independent accountant: dp-accounting's RDP on the sampling that ran.
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(
                0.1, dp_accounting.GaussianDpEvent(1.0)
            ),
            50,
        )
    )
    rdp = acc.get_epsilon(1e-5)
    assert 0.7 * rdp <= fitted.epsilon_ <= rdp * 1.001


def test_dp_strategy_clips_each_client_and_noise_is_on_the_grid(data):
    from skpriv.mechanisms import grid_granularity

    X, y = data
    fed = FederatedClassifier(
        client_fraction=1.0,
        clip_norm=0.5,
        noise_multiplier=1e-3,
        random_state=0,
    )
    strategy = flower.make_strategy(fed, n_features=5, n_clients=4, classes=[0, 1])
    manager = _Manager(4)
    strategy.initialize_parameters(manager)
    ins = strategy.configure_fit(1, strategy.parameters, manager)
    start = parameters_to_ndarrays(ins[0][1].parameters)
    # One client sends a huge model; the others send the global model back.
    huge = [w + 1e4 for w in start]
    results = [
        (
            p,
            FitRes(
                Status(Code.OK, ""),
                ndarrays_to_parameters(huge if i == 0 else start),
                1,
                {},
            ),
        )
        for i, (p, _) in enumerate(ins)
    ]
    strategy.aggregate_fit(1, results, [])
    new = np.concatenate(
        [np.ravel(w) for w in parameters_to_ndarrays(strategy.parameters)]
    )
    old = np.concatenate([np.ravel(w) for w in start])
    # Influence of one client <= clip_norm / (q N), plus a little noise.
    assert np.linalg.norm(new - old) <= 0.5 / 4 + 1e-2
    # The noisy sum (4 x the update, 4 a power of two) is on the noise grid.
    steps = (new - old) * 4 / grid_granularity(1e-3 * 0.5)
    np.testing.assert_array_equal(steps, np.rint(steps))


def test_dp_with_secure_aggregation_is_refused():
    # SecAgg+ hides the individual updates, so the server could only clip
    # their average (one client moved it by 1.004 for a 0.100 calibration).
    fed = FederatedClassifier(
        clip_norm=1.0, noise_multiplier=1.0, secure_aggregation=True
    )
    with pytest.raises(ValueError, match="secure_aggregation=True is not supported"):
        flower.make_server_app(fed, n_features=5, n_clients=10, classes=[0, 1])
