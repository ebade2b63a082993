"""Vectorized, floating-point-safe noise mechanisms.

``Laplace`` and ``Gaussian`` round values to a power-of-two grid and add noise
on that grid (OpenDP's and Google's approach); ``DiscreteLaplace`` adds
integer noise to integers; ``KaryRandomizedResponse`` randomizes category
codes. All draw whole arrays at once from a ``numpy.random.Generator``
(``rng``): pass one from :func:`skpriv.utils.check_random_state`; ``None``
draws from OS entropy, a fixed integer seed is reproducible and not private.

Why a grid
----------
Adding floating-point noise to a floating-point value leaks the value through
the low-order bits of the result (Mironov 2012; Jin et al. 2022 for Gaussian
samplers): ``x + noise`` can take values that ``x' + noise`` never takes. The
samplers here follow OpenDP and Google's differential privacy library instead:

1. the value is rounded to the nearest multiple of a power of two
   ``granularity`` (``2**k``), so it becomes an exact integer ``r`` of grid
   steps (division by a power of two is exact in binary floating point);
2. the noise is drawn on the same grid, as an integer number ``N`` of steps
   (continuous noise of scale ``scale / granularity`` rounded to the nearest
   integer);
3. the output is ``(r + N) * granularity``.

Every output is a multiple of ``granularity``, whatever the input, so the
low-order bits carry nothing. ``r + rint(L)`` equals ``rint(r + L)`` for an
integer ``r``: it is post-processing of the ideal continuous mechanism applied
to the grid value, so it keeps that mechanism's exact guarantee (Laplace,
analytic Gaussian) with the sensitivity of the *rounded* values. Rounding
moves a value by at most ``granularity / 2``, so it adds at most
``granularity`` to the sensitivity of each coordinate (``n_dims *
granularity`` in L1, ``sqrt(n_dims) * granularity`` in L2); the calibration
helpers include that term.

The grid is ``2**GRID_BITS`` times finer than the noise scale, so the output
is continuous for every practical purpose while the noise, in grid units, has
``2**(52 - GRID_BITS)`` representable floats per integer (its probability mass
function is accurate to about ``2**-30`` relative, far below statistical
relevance; only tails beyond about 30 noise scales, of probability below
``1e-13``, are coarser).

``TorchGaussian`` is the same Gaussian for torch tensors on any device (DP-SGD
noise); it is imported on first use, so importing skpriv never imports torch.
"""

from ._gaussian import Gaussian
from ._grid import GRID_BITS, grid_granularity
from ._laplace import DiscreteLaplace, Laplace
from ._randomized_response import KaryRandomizedResponse

__all__ = [
    "DiscreteLaplace",
    "GRID_BITS",
    "Gaussian",
    "KaryRandomizedResponse",
    "Laplace",
    "TorchGaussian",
    "grid_granularity",
]


def __getattr__(name):
    # Lazy: torch is an optional extra.
    if name == "TorchGaussian":
        from ._torch import TorchGaussian

        return TorchGaussian
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
