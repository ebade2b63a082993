"""Flower's server side: skpriv's strategy (DP rounds), the ``ServerApp`` and
the fitted estimator a finished run gives.

Imported only through :mod:`skpriv.federated.flower` (it needs Flower).
"""

import numpy as np
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.strategy import Strategy
from sklearn.base import clone

from ..utils._random import check_random_state
from ._flower_common import (
    FederationFailedError,
    _check_bounds,
    _check_config,
    _structure,
)

__all__ = ["fitted_estimator", "make_server_app", "make_strategy", "start_server"]


def _secagg_ranges(n_clients, param_bound, max_client_rows):
    """SecAgg+ settings from the declared bounds (see :func:`make_server_app`).

    A client uploads ``params * rows / max_client_rows`` quantized over
    ``[-param_bound, param_bound]`` into ``quantization`` levels, plus its
    quantized weight; the sum of ``n_clients`` of them, each at most
    ``quantization``, must stay below the modulus, so ``quantization`` is
    the largest power of two with ``(n_clients + 1) * quantization <=
    modulus`` (Flower's largest modulus, 2**32).
    """
    modulus = 2**32
    levels = 2 ** int(np.floor(np.log2(modulus / (int(n_clients) + 1))))
    if levels < 2**8:
        raise ValueError(
            f"n_clients={n_clients} is too many for Flower's 32-bit SecAgg+ "
            f"ring: fewer than 256 quantization levels would be left."
        )
    return {
        "clipping_range": float(param_bound),
        "max_weight": float(max_client_rows),
        "quantization_range": int(levels),
        "modulus_range": int(modulus),
    }


def _round_config(server_round):
    # The round number (public) lets a client that Flower re-makes every
    # round (one process per message in a deployment) draw a fresh local
    # seed each round from its own seed.
    return {"server_round": int(server_round)}


def _weighted_score(metrics):
    total = sum(n for n, _ in metrics)
    if not total:
        return {}
    return {"score": sum(n * m.get("score", 0.0) for n, m in metrics) / total}


