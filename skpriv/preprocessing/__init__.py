"""skpriv.preprocessing."""

from ._masking import Masker
from ._noise import GaussianNoise, LaplaceNoise
from ._randomized_response import RandomizedResponse

__all__ = ["GaussianNoise", "LaplaceNoise", "Masker", "RandomizedResponse"]
