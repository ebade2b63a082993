"""Gaussian noise on a power-of-two grid (floating-point safe)."""

import math

import dp_accounting
import numpy as np

from ..accounting._calibration import gaussian_sigma
from ..utils._validation import check_delta, check_epsilon
from ._grid import (
    _check_granularity,
    _check_positive,
    _check_rng,
    _check_shape,
    _from_grid,
    _to_grid,
)
from ._laplace import _check_n_dims

__all__ = ["Gaussian"]


def _gaussian_steps(shape: tuple, steps_scale: float, rng) -> np.ndarray:
    """Continuous Gaussian of std ``steps_scale`` rounded to integers (float64)."""
    noise = rng.standard_normal(shape)
    noise *= steps_scale
    return np.rint(noise, out=noise)


class Gaussian:
    """Gaussian mechanism on a power-of-two grid (floating-point safe).

    ``randomise(values, rng)`` rounds each value to the nearest multiple of
    ``granularity`` (a power of two about ``2**-20`` times ``sigma``) and adds
    Gaussian noise of standard deviation ``sigma`` rounded to the same grid.
    Every output is a multiple of ``granularity``, so the low-order bits that
    make textbook floating-point Gaussian samplers attackable (Jin et al.
    2022) carry nothing. It is post-processing of the exact Gaussian mechanism
    on the rounded values, hence has the analytic-Gaussian guarantee (Balle &
    Wang 2018) at L2 sensitivity ``sensitivity + sqrt(n_dims) *
    granularity``: **rounding adds up to** ``sqrt(n_dims) * granularity``
    **to the L2 sensitivity**. :meth:`from_epsilon` and :meth:`dp_event`
    include that term.

    Parameters
    ----------
    sigma : float
        Standard deviation of the noise.
    granularity : float, default=None
        Grid step, a power of two. ``None`` uses
        :func:`~skpriv.mechanisms.grid_granularity` ``(sigma)``.

    Attributes
    ----------
    sigma : float
        The noise standard deviation.
    granularity : float
        The grid step; every output is an integer multiple of it.

    See Also
    --------
    Laplace : The same construction with Laplace noise (pure DP).
    skpriv.accounting.gaussian_sigma : Analytic calibration.

    Notes
    -----
    Noise is numpy's ziggurat ``standard_normal`` scaled to grid units and
    rounded, vectorized over whole arrays. The calibration is the analytic
    Gaussian mechanism, exact for every ``epsilon > 0`` (not only
    ``epsilon < 1`` like ``sqrt(2 ln(1.25 / delta)) / epsilon``).

    References
    ----------
    .. [1] B. Balle, Y.-X. Wang, "Improving the Gaussian mechanism for
       differential privacy: analytical calibration and optimal denoising",
       ICML 2018.
    .. [2] J. Jin, E. McMurtry, B. Rubinstein, O. Ohrimenko, "Are we there
       yet? Timing and floating-point attacks on differential privacy
       systems", IEEE S&P 2022.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.mechanisms import Gaussian
    >>> mech = Gaussian.from_epsilon(1.0, delta=1e-5, sensitivity=1.0)
    >>> round(mech.sigma, 2)
    3.73
    >>> mech.randomise(np.zeros((2, 3)), np.random.default_rng(0)).shape
    (2, 3)
    """

    def __init__(self, sigma, *, granularity=None):
        self.sigma = _check_positive(sigma, "sigma")
        self.granularity = _check_granularity(granularity, self.sigma)
        self._steps_scale = self.sigma / self.granularity

    @classmethod
    def from_epsilon(cls, epsilon, delta, sensitivity=1.0, *, n_dims=1):
        """The analytic-Gaussian mechanism for ``(epsilon, delta)``, rounding included.

        Parameters
        ----------
        epsilon : float
            Target epsilon (> 0), any size.
        delta : float
            Target delta in (0, 1).
        sensitivity : float, default=1.0
            L2 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        mechanism : Gaussian
            Its ``sigma`` calibrated at the effective sensitivity.
        """
        epsilon = check_epsilon(epsilon)
        delta = check_delta(delta, allow_zero=False)
        sensitivity = _check_positive(sensitivity, "sensitivity")
        n_dims = _check_n_dims(n_dims)
        granularity = cls(gaussian_sigma(epsilon, delta, sensitivity)).granularity
        sens = sensitivity + math.sqrt(n_dims) * granularity
        return cls(gaussian_sigma(epsilon, delta, sens), granularity=granularity)

    def effective_sensitivity(self, sensitivity=1.0, *, n_dims=1) -> float:
        """L2 sensitivity after rounding: adds ``sqrt(n_dims) * granularity``.

        Parameters
        ----------
        sensitivity : float, default=1.0
            L2 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        sensitivity : float
            The sensitivity the noise must be calibrated to.
        """
        sensitivity = _check_positive(sensitivity, "sensitivity")
        return sensitivity + math.sqrt(_check_n_dims(n_dims)) * self.granularity

    def dp_event(self, sensitivity=1.0, *, n_dims=1):
        """The ``dp_accounting.GaussianDpEvent`` of one :meth:`randomise` call.

        Parameters
        ----------
        sensitivity : float, default=1.0
            L2 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        event : dp_accounting.GaussianDpEvent
            Noise multiplier ``sigma / effective_sensitivity``.
        """
        sens = self.effective_sensitivity(sensitivity, n_dims=n_dims)
        return dp_accounting.GaussianDpEvent(noise_multiplier=self.sigma / sens)

    def sample(self, shape, rng) -> np.ndarray:
        """Gaussian noise on the grid: multiples of ``granularity`` (float64).

        Add it to values with :meth:`randomise`, not ``+``: the sum of an
        arbitrary float and grid noise is not floating-point safe.

        Parameters
        ----------
        shape : int or tuple of int
            Output shape.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        noise : ndarray of float64
            Multiples of ``granularity``.
        """
        steps = _gaussian_steps(_check_shape(shape), self._steps_scale, _check_rng(rng))
        return _from_grid(steps, self.granularity)

    def randomise(self, values, rng) -> np.ndarray:
        """Round ``values`` to the grid and add grid-valued Gaussian noise.

        Parameters
        ----------
        values : array-like of numbers
            Finite values (NaN or infinity raise ``ValueError``).
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        noisy : ndarray of float64, same shape as ``values``
            Multiples of ``granularity``.
        """
        steps = _to_grid(values, self.granularity)
        steps += _gaussian_steps(steps.shape, self._steps_scale, _check_rng(rng))
        return _from_grid(steps, self.granularity)

    def __repr__(self):
        return f"Gaussian(sigma={self.sigma!r}, granularity={self.granularity!r})"
