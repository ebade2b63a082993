"""Run skpriv's federated estimators on a real Flower federation.

The same estimator configuration (a :class:`~skpriv.federated.FederatedClassifier`
or :class:`~skpriv.federated.FederatedRegressor`, unfitted) drives both sides:

- on each data holder, :func:`make_client_app` (a Flower ``ClientApp``),
  :func:`make_client` or :func:`start_client` wrap the local rows in a Flower
  ``NumPyClient`` that trains the inner estimator with the same parameter
  adapter as the in-process simulation;
- on the server, :func:`make_server_app` (a Flower ``ServerApp``),
  :func:`make_strategy` or :func:`start_server` build the Flower strategy:
  ``FedAvg`` / ``FedAdam`` / ``FedYogi``, wrapped in Flower's
  ``DifferentialPrivacyServerSideFixedClipping`` when client-level DP is on,
  and run through Flower's SecAgg+ workflow (with ``secaggplus_mod`` on the
  clients) when ``secure_aggregation=True``. :func:`fitted_estimator` turns
  the finished strategy into a fitted estimator, usable like one fitted
  in-process.

:func:`run_simulation` runs a whole federation with Flower's simulation
engine (Ray) from ``X, y, clients`` as in ``fit``. Needs the ``federated``
extra: ``pip install "skpriv[federated]"``.

Differences from the in-process simulation: Flower samples a fixed number of
clients per round (the privacy accounting assumes Poisson sampling, exact
only for ``client_fraction=1``), and Flower's SecAgg+ clips parameters to
``[-64, 64]`` before quantizing.
"""

import copy
import zlib

import numpy as np
from sklearn.base import clone

try:
    import flwr
    from flwr.client import NumPyClient
    from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
    from flwr.server.strategy import Strategy
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "skpriv.federated.flower needs Flower; install the federated extra: "
        'pip install "skpriv[federated]".'
    ) from exc

from ..utils._random import check_random_state
from ._adapters import get_adapter
from ._base import BaseFederated

