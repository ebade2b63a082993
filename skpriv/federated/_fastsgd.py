"""Local SGD of many clients at once: scikit-learn's SGD update, vectorized.

``partial_fit`` of a small client costs about a millisecond of Python
overhead, which dominates federations of thousands of clients. This module
runs one local epoch of every client simultaneously: at step ``j`` each
client processes its ``j``-th (shuffled) row, with exactly the update of
scikit-learn's ``_plain_sgd`` (same losses, learning-rate schedules, L2
weight decay and step counter ``t_``). Only the shuffling differs (drawn from
the client's seed by numpy). Configurations it does not cover fall back to
``partial_fit``.
"""

import numpy as np
from scipy.special import expit
from sklearn.linear_model import SGDClassifier, SGDRegressor

__all__ = ["supports", "train_many"]

_CLF_LOSSES = {"hinge", "log_loss", "modified_huber", "squared_hinge", "perceptron"}
_REG_LOSSES = {
    "squared_error",
    "huber",
    "epsilon_insensitive",
    "squared_epsilon_insensitive",
}
_MAX_DLOSS = 1e12


def supports(est) -> bool:
    """Whether ``est``'s configuration is covered (else use ``partial_fit``)."""
    if type(est) is SGDClassifier:
        ok_loss = est.loss in _CLF_LOSSES and est.class_weight is None
    elif type(est) is SGDRegressor:
        ok_loss = est.loss in _REG_LOSSES
    else:
        return False
    return (
        ok_loss
        and est.penalty in ("l2", None)
        and est.learning_rate in ("constant", "optimal", "invscaling")
        and not est.average
        and not est.early_stopping
    )


def _gradient(loss, y, p, epsilon):
    """d loss / d p, elementwise (y in {-1, +1} for classifiers)."""
    if loss == "hinge":
        return np.where(p * y <= 1.0, -y, 0.0)
    if loss == "perceptron":
        return np.where(p * y <= 0.0, -y, 0.0)
    if loss == "log_loss":
        return -y * expit(-y * p)
    if loss == "modified_huber":
        z = p * y
        return np.where(
            z >= 1.0, 0.0, np.where(z >= -1.0, 2.0 * (1.0 - z) * -y, -4.0 * y)
        )
    if loss == "squared_hinge":
        z = 1.0 - p * y
        return np.where(z > 0, -2.0 * y * z, 0.0)
    r = p - y
    if loss == "squared_error":
        return r
    if loss == "huber":
        return np.clip(r, -epsilon, epsilon)
    if loss == "epsilon_insensitive":
        return np.where(r > epsilon, 1.0, np.where(-r > epsilon, -1.0, 0.0))
    # squared_epsilon_insensitive
    return np.where(
        r > epsilon, 2 * (r - epsilon), np.where(-r > epsilon, 2 * (r + epsilon), 0.0)
    )


def train_many(est, jobs, classes, epochs):
    """Local SGD for every client in ``jobs`` from ``est``'s weights.

    Returns ``(weights, t)``: ``weights`` of shape (n_clients, n_params) laid
    out like ``[coef_.ravel(), intercept_]``, and each client's step counter.
    """
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    n_out, d = coef.shape
    sizes = np.array([len(job[1]) for job in jobs])
    order_k = np.argsort(-sizes, kind="stable")  # active clients form a prefix
    sizes_sorted = sizes[order_k]
    K, m = len(jobs), int(sizes.max())
    Xp = np.zeros((K, m, d))
    Yp = np.zeros((K, m, n_out))
    for pos, k in enumerate(order_k):
        X, y, _ = jobs[k]
        n = len(y)
        Xp[pos, :n] = X
        if classes is None:
            Yp[pos, :n, 0] = y
        elif n_out == 1:  # binary: classes_[1] is the positive class
            Yp[pos, :n, 0] = np.where(y == classes[1], 1.0, -1.0)
        else:
            Yp[pos, :n] = np.where(y[:, None] == classes[None, :], 1.0, -1.0)
    W = np.repeat(coef[None], K, axis=0)
    b = np.repeat(intercept[None], K, axis=0)
    t = np.full(K, float(getattr(est, "t_", 1.0)))
    alpha = float(est.alpha)
    l2 = est.penalty == "l2"
    lr = est.learning_rate
    if lr == "optimal":
        typw = np.sqrt(1.0 / np.sqrt(alpha))
        optimal_init = 1.0 / (typw * alpha)  # every loss here has dloss(1, -typw) <= 1
    eps = float(getattr(est, "epsilon", 0.0))
    rngs = [np.random.default_rng(int(jobs[k][2])) for k in order_k]
    rows = np.arange(K)
    for _ in range(epochs):
        order = np.zeros((K, m), dtype=np.intp)
        for pos, n in enumerate(sizes_sorted):
            order[pos, :n] = rngs[pos].permutation(n) if est.shuffle else np.arange(n)
        for j in range(m):
            a = int(np.sum(sizes_sorted > j))
            x = Xp[rows[:a], order[:a, j]]
            y = Yp[rows[:a], order[:a, j]]
            Wa, ba = W[:a], b[:a]
            p = np.matmul(Wa, x[:, :, None])[:, :, 0] + ba
            ta = t[:a]
            if lr == "optimal":
                eta = 1.0 / (alpha * (optimal_init + ta - 1.0))
            elif lr == "invscaling":
                eta = est.eta0 / np.power(ta, est.power_t)
            else:
                eta = np.full(a, float(est.eta0))
            g = np.clip(_gradient(est.loss, y, p, eps), -_MAX_DLOSS, _MAX_DLOSS)
            update = -eta[:, None] * g
            if l2:
                Wa *= np.maximum(0.0, 1.0 - eta * alpha)[:, None, None]
            Wa += update[:, :, None] * x[:, None, :]
            if est.fit_intercept:
                ba += update
            ta += 1.0
    out = np.empty((K, n_out * d + n_out))
    out[order_k] = np.hstack([W.reshape(K, -1), b])
    t_out = np.empty(K)
    t_out[order_k] = t
    return out, t_out
