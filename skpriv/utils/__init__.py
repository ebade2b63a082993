"""Utilities: randomness, validation, docstrings, estimator discovery."""

from ._discovery import all_estimators
from ._random import check_random_state
from ._validation import (
    check_bounds,
    check_data_norm,
    check_delta,
    check_epsilon,
    clip_rows_l2,
    clip_to_bounds,
    resolve_bounds,
    resolve_data_norm,
)

__all__ = [
    "all_estimators",
    "check_bounds",
    "check_data_norm",
    "check_delta",
    "check_epsilon",
    "check_random_state",
    "clip_rows_l2",
    "clip_to_bounds",
    "resolve_bounds",
    "resolve_data_norm",
]
