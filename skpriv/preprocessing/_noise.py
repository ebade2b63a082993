"""Input perturbation: LaplaceNoise and GaussianNoise (record-level local DP)."""

import math
from numbers import Real

import dp_accounting
import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..accounting import gaussian_sigma
from ..base import PrivacyMixin, declared_releases, privacy_constraints
from ..mechanisms import Gaussian, Laplace
from ..mechanisms._grid import _check_rng, _from_grid, _to_grid
from ..mechanisms._laplace import _laplace_steps
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval
from ..utils._validation import resolve_bounds, validate_quietly

__all__ = ["GaussianNoise", "LaplaceNoise"]

_CLIP_OUTPUT_DOC = """clip_output : bool, default=False
        Clamp the noisy output back into ``bounds_`` (post-processing: no
        privacy cost, but the output is then biased towards the interior).
        By default the output is the unbiased noisy value."""


class _FreshNoiseAfterUnpickling:
    """Unseeded (``random_state=None``) noise never travels in a pickle.

    A pickled generator would make every copy loaded from one file (joblib
    workers, model servers, restarts, :class:`~skpriv.encryption.
    EncryptedEstimator`, which unpickles on every call) draw the *same* noise,
    so the difference of two releases would reveal the difference of the
    data exactly, and the file would tell whoever reads it the noise to come.
    Copies draw fresh entropy from the operating system instead. A seeded
    ``random_state`` keeps its stream (reproducible, and not private).
    """

    def __getstate__(self):
        state = super().__getstate__()
        if state.get("random_state") is None and "_rng" in state:
            state = {**state, "_rng": None}
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_rng" in state and state["_rng"] is None:
            self._rng = np.random.default_rng()


