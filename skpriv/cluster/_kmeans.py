"""DPKMeans: differentially private k-means (DP Lloyd with a private start)."""

import math
from numbers import Integral

import dp_accounting as dpa
import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import DiscreteLaplace, Laplace
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, validate_data
from ..utils._validation import clip_to_bounds, resolve_bounds

__all__ = ["DPKMeans"]

#: Share of epsilon spent on the private start (the noisy grid histogram)
#: when the grid is small enough to release; the Lloyd steps share the rest.
INIT_SHARE = 0.5
#: Largest grid (number of cells) released for the private start.
MAX_CELLS = 2**15
#: Default number of Lloyd steps after a grid start (already close: more
#: steps add more noise than they remove bias) and after a data-independent
#: start (Su et al.).
GRID_STEPS = 1
SPHERE_STEPS = 5
#: Su et al.'s rule for the grid: about (n * epsilon / GRID_DIVISOR) ** (2 /
#: (2 + d)) cells per dimension balances noise against quantisation.
GRID_DIVISOR = 10.0


def _grid_size(n_samples, epsilon, n_features):
    """Cells per dimension of the private start's grid, or 0 for no grid."""
    per_dim = int((n_samples * epsilon / GRID_DIVISOR) ** (2.0 / (2.0 + n_features)))
    if per_dim < 2 or per_dim**n_features > MAX_CELLS:
        return 0
    return per_dim


