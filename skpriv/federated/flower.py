"""Run skpriv's federated estimators on a real Flower federation.

The same estimator configuration (a :class:`~skpriv.federated.FederatedClassifier`
or :class:`~skpriv.federated.FederatedRegressor`, unfitted) drives both sides:

- on each data holder, :func:`make_client_app` (a Flower ``ClientApp``),
  :func:`make_client` or :func:`start_client` wrap the local rows in a Flower
  ``NumPyClient`` that trains the inner estimator with the same parameter
  adapter as the in-process simulation;
- on the server, :func:`make_server_app` (a Flower ``ServerApp``),
  :func:`make_strategy` or :func:`start_server` build the Flower strategy:
  ``FedAvg`` / ``FedAdam`` / ``FedYogi``, with skpriv's client-level DP
  rounds when DP is on, and run through Flower's SecAgg+ workflow (with ``secaggplus_mod`` on the
  clients) when ``secure_aggregation=True``. :func:`fitted_estimator` turns
  the finished strategy into a fitted estimator, usable like one fitted
  in-process.

:func:`run_simulation` runs a whole federation with Flower's simulation
engine (Ray) from ``X, y, clients`` as in ``fit``. Needs the ``federated``
extra: ``pip install "skpriv[federated]"``.

Differences from the in-process simulation: without DP, Flower samples a fixed
number of clients per round, and Flower's SecAgg+ quantizes in a range chosen
from the declared bounds ``param_bound`` and ``max_client_rows`` (a client
whose values fall outside raises instead of being clipped). A round waits at
most ``round_timeout`` seconds for its clients; a lost client fails the run
with :class:`FederationFailedError` and no model is released. With client-level DP the strategy samples
clients itself, each with probability ``client_fraction`` (Poisson sampling,
as the accounting assumes), clips each client's update on the server, and
adds skpriv's floating-point-safe Gaussian noise to their sum, divided by the
public ``client_fraction * n_clients``; client-level DP with
``secure_aggregation=True`` is refused (SecAgg+ hides the individual updates
that the server would have to clip).
"""

import numpy as np

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "skpriv.federated.flower needs Flower; install the federated extra: "
        'pip install "skpriv[federated]".'
    ) from exc

from ..utils._random import check_random_state
from ._flower_client import (
    SkprivClient,
    make_client,
    make_client_app,
    start_client,
)
from ._flower_common import FederationFailedError, _check_config
from ._flower_server import (
    _secagg_ranges,
    fitted_estimator,
    make_server_app,
    make_strategy,
    start_server,
)

__all__ = [
    "FederationFailedError",
    "SkprivClient",
    "fitted_estimator",
    "make_client",
    "make_client_app",
    "make_server_app",
    "make_strategy",
    "run_simulation",
    "start_client",
    "start_server",
]

# Re-exported for tests of the SecAgg+ settings.
_ = _secagg_ranges


def run_simulation(
    estimator, X, y, clients=None, *, backend_config=None, param_bound=100.0
):
    """Fit ``estimator`` with Flower's simulation engine instead of in-process.

    Partitions ``X, y`` exactly like ``estimator.fit(X, y, clients=clients)``
    (given client ids, or ``n_clients`` simulated clients), runs one Flower
    ``ClientApp`` per client on Flower's Ray backend and returns the fitted
    estimator.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration; it is not modified.
    X : array-like of shape (n_samples, n_features)
        Training data (the union of the clients' rows).
    y : array-like of shape (n_samples,)
        Class labels or targets.
    clients : array-like of shape (n_samples,), default=None
        Client id of each row; ``None`` simulates ``estimator.n_clients``
        clients.
    backend_config : dict, default=None
        Flower's backend configuration, e.g.
        ``{"client_resources": {"num_cpus": 1}}``.
    param_bound : float, default=100.0
        With ``secure_aggregation=True``, the largest magnitude a parameter
        may take (SecAgg+'s quantization range; see :func:`make_server_app`).

    Returns
    -------
    estimator : FederatedClassifier or FederatedRegressor
        A fitted clone of ``estimator``, as from :func:`fitted_estimator`.

    See Also
    --------
    skpriv.federated.FederatedClassifier.fit : The same federation, simulated
        in-process.
    make_server_app : The ``ServerApp`` it runs.
    make_client_app : The ``ClientApp`` it runs on each client.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import run_simulation
    >>> X, y = make_classification(n_samples=200, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, n_clients=4,
    ...                           random_state=0)
    >>> fitted = run_simulation(fed, X, y)  # doctest: +SKIP
    >>> fitted.score(X, y) > 0.8  # doctest: +SKIP
    True
    """
    from flwr.simulation import run_simulation as _run_simulation

    _check_config(estimator)
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    rng = check_random_state(estimator.random_state)
    _, parts = estimator._partition(X, y, clients, rng)
    classes = (
        np.unique(y)
        if hasattr(estimator, "predict_proba") or _is_clf(estimator)
        else None
    )
    # Under DP the denominator counts the public n_clients, never the true
    # number of clients given (required then, as in fit).
    estimator._check_config(clients_given=clients is not None)
    # The simulation knows every client's rows: the SecAgg+ bounds are the
    # real ones (the largest client, the largest parameter a client may
    # reach is not known before training: param_bound keeps its default
    # and a client beyond it fails the run rather than being clipped).
    bounds = dict(param_bound=param_bound, max_client_rows=max(len(p) for p in parts))
    server_app, strategy = make_server_app(
        estimator,
        n_features=X.shape[1],
        n_clients=len(parts),
        classes=classes,
        _public_clients=estimator._n_clients(),
        **bounds,
    )
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(parts))]
    data = [(X[p], y[p], seed) for p, seed in zip(parts, seeds)]

    def load_data(context):
        return data[int(context.node_config["partition-id"])]

    client_app = make_client_app(estimator, load_data, classes=classes, **bounds)
    import builtins
    import logging

    from flwr.common.logger import FLOWER_LOGGER

    config = dict(
        backend_config or {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}}
    )
    if not estimator.verbose:
        # Quiet by default: Flower logs some 140 lines a run (and a
        # deprecation notice), Ray its own; verbose=1 shows them.
        config.setdefault("init_args", {})
        config["init_args"] = {
            "logging_level": "ERROR",
            "log_to_driver": False,
            **config["init_args"],
        }
    # Ray's tqdm support replaces builtins.print in the driver process; put
    # it back so that the caller's process is left as it was.
    original_print = builtins.print
    level = FLOWER_LOGGER.level
    if not estimator.verbose:
        FLOWER_LOGGER.setLevel(logging.ERROR)
    try:
        _run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=len(parts),
            backend_config=config,
        )
    finally:
        builtins.print = original_print
        FLOWER_LOGGER.setLevel(level)
    return fitted_estimator(strategy)


def _is_clf(estimator):
    from sklearn.base import is_classifier

    return is_classifier(estimator)
