"""Differentially private matrix decomposition."""

from ._pca import DPPCA

__all__ = ["DPPCA"]
