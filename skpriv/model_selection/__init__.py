"""Model selection helpers for private data: a cross-validation splitter
stable under adding a row."""

from ._split import StableKFold

__all__ = ["StableKFold"]
