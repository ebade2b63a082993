"""The one place where skpriv imports scikit-learn's private helpers.

Private APIs move between scikit-learn releases; keeping their imports here
means a new release breaks (and is fixed) in one file.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
    validate_parameter_constraints,
)
from sklearn.utils.validation import _check_sample_weight, validate_data

__all__ = [
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_check_sample_weight",
    "_fit_context",
    "validate_data",
    "validate_parameter_constraints",
]
