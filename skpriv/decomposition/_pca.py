"""DPPCA: principal component analysis from a Gaussian-noised covariance."""

import math
from numbers import Integral, Real

import dp_accounting
import numpy as np
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
)
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import Gaussian, grid_granularity
from ..stats._noise import composed, gaussian_mu
from ..stats._quantile import bounds_tail, em_event, grid_quantiles, log_grid
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import (
    check_data_norm,
    clip_rows_l2,
    resolve_data_norm,
    validate_quietly,
)

__all__ = ["DPPCA"]

#: Share of epsilon ``data_norm="private"`` spends on the norm bound.
NORM_SHARE = 0.1
#: Quantile of the row norms that ``data_norm="private"`` estimates (lower
#: for few rows or a small budget: see :func:`skpriv.stats._quantile.bounds_tail`).
NORM_QUANTILE = 0.95
#: Share (of Gaussian DP's ``mu**2``) of the mean with ``centering="private"``.
MEAN_SHARE = 0.2


def _gaussian(multiplier, sensitivity, n_dims):
    """Grid-safe Gaussian with this noise multiplier, rounding included."""
    granularity = grid_granularity(multiplier * sensitivity)
    sigma = multiplier * (sensitivity + math.sqrt(n_dims) * granularity)
    return Gaussian(sigma, granularity=granularity)


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    data_norm=PARAM_DOCS["data_norm"].replace(
        "a stated share of epsilon",
        "10% of epsilon (the 95th percentile of the row norms)",
    ),
    random_state=PARAM_DOCS["random_state"],
)
class DPPCA(
    PrivacyMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator
):
    """Differentially private PCA by a noisy covariance (Analyze Gauss).

    Rows are clipped to L2 norm ``data_norm``. The second-moment matrix
    ``sum x x^T`` (upper triangle, sensitivity ``data_norm**2`` when a row is
    added or removed) and, with ``centering="private"``, the sum of the rows
    (sensitivity ``data_norm``) get Gaussian noise on a power-of-two grid
    (floating-point safe); the covariance ``M / n - mean mean^T`` and its
    eigenvectors follow by post-processing (Dwork, Talwar, Thakurta & Zhang
    2014). ``transform`` and ``inverse_transform`` spend nothing.

    Parameters
    ----------
    n_components : int or None, default=None
        Number of components kept; ``None`` keeps ``n_features``.
    {epsilon}
    delta : float, default=1e-5
        Probability with which the epsilon guarantee may fail, in (0, 1):
        the noise is Gaussian. Choose it well below ``1 / n_samples``.
    {data_norm}
    centering : {"private", "none"}, default="private"
        ``"private"`` spends 20% of the Gaussian budget (of ``mu**2`` in
        Gaussian-DP terms) on a DP mean and centres with it; ``"none"``
        analyses the uncentred second moment (for data centred by a public
        step) and sets ``mean_`` to zero.
    {random_state}

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features)
        Principal axes (unit rows), by decreasing noisy variance; the sign
        makes each row's largest entry positive.
    explained_variance_ : ndarray of shape (n_components_,)
        Noisy variance along each axis (eigenvalues of the noisy covariance,
        clamped at 0).
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        Share of the noisy total variance.
    mean_ : ndarray of shape (n_features,)
        DP mean (``centering="private"``) or zeros.
    n_components_ : int
        Number of components.
    n_samples_ : int
        Number of rows (public).
    data_norm_ : float
        The row-norm bound used: ``data_norm``, a DP estimate (``"private"``)
        or the data's largest norm (``None``).
    epsilon_split_ : dict
        ``{"data_norm": ..., "gaussian": ...}``: the pure epsilon of the norm
        estimate and the epsilon at ``delta`` of the Gaussian releases; they
        compose (``privacy_spent`` reports the tight total).
    dp_event_ : dp_accounting.DpEvent
        The releases of the fit.
    dp_n_samples_ : int
        Number of rows seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : The non-private PCA.
    skpriv.preprocessing.DPStandardScaler : Standardize features privately first.

    Notes
    -----
    The noise of the covariance has standard deviation about
    ``data_norm**2 / (mu n)`` per entry (``mu`` the Gaussian-DP parameter of
    the covariance's share), so the components are accurate when the
    leading eigenvalues stand above ``sqrt(n_features)`` times that.
    Neighbouring data sets differ by one added or removed row; the number of
    rows is public (see the privacy model).

    References
    ----------
    .. [1] C. Dwork, K. Talwar, A. Thakurta, L. Zhang, "Analyze Gauss:
       optimal bounds for privacy-preserving principal component analysis",
       STOC 2014.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.decomposition import DPPCA
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(5000, 3)) * [3.0, 1.0, 0.1]
    >>> pca = DPPCA(n_components=1, epsilon=1.0, data_norm=10.0, random_state=0)
    >>> pca.fit_transform(X).shape
    (5000, 1)
    >>> np.abs(pca.components_).round(1)
    array([[1., 0., 0.]])
    """

    _privacy_releases = {
        "components_": DP,
        "explained_variance_": DP,
        "explained_variance_ratio_": DP,
        "mean_": DP,
        "n_components_": PUBLIC,
        "n_samples_": PUBLIC,
        "data_norm_": PUBLIC,
        "epsilon_split_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "data_norm", "random_state"),
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "centering": [StrOptions({"private", "none"})],
    }

    def __init__(
        self,
        n_components=None,
        epsilon=1.0,
        delta=1e-5,
        data_norm=None,
        centering="private",
        random_state=None,
    ):
        self.n_components = n_components
        self.epsilon = epsilon
        self.delta = delta
        self.data_norm = data_norm
        self.centering = centering
        self.random_state = random_state

    # ------------------------------------------------------------------
    # Budget: one plan
    # ------------------------------------------------------------------

    def _plan(self):
        """Noise multipliers of every release and the event of the fit.

        Returns ``(norm_eps, mean_mult, cov_mult, event)``: the pure epsilon
        of the private norm (0 without), the Gaussian noise multipliers of
        the mean (None without centering) and of the covariance. None of it
        depends on the data or its width.
        """
        private_norm = isinstance(self.data_norm, str)
        norm_eps = NORM_SHARE * self.epsilon if private_norm else 0.0
        mu = gaussian_mu(self.epsilon - norm_eps, self.delta)
        if self.centering == "private":
            mean_mult = 1.0 / (mu * math.sqrt(MEAN_SHARE))
            cov_mult = 1.0 / (mu * math.sqrt(1.0 - MEAN_SHARE))
        else:
            mean_mult, cov_mult = None, 1.0 / mu
        events = [em_event(norm_eps) if private_norm else None]
        if mean_mult is not None:
            events.append(dp_accounting.GaussianDpEvent(mean_mult))
        events.append(dp_accounting.GaussianDpEvent(cov_mult))
        return norm_eps, mean_mult, cov_mult, composed(events)

    def _planned_dp_event(self, n_samples):
        return self._plan()[3]

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _fit(self, X, y, rng):
        X = validate_quietly(self, X, reset=True, dtype=[np.float64, np.float32])
        n, d = X.shape
        k = d if self.n_components is None else int(self.n_components)
        if k > d:
            raise ValueError(
                f"n_components={k} must be at most n_features={d}; pass "
                f"n_components <= {d} or None."
            )
        if isinstance(self.data_norm, Real):
            check_data_norm(self.data_norm)
        norm_eps, mean_mult, cov_mult, event = self._plan()
        X = X.astype(np.float64)
        if self.data_norm == "private":
            grid = log_grid()
            grid = grid[grid > 0]
            norms = np.sort(np.linalg.norm(X, axis=1))
            # The tail the mechanism can locate on this grid (public: n, budget).
            tail = max(1.0 - NORM_QUANTILE, bounds_tail(n, 1, norm_eps, grid.size))
            norm = float(grid_quantiles(norms, [1.0 - tail], grid, norm_eps, 1, rng)[0])
        else:
            norm = resolve_data_norm(self.data_norm, X)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            Z = clip_rows_l2(X, norm)
        if mean_mult is not None:
            mech = _gaussian(mean_mult, norm, d)
            mean = mech.randomise(Z.sum(axis=0), rng) / n
            # Post-processing: a mean of rows of norm <= data_norm lies in that ball.
            length = np.linalg.norm(mean)
            if length > norm:
                mean *= norm / length
        else:
            mean = np.zeros(d)
        iu = np.triu_indices(d)
        mech = _gaussian(cov_mult, norm**2, iu[0].size)
        upper = mech.randomise((Z.T @ Z)[iu], rng)
        second = np.zeros((d, d))
        second[iu] = upper
        second = second + np.triu(second, 1).T
        cov = second / n - np.outer(mean, mean)
        evals, evecs = np.linalg.eigh(cov)
        order = np.argsort(evals)[::-1]
        evals, evecs = evals[order], evecs[:, order]
        components = evecs[:, :k].T
        # Deterministic signs (as scikit-learn's svd_flip): largest entry > 0.
        signs = np.sign(components[np.arange(k), np.argmax(np.abs(components), axis=1)])
        components *= np.where(signs == 0, 1.0, signs)[:, None]
        variances = np.maximum(evals, 0.0)
        total = variances.sum()
        self.components_ = components
        self.explained_variance_ = variances[:k]
        self.explained_variance_ratio_ = (
            variances[:k] / total if total > 0 else np.full(k, 1.0 / d)
        )
        self.mean_ = mean
        self.n_components_ = k
        self.n_samples_ = n
        self.data_norm_ = norm
        # The Gaussian releases are calibrated to exactly this epsilon at delta.
        self.epsilon_split_ = {
            "data_norm": norm_eps,
            "gaussian": self.epsilon - norm_eps,
        }
        self.dp_event_ = event
        self._fit_release_kinds = self._fitted_kinds()
        return self

    def _fitted_kinds(self):
        if self.data_norm is None:
            why = (
                "uncovered: its noise is calibrated to data_norm_, read from the "
                "training data (data_norm=None)"
            )
            kinds = {
                attr: why
                for attr in (
                    "components_",
                    "explained_variance_",
                    "explained_variance_ratio_",
                    "mean_",
                )
            }
            kinds["data_norm_"] = (
                "uncovered: the largest row norm of the training data (data_norm=None)"
            )
            return kinds
        if self.data_norm == "private":
            return {"data_norm_": DP}
        return {}

    @property
    def _n_features_out(self):
        return self.n_components_

    def transform(self, X):
        """Project ``X`` on the DP components (no privacy cost).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to project.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            The projections on ``components_``.
        """
        check_is_fitted(self, "components_")
        X = validate_quietly(self, X, reset=False, dtype=[np.float64, np.float32])
        return (X - self.mean_.astype(X.dtype)) @ self.components_.T.astype(X.dtype)

    def inverse_transform(self, X):
        """Map projected data back to the input space.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components_)
            Projected data.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The reconstruction in the input space.
        """
        check_is_fitted(self, "components_")
        X = np.asarray(X)
        dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.float64
        X = X.astype(dtype)
        return X @ self.components_.astype(dtype) + self.mean_.astype(dtype)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
