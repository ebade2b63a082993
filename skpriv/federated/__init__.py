"""Federated learning: federated averaging meta-estimators with client-level DP
and secure aggregation; :mod:`skpriv.federated.flower` runs them on Flower."""

from ._adapters import ParameterAdapter, register_adapter
from ._classes import FederatedClassifier, FederatedRegressor
from ._secagg import SecureAggregationError

__all__ = [
    "FederatedClassifier",
    "FederatedRegressor",
    "ParameterAdapter",
    "SecureAggregationError",
    "register_adapter",
]