class _Recorder(Strategy):
    """Delegates to a Flower strategy and keeps the last global parameters.

    With client-level DP (``plan.dp``) it also runs the DP rounds: Poisson
    sampling of clients, per-client clipping on the server, grid Gaussian
    noise on the sum and the fixed denominator of ``plan``, the same plan
    the in-process fit uses; the wrapped strategy then only applies the
    noisy average (FedAvg, FedAdam or FedYogi).
    """

    def __init__(self, strategy, plan=None, rng=None, round_timeout=None):
        super().__init__()
        self.strategy = strategy
        self.plan = plan
        self.rng = rng
        self.round_timeout = round_timeout
        self.parameters = None
        self.history = []
        self.n_examples = 0
        self.failed = None

    def _fail(self, message):
        """Stop the run: a round without all its clients releases nothing."""
        self.failed = message
        raise FederationFailedError(message)

    def _wait(self, client_manager, n, server_round):
        timeout = self.round_timeout
        wait = 86400 if timeout is None else max(1, int(np.ceil(timeout)))
        if not client_manager.wait_for(n, timeout=wait):
            self._fail(
                f"round {server_round}: fewer than {n} clients connected within "
                f"round_timeout={timeout} s; the federation stopped and released "
                f"no model. Check the lost nodes, or raise round_timeout."
            )

    @property
    def _dp(self):
        return self.plan is not None and self.plan.dp

    def __repr__(self):
        return f"skpriv({self.strategy!r})"

    def initialize_parameters(self, client_manager):
        self.parameters = self.strategy.initialize_parameters(client_manager)
        return self.parameters

    def configure_fit(self, server_round, parameters, client_manager):
        if not self._dp:
            self._wait(client_manager, self.fit_clients, server_round)
            return self.strategy.configure_fit(server_round, parameters, client_manager)
        from flwr.common import FitIns

        self._wait(client_manager, self.wait_clients, server_round)
        clients = [proxy for _, proxy in sorted(client_manager.all().items())]
        keep = self.rng.random(len(clients)) < self.plan.client_fraction
        chosen = [c for c, k in zip(clients, keep) if k]
        if not chosen:
            # No client sampled: the round still releases noise (Flower
            # would skip it, and a noiseless round is not DP).
            self._dp_round(server_round, [])
            return []
        ins = FitIns(self.parameters, _round_config(server_round))
        return [(client, ins) for client in chosen]

    def aggregate_fit(self, server_round, results, failures):
        if failures:
            # A client that timed out or failed: averaging the others would
            # change the round's clients behind the user's back (and under
            # DP the accounting); stop instead, releasing nothing.
            self._fail(
                f"round {server_round}: {len(failures)} client(s) failed or did "
                f"not answer within round_timeout={self.round_timeout} s; the "
                f"federation stopped and released no model."
            )
        if self._dp:
            return self._dp_round(server_round, results), {}
        params, metrics = self.strategy.aggregate_fit(server_round, results, failures)
        if params is not None:
            self.parameters = params
        self.n_examples = max(self.n_examples, sum(r.num_examples for _, r in results))
        self.history.append({"round": server_round, "n_clients": len(results)})
        return params, metrics

    def _dp_round(self, server_round, results):
        from flwr.common import Code, FitRes, Status

        current = parameters_to_ndarrays(self.parameters)
        gvec = _flat(current)
        mech = self.plan.mechanism(gvec.size)
        total = np.zeros(gvec.size)
        if results:
            updates = np.stack(
                [_flat(parameters_to_ndarrays(r.parameters)) for _, r in results]
            )
            grid, _ = self.plan.clip_to_grid(updates - gvec, mech.granularity)
            total = grid.sum(axis=0)  # exact: multiples of the grid step
        target = gvec + self.plan.noisy_mean(total, mech, self.rng)
        # The wrapped strategy (FedAvg / FedAdam / FedYogi) moves towards the
        # noisy average as towards one client's model.
        noisy = FitRes(
            Status(Code.OK, ""),
            ndarrays_to_parameters(_split(target, current)),
            1,
            {},
        )
        params, _ = self.strategy.aggregate_fit(server_round, [(None, noisy)], [])
        if params is not None:
            self.parameters = params
        self.history.append({"round": server_round})
        return self.parameters

    def configure_evaluate(self, server_round, parameters, client_manager):
        if self._dp:
            return []  # exact client scores are not private
        return self.strategy.configure_evaluate(
            server_round, parameters, client_manager
        )

    def aggregate_evaluate(self, server_round, results, failures):
        loss, metrics = self.strategy.aggregate_evaluate(
            server_round, results, failures
        )
        if self.history and "score" in metrics and not self._dp:
            self.history[-1]["score"] = float(metrics["score"])
        return loss, metrics

    def evaluate(self, server_round, parameters):
        return self.strategy.evaluate(server_round, parameters)


def _flat(arrays) -> np.ndarray:
    return np.concatenate([np.ravel(a) for a in arrays]).astype(np.float64)


def _split(vector, like) -> list:
    out, start = [], 0
    for a in like:
        size = int(np.size(a))
        out.append(vector[start : start + size].reshape(np.shape(a)).astype(a.dtype))
        start += size
    return out


