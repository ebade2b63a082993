"""DPStandardScaler and DPMinMaxScaler: scalers whose fitted state is DP."""

from numbers import Real

import dp_accounting
import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..stats._functions import BOUNDS_SHARE, _centred_sums, _moments
from ..stats._noise import composed, noise_sd
from ..stats._quantile import em_event, grid_quantiles, private_bounds, uniform_grid
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import StrOptions
from ..utils._validation import check_bounds, validate_quietly

__all__ = ["DPMinMaxScaler", "DPStandardScaler"]

#: Uniform grid of the quantiles behind ``data_min_`` / ``data_max_``.
MINMAX_GRID = 2**12

_BOUNDS_DOC = """bounds : tuple of (lower, upper), "private" or None, default=None
        Public bounds of every feature: scalars or arrays of length
        ``n_features``; values are clipped to them while fitting, and the
        noise is calibrated to their widths. ``"private"`` spends 20% of
        ``epsilon`` on private bounds (low and high quantiles of each feature
        by the exponential mechanism on a public log-spaced grid: the 1st and
        99th percentiles when rows and budget allow, up to the quartiles for
        few rows or a small budget; ``epsilon_split_`` says how the budget was
        split). ``None`` takes
        them from the training data and raises
        :class:`~skpriv.exceptions.PrivacyLeakWarning`: the fitted state is
        then not covered by the guarantee."""

_UNKNOWN_BOUNDS = "uncovered: computed from bounds read from the data (bounds=None)"


