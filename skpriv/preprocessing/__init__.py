"""skpriv.preprocessing."""

from ._masking import Masker

__all__ = ["Masker"]