__all__ = [
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


def _check_config(estimator):
    if not isinstance(estimator, BaseFederated):
        raise TypeError(
            f"estimator must be a FederatedClassifier or FederatedRegressor "
            f"configuration; got {type(estimator).__name__}."
        )
    estimator._validate_params()
    estimator._check_config()


def _inner(estimator):
    base = estimator.estimator
    return estimator._default_estimator() if base is None else base


def _structure(estimator, n_features, classes, seed):
    """The inner model with its public structure and initial global weights."""
    base = _inner(estimator)
    adapter = get_adapter(base)
    inner_classes = None
    if classes is not None:
        classes = np.asarray(classes)
        inner_classes = np.arange(len(classes)) if adapter.encode_labels else classes
    model = adapter.initialize(
        clone(base), int(n_features), inner_classes, check_random_state(seed)
    )
    return adapter, model, inner_classes


class SkprivClient(NumPyClient):
    """A Flower client that trains the inner estimator on local rows.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration shared by the federation.
    X, y : array-like
        This client's rows.
    classes : array-like, default=None
        All class labels of the federation (public), for classifiers.
    seed : int, default=None
        Seeds local training (shuffling); ``None`` draws fresh entropy.
    """

    def __init__(self, estimator, X, y, *, classes=None, seed=None):
        _check_config(estimator)
        self.estimator = estimator
        self.X = np.asarray(X, dtype=np.float64)
        self.y = np.asarray(y)
        if self.X.ndim != 2 or self.X.shape[0] == 0:
            raise ValueError(
                f"a Flower client needs at least one row of 2-d X; got shape "
                f"{self.X.shape}."
            )
        if self.y.shape[0] != self.X.shape[0]:
            raise ValueError(
                f"X and y have different numbers of rows ({self.X.shape[0]} and "
                f"{self.y.shape[0]})."
            )
        self.classes = None if classes is None else np.asarray(classes)
        self.adapter, self.model, self.inner_classes = _structure(
            estimator, self.X.shape[1], self.classes, 0
        )
        if self.classes is not None:
            unknown = np.setdiff1d(self.y, self.classes)
            if unknown.size:
                raise ValueError(
                    f"y has labels {unknown.tolist()} missing from classes."
                )
            if self.adapter.encode_labels:
                self.y = np.searchsorted(self.classes, self.y).astype(np.int64)
        self.Xk = self.adapter.prepare_X(self.X)
        self.rng = check_random_state(seed)

    def get_parameters(self, config):
        return self.adapter.get_weights(self.model)

    def fit(self, parameters, config):
        self.adapter.set_weights(self.model, parameters)
        local = copy.deepcopy(self.model)
        self.adapter.local_fit(
            local,
            self.Xk,
            self.y,
            classes=self.inner_classes,
            epochs=self.estimator.local_epochs,
            seed=int(self.rng.integers(2**31 - 1)),
            proximal_mu=self.estimator.proximal_mu,
        )
        # With client-level DP the server weighs clients equally (bounded
        # sensitivity), so the client reports weight 1, not its row count.
        n = 1 if self.estimator._dp_on() else len(self.y)
        return self.adapter.get_weights(local), n, {}

    def evaluate(self, parameters, config):
        self.adapter.set_weights(self.model, parameters)
        pred = self.model.predict(self.Xk)
        if self.classes is not None:
            score = float(np.mean(np.ravel(pred) == np.ravel(self.y)))
        else:
            score = float(self.model.score(self.Xk, self.y))
        return 1.0 - score, len(self.y), {"score": score}


def make_client(estimator, X, y, *, classes=None, seed=None):
    """A Flower ``Client`` for this data holder's rows (see :class:`SkprivClient`)."""
    return SkprivClient(estimator, X, y, classes=classes, seed=seed).to_client()


def _weighted_score(metrics):
    total = sum(n for n, _ in metrics)
    if not total:
        return {}
    return {"score": sum(n * m.get("score", 0.0) for n, m in metrics) / total}


class _Recorder(Strategy):
    """Delegates to a Flower strategy and keeps the last global parameters."""

    def __init__(self, strategy):
        super().__init__()
        self.strategy = strategy
        self.parameters = None
        self.history = []
        self.n_examples = 0

    def __repr__(self):
        return f"skpriv({self.strategy!r})"

    def initialize_parameters(self, client_manager):
        self.parameters = self.strategy.initialize_parameters(client_manager)
        return self.parameters

    def configure_fit(self, server_round, parameters, client_manager):
        return self.strategy.configure_fit(server_round, parameters, client_manager)

    def aggregate_fit(self, server_round, results, failures):
        params, metrics = self.strategy.aggregate_fit(server_round, results, failures)
        if params is not None:
            self.parameters = params
        self.n_examples = max(self.n_examples, sum(r.num_examples for _, r in results))
        self.history.append({"round": server_round, "n_clients": len(results)})
        return params, metrics

    def configure_evaluate(self, server_round, parameters, client_manager):
        return self.strategy.configure_evaluate(
            server_round, parameters, client_manager
        )

    def aggregate_evaluate(self, server_round, results, failures):
        loss, metrics = self.strategy.aggregate_evaluate(
            server_round, results, failures
        )
        if self.history and "score" in metrics:
            self.history[-1]["score"] = float(metrics["score"])
        return loss, metrics

    def evaluate(self, server_round, parameters):
        return self.strategy.evaluate(server_round, parameters)


def make_strategy(estimator, *, n_features, n_clients, classes=None, _secagg_ok=False):
    """The Flower server strategy for ``estimator``'s configuration.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration.
    n_features : int
        Number of features (public).
    n_clients : int
        Number of clients the server waits for.
    classes : array-like, default=None
        All class labels (public), for classifiers.

    Returns
    -------
    strategy : flwr.server.strategy.Strategy
        Pass it to :func:`fitted_estimator` after the run to get the model.
    """
    from flwr.server.strategy import (
        DifferentialPrivacyServerSideFixedClipping,
        FedAdam,
        FedAvg,
        FedYogi,
    )

    _check_config(estimator)
    if estimator.secure_aggregation and not _secagg_ok:
        raise ValueError(
            "secure_aggregation=True needs Flower's SecAgg+ workflow, which runs "
            "in a ServerApp: use make_server_app / make_client_app (or "
            "run_simulation), not start_server's legacy gRPC server."
        )
    adapter, model, _ = _structure(
        estimator, n_features, classes, check_random_state(estimator.random_state)
    )
    if estimator.proximal_mu > 0 and not adapter.supports_proximal:
        raise ValueError(
            f"proximal_mu={estimator.proximal_mu} needs a local learner with a "
            f"proximal term; {type(model).__name__} has none."
        )
    fraction = float(estimator.client_fraction)
    n_fit = max(1, int(round(fraction * n_clients)))
    kw = dict(
        fraction_fit=fraction,
        fraction_evaluate=1.0,
        min_fit_clients=n_fit,
        min_evaluate_clients=n_clients,
        min_available_clients=n_clients,
        initial_parameters=ndarrays_to_parameters(adapter.get_weights(model)),
        evaluate_metrics_aggregation_fn=_weighted_score,
    )
    lr = estimator.server_learning_rate
    if estimator.aggregation == "fedavg":
        strategy = FedAvg(**kw)
    else:
        cls = FedAdam if estimator.aggregation == "fedadam" else FedYogi
        strategy = cls(
            eta=0.1 if lr is None else lr, beta_1=0.9, beta_2=0.99, tau=1e-3, **kw
        )
    noise = estimator._resolved_noise_multiplier() if estimator._dp_on() else 0.0
    if noise > 0:
        strategy = DifferentialPrivacyServerSideFixedClipping(
            strategy,
            noise_multiplier=noise,
            clipping_norm=float(estimator.clip_norm),
            num_sampled_clients=n_fit,
        )
    recorder = _Recorder(strategy)
    recorder.config = (estimator, int(n_features), classes, noise)
    return recorder


def fitted_estimator(strategy):
    """The fitted estimator from a strategy made by :func:`make_strategy`.

    Call it after the Flower server finished. The result predicts like an
    estimator fitted in-process; its ``history_`` holds the federated
    evaluation score of each round and its ``dp_event_`` the client-level
    DP event (for Flower's fixed-size client sampling the Poisson-sampling
    accounting is an approximation unless ``client_fraction=1``).
    """
    if not isinstance(strategy, _Recorder):
        raise TypeError(
            "strategy must come from skpriv.federated.flower.make_strategy."
        )
    if strategy.parameters is None:
        raise ValueError("the Flower run has not produced parameters yet.")
    estimator, n_features, classes, noise = strategy.config
    adapter, model, _ = _structure(estimator, n_features, classes, 0)
    adapter.set_weights(model, parameters_to_ndarrays(strategy.parameters))
    fed = clone(estimator)
    fed.estimator_ = model
    fed.adapter_ = adapter
    fed.n_features_in_ = n_features
    if classes is not None:
        fed.classes_ = np.asarray(classes)
        fed._encoded = adapter.encode_labels
    fed.n_rounds_ = len(strategy.history)
    fed.history_ = list(strategy.history)
    fed.noise_multiplier_ = noise
    fed._record_events(noise, [])
    fed.dp_n_samples_ = strategy.n_examples if noise == 0 else None
    return fed


def make_server_app(estimator, *, n_features, n_clients, classes=None):
    """A Flower ``ServerApp`` for ``estimator`` and the strategy it drives.

    With ``secure_aggregation=True`` the fit rounds run Flower's SecAgg+
    workflow (``SecAggPlusWorkflow``: clients upload masked, quantized
    ``[w, w * params]``), with each client sharing its keys among
    ``min(n_clients - 1, 2 ceil(log2 n_clients) + 2)`` neighbours and a strict
    majority of them needed to reconstruct; parameters are clipped to
    ``[-64, 64]`` and quantized to 2**22 levels (resolution ~3e-5) there.

    Returns
    -------
    server_app : flwr.server.ServerApp
    strategy : flwr.server.strategy.Strategy
        Pass it to :func:`fitted_estimator` once the run is over.
    """
    import math

    from flwr.server import LegacyContext, ServerApp, ServerAppComponents, ServerConfig

    strategy = make_strategy(
        estimator,
        n_features=n_features,
        n_clients=n_clients,
        classes=classes,
        _secagg_ok=True,
    )
    config = ServerConfig(num_rounds=int(estimator.n_rounds))
    if not estimator.secure_aggregation:

        def server_fn(context):
            return ServerAppComponents(strategy=strategy, config=config)

        return ServerApp(server_fn=server_fn), strategy
    if n_clients < 3:
        raise ValueError(
            f"secure_aggregation=True needs at least 3 clients; got {n_clients}."
        )
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    k = int(min(n_clients - 1, 2 * math.ceil(math.log2(n_clients)) + 2))
    app = ServerApp()

    @app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=config, strategy=strategy)
        workflow = DefaultWorkflow(
            fit_workflow=SecAggPlusWorkflow(
                num_shares=k + 1,
                reconstruction_threshold=k // 2 + 1,
                clipping_range=64.0,
                max_weight=float(2**20),
            )
        )
        workflow(grid, legacy)

    return app, strategy


