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


class FederationFailedError(RuntimeError):
    """A Flower round could not complete (clients missing or lost).

    Raised by the server's strategy; the run stops and no model is released
    (:func:`fitted_estimator` refuses the strategy).
    """


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


def _check_bounds(param_bound, max_client_rows):
    if not (np.isfinite(param_bound) and param_bound > 0):
        raise ValueError(
            f"param_bound must be a positive number (the largest magnitude a "
            f"model parameter may take); got {param_bound!r}."
        )
    if max_client_rows is None or int(max_client_rows) < 1:
        raise ValueError(
            "secure_aggregation=True on Flower needs max_client_rows, a public "
            "bound on the number of rows of any one client (SecAgg+ weighs "
            "each client by its rows over this bound); pass e.g. "
            "max_client_rows=10_000 to both make_server_app and make_client_app."
        )


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

    A Flower ``NumPyClient``: each fit round it sets the global weights
    sent by the server, trains a copy of the inner estimator for
    ``estimator.local_epochs`` epochs on its rows with the same parameter
    adapter as the in-process simulation, and sends the new weights back;
    each evaluate round it reports the global model's score on its rows.
    :func:`make_client` returns it as a Flower ``Client``.

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
    param_bound : float, default=None
        With SecAgg+, the bound every parameter sent must respect (as given
        to the server); a larger value raises instead of being clipped.
    max_client_rows : int, default=None
        With SecAgg+, the bound on this client's rows (as given to the
        server).

    See Also
    --------
    make_client : The same client as a Flower ``Client``.
    make_client_app : A Flower ``ClientApp`` built on it.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import SkprivClient
    >>> X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), random_state=0)
    >>> client = SkprivClient(fed, X, y, classes=[0, 1], seed=0)
    >>> weights = client.get_parameters(config={})
    >>> [w.shape for w in weights]
    [(1, 4), (1,)]
    >>> new_weights, n_examples, metrics = client.fit(weights, config={})
    >>> n_examples
    40
    """

    def __init__(
        self,
        estimator,
        X,
        y,
        *,
        classes=None,
        seed=None,
        param_bound=None,
        max_client_rows=None,
    ):
        _check_config(estimator)
        self.estimator = estimator
        self.param_bound = param_bound
        self.max_client_rows = max_client_rows
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
        if max_client_rows is not None and len(self.y) > int(max_client_rows):
            # The count itself is not quoted: it is the client's own data.
            raise ValueError(
                "this client has more rows than max_client_rows, the bound "
                "SecAgg+ weighs clients by; raise max_client_rows on the server "
                "and on every client."
            )

    def get_parameters(self, config):
        """The current weights of the client's copy of the inner model.

        Parameters
        ----------
        config : dict
            Configuration sent by the server (unused).

        Returns
        -------
        parameters : list of ndarray
            The trainable parameters, in the adapter's order.
        """
        return self.adapter.get_weights(self.model)

    def fit(self, parameters, config):
        """Train the global model on this client's rows.

        Parameters
        ----------
        parameters : list of ndarray
            The global weights sent by the server.
        config : dict
            Configuration sent by the server (unused).

        Returns
        -------
        parameters : list of ndarray
            The weights after ``local_epochs`` epochs of local training.
        num_examples : int
            The client's aggregation weight: its number of rows, or 1 with
            client-level DP (the server then weighs clients equally).
        metrics : dict
            Empty.
        """
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
        weights = self.adapter.get_weights(local)
        if self.param_bound is not None:
            # SecAgg+ would clip a larger value silently and return a wrong
            # average; the value itself is not quoted (it is private).
            if not all(np.all(np.abs(w) <= self.param_bound) for w in weights):
                raise ValueError(
                    "a model parameter exceeds param_bound, the range SecAgg+ "
                    "quantizes over; raise param_bound on the server and on "
                    "every client, or scale the data."
                )
        return weights, n, {}

    def evaluate(self, parameters, config):
        """Score the global model on this client's rows.

        Parameters
        ----------
        parameters : list of ndarray
            The global weights sent by the server.
        config : dict
            Configuration sent by the server (unused).

        Returns
        -------
        loss : float
            ``1 - score``.
        num_examples : int
            Number of rows of the client.
        metrics : dict
            ``{"score": score}``: accuracy for classifiers, the inner
            estimator's ``score`` (R^2 for scikit-learn regressors) otherwise.
        """
        self.adapter.set_weights(self.model, parameters)
        pred = self.model.predict(self.Xk)
        if self.classes is not None:
            score = float(np.mean(np.ravel(pred) == np.ravel(self.y)))
        else:
            score = float(self.model.score(self.Xk, self.y))
        return 1.0 - score, len(self.y), {"score": score}


def make_client(
    estimator,
    X,
    y,
    *,
    classes=None,
    seed=None,
    param_bound=None,
    max_client_rows=None,
):
    """A Flower ``Client`` for this data holder's rows (see :class:`SkprivClient`).

    Use it in a Flower ``client_fn``, or pass it to
    ``flwr.client.start_client`` (as :func:`start_client` does).

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration shared by the federation.
    X : array-like of shape (n_samples, n_features)
        This client's rows.
    y : array-like of shape (n_samples,)
        Their labels or targets.
    classes : array-like, default=None
        All class labels of the federation (public), for classifiers.
    seed : int, default=None
        Seeds local training (shuffling); ``None`` draws fresh entropy.
    param_bound, max_client_rows : float and int, default=None
        The SecAgg+ bounds (see :class:`SkprivClient`).

    Returns
    -------
    client : flwr.client.Client
        The :class:`SkprivClient`, converted with its ``to_client()``.

    See Also
    --------
    SkprivClient : The ``NumPyClient`` behind it.
    make_client_app : A Flower ``ClientApp`` making such clients.
    start_client : Connect such a client to a Flower server.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import make_client
    >>> X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), random_state=0)
    >>> client = make_client(fed, X, y, classes=[0, 1], seed=0)
    >>> from flwr.client import Client
    >>> isinstance(client, Client)
    True
    """
    return SkprivClient(
        estimator,
        X,
        y,
        classes=classes,
        seed=seed,
        param_bound=param_bound,
        max_client_rows=max_client_rows,
    ).to_client()


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
        ins = FitIns(self.parameters, {})
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
    import math

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
    if n_clients < 3:
        raise ValueError(
            f"secure_aggregation=True needs at least 3 clients; got {n_clients}."
        )
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    _check_bounds(param_bound, max_client_rows)
    ranges = _secagg_ranges(n_clients, param_bound, max_client_rows)
    k = int(min(n_clients - 1, 2 * math.ceil(math.log2(n_clients)) + 2))
    app = ServerApp()

    @app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=config, strategy=strategy)
        workflow = DefaultWorkflow(
            fit_workflow=SecAggPlusWorkflow(
                num_shares=k + 1,
                reconstruction_threshold=k // 2 + 1,
                timeout=round_timeout,
                **ranges,
            )
        )
        workflow(grid, legacy)

    return app, strategy


def make_client_app(
    estimator, load_data, *, classes=None, param_bound=100.0, max_client_rows=None
):
    """A Flower ``ClientApp`` whose clients train on ``load_data(context)``.

    ``load_data(context) -> (X, y)`` (or ``(X, y, seed)``) returns the rows
    of the node running the app (e.g. from ``context.node_config``). Adds
    Flower's ``secaggplus_mod`` when ``secure_aggregation=True``.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration shared by the federation.
    load_data : callable
        ``load_data(context)`` returns ``(X, y)`` or ``(X, y, seed)``, the
        rows (and local training seed) of the node, given its Flower
        ``Context``. It is called each time Flower makes a client.
    classes : array-like, default=None
        All class labels of the federation (public), for classifiers.
    param_bound, max_client_rows : float and int
        With ``secure_aggregation=True``, the SecAgg+ bounds given to
        :func:`make_server_app` (``max_client_rows`` required then).

    Returns
    -------
    client_app : flwr.client.ClientApp
        The app to run on each data holder, with :func:`make_server_app`'s
        ``ServerApp`` on the server.

    See Also
    --------
    make_server_app : The matching ``ServerApp``.
    make_client : The client the app makes for each node.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import make_client_app
    >>> X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), random_state=0)
    >>> def load_data(context):
    ...     return X, y
    >>> client_app = make_client_app(fed, load_data, classes=[0, 1])
    >>> type(client_app).__name__
    'ClientApp'
    """
    from flwr.client import ClientApp
    from flwr.client.mod import secaggplus_mod

    _check_config(estimator)
    bounds = {}
    if estimator.secure_aggregation:
        _check_bounds(param_bound, max_client_rows)
        bounds = dict(param_bound=param_bound, max_client_rows=max_client_rows)

    def client_fn(context):
        X, y, *rest = load_data(context)
        seed = rest[0] if rest else None
        return make_client(estimator, X, y, classes=classes, seed=seed, **bounds)

    mods = [secaggplus_mod] if estimator.secure_aggregation else []
    return ClientApp(client_fn=client_fn, mods=mods)


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


def start_client(
    estimator,
    X,
    y,
    *,
    classes=None,
    server_address,
    seed=None,
    root_certificates=None,
):
    """Connect this data holder's rows to a Flower server (blocks until done).

    Makes a client with :func:`make_client` and runs it with
    ``flwr.client.start_client`` against a server started with
    :func:`start_server`, until the server ends the federation.

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The (unfitted) configuration shared by the federation.
    X : array-like of shape (n_samples, n_features)
        This client's rows.
    y : array-like of shape (n_samples,)
        Their labels or targets.
    classes : array-like, default=None
        All class labels of the federation (public), for classifiers.
    server_address : str
        Address of the Flower server, e.g. ``"127.0.0.1:8080"``.
    seed : int, default=None
        Seeds local training (shuffling); ``None`` draws fresh entropy.
    root_certificates : bytes, default=None
        PEM bytes of the CA that signed the server's certificate (the
        ``ca_cert`` given to :func:`start_server`): the connection then uses
        TLS. ``None``: no TLS.

    See Also
    --------
    start_server : The server side.
    make_client_app : The ``ClientApp`` alternative, with SecAgg+.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower import start_client
    >>> X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, random_state=0)
    >>> start_client(fed, X, y, classes=[0, 1],
    ...              server_address="127.0.0.1:8080")  # doctest: +SKIP
    """
    from flwr.client import start_client as _start_client

    _start_client(
        server_address=server_address,
        client=make_client(estimator, X, y, classes=classes, seed=seed),
        root_certificates=root_certificates,
        insecure=root_certificates is None,
    )


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


# Silence a linter about the otherwise unused imports kept for users.
_ = (flwr, zlib)
