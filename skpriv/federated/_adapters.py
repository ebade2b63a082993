"""Parameter adapters: read, write and locally train an inner estimator's weights.

Federated averaging needs three things from a model: its trainable parameters
as arrays, a way to set them, and a local training step that starts from given
parameters. An adapter provides them for one family of estimators; the
registry maps estimator types to adapters so users can add their own with
:func:`register_adapter`.
"""

import copy
import inspect

import numpy as np
from sklearn.base import is_classifier

__all__ = [
    "LinearPartialFitAdapter",
    "LinearWarmStartAdapter",
    "MLPAdapter",
    "ParameterAdapter",
    "get_adapter",
    "register_adapter",
]


class ParameterAdapter:
    """How federated averaging reads, writes and trains one kind of estimator.

    Subclass it and register the subclass with :func:`register_adapter` to
    federate an estimator skpriv does not know. Weights are lists of numpy
    arrays in a fixed order; the aggregator only ever sees them flattened.
    Subclasses implement :meth:`initialize`, :meth:`get_weights`,
    :meth:`set_weights` and :meth:`local_fit`; :meth:`update_state` and
    :meth:`prepare_X` have defaults that do nothing.

    Attributes
    ----------
    supports_proximal : bool
        Whether :meth:`local_fit` implements FedProx's proximal term.
    encode_labels : bool
        Whether the inner estimator is trained on integer label codes
        ``0..n_classes-1`` (True, e.g. torch nets) or on the original labels.
    trains_on_zero_rows : bool
        Whether :meth:`local_fit` accepts a client with no rows. A DP local
        learner that does (its mechanism run on an empty data set: noise
        only) lets a declared client population (``client_ids``) cover the
        removal of a client's only row; see the federated user guide.

    See Also
    --------
    register_adapter : Make an adapter the one used for an estimator type.
    FederatedClassifier : Federated averaging of a classifier.
    FederatedRegressor : Federated averaging of a regressor.

    Examples
    --------
    An adapter for a ``Ridge`` subclass, whose local training is a refit on
    the client's rows (so federated averaging averages the clients' models):

    >>> import numpy as np
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import Ridge
    >>> from skpriv.federated import (FederatedRegressor, ParameterAdapter,
    ...                               register_adapter)
    >>> class RidgeAdapter(ParameterAdapter):
    ...     def initialize(self, estimator, n_features, classes, rng):
    ...         return estimator.fit(np.zeros((2, n_features)), [0.0, 0.0])
    ...     def get_weights(self, estimator):
    ...         return [estimator.coef_.copy(), np.atleast_1d(estimator.intercept_)]
    ...     def set_weights(self, estimator, weights):
    ...         estimator.coef_, estimator.intercept_ = weights[0], weights[1][0]
    ...     def local_fit(self, estimator, X, y, *, classes, epochs, seed,
    ...                   proximal_mu):
    ...         estimator.fit(X, y)
    ...         return {}
    >>> class MyRidge(Ridge):
    ...     pass
    >>> register_adapter(MyRidge, RidgeAdapter)
    >>> X, y = make_regression(n_samples=60, n_features=3, noise=1.0,
    ...                        random_state=0)
    >>> fed = FederatedRegressor(MyRidge(), n_rounds=2, n_clients=3,
    ...                          random_state=0).fit(X, y)
    >>> fed.score(X, y) > 0.9
    True
    """

    supports_proximal = False
    encode_labels = False
    trains_on_zero_rows = False

    def initialize(self, estimator, n_features, classes, rng):
        """Fit ``estimator``'s structure and set its initial global weights.

        Must not look at training data: the structure comes from the number
        of features and the classes (public), the weights from ``rng``.

        Parameters
        ----------
        estimator : estimator object
            An unfitted clone of the inner estimator, modified in place.
        n_features : int
            Number of features.
        classes : ndarray of shape (n_classes,) or None
            All class labels of the federation (their integer codes when
            ``encode_labels`` is True); ``None`` for regressors.
        rng : numpy.random.Generator
            The federation's random generator, for the initial weights.

        Returns
        -------
        estimator : estimator object
            ``estimator``, with its structure fixed and the initial global
            weights set.
        """
        raise NotImplementedError

    def get_weights(self, estimator) -> list:
        """The trainable parameters, as a list of arrays (copies).

        Parameters
        ----------
        estimator : estimator object
            An estimator prepared by :meth:`initialize`.

        Returns
        -------
        weights : list of ndarray
            Its trainable parameters, always in the same order and shapes.
        """
        raise NotImplementedError

    def set_weights(self, estimator, weights) -> None:
        """Set the trainable parameters from a list of arrays.

        Parameters
        ----------
        estimator : estimator object
            An estimator prepared by :meth:`initialize`, modified in place.
        weights : list of ndarray
            Parameters in the order and shapes of :meth:`get_weights`.
        """
        raise NotImplementedError

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        """Train ``estimator`` (holding the global weights) on one client.

        Returns a dict of auxiliary statistics (may be empty) that
        :meth:`update_state` aggregates, e.g. a step counter.

        Parameters
        ----------
        estimator : estimator object
            A copy of the global model, trained in place.
        X : array-like of shape (n_samples, n_features)
            The client's rows, as returned by :meth:`prepare_X`.
        y : ndarray of shape (n_samples,)
            Their labels (integer codes when ``encode_labels`` is True) or
            targets.
        classes : ndarray of shape (n_classes,) or None
            All class labels of the federation, as in :meth:`initialize`;
            a client may lack some of them. ``None`` for regressors.
        epochs : int
            Number of local epochs (``local_epochs`` of the federation).
        seed : int
            Seed of this client's local training in this round.
        proximal_mu : float
            FedProx's proximal coefficient; adapters that do not support it
            (``supports_proximal=False``) can ignore it, as the estimator
            rejects ``proximal_mu > 0`` for them.

        Returns
        -------
        aux : dict
            Auxiliary statistics for :meth:`update_state` (may be empty).
        """
        raise NotImplementedError

    def update_state(self, estimator, aux, weights) -> None:
        """Update non-trainable global state from the clients' ``aux`` dicts.

        Called only without DP: the clients' statistics are exact, so under
        client-level DP (or with a DP local learner) :meth:`advance_state`
        is called instead. The default does nothing.

        Parameters
        ----------
        estimator : estimator object
            The global model, after the round's aggregated weights were set.
        aux : list of dict
            What :meth:`local_fit` returned for each client of the round.
        weights : ndarray of shape (n_clients,)
            The clients' aggregation weights (their row counts, or ones
            with client-level DP).
        """

    def advance_state(self, estimator, n_steps) -> None:
        """Advance non-trainable global state by a public number of steps.

        Called after each round of a private fit instead of
        :meth:`update_state`, with the expected number of local steps of a
        client (``local_epochs * n_samples / n_clients``, public), so the
        global state depends on no client's private statistics. The default
        does nothing.

        Parameters
        ----------
        estimator : estimator object
            The global model, after the round's aggregated weights were set.
        n_steps : float
            Expected local steps of a client in the round.
        """

    def prepare_X(self, X):
        """Convert ``X`` to what the inner estimator expects (dtype).

        Parameters
        ----------
        X : ndarray of shape (n_samples, n_features)
            Validated float64 rows.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
            The rows as the inner estimator takes them; the default returns
            ``X`` unchanged.
        """
        return X


