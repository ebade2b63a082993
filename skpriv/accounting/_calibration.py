"""Calibration: from a privacy target (epsilon, delta) to a noise scale.

Every function here inverts an accountant of the dp-accounting library (or the
closed form it implements), so the noise it returns never overshoots the
target: the epsilon the accountant reports for the returned noise is <= the
requested epsilon (up to the tolerance of the root search, which we make
conservative by rounding the noise *up*).
"""

import math
from functools import lru_cache

import dp_accounting
import numpy as np
from dp_accounting.pld import privacy_loss_distribution as PLD

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


#: The smallest noise multiplier the PLD calibration returns. The PLD
#: accountant's cost grows as ``1 / noise_multiplier`` (the privacy loss
#: spreads over more discretisation points: 3 GB and minutes at 0.01); at
#: 0.5 one evaluation takes about a second, and the epsilon there is already
#: large (34 for 80 steps at q = 0.128, 13 for 1,000 steps at q = 0.01),
#: where the noise on a sum of clipped gradients is nearly nothing.
PLD_MIN_NOISE_MULTIPLIER = 0.5

#: Discretisation of the coarse PLD used to search (the final answer is
#: checked with the accountant's own, finer one).
_COARSE_INTERVAL = 1e-2


@lru_cache(maxsize=64)
def subsampled_gaussian_pld(sample_rate: float, noise_multiplier: float, interval):
    """PLD of one Poisson-subsampled Gaussian step, as the PLD accountant builds it.

    The same call as dp-accounting's ``PLDAccountant`` for
    ``PoissonSampledDpEvent(sample_rate, GaussianDpEvent(noise_multiplier))``;
    building it is the slow part of PLD accounting, hence the cache (shared
    with the DP nets' per-epoch epsilon).
    """
    return PLD.from_gaussian_mechanism(
        standard_deviation=noise_multiplier,
        value_discretization_interval=interval,
        sampling_prob=sample_rate,
    )


@lru_cache(maxsize=1024)
def _sampled_gaussian_epsilon(sample_rate, noise_multiplier, steps, delta, interval):
    pld = subsampled_gaussian_pld(sample_rate, noise_multiplier, interval)
    return float(pld.self_compose(steps).get_epsilon_for_delta(delta))


def _search(excess, hi, floor, rel_tol):
    """Smallest noise in ``[floor, inf)`` with ``excess(noise) <= 0``, to ``rel_tol``.

    ``excess`` is ``log(epsilon(noise) / target)``, decreasing in the noise.
    Returns ``(lo, hi)``: ``hi`` feasible, ``lo`` infeasible (``lo = None``
    when ``hi`` is the floor).
    """
    while excess(hi) > 0:
        hi *= 2.0
        if hi > 1e6:
            return None, None
    lo = max(hi / 2.0, floor)
    while excess(lo) <= 0:
        if lo <= floor:
            return None, lo
        hi, lo = lo, max(lo / 2.0, floor)
    # Illinois (safeguarded regula falsi) on log(epsilon) against log(noise):
    # the same answer as bisection to the same tolerance, in fewer accountant
    # calls. ``hi`` stays feasible at every step, so the result never
    # overshoots the target.
    f_lo, f_hi, side = excess(lo), excess(hi), 0
    for _ in range(100):
        if hi - lo <= rel_tol * hi or f_hi == 0:
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
    return lo, hi


def _log_excess(eps_fn, epsilon):
    cache = {}

    def excess(noise):
        if noise not in cache:
            eps = eps_fn(noise)
            cache[noise] = math.log(eps / epsilon) if eps > 0 else -math.inf
        return cache[noise]

    return excess


def _no_noise_reaches(epsilon, delta, sample_rate, steps):
    return ValueError(
        f"No noise multiplier reaches epsilon={epsilon} at delta={delta} "
        f"with sample_rate={sample_rate} and steps={steps}."
    )


def _calibrate_unsampled_pld(epsilon, delta, steps):
    """Closed form of ``steps`` unsampled Gaussians (what ``epsilon_of`` computes).

    Their composition is one Gaussian of noise ``noise / sqrt(steps)``.
    """
    root = math.sqrt(steps)

    def eps_of(noise):
        # As epsilon_of computes it (gaussian_mu2), to the last bit.
        mu2 = steps * (1.0 / noise**2)
        return float(dp_accounting.get_epsilon_gaussian(1.0 / math.sqrt(mu2), delta))

    # Beyond this epsilon the noise is below 1e-3 of the sensitivity (per
    # step): nothing is protected any more, and the root search underflows.
    floor = 1e-3
    if eps_of(floor) <= epsilon:
        return floor
    noise = dp_accounting.get_sigma_gaussian(epsilon, delta, tol=1e-12) * root
    noise *= 1.0 + 1e-9
    while eps_of(noise) > epsilon:  # round-off of the root search: step up
        noise *= 1.0 + 1e-9
    return float(noise)


