"""Calibration: from a privacy target (epsilon, delta) to a noise scale.

Every function here inverts an accountant of the dp-accounting library (or the
closed form it implements), so the noise it returns never overshoots the
target: the epsilon the accountant reports for the returned noise is <= the
requested epsilon (up to the tolerance of the root search, which we make
conservative by rounding the noise *up*).
"""

import math

import dp_accounting
import numpy as np

from ..utils._validation import check_delta, check_epsilon

__all__ = [
    "dpsgd_noise_multiplier",
    "gaussian_epsilon",
    "gaussian_sigma",
    "laplace_scale",
]


def _check_positive(value, name: str) -> float:
    """``value`` as a float, or a ValueError naming ``name`` unless finite > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating)
    ):
        raise ValueError(
            f"{name} must be a positive finite real number; got {value!r} of "
            f"type {type(value).__name__}."
        )
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be positive and finite; got {value!r}.")
    return float(value)


def laplace_scale(epsilon: float, sensitivity: float = 1.0) -> float:
    """Scale ``b`` of the Laplace mechanism giving ``epsilon``-DP.

    Adding Laplace noise of scale ``b = sensitivity / epsilon`` to a quantity
    whose L1 sensitivity is ``sensitivity`` is ``epsilon``-differentially
    private (pure DP, ``delta = 0``). The bound is exact: no accountant is
    needed.

    Parameters
    ----------
    epsilon : float
        Target epsilon (> 0).
    sensitivity : float, default=1.0
        L1 sensitivity of the released quantity.

    Returns
    -------
    scale : float
        ``sensitivity / epsilon``.

    See Also
    --------
    gaussian_sigma : Calibration of the Gaussian mechanism (approximate DP).
    skpriv.mechanisms.Laplace : The Laplace mechanism itself.

    Examples
    --------
    >>> from skpriv.accounting import laplace_scale
    >>> laplace_scale(0.5, sensitivity=2.0)
    4.0
    """
    epsilon = check_epsilon(epsilon)
    sensitivity = _check_positive(sensitivity, "sensitivity")
    return float(sensitivity) / epsilon


def gaussian_sigma(epsilon: float, delta: float, sensitivity: float = 1.0) -> float:
    """Noise standard deviation of the analytic Gaussian mechanism.

    Uses the exact (epsilon, delta) curve of the Gaussian mechanism
    (Balle & Wang 2018, "Improving the Gaussian Mechanism for Differential
    Privacy"), as implemented in dp-accounting, so it is valid for every
    ``epsilon > 0`` and not only for ``epsilon < 1`` like the classical
    ``sqrt(2 ln(1.25/delta)) / epsilon`` bound.

    Parameters
    ----------
    epsilon : float
        Target epsilon (> 0).
    delta : float
        Target delta, in (0, 1).
    sensitivity : float, default=1.0
        L2 sensitivity of the released quantity.

    Returns
    -------
    sigma : float
        Standard deviation such that the Gaussian mechanism is
        ``(epsilon, delta)``-DP.

    See Also
    --------
    gaussian_epsilon : The inverse: epsilon of a given noise level.
    laplace_scale : Calibration of the Laplace mechanism (pure DP).
    dpsgd_noise_multiplier : Calibration of DP-SGD (many subsampled steps).
    skpriv.mechanisms.Gaussian : The Gaussian mechanism itself.

    Examples
    --------
    >>> from skpriv.accounting import gaussian_sigma
    >>> round(gaussian_sigma(1.0, 1e-5), 2)
    3.73
    """
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta, allow_zero=False)
    sensitivity = _check_positive(sensitivity, "sensitivity")
    sigma = dp_accounting.get_sigma_gaussian(epsilon, delta, tol=1e-12)
    # Round up by the search tolerance so the result never overshoots epsilon.
    return float(sigma) * (1.0 + 1e-9) * float(sensitivity)


def gaussian_epsilon(sigma: float, delta: float, sensitivity: float = 1.0) -> float:
    """Exact epsilon of one Gaussian release at a given ``delta``.

    This is the inverse of :func:`gaussian_sigma`: the smallest epsilon such
    that adding Gaussian noise of standard deviation ``sigma`` to a quantity of
    L2 sensitivity ``sensitivity`` is ``(epsilon, delta)``-DP, from the exact
    privacy curve of the Gaussian mechanism (Balle & Wang 2018) as computed by
    dp-accounting. Only the ratio ``sigma / sensitivity`` matters.

    Parameters
    ----------
    sigma : float
        Standard deviation of the Gaussian noise (> 0).
    delta : float
        Target delta, in (0, 1).
    sensitivity : float, default=1.0
        L2 sensitivity of the released quantity.

    Returns
    -------
    epsilon : float
        Epsilon of the release at ``delta``.

    See Also
    --------
    gaussian_sigma : The inverse: noise level for a target epsilon.
    privacy_spent : Epsilon of everything a fitted object released.

    Examples
    --------
    >>> from skpriv.accounting import gaussian_epsilon, gaussian_sigma
    >>> round(gaussian_epsilon(4.0, 1e-5), 2)
    0.93
    >>> round(gaussian_epsilon(gaussian_sigma(1.0, 1e-5), 1e-5), 4)
    1.0
    """
    delta = check_delta(delta, allow_zero=False)
    sensitivity = _check_positive(sensitivity, "sensitivity")
    if isinstance(sigma, (int, float, np.integer, np.floating)) and sigma == 0:
        return math.inf  # no noise: not differentially private
    sigma = _check_positive(sigma, "sigma")
    return float(dp_accounting.get_epsilon_gaussian(sigma / sensitivity, delta))


def _make_accountant(accountant: str):
    from ._accountants import make_accountant

    return make_accountant(accountant)


def dpsgd_noise_multiplier(
    epsilon: float,
    delta: float,
    sample_rate: float,
    steps: int,
    *,
    accountant: str = "pld",
) -> float:
    """Noise multiplier of DP-SGD that ends ``steps`` steps at ``epsilon``.

    DP-SGD with Poisson sampling at rate ``sample_rate`` and Gaussian noise
    ``noise_multiplier * max_grad_norm`` on the summed clipped gradients is
    the event ``SelfComposed(PoissonSampled(Gaussian(noise_multiplier)), steps)``.
    This searches the smallest noise multiplier whose epsilon, computed by
    the chosen dp-accounting accountant, is at most ``epsilon``.

    Parameters
    ----------
    epsilon : float
        Target epsilon (> 0).
    delta : float
        Target delta in (0, 1).
    sample_rate : float
        Poisson sampling probability of a row per step, in (0, 1].
    steps : int
        Number of noisy steps.
    accountant : {"pld", "rdp"}, default="pld"
        Accountant used for the search.

    Returns
    -------
    noise_multiplier : float
        Ratio of the noise standard deviation to the clipping norm
        (``max_grad_norm``), rounded up so that the chosen accountant reports
        at most ``epsilon`` at ``delta`` after ``steps`` steps.

    See Also
    --------
    gaussian_sigma : Calibration of a single Gaussian release.
    make_accountant : The accountants the search uses.
    skpriv.neural_network.DPNeuralNetClassifier : DP-SGD training of a net.

    Examples
    --------
    >>> from skpriv.accounting import dpsgd_noise_multiplier
    >>> noise = dpsgd_noise_multiplier(
    ...     1.0, 1e-5, sample_rate=0.01, steps=1000, accountant="rdp"
    ... )
    >>> round(noise, 2)
    1.51
    """
    epsilon = check_epsilon(epsilon)
    delta = check_delta(delta, allow_zero=False)
    if not 0 < sample_rate <= 1:
        raise ValueError(f"sample_rate must lie in (0, 1]; got {sample_rate!r}.")
    if (
        isinstance(steps, (bool, np.bool_))
        or not isinstance(steps, (int, np.integer, float, np.floating))
        or not float(steps).is_integer()
        or steps < 1
    ):
        raise ValueError(f"steps must be an integer >= 1; got {steps!r}.")
    steps = int(steps)

    def make_event(noise_multiplier: float):
        event = dp_accounting.GaussianDpEvent(noise_multiplier)
        if sample_rate < 1:
            event = dp_accounting.PoissonSampledDpEvent(sample_rate, event)
        return dp_accounting.SelfComposedDpEvent(event, steps)

    def eps_of(noise_multiplier: float) -> float:
        acc = _make_accountant(accountant)
        acc.compose(make_event(noise_multiplier))
        return acc.get_epsilon(delta)

    cache = {}

    def excess(noise_multiplier: float) -> float:
        """log(epsilon(noise) / target): > 0 means too little noise."""
        if noise_multiplier not in cache:
            eps = eps_of(noise_multiplier)
            cache[noise_multiplier] = math.log(eps / epsilon) if eps > 0 else -math.inf
        return cache[noise_multiplier]

    # Bracket: grow the upper end until it satisfies the target, then move
    # the lower end down until it does not (factor-2 bracket).
    hi = 1.0
    while excess(hi) > 0:
        hi *= 2.0
        if hi > 1e6:
            raise ValueError(
                f"No noise multiplier reaches epsilon={epsilon} at delta={delta} "
                f"with sample_rate={sample_rate} and steps={steps}."
            )
    lo = hi / 2.0
    while excess(lo) <= 0:
        if lo <= 1e-3:
            return float(np.nextafter(lo, np.inf))
        hi, lo = lo, lo / 2.0
    # Illinois (safeguarded regula falsi) on log(epsilon) against log(noise):
    # the same answer as bisection to the same tolerance, in fewer accountant
    # calls. ``hi`` stays feasible at every step, so the result never
    # overshoots the target.
    f_lo, f_hi, side = excess(lo), excess(hi), 0
    for _ in range(100):
        if hi - lo <= 1e-4 * hi or f_hi == 0:
            break
        width = hi - lo
        if math.isfinite(f_lo) and math.isfinite(f_hi) and f_lo != f_hi:
            x_lo, x_hi = math.log(lo), math.log(hi)
            mid = math.exp(x_hi - f_hi * (x_hi - x_lo) / (f_hi - f_lo))
            mid = min(max(mid, lo + 0.01 * width), hi - 0.01 * width)
        else:
            mid = 0.5 * (lo + hi)
        f_mid = excess(mid)
        if f_mid > 0:
            lo, f_lo = mid, f_mid
            if side == -1:
                f_hi /= 2.0
            side = -1
        else:
            hi, f_hi = mid, f_mid
            if side == 1:
                f_lo /= 2.0
            side = 1
    return float(np.nextafter(hi, np.inf))
