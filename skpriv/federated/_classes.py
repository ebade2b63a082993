"""FederatedClassifier and FederatedRegressor."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets

from ..base import PUBLIC, reject_fit_params
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import _fit_context, validate_data
from ._base import BaseFederated, hiding_values

__all__ = ["FederatedClassifier", "FederatedRegressor"]

_COMMON_PARAMS = """estimator : estimator object, default=None
        The model each client trains locally; it is cloned, never modified.
        Supported out of the box: scikit-learn's SGD*, Perceptron and
        PassiveAggressive* (``partial_fit``), LogisticRegression, Ridge,
        LinearRegression, Lasso, ElasticNet (warm start), MLPClassifier /
        MLPRegressor, and skorch nets, including skpriv's DP nets; add others
        with :func:`~skpriv.federated.register_adapter`. ``None`` uses
        ``{default}``.

    n_rounds : int, default=10
        Communication rounds.

    local_epochs : int, default=1
        Local passes over each client's data per round (``partial_fit``
        calls; warm-started ``fit`` calls for warm-start estimators).

    client_fraction : float, default=1.0
        Probability in (0, 1] with which each client takes part in a round
        (Poisson sampling, which the privacy accounting assumes).

    aggregation : {{"fedavg", "fedadam", "fedyogi"}}, default="fedavg"
        Server update: FedAvg moves to the weighted mean of the clients'
        models; FedAdam / FedYogi use the mean update as a pseudo-gradient
        of an adaptive server optimizer (Reddi et al. 2021).

    server_learning_rate : float, default=None
        Server step size; ``None`` means 1.0 for FedAvg (plain averaging)
        and 0.1 for FedAdam / FedYogi.

    proximal_mu : float, default=0.0
        FedProx's proximal term ``mu / 2 * ||w - w_global||^2`` added to the
        local loss (Li et al. 2020). Only local learners that can add a
        term to their loss support it (skorch nets); others raise an error.

    clip_norm : float, default=None
        Bound on the L2 norm of each client's model update; larger updates
        are scaled down onto it. Required for client-level DP.

    noise_multiplier : float, default=0.0
        Client-level DP (DP-FedAvg, McMahan et al. 2018): Gaussian noise of
        standard deviation ``noise_multiplier * clip_norm`` is added to the
        sum of the clipped updates each round. 0 disables DP.

    epsilon : float, default=None
        Target client-level epsilon after ``n_rounds`` rounds at ``delta``;
        when set, it calibrates the noise multiplier (``noise_multiplier``
        is ignored).

    {{delta}}

    secure_aggregation : bool, default=False
        Aggregate masked, fixed-point encoded updates (Bonawitz et al. 2017,
        with SecAgg+ neighbourhoods), so the server only learns their sum.
        Needs at least 3 clients.

    n_clients : int, default=None
        The public number of clients. Without ``clients`` in ``fit``: the
        number of simulated clients (``None``: 10). With ``clients`` and
        client-level DP: required, the declared number of clients whose
        expected sample ``client_fraction * n_clients`` is the fixed
        denominator of the noisy average (the true count is private and is
        never used). Unused with ``clients`` and no DP.

    client_ids : array-like of shape (n_declared,), default=None
        The public client population: every id that ``fit(..., clients=)``
        may hold. A declared client without rows takes part all the same
        (a zero update; with a DP local learner, its training on zero rows:
        noise only), so removing a client's only row does not remove the
        client, and the average is over the public count. Required for the
        record-level guarantee of a DP local learner with given clients;
        under client-level DP it also sets ``n_clients`` (its length) when
        that is not given. Simulated clients (no ``clients``) are named by
        it.

    partition : {{"iid", "dirichlet"}}, default="iid"
        How rows are dealt to simulated clients: uniformly at random, or by a
        per-class Dirichlet(``dirichlet_alpha``) split (label skew).

    dirichlet_alpha : float, default=0.5
        Concentration of the Dirichlet split; small values skew more.

    {{random_state}}

    n_jobs : int, default=None
        Parallel local training with joblib (``-1``: all cores).

    verbose : int, default=0
        Print one line per round when > 0."""

_COMMON_ATTRS = """estimator_ : estimator
        The global model after the last round, a normal fitted estimator.

    n_rounds_ : int
        Rounds run.

    n_clients_ : int
        Number of clients (given or simulated). Not set after a private fit
        (client-level DP or a DP local learner) on given ``clients``: the
        count would tell whether a client took part.

    client_ids_ : ndarray
        The client ids, in the order used internally. Not set when
        ``n_clients_`` is not.

    history_ : list of dict
        One record per round: ``round`` and ``seconds`` (wall time, a side
        channel the privacy model does not cover). Without DP also
        ``n_clients`` (sampled), ``clipped`` (updates clipped, when
        ``clip_norm`` is set) and ``score`` of the global model on the
        clients' data; under DP these exact statistics are not kept.

    noise_multiplier_ : float
        Noise multiplier used (calibrated from ``epsilon`` when given).

    epsilon_ : float
        Client-level epsilon at ``delta`` spent by the fit (when DP is on).

    client_dp_event_ : dp_accounting.DpEvent
        Client-level DP event (``NonPrivateDpEvent`` without noise).

    record_dp_event_ : dp_accounting.DpEvent
        Record-level event from DP local learners, composed over rounds
        (the client-level event when the local learner is not DP).

    dp_event_ : dp_accounting.DpEvent
        What this fit spent on a training row: the tighter of the two events
        above (a client-level guarantee covers each of the client's rows).

    dp_n_samples_ : int
        Number of training rows."""

_NOTES = """Each round, every client is included with probability
    ``client_fraction``; included clients copy the global model, train it
    ``local_epochs`` epochs on their rows, and send the update (local minus
    global). Without DP the server averages the updates weighted by client
    size; with DP the updates are clipped to ``clip_norm``, summed with
    equal weights, rounded to the noise grid and noised with skpriv's
    floating-point-safe :class:`~skpriv.mechanisms.Gaussian` (standard
    deviation ``noise_multiplier`` times the clip norm plus the rounding
    term), then divided by the public expected number of clients
    ``client_fraction * n_clients`` (the fixed-denominator estimator, whose
    sensitivity to one client is ``clip_norm``; the true number of clients
    is never used). The neighbouring relation is add/remove one client, and
    the privacy event is
    ``SelfComposed(PoissonSampled(Gaussian(noise_multiplier), client_fraction),
    n_rounds)``, accounted with dp-accounting's PLD accountant. Under DP
    nothing else computed from the clients without noise is released: no
    client counts, clipping counts or scores in ``history_``, equal client
    weights, and step counters (``t_``) advanced by the public expected
    number of local steps.

    Secure aggregation protects individual updates from the server but not
    the aggregate, and does not stop malicious clients from sending poisoned
    updates. With DP and secure aggregation each client's update is clipped
    and rounded before it is masked, and the server adds the noise to the
    unmasked sum (central DP with a trusted aggregator of the sum); a round
    that samples fewer than 3 clients is summed in the clear by that
    aggregator (without DP such a round is skipped).

    The in-process simulation runs clients sequentially or in ``n_jobs``
    processes; :mod:`skpriv.federated.flower` runs the same configuration on
    a real Flower federation."""


@inject_docstring(
    delta=PARAM_DOCS["delta"].replace("default=1e-5", "default=1e-5"),
    random_state=PARAM_DOCS["random_state"],
)
class FederatedClassifier(ClassifierMixin, BaseFederated):
    __doc__ = f"""Federated averaging of a classifier, with client-level DP.

    Rows belong to clients (``fit(X, y, clients=ids)``, or simulated
    clients); each round, sampled clients train a copy of ``estimator`` on
    their own rows starting from the global model, and the server averages
    their updates, optionally under secure aggregation so that it only
    learns their sum. Classes are taken from the whole ``y``, so clients that
    lack some classes still train on the full label set.

    Parameters
    ----------
    {_COMMON_PARAMS.format(default="SGDClassifier()")}

    classes : array-like of shape (n_classes,), default=None
        All class labels, declared as public metadata (``classes_`` is then
        public). ``None`` reads them from ``y``: the label set is then
        released without noise, which ``privacy_spent`` names.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels: ``classes`` when given, else those found in ``y``.

    n_features_in_ : int
        Number of features seen during fit.

    {_COMMON_ATTRS}

    See Also
    --------
    FederatedRegressor : The same for regression.
    skpriv.federated.flower.make_client_app : Run it on a Flower federation.

    Notes
    -----
    {_NOTES}

    References
    ----------
    .. [1] McMahan et al., "Communication-Efficient Learning of Deep Networks
       from Decentralized Data", AISTATS 2017.
    .. [2] McMahan et al., "Learning Differentially Private Recurrent Language
       Models", ICLR 2018.
    .. [3] Bonawitz et al., "Practical Secure Aggregation for
       Privacy-Preserving Machine Learning", CCS 2017.
    .. [4] Bell et al., "Secure Single-Server Aggregation with (Poly)Logarithmic
       Overhead", CCS 2020.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> X, y = make_classification(n_samples=600, random_state=0)
    >>> clients = [i % 5 for i in range(600)]
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=5, random_state=0)
    >>> fed.fit(X, y, clients=clients).score(X, y) > 0.8
    True
    >>> dp = FederatedClassifier(SGDClassifier(), n_rounds=5, n_clients=50,
    ...                          clip_norm=1.0, noise_multiplier=1.0,
    ...                          random_state=0).fit(X, y)
    >>> round(dp.epsilon_, 2) > 0
    True
    """

    def __init__(
        self,
        estimator=None,
        *,
        n_rounds=10,
        local_epochs=1,
        client_fraction=1.0,
        aggregation="fedavg",
        server_learning_rate=None,
        proximal_mu=0.0,
        clip_norm=None,
        noise_multiplier=0.0,
        epsilon=None,
        delta=1e-5,
        secure_aggregation=False,
        n_clients=None,
        client_ids=None,
        partition="iid",
        dirichlet_alpha=0.5,
        random_state=None,
        n_jobs=None,
        verbose=0,
        classes=None,
    ):
        self.estimator = estimator
        self.classes = classes
        self.n_rounds = n_rounds
        self.local_epochs = local_epochs
        self.client_fraction = client_fraction
        self.aggregation = aggregation
        self.server_learning_rate = server_learning_rate
        self.proximal_mu = proximal_mu
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier
        self.epsilon = epsilon
        self.delta = delta
        self.secure_aggregation = secure_aggregation
        self.n_clients = n_clients
        self.client_ids = client_ids
        self.partition = partition
        self.dirichlet_alpha = dirichlet_alpha
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _default_estimator(self):
        from sklearn.linear_model import SGDClassifier

        return SGDClassifier()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, clients=None):
        """Federated training on the rows of ``X`` held by ``clients``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (the union of the clients' rows).
        y : array-like of shape (n_samples,)
            Class labels.
        clients : array-like of shape (n_samples,), default=None
            Client id of each row. Request it with
            ``set_fit_request(clients=True)`` to route it through a Pipeline
            or a search. ``None`` simulates ``n_clients`` clients.

        Returns
        -------
        self : FederatedClassifier
            The fitted estimator.
        """
        return self._privacy_fit(X, y, clients=clients)

    _parameter_constraints = {
        **BaseFederated._parameter_constraints,
        "classes": ["array-like", None],
    }

    def _release_kinds(self):
        kinds = super()._release_kinds()
        if not self.__dict__.get("_classes_declared", False):
            kinds["classes_"] = (
                "uncovered: the label set, read from y (declare it with classes=)"
            )
        else:
            kinds["classes_"] = PUBLIC
        return kinds

    def _fit(self, X, y, rng, clients=None, **fit_params):
        reject_fit_params(self, fit_params)
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if self.classes is None:
            self.classes_, codes = np.unique(y, return_inverse=True)
            self._classes_declared = False
        else:
            self.classes_ = np.unique(np.asarray(self.classes))
            if len(self.classes_) != len(np.asarray(self.classes).ravel()):
                raise ValueError("classes must not repeat a label.")
            unknown = np.setdiff1d(y, self.classes_)
            if unknown.size:
                # The labels themselves are private: only their count is named.
                raise ValueError(
                    f"y has {unknown.size} label(s) missing from classes; list "
                    f"every label in classes."
                )
            codes = np.searchsorted(self.classes_, y)
            self._classes_declared = True
        if len(self.classes_) < 2:
            which = "classes" if self.classes is not None else "y"
            raise ValueError(
                f"FederatedClassifier needs at least 2 classes in {which}; got 1 class."
            )
        from ._adapters import get_adapter

        base = self._default_estimator() if self.estimator is None else self.estimator
        if get_adapter(base).encode_labels:
            self._encoded = True
            return self._federate(
                X, codes.astype(np.int64), clients, rng, np.arange(len(self.classes_))
            )
        self._encoded = False
        return self._federate(X, y, clients, rng, self.classes_)

    def _round_score(self, est, X, y):
        pred = est.predict(X)
        return np.mean(np.asarray(pred).ravel() == np.asarray(y).ravel())

    def _decode(self, pred):
        pred = np.asarray(pred)
        return self.classes_[pred.astype(int)] if self._encoded else pred

    @hiding_values
    def predict(self, X):
        """Class labels predicted by the global model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted class labels, from ``classes_``.
        """
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._decode(self.estimator_.predict(self.adapter_.prepare_X(X)))

    @available_if(
        lambda self: hasattr(
            self.estimator_
            if hasattr(self, "estimator_")
            else (
                self.estimator
                if self.estimator is not None
                else self._default_estimator()
            ),
            "predict_proba",
        )
    )
    @hiding_values
    def predict_proba(self, X):
        """Class probabilities from the global model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.estimator_.predict_proba(self.adapter_.prepare_X(X))

    @available_if(
        lambda self: hasattr(
            self.estimator_
            if hasattr(self, "estimator_")
            else (
                self.estimator
                if self.estimator is not None
                else self._default_estimator()
            ),
            "decision_function",
        )
    )
    @hiding_values
    def decision_function(self, X):
        """Decision function of the global model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.estimator_.decision_function(self.adapter_.prepare_X(X))


# Scoring sees private labels: its errors quote none (see hiding_values).
FederatedClassifier.score = hiding_values(ClassifierMixin.score)


@inject_docstring(delta=PARAM_DOCS["delta"], random_state=PARAM_DOCS["random_state"])
class FederatedRegressor(RegressorMixin, BaseFederated):
    __doc__ = f"""Federated averaging of a regressor, with client-level DP.

    Rows belong to clients (``fit(X, y, clients=ids)``, or simulated
    clients); each round, sampled clients train a copy of ``estimator`` on
    their own rows starting from the global model, and the server averages
    their updates, optionally under secure aggregation so that it only
    learns their sum.

    Parameters
    ----------
    {_COMMON_PARAMS.format(default="SGDRegressor()")}

    Attributes
    ----------
    n_features_in_ : int
        Number of features seen during fit.

    {_COMMON_ATTRS}

    See Also
    --------
    FederatedClassifier : The same for classification.
    skpriv.federated.flower.make_client_app : Run it on a Flower federation.

    Notes
    -----
    {_NOTES}

    References
    ----------
    .. [1] McMahan et al., "Communication-Efficient Learning of Deep Networks
       from Decentralized Data", AISTATS 2017.
    .. [2] McMahan et al., "Learning Differentially Private Recurrent Language
       Models", ICLR 2018.
    .. [3] Bonawitz et al., "Practical Secure Aggregation for
       Privacy-Preserving Machine Learning", CCS 2017.

    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from sklearn.linear_model import SGDRegressor
    >>> from skpriv.federated import FederatedRegressor
    >>> X, y = make_regression(n_samples=500, n_features=5, noise=1.0,
    ...                        random_state=0)
    >>> fed = FederatedRegressor(SGDRegressor(), n_rounds=5, n_clients=5,
    ...                          random_state=0).fit(X, y)
    >>> fed.score(X, y) > 0.9
    True
    """

    def __init__(
        self,
        estimator=None,
        *,
        n_rounds=10,
        local_epochs=1,
        client_fraction=1.0,
        aggregation="fedavg",
        server_learning_rate=None,
        proximal_mu=0.0,
        clip_norm=None,
        noise_multiplier=0.0,
        epsilon=None,
        delta=1e-5,
        secure_aggregation=False,
        n_clients=None,
        client_ids=None,
        partition="iid",
        dirichlet_alpha=0.5,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.n_rounds = n_rounds
        self.local_epochs = local_epochs
        self.client_fraction = client_fraction
        self.aggregation = aggregation
        self.server_learning_rate = server_learning_rate
        self.proximal_mu = proximal_mu
        self.clip_norm = clip_norm
        self.noise_multiplier = noise_multiplier
        self.epsilon = epsilon
        self.delta = delta
        self.secure_aggregation = secure_aggregation
        self.n_clients = n_clients
        self.client_ids = client_ids
        self.partition = partition
        self.dirichlet_alpha = dirichlet_alpha
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    def _default_estimator(self):
        from sklearn.linear_model import SGDRegressor

        return SGDRegressor()

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, clients=None):
        """Federated training on the rows of ``X`` held by ``clients``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (the union of the clients' rows).
        y : array-like of shape (n_samples,)
            Targets.
        clients : array-like of shape (n_samples,), default=None
            Client id of each row. Request it with
            ``set_fit_request(clients=True)`` to route it through a Pipeline
            or a search. ``None`` simulates ``n_clients`` clients.

        Returns
        -------
        self : FederatedRegressor
            The fitted estimator.
        """
        return self._privacy_fit(X, y, clients=clients)

    def _fit(self, X, y, rng, clients=None, **fit_params):
        reject_fit_params(self, fit_params)
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=True)
        return self._federate(X, y.astype(np.float64), clients, rng, None)

    @hiding_values
    def predict(self, X):
        """Predict targets with the global model.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted targets.
        """
        self._check_fitted()
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return np.ravel(self.estimator_.predict(self.adapter_.prepare_X(X)))


FederatedRegressor.score = hiding_values(RegressorMixin.score)
