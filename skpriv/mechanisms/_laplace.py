"""Laplace noise on a power-of-two grid, and the discrete Laplace distribution."""

import math
from numbers import Integral

import dp_accounting
import numpy as np
from dp_accounting.dp_event import DiscreteLaplaceDpEvent

from ..utils._validation import check_epsilon
from ._grid import (
    _check_granularity,
    _check_positive,
    _check_rng,
    _check_shape,
    _from_grid,
    _to_grid,
)

__all__ = ["DiscreteLaplace", "Laplace"]

_MAX_DISCRETE = 2**62


def _check_n_dims(n_dims) -> int:
    if (
        not isinstance(n_dims, (Integral, np.integer))
        or isinstance(n_dims, bool)
        or n_dims < 1
    ):
        raise ValueError(f"n_dims must be a positive integer; got {n_dims!r}.")
    return int(n_dims)


def _laplace_steps(shape: tuple, steps_scale: float, rng) -> np.ndarray:
    """Continuous Laplace of scale ``steps_scale`` rounded to integers (float64).

    ``E1 - E2`` with independent standard exponentials is standard Laplace;
    numpy's ziggurat exponential sampler is about three times faster than
    ``Generator.laplace`` (one logarithm per value), so two draws cost less.
    """
    both = rng.standard_exponential((2, *shape))  # one allocation, one call
    noise = both[0, ...]  # a view, also for shape ()
    noise -= both[1, ...]
    noise *= steps_scale
    return np.rint(noise, out=noise)


