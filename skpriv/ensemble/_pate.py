"""PATEClassifier: private knowledge transfer from a teacher ensemble."""

import math
import warnings
from numbers import Integral, Real

import dp_accounting
import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils import _safe_indexing
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import (
    check_consistent_length,
    check_is_fitted,
    column_or_1d,
)

from ..accounting import epsilon_of
from ..base import (
    DP,
    PUBLIC,
    PrivacyMixin,
    declared_releases,
    privacy_constraints,
    reject_fit_params,
)
from ..exceptions import BudgetExceededError, PrivacyLeakWarning
from ..linear_model._budget import calibration_epsilon
from ..utils._classes import encode_classes
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._random import spawn_seeds
from ..utils._sklearn_compat import (
    Interval,
    InvalidParameterError,
    StrOptions,
    validate_data,
)
from ._aggregation import aggregate, plurality, vote_counts
from ._pate_analysis import (
    RDP_ORDERS,
    aggregator_event,
    aggregator_mu2,
    gaussian_mu2_budget,
    laplace_max_queries,
    laplace_scale_for_budget,
    logpr_answered,
    logq_gnmax,
    logq_lnmax,
    rdp_data_dependent_gaussian,
    rdp_data_dependent_pure,
    rdp_to_epsilon,
)

__all__ = ["PATEClassifier"]

#: Default ratio ``sigma_threshold / sigma`` for Confident-GNMax (the 2018
#: paper used 150 / 40 on MNIST and 100 / 40 on SVHN).
_THRESHOLD_NOISE_RATIO = 3.0
#: Default threshold of Confident-GNMax, as a fraction of the teachers.
_THRESHOLD_FRACTION = 0.7


def _unlabelled_mask(y: np.ndarray) -> np.ndarray:
    """Rows marked unlabelled: ``-1`` (or the string ``"-1"`` for text labels)."""
    if y.dtype.kind in "iuf":
        return y == -1
    if y.dtype.kind in "US":
        return y == "-1"
    return np.array([v == -1 or v == "-1" for v in y], dtype=bool)


def _is_frame(X) -> bool:
    """Whether ``X`` is a pandas DataFrame (without importing pandas)."""
    return hasattr(X, "iloc") and hasattr(X, "columns")


def _seed_estimator(estimator, seed: int):
    """Give every ``*random_state`` parameter of ``estimator`` a seed."""
    params = estimator.get_params(deep=True)
    to_set = {
        k: seed for k in params if k == "random_state" or k.endswith("__random_state")
    }
    if to_set:
        estimator.set_params(**to_set)
    return estimator


def _fit_and_vote(estimator, X_train, y_train, X_query, n_classes: int, index: int):
    """Fit one teacher on its partition and return it with its votes."""
    if np.unique(y_train).size < 2:
        # Most classifiers refuse one class; a partition holding one class
        # teaches exactly that class, which a constant voter does.
        estimator = DummyClassifier(strategy="most_frequent")
    try:
        estimator.fit(X_train, y_train)
    except Exception as exc:
        if hasattr(exc, "add_note"):  # Python >= 3.11
            exc.add_note(
                f"PATEClassifier: teacher {index} ({type(estimator).__name__}) "
                f"failed on its partition of {X_train.shape[0]} private rows; "
                f"fewer teachers give each one more rows."
            )
        raise
    votes = np.asarray(estimator.predict(X_query)).ravel()
    if votes.shape[0] != X_query.shape[0]:
        raise ValueError(
            f"teacher {index} ({type(estimator).__name__}) returned "
            f"{votes.shape[0]} predictions for {X_query.shape[0]} rows."
        )
    as_int = votes.astype(np.int64, copy=False) if votes.dtype.kind in "iuf" else None
    if as_int is None or np.any(as_int != votes) or np.any(as_int < 0):
        raise ValueError(
            f"teacher {index} ({type(estimator).__name__}) predicted values that "
            f"are not class labels; teachers must be classifiers."
        )
    if np.any(as_int >= n_classes):
        raise ValueError(
            f"teacher {index} ({type(estimator).__name__}) predicted a class "
            f"it was not trained on."
        )
    return estimator, as_int


def _student_has(attr):
    def check(self):
        student = getattr(self, "student_", None)
        if student is None:
            student = self.student if self.student is not None else _default_estimator()
        return hasattr(student, attr)

    return check


def _default_estimator():
    return LogisticRegression(max_iter=1000)


def _validate_nested_params(estimator, name: str) -> None:
    """Validate ``estimator``'s parameters and those of estimators inside it."""
    nested = [("", estimator)]
    if hasattr(estimator, "get_params"):
        nested += [
            (f"__{key}", value)
            for key, value in estimator.get_params(deep=True).items()
            if hasattr(value, "get_params")
        ]
    for path, est in nested:
        # scikit-learn's own check; third-party estimators without
        # constraints have nothing declared to check.
        validate = getattr(est, "_validate_params", None)
        if not callable(validate) or not hasattr(est, "_parameter_constraints"):
            continue
        try:
            validate()
        except InvalidParameterError as exc:
            raise InvalidParameterError(
                f"PATEClassifier: invalid parameter of {name}{path} "
                f"({type(est).__name__}): {exc}"
            ) from None