def _set_seed(estimator, seed):
    # A plain attribute write: set_params' validation costs more than a
    # small client's partial_fit.
    if hasattr(estimator, "random_state"):
        estimator.random_state = int(seed)


def _structure_data(n_features, classes):
    """Public, data-free rows that fix an estimator's shapes and classes."""
    if classes is None:
        return np.zeros((2, n_features)), np.array([0.0, 1.0])
    return np.zeros((len(classes), n_features)), np.asarray(classes)


class _LinearWeights(ParameterAdapter):
    """``coef_`` and ``intercept_`` of a scikit-learn linear model."""

    def get_weights(self, estimator):
        coef = np.array(estimator.coef_, dtype=np.float64, copy=True)
        intercept = np.atleast_1d(np.array(estimator.intercept_, dtype=np.float64))
        return [coef, intercept]

    def set_weights(self, estimator, weights):
        coef, intercept = weights
        old = estimator.coef_
        estimator.coef_ = np.ascontiguousarray(coef, dtype=np.float64).reshape(
            np.shape(old)
        )
        if np.ndim(estimator.intercept_) == 0:
            estimator.intercept_ = float(np.ravel(intercept)[0])
        else:
            estimator.intercept_ = np.ascontiguousarray(
                intercept, dtype=np.float64
            ).reshape(np.shape(estimator.intercept_))

    def _zero(self, estimator):
        self.set_weights(
            estimator, [np.zeros_like(w) for w in self.get_weights(estimator)]
        )


