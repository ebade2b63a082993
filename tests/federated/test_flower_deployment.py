"""Flower deployment settings (issue 14): SecAgg+ ranges, lost nodes, TLS."""

import inspect
import time

import numpy as np
import pytest

pytest.importorskip("flwr")

from flwr.common.secure_aggregation.quantization import (  # noqa: E402
    dequantize,
    quantize,
)
from flwr.server.client_manager import SimpleClientManager  # noqa: E402

from skpriv.federated import (
    FederatedClassifier,  # noqa: E402
    flower,  # noqa: E402
)

_OLD = {  # the settings before issue 14
    "clipping_range": 64.0,
    "max_weight": float(2**20),
    "quantization_range": 2**22,
    "modulus_range": 2**32,
}


def _secaggplus_average(params, rows, s):
    """What Flower's SecAgg+ returns for these clients (the masks cancel):
    secaggplus_mod's client-side encoding and the workflow's decoding."""
    Q, M, C = s["quantization_range"], s["modulus_range"], s["clipping_range"]
    total, total_ratio = np.zeros(params.shape[1], dtype=np.int64), 0
    # Flower's stochastic rounding draws from numpy's global state: seeded
    # for a fixed result, and put back afterwards.
    saved = np.random.get_state()  # noqa: NPY002
    np.random.seed(0)  # noqa: NPY002
    for p, n in zip(params, rows):
        q_ratio = round(n / s["max_weight"] * Q)
        q = quantize([p * (q_ratio / Q)], C, Q)[0].astype(np.int64)
        total = (total + q) % M
        total_ratio = (total_ratio + q_ratio) % M
    np.random.set_state(saved)  # noqa: NPY002
    avg = dequantize([total], C, Q)[0] - (len(rows) - 1) * C
    return avg * Q / total_ratio


def test_secagg_plus_ranges_come_from_the_real_bounds():
    rng = np.random.default_rng(0)
    n = 10
    params = rng.normal(size=(n, 50)) * 5
    params[:, 0] = 1000.0  # a large parameter, as in the issue
    rows = np.full(n, 1_000_000)
    expected = np.average(params, axis=0, weights=rows)
    new = flower._secagg_ranges(n, param_bound=2000.0, max_client_rows=1_000_000)
    got = _secaggplus_average(params, rows, new)
    bound = 2 * 2000.0 * n / new["quantization_range"]
    assert np.max(np.abs(got - expected)) <= bound
    assert bound < 1e-3
    assert (n + 1) * new["quantization_range"] <= new["modulus_range"] <= 2**32
    # The old settings: wrong by about 930 on the large parameter, silently.
    old = _secaggplus_average(params, rows, _OLD)
    assert np.max(np.abs(old - expected)) > 100


def test_client_raises_where_secagg_plus_would_clip():
    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 2
    fed = FederatedClassifier(n_rounds=1, secure_aggregation=True, random_state=0)
    client = flower.SkprivClient(
        fed, X * 1e6, y, classes=[0, 1], seed=0, param_bound=1.0, max_client_rows=30
    )
    with pytest.raises(ValueError, match="param_bound") as info:
        client.fit(client.get_parameters({}), {})
    assert "e+" not in str(info.value)  # no parameter value quoted
    with pytest.raises(ValueError, match="max_client_rows") as info:
        flower.SkprivClient(fed, X, y, classes=[0, 1], max_client_rows=10)
    assert "30" not in str(info.value)
    with pytest.raises(ValueError, match="max_client_rows"):
        flower.make_server_app(fed, n_features=3, n_clients=4, classes=[0, 1])
    with pytest.raises(ValueError, match="max_client_rows"):
        flower.make_client_app(fed, lambda c: (X, y), classes=[0, 1])


def test_a_lost_node_times_out_and_releases_nothing():
    fed = FederatedClassifier(n_rounds=2, random_state=0)
    strategy = flower.make_strategy(
        fed, n_features=3, n_clients=3, classes=[0, 1], round_timeout=1
    )
    strategy.initialize_parameters(None)
    tic = time.perf_counter()
    with pytest.raises(flower.FederationFailedError, match="round_timeout"):
        strategy.configure_fit(1, strategy.parameters, SimpleClientManager())
    assert time.perf_counter() - tic < 10
    with pytest.raises(flower.FederationFailedError, match="released no model"):
        flower.fitted_estimator(strategy)
    # A client that fails or times out within a round stops the run too.
    strategy = flower.make_strategy(fed, n_features=3, n_clients=3, classes=[0, 1])
    strategy.initialize_parameters(None)
    with pytest.raises(flower.FederationFailedError):
        strategy.aggregate_fit(1, [], [TimeoutError()])
    with pytest.raises(flower.FederationFailedError):
        flower.fitted_estimator(strategy)
    dp = FederatedClassifier(n_rounds=1, clip_norm=1.0, noise_multiplier=1.0)
    strategy = flower.make_strategy(
        dp, n_features=3, n_clients=3, classes=[0, 1], round_timeout=1
    )
    strategy.initialize_parameters(None)
    with pytest.raises(flower.FederationFailedError):
        strategy.configure_fit(1, strategy.parameters, SimpleClientManager())


def test_start_server_listens_on_localhost_and_accepts_certificates(monkeypatch):
    default = inspect.signature(flower.start_server).parameters["server_address"]
    assert default.default.startswith("127.0.0.1:")
    seen = {}

    def fake_start_server(**kw):
        seen.update(kw)

    import flwr.server

    monkeypatch.setattr(flwr.server, "start_server", fake_start_server)
    fed = FederatedClassifier(n_rounds=1, random_state=0)
    certs = (b"ca", b"cert", b"key")
    with pytest.raises(ValueError, match="not produced parameters"):
        flower.start_server(
            fed, n_features=3, n_clients=2, classes=[0, 1], certificates=certs
        )
    assert seen["certificates"] == certs
    assert seen["server_address"] == "127.0.0.1:8080"
    assert seen["config"].round_timeout == 600.0
    with pytest.raises(TypeError, match="certificates"):
        flower.start_server(
            fed, n_features=3, n_clients=2, classes=[0, 1], certificates=(b"ca",)
        )
