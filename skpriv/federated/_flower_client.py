"""Flower's client side: skpriv's ``NumPyClient`` and the ``ClientApp`` around it.

Imported only through :mod:`skpriv.federated.flower` (it needs Flower).
"""

import copy

import numpy as np
from flwr.client import NumPyClient

from ..utils._random import check_random_state
from ._flower_common import _check_bounds, _check_config, _structure

__all__ = ["SkprivClient", "make_client", "make_client_app", "start_client"]


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
        self.seed = seed
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
            Configuration sent by the server: its ``server_round`` (public)
            is mixed into a seeded client's local seed.

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
            seed=self._local_seed(config),
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

    def _local_seed(self, config):
        """This round's local training seed.

        A Flower deployment makes the client afresh for every message, so a
        seeded client would repeat its first draw every round: the round
        number the server sends (public) is mixed into the seed instead.
        """
        rnd = (config or {}).get("server_round")
        if rnd is None or not isinstance(self.seed, (int, np.integer)):
            return int(self.rng.integers(2**31 - 1))
        sequence = np.random.SeedSequence([int(self.seed), int(rnd)])
        return int(np.random.default_rng(sequence).integers(2**31 - 1))

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
