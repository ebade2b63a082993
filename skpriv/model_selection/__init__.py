"""Model selection on private data: private hyperparameter search (random
stopping) and a cross-validation splitter stable under adding a row."""

from ._search import PrivateGridSearchCV, PrivateRandomizedSearchCV
from ._split import StableKFold

__all__ = ["PrivateGridSearchCV", "PrivateRandomizedSearchCV", "StableKFold"]
