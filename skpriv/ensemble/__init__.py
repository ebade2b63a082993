"""Private knowledge transfer from teacher ensembles (PATE)."""

from ._pate import PATEClassifier

__all__ = ["PATEClassifier"]