class _BaseNoise(
    _FreshNoiseAfterUnpickling,
    PrivacyMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Shared fit/transform of the noise transformers.

    ``fit`` learns (or validates) the bounds, calibrates the mechanism and
    keeps the random generator; every ``transform`` is a fresh release that
    draws new noise from it.
    """

    # Its output is a local-DP release: what later pipeline steps learn from it
    # is post-processing (read by skpriv.accounting's walk).
    _releases_private_output = True

    # Everything fitted is a function of the bounds, epsilon (and delta) and
    # the number of features: public when the bounds are given.
    _privacy_releases = {
        "bounds_": "public",
        "scale_": "public",
        "sigma_": "public",
        "granularity_": "public",
    }

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        if self.bounds is None:
            why = "uncovered: computed from bounds read from the data (bounds=None)"
            kinds.update({attr: why for attr in kinds})
        return kinds

    def _planned_dp_event(self, n_samples):
        # One release of one row: independent of n_samples. The plan is the
        # one fit uses (``_plan``) whenever the widths are known: after fit,
        # or from per-feature bounds.
        widths = self._known_widths()
        if widths is not None:
            return self._plan(widths)[1]
        # Unfitted with scalar or data-derived bounds, the number of features
        # is unknown: plan the worst case of the mechanism for any width.
        return self._unknown_width_plan()

    def _known_widths(self):
        if hasattr(self, "bounds_"):
            lower, upper = self.bounds_
            return np.asarray(upper, float) - np.asarray(lower, float)
        if self.bounds is not None:
            lower, upper = (np.asarray(b, dtype=float) for b in self.bounds)
            if lower.ndim == 1 or upper.ndim == 1:
                return np.broadcast_to(upper - lower, np.broadcast(lower, upper).shape)
        return None

    def _validate_X(self, X, reset):
        return validate_quietly(self, X, reset=reset, dtype=[np.float64, np.float32])

    def _fit(self, X, y, rng):
        X = self._validate_X(X, reset=True)
        lower, upper = resolve_bounds(self.bounds, X)
        with np.errstate(over="ignore"):
            widths = upper - lower
        if not np.isfinite(widths).all():
            j = int(np.flatnonzero(~np.isfinite(widths))[0])
            raise ValueError(
                f"bounds: upper - lower of feature {j} overflows float64; "
                f"rescale the data or pass narrower bounds."
            )
        try:
            self._calibrate(*self._plan(widths))
        except (ValueError, OverflowError) as exc:
            # The mechanisms' errors name their own scale/sensitivity.
            raise ValueError(
                f"epsilon={self.epsilon!r} and bounds of widths between "
                f"{widths.min()!r} and {widths.max()!r} give no finite, "
                f"positive noise scale in float64; rescale the data or "
                f"change epsilon or bounds."
            ) from exc
        self.bounds_ = (lower, upper)
        self._rng = rng
        return self

    def transform(self, X):
        """Clip ``X`` to ``bounds_`` and add fresh noise (one release per call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Finite numeric data; values outside ``bounds_`` are clipped
            (never an error: an error would reveal them).

        Returns
        -------
        X_noisy : ndarray of shape (n_samples, n_features)
            Noisy data on the mechanism's power-of-two grid, float32 if ``X``
            is float32 and float64 otherwise.
        """
        check_is_fitted(self, "bounds_")
        X = self._validate_X(X, reset=False)
        lower, upper = self.bounds_
        clipped = np.clip(X, lower, upper, dtype=np.float64)
        noisy = self._randomise(clipped, _check_rng(self._rng))
        if self.clip_output:
            np.clip(noisy, lower, upper, out=noisy)
        return noisy.astype(X.dtype, copy=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Each transform call draws fresh noise.
        tags.non_deterministic = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"].replace(
        "of the release", "of one row per ``transform`` call"
    ),
    bounds=PARAM_DOCS["bounds"],
    clip_output=_CLIP_OUTPUT_DOC,
    random_state=PARAM_DOCS["random_state"],
)
class LaplaceNoise(_BaseNoise):
    """Add Laplace noise to every feature: record-level local DP.

    Each feature is clipped to its bounds, then gets Laplace noise of scale
    ``d * (upper_j - lower_j) / epsilon`` (the budget split equally over the
    ``d`` features), so that each released row is ``epsilon``-DP with respect
    to its own values. Every ``transform`` call is a new release with fresh
    noise and spends ``epsilon`` again. The noise is floating-point safe: see
    :class:`~skpriv.mechanisms.Laplace`.

    Parameters
    ----------
    {epsilon}
    {bounds}
    {clip_output}
    {random_state}

    Attributes
    ----------
    bounds_ : tuple of ndarray of shape (n_features,)
        ``(lower, upper)`` used for clipping: the given ``bounds``, or the
        data's min and max when ``bounds=None``.
    scale_ : ndarray of shape (n_features,)
        Laplace scale of each feature, including the grid rounding.
    granularity_ : ndarray of shape (n_features,)
        Power-of-two grid step of each feature's output.
    dp_event_ : dp_accounting.DpEvent
        One release of one row: the ``d`` per-feature Laplace events (each
        ``epsilon / d``), composed.
    dp_n_samples_ : int
        Number of rows seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    GaussianNoise : (epsilon, delta)-DP with Gaussian noise, smaller for many
        features.
    RandomizedResponse : Local DP for categorical features.
    skpriv.mechanisms.Laplace : The underlying mechanism.

    Notes
    -----
    The rounding to a power-of-two grid can move a value by half a grid step,
    so the L1 sensitivity of feature ``j`` is ``upper_j - lower_j +
    granularity_j``; ``scale_`` includes that term, and the recorded event is
    exactly ``epsilon``-DP. ``fit`` only learns the bounds (and warns if it
    reads them from the data); the budget is spent by each ``transform``,
    which ``dp_event_`` describes per call.

    References
    ----------
    .. [1] C. Dwork, F. McSherry, K. Nissim, A. Smith, "Calibrating noise to
       sensitivity in private data analysis", TCC 2006.
    .. [2] S. Kasiviswanathan, H. Lee, K. Nissim, S. Raskhodnikova, A. Smith,
       "What can we learn privately?", FOCS 2008 (local DP).

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> X = np.array([[0.2, 10.0], [0.8, 30.0], [0.5, 20.0]])
    >>> noise = LaplaceNoise(epsilon=2.0, bounds=([0, 0], [1, 50]), random_state=0)
    >>> noise.fit_transform(X).shape
    (3, 2)
    >>> noise.scale_.round(3)
    array([ 1., 50.])
    """

    _parameter_constraints = {
        **privacy_constraints("epsilon", "bounds", "random_state"),
        "clip_output": ["boolean"],
    }

    def __init__(self, epsilon=1.0, bounds=None, clip_output=False, random_state=None):
        self.epsilon = epsilon
        self.bounds = bounds
        self.clip_output = clip_output
        self.random_state = random_state

    def _plan(self, widths):
        """The mechanisms for these feature widths, and the DP event of one release."""
        d = widths.shape[0]
        mechs = [Laplace.from_epsilon(self.epsilon / d, w) for w in widths]
        # Every feature's event is Laplace(epsilon / d); keep the smallest
        # noise multiplier so rounding in the division never under-counts.
        multiplier = min(
            m.scale / m.effective_sensitivity(w) for m, w in zip(mechs, widths)
        )
        event = dp_accounting.LaplaceDpEvent(noise_multiplier=multiplier)
        return mechs, event if d == 1 else dp_accounting.SelfComposedDpEvent(event, d)

    def _calibrate(self, mechs, event):
        self.scale_ = np.array([m.scale for m in mechs])
        self.granularity_ = np.array([m.granularity for m in mechs])
        self.dp_event_ = event

    def _unknown_width_plan(self):
        # Binary randomized response at epsilon dominates every pure
        # epsilon-DP mechanism (Kairouz, Oh & Viswanath 2015).
        return dp_accounting.RandomizedResponseDpEvent(
            noise_parameter=2.0 / (math.exp(self.epsilon) + 1.0), num_buckets=2
        )

    def _randomise(self, X, rng):
        steps = _to_grid(X, self.granularity_, name="X")
        steps_scale = self.scale_ / self.granularity_
        steps += _laplace_steps(steps.shape, steps_scale, rng)
        return _from_grid(steps, self.granularity_)


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"].replace(
        "of the release", "of one row per ``transform`` call"
    ),
    bounds=PARAM_DOCS["bounds"],
    clip_output=_CLIP_OUTPUT_DOC,
    random_state=PARAM_DOCS["random_state"],
)
class GaussianNoise(_BaseNoise):
    """Add Gaussian noise to every feature: record-level (epsilon, delta) local DP.

    Each feature is clipped to its bounds; the L2 sensitivity of a row is then
    ``sqrt(sum_j (upper_j - lower_j)**2)`` and every feature gets Gaussian
    noise of the same standard deviation, calibrated by the analytic Gaussian
    mechanism (Balle & Wang 2018), valid for every ``epsilon > 0``. Every
    ``transform`` call is a new release with fresh noise. The noise is
    floating-point safe: see :class:`~skpriv.mechanisms.Gaussian`.

    Parameters
    ----------
    {epsilon}
    delta : float, default=1e-5
        Probability with which the epsilon guarantee may fail, in (0, 1).
    {bounds}
    {clip_output}
    {random_state}

    Attributes
    ----------
    bounds_ : tuple of ndarray of shape (n_features,)
        ``(lower, upper)`` used for clipping.
    sigma_ : float
        Standard deviation of the noise on every feature, including the grid
        rounding.
    granularity_ : float
        Power-of-two grid step of the output.
    dp_event_ : dp_accounting.GaussianDpEvent
        One release of one row.
    dp_n_samples_ : int
        Number of rows seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    LaplaceNoise : Pure epsilon-DP with per-feature Laplace noise.
    skpriv.mechanisms.Gaussian : The underlying mechanism.
    skpriv.accounting.gaussian_sigma : The analytic calibration.

    Notes
    -----
    Rounding to the grid adds up to ``sqrt(d) * granularity_`` to the L2
    sensitivity; ``sigma_`` includes it. With many features Gaussian noise
    grows like ``sqrt(d)`` per feature where Laplace grows like ``d``.

    References
    ----------
    .. [1] B. Balle, Y.-X. Wang, "Improving the Gaussian mechanism for
       differential privacy: analytical calibration and optimal denoising",
       ICML 2018.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import GaussianNoise
    >>> X = np.array([[0.2, 0.4], [0.8, 0.1]])
    >>> noise = GaussianNoise(epsilon=1.0, delta=1e-5, bounds=(0, 1), random_state=0)
    >>> noise.fit_transform(X).shape
    (2, 2)
    >>> round(noise.sigma_, 2)
    5.28
    """

    _parameter_constraints = {
        **privacy_constraints("epsilon", "bounds", "random_state"),
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "clip_output": ["boolean"],
    }

    def __init__(
        self,
        epsilon=1.0,
        delta=1e-5,
        bounds=None,
        clip_output=False,
        random_state=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.bounds = bounds
        self.clip_output = clip_output
        self.random_state = random_state

    def _plan(self, widths):
        """The mechanism for these feature widths, and the DP event of one release."""
        # hypot neither overflows nor underflows where the norm is a float.
        sensitivity = math.hypot(*widths.tolist())
        d = widths.shape[0]
        mech = Gaussian.from_epsilon(self.epsilon, self.delta, sensitivity, n_dims=d)
        return mech, mech.dp_event(sensitivity, n_dims=d)

    def _calibrate(self, mech, event):
        self._mechanism = mech
        self.sigma_ = mech.sigma
        self.granularity_ = mech.granularity
        self.dp_event_ = event

    def _unknown_width_plan(self):
        # The calibration targets (epsilon, delta) for any sensitivity: the
        # grid's rounding is inside the calibrated sensitivity.
        multiplier = gaussian_sigma(self.epsilon, self.delta, 1.0)
        return dp_accounting.GaussianDpEvent(noise_multiplier=multiplier)

    def _randomise(self, X, rng):
        return self._mechanism.randomise(X, rng)