class _DPScaler(PrivacyMixin, OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Bounds, release kinds and validation shared by the DP scalers."""

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    def _fitted_kinds(self):
        if self.bounds is None:
            return {attr: _UNKNOWN_BOUNDS for attr in self._STATE}
        if isinstance(self.bounds, str):
            return {"bounds_": DP}
        return {}

    def _validate_X(self, X, reset):
        return validate_quietly(self, X, reset=reset, dtype=[np.float64, np.float32])

    def _check_bounds_param(self, n_features):
        """``(lower, upper)``, ``"private"`` or the data's (``None``: warned)."""
        if isinstance(self.bounds, str):
            return "private"
        if self.bounds is None:
            return None
        return check_bounds(self.bounds, n_features)

    def _n_features_known(self):
        if hasattr(self, "n_features_in_"):
            return int(self.n_features_in_)
        if isinstance(self.bounds, (tuple, list)) and len(self.bounds) == 2:
            for b in self.bounds:
                arr = np.asarray(b, dtype=object)
                if arr.ndim == 1:
                    return int(arr.shape[0])
        return None

    def _private_bounds_event(self, d):
        if not isinstance(self.bounds, str):
            return None
        if d is None:
            return em_event(BOUNDS_SHARE * self.epsilon)
        each = BOUNDS_SHARE * self.epsilon / (2 * d)
        return dp_accounting.SelfComposedDpEvent(em_event(each), 2 * d)

    def _resolve_bounds(self, X, rng):
        """``(lower, upper)`` of the fit and the epsilon left for the state."""
        from ..utils._validation import resolve_bounds

        n, d = X.shape
        spec = self._check_bounds_param(d)
        if spec == "private":
            columns = [np.sort(X[:, j]) for j in range(d)]
            eps_b = BOUNDS_SHARE * self.epsilon
            lower, upper, _ = private_bounds(columns, eps_b, 1, rng)
            return lower, upper, self.epsilon - eps_b
        if spec is None:
            lower, upper = resolve_bounds(None, X)
            return lower, upper, self.epsilon
        return spec[0], spec[1], self.epsilon

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    bounds=_BOUNDS_DOC,
    random_state=PARAM_DOCS["random_state"],
)
class DPStandardScaler(_DPScaler):
    """Standardize features with differentially private means and variances.

    ``StandardScaler`` whose ``mean_``, ``var_`` and ``scale_`` are
    differentially private: each feature is clipped to its bounds and
    centred on their middle ``c``; the sums of ``x - c`` and of ``(x - c)**2
    - w**2 / 8`` (``w`` the width) get noise calibrated to the sensitivities
    ``w / 2`` and ``w**2 / 8`` (half of the budget each), and the mean and
    variance follow by post-processing. ``delta=0`` uses Laplace noise (the
    budget split equally over features); ``delta > 0`` uses Gaussian noise on
    all features at once, which grows like ``sqrt(n_features)`` instead of
    ``n_features``. The noise is floating-point safe (a power-of-two grid, see
    :mod:`skpriv.mechanisms`). ``transform`` is post-processing: it spends
    nothing.

    Parameters
    ----------
    {epsilon}
    delta : float, default=0.0
        ``0`` for pure DP (Laplace); a value in (0, 1) for Gaussian noise
        calibrated to ``(epsilon, delta)``. Choose it well below
        ``1 / n_samples``.
    {bounds}
    with_mean : bool, default=True
        Centre the data before scaling.
    with_std : bool, default=True
        Scale the data to unit variance.
    {random_state}

    Attributes
    ----------
    mean_ : ndarray of shape (n_features,) or None
        DP mean of each feature (clipped to the bounds); ``None`` when
        neither ``with_mean`` nor ``with_std``.
    var_ : ndarray of shape (n_features,) or None
        DP variance, clamped into ``[0, (upper - lower)**2 / 4]``; ``None``
        when ``with_std=False``.
    scale_ : ndarray of shape (n_features,) or None
        ``sqrt(var_)``, floored at the noise level of the variance (a
        variance below its own noise cannot be told from zero); ``None``
        when ``with_std=False``.
    bounds_ : tuple of ndarray of shape (n_features,)
        ``(lower, upper)`` the fit clipped to.
    epsilon_split_ : dict
        How ``epsilon`` was spent: ``{"bounds": ..., "moments": ...}``
        (the bounds get 20% with ``bounds="private"``, else 0). With
        ``delta > 0`` the bounds' exponential mechanism (pure DP) and the
        Gaussian moments compose; ``privacy_spent`` reports the tight total.
    n_samples_seen_ : int
        Number of rows (public).
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
    sklearn.preprocessing.StandardScaler : The non-private scaler.
    DPMinMaxScaler : Scale to a range with DP quantiles.
    skpriv.stats.mean, skpriv.stats.var : The same statistics as functions.

    Notes
    -----
    Neighbouring data sets differ by one added or removed row; the number of
    rows is public (see the privacy model). Noise per feature ``j`` with
    ``d`` features, ``w_j`` the width and ``g_j`` the grid step: the mean's
    Laplace scale is ``2 d (w_j / 2 + g_j) / (epsilon_m n)``, with
    ``epsilon_m`` half the moments' epsilon when ``with_std``.

    References
    ----------
    .. [1] C. Dwork, F. McSherry, K. Nissim, A. Smith, "Calibrating noise to
       sensitivity in private data analysis", TCC 2006.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import DPStandardScaler
    >>> X = np.random.default_rng(0).normal(5, 2, size=(10_000, 2))
    >>> scaler = DPStandardScaler(epsilon=1.0, bounds=(-5, 15), random_state=0)
    >>> Xt = scaler.fit_transform(X)
    >>> scaler.mean_.round(1), scaler.scale_.round(1)
    (array([5., 5.]), array([2., 2.]))
    """

    _STATE = ("mean_", "var_", "scale_", "bounds_")

    _privacy_releases = {
        "mean_": DP,
        "var_": DP,
        "scale_": DP,
        "bounds_": PUBLIC,
        "epsilon_split_": PUBLIC,
        "n_samples_seen_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "delta", "random_state"),
        "bounds": [tuple, list, StrOptions({"private"}), None],
        "with_mean": ["boolean"],
        "with_std": ["boolean"],
    }

    def __init__(
        self,
        epsilon=1.0,
        delta=0.0,
        bounds=None,
        with_mean=True,
        with_std=True,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.bounds = bounds
        self.with_mean = with_mean
        self.with_std = with_std
        self.random_state = random_state

    def _shares(self):
        if self.with_std:
            return (1.0, 1.0)
        return (1.0,) if self.with_mean else ()

    def _plan(self, n_features, lower=None, upper=None, epsilon=None):
        """The noise of the moments and the event of the whole fit.

        The one plan of this estimator: ``fit`` draws the moments' noise from
        the returned releases and records the returned event; search planning
        (:meth:`_planned_dp_event`) records the same event. The event depends
        on the budget split and the number of features only (the noise per
        unit of width), so unknown bounds plan with unit widths.
        """
        if epsilon is not None:
            moments_eps = epsilon
        elif isinstance(self.bounds, str):
            moments_eps = self.epsilon * (1.0 - BOUNDS_SHARE)
        else:
            moments_eps = self.epsilon
        shares = self._shares()
        releases = []
        if shares and n_features is not None:
            if lower is None:
                lower, upper = -np.ones(n_features), np.ones(n_features)
            arr = np.empty((0, n_features, 1))
            releases = _centred_sums(arr, lower, upper, shares, moments_eps, self.delta)
        if n_features is None and shares:
            # Unknown width (an unfitted search candidate with scalar bounds):
            # Gaussian releases do not depend on it; Laplace ones are
            # dominated by randomized response at their epsilon.
            from ..stats._noise import split_budget

            parts = split_budget(moments_eps, self.delta, shares)
            events = [
                em_event(p.value)
                if p.kind == "laplace"
                else dp_accounting.GaussianDpEvent(1.0 / p.value)
                for p in parts
            ]
        else:
            events = [r.event for r in releases]
        event = composed([self._private_bounds_event(n_features)] + events)
        return releases, event

    def _planned_dp_event(self, n_samples):
        return self._plan(self._n_features_known())[1]

    def _fit(self, X, y, rng):
        X = self._validate_X(X, reset=True)
        n, d = X.shape
        # Validate everything before drawing anything.
        self._check_bounds_param(d)
        _, event = self._plan(d)
        lower, upper, moments_eps = self._resolve_bounds(X, rng)
        with np.errstate(over="ignore"):
            width = upper - lower
        if not np.all(np.isfinite(width)):
            raise ValueError(
                "bounds: upper - lower overflows float64; rescale the data or "
                "pass narrower bounds."
            )
        releases, _ = self._plan(d, lower, upper, epsilon=moments_eps)
        self.bounds_ = (lower, upper)
        self.epsilon_split_ = {
            "bounds": self.epsilon - moments_eps,
            "moments": moments_eps,
        }
        self.n_samples_seen_ = n
        self.mean_ = self.var_ = self.scale_ = None
        if releases:
            mean, var = _moments(
                X.astype(np.float64).reshape(n, d, 1), lower, upper, releases, rng
            )
            self.mean_ = mean
            if self.with_std:
                self.var_ = var
                floor = (noise_sd(releases[1]) / n) if n else np.ones(d)
                floor = np.maximum(floor, np.finfo(np.float64).tiny)
                self.scale_ = np.sqrt(np.maximum(var, floor))
        self.dp_event_ = event
        self._fit_release_kinds = self._fitted_kinds()
        return self

    def transform(self, X, copy=None):
        """Centre and scale ``X`` with the DP statistics (no privacy cost).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to scale.
        copy : bool, default=None
            Ignored (a new array is always returned); kept for scikit-learn
            compatibility.

        Returns
        -------
        X_tr : ndarray of shape (n_samples, n_features)
            The centred and scaled data, of the input's float dtype.
        """
        check_is_fitted(self, "bounds_")
        X = self._validate_X(X, reset=False)
        out = np.array(X, dtype=X.dtype, copy=True)
        if self.with_mean and self.mean_ is not None:
            out -= self.mean_.astype(X.dtype)
        if self.with_std and self.scale_ is not None:
            out /= self.scale_.astype(X.dtype)
        return out

    def inverse_transform(self, X, copy=None):
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Scaled data.
        copy : bool, default=None
            Ignored; kept for scikit-learn compatibility.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The data in the original units.
        """
        check_is_fitted(self, "bounds_")
        X = self._validate_X(X, reset=False)
        out = np.array(X, dtype=X.dtype, copy=True)
        if self.with_std and self.scale_ is not None:
            out *= self.scale_.astype(X.dtype)
        if self.with_mean and self.mean_ is not None:
            out += self.mean_.astype(X.dtype)
        return out


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    bounds=_BOUNDS_DOC,
    random_state=PARAM_DOCS["random_state"],
)
class DPMinMaxScaler(_DPScaler):
    """Scale features to a range with differentially private minima and maxima.

    ``MinMaxScaler`` whose ``data_min_`` and ``data_max_`` are DP estimates of
    low and high quantiles of each feature (by default the 1st and 99th
    percentiles: the exact minimum and maximum are single rows, which no DP
    estimate can follow), drawn by the exponential mechanism on a public grid
    of the bounds (see :func:`skpriv.stats.quantile`); ``epsilon`` is split
    equally over the ``2 * n_features`` quantiles. ``transform`` is
    post-processing: it spends nothing.

    Parameters
    ----------
    {epsilon}
    {bounds}
    feature_range : tuple (min, max), default=(0, 1)
        Desired range of the transformed data.
    quantile_range : tuple (q_min, q_max), default=(1.0, 99.0)
        Percentiles estimated as ``data_min_`` and ``data_max_``, in [0, 100].
    clip : bool, default=False
        Clip transformed values to ``feature_range`` (post-processing).
    {random_state}

    Attributes
    ----------
    data_min_ : ndarray of shape (n_features,)
        DP estimate of the ``q_min`` percentile of each feature.
    data_max_ : ndarray of shape (n_features,)
        DP estimate of the ``q_max`` percentile (above ``data_min_``).
    data_range_ : ndarray of shape (n_features,)
        ``data_max_ - data_min_``.
    scale_ : ndarray of shape (n_features,)
        Per-feature scaling of the data.
    min_ : ndarray of shape (n_features,)
        Per-feature adjustment for the minimum.
    bounds_ : tuple of ndarray of shape (n_features,)
        ``(lower, upper)`` of the grid the quantiles were drawn on.
    epsilon_split_ : dict
        ``{"bounds": ..., "quantiles": ...}``: the bounds get 20% of
        ``epsilon`` with ``bounds="private"``, else 0.
    n_samples_seen_ : int
        Number of rows (public).
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
    sklearn.preprocessing.MinMaxScaler : The non-private scaler.
    DPStandardScaler : Standardize with DP means and variances.
    skpriv.stats.quantile : The mechanism behind ``data_min_`` and ``data_max_``.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import DPMinMaxScaler
    >>> X = np.random.default_rng(0).uniform(0, 10, size=(10_000, 2))
    >>> scaler = DPMinMaxScaler(epsilon=1.0, bounds=(0, 10), random_state=0)
    >>> Xt = scaler.fit_transform(X)
    >>> scaler.data_min_.round(1), scaler.data_max_.round(1)
    (array([0.1, 0.1]), array([9.9, 9.9]))
    """

    _STATE = ("data_min_", "data_max_", "data_range_", "scale_", "min_", "bounds_")

    _privacy_releases = {
        "data_min_": DP,
        "data_max_": DP,
        "data_range_": DP,
        "scale_": DP,
        "min_": DP,
        "bounds_": PUBLIC,
        "epsilon_split_": PUBLIC,
        "n_samples_seen_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "random_state"),
        "bounds": [tuple, list, StrOptions({"private"}), None],
        "feature_range": [tuple],
        "quantile_range": [tuple],
        "clip": ["boolean"],
    }

    def __init__(
        self,
        epsilon=1.0,
        bounds=None,
        feature_range=(0, 1),
        quantile_range=(1.0, 99.0),
        clip=False,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.bounds = bounds
        self.feature_range = feature_range
        self.quantile_range = quantile_range
        self.clip = clip
        self.random_state = random_state

    def _check_ranges(self):
        fr = self.feature_range
        if (
            len(fr) != 2
            or not all(isinstance(v, Real) for v in fr)
            or not fr[0] < fr[1]
        ):
            raise ValueError(
                f"feature_range must be (min, max) with min < max; got {fr!r}."
            )
        qr = self.quantile_range
        if (
            len(qr) != 2
            or not all(isinstance(v, Real) for v in qr)
            or not 0 <= qr[0] < qr[1] <= 100
        ):
            raise ValueError(
                f"quantile_range must be (q_min, q_max) percentiles with "
                f"0 <= q_min < q_max <= 100; got {qr!r}."
            )

    def _plan(self, n_features):
        """Epsilon of each quantile and the event of the whole fit (one plan)."""
        quantile_eps = self.epsilon * (
            1.0 - BOUNDS_SHARE if isinstance(self.bounds, str) else 1.0
        )
        if n_features is None:
            events = [em_event(quantile_eps)]
            each = None
        else:
            each = quantile_eps / (2 * n_features)
            events = [dp_accounting.SelfComposedDpEvent(em_event(each), 2 * n_features)]
        event = composed([self._private_bounds_event(n_features)] + events)
        return each, quantile_eps, event

    def _planned_dp_event(self, n_samples):
        return self._plan(self._n_features_known())[2]

    def _fit(self, X, y, rng):
        self._check_ranges()
        X = self._validate_X(X, reset=True)
        n, d = X.shape
        self._check_bounds_param(d)
        each, quantile_eps, event = self._plan(d)
        lower, upper, _ = self._resolve_bounds(X, rng)
        qs = np.array(self.quantile_range, dtype=np.float64) / 100.0
        data_min = np.empty(d)
        data_max = np.empty(d)
        for j in range(d):
            grid = uniform_grid(lower[j], upper[j], MINMAX_GRID)
            lo, hi = grid_quantiles(
                np.sort(X[:, j].astype(np.float64)), qs, grid, each, 1, rng
            )
            if hi <= lo:  # post-processing: keep a positive range
                hi = grid[min(np.searchsorted(grid, lo, side="right"), grid.size - 1)]
                if hi <= lo:
                    lo = grid[-2]
            data_min[j], data_max[j] = lo, hi
        self.bounds_ = (lower, upper)
        self.epsilon_split_ = {
            "bounds": self.epsilon - quantile_eps,
            "quantiles": quantile_eps,
        }
        self.n_samples_seen_ = n
        self.data_min_ = data_min
        self.data_max_ = data_max
        self.data_range_ = data_max - data_min
        fr_min, fr_max = self.feature_range
        self.scale_ = (fr_max - fr_min) / self.data_range_
        self.min_ = fr_min - data_min * self.scale_
        self.dp_event_ = event
        self._fit_release_kinds = self._fitted_kinds()
        return self

    def transform(self, X):
        """Scale ``X`` to ``feature_range`` with the DP range (no privacy cost).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to scale.

        Returns
        -------
        X_tr : ndarray of shape (n_samples, n_features)
            The data scaled to ``feature_range`` (clipped with ``clip=True``).
        """
        check_is_fitted(self, "bounds_")
        X = self._validate_X(X, reset=False)
        out = X * self.scale_.astype(X.dtype) + self.min_.astype(X.dtype)
        if self.clip:
            np.clip(out, self.feature_range[0], self.feature_range[1], out=out)
        return out

    def inverse_transform(self, X):
        """Undo :meth:`transform`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Scaled data.

        Returns
        -------
        X_original : ndarray of shape (n_samples, n_features)
            The data in the original units.
        """
        check_is_fitted(self, "bounds_")
        X = self._validate_X(X, reset=False)
        return (X - self.min_.astype(X.dtype)) / self.scale_.astype(X.dtype)
