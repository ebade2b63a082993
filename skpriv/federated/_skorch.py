"""Parameter adapter for skorch nets (imported only when one is federated)."""

import numpy as np
from sklearn.base import is_classifier

from ._adapters import ParameterAdapter

__all__ = ["SkorchAdapter"]


def _is_dp_net(net) -> bool:
    return hasattr(net, "_planned_dp_event")


class SkorchAdapter(ParameterAdapter):
    """skorch ``NeuralNet`` (and skpriv's DP nets): the module's ``state_dict``.

    The global module is initialized from the federation's random state; a
    local round is ``partial_fit(X, y, epochs=local_epochs)``. skpriv's DP nets
    run DP-SGD locally, and each client's record-level DP event is kept so it
    composes with client-level DP. FedProx adds ``mu / 2 * ||w - w_global||^2``
    to the loss of plain skorch nets (DP nets clip per-sample gradients, which
    the proximal term is not part of, so they do not support it).
    """

    supports_proximal = True
    encode_labels = True

    def prepare_X(self, X):
        return np.asarray(X, dtype=np.float32)

    def _y(self, net, y):
        if is_classifier(net):
            return np.asarray(y, dtype=np.int64)
        y = np.asarray(y, dtype=np.float32)
        return y if _is_dp_net(net) else y.reshape(-1, 1)

    def _seeded(self, net, seed, fn):
        import torch

        if "random_state" in net.get_params(deep=False):
            net.random_state = int(seed)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return fn()

    def initialize(self, estimator, n_features, classes, rng):
        if classes is not None and "classes" in estimator.get_params(deep=False):
            estimator.set_params(classes=np.asarray(classes))
        X0 = np.zeros((2 if classes is None else len(classes), n_features), np.float32)
        y0 = np.zeros(len(X0)) if classes is None else np.asarray(classes)
        seed = int(rng.integers(2**31 - 1))
        # Zero epochs: shapes (lazy modules included) from public data, no step.
        self._seeded(
            estimator,
            seed,
            lambda: estimator.partial_fit(X0, self._y(estimator, y0), epochs=0),
        )
        for attr in ("dp_event_", "epsilon_", "steps_", "dp_segments_"):
            estimator.__dict__.pop(attr, None)
        return estimator

    def get_weights(self, estimator):
        return [
            t.detach().cpu().numpy().astype(np.float64)
            for t in estimator.module_.state_dict().values()
        ]

    def set_weights(self, estimator, weights):
        import torch

        state = estimator.module_.state_dict()
        new = {
            k: torch.as_tensor(np.asarray(w).reshape(tuple(v.shape)), dtype=v.dtype).to(
                v.device
            )
            for (k, v), w in zip(state.items(), weights)
        }
        estimator.module_.load_state_dict(new)

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        if proximal_mu > 0:
            if _is_dp_net(estimator):
                raise ValueError(
                    "proximal_mu > 0 (FedProx) is not supported with DP nets: the "
                    "proximal term is outside DP-SGD's per-sample clipping."
                )
            self._add_proximal(estimator, proximal_mu)
        y = self._y(estimator, y)
        try:
            self._seeded(
                estimator, seed, lambda: estimator.partial_fit(X, y, epochs=epochs)
            )
        finally:
            estimator.__dict__.pop("get_loss", None)
        return {}

    @staticmethod
    def _add_proximal(net, mu):
        params = [p.detach().clone() for p in net.module_.parameters()]
        original = type(net).get_loss

        def get_loss(y_pred, y_true, *args, **kwargs):
            loss = original(net, y_pred, y_true, *args, **kwargs)
            prox = sum(
                ((p - g) ** 2).sum() for p, g in zip(net.module_.parameters(), params)
            )
            return loss + 0.5 * mu * prox

        net.get_loss = get_loss
