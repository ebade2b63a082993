"""Vectorized, floating-point-safe noise mechanisms.

``Laplace`` and ``Gaussian`` round values to a power-of-two grid and add noise
on that grid (OpenDP's and Google's approach); ``DiscreteLaplace`` adds
integer noise to integers; ``KaryRandomizedResponse`` randomizes category
codes. All draw whole arrays at once from a ``numpy.random.Generator``.
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
    "grid_granularity",
]