def make_client_app(estimator, load_data, *, classes=None):
    """A Flower ``ClientApp`` whose clients train on ``load_data(context)``.

    ``load_data(context) -> (X, y)`` (or ``(X, y, seed)``) returns the rows
    of the node running the app (e.g. from ``context.node_config``). Adds
    Flower's ``secaggplus_mod`` when ``secure_aggregation=True``.
    """
    from flwr.client import ClientApp
    from flwr.client.mod import secaggplus_mod

    _check_config(estimator)

    def client_fn(context):
        X, y, *rest = load_data(context)
        seed = rest[0] if rest else None
        return make_client(estimator, X, y, classes=classes, seed=seed)

    mods = [secaggplus_mod] if estimator.secure_aggregation else []
    return ClientApp(client_fn=client_fn, mods=mods)


def start_server(
    estimator, *, n_features, n_clients, classes=None, server_address="0.0.0.0:8080"
):
    """Run a Flower server for ``estimator`` and return the fitted estimator.

    Blocks until ``estimator.n_rounds`` rounds with ``n_clients`` clients
    (started with :func:`start_client`) are done. Uses Flower's gRPC server
    (``flwr.server.start_server``).
    """
    from flwr.server import ServerConfig
    from flwr.server import start_server as _start_server

    strategy = make_strategy(
        estimator, n_features=n_features, n_clients=n_clients, classes=classes
    )
    _start_server(
        server_address=server_address,
        config=ServerConfig(num_rounds=int(estimator.n_rounds)),
        strategy=strategy,
    )
    return fitted_estimator(strategy)