def make_strategy(
    estimator,
    *,
    n_features,
    n_clients,
    classes=None,
    round_timeout=600.0,
    _secagg_ok=False,
    _public_clients=None,
):
    """The Flower server strategy for ``estimator``'s configuration.

    ``FedAvg``, ``FedAdam`` or ``FedYogi`` following ``aggregation`` and
    ``server_learning_rate``, starting from the adapter's initial weights
    (drawn from ``estimator.random_state``) and sampling ``client_fraction``
    of the ``n_clients`` clients per round. With client-level DP the result
    samples each client with probability ``client_fraction`` (Poisson
    sampling), clips each update to ``clip_norm``, adds skpriv's grid
    Gaussian noise to their sum and divides by ``client_fraction *
    n_clients`` (the plan of the in-process fit; ``n_clients`` is public),
    with no federated evaluation. The result records the global parameters
    and per-round history for :func:`fitted_estimator`.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration.
    n_features : int
        Number of features (public).
    n_clients : int
        Number of clients the server waits for; public, it fixes the
        denominator of the DP average.
    classes : array-like, default=None
        All class labels (public), for classifiers.
    round_timeout : float or None, default=600.0
        Seconds a round waits for its clients to connect (and, through the
        server's config, to answer); past it the run raises
        :class:`FederationFailedError` and releases no model. ``None`` waits
        a day.
    _secagg_ok : bool, default=False
        Internal: set by :func:`make_server_app`, whose SecAgg+ workflow
        supports ``secure_aggregation=True``; otherwise that setting raises
        a ``ValueError``.
    _public_clients : int, default=None
        Internal: the public client count of the DP denominator when it is
        not ``n_clients`` (:func:`run_simulation` with given ``clients``).

    Returns
    -------
    strategy : flwr.server.strategy.Strategy
        Pass it to :func:`fitted_estimator` after the run to get the model.

    See Also
    --------
    make_server_app : A Flower ``ServerApp`` driving this strategy.
    start_server : Run a legacy gRPC server with this strategy.
    fitted_estimator : The fitted estimator once the run is over.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import make_strategy
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, random_state=0)
    >>> make_strategy(fed, n_features=4, n_clients=5, classes=[0, 1])
    skpriv(FedAvg(accept_failures=True))
    """
    from flwr.server.strategy import FedAdam, FedAvg, FedYogi

    _check_config(estimator)
    if estimator.secure_aggregation and not _secagg_ok:
        raise ValueError(
            "secure_aggregation=True needs Flower's SecAgg+ workflow, which runs "
            "in a ServerApp: use make_server_app / make_client_app (or "
            "run_simulation), not start_server's legacy gRPC server."
        )
    public = n_clients if _public_clients is None else _public_clients
    plan = estimator._plan()._replace(n_clients=int(public))
    if plan.dp and estimator.secure_aggregation:
        raise ValueError(
            "Client-level DP (noise_multiplier or epsilon) with "
            "secure_aggregation=True is not supported on Flower: SecAgg+ hides "
            "each client's update from the server, which could then only clip "
            "their average, not bound one client's influence. Use one of the "
            "two, or the in-process estimator (it clips every update before "
            "masking)."
        )
    rng = check_random_state(estimator.random_state)
    adapter, model, _ = _structure(estimator, n_features, classes, rng)
    if estimator.proximal_mu > 0 and not adapter.supports_proximal:
        raise ValueError(
            f"proximal_mu={estimator.proximal_mu} needs a local learner with a "
            f"proximal term; {type(model).__name__} has none."
        )
    fraction = float(estimator.client_fraction)
    n_fit = max(1, int(round(fraction * n_clients)))
    kw = dict(
        fraction_fit=fraction,
        # Under DP there is no federated evaluation: exact scores leak.
        fraction_evaluate=0.0 if plan.dp else 1.0,
        min_fit_clients=n_fit,
        min_evaluate_clients=0 if plan.dp else n_fit,
        # Waiting for clients is bounded by round_timeout in the recorder.
        min_available_clients=n_fit,
        initial_parameters=ndarrays_to_parameters(adapter.get_weights(model)),
        evaluate_metrics_aggregation_fn=_weighted_score,
        on_fit_config_fn=_round_config,
    )
    lr = estimator.server_learning_rate
    if estimator.aggregation == "fedavg":
        strategy = FedAvg(**kw)
    else:
        cls = FedAdam if estimator.aggregation == "fedadam" else FedYogi
        strategy = cls(
            eta=0.1 if lr is None else lr, beta_1=0.9, beta_2=0.99, tau=1e-3, **kw
        )
    recorder = _Recorder(strategy, plan=plan, rng=rng, round_timeout=round_timeout)
    recorder.wait_clients = int(n_clients)
    recorder.fit_clients = n_fit
    recorder.config = (estimator, int(n_features), classes, plan)
    return recorder


