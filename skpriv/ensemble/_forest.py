"""DPRandomForestClassifier: random trees with noisy leaf counts."""

import math
from numbers import Integral

import dp_accounting as dpa
import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import DiscreteLaplace
from ..utils._classes import encode_classes
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, validate_data
from ..utils._validation import clip_to_bounds, resolve_bounds

__all__ = ["DPRandomForestClassifier"]

#: max_depth=None: log2(rows per tree) + AUTO_DEPTH_FEATURES * log2(d) - 1,
#: at most MAX_AUTO_DEPTH (benchmarks/models.py; deeper trees on more
#: features, whose random thresholds more often cut where no data lies).
AUTO_DEPTH_FEATURES = 1.5
MAX_AUTO_DEPTH = 16


def _random_trees(lower, upper, n_trees, depth, rng):
    """Features and thresholds of ``n_trees`` complete trees (heap layout).

    Node ``i`` has children ``2i + 1`` and ``2i + 2``; each internal node
    splits a random feature at a threshold drawn uniformly inside the node's
    box (the bounds cut by its ancestors' splits), so the trees depend on the
    public bounds and the randomness only, never on the data.
    """
    n_inner = 2**depth - 1
    features = rng.integers(lower.size, size=(n_trees, n_inner))
    thresholds = np.empty((n_trees, n_inner))
    uniform = rng.random((n_trees, n_inner))
    for level in range(depth):
        nodes = np.arange(2**level - 1, 2 ** (level + 1) - 1)
        feat = features[:, nodes]
        lo, hi = lower[feat], upper[feat]
        # The node's box on its feature: cut by every ancestor split on it.
        child = np.broadcast_to(nodes, feat.shape)
        for _ in range(level):
            parent = (child - 1) // 2
            same = np.take_along_axis(features, parent, axis=1) == feat
            cut = np.take_along_axis(thresholds, parent, axis=1)
            right = child == 2 * parent + 2
            lo = np.where(same & right, np.maximum(lo, cut), lo)
            hi = np.where(same & ~right, np.minimum(hi, cut), hi)
            child = parent
        thresholds[:, nodes] = lo + uniform[:, nodes] * (hi - lo)
    return features, thresholds


