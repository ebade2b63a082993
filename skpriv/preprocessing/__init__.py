"""skpriv.preprocessing."""

from ._masking import Masker
from ._microaggregation import Microaggregator
from ._noise import GaussianNoise, LaplaceNoise
from ._randomized_response import RandomizedResponse
from ._scalers import DPMinMaxScaler, DPStandardScaler

__all__ = [
    "DPMinMaxScaler",
    "DPStandardScaler",
    "GaussianNoise",
    "LaplaceNoise",
    "Masker",
    "Microaggregator",
    "RandomizedResponse",
]