def fitted_estimator(strategy):
    """The fitted estimator from a strategy made by :func:`make_strategy`.

    Call it after the Flower server finished. The result predicts like an
    estimator fitted in-process; its ``history_`` holds the federated
    evaluation score of each round (not under DP) and its ``dp_event_`` the
    client-level DP event of the rounds that ran (Poisson sampling of
    clients, as the DP strategy samples them).

    Parameters
    ----------
    strategy : flwr.server.strategy.Strategy
        A strategy returned by :func:`make_strategy` or
        :func:`make_server_app`, after (part of) a Flower run.

    Returns
    -------
    estimator : FederatedClassifier or FederatedRegressor
        A fitted clone of the configuration, holding the last global
        parameters in ``estimator_``.

    See Also
    --------
    make_strategy : Make the strategy.
    run_simulation : Simulate a federation and return the fitted estimator.

    Examples
    --------
    Here the strategy has only set up its initial parameters, as a server
    does before the first round; after a real run the estimator holds the
    trained global model.

    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import fitted_estimator, make_strategy
    >>> X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, random_state=0)
    >>> strategy = make_strategy(fed, n_features=4, n_clients=5, classes=[0, 1])
    >>> _ = strategy.initialize_parameters(client_manager=None)
    >>> fitted = fitted_estimator(strategy)
    >>> fitted.n_rounds_, fitted.predict(X).shape
    (0, (40,))
    """
    if not isinstance(strategy, _Recorder):
        raise TypeError(
            "strategy must come from skpriv.federated.flower.make_strategy."
        )
    if strategy.failed is not None:
        raise FederationFailedError(
            f"the Flower run failed and released no model: {strategy.failed}"
        )
    if strategy.parameters is None:
        raise ValueError("the Flower run has not produced parameters yet.")
    estimator, n_features, classes, plan = strategy.config
    adapter, model, _ = _structure(estimator, n_features, classes, 0)
    adapter.set_weights(model, parameters_to_ndarrays(strategy.parameters))
    fed = clone(estimator)
    fed.estimator_ = model
    fed.adapter_ = adapter
    fed.n_features_in_ = n_features
    if classes is not None:
        fed.classes_ = np.asarray(classes)
        fed._encoded = adapter.encode_labels
        fed._classes_declared = True  # given to the server: public
    fed.n_rounds_ = len(strategy.history)
    fed.history_ = list(strategy.history)
    fed.noise_multiplier_ = plan.noise_multiplier
    fed._private_model = plan.dp
    fed._clients_given = True
    # What ran: the plan's event over the rounds actually run.
    fed._record_events(plan, [], fed.n_rounds_)
    fed.dp_n_samples_ = strategy.n_examples if not plan.dp else None
    return fed


def _secagg_workflow(n_clients, round_timeout, param_bound, max_client_rows):
    """Flower's default workflow with SecAgg+ fit rounds (see make_server_app)."""
    import math

    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    if n_clients < 3:
        raise ValueError(
            f"secure_aggregation=True needs at least 3 clients; got {n_clients}."
        )
    _check_bounds(param_bound, max_client_rows)
    ranges = _secagg_ranges(n_clients, param_bound, max_client_rows)
    k = int(min(n_clients - 1, 2 * math.ceil(math.log2(n_clients)) + 2))
    return DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(
            num_shares=k + 1,
            reconstruction_threshold=k // 2 + 1,
            timeout=round_timeout,
            **ranges,
        )
    )


def make_server_app(
    estimator,
    *,
    n_features,
    n_clients,
    classes=None,
    round_timeout=600.0,
    param_bound=100.0,
    max_client_rows=None,
    _public_clients=None,
):
    """A Flower ``ServerApp`` for ``estimator`` and the strategy it drives.

    With ``secure_aggregation=True`` the fit rounds run Flower's SecAgg+
    workflow (``SecAggPlusWorkflow``: clients upload masked, quantized
    ``[w, w * params]`` with ``w = rows / max_client_rows``), with each
    client sharing its keys among ``min(n_clients - 1, 2 ceil(log2
    n_clients) + 2)`` neighbours and a strict majority of them needed to
    reconstruct. The quantization range is ``[-param_bound, param_bound]``
    and the number of levels the largest power of two ``Q`` with
    ``(n_clients + 1) * Q <= 2**32`` (Flower's 32-bit ring), so the sum never
    wraps; each parameter of the average is then exact up to about
    ``2 * param_bound * n_clients / Q`` over the clients' mean
    ``rows / max_client_rows``. A client whose parameter exceeds
    ``param_bound``, or whose rows exceed ``max_client_rows``, raises (the
    run fails) instead of being clipped.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration; the app runs ``estimator.n_rounds``
        rounds.
    n_features : int
        Number of features (public).
    n_clients : int
        Number of clients the server waits for (at least 3 with
        ``secure_aggregation=True``).
    classes : array-like, default=None
        All class labels (public), for classifiers.
    round_timeout : float or None, default=600.0
        Seconds a round waits for its clients (see :func:`make_strategy`).
    param_bound : float, default=100.0
        With SecAgg+, the largest magnitude a model parameter may take
        (public; give the clients the same).
    max_client_rows : int, default=None
        With SecAgg+, a public bound on any client's number of rows
        (required then; give the clients the same).
    _public_clients : int, default=None
        Internal: the public client count of the DP denominator when it is
        not ``n_clients`` (:func:`run_simulation` with given ``clients``).

    Returns
    -------
    server_app : flwr.server.ServerApp
        The app to run with Flower (``flwr run`` or
        ``flwr.simulation.run_simulation``).
    strategy : flwr.server.strategy.Strategy
        Pass it to :func:`fitted_estimator` once the run is over.

    See Also
    --------
    make_client_app : The matching ``ClientApp``.
    make_strategy : The strategy alone.
    run_simulation : Run both apps with Flower's simulation engine.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import make_server_app
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3,
    ...                           secure_aggregation=True, random_state=0)
    >>> server_app, strategy = make_server_app(fed, n_features=4, n_clients=5,
    ...                                        classes=[0, 1],
    ...                                        max_client_rows=1000)
    >>> type(server_app).__name__
    'ServerApp'
    """
    from flwr.server import LegacyContext, ServerApp, ServerAppComponents, ServerConfig

    strategy = make_strategy(
        estimator,
        n_features=n_features,
        n_clients=n_clients,
        classes=classes,
        round_timeout=round_timeout,
        _secagg_ok=True,
        _public_clients=_public_clients,
    )
    config = ServerConfig(
        num_rounds=int(estimator.n_rounds), round_timeout=round_timeout
    )
    if not estimator.secure_aggregation:

        def server_fn(context):
            return ServerAppComponents(strategy=strategy, config=config)

        return ServerApp(server_fn=server_fn), strategy
    workflow = _secagg_workflow(n_clients, round_timeout, param_bound, max_client_rows)
    app = ServerApp()

    @app.main()
    def main(grid, context):
        workflow(grid, LegacyContext(context=context, config=config, strategy=strategy))

    return app, strategy


