"""Private ensembles: PATE (teacher ensembles) and DP random forests."""

from ._forest import DPRandomForestClassifier
from ._pate import PATEClassifier

__all__ = ["DPRandomForestClassifier", "PATEClassifier"]