def _leaf_index(features, thresholds, tree, X, depth):
    """Leaf (0 .. 2**depth - 1) that each row of ``X`` reaches in ``tree``."""
    node = np.zeros(X.shape[0], dtype=np.intp)
    rows = np.arange(X.shape[0])
    for _ in range(depth):
        go_right = X[rows, features[tree, node]] > thresholds[tree, node]
        node = 2 * node + 1 + go_right
    return node - (2**depth - 1)


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    bounds=PARAM_DOCS["bounds"],
    random_state=PARAM_DOCS["random_state"],
)
class DPRandomForestClassifier(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """Differentially private random forest of random trees (pure epsilon-DP).

    Each tree's structure (split features and thresholds) is drawn at random
    from the public bounds alone; the training rows only fill the leaves, as
    noisy class counts. Every row falls in one tree (rows are dealt to trees
    at random), so by parallel composition each tree spends the whole
    ``epsilon`` and the forest spends it once (Fletcher and Islam 2017).

    Parameters
    ----------
    n_estimators : int, default=10
        Number of trees. More trees see fewer rows each.

    {epsilon}

    {bounds}

    classes : array-like of shape (n_classes,), default=None
        The public list of labels (at least 2). ``None`` reads them from
        ``y`` and raises a :class:`~skpriv.exceptions.PrivacyLeakWarning`
        (``classes_`` is then not covered by the guarantee).

    max_depth : int or None, default=None
        Depth of every tree (complete trees: ``2**max_depth`` leaves each;
        memory grows as ``n_estimators * 2**max_depth * n_classes``).
        ``None`` takes ``log2(n / n_estimators) + 1.5 log2(n_features) - 1``
        rounded, between 1 and 16, from public quantities: random thresholds
        cut many boxes where no data lies, the more so the more features, so
        deep trees pay off even with few rows per tree.

    {random_state}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (public when ``classes`` is given).
    features_ : ndarray of shape (n_estimators, 2**max_depth - 1)
        Split feature of each internal node (heap layout: node ``i`` has
        children ``2i + 1`` and ``2i + 2``). Drawn from the randomness only.
    thresholds_ : ndarray of shape (n_estimators, 2**max_depth - 1)
        Split threshold of each internal node, drawn inside the bounds.
    leaf_counts_ : ndarray of shape (n_estimators, 2**max_depth, n_classes)
        Noisy number of training rows of each class in each leaf (DP output).
    bounds_ : tuple of ndarray of shape (n_features,)
        The ``(lower, upper)`` bounds used (public when ``bounds`` is given).
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    dp_event_ : dp_accounting.DpEvent
        What the fit spent, read by :func:`skpriv.accounting.privacy_spent`.
    dp_n_samples_ : int
        Number of training rows (treated as public).

    See Also
    --------
    sklearn.ensemble.RandomForestClassifier : The non-private estimator.
    skpriv.naive_bayes.DPGaussianNB : Another pure-DP classifier.

    Notes
    -----
    Each row is clipped to the bounds and dealt to one tree, independently
    and uniformly at random, so that adding or removing a row changes one
    leaf count of one tree by one. The leaf counts get discrete Laplace noise
    of scale ``1 / epsilon`` (integers: no floating-point artefact); the
    trees see disjoint rows, so the forest is ``epsilon``-DP. Prediction
    averages the trees' leaf class frequencies (negative noisy counts count
    as zero; an empty leaf votes uniformly): post-processing.

    References
    ----------
    .. [1] S. Fletcher, M. Z. Islam, "Differentially private random decision
       forests using smooth sensitivity", Expert Systems with Applications 78,
       2017.
    .. [2] S. Fletcher, M. Z. Islam, "Decision tree classification with
       differential privacy: a survey", ACM Computing Surveys 52(4), 2019.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.ensemble import DPRandomForestClassifier
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> bounds = (X.min(0).round() - 1, X.max(0).round() + 1)  # public knowledge
    >>> clf = DPRandomForestClassifier(epsilon=1.0, bounds=bounds, classes=[0, 1],
    ...                                random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.8
    True
    >>> privacy_spent(clf).epsilon
    1.0
    """

    _privacy_releases = {
        "classes_": PUBLIC,
        # Drawn from the randomness and the public bounds only.
        "features_": DP,
        "thresholds_": DP,
        "leaf_counts_": DP,
        "bounds_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "bounds", "random_state"),
        "n_estimators": [Interval(Integral, 1, None, closed="left")],
        "classes": ["array-like", None],
        "max_depth": [Interval(Integral, 1, 24, closed="both"), None],
    }

    def __init__(
        self,
        n_estimators=10,
        *,
        epsilon=1.0,
        bounds=None,
        classes=None,
        max_depth=None,
        random_state=None,
    ):
        self.n_estimators = n_estimators
        self.epsilon = epsilon
        self.bounds = bounds
        self.classes = classes
        self.max_depth = max_depth
        self.random_state = random_state

    def _plan(self):
        """Noise of the leaf counts: each tree sees disjoint rows, so each
        gets the whole epsilon (parallel composition)."""
        return {"leaf_eps": float(self.epsilon)}

    @staticmethod
    def _plan_event(plan):
        return dpa.dp_event.DiscreteLaplaceDpEvent(
            noise_parameter=plan["leaf_eps"], sensitivity=1
        )

    def _planned_dp_event(self, n_samples):
        return self._plan_event(self._plan())

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    def _fit(self, X, y, rng):
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        classes, codes, inferred = encode_classes(
            y, self.classes, owner="DPRandomForestClassifier", stacklevel=5
        )
        lower, upper = resolve_bounds(self.bounds, X)
        plan = self._plan()
        n_trees, n_classes = self.n_estimators, classes.size
        depth = self._depth(*X.shape)
        X = clip_to_bounds(X, lower, upper)

        features, thresholds = _random_trees(lower, upper, n_trees, depth, rng)
        # Independent uniform deal: a row's tree never depends on the others.
        tree_of_row = rng.integers(n_trees, size=X.shape[0])
        counts = np.zeros((n_trees, 2**depth, n_classes), dtype=np.int64)
        for tree in range(n_trees):
            rows = np.flatnonzero(tree_of_row == tree)
            leaves = _leaf_index(features, thresholds, tree, X[rows], depth)
            np.add.at(counts[tree], (leaves, codes[rows]), 1)
        noisy = DiscreteLaplace.from_epsilon(plan["leaf_eps"], 1).randomise(counts, rng)

        self.classes_ = classes
        self.features_ = features
        self.thresholds_ = thresholds
        self.leaf_counts_ = noisy
        self.bounds_ = (lower, upper)
        self.dp_event_ = self._plan_event(plan)
        self._fit_release_kinds = self._fitted_kinds(inferred)
        return self

    def _depth(self, n_samples, n_features):
        if self.max_depth is not None:
            return int(self.max_depth)
        rows_per_tree = max(n_samples / self.n_estimators, 1.0)
        depth = (
            math.log2(rows_per_tree) + AUTO_DEPTH_FEATURES * math.log2(n_features) - 1
        )
        return int(min(max(round(depth), 1), MAX_AUTO_DEPTH))

    def _fitted_kinds(self, classes_inferred):
        kinds = {}
        if classes_inferred:
            kinds["classes_"] = (
                "uncovered: the label set read from the training labels "
                "(classes=None); pass classes= to make it public"
            )
        if self.bounds is None:
            kinds["bounds_"] = (
                "uncovered: the per-feature min and max of the training data "
                "(bounds=None)"
            )
            kinds["thresholds_"] = (
                "uncovered: drawn inside bounds_, read from the training data "
                "(bounds=None)"
            )
            kinds["leaf_counts_"] = (
                "uncovered: rows are clipped to bounds_, read from the training "
                "data (bounds=None)"
            )
        return kinds

    def predict_proba(self, X):
        """Class probabilities: the trees' leaf frequencies, averaged.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        X = clip_to_bounds(X, *self.bounds_)
        depth = int(np.log2(self.features_.shape[1] + 1))
        n_classes = self.classes_.size
        proba = np.zeros((X.shape[0], n_classes))
        for tree in range(self.features_.shape[0]):
            leaves = _leaf_index(self.features_, self.thresholds_, tree, X, depth)
            counts = np.maximum(self.leaf_counts_[tree, leaves], 0).astype(np.float64)
            total = counts.sum(axis=1, keepdims=True)
            proba += np.where(total > 0, counts / np.maximum(total, 1), 1 / n_classes)
        return proba / self.features_.shape[0]

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class with the highest averaged probability.
        """
        scores = self.predict_proba(X)  # checks fitted first
        return self.classes_[np.argmax(scores, axis=1)]