class Laplace:
    """Laplace mechanism on a power-of-two grid (floating-point safe).

    ``randomise(values, rng)`` rounds each value to the nearest multiple of
    ``granularity`` (a power of two about ``2**-20`` times ``scale``) and adds
    Laplace noise of scale ``scale`` rounded to the same grid: the output is
    always a multiple of ``granularity``, so its low-order bits do not depend
    on the input (Mironov 2012). It is post-processing of the exact Laplace
    mechanism applied to the rounded values, hence ``epsilon``-DP for
    ``epsilon = (sensitivity + n_dims * granularity) / scale``: **rounding adds
    up to one** ``granularity`` **to the L1 sensitivity of every coordinate**.
    :meth:`from_epsilon` and :meth:`dp_event` include that term.

    Parameters
    ----------
    scale : float
        Scale ``b`` of the Laplace noise (standard deviation ``sqrt(2) * b``).
    granularity : float, default=None
        Grid step, a power of two. ``None`` uses
        :func:`~skpriv.mechanisms.grid_granularity` ``(scale)``.

    Attributes
    ----------
    scale : float
        The noise scale.
    granularity : float
        The grid step; every output is an integer multiple of it.

    See Also
    --------
    Gaussian : The same construction with Gaussian noise.
    DiscreteLaplace : Integer-valued noise for integer data.

    Notes
    -----
    The noise is drawn as the difference of two standard exponentials
    (numpy's ziggurat sampler) scaled to grid units and rounded: vectorized
    over whole arrays, within a small factor of numpy's unsafe
    ``Generator.laplace``. This is the approach of OpenDP and Google's
    differential privacy library (discretize to a power-of-two grid, add
    grid-valued noise, account for the rounding), chosen over the snapping
    mechanism because its guarantee is the exact Laplace guarantee with a
    slightly larger sensitivity, instead of an inflated epsilon that depends
    on the machine precision and the bounds.

    Randomness comes from the ``rng`` passed to each call; a generator seeded
    with a known integer is reproducible and therefore not private.

    References
    ----------
    .. [1] I. Mironov, "On significance of the least significant bits for
       differential privacy", CCS 2012.
    .. [2] OpenDP, "Floating-point safety" and Google, "Secure noise
       generation" (differential-privacy library documentation).

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.mechanisms import Laplace
    >>> mech = Laplace.from_epsilon(1.0, sensitivity=1.0)
    >>> rng = np.random.default_rng(0)
    >>> noisy = mech.randomise(np.array([0.0, 0.5, 1.0]), rng)
    >>> noisy.shape
    (3,)
    >>> bool(np.all(noisy / mech.granularity == np.rint(noisy / mech.granularity)))
    True
    """

    def __init__(self, scale, *, granularity=None):
        self.scale = _check_positive(scale, "scale")
        self.granularity = _check_granularity(granularity, self.scale)
        self._steps_scale = self.scale / self.granularity

    @classmethod
    def from_epsilon(cls, epsilon, sensitivity=1.0, *, n_dims=1):
        """The mechanism that is exactly ``epsilon``-DP, rounding included.

        Parameters
        ----------
        epsilon : float
            Target epsilon (> 0).
        sensitivity : float, default=1.0
            L1 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change; each may gain one
            ``granularity`` of sensitivity from rounding.

        Returns
        -------
        mechanism : Laplace
            With ``scale = (sensitivity + n_dims * granularity) / epsilon``.
        """
        epsilon = check_epsilon(epsilon)
        sensitivity = _check_positive(sensitivity, "sensitivity")
        n_dims = _check_n_dims(n_dims)
        granularity = cls(sensitivity / epsilon).granularity
        scale = (sensitivity + n_dims * granularity) / epsilon
        return cls(scale, granularity=granularity)

    def effective_sensitivity(self, sensitivity=1.0, *, n_dims=1) -> float:
        """L1 sensitivity after rounding: ``sensitivity + n_dims * granularity``.

        Parameters
        ----------
        sensitivity : float, default=1.0
            L1 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        sensitivity : float
            The sensitivity the noise must be calibrated to.
        """
        sensitivity = _check_positive(sensitivity, "sensitivity")
        return sensitivity + _check_n_dims(n_dims) * self.granularity

    def epsilon(self, sensitivity=1.0, *, n_dims=1) -> float:
        """Epsilon of one :meth:`randomise` call at this L1 sensitivity.

        Parameters
        ----------
        sensitivity : float, default=1.0
            L1 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        epsilon : float
            ``effective_sensitivity(sensitivity, n_dims=n_dims) / scale``.
        """
        return self.effective_sensitivity(sensitivity, n_dims=n_dims) / self.scale

    def dp_event(self, sensitivity=1.0, *, n_dims=1):
        """The ``dp_accounting.LaplaceDpEvent`` of one :meth:`randomise` call.

        Parameters
        ----------
        sensitivity : float, default=1.0
            L1 sensitivity of the released values (before rounding).
        n_dims : int, default=1
            Number of coordinates that may change.

        Returns
        -------
        event : dp_accounting.LaplaceDpEvent
            Noise multiplier ``scale / effective_sensitivity``.
        """
        sens = self.effective_sensitivity(sensitivity, n_dims=n_dims)
        return dp_accounting.LaplaceDpEvent(noise_multiplier=self.scale / sens)

    def sample(self, shape, rng) -> np.ndarray:
        """Laplace noise on the grid: multiples of ``granularity`` (float64).

        Add it to values with :meth:`randomise`, not ``+``: the sum of an
        arbitrary float and grid noise is not floating-point safe.

        Parameters
        ----------
        shape : int or tuple of int
            Output shape.
        rng : numpy.random.Generator
            Source of randomness (see :func:`skpriv.utils.check_random_state`).

        Returns
        -------
        noise : ndarray of float64
            Multiples of ``granularity``.
        """
        steps = _laplace_steps(_check_shape(shape), self._steps_scale, _check_rng(rng))
        return _from_grid(steps, self.granularity)

    def randomise(self, values, rng) -> np.ndarray:
        """Round ``values`` to the grid and add grid-valued Laplace noise.

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
        steps += _laplace_steps(steps.shape, self._steps_scale, _check_rng(rng))
        return _from_grid(steps, self.granularity)

    def __repr__(self):
        return f"Laplace(scale={self.scale!r}, granularity={self.granularity!r})"


class DiscreteLaplace:
    """Discrete Laplace (two-sided geometric) noise for integer data.

    The noise ``N`` has probability mass proportional to
    ``exp(-|k| / scale)`` on the integers; it is the difference of two
    independent geometric variables, each drawn as ``floor(scale * E)`` with
    ``E`` standard exponential (the memoryless property makes this exactly
    geometric with ratio ``exp(-1 / scale)``). Adding it to integers with L1
    sensitivity ``s`` is ``s / scale``-DP (Ghosh et al. 2009); the output is an
    integer, so no floating-point artefact can leak.

    Parameters
    ----------
    scale : float
        Scale ``t`` of the distribution: mass ratio ``exp(-1/t)`` between
        neighbouring integers.

    Attributes
    ----------
    scale : float
        The noise scale.

    See Also
    --------
    Laplace : Real-valued data, on a power-of-two grid.

    References
    ----------
    .. [1] A. Ghosh, T. Roughgarden, M. Sundararajan, "Universally
       utility-maximizing privacy mechanisms", STOC 2009.
    .. [2] C. Canonne, G. Kamath, T. Steinke, "The discrete Gaussian for
       differential privacy", NeurIPS 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.mechanisms import DiscreteLaplace
    >>> mech = DiscreteLaplace.from_epsilon(0.5, sensitivity=1)
    >>> mech.randomise(np.array([10, 20, 30]), np.random.default_rng(0)).dtype
    dtype('int64')
    """

    def __init__(self, scale):
        self.scale = _check_positive(scale, "scale")

    @classmethod
    def from_epsilon(cls, epsilon, sensitivity=1):
        """The mechanism that is ``epsilon``-DP at integer L1 ``sensitivity``.

        Parameters
        ----------
        epsilon : float
            Target epsilon (> 0).
        sensitivity : int, default=1
            Integer L1 sensitivity of the released values.

        Returns
        -------
        mechanism : DiscreteLaplace
            With ``scale = sensitivity / epsilon``.
        """
        epsilon = check_epsilon(epsilon)
        return cls(_check_int_sensitivity(sensitivity) / epsilon)

    def epsilon(self, sensitivity=1) -> float:
        """Epsilon of one :meth:`randomise` call at integer L1 sensitivity.

        Parameters
        ----------
        sensitivity : int, default=1
            Integer L1 sensitivity of the released values.

        Returns
        -------
        epsilon : float
            ``sensitivity / scale``.
        """
        return _check_int_sensitivity(sensitivity) / self.scale

    def dp_event(self, sensitivity=1):
        """The ``dp_accounting`` event of one :meth:`randomise` call.

        Parameters
        ----------
        sensitivity : int, default=1
            Integer L1 sensitivity of the released values.

        Returns
        -------
        event : dp_accounting.dp_event.DiscreteLaplaceDpEvent
            Noise parameter ``1 / scale`` at that sensitivity.
        """
        return DiscreteLaplaceDpEvent(
            noise_parameter=1.0 / self.scale,
            sensitivity=_check_int_sensitivity(sensitivity),
        )

    def sample(self, shape, rng) -> np.ndarray:
        """Integer noise of the given shape (int64).

        Parameters
        ----------
        shape : int or tuple of int
            Output shape.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        noise : ndarray of int64
            Discrete Laplace draws.
        """
        shape, rng = _check_shape(shape), _check_rng(rng)
        if self.scale > 2.0**40:
            raise ValueError(
                f"DiscreteLaplace scale {self.scale!r} is too large for exact "
                f"int64 noise; use Laplace instead."
            )
        first = rng.standard_exponential(shape)
        first *= self.scale
        np.floor(first, out=first)
        second = rng.standard_exponential(shape)
        second *= self.scale
        np.floor(second, out=second)
        first -= second
        return first.astype(np.int64)

    def randomise(self, values, rng) -> np.ndarray:
        """Add integer noise to integer ``values`` (int64 output).

        Parameters
        ----------
        values : array-like of int
            Integer data (bool and integer dtypes, or floats that are whole).
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        noisy : ndarray of int64
            ``values`` plus noise, same shape as ``values``.
        """
        values = np.asarray(values)
        if values.dtype.kind == "f":
            if not np.isfinite(values).all() or np.any(values != np.rint(values)):
                raise ValueError(
                    "DiscreteLaplace.randomise needs integer values; got "
                    "non-integer or non-finite floats. Use Laplace for real data."
                )
        elif values.dtype.kind not in "iub":
            raise ValueError(
                f"values must be integers; got an array of dtype {values.dtype}."
            )
        # Outside +-2**62 the int64 cast or the noisy sum would wrap around
        # silently (uint64 2**64 - 1 became -1); the noise never nears 2**62.
        if values.size and values.dtype.kind != "b":
            if values.min() < -_MAX_DISCRETE or values.max() > _MAX_DISCRETE:
                raise ValueError(
                    "DiscreteLaplace.randomise needs values within +-2**62, so "
                    "that the noisy int64 output cannot overflow."
                )
        return values.astype(np.int64) + self.sample(values.shape, rng)

    def __repr__(self):
        return f"DiscreteLaplace(scale={self.scale!r})"


def _check_int_sensitivity(sensitivity) -> int:
    if (
        isinstance(sensitivity, (bool, np.bool_))
        or not isinstance(sensitivity, (Integral, np.integer, float))
        or not math.isfinite(float(sensitivity))
        or float(sensitivity) != int(sensitivity)
        or int(sensitivity) < 1
    ):
        raise ValueError(
            f"sensitivity must be a positive integer for DiscreteLaplace; got "
            f"{sensitivity!r}."
        )
    return int(sensitivity)