def start_client(estimator, X, y, *, classes=None, server_address, seed=None):
    """Connect this data holder's rows to a Flower server (blocks until done)."""
    from flwr.client import start_client as _start_client

    _start_client(
        server_address=server_address,
        client=make_client(estimator, X, y, classes=classes, seed=seed),
    )


def run_simulation(estimator, X, y, clients=None, *, backend_config=None):
    """Fit ``estimator`` with Flower's simulation engine instead of in-process.

    Partitions ``X, y`` exactly like ``estimator.fit(X, y, clients=clients)``
    (given client ids, or ``n_clients`` simulated clients), runs one Flower
    ``ClientApp`` per client on Flower's Ray backend and returns the fitted
    estimator.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
    clients : array-like of shape (n_samples,), default=None
    backend_config : dict, default=None
        Flower's backend configuration, e.g.
        ``{"client_resources": {"num_cpus": 1}}``.

    Returns
    -------
    estimator : fitted clone of ``estimator``
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
    server_app, strategy = make_server_app(
        estimator, n_features=X.shape[1], n_clients=len(parts), classes=classes
    )
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=len(parts))]
    data = [(X[p], y[p], seed) for p, seed in zip(parts, seeds)]

    def load_data(context):
        return data[int(context.node_config["partition-id"])]

    client_app = make_client_app(estimator, load_data, classes=classes)
    import builtins

    # Ray's tqdm support replaces builtins.print in the driver process; put
    # it back so that the caller's process is left as it was.
    original_print = builtins.print
    try:
        _run_simulation(
            server_app=server_app,
            client_app=client_app,
            num_supernodes=len(parts),
            backend_config=backend_config
            or {"client_resources": {"num_cpus": 1, "num_gpus": 0.0}},
        )
    finally:
        builtins.print = original_print
    return fitted_estimator(strategy)


def _is_clf(estimator):
    from sklearn.base import is_classifier

    return is_classifier(estimator)


# Silence a linter about the otherwise unused imports kept for users.
_ = (flwr, zlib)
