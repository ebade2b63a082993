"""Validation of privacy parameters, bounds and norms, and clipping."""

import math
import warnings
from numbers import Real

import numpy as np

from ..exceptions import PrivacyLeakWarning
from ._sklearn_compat import validate_data

__all__ = [
    "as_object_array",
    "column_objects",
    "is_missing",
    "to_text",
    "typed_columns_as_object",
    "validate_quietly",
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
    """Return ``epsilon`` as a float, or raise if it is not finite and > 0.

    Estimators call this at the start of ``fit``, before any work, so that an
    invalid privacy parameter fails early and spends no budget. Booleans,
    strings, ``nan``, ``inf``, zero and negative values are rejected with a
    message that names the parameter.

    Parameters
    ----------
    epsilon : float
        Privacy parameter to validate; ints and numpy scalars are accepted.
    name : str, default="epsilon"
        Name of the parameter, used in the error message.

    Returns
    -------
    epsilon : float
        ``epsilon`` as a Python float.

    Raises
    ------
    ValueError
        If ``epsilon`` is not a real number, not finite or not positive.

    See Also
    --------
    check_delta : The same for ``delta``.

    Examples
    --------
    >>> from skpriv.utils import check_epsilon
    >>> check_epsilon(1)
    1.0
    >>> check_epsilon(0)
    Traceback (most recent call last):
        ...
    ValueError: epsilon must be a positive finite real number; got 0.0. ...
    """
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
    """Return ``delta`` as a float in [0, 1) (or (0, 1)), else raise.

    ``delta = 0`` means pure DP and is accepted unless ``allow_zero=False``,
    as for the Gaussian mechanism, which needs a positive delta. Booleans,
    strings, ``nan`` and values outside the interval are rejected with a
    message that names the parameter.

    Parameters
    ----------
    delta : float
        Privacy parameter to validate; ints and numpy scalars are accepted.
    name : str, default="delta"
        Name of the parameter, used in the error message.
    allow_zero : bool, default=True
        Whether ``delta = 0`` is valid, i.e. the interval is [0, 1) rather
        than (0, 1).

    Returns
    -------
    delta : float
        ``delta`` as a Python float.

    Raises
    ------
    ValueError
        If ``delta`` is not a real number or lies outside the interval.

    See Also
    --------
    check_epsilon : The same for ``epsilon``.

    Examples
    --------
    >>> from skpriv.utils import check_delta
    >>> check_delta(0)
    0.0
    >>> check_delta(1e-5, allow_zero=False)
    1e-05
    >>> check_delta(0, allow_zero=False)
    Traceback (most recent call last):
        ...
    ValueError: delta must lie in (0, 1); got 0.0. ...
    """
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

    Each bound may be a scalar (the same for every feature) or an array of
    length ``n_features``. Both must be finite, and ``lower < upper`` must hold
    strictly for every feature, since the width of the interval is the
    sensitivity the noise is calibrated to.

    Parameters
    ----------
    bounds : tuple of (array-like or float, array-like or float)
        Lower and upper bounds: scalars or arrays of length ``n_features``.
    n_features : int
        Number of features the bounds must cover.
    dtype : data-type, default=np.float64
        Data type of the returned arrays.
    name : str, default="bounds"
        Name of the parameter, used in error messages.

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
        The lower and the upper bound of each feature.

    Raises
    ------
    ValueError
        If ``bounds`` is not a pair, a bound is not numeric, not finite or of
        the wrong shape, or ``lower >= upper`` for some feature.

    See Also
    --------
    resolve_bounds : The same, or bounds from the data when ``bounds=None``.
    clip_to_bounds : Clip data into the bounds.

    Examples
    --------
    >>> from skpriv.utils import check_bounds
    >>> lower, upper = check_bounds((0, [1, 2, 3]), n_features=3)
    >>> lower
    array([0., 0., 0.])
    >>> upper
    array([1., 2., 3.])
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

    Parameters
    ----------
    bounds : tuple of (array-like or float, array-like or float) or None
        Public ``(lower, upper)`` bounds, validated by :func:`check_bounds`, or
        ``None`` to read them from ``X`` (not private).
    X : array-like of shape (n_samples, n_features)
        The data; only its number of features is used unless ``bounds=None``.
    name : str, default="bounds"
        Name of the parameter, used in the warning and error messages.

    Returns
    -------
    lower, upper : ndarray of shape (n_features,)
        The lower and the upper bound of each feature, as float64.

    Warns
    -----
    PrivacyLeakWarning
        When ``bounds=None``.

    See Also
    --------
    check_bounds : Validation of explicit bounds.
    resolve_data_norm : The same for a bound on the rows' L2 norm.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skpriv.utils import resolve_bounds
    >>> X = np.array([[0.0, 10.0], [2.0, 10.0], [1.0, 10.0]])
    >>> resolve_bounds((0, [1, 20]), X)
    (array([0., 0.]), array([ 1., 20.]))

    Bounds read from the data leak information, and say so:

    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     lower, upper = resolve_bounds(None, X)
    >>> caught[0].category.__name__
    'PrivacyLeakWarning'
    >>> upper
    array([ 2., 11.])
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
    """Clip each column of ``X`` into ``[lower_j, upper_j]`` (a new array).

    Clipping bounds every value's influence, which is what makes the
    sensitivity of bounded mechanisms hold for data outside the bounds. ``X``
    itself is left unchanged.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data to clip.
    lower : array-like of shape (n_features,) or float
        Lower bound of each feature.
    upper : array-like of shape (n_features,) or float
        Upper bound of each feature.

    Returns
    -------
    X_clipped : ndarray of shape (n_samples, n_features)
        ``X`` with each column clipped into its bounds.

    See Also
    --------
    check_bounds : Validate and broadcast the bounds.
    clip_rows_l2 : Clip the rows' L2 norm instead.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.utils import clip_to_bounds
    >>> clip_to_bounds(np.array([[-1.0, 0.5], [2.0, 3.0]]), [0, 0], [1, 1])
    array([[0. , 0.5],
           [1. , 1. ]])
    """
    return np.clip(X, lower, upper)


def check_data_norm(data_norm, name: str = "data_norm") -> float:
    """Validate a numeric ``data_norm`` (> 0, finite).

    ``data_norm`` bounds the L2 norm of every row of the data (rows above it
    are clipped), and so sets the sensitivity of norm-bounded mechanisms. The
    special values ``None`` and ``"private"`` are handled by
    :func:`resolve_data_norm` and by the estimators, not here.

    Parameters
    ----------
    data_norm : float
        The bound to validate; ints and numpy scalars are accepted.
    name : str, default="data_norm"
        Name of the parameter, used in the error message.

    Returns
    -------
    data_norm : float
        ``data_norm`` as a Python float.

    Raises
    ------
    ValueError
        If ``data_norm`` is not a positive finite real number.

    See Also
    --------
    resolve_data_norm : The same, or the data's norm when ``data_norm=None``.
    clip_rows_l2 : Clip rows to the norm.

    Examples
    --------
    >>> from skpriv.utils import check_data_norm
    >>> check_data_norm(3)
    3.0
    """
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
    by the estimator before calling this helper. With ``data_norm=None`` the
    largest L2 norm of a row of ``X`` is used (``1.0`` if every row is zero)
    and a :class:`~skpriv.exceptions.PrivacyLeakWarning` is raised.

    Parameters
    ----------
    data_norm : float or None
        Public bound on the L2 norm of the rows, validated by
        :func:`check_data_norm`, or ``None`` to read it from ``X`` (not
        private).
    X : array-like of shape (n_samples, n_features)
        The data; only used when ``data_norm=None``.
    name : str, default="data_norm"
        Name of the parameter, used in the warning and error messages.

    Returns
    -------
    data_norm : float
        The bound on the rows' L2 norm.

    Warns
    -----
    PrivacyLeakWarning
        When ``data_norm=None``.

    See Also
    --------
    check_data_norm : Validation of an explicit norm.
    clip_rows_l2 : Clip rows to the norm.
    resolve_bounds : The same for per-feature bounds.

    Examples
    --------
    >>> import warnings
    >>> import numpy as np
    >>> from skpriv.utils import resolve_data_norm
    >>> X = np.array([[3.0, 4.0], [0.0, 1.0]])
    >>> resolve_data_norm(2.0, X)
    2.0
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     norm = resolve_data_norm(None, X)
    >>> norm, caught[0].category.__name__
    (5.0, 'PrivacyLeakWarning')
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
    """Scale every row of ``X`` whose L2 norm exceeds ``max_norm`` down onto it.

    Rows within the ball of radius ``max_norm`` are unchanged; the others keep
    their direction and get norm ``max_norm``. This bounds each row's
    influence, as norm-based sensitivities (e.g. of DP logistic regression)
    require.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        The data to clip.
    max_norm : float
        Largest L2 norm a row may have (> 0).

    Returns
    -------
    X_clipped : ndarray of shape (n_samples, n_features)
        A new float64 array with every row's L2 norm at most ``max_norm``.

    See Also
    --------
    resolve_data_norm : Choose ``max_norm``.
    clip_to_bounds : Clip each feature into an interval instead.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.utils import clip_rows_l2
    >>> clip_rows_l2(np.array([[3.0, 4.0], [0.3, 0.4]]), max_norm=1.0)
    array([[0.6, 0.8],
           [0.3, 0.4]])
    """
    X = np.asarray(X, dtype=np.float64)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    scale = np.minimum(1.0, max_norm / np.maximum(norms, np.finfo(np.float64).tiny))
    return X * scale


# --------------------------------------------------------------------------
# Column helpers for transformers of mixed, text and typed columns (masking,
# encryption, randomized response): each cell keeps its exact value and type.
# --------------------------------------------------------------------------


def is_missing(column: np.ndarray) -> np.ndarray:
    """Boolean mask of None / NaN / NaT / pd.NA cells of a 1-D array."""
    column = np.asarray(column)
    if column.dtype.kind in "fc":
        return np.isnan(column)
    if column.dtype.kind == "M":
        return np.isnat(column)
    if column.dtype.kind != "O":
        return np.zeros(column.shape, dtype=bool)
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        return np.fromiter(
            (v is None or (isinstance(v, float) and v != v) for v in column),
            dtype=bool,
            count=len(column),
        )
    return np.asarray(pd.isna(column), dtype=bool)


def typed_columns_as_object(X, *, nullable=False):
    """A DataFrame's categorical and date/time columns as object columns.

    scikit-learn's ``check_array(dtype=None)`` fails on DataFrames that mix
    such a column with bool, integer or float columns: it casts the frame to
    float ("Cannot cast str dtype to float64", "Cannot cast DatetimeArray to
    dtype float64") or finds no common dtype (``DTypePromotionError``).
    Object columns keep every value as it is. Anything else (arrays, frames of
    one dtype) is returned unchanged.

    With ``nullable=True`` pandas' nullable integer and boolean columns
    (``Int64``, ``boolean``) become object columns too, always: ``check_array``
    turns them into floats (``True`` -> ``1.0``, and ``1001`` -> ``1001.0``
    only in some frames), where the exact value type matters.
    """
    dtypes = getattr(X, "dtypes", None)
    if dtypes is None or getattr(X, "ndim", None) != 2:
        return X
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        return X
    if not isinstance(X, pd.DataFrame):
        return X
    special = (
        pd.CategoricalDtype,
        pd.DatetimeTZDtype,
        pd.PeriodDtype,
        pd.IntervalDtype,
    )
    positions = [
        j
        for j, dt in enumerate(dtypes)
        if isinstance(dt, special) or (isinstance(dt, np.dtype) and dt.kind in "Mm")
    ]
    mixed = len({str(dt) for dt in dtypes}) > 1
    if not mixed:
        positions = []
    if nullable:
        positions += [
            j
            for j, dt in enumerate(dtypes)
            if isinstance(dt, pd.api.extensions.ExtensionDtype)
            and (pd.api.types.is_integer_dtype(dt) or pd.api.types.is_bool_dtype(dt))
        ]
    if not positions:
        return X
    X = X.copy(deep=False)
    for j in positions:
        X.isetitem(j, X.iloc[:, j].astype(object))
    return X


def validate_quietly(estimator, X, **kwargs):
    """``validate_data`` whose errors never quote the values of ``X``.

    scikit-learn's messages for 1-D or complex input print the array, and
    numpy's failed float conversion prints the cell: private values that
    would end up in logs. The same errors are raised without them.
    """
    try:
        return validate_data(estimator, X, **kwargs)
    except ValueError as exc:
        message = str(exc)
        if "Expected 2D array" in message:
            reason = (
                "Expected 2D array of shape (n_samples, n_features), got a 1-D "
                "array or a scalar. Reshape your data: X.reshape(-1, 1) or "
                "df[[name]] for a single column"
            )
        elif "Complex data not supported" in message:
            reason = "Complex data not supported"
        elif "could not convert" in message:
            reason = (
                "X must be numeric but holds values that are not numbers; "
                "encode or drop those columns first, e.g. with a "
                "ColumnTransformer"
            )
        else:
            raise
    raise ValueError(
        f"{type(estimator).__name__}: {reason} (values not shown, to keep them "
        f"private)."
    )


def to_text(values) -> list:
    """Values as str: strings unchanged, numpy scalars as their Python value.

    Whole floats are written as integers (``1001.0`` -> ``"1001"``): an
    integer column becomes float as soon as it holds a missing value (pandas,
    ``check_array``), and its values must keep the text, hence the pseudonym,
    they have without one.
    """
    return [v if type(v) is str else _scalar_text(v) for v in values]


_MAX_EXACT_INT = 2.0**53


def _scalar_text(v) -> str:
    if isinstance(v, bytes):
        return v.decode("utf-8", "surrogateescape")
    if isinstance(v, np.generic):
        v = v.item()
    if type(v) is float and v.is_integer() and abs(v) < _MAX_EXACT_INT:
        return str(int(v))
    return str(v)


def as_object_array(values: list) -> np.ndarray:
    """A 1-D object array holding exactly the given Python objects."""
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def column_objects(column: np.ndarray) -> list:
    """The cells of a 1-D array as Python objects, whatever the array's unit.

    ``tolist()`` of ``datetime64[ns]`` (or ``timedelta64[ns]``) gives integer
    nanoseconds where other units give ``datetime`` objects; here every date
    or duration becomes a pandas ``Timestamp`` / ``Timedelta`` (``datetime``
    / ``timedelta`` without pandas), so its text is the same in any unit and
    in object columns (``str(pd.Timestamp("1950-03-04"))`` is
    ``"1950-03-04 00:00:00"``).
    """
    column = np.asarray(column)
    if column.dtype.kind not in "Mm":
        return column.tolist()
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas is optional
        unit = "datetime64[us]" if column.dtype.kind == "M" else "timedelta64[us]"
        return column.astype(unit).tolist()
    return pd.Series(column, copy=False).astype(object).tolist()
