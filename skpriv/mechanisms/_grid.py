"""The power-of-two grid that makes continuous noise floating-point safe.

See the docstring of :mod:`skpriv.mechanisms` for the construction.
"""

import math
from numbers import Integral, Real

import numpy as np

from ..utils._random import check_random_state

__all__ = ["GRID_BITS", "grid_granularity"]

#: The grid step is ``2**-GRID_BITS`` times the noise scale (rounded down to a
#: power of two).
GRID_BITS = 20


def grid_granularity(scale: float) -> float:
    """The power-of-two grid step used for noise of the given scale.

    The grid is fine enough that the output looks continuous and coarse
    enough that the noise, in grid steps, is sampled accurately by float64
    arithmetic (see the module notes of :mod:`skpriv.mechanisms`).

    Parameters
    ----------
    scale : float
        Noise scale (Laplace ``b`` or Gaussian ``sigma``), positive and finite.

    Returns
    -------
    granularity : float
        ``2**(floor(log2(scale)) - GRID_BITS)``: a power of two between
        ``scale * 2**-(GRID_BITS + 1)`` and ``scale * 2**-GRID_BITS``.

    See Also
    --------
    Laplace : Uses this grid by default.
    Gaussian : Uses this grid by default.

    Examples
    --------
    >>> from skpriv.mechanisms import grid_granularity
    >>> grid_granularity(1.0) == 2.0**-20
    True
    """
    scale = _check_positive(scale, "scale")
    _, exponent = math.frexp(scale)  # scale = m * 2**exponent, 0.5 <= m < 1
    return math.ldexp(1.0, max(exponent - 1 - GRID_BITS, -1074))


def _check_positive(value, name: str) -> float:
    if (
        not isinstance(value, (Real, np.floating, np.integer))
        or isinstance(value, (bool, np.bool_))
        or not math.isfinite(float(value))
        or float(value) <= 0
    ):
        raise ValueError(f"{name} must be a positive finite number; got {value!r}.")
    return float(value)


def _check_granularity(granularity, scale: float) -> float:
    if granularity is None:
        return grid_granularity(scale)
    granularity = _check_positive(granularity, "granularity")
    mantissa, _ = math.frexp(granularity)
    if mantissa != 0.5:
        raise ValueError(
            f"granularity must be a power of two (e.g. 2.0**-20); got {granularity!r}."
        )
    return granularity


def _check_shape(shape) -> tuple:
    if isinstance(shape, (Integral, np.integer)) and not isinstance(shape, bool):
        shape = (int(shape),)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError as exc:
        raise ValueError(
            f"shape must be an int or a tuple of ints; got {shape!r}."
        ) from exc
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not have negative entries; got {shape!r}.")
    return shape


def _check_rng(rng) -> np.random.Generator:
    return check_random_state(rng)


def _to_grid(values, granularity: float, name: str = "values") -> np.ndarray:
    """Round finite ``values`` to integer numbers of grid steps (float64)."""
    values = np.asarray(values)
    if values.dtype.kind not in "fiub":
        raise ValueError(
            f"{name} must be numeric; got an array of dtype {values.dtype}."
        )
    steps = np.empty(values.shape, dtype=np.float64)  # ours to overwrite
    with np.errstate(over="ignore", under="ignore", divide="ignore"):
        # granularity: a power of two, or an array of them (one per column).
        inverse = 1.0 / np.asarray(granularity, dtype=np.float64)
        if np.isfinite(inverse).all() and (inverse * granularity == 1.0).all():
            # Scaling by an exact power of two: x * 2**-k is x / 2**k, bit for
            # bit (both are the correctly rounded x 2**-k), and the cast to
            # float64 happens in the same pass.
            np.multiply(values, inverse, out=steps, dtype=np.float64)
        else:  # pragma: no cover - granularity below 2**-1023
            np.divide(values, granularity, out=steps, dtype=np.float64)
    if steps.size and not _all_finite(steps):
        if not np.isfinite(np.asarray(values, dtype=np.float64)).all():
            raise ValueError(
                f"{name} contains NaN or infinity; differential privacy needs "
                f"finite (and bounded) values. Clip or impute them first."
            )
        raise ValueError(
            f"{name} are too large for the noise grid of step {granularity!r}; "
            f"use a larger noise scale or rescale the data."
        )
    # The scaling is exact, so rint sees the true value.
    return np.rint(steps, out=steps)


def _all_finite(array: np.ndarray) -> bool:
    """Whether every entry is finite: one summing pass, then the exact check.

    A NaN or infinity makes the sum non-finite; so may an overflow of finite
    entries, which the element-wise check then tells apart.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.add.reduce(array, axis=None)):
            return True
    return bool(np.isfinite(array).all())


def _from_grid(steps: np.ndarray, granularity: float) -> np.ndarray:
    """Grid steps -> values; multiplication by a power of two is exact."""
    with np.errstate(over="ignore"):
        steps *= granularity
    if steps.size and not _all_finite(steps):
        raise OverflowError(
            "The noisy values overflow float64; rescale the data or reduce the "
            "noise scale."
        )
    return steps