def start_server(
    estimator,
    *,
    n_features,
    n_clients,
    classes=None,
    server_address="127.0.0.1:8080",
    certificates=None,
    round_timeout=600.0,
):
    """Run a Flower server for ``estimator`` and return the fitted estimator.

    Blocks until ``estimator.n_rounds`` rounds with ``n_clients`` clients
    (started with :func:`start_client`) are done. Uses Flower's gRPC server
    (``flwr.server.start_server``), which does not support
    ``secure_aggregation=True``: use :func:`make_server_app` for that.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration shared by the federation.
    n_features : int
        Number of features (public).
    n_clients : int
        Number of clients the server waits for.
    classes : array-like, default=None
        All class labels (public), for classifiers.
    server_address : str, default="127.0.0.1:8080"
        Address the server listens on: this machine only by default. To
        serve other machines, listen on their network (e.g.
        ``"0.0.0.0:8080"``) and pass ``certificates``.
    certificates : tuple of bytes, default=None
        ``(ca_cert, server_cert, server_key)`` PEM bytes: the server then
        speaks TLS (clients pass ``root_certificates=ca_cert`` to
        :func:`start_client`). ``None``: no TLS, fit for localhost only.
    round_timeout : float or None, default=600.0
        Seconds a round waits for its clients; a lost client then fails the
        run with :class:`FederationFailedError`, releasing no model.

    Returns
    -------
    estimator : FederatedClassifier or FederatedRegressor
        A fitted clone of ``estimator``, as from :func:`fitted_estimator`.

    See Also
    --------
    start_client : Connect a data holder to this server.
    make_server_app : The ``ServerApp`` alternative, with SecAgg+.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import start_server
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, random_state=0)
    >>> fitted = start_server(fed, n_features=4, n_clients=2,
    ...                       classes=[0, 1])  # doctest: +SKIP
    """
    from flwr.server import ServerConfig
    from flwr.server import start_server as _start_server

    strategy = make_strategy(
        estimator,
        n_features=n_features,
        n_clients=n_clients,
        classes=classes,
        round_timeout=round_timeout,
    )
    if certificates is not None and (
        len(certificates) != 3 or not all(isinstance(c, bytes) for c in certificates)
    ):
        raise TypeError(
            "certificates must be a tuple of three bytes objects: (ca_cert, "
            "server_cert, server_key), PEM encoded."
        )
    _start_server(
        server_address=server_address,
        config=ServerConfig(
            num_rounds=int(estimator.n_rounds), round_timeout=round_timeout
        ),
        strategy=strategy,
        certificates=certificates,
    )
    return fitted_estimator(strategy)
