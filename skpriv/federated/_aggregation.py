"""Server-side aggregation: clipping and FedAvg/FedAdam/FedYogi steps.

The DP noise is added by the plan's grid mechanism (``_plan.py``)."""

import numpy as np

__all__ = ["ServerOptimizer", "clip_updates"]


def clip_updates(
    updates: np.ndarray, clip_norm: float
) -> tuple[np.ndarray, np.ndarray]:
    """Scale every row (a client's update) with L2 norm above ``clip_norm`` onto it.

    Returns the clipped updates and the norms before clipping.
    """
    norms = np.linalg.norm(updates, axis=1)
    scale = np.minimum(1.0, clip_norm / np.maximum(norms, np.finfo(np.float64).tiny))
    return updates * scale[:, None], norms


class ServerOptimizer:
    """Applies the aggregated client update to the global weights.

    ``"fedavg"`` moves by ``server_learning_rate`` times the mean update (1.0
    is McMahan et al.'s FedAvg); ``"fedadam"`` and ``"fedyogi"`` treat the
    negated mean update as a pseudo-gradient for Adam / Yogi (Reddi et al.
    2021, "Adaptive Federated Optimization"), with beta1=0.9, beta2=0.99 and
    tau=1e-3.
    """

    def __init__(self, kind: str, learning_rate: float, size: int):
        self.kind = kind
        self.learning_rate = learning_rate
        self.beta1, self.beta2, self.tau = 0.9, 0.99, 1e-3
        self.m = np.zeros(size)
        self.v = np.full(size, self.tau**2)

    def step(self, weights: np.ndarray, update: np.ndarray) -> np.ndarray:
        if self.kind == "fedavg":
            return weights + self.learning_rate * update
        self.m = self.beta1 * self.m + (1 - self.beta1) * update
        sq = update**2
        if self.kind == "fedadam":
            self.v = self.beta2 * self.v + (1 - self.beta2) * sq
        else:  # fedyogi
            self.v = self.v - (1 - self.beta2) * sq * np.sign(self.v - sq)
        return weights + self.learning_rate * self.m / (np.sqrt(self.v) + self.tau)