class LinearPartialFitAdapter(_LinearWeights):
    """Linear models trained by ``partial_fit`` (SGD*, Perceptron, PassiveAggressive).

    Each local epoch is one ``partial_fit`` pass over the client's rows,
    starting from the global ``coef_``/``intercept_``. The step counter ``t_``
    that drives the learning-rate schedule is averaged across clients so the
    schedule advances as in centralized training; in a private fit it
    advances by the public expected number of local steps instead (the
    clients' counters reveal their row counts).
    """

    def initialize(self, estimator, n_features, classes, rng):
        if getattr(estimator, "average", False):
            raise ValueError(
                f"{type(estimator).__name__}(average=...) keeps averaged weights "
                f"that federated averaging cannot set; use average=False."
            )
        if getattr(estimator, "early_stopping", False):
            raise ValueError(
                f"{type(estimator).__name__}(early_stopping=True) is not "
                f"supported inside a federation; use early_stopping=False."
            )
        X0, y0 = _structure_data(n_features, classes)
        if classes is not None:
            estimator.partial_fit(X0, y0, classes=classes)
        else:
            estimator.partial_fit(X0, y0)
        self._zero(estimator)
        if hasattr(estimator, "t_"):
            estimator.t_ = 1.0
        return estimator

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        _set_seed(estimator, seed)
        for _ in range(epochs):
            estimator.partial_fit(X, y)
        return {"t_": float(getattr(estimator, "t_", 0.0))}

    def train_many(self, estimator, jobs, classes, epochs, proximal_mu):
        """All clients at once with the vectorized SGD engine, where it applies.

        Returns a list of ``(flat weights, aux, None)`` or ``None`` when the
        configuration needs ``partial_fit`` (see ``_fastsgd.supports``).
        """
        from . import _fastsgd

        if not _fastsgd.supports(estimator):
            return None
        weights, t = _fastsgd.train_many(estimator, jobs, classes, epochs)
        return [(w, {"t_": float(tk)}, None) for w, tk in zip(weights, t)]

    def update_state(self, estimator, aux, weights):
        if hasattr(estimator, "t_") and aux:
            t = np.array([a["t_"] for a in aux])
            estimator.t_ = float(np.average(t, weights=weights))

    def advance_state(self, estimator, n_steps):
        if hasattr(estimator, "t_"):
            estimator.t_ = float(estimator.t_) + float(n_steps)


class LinearWarmStartAdapter(_LinearWeights):
    """Linear models with ``warm_start`` (LogisticRegression, ElasticNet, ...)
    or closed-form ones (Ridge, LinearRegression).

    A local epoch is one ``fit`` on the client's rows, warm-started from the
    global weights where the estimator has ``warm_start`` (its ``max_iter``
    bounds the solver's work per epoch). Estimators without ``warm_start``
    refit from scratch, so federated averaging reduces to one-shot model
    averaging. Classifier clients that lack some classes get one zero-weight
    row per missing class, so every client fits the full class set.
    """

    def initialize(self, estimator, n_features, classes, rng):
        X0, y0 = _structure_data(n_features, classes)
        estimator.fit(X0, y0)
        self._zero(estimator)
        if "warm_start" in estimator.get_params(deep=False):
            estimator.set_params(warm_start=True)
        return estimator

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        _set_seed(estimator, seed)
        sample_weight = None
        if classes is not None:
            missing = np.setdiff1d(classes, y)
            if missing.size:
                if "sample_weight" not in inspect.signature(estimator.fit).parameters:
                    raise ValueError(
                        f"A client has no rows of classes {missing.tolist()} and "
                        f"{type(estimator).__name__}.fit takes no sample_weight "
                        f"to pad them; use an estimator with partial_fit."
                    )
                X = np.vstack([X, np.zeros((missing.size, X.shape[1]))])
                y = np.concatenate([y, missing])
                sample_weight = np.r_[
                    np.ones(len(y) - missing.size), np.zeros(missing.size)
                ]
        for _ in range(epochs):
            if sample_weight is None:
                estimator.fit(X, y)
            else:
                estimator.fit(X, y, sample_weight=sample_weight)
        return {}


class MLPAdapter(ParameterAdapter):
    """``MLPClassifier`` / ``MLPRegressor``: ``coefs_`` and ``intercepts_``.

    The global network is initialized with Glorot-uniform weights (as
    scikit-learn does) from the federation's random state; a local epoch is
    one ``partial_fit`` pass, with a fresh optimizer state each round.
    """

    def initialize(self, estimator, n_features, classes, rng):
        X0, y0 = _structure_data(n_features, classes)
        if classes is not None:
            estimator.partial_fit(X0, y0, classes=classes)
        else:
            estimator.partial_fit(X0, y0)
        factor = 2.0 if estimator.activation == "logistic" else 6.0
        weights = []
        for coef in estimator.coefs_:
            bound = np.sqrt(factor / (coef.shape[0] + coef.shape[1]))
            weights.append(rng.uniform(-bound, bound, coef.shape))
        for coef in estimator.coefs_:
            bound = np.sqrt(factor / (coef.shape[0] + coef.shape[1]))
            weights.append(rng.uniform(-bound, bound, coef.shape[1]))
        self.set_weights(estimator, weights)
        return estimator

    def get_weights(self, estimator):
        return [np.array(w, dtype=np.float64) for w in estimator.coefs_] + [
            np.array(b, dtype=np.float64) for b in estimator.intercepts_
        ]

    def set_weights(self, estimator, weights):
        n = len(estimator.coefs_)
        estimator.coefs_ = [np.array(w, dtype=np.float64) for w in weights[:n]]
        estimator.intercepts_ = [np.array(b, dtype=np.float64) for b in weights[n:]]

    def local_fit(self, estimator, X, y, *, classes, epochs, seed, proximal_mu):
        _set_seed(estimator, seed)
        if hasattr(estimator, "_random_state"):
            estimator._random_state = np.random.RandomState(int(seed))
        # A fresh optimizer per round: FedAvg restarts local optimization.
        if hasattr(estimator, "_optimizer"):
            del estimator._optimizer
        for _ in range(epochs):
            estimator.partial_fit(X, y)
        return {}


