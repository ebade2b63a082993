"""skorch nets (and skpriv's DP nets) inside a federation."""

import logging

import dp_accounting
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

torch = pytest.importorskip("torch")
skorch = pytest.importorskip("skorch")

from torch import nn  # noqa: E402

from skpriv.accounting import privacy_spent  # noqa: E402
from skpriv.federated import FederatedClassifier  # noqa: E402


class _MLP(nn.Module):
    def __init__(self, log_softmax=False):
        super().__init__()
        layers = [nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 3)]
        if log_softmax:
            layers.append(nn.LogSoftmax(dim=-1))
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        return self.net(x)


def _data():
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X).astype(np.float32), y


def _net(**kw):
    return skorch.NeuralNetClassifier(
        _MLP,
        criterion=nn.CrossEntropyLoss,
        lr=0.1,
        max_epochs=1,
        batch_size=32,
        train_split=None,
        verbose=0,
        **kw,
    )


@pytest.mark.slow
def test_skorch_net_fedavg_and_fedprox():
    X, y = _data()
    labels = np.array(["x", "y", "z"])[y]
    scores = {}
    for mu in (0.0, 1.0):
        fed = FederatedClassifier(
            _net(), n_rounds=3, n_clients=3, proximal_mu=mu, random_state=0
        ).fit(X, labels)
        scores[mu] = fed.score(X, labels)
        assert set(fed.predict(X)) <= {"x", "y", "z"}
        assert fed.predict_proba(X).shape == (len(y), 3)
        assert "get_loss" not in fed.estimator_.__dict__  # proximal hook removed
    assert scores[0.0] > 0.6 and scores[1.0] > 0.6
    # Reproducible with an int seed, and the caller's net is left untouched.
    base = _net()
    a = FederatedClassifier(base, n_rounds=1, n_clients=3, random_state=1).fit(X, y)
    b = FederatedClassifier(base, n_rounds=1, n_clients=3, random_state=1).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not hasattr(base, "module_")


@pytest.mark.slow
def test_dp_net_record_level_events_compose():
    nn_mod = pytest.importorskip("skpriv.neural_network")
    logging.disable(logging.WARNING)  # RDP convergence chatter
    try:
        X, y = _data()
        net = nn_mod.DPNeuralNetClassifier(
            _MLP,
            module__log_softmax=True,
            lr=0.1,
            max_epochs=1,
            batch_size=32,
            noise_multiplier=1.0,
            verbose=0,
        )
        fed = FederatedClassifier(net, n_rounds=2, n_clients=3, random_state=0).fit(
            X, y
        )
        # No client-level noise: the record-level DP-SGD events are what count.
        assert isinstance(fed.client_dp_event_, dp_accounting.NonPrivateDpEvent)
        assert fed.dp_event_ == fed.record_dp_event_
        assert isinstance(fed.dp_event_, dp_accounting.SelfComposedDpEvent)
        assert fed.dp_event_.count == 2  # one local DP-SGD run per round
        assert np.isfinite(fed.epsilon_)
        assert privacy_spent(fed, delta=1e-5).epsilon == pytest.approx(fed.epsilon_)
        # With client-level DP as well, the tighter of the two is recorded.
        both = FederatedClassifier(
            net,
            n_rounds=2,
            n_clients=3,
            clip_norm=1.0,
            noise_multiplier=20.0,
            random_state=0,
        ).fit(X, y)
        assert both.dp_event_ == both.client_dp_event_
        assert both.epsilon_ < fed.epsilon_
        with pytest.raises(ValueError, match="FedProx"):
            FederatedClassifier(net, n_rounds=1, n_clients=3, proximal_mu=0.1).fit(X, y)
    finally:
        logging.disable(logging.NOTSET)
