"""Differentially private linear models."""

from ._linear import DPLinearRegression
from ._logistic import DPLogisticRegression

__all__ = ["DPLinearRegression", "DPLogisticRegression"]
