"""Shared by skpriv's Flower client and server: configuration and model structure.

Imported only through :mod:`skpriv.federated.flower` (it needs Flower).
"""

import numpy as np
from sklearn.base import clone

from ..utils._random import check_random_state
from ._adapters import get_adapter
from ._base import BaseFederated

__all__ = ["FederationFailedError"]


class FederationFailedError(RuntimeError):
    """A Flower round could not complete (clients missing or lost).

    Raised by the server's strategy; the run stops and no model is released
    (:func:`fitted_estimator` refuses the strategy).
    """


def _check_bounds(param_bound, max_client_rows):
    if not (np.isfinite(param_bound) and param_bound > 0):
        raise ValueError(
            f"param_bound must be a positive number (the largest magnitude a "
            f"model parameter may take); got {param_bound!r}."
        )
    if max_client_rows is None or int(max_client_rows) < 1:
        raise ValueError(
            "secure_aggregation=True on Flower needs max_client_rows, a public "
            "bound on the number of rows of any one client (SecAgg+ weighs "
            "each client by its rows over this bound); pass e.g. "
            "max_client_rows=10_000 to both make_server_app and make_client_app."
        )


def _check_config(estimator):
    if not isinstance(estimator, BaseFederated):
        raise TypeError(
            f"estimator must be a FederatedClassifier or FederatedRegressor "
            f"configuration; got {type(estimator).__name__}."
        )
    estimator._validate_params()
    estimator._check_config()


def _inner(estimator):
    base = estimator.estimator
    return estimator._default_estimator() if base is None else base


def _structure(estimator, n_features, classes, seed):
    """The inner model with its public structure and initial global weights."""
    base = _inner(estimator)
    adapter = get_adapter(base)
    inner_classes = None
    if classes is not None:
        classes = np.asarray(classes)
        inner_classes = np.arange(len(classes)) if adapter.encode_labels else classes
    model = adapter.initialize(
        clone(base), int(n_features), inner_classes, check_random_state(seed)
    )
    return adapter, model, inner_classes


# Shown (and documented) where users import it from.
FederationFailedError.__module__ = "skpriv.federated.flower"