def _secant_to_target(eps_fn, noise, slope, log_t, floor, tol, max_evals):
    """Secant steps in log-log on ``eps_fn`` from ``noise`` toward ``log_t``.

    Returns ``(feasible, slope)``: the smallest noise found with
    ``log eps <= log_t`` (``None`` if none) and the last slope estimate.
    Stops once within ``tol`` (in log epsilon) below the target.
    """
    feasible = infeasible = None  # (log noise, log eps)
    for _ in range(max_evals):
        point = (math.log(noise), math.log(eps_fn(noise)))
        if point[1] <= log_t:
            if feasible is None or point[0] < feasible[0]:
                feasible = point
            if log_t - point[1] <= tol or noise <= floor:
                break
        elif infeasible is None or point[0] > infeasible[0]:
            infeasible = point
        if feasible is not None and infeasible is not None:
            (x0, y0), (x1, y1) = infeasible, feasible
            if y0 != y1:
                slope = min((y1 - y0) / (x1 - x0), -0.1)
            x = x1 + (log_t - tol / 4 - y1) / slope
            x = min(max(x, x0 + 0.05 * (x1 - x0)), x1 - 0.05 * (x1 - x0))
        else:
            x = point[0] + (log_t - tol / 4 - point[1]) / slope
        noise = max(floor, math.exp(x))
    return (None if feasible is None else math.exp(feasible[0])), slope


def _calibrate_sampled_pld(epsilon, delta, sample_rate, steps):
    """Coarse PLD search, medium refinement, one check with the accountant's PLD.

    The search runs on PLDs discretised 100x and 10x more coarsely than the
    accountant's (a few percent of its cost; dp-accounting's discretisation
    is pessimistic, so they bound the true epsilon too). The answer is then
    checked with the fine PLD (what ``epsilon_of`` and the nets report),
    stepping up in the rare case it overshoots, so the value returned never
    overshoots ``epsilon``. One fine evaluation is the usual cost; its
    one-step PLD is cached, and the nets' ``epsilon_`` reuses it.
    """
    fine_interval = _make_accountant("pld")._value_discretization_interval
    floor = PLD_MIN_NOISE_MULTIPLIER

    def at(interval):
        def eps_fn(noise):
            return _sampled_gaussian_epsilon(sample_rate, noise, steps, delta, interval)

        return eps_fn

    # The discretisation error in epsilon grows with the interval: scale the
    # coarse grids with the target so their error stays a small fraction.
    coarse = at(min(_COARSE_INTERVAL, max(fine_interval, epsilon * 2e-3)))
    medium = at(min(_COARSE_INTERVAL / 10, max(fine_interval, epsilon * 2e-4)))
    fine = at(fine_interval)
    # Leave room for the round-off between this path and epsilon_of's.
    target = epsilon * (1.0 - 1e-9)
    log_t = math.log(target)
    lo, hi = _search(_log_excess(coarse, target), 1.0, floor, 1e-2)
    if hi is None:
        raise _no_noise_reaches(epsilon, delta, sample_rate, steps)
    if lo is None:  # the floor meets the target (coarsely)
        lo = hi * 1.1
    slope = (math.log(coarse(hi)) - math.log(coarse(lo))) / (
        math.log(hi) - math.log(lo)
    )
    slope = min(slope, -0.1)  # epsilon falls with the noise
    noise, slope = _secant_to_target(medium, hi, slope, log_t, floor, 2e-3, 4)
    noise = hi if noise is None else noise
    # The accountant's own PLD: step up until it meets the target, or take
    # one secant step down if the medium grid left more than 0.5% unspent.
    best, refined = None, False
    for _ in range(20):
        gap = math.log(fine(noise)) - log_t
        if gap <= 0:
            best = noise
            if refined or gap >= -5e-3 or noise <= floor:
                return float(best)
            refined = True
        elif best is not None:  # the refinement overshot: keep the checked one
            return float(best)
        noise = max(floor, noise * math.exp(gap / -slope + 5e-4))
    # pragma: no cover - epsilon decreases with the noise
    raise _no_noise_reaches(epsilon, delta, sample_rate, steps)


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

    Notes
    -----
    With ``accountant="pld"`` the search runs on a coarse privacy-loss
    distribution and the answer is checked (and refined) with the
    accountant's own, so it takes about a second at any epsilon. Two caps:
    with ``sample_rate < 1`` the noise multiplier is never below
    ``PLD_MIN_NOISE_MULTIPLIER`` (0.5), where the PLD accountant's cost
    grows as ``1 / noise_multiplier`` and the epsilon is already large; a
    larger target returns 0.5, which spends *less* than ``epsilon`` (the
    estimators report what they spent). Without sampling, the noise is
    never below 1e-3. ``accountant="rdp"`` keeps a 1e-3 floor.

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
    sample_rate = float(sample_rate)
    if accountant == "pld":
        if sample_rate == 1:
            return _calibrate_unsampled_pld(epsilon, delta, steps)
        return _calibrate_sampled_pld(epsilon, delta, sample_rate, steps)
    acc_name = accountant
    _make_accountant(acc_name)  # validates the name

    def eps_of(noise_multiplier: float) -> float:
        event = dp_accounting.GaussianDpEvent(noise_multiplier)
        if sample_rate < 1:
            event = dp_accounting.PoissonSampledDpEvent(sample_rate, event)
        acc = _make_accountant(acc_name)
        acc.compose(dp_accounting.SelfComposedDpEvent(event, steps))
        return acc.get_epsilon(delta)

    lo, hi = _search(_log_excess(eps_of, epsilon), 1.0, 1e-3, 1e-4)
    if hi is None:
        raise _no_noise_reaches(epsilon, delta, sample_rate, steps)
    return float(np.nextafter(hi, np.inf))
