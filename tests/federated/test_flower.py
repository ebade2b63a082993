"""The Flower backend: simulation engine and real processes over loopback."""

import json
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

pytest.importorskip("flwr")

from skpriv.federated import (
    FederatedClassifier,  # noqa: E402
    flower,  # noqa: E402
)


def _data():
    X, y = make_classification(
        n_samples=1200, n_features=8, n_informative=5, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), y


def test_client_and_strategy_without_a_network():
    X, y = _data()
    fed = FederatedClassifier(n_rounds=2, random_state=0)
    client = flower.SkprivClient(fed, X[:100], y[:100], classes=[0, 1, 2], seed=0)
    strategy = flower.make_strategy(fed, n_features=8, n_clients=1, classes=[0, 1, 2])
    params = client.get_parameters({})
    new, n, _ = client.fit(params, {})
    assert n == 100 and [p.shape for p in new] == [p.shape for p in params]
    loss, n, metrics = client.evaluate(new, {})
    assert 0 <= metrics["score"] <= 1 and loss == pytest.approx(1 - metrics["score"])
    with pytest.raises(ValueError, match="at least one row"):
        flower.SkprivClient(fed, X[:0], y[:0], classes=[0, 1, 2])
    with pytest.raises(ValueError, match="missing from classes"):
        flower.SkprivClient(fed, X[:10], y[:10] + 5, classes=[0, 1, 2])
    with pytest.raises(ValueError, match="secure_aggregation"):
        flower.make_strategy(
            FederatedClassifier(secure_aggregation=True), n_features=8, n_clients=3
        )
    with pytest.raises(TypeError, match="FederatedClassifier"):
        flower.make_strategy(object(), n_features=8, n_clients=3)
    with pytest.raises(ValueError, match="not produced"):
        flower.fitted_estimator(strategy)
    dp = FederatedClassifier(clip_norm=1.0, noise_multiplier=1.0)
    _, n, _ = flower.SkprivClient(dp, X[:50], y[:50], classes=[0, 1, 2]).fit(params, {})
    assert n == 1  # equal weights under client-level DP


@pytest.mark.slow
@pytest.mark.slow
def test_simulation_engine_with_secagg_plus_matches_in_process(capfd, caplog):
    # Flower's simulation engine (Ray), with Flower's SecAgg+ workflow on the
    # server and secaggplus_mod on the clients; the plain FedAvg path runs on
    # real processes below.
    X, y = _data()
    clients = np.arange(len(y)) % 4
    fed = FederatedClassifier(n_rounds=3, secure_aggregation=True, random_state=0)
    local = fed.fit(X, y, clients=clients).score(X, y)
    import builtins

    before = builtins.print
    capfd.readouterr()
    sim = flower.run_simulation(fed, X, y, clients=clients)
    out, err = capfd.readouterr()
    # Quiet by default (issue 14: a deprecation notice and ~140 log lines).
    assert "Secure aggregation" not in out + err + caplog.text
    assert len((out + err).splitlines()) < 20, (out + err)[-2000:]
    assert builtins.print is before  # Ray's print patch is undone
    assert sim.n_rounds_ == 3 and len(sim.history_) == 3
    assert abs(sim.score(X, y) - local) < 0.03
    assert sim.history_[-1]["score"] == pytest.approx(sim.score(X, y), abs=1e-9)
    app, strategy = flower.make_server_app(
        fed, n_features=8, n_clients=4, classes=[0, 1, 2], max_client_rows=300
    )
    assert strategy is not None and app is not None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SERVER = """
import json, sys
from skpriv.federated import FederatedClassifier
from skpriv.federated import flower
fed = FederatedClassifier(n_rounds=3, random_state=0)
est = flower.start_server(fed, n_features=8, n_clients=3, classes=[0, 1, 2],
                          server_address="127.0.0.1:{port}")
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
X, y = make_classification(n_samples=1200, n_features=8, n_informative=5,
                           n_classes=3, random_state=0)
X = StandardScaler().fit_transform(X)
print("RESULT " + json.dumps({{"score": est.score(X, y),
                               "rounds": est.n_rounds_}}), flush=True)
"""

_CLIENT = """
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler
from skpriv.federated import FederatedClassifier
from skpriv.federated import flower
X, y = make_classification(n_samples=1200, n_features=8, n_informative=5,
                           n_classes=3, random_state=0)
X = StandardScaler().fit_transform(X)
rows = np.arange(len(y)) % 3 == {k}   # this machine's rows only
fed = FederatedClassifier(n_rounds=3, random_state=0)
flower.start_client(fed, X[rows], y[rows], classes=[0, 1, 2],
                    server_address="127.0.0.1:{port}", seed={k})
"""


@pytest.mark.slow
def test_server_and_clients_as_separate_processes(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_SERVER.format(port=port))],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_CLIENT.format(k=k, port=port))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for k in range(3)
    ]
    try:
        out, _ = server.communicate(timeout=240)
        for c in clients:
            c.wait(timeout=60)
    finally:
        for proc in [server, *clients]:
            if proc.poll() is None:
                proc.kill()
    line = [s for s in out.splitlines() if s.startswith("RESULT ")]
    assert line, out[-3000:]
    result = json.loads(line[0][len("RESULT ") :])
    X, y = _data()
    local = (
        FederatedClassifier(n_rounds=3, random_state=0)
        .fit(X, y, clients=np.arange(len(y)) % 3)
        .score(X, y)
    )
    assert result["rounds"] == 3
    assert abs(result["score"] - local) < 0.03
