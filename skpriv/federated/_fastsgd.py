"""Local SGD of many clients at once: scikit-learn's SGD update, fast.

``partial_fit`` of a small client costs about a millisecond of Python
overhead (validation, copies), which dominates federations of thousands of
clients. Two engines, both with exactly the update of scikit-learn's
``_plain_sgd`` (same losses, learning-rate schedules, L2 weight decay and
step counter ``t_``), pick the cheaper for a round:

- the *native* engine calls scikit-learn's compiled ``_plain_sgd`` once per
  client, output and epoch, without ``partial_fit``'s validation: a round
  costs about one ``partial_fit`` pass over all rows plus some 20 us per
  client; it suits few clients with many rows. It is used only after a
  probe has checked, once per process, that the private function still
  behaves as ``partial_fit`` (scikit-learn may change it);
- the *vectorized* engine runs every client simultaneously: at step ``j``
  each client processes its ``j``-th (shuffled) row; a round costs some
  20 us per row of the largest client, whatever the number of clients; it
  suits many small clients.

Only the shuffling differs from ``partial_fit`` (drawn from the client's
seed). Configurations neither covers fall back to ``partial_fit``.
"""

import copy
import inspect

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


# Rough costs (seconds) behind the choice of engine: a vectorized step per
# row of the largest client, per element it touches, and a native call per
# client and output. Only the ratio matters; both engines give the same
# update, so a poor choice costs time, never accuracy.
_VEC_STEP, _VEC_ELEMENT, _NATIVE_CALL = 25e-6, 2e-9, 25e-6


def train_many(est, jobs, classes, epochs):
    """Local SGD for every client in ``jobs`` from ``est``'s weights.

    Returns ``(weights, t)``: ``weights`` of shape (n_clients, n_params) laid
    out like ``[coef_.ravel(), intercept_]``, and each client's step counter.
    """
    sizes = np.array([len(job[1]) for job in jobs])
    n_out, d = np.atleast_2d(est.coef_).shape
    vectorized = sizes.max() * (_VEC_STEP + _VEC_ELEMENT * len(jobs) * n_out * d)
    native = len(jobs) * n_out * _NATIVE_CALL
    if native < vectorized and _native_ok():
        return _train_native(est, jobs, classes, epochs)
    return _train_vectorized(est, jobs, classes, epochs)


# --------------------------------------------------------------------- native
_NATIVE = {}


def _native_parts():
    """scikit-learn's compiled SGD and dense dataset (private; None if gone)."""
    if "parts" not in _NATIVE:
        try:
            from sklearn.linear_model._sgd_fast import _plain_sgd64
            from sklearn.utils._seq_dataset import ArrayDataset64

            params = inspect.signature(_plain_sgd64).parameters
            parts = (_plain_sgd64, ArrayDataset64, set(params))
        except (ImportError, ValueError, TypeError):  # pragma: no cover
            parts = None
        _NATIVE["parts"] = parts
    return _NATIVE["parts"]


def _native_ok() -> bool:
    """Whether the native engine reproduces ``partial_fit`` here (probed once)."""
    if "ok" not in _NATIVE:
        _NATIVE["ok"] = False
        if _native_parts() is not None:
            try:
                _NATIVE["ok"] = _probe()
            except Exception:  # pragma: no cover - a changed private API
                _NATIVE["ok"] = False
    return _NATIVE["ok"]


def _probe() -> bool:
    """One small fit per loss family, native engine against ``partial_fit``."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = np.arange(30) % 3
    for est, target in (
        (SGDClassifier(shuffle=False, loss="log_loss"), y),
        (SGDClassifier(shuffle=False, loss="hinge"), y),
        (SGDClassifier(shuffle=False, loss="hinge"), y % 2),
        (SGDRegressor(shuffle=False), X @ [1.0, 2.0, 3.0]),
    ):
        is_clf = isinstance(est, SGDClassifier)
        cls = np.unique(target) if is_clf else None
        glob = est.partial_fit(
            X[:3], target[:3], **({"classes": cls} if is_clf else {})
        )
        glob.coef_ = np.zeros_like(glob.coef_) + 0.1
        glob.intercept_ = np.zeros_like(glob.intercept_)
        glob.t_ = 3.0
        ref = copy.deepcopy(glob)
        for _ in range(2):
            ref.partial_fit(X, target)
        w, t = _train_native(glob, [(X, target, 0)], cls, 2)
        expected = np.r_[np.ravel(ref.coef_), np.ravel(ref.intercept_)]
        if t[0] != ref.t_ or not np.allclose(w[0], expected, rtol=1e-9, atol=1e-12):
            return False
    return True


def _train_native(est, jobs, classes, epochs):
    """Each client in turn through scikit-learn's compiled ``_plain_sgd``."""
    plain_sgd, Dataset, _ = _native_parts()
    coef = np.atleast_2d(np.asarray(est.coef_, dtype=np.float64))
    intercept = np.atleast_1d(np.asarray(est.intercept_, dtype=np.float64))
    n_out, d = coef.shape
    loss = est._get_loss_function(est.loss)
    # scikit-learn encodes the labels of its log-loss as {0, 1}, others {-1, 1}.
    negative = 0.0 if type(loss).__name__ == "CyHalfBinomialLoss" else -1.0
    common = dict(
        average_weights=None,
        average_intercept=0.0,
        loss=loss,
        penalty_type=est._get_penalty_type(est.penalty),
        alpha=float(est.alpha),
        l1_ratio=float(est._get_l1_ratio()),
        early_stopping=False,
        validation_score_cb=None,
        n_iter_no_change=int(est.n_iter_no_change),
        max_iter=1,
        tol=-np.inf,
        fit_intercept=int(est.fit_intercept),
        verbose=0,
        shuffle=int(est.shuffle),
        weight_pos=1.0,
        weight_neg=1.0,
        learning_rate=est._get_learning_rate_type(est.learning_rate),
        eta0=float(est.eta0),
        power_t=float(est.power_t),
        one_class=0,
        intercept_decay=1.0,
        average=0,
    )
    t0 = float(getattr(est, "t_", 1.0))
    out = np.empty((len(jobs), n_out * d + n_out))
    t_out = np.empty(len(jobs))
    for k, (X, y, seed) in enumerate(jobs):
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = X.shape[0]
        if classes is None:
            targets = [np.ascontiguousarray(y, dtype=np.float64)]
        else:
            positives = classes[1:] if n_out == 1 else classes
            targets = [np.where(y == c, 1.0, negative) for c in positives]
        seeds = np.random.RandomState(int(seed)).randint(1, 2**31 - 1, size=n_out)
        sample_weight = np.ones(n)
        mask = np.zeros(n, dtype=np.uint8)
        W = coef.copy()
        b = intercept.copy()
        for i, (target, s) in enumerate(zip(targets, seeds)):
            dataset = Dataset(X, target, sample_weight, seed=int(s))
            w_i, b_i, t = W[i], float(b[i]), t0
            for _ in range(epochs):
                w_i, b_i, _, _, n_iter = plain_sgd(
                    weights=w_i,
                    intercept=b_i,
                    dataset=dataset,
                    validation_mask=mask,
                    seed=int(s),
                    t=t,
                    **common,
                )
                t += n_iter * n
            W[i], b[i] = w_i, b_i
        out[k] = np.r_[W.ravel(), b]
        t_out[k] = t
    return out, t_out


# ----------------------------------------------------------------- vectorized
def _train_vectorized(est, jobs, classes, epochs):
    """All clients at once, one row of each per step (many small clients)."""
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