# --------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------

#: (matcher, adapter factory); the first match wins, later registrations first.
_REGISTRY: list = []


def register_adapter(estimator_type, adapter):
    """Register ``adapter`` for estimators of ``estimator_type``.

    Federated estimators look up the adapter of their inner estimator among
    the registered ones first, the most recently registered first, then
    among skpriv's built-in adapters (scikit-learn linear models and MLPs,
    skorch nets). Registering for a type skpriv already supports overrides
    the built-in adapter.

    Parameters
    ----------
    estimator_type : type or callable
        A class (subclasses match too), or a predicate ``f(estimator) -> bool``.
    adapter : ParameterAdapter or type
        An adapter instance, or a subclass of :class:`ParameterAdapter`
        (instantiated without arguments).

    See Also
    --------
    ParameterAdapter : The interface an adapter implements.
    FederatedClassifier : Federated averaging of a classifier.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import register_adapter
    >>> from skpriv.federated._adapters import LinearPartialFitAdapter
    >>> class MySGD(SGDClassifier):
    ...     pass
    >>> register_adapter(MySGD, LinearPartialFitAdapter())
    """
    if isinstance(adapter, type):
        adapter = adapter()
    if not isinstance(adapter, ParameterAdapter):
        raise TypeError(
            f"adapter must be a ParameterAdapter instance or subclass; got {adapter!r}."
        )
    if isinstance(estimator_type, type):
        cls = estimator_type

        def matcher(est):
            return isinstance(est, cls)

    elif callable(estimator_type):
        matcher = estimator_type
    else:
        raise TypeError(
            f"estimator_type must be a class or a predicate; got {estimator_type!r}."
        )
    _REGISTRY.insert(0, (matcher, adapter))


def _is_skorch(estimator) -> bool:
    return any(c.__module__.split(".")[0] == "skorch" for c in type(estimator).__mro__)


def _builtin_adapter(estimator):
    from sklearn.linear_model import (
        ElasticNet,
        Lasso,
        LinearRegression,
        LogisticRegression,
        PassiveAggressiveClassifier,
        PassiveAggressiveRegressor,
        Perceptron,
        Ridge,
        RidgeClassifier,
        SGDClassifier,
        SGDRegressor,
    )
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    if isinstance(
        estimator,
        (
            SGDClassifier,
            SGDRegressor,
            Perceptron,
            PassiveAggressiveClassifier,
            PassiveAggressiveRegressor,
        ),
    ):
        return LinearPartialFitAdapter()
    if isinstance(
        estimator,
        (
            LogisticRegression,
            Ridge,
            RidgeClassifier,
            LinearRegression,
            Lasso,
            ElasticNet,
        ),
    ):
        return LinearWarmStartAdapter()
    if isinstance(estimator, (MLPClassifier, MLPRegressor)):
        return MLPAdapter()
    if _is_skorch(estimator):
        from ._skorch import SkorchAdapter

        return SkorchAdapter()
    return None


def get_adapter(estimator) -> ParameterAdapter:
    """The adapter for ``estimator``; a clear error when there is none."""
    for matcher, adapter in _REGISTRY:
        if matcher(estimator):
            return copy.copy(adapter)
    adapter = _builtin_adapter(estimator)
    if adapter is None:
        kind = "classifier" if is_classifier(estimator) else "estimator"
        raise TypeError(
            f"No federated parameter adapter for {type(estimator).__name__}. "
            f"Supported: scikit-learn SGD*/Perceptron/PassiveAggressive "
            f"(partial_fit), LogisticRegression/Ridge/LinearRegression/Lasso/"
            f"ElasticNet (warm start), MLPClassifier/MLPRegressor and skorch "
            f"nets. Register an adapter for this {kind} with "
            f"skpriv.federated.register_adapter(type, adapter)."
        )
    return adapter