def _sphere_packing(n_clusters, n_features, rng):
    """Data-independent start: centres spread in [-1/2, 1/2]^d (Su et al.).

    Each centre is drawn uniformly at distance at least ``a`` from the
    boundary and ``2a`` from the others; ``a`` shrinks until that succeeds.
    """
    radius = 0.5 / max(n_clusters ** (1.0 / n_features), 1.0)
    while True:
        centres = []
        for _ in range(n_clusters):
            for _ in range(100):
                c = rng.uniform(-0.5 + radius, 0.5 - radius, n_features)
                if all(np.linalg.norm(c - o) >= 2 * radius for o in centres):
                    centres.append(c)
                    break
            else:
                break
        if len(centres) == n_clusters:
            return np.array(centres)
        radius *= 0.9


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    bounds=PARAM_DOCS["bounds"],
    random_state=PARAM_DOCS["random_state"],
)
class DPKMeans(PrivacyMixin, ClusterMixin, TransformerMixin, BaseEstimator):
    """Differentially private k-means (pure epsilon-DP).

    DP Lloyd (Su et al. 2016): a private start from a noisy grid histogram,
    then ``max_iter`` Lloyd steps, each releasing the noisy size and the noisy
    sum of every cluster. The cluster centres are ``epsilon``-DP with respect
    to adding or removing one training row.

    Parameters
    ----------
    n_clusters : int, default=8
        Number of clusters.

    {epsilon}

    {bounds}

    max_iter : int or None, default=None
        Number of noisy Lloyd steps; the budget is split evenly between them,
        so more steps are noisier. ``0`` keeps the private start. ``None``:
        1 after a grid start (which is already close), 5 after a
        data-independent start (Su et al.'s choice).

    compute_labels : bool, default=False
        Store ``labels_`` (each training row's nearest centre) and
        ``inertia_``, as scikit-learn's ``MiniBatchKMeans`` does. They are
        computed from the private rows without noise: ``privacy_spent`` names
        them as not covered. ``fit_predict`` works either way.

    {random_state}

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features)
        Noisy cluster centres, within ``bounds_`` (DP output).
    cluster_sizes_ : ndarray of shape (n_clusters,)
        Noisy number of rows of each cluster at the last step (DP output;
        with ``max_iter=0``, the noisy cell counts around each start centre,
        or zeros after a data-independent start).
    labels_ : ndarray of shape (n_samples,)
        Only with ``compute_labels=True``: each training row's cluster (not
        covered by the guarantee).
    inertia_ : float
        Only with ``compute_labels=True``: the training rows' sum of squared
        distances to their centre (not covered).
    n_iter_ : int
        Number of noisy Lloyd steps run (from ``max_iter``, public).
    init_ : str
        ``"grid"`` (noisy histogram) or ``"sphere"`` (data-independent
        start), chosen from public quantities.
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
    sklearn.cluster.KMeans : The non-private estimator.

    Notes
    -----
    Rows are clipped to the bounds and mapped to ``[-1/2, 1/2]^d``.

    **Start.** When a grid of ``m^d`` cells, ``m = (n eps_0 / 10)^(2/(2+d))``
    (Su et al.'s choice, ``n`` public), has at most ``2**15`` cells, half of
    epsilon (``eps_0``) releases the grid's cell counts with discrete Laplace
    noise (L1 sensitivity 1), and weighted k-means on the cell centres
    (post-processing) gives the start. Otherwise (many features) the start is
    a data-independent sphere packing and the Lloyd steps get all of
    epsilon.

    **Steps.** Each of the ``max_iter`` steps assigns rows to their nearest
    centre and releases the cluster sizes (discrete Laplace, sensitivity 1)
    and the cluster sums (Laplace on a power-of-two grid, L1 sensitivity
    ``d / 2``: a row moves one cluster's sum). Of a step's epsilon the sizes
    get ``1 / (1 + sqrt(d))``, which balances the errors they cause in a
    centre. A centre is its noisy sum over its noisy size; a cluster whose
    noisy size is below 1 keeps its centre. Everything after the releases is
    post-processing; the composed ``dp_event_`` costs exactly ``epsilon``.

    References
    ----------
    .. [1] D. Su, J. Cao, N. Li, E. Bertino, H. Jin, "Differentially private
       k-means clustering", CODASPY 2016.
    .. [2] A. Blum, C. Dwork, F. McSherry, K. Nissim, "Practical privacy: the
       SuLQ framework", PODS 2005.

    Examples
    --------
    >>> from sklearn.datasets import make_blobs
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.cluster import DPKMeans
    >>> X, _ = make_blobs(n_samples=2000, centers=3, random_state=0)
    >>> km = DPKMeans(n_clusters=3, epsilon=1.0, bounds=(-15, 15),
    ...               random_state=0).fit(X)
    >>> km.cluster_centers_.shape
    (3, 2)
    >>> round(privacy_spent(km).epsilon, 6)
    1.0
    """

    _privacy_releases = {
        "cluster_centers_": DP,
        "cluster_sizes_": DP,
        "labels_": (
            "uncovered: each training row's nearest centre, computed from the "
            "row itself (compute_labels=True)"
        ),
        "inertia_": (
            "uncovered: the training rows' exact distances to the centres "
            "(compute_labels=True)"
        ),
        "n_iter_": PUBLIC,
        "init_": PUBLIC,
        "bounds_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "bounds", "random_state"),
        "n_clusters": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 0, None, closed="left"), None],
        "compute_labels": ["boolean"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        epsilon=1.0,
        bounds=None,
        max_iter=None,
        compute_labels=False,
        random_state=None,
    ):
        self.n_clusters = n_clusters
        self.epsilon = epsilon
        self.bounds = bounds
        self.max_iter = max_iter
        self.compute_labels = compute_labels
        self.random_state = random_state

    # ------------------------------------------------------------------
    # Budget: one plan for the fit, its event and a search's planning
    # ------------------------------------------------------------------

    def _plan(self, n_samples, n_features):
        """The start and the epsilon of every release, from public values."""
        eps = float(self.epsilon)
        init_eps = INIT_SHARE * eps if self.max_iter != 0 else eps
        grid = _grid_size(n_samples, init_eps, n_features)
        if not grid:
            init_eps = 0.0
        n_steps = self.max_iter
        if n_steps is None:
            n_steps = GRID_STEPS if grid else SPHERE_STEPS
        if not grid and n_steps == 0:
            raise ValueError(
                "max_iter=0 keeps the private start, but a grid start is not "
                f"possible for {n_features} features and this budget; use "
                "max_iter >= 1."
            )
        step_eps = (eps - init_eps) / n_steps if n_steps else 0.0
        count_share = 1.0 / (1.0 + math.sqrt(n_features))
        return {
            "grid": grid,
            "init_eps": init_eps,
            "count_eps": count_share * step_eps,
            "sum_eps": step_eps - count_share * step_eps,
            "n_steps": n_steps,
        }

    @staticmethod
    def _plan_event(plan):
        events = []
        if plan["init_eps"] > 0:
            events.append(
                dpa.dp_event.DiscreteLaplaceDpEvent(
                    noise_parameter=plan["init_eps"], sensitivity=1
                )
            )
        if plan["n_steps"]:
            step = dpa.ComposedDpEvent(
                [
                    dpa.dp_event.DiscreteLaplaceDpEvent(
                        noise_parameter=plan["count_eps"], sensitivity=1
                    ),
                    dpa.LaplaceDpEvent(noise_multiplier=1.0 / plan["sum_eps"]),
                ]
            )
            events.append(dpa.SelfComposedDpEvent(step, plan["n_steps"]))
        return dpa.ComposedDpEvent(events)

    def _planned_dp_event(self, n_samples):
        n_features = getattr(self, "n_features_in_", None)
        if n_features is not None:
            return self._plan_event(self._plan(n_samples, n_features))
        # The split depends on the number of features, which a search's
        # unfitted candidates do not know. Whatever it is, the fit is
        # epsilon-DP, and binary randomized response at epsilon dominates
        # every epsilon-DP mechanism (Kairouz et al. 2015): an upper bound.
        keep_other = 2.0 / (1.0 + math.exp(float(self.epsilon)))
        return dpa.dp_event.RandomizedResponseDpEvent(
            noise_parameter=keep_other, num_buckets=2
        )

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _fit(self, X, y, rng):
        X = validate_data(self, X, dtype=np.float64)
        n_samples, n_features = X.shape
        if n_samples < self.n_clusters:
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={self.n_clusters}."
            )
        lower, upper = resolve_bounds(self.bounds, X)
        plan = self._plan(n_samples, n_features)
        Z = self._to_unit(clip_to_bounds(X, lower, upper), lower, upper)

        if plan["grid"]:
            centres, sizes = self._grid_start(Z, plan, rng)
            self.init_ = "grid"
        else:
            centres = _sphere_packing(self.n_clusters, n_features, rng)
            sizes = np.zeros(self.n_clusters)
            self.init_ = "sphere"
        if plan["n_steps"]:
            count_mech = DiscreteLaplace.from_epsilon(plan["count_eps"], 1)
            sum_mech = Laplace.from_epsilon(
                plan["sum_eps"], n_features / 2, n_dims=n_features
            )
            for _ in range(plan["n_steps"]):
                labels = self._nearest(Z, centres)
                counts = np.bincount(labels, minlength=self.n_clusters)
                sums = np.zeros((self.n_clusters, n_features))
                np.add.at(sums, labels, Z)
                sizes = count_mech.randomise(counts, rng).astype(np.float64)
                noisy_sums = sum_mech.randomise(sums, rng)
                alive = sizes >= 1
                centres[alive] = np.clip(
                    noisy_sums[alive] / sizes[alive, None], -0.5, 0.5
                )

        self.bounds_ = (lower, upper)
        self.cluster_centers_ = self._from_unit(centres)
        self.cluster_sizes_ = sizes
        self.n_iter_ = plan["n_steps"]
        if self.compute_labels:
            labels, dist = self._nearest(X, self.cluster_centers_, distances=True)
            self.labels_ = labels
            self.inertia_ = float(dist.sum())
        else:
            for attr in ("labels_", "inertia_"):
                self.__dict__.pop(attr, None)
        self.dp_event_ = self._plan_event(plan)
        self._fit_release_kinds = self._fitted_kinds()
        return self

    def _grid_start(self, Z, plan, rng):
        """Start from weighted k-means on a noisy grid histogram."""
        m, n_features = plan["grid"], Z.shape[1]
        cells = np.minimum(np.floor((Z + 0.5) * m), m - 1).astype(np.intp)
        flat = np.ravel_multi_index(cells.T, (m,) * n_features)
        counts = np.bincount(flat, minlength=m**n_features)
        noisy = DiscreteLaplace.from_epsilon(plan["init_eps"], 1).randomise(counts, rng)
        keep = np.flatnonzero(noisy > 0)
        if keep.size < self.n_clusters:  # too little signal: spread out
            return _sphere_packing(self.n_clusters, n_features, rng), noisy[:0]
        idx = np.array(np.unravel_index(keep, (m,) * n_features)).T
        points = (idx + 0.5) / m - 0.5
        weights = noisy[keep].astype(np.float64)
        # A few hundred weighted points: one thread is fastest (and does not
        # oversubscribe a machine running several fits).
        with threadpool_limits(limits=1):
            km = KMeans(
                n_clusters=self.n_clusters,
                n_init=3,
                random_state=int(rng.integers(2**31 - 1)),
            ).fit(points, sample_weight=weights)
        sizes = np.bincount(km.labels_, weights=weights, minlength=self.n_clusters)
        return km.cluster_centers_.copy(), sizes

    def _fitted_kinds(self):
        kinds = {}
        if self.bounds is None:
            kinds["bounds_"] = (
                "uncovered: the per-feature min and max of the training data "
                "(bounds=None)"
            )
            kinds["cluster_centers_"] = kinds["cluster_sizes_"] = (
                "uncovered: rows are clipped to and scaled by bounds_, read "
                "from the training data (bounds=None)"
            )
        return kinds

    def _to_unit(self, X, lower, upper):
        width = upper - lower
        return np.clip((X - (lower + width / 2)) / width, -0.5, 0.5)

    def _from_unit(self, Z):
        lower, upper = self.bounds_
        width = upper - lower
        return lower + width / 2 + Z * width

    @staticmethod
    def _nearest(X, centres, distances=False):
        # ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, the first term is shared.
        d2 = -2.0 * X @ centres.T + np.sum(centres * centres, axis=1)
        labels = np.argmin(d2, axis=1)
        if not distances:
            return labels
        sq = d2[np.arange(X.shape[0]), labels] + np.sum(X * X, axis=1)
        return labels, np.maximum(sq, 0.0)

    # ------------------------------------------------------------------
    # Prediction (post-processing)
    # ------------------------------------------------------------------

    def predict(self, X):
        """Index of the nearest centre of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster indices.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self._nearest(X, self.cluster_centers_)

    def fit_predict(self, X, y=None):
        """Fit, then predict the cluster of each training row.

        The labels of the training rows are a function of the rows
        themselves: they are not covered by the guarantee of the centres.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
            Not used.

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            Cluster indices.
        """
        return self.fit(X).predict(X)

    def transform(self, X):
        """Compute the distance of each sample to every centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        distances : ndarray of shape (n_samples, n_clusters)
            Euclidean distances.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        diff = X[:, None, :] - self.cluster_centers_[None, :, :]
        return np.sqrt(np.sum(diff * diff, axis=2))

    def score(self, X, y=None):
        """Opposite of the sum of squared distances to the nearest centre.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.
        y : Ignored
            Not used.

        Returns
        -------
        score : float
            ``-inertia`` of ``X``, as :meth:`sklearn.cluster.KMeans.score`.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        _, dist = self._nearest(X, self.cluster_centers_, distances=True)
        return -float(dist.sum())
