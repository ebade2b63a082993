"""Noise for vectors of per-feature statistics: one plan gives noise and event.

A *release* is a vector of ``d`` statistics (one per feature) that adding or
removing one row moves by at most ``sensitivity[j]`` in coordinate ``j``.
:func:`plan_release` turns a share of the budget into the per-feature noise
scales on a power-of-two grid (the construction of :mod:`skpriv.mechanisms`,
rounding included in the sensitivity) and the ``dp_accounting`` event of the
release; :func:`apply_release` adds that noise. Pure DP uses Laplace noise
with the budget split equally over the features (L1); approximate DP uses
Gaussian noise on the vector normalised by the sensitivities (L2), which
grows like ``sqrt(d)`` instead of ``d``.
"""

import functools
import math
from typing import NamedTuple

import dp_accounting
import numpy as np

from ..accounting._calibration import gaussian_sigma
from ..mechanisms._gaussian import _gaussian_steps
from ..mechanisms._grid import GRID_BITS, _from_grid, _to_grid
from ..mechanisms._laplace import _laplace_steps

__all__ = ["Release", "apply_release", "plan_release", "split_budget"]


class Share(NamedTuple):
    """Part of a budget: ``("laplace", epsilon)`` or ``("gaussian", mu)``."""

    kind: str
    value: float


class Release(NamedTuple):
    """Noise of one vector release and its DP event."""

    kind: str  # "laplace" or "gaussian"
    scales: np.ndarray  # Laplace b or Gaussian sigma, per feature
    granularity: np.ndarray  # power-of-two grid step, per feature
    event: dp_accounting.DpEvent


@functools.lru_cache(maxsize=256)
def gaussian_mu(epsilon: float, delta: float) -> float:
    """Gaussian-DP parameter ``mu`` of the Gaussian mechanism at (epsilon, delta)."""
    return 1.0 / gaussian_sigma(epsilon, delta, 1.0)


def split_budget(epsilon: float, delta: float, shares) -> list[Share]:
    """Split ``(epsilon, delta)`` into releases with the given ``shares``.

    Pure DP (``delta == 0``) splits epsilon (basic composition is exact for
    pure DP); approximate DP splits ``mu**2`` of Gaussian DP, under which
    Gaussian releases compose exactly (``mu**2`` adds up), so the composed
    event is exactly ``(epsilon, delta)``-DP.
    """
    total = float(sum(shares))
    if delta == 0:
        return [Share("laplace", epsilon * s / total) for s in shares]
    mu = gaussian_mu(epsilon, delta)
    return [Share("gaussian", mu * math.sqrt(s / total)) for s in shares]


def _granularity(scales: np.ndarray) -> np.ndarray:
    """Vectorized :func:`skpriv.mechanisms.grid_granularity`."""
    _, exponent = np.frexp(scales)
    return np.ldexp(1.0, np.maximum(exponent - 1 - GRID_BITS, -1074))


def plan_release(sensitivity, share: Share) -> Release:
    """Noise and event of releasing ``d`` statistics with these sensitivities.

    Parameters
    ----------
    sensitivity : ndarray of shape (d,)
        How much one added or removed row moves each statistic (> 0).
    share : Share
        ``("laplace", epsilon)``: each feature gets Laplace noise of scale
        ``d * (s_j + g_j) / epsilon`` (budget split equally, L1);
        ``("gaussian", mu)``: each feature gets Gaussian noise of standard
        deviation ``sqrt(d) * (s_j + g_j) / mu`` (the normalised vector has
        L2 sensitivity ``sqrt(d)``). ``g_j`` is the grid step of feature ``j``.
    """
    sens = np.asarray(sensitivity, dtype=np.float64).ravel()
    d = sens.size
    if share.kind == "laplace":
        ratio = d / share.value  # scale per unit of sensitivity
    else:
        ratio = math.sqrt(d) / share.value
    # As Laplace.from_epsilon: the grid of the nominal scale, then the scale
    # with the rounding term; a larger scale keeps a valid (finer) grid.
    granularity = _granularity(sens * ratio)
    scales = (sens + granularity) * ratio
    if not np.all(np.isfinite(scales)) or np.any(scales <= 0):
        raise ValueError(
            "The bounds and epsilon give no finite, positive noise scale in "
            "float64; rescale the data or change epsilon or bounds."
        )
    # The multiplier the noise really has (the smallest over features), so
    # that rounding in the products never under-counts.
    multiplier = float(np.min(scales / (sens + granularity)))
    if share.kind == "laplace":
        event = dp_accounting.LaplaceDpEvent(noise_multiplier=multiplier)
        if d > 1:
            event = dp_accounting.SelfComposedDpEvent(event, d)
    else:
        event = dp_accounting.GaussianDpEvent(multiplier / math.sqrt(d))
    return Release(share.kind, scales, granularity, event)


def apply_release(release: Release, values, rng) -> np.ndarray:
    """``values`` (features on the last axis) rounded to the grid plus noise."""
    steps = _to_grid(values, release.granularity, name="statistic")
    steps_scale = release.scales / release.granularity
    if release.kind == "laplace":
        steps += _laplace_steps(steps.shape, steps_scale, rng)
    else:
        steps += _gaussian_steps(steps.shape, steps_scale, rng)
    return _from_grid(steps, release.granularity)


def noise_sd(release: Release) -> np.ndarray:
    """Standard deviation of the noise of each feature."""
    if release.kind == "laplace":
        return math.sqrt(2.0) * release.scales
    return release.scales.copy()


def composed(events):
    """One event for several releases (NoOp for none)."""
    events = [e for e in events if e is not None]
    if not events:
        return dp_accounting.NoOpDpEvent()
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)