@inject_docstring(random_state=PARAM_DOCS["random_state"])
class PATEClassifier(PrivacyMixin, MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Private Aggregation of Teacher Ensembles (PATE) for any classifiers.

    The labelled (private) rows are split into ``n_teachers`` disjoint
    partitions and one clone of ``teacher`` learns each. The unlabelled
    (public) rows, marked ``y == -1`` as in scikit-learn's semi-supervised
    estimators, are labelled by a noisy plurality vote of the teachers, and a
    clone of ``student`` learns from the public rows and their noisy labels
    only. Predictions come from the student; the teachers are never queried
    after ``fit``. The student is differentially private with respect to the
    private rows: changing one of them changes one teacher, hence each vote
    histogram by at most 2 in L1, and every histogram is released only
    through a noisy maximum.

    Read more in Papernot et al. (2017, 2018).

    Parameters
    ----------
    teacher : estimator, default=None
        Classifier cloned for every teacher (needs ``fit`` and ``predict``).
        ``None`` uses ``LogisticRegression(max_iter=1000)``. Teachers are
        trained on integer-coded labels ``0 .. n_classes - 1``; a partition
        holding a single class gets a constant teacher voting that class.
        A pandas DataFrame ``X`` reaches teachers and student as a DataFrame,
        so they may select columns by name or encode text columns.
    student : estimator, default=None
        Classifier cloned and fitted on the public rows with noisy labels
        (integer-coded). ``None`` uses ``LogisticRegression(max_iter=1000)``.
        A scikit-learn compatible net (skorch) works as well.
    n_teachers : int, default=50
        Number of teachers (>= 2), hence of disjoint private partitions. More
        teachers make wider vote margins against the noise, each trained on
        fewer rows.
    aggregator : {"gnmax", "confident_gnmax", "lnmax"}, default="gnmax"
        ``"gnmax"``: Gaussian noise of standard deviation ``sigma`` on every
        vote count, argmax (2018). ``"lnmax"``: Laplace noise of scale
        ``sigma`` (2017). ``"confident_gnmax"``: a query is answered (by
        GNMax) only when its top count plus Gaussian noise of standard
        deviation ``sigma_threshold`` reaches ``threshold``; unanswered rows
        get no label.
    sigma : float, default=None
        Noise on the vote counts: Gaussian standard deviation, or Laplace
        scale for ``"lnmax"``. ``None`` calibrates it from ``epsilon`` so that
        answering every query (``max_queries`` or the whole public pool)
        spends exactly ``epsilon`` (assuming every Confident-GNMax query is
        answered). The calibrated value is ``sigma_``.
    threshold : float, default=None
        Confident-GNMax threshold on the noisy top count. ``None`` uses
        ``0.7 * n_teachers``.
    sigma_threshold : float, default=None
        Confident-GNMax noise of the threshold check. ``None`` uses
        ``3 * sigma``.
    max_queries : int, default=None
        Most public rows to query (in a random order); ``None`` queries them
        all, within the budget.
    epsilon : float or None, default=1.0
        Privacy budget of the whole fit (epsilon > 0, finite): queries stop
        before one would exceed ``(epsilon, delta)``-DP (pure
        ``epsilon``-DP for ``"lnmax"`` with ``delta=0``). Smaller is more
        private and noisier. ``None`` sets no budget: every query is asked
        and ``sigma`` must be given.
    delta : float, default=1e-5
        Target delta (0 <= delta < 1; > 0 for the Gaussian aggregators).
    public_fraction : float, default=None
        Only for data without ``-1`` rows (otherwise ignored): this fraction
        of the labelled rows, chosen at random, becomes the public pool with
        its labels dropped. The features of these rows are then *not*
        protected, so it raises :class:`~skpriv.exceptions.PrivacyLeakWarning`:
        use it only when those rows are public, or to simulate PATE on fully
        labelled data. ``None`` raises an error when there is no public row.
    semi_supervised : bool, default=False
        If True the student gets every public row, those without a noisy
        label marked ``-1`` (scikit-learn's semi-supervised convention), for
        students such as :class:`~sklearn.semi_supervised.SelfTrainingClassifier`.
        A ``student`` is then required, and one that learns ``-1`` as a class
        raises an error.
    classes : array-like of shape (n_classes,), default=None
        The public list of labels of the private rows (at least 2, not
        ``-1``). Teachers vote over it and ``classes_`` is it, sorted, whether
        or not the private rows hold every label; a private label outside it
        raises a ``ValueError``. ``None`` reads the labels from the private
        rows and raises a :class:`~skpriv.exceptions.PrivacyLeakWarning`: one
        row carrying a rare label then shows in ``classes_``, which
        ``privacy_spent`` names as not covered.
    keep_teachers : bool, default=False
        Keep the fitted teachers in ``teachers_`` with the diagnostics read
        from their exact votes (``label_agreement_``,
        ``epsilon_data_dependent_``). They are trained on the private rows
        without noise: not covered by the guarantee, and ``privacy_spent``
        names them. With ``False`` the fitted object holds only the student
        and DP outputs, so it can be published as a whole.
    {random_state}
    n_jobs : int, default=None
        Teachers trained (and queried) in parallel by joblib. ``None`` means 1
        unless in a :func:`joblib.parallel_backend` context; ``-1`` all CPUs.
    verbose : int, default=0
        Verbosity of the teachers' training and a summary of the queries.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels: ``classes`` sorted (public), or the labels of the
        private rows when ``classes=None`` (not covered).
    teachers_ : list of estimators
        The fitted teachers, one per partition; only with
        ``keep_teachers=True`` (not covered: no noise).
    student_ : estimator
        The fitted student: a DP output (not covered when
        ``public_fraction`` moved labelled rows to the public pool, whose
        features it learns from).
    n_queries_ : int
        Public rows on which the teachers were queried.
    query_indices_ : ndarray of shape (n_queries_,)
        Positions in ``X`` of the queried public rows, in query order.
    query_labels_ : ndarray of shape (n_queries_,)
        Noisy label of each query as an index into ``classes_`` (``-1``:
        not answered). A differentially private release.
    n_answered_ : int
        Queries answered with a noisy label (all but unconfident
        Confident-GNMax queries).
    label_agreement_ : float
        Only with ``keep_teachers=True``: share of answered queries whose
        noisy label equals the teachers' noiseless plurality vote (NaN when
        none was answered). It reads the private votes: a diagnostic, not
        covered by the guarantee.
    sigma_ : float
        Noise scale used (``sigma`` or its calibrated value).
    sigma_threshold_ : float or None
        Threshold noise used by Confident-GNMax.
    threshold_ : float or None
        Threshold used by Confident-GNMax.
    epsilon_ : float
        Data-independent epsilon of this fit at ``delta``, from dp-accounting:
        exact for the Gaussian aggregators (their queries compose into one
        Gaussian mechanism), the Rényi-DP accountant (or the pure-DP sum, if
        smaller) for ``"lnmax"``.
    epsilon_data_dependent_ : float
        Only with ``keep_teachers=True``: the tighter data-dependent bound of
        Papernot et al. (2018) at ``delta``. It is computed from the exact
        votes, so releasing it is not differentially private (the paper
        releases it through smooth sensitivity); ``privacy_spent`` names it.
    dp_event_ : dp_accounting.DpEvent
        What this fit spent (the queries actually made).
    dp_n_samples_ : int
        Number of rows given to ``fit``.
    n_features_in_ : int
        Number of features seen during ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during ``fit``, when ``X`` has string column
        names.

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : Same data convention.
    skpriv.linear_model.DPLogisticRegression : Direct DP training.
    skpriv.neural_network.DPNeuralNetClassifier : DP-SGD training.

    Notes
    -----
    Neighbouring datasets differ in one private row (replaced); the number
    of rows and which rows are public (``y == -1``) are public. Partitions
    depend only on the row positions and the seed, never on labels (a
    stratified split would let one label move other rows between teachers),
    so one changed row changes one teacher.

    Privacy cost per query: GNMax releases at most a Gaussian-noised vote
    histogram of L2 sensitivity sqrt(2), Rényi-DP ``alpha / sigma**2``;
    LNMax a Laplace-noised histogram of L1 sensitivity 2, ``2 / sigma``-DP;
    Confident-GNMax adds a Gaussian check of the top count (sensitivity 1)
    per query and pays GNMax only for answered queries. All Gaussian costs
    compose into one Gaussian mechanism, and stopping when the budget would
    be exceeded is a valid Gaussian-DP privacy filter (Smith & Thakurta
    2022), so ``epsilon_ <= epsilon`` also when the number of answered
    queries depends on the data. The student and everything it sees is
    post-processing. The public rows themselves are not protected.

    What the fitted object releases is declared in ``_privacy_releases``:
    the student, the noisy labels and the query bookkeeping are DP outputs;
    the noise scales, ``classes_`` (when ``classes`` is given) and the
    number of rows are public. The teachers and everything read from their
    exact votes are kept only with ``keep_teachers=True`` and are then named
    by :func:`~skpriv.accounting.privacy_spent` as not covered. One plan
    (``_plan``) gives the noise, the event a fit records (the queries that
    actually ran) and the event a search plans.

    References
    ----------
    .. [1] N. Papernot, M. Abadi, Ú. Erlingsson, I. Goodfellow, K. Talwar,
       "Semi-supervised knowledge transfer for deep learning from private
       training data", ICLR 2017.
    .. [2] N. Papernot, S. Song, I. Mironov, A. Raghunathan, K. Talwar,
       Ú. Erlingsson, "Scalable private learning with PATE", ICLR 2018.
    .. [3] A. Smith, A. Thakurta, "Fully adaptive composition for Gaussian
       differential privacy", arXiv:2210.17520, 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from skpriv.ensemble import PATEClassifier
    >>> X, y = make_classification(n_samples=3000, n_features=10, n_informative=5,
    ...                            n_classes=3, random_state=0)
    >>> y_fit = y.copy()
    >>> y_fit[2000:2500] = -1                    # public, unlabelled rows
    >>> pate = PATEClassifier(
    ...     n_teachers=20, epsilon=2.0, classes=[0, 1, 2], random_state=0
    ... )
    >>> pate = pate.fit(X[:2500], y_fit[:2500])
    >>> pate.n_queries_, pate.epsilon_ <= 2.0
    (500, True)
    >>> float(pate.score(X[2500:], y[2500:])) > 0.6
    True
    """

    _privacy_releases = {
        "classes_": PUBLIC,
        "student_": DP,
        "query_indices_": DP,
        "query_labels_": DP,
        "n_queries_": PUBLIC,
        "n_answered_": PUBLIC,
        "epsilon_": PUBLIC,
        "sigma_": PUBLIC,
        "sigma_threshold_": PUBLIC,
        "threshold_": PUBLIC,
        "teachers_": (
            "uncovered: trained on the private partitions without noise "
            "(keep_teachers=True)"
        ),
        "label_agreement_": (
            "uncovered: compares the noisy labels with the teachers' exact "
            "plurality votes (keep_teachers=True)"
        ),
        "epsilon_data_dependent_": (
            "uncovered: computed from the exact vote counts (keep_teachers=True)"
        ),
    }

    _parameter_constraints = {
        "teacher": "no_validation",
        "student": "no_validation",
        "n_teachers": [Interval(Integral, 2, None, closed="left")],
        "aggregator": [StrOptions({"lnmax", "gnmax", "confident_gnmax"})],
        "sigma": [Interval(Real, 0, None, closed="neither"), None],
        "threshold": [Interval(Real, None, None, closed="neither"), None],
        "sigma_threshold": [Interval(Real, 0, None, closed="neither"), None],
        "max_queries": [Interval(Integral, 1, None, closed="left"), None],
        "epsilon": [*privacy_constraints("epsilon")["epsilon"], None],
        **privacy_constraints("delta", "random_state"),
        "public_fraction": [Interval(Real, 0, 1, closed="neither"), None],
        "semi_supervised": ["boolean"],
        "classes": ["array-like", None],
        "keep_teachers": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        teacher=None,
        student=None,
        *,
        n_teachers=50,
        aggregator="gnmax",
        sigma=None,
        threshold=None,
        sigma_threshold=None,
        max_queries=None,
        epsilon=1.0,
        delta=1e-5,
        public_fraction=None,
        semi_supervised=False,
        classes=None,
        keep_teachers=False,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.teacher = teacher
        self.student = student
        self.n_teachers = n_teachers
        self.aggregator = aggregator
        self.sigma = sigma
        self.threshold = threshold
        self.sigma_threshold = sigma_threshold
        self.max_queries = max_queries
        self.epsilon = epsilon
        self.delta = delta
        self.public_fraction = public_fraction
        self.semi_supervised = semi_supervised
        self.classes = classes
        self.keep_teachers = keep_teachers
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Parameters -> noise and query plan
    # ------------------------------------------------------------------

    def _check_estimators(self):
        """The teacher and student are classifiers with valid parameters.

        ``fit`` skips scikit-learn's nested validation (the teachers are
        fitted on small partitions in workers), so their parameters, and those
        of the estimators nested in them, are validated here, before any work.
        """
        for name in ("teacher", "student"):
            est = getattr(self, name)
            if est is None:
                continue
            missing = [m for m in ("fit", "predict") if not hasattr(est, m)]
            if missing:
                raise TypeError(
                    f"{name}={est!r} cannot be used by {type(self).__name__}: it "
                    f"has no {' or '.join(missing)} method. Pass a classifier."
                )
            _validate_nested_params(est, name)

    def _plan(self, n_candidates: int) -> dict:
        """Noise scales and the number of queries the budget allows.

        Depends only on the parameters and the (public) number of candidate
        queries, never on private data. The one source of the noise ``fit``
        adds, of the DP event it records and of the event a search plans
        (both built by :meth:`_plan_event`).
        """
        # A huge epsilon (1e300) is calibrated as 1e6: negligible noise, and
        # no overflow in 1 / sigma**2 (the event records what was added).
        agg, eps, delta = self.aggregator, calibration_epsilon(self.epsilon), self.delta
        if self.sigma is None and eps is None:
            raise ValueError(
                "PATEClassifier needs sigma (the noise) or epsilon (the budget, "
                "from which sigma is calibrated); both are None."
            )
        if agg != "lnmax" and delta == 0:
            raise ValueError(
                f"delta must be > 0 for aggregator={agg!r} (Gaussian noise is "
                f"not pure DP); use aggregator='lnmax' for delta=0."
            )
        plan = {"sigma": self.sigma, "sigma_threshold": None, "threshold": None}
        k = n_candidates
        if agg == "lnmax":
            if self.sigma is None:
                plan["sigma"] = laplace_scale_for_budget(k, eps, delta)
                plan["n_max"] = k
            elif eps is None:
                plan["n_max"] = k
            else:
                plan["n_max"] = laplace_max_queries(self.sigma, eps, delta, k)
            return plan
        mu2 = math.inf if eps is None else gaussian_mu2_budget(eps, delta)
        plan["mu2_budget"] = mu2
        if agg == "gnmax":
            if self.sigma is None:
                plan["sigma"] = math.sqrt(2.0 * k / mu2) * (1.0 + 1e-9)
                plan["n_max"] = k
            else:
                n_budget = k if eps is None else math.floor(mu2 * self.sigma**2 / 2)
                plan["n_max"] = int(min(k, n_budget))
            return plan
        # Confident-GNMax: the threshold check costs 1 / sigma_threshold**2 per
        # query, an answer 2 / sigma**2 (in mu**2 units).
        sigma, sigma_t = self.sigma, self.sigma_threshold
        if sigma is None:
            if sigma_t is None:
                per_query = 2.0 + 1.0 / _THRESHOLD_NOISE_RATIO**2
                sigma = math.sqrt(k * per_query / mu2) * (1.0 + 1e-9)
            else:
                left = mu2 - k / sigma_t**2
                if left <= 0:
                    raise BudgetExceededError(
                        f"epsilon={eps} is spent by the threshold checks of "
                        f"{k} queries with sigma_threshold={sigma_t}; raise "
                        f"epsilon or sigma_threshold, or lower max_queries."
                    )
                sigma = math.sqrt(2.0 * k / left) * (1.0 + 1e-9)
        if sigma_t is None:
            sigma_t = _THRESHOLD_NOISE_RATIO * sigma
        threshold = self.threshold
        if threshold is None:
            threshold = _THRESHOLD_FRACTION * self.n_teachers
        plan.update(sigma=sigma, sigma_threshold=sigma_t, threshold=threshold, n_max=k)
        return plan

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _split_rows(self, y, rng):
        """Private and public row indices, and whether labelled rows were moved."""
        public = _unlabelled_mask(y)
        if self.public_fraction is not None and not public.any():
            labelled = np.flatnonzero(~public)
            n_move = int(round(self.public_fraction * labelled.size))
            if n_move:
                moved = rng.permutation(labelled)[:n_move]
                public[moved] = True
                warnings.warn(
                    f"public_fraction={self.public_fraction}: {n_move} labelled "
                    f"rows were moved to the public pool; their features train "
                    f"the student and are not covered by the DP guarantee.",
                    PrivacyLeakWarning,
                    stacklevel=7,
                )
        moved = bool(public.any()) and self.public_fraction is not None
        moved = moved and not _unlabelled_mask(y).any()
        private_idx = np.flatnonzero(~public)
        public_idx = np.flatnonzero(public)
        if public_idx.size == 0:
            raise ValueError(
                "PATEClassifier found no public rows: mark the unlabelled public "
                "rows the student learns from with y == -1, or set "
                "public_fraction to use a share of the labelled rows as public."
            )
        if private_idx.size == 0:
            raise ValueError(
                "PATEClassifier found no private rows: every y is -1, so there "
                "is nothing to teach. Give the labelled private rows."
            )
        if private_idx.size < self.n_teachers:
            raise ValueError(
                f"n_teachers={self.n_teachers} is larger than the number of "
                f"private (labelled) rows, {private_idx.size}: every teacher "
                f"needs at least one row. Lower n_teachers."
            )
        return private_idx, public_idx, moved

    def _fit(self, X, y, rng, **fit_params):
        reject_fit_params(self, fit_params)
        self._check_estimators()
        # A refit with keep_teachers=False must not keep an earlier fit's.
        for attr in ("teachers_", "label_agreement_", "epsilon_data_dependent_"):
            self.__dict__.pop(attr, None)
        if self.semi_supervised and self.student is None:
            raise ValueError(
                "semi_supervised=True gives the student rows labelled -1 "
                "(unanswered queries); the default LogisticRegression student "
                "would learn -1 as a class. Pass a semi-supervised student such "
                "as SelfTrainingClassifier(LogisticRegression())."
            )
        if y is None:
            raise ValueError(
                "PATEClassifier requires y to be passed, but the target y is None: "
                "give labels for the private rows and -1 for the public rows."
            )
        frame = X if _is_frame(X) else None
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            ensure_min_samples=2,
            dtype=None if frame is not None else "numeric",
        )
        if frame is not None:
            # Teachers and student get the DataFrame itself: their pipelines
            # may select columns by name or encode non-numeric columns.
            X = frame
        elif sparse.issparse(X):
            X = X.tocsr()
        y = column_or_1d(y, warn=True)
        # The labels are checked before the rows are split, so that a
        # regression target or a single class is named as such (not as a
        # missing public pool).
        labelled = ~_unlabelled_mask(y)
        if labelled.any():
            check_classification_targets(y[labelled])
            if self.classes is None and np.unique(y[labelled]).size < 2:
                raise ValueError(
                    "PATEClassifier needs private rows of at least 2 classes; "
                    "got 1 class. Pass classes=[...] if the others are only "
                    "absent from this sample."
                )
        private_idx, public_idx, moved_public = self._split_rows(y, rng)
        y_private = y[private_idx]
        check_classification_targets(y_private)
        if self.classes is not None and np.any(
            _unlabelled_mask(np.asarray(self.classes))
        ):
            raise ValueError(
                "PATEClassifier: classes must not hold -1, which marks the "
                "public unlabelled rows."
            )
        self.classes_, y_code, inferred = encode_classes(
            y_private, self.classes, owner="PATEClassifier", stacklevel=6
        )
        n_classes = self.classes_.size

        # Query order is random; the plan fixes sigma and how many we ask.
        query_order = rng.permutation(public_idx)
        n_candidates = query_order.size
        if self.max_queries is not None:
            n_candidates = min(n_candidates, self.max_queries)
        plan = self._plan(n_candidates)
        n_ask = plan["n_max"]
        if n_ask < 1:
            raise BudgetExceededError(
                f"epsilon={self.epsilon} does not pay for a single query with "
                f"sigma={self.sigma} (aggregator={self.aggregator!r}); raise "
                f"epsilon or sigma, or leave sigma=None to calibrate it."
            )
        queries = query_order[:n_ask]

        # Disjoint partitions from positions and the seed only (not labels).
        teacher_of = np.empty(private_idx.size, dtype=np.int64)
        teacher_of[rng.permutation(private_idx.size)] = (
            np.arange(private_idx.size) % self.n_teachers
        )
        seeds = spawn_seeds(rng, self.n_teachers)
        base_teacher = (
            self.teacher if self.teacher is not None else _default_estimator()
        )
        X_query = _safe_indexing(X, queries)
        results = Parallel(n_jobs=self.n_jobs, verbose=self.verbose)(
            delayed(_fit_and_vote)(
                _seed_estimator(clone(base_teacher), seeds[t]),
                _safe_indexing(X, private_idx[teacher_of == t]),
                y_code[teacher_of == t],
                X_query,
                n_classes,
                t,
            )
            for t in range(self.n_teachers)
        )
        if self.keep_teachers:
            self.teachers_ = [est for est, _ in results]
        counts = vote_counts(np.stack([v for _, v in results]), n_classes)
        del results  # the teachers are not kept unless asked for

        requested = min(query_order.size, self.max_queries or query_order.size)
        if n_ask < requested:
            self._warn_budget_cut(n_ask, requested, plan["sigma"])

        labels = aggregate(
            counts,
            aggregator=self.aggregator,
            sigma=plan["sigma"],
            rng=rng,
            threshold=plan["threshold"],
            sigma_threshold=plan["sigma_threshold"],
            mu2_budget=plan.get("mu2_budget", math.inf),
        )
        counts = counts[: labels.size]
        answered = labels >= 0
        self.sigma_ = float(plan["sigma"])
        self.sigma_threshold_ = plan["sigma_threshold"]
        self.threshold_ = plan["threshold"]
        self.query_indices_ = queries[: labels.size]
        self.query_labels_ = labels
        self.n_queries_ = int(labels.size)
        self.n_answered_ = int(answered.sum())
        if self.keep_teachers:
            # Read from the exact votes: declared uncovered.
            self.label_agreement_ = (
                float(np.mean(labels[answered] == plurality(counts[answered])))
                if self.n_answered_
                else float("nan")
            )
        # What actually ran (an early stop of Confident-GNMax spends less),
        # built by the same plan a search uses.
        self.dp_event_ = self._plan_event(plan, self.n_queries_, self.n_answered_)
        self.epsilon_ = epsilon_of(
            self.dp_event_, self.delta, accountant=self._accountant()
        )
        if self.keep_teachers:
            self.epsilon_data_dependent_ = self._epsilon_data_dependent(
                counts, answered
            )
        self._fit_release_kinds = self._fitted_kinds(inferred, moved_public)
        if self.verbose:
            print(
                f"[PATEClassifier] {self.n_queries_} queries, {self.n_answered_} "
                f"answered, sigma={self.sigma_:.4g}, epsilon={self.epsilon_:.4g}"
            )
        if n_ask == requested and self.n_queries_ < requested:
            # Confident-GNMax stopped at the budget (a DP output to report).
            self._warn_budget_cut(self.n_queries_, requested, plan["sigma"])
        if self.n_answered_ == 0:
            raise ValueError(
                f"No query was answered (threshold={self.threshold_}, "
                f"sigma_threshold={self.sigma_threshold_:.4g}): the student has "
                f"nothing to learn from. Lower threshold or raise epsilon."
            )

        # The student sees public rows and noisy labels only.
        student = clone(
            self.student if self.student is not None else _default_estimator()
        )
        student = _seed_estimator(student, spawn_seeds(rng, 1)[0])
        if self.semi_supervised:
            rows = query_order
            y_student = np.full(rows.size, -1, dtype=np.int64)
            y_student[: labels.size] = labels
        else:
            rows = queries[: labels.size][answered]
            y_student = labels[answered]
        if np.unique(labels[answered]).size < 2:
            warnings.warn(
                f"The {self.n_answered_} noisy labels hold a single class, so the "
                f"student is a constant classifier predicting it. Query more "
                f"rows or raise epsilon.",
                UserWarning,
                stacklevel=6,
            )
            student = DummyClassifier(strategy="most_frequent")
            rows, y_student = queries[: labels.size][answered], labels[answered]
        self.student_ = student.fit(_safe_indexing(X, rows), y_student)
        if np.any(np.asarray(getattr(self.student_, "classes_", [])) == -1):
            raise ValueError(
                f"semi_supervised=True: the student "
                f"{type(self.student_).__name__} learned -1 (unlabelled) as a "
                f"class, so its predictions would be wrong. Pass a "
                f"semi-supervised student such as SelfTrainingClassifier, or "
                f"set semi_supervised=False."
            )
        return self

    def _warn_budget_cut(self, n_asked: int, requested: int, sigma: float) -> None:
        """Say that the budget stopped the queries before the number asked for.

        Both numbers follow from the parameters and the public pool size (or,
        for Confident-GNMax, from noisy checks): the warning releases nothing.
        """
        asked_for = (
            f"max_queries={self.max_queries}"
            if self.max_queries is not None and self.max_queries <= requested
            else f"all {requested} public rows"
        )
        warnings.warn(
            f"PATEClassifier asked {n_asked} of the {requested} queries "
            f"requested ({asked_for}): epsilon={self.epsilon} at "
            f"delta={self.delta} pays for no more with sigma={sigma:.4g} "
            f"(aggregator={self.aggregator!r}). Raise epsilon, or leave "
            f"sigma=None to calibrate the noise so that every requested query "
            f"fits the budget.",
            UserWarning,
            stacklevel=7,
        )

    def _data_dependent_rdp(self, counts, answered) -> np.ndarray:
        """Sum over queries of the data-dependent RDP bounds (per order)."""
        if self.aggregator == "lnmax":
            logq = logq_lnmax(counts, self.sigma_)
            return rdp_data_dependent_pure(logq, 2.0 / self.sigma_).sum(axis=0)
        rdp = np.zeros(RDP_ORDERS.size)
        if self.aggregator == "confident_gnmax":
            logpr = logpr_answered(counts, self.threshold_, self.sigma_threshold_)
            with np.errstate(divide="ignore"):
                lognot = np.log(-np.expm1(logpr))
            # q bounds the less likely of the two outcomes (answered or not).
            logq = np.minimum(logpr, lognot)
            rdp += rdp_data_dependent_gaussian(
                logq, math.sqrt(2.0) * self.sigma_threshold_
            ).sum(axis=0)
            counts = counts[answered]
        if counts.shape[0]:
            logq = logq_gnmax(counts, self.sigma_)
            rdp += rdp_data_dependent_gaussian(logq, self.sigma_).sum(axis=0)
        return rdp

    def _epsilon_data_dependent(self, counts, answered) -> float:
        """The data-dependent epsilon at ``delta`` (Papernot et al. 2018)."""
        if self.delta == 0:
            return self.epsilon_
        eps = rdp_to_epsilon(self._data_dependent_rdp(counts, answered), self.delta)
        return float(min(eps, self.epsilon_))

    def _fitted_kinds(self, classes_inferred: bool, moved_public: bool) -> dict:
        """Kinds of the releases that depend on this fit's parameters and data."""
        kinds = {}
        if classes_inferred:
            kinds["classes_"] = (
                "uncovered: the label set read from the private labels "
                "(classes=None); pass classes= to make it public"
            )
        if moved_public:
            kinds["student_"] = (
                "uncovered: trained on the features of labelled rows that "
                "public_fraction moved to the public pool"
            )
        if self.aggregator == "confident_gnmax":
            # How many queries ran and were answered depends on noisy checks.
            kinds.update(n_queries_=DP, n_answered_=DP, epsilon_=DP)
        return kinds

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        # Decided at fit time, so that set_params after fit cannot relabel.
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    def _accountant(self) -> str:
        # Laplace compositions: the Rényi-DP accountant (capped by the pure-DP
        # sum), as the calibration uses; Gaussian ones are exact either way.
        return "rdp" if self.aggregator == "lnmax" else "pld"

    def _plan_event(self, plan: dict, n_queries: int, n_answered: int):
        """The DP event of ``n_queries`` queries (``n_answered`` answered) under ``plan``.

        With a budget, Confident-GNMax stops before it would be exceeded (a
        Gaussian-DP privacy filter), so no run spends more than one Gaussian
        mechanism at ``mu**2 = plan["mu2_budget"]``.
        """
        event = aggregator_event(
            self.aggregator,
            plan["sigma"],
            n_queries,
            n_answered,
            plan["sigma_threshold"],
        )
        if self.aggregator == "confident_gnmax":
            mu2 = aggregator_mu2(
                n_queries, n_answered, plan["sigma"], plan["sigma_threshold"]
            )
            if mu2 > plan["mu2_budget"]:
                return dp_accounting.GaussianDpEvent(
                    1.0 / math.sqrt(plan["mu2_budget"])
                )
        return event

    def _planned_dp_event(self, n_samples):
        """An upper bound on what a fit on ``n_samples`` rows spends.

        Every teacher needs a private row, so at most ``n_samples -
        n_teachers`` rows are public; the plan for that many candidates, all
        asked and answered, bounds a fit on a smaller pool (Gaussian
        aggregators: the same or fewer ``mu**2``; LNMax with ``sigma``: fewer
        queries; calibrated LNMax: ``epsilon`` at ``delta``).
        """
        if n_samples is not None:
            k = max(int(n_samples) - self.n_teachers, 1)
            if self.max_queries is not None:
                k = min(k, self.max_queries)
        elif self.max_queries is not None:
            k = self.max_queries
        else:
            if self.epsilon is None:
                raise ValueError(
                    "PATEClassifier with epsilon=None needs n_samples (or "
                    "max_queries) to plan its cost."
                )
            # Unknown pool size: the budget alone caps the queries. Grow the
            # pool until the plan asks fewer queries than it has.
            k = 1
            while self._plan(k)["n_max"] >= k and k < 2**40:
                k *= 2
        plan = self._plan(int(k))
        return self._plan_event(plan, plan["n_max"], plan["n_max"])

    # ------------------------------------------------------------------
    # Prediction: the student only
    # ------------------------------------------------------------------

    def _expand(self, scores):
        """Student outputs over its classes -> columns over ``classes_``."""
        scores = np.asarray(scores)
        n_classes = self.classes_.size
        if scores.ndim == 2 and scores.shape[1] == n_classes:
            return scores
        student_classes = np.asarray(getattr(self.student_, "classes_", []))
        out = np.zeros((scores.shape[0], n_classes), dtype=np.float64)
        out[:, student_classes.astype(np.int64)] = scores
        return out

    def _validate_predict_X(self, X):
        """Validated ``X``; a DataFrame reaches a student fitted on one as is."""
        keep = _is_frame(X) and hasattr(self, "feature_names_in_")
        checked = validate_data(
            self,
            X,
            accept_sparse=["csr", "csc"],
            reset=False,
            dtype=None if keep else "numeric",
        )
        return X if keep else checked

    def predict(self, X):
        """Class labels predicted by the student.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        y : ndarray of shape (n_samples,)
            Predicted labels, from ``classes_``.
        """
        check_is_fitted(self)
        X = self._validate_predict_X(X)
        codes = np.asarray(self.student_.predict(X)).astype(np.int64).ravel()
        return self.classes_[codes]

    @available_if(_student_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the student.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``; classes the student never saw get 0.
        """
        check_is_fitted(self)
        X = self._validate_predict_X(X)
        return self._expand(self.student_.predict_proba(X))

    @available_if(_student_has("predict_proba"))
    def predict_log_proba(self, X):
        """Log of :meth:`predict_proba`.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities; columns follow ``classes_``.
        """
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on the labelled rows of ``X`` and ``y``.

        Rows with ``y == -1`` (public, unlabelled) have no true label and are
        left out, so that a search's default scoring on folds mixing private
        and public rows measures the accuracy on the labelled rows only.

        Parameters
        ----------
        X : {array-like, sparse matrix} of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels, ``-1`` for unlabelled rows.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Accuracy of :meth:`predict` on the rows with a label.
        """
        from sklearn.metrics import accuracy_score

        y = column_or_1d(np.asarray(y), warn=True)
        check_consistent_length(X, y)
        labelled = np.flatnonzero(~_unlabelled_mask(y))
        if labelled.size == 0:
            raise ValueError("PATEClassifier.score needs labelled rows; every y is -1.")
        weights = None
        if sample_weight is not None:
            weights = np.asarray(sample_weight)[labelled]
        return float(
            accuracy_score(
                y[labelled],
                self.predict(_safe_indexing(X, labelled)),
                sample_weight=weights,
            )
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
