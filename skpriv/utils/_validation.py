"""Validation of privacy parameters, bounds and norms, and clipping."""

import math
import warnings
from numbers import Real

import numpy as np

from ..exceptions import PrivacyLeakWarning

__all__ = [
    "check_bounds",
    "check_data_norm",
    "check_delta",
    "check_epsilon",
    "clip_rows_l2",
    "clip_to_bounds",
    "resolve_bounds",
    "resolve_data_norm",
]


def _is_real_scalar(value) -> bool:
    return isinstance(value, (Real, np.floating, np.integer)) and not isinstance(
        value, (bool, np.bool_)
    )


def check_epsilon(epsilon, name: str = "epsilon") -> float:
    """Return ``epsilon`` as a float, or raise if it is not finite and > 0."""
    if not _is_real_scalar(epsilon):
        raise ValueError(
            f"{name} must be a positive finite real number; got {epsilon!r} "
            f"of type {type(epsilon).__name__}."
        )
    epsilon = float(epsilon)
    if not math.isfinite(epsilon) or epsilon <= 0:
        raise ValueError(
            f"{name} must be a positive finite real number; got {epsilon!r}. "
            f"Use a value such as {name}=1.0; smaller means more private."
        )
    return epsilon


def check_delta(delta, name: str = "delta", *, allow_zero: bool = True) -> float:
    """Return ``delta`` as a float in [0, 1) (or (0, 1)), else raise."""
    if not _is_real_scalar(delta):
        raise ValueError(
            f"{name} must be a real number in [0, 1); got {delta!r} of type "
            f"{type(delta).__name__}."
        )
    delta = float(delta)
    low_ok = delta >= 0 if allow_zero else delta > 0
    if not (math.isfinite(delta) and low_ok and delta < 1):
        interval = "[0, 1)" if allow_zero else "(0, 1)"
        raise ValueError(
            f"{name} must lie in {interval}; got {delta!r}. A typical choice is "
            f"{name}=1e-5, well below 1 / n_samples."
        )
    return delta


def check_bounds(bounds, n_features: int, *, dtype=np.float64, name: str = "bounds"):
    """Validate ``(lower, upper)`` and broadcast each to shape ``(n_features,)``.

    Parameters
    ----------
    bounds : tuple of (array-like or float, array-like or float)
        Lower and upper bounds: scalars or arrays of length ``n_features``.
    n_features : int
        Number of features the bounds must cover.

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
    """
    if not isinstance(bounds, (tuple, list)) or len(bounds) != 2:
        raise ValueError(
            f"{name} must be a tuple (lower, upper) of scalars or arrays of "
            f"length n_features={n_features}; got {bounds!r}."
        )
    out = []
    for which, value in zip(("lower", "upper"), bounds):
        try:
            arr = np.asarray(value, dtype=dtype)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{name}: {which} bound is not numeric: {value!r}."
            ) from exc
        if arr.ndim == 0:
            arr = np.full(n_features, arr, dtype=dtype)
        if arr.ndim != 1 or arr.shape[0] != n_features:
            raise ValueError(
                f"{name}: {which} bound must be a scalar or have shape "
                f"({n_features},) to match n_features; got shape {arr.shape}."
            )
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name}: {which} bound must be finite; got {value!r}.")
        out.append(arr)
    lower, upper = out
    bad = np.flatnonzero(lower >= upper)
    if bad.size:
        j = int(bad[0])
        raise ValueError(
            f"{name}: lower must be strictly less than upper for every feature; "
            f"feature {j} has lower={lower[j]!r} >= upper={upper[j]!r}."
        )
    return lower, upper


def resolve_bounds(bounds, X, *, name: str = "bounds"):
    """Return validated ``(lower, upper)``; take them from ``X`` with a warning.

    With ``bounds=None`` the per-feature min and max of ``X`` are used and a
    :class:`~skpriv.exceptions.PrivacyLeakWarning` is raised. Features with a
    single value get a unit-width interval so that lower < upper holds.
    """
    X = np.asarray(X)
    n_features = X.shape[1]
    if bounds is None:
        warnings.warn(
            f"{name}=None: bounds are taken from the training data, which leaks "
            f"information outside the differential privacy guarantee. Pass public "
            f"{name}=(lower, upper) to avoid this.",
            PrivacyLeakWarning,
            stacklevel=3,
        )
        lower = np.min(X, axis=0).astype(np.float64)
        upper = np.max(X, axis=0).astype(np.float64)
        flat = lower >= upper
        upper = np.where(flat, lower + 1.0, upper)
        return lower, upper
    return check_bounds(bounds, n_features, name=name)


def clip_to_bounds(X, lower, upper):
    """Clip each column of ``X`` into ``[lower_j, upper_j]`` (a new array)."""
    return np.clip(X, lower, upper)


def check_data_norm(data_norm, name: str = "data_norm") -> float:
    """Validate a numeric ``data_norm`` (> 0, finite)."""
    if (
        not _is_real_scalar(data_norm)
        or not math.isfinite(float(data_norm))
        or float(data_norm) <= 0
    ):
        raise ValueError(
            f"{name} must be a positive finite number, 'private' or None; got "
            f"{data_norm!r}."
        )
    return float(data_norm)


def resolve_data_norm(data_norm, X, *, name: str = "data_norm") -> float:
    """Return a numeric data norm; ``None`` takes the max row norm with a warning.

    ``"private"`` is estimator specific (it spends budget) and must be resolved
    by the estimator before calling this helper.
    """
    if data_norm is None:
        warnings.warn(
            f"{name}=None: the maximum row norm is taken from the training data, "
            f"which leaks information outside the differential privacy "
            f"guarantee. Pass a public {name} to avoid this.",
            PrivacyLeakWarning,
            stacklevel=3,
        )
        norms = np.linalg.norm(np.asarray(X, dtype=np.float64), axis=1)
        top = float(norms.max()) if norms.size else 0.0
        return top if top > 0 else 1.0
    return check_data_norm(data_norm, name=name)


def clip_rows_l2(X, max_norm: float):
    """Scale every row of ``X`` whose L2 norm exceeds ``max_norm`` down onto it."""
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    scale = np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(np.float64).tiny))
    return X * scale
