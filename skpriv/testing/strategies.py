"""Hypothesis strategies for privacy code: bounded data, neighbours, PII frames.

Importing this module imports hypothesis (``pip install skpriv[testing]``);
``import skpriv.testing`` alone does not.
"""

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as exc:  # pragma: no cover - depends on the install
    raise ImportError(
        "skpriv.testing.strategies needs hypothesis; install it with "
        "pip install 'skpriv[testing]'."
    ) from exc

__all__ = ["bounded_arrays", "dataframes_with_pii", "neighbouring_datasets"]


def _check_bounds(bounds):
    lo, hi = (float(b) for b in bounds)
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"bounds must be finite with lower < upper; got {bounds!r}.")
    return lo, hi


def bounded_arrays(
    *, n_samples=(1, 50), n_features=(1, 5), bounds=(0.0, 1.0), at_bounds=0.2
):
    """Strategy for 2-D float arrays whose every value lies in ``bounds``.

    Values on the bounds themselves (the worst case for clipping and
    sensitivity) are drawn with probability about ``at_bounds`` each.

    Parameters
    ----------
    n_samples : int or (int, int), default=(1, 50)
        Number of rows, or an inclusive range of it.
    n_features : int or (int, int), default=(1, 5)
        Number of columns, or an inclusive range of it.
    bounds : (float, float), default=(0.0, 1.0)
        Closed interval of the values.
    at_bounds : float, default=0.2
        Share of values placed exactly on a bound, in [0, 1].

    Returns
    -------
    strategy : hypothesis SearchStrategy
        Draws ``ndarray`` of shape ``(n_samples, n_features)``, float64.

    See Also
    --------
    neighbouring_datasets : Pairs of such arrays one row apart.

    Examples
    --------
    >>> from hypothesis import given
    >>> from skpriv.testing.strategies import bounded_arrays
    >>> @given(bounded_arrays(bounds=(-1, 1)))
    ... def test_in_bounds(X):
    ...     assert ((X >= -1) & (X <= 1)).all()
    >>> test_in_bounds()
    """
    lo, hi = _check_bounds(bounds)
    if not 0 <= at_bounds <= 1:
        raise ValueError(f"at_bounds must lie in [0, 1]; got {at_bounds!r}.")
    rows = _size(n_samples, "n_samples")
    cols = _size(n_features, "n_features")
    # A frequency weight per alternative: bounds drawn ~at_bounds of the time.
    inner = st.floats(lo, hi, allow_nan=False, allow_infinity=False)
    w = int(round(100 * at_bounds))
    element = (
        st.one_of(*([st.sampled_from([lo, hi])] * w), *([inner] * (100 - w)))
        if 0 < w < 100
        else (st.sampled_from([lo, hi]) if w == 100 else inner)
    )
    return st.tuples(rows, cols).flatmap(
        lambda shape: hnp.arrays(np.float64, shape, elements=element)
    )


def _size(value, name):
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (int(value), int(value))
    lo, hi = value
    if not 0 <= lo <= hi:
        raise ValueError(
            f"{name} must be an int >= 0 or a range (lo, hi); got {value!r}."
        )
    return st.integers(int(lo), int(hi))


def neighbouring_datasets(
    *, n_samples=(1, 50), n_features=(1, 5), bounds=(0.0, 1.0), neighbours="add_remove"
):
    """Strategy for pairs of data sets one row apart, the differing row extreme.

    The differing row is a corner of the bounds box (each value on a bound):
    the worst case for a mechanism calibrated to the bounds.

    Parameters
    ----------
    n_samples : int or (int, int), default=(1, 50)
        Rows of the smaller data set, or an inclusive range of it.
    n_features : int or (int, int), default=(1, 5)
        Number of columns, or an inclusive range of it.
    bounds : (float, float), default=(0.0, 1.0)
        Closed interval of every value.
    neighbours : {"add_remove", "replace", "any"}, default="add_remove"
        ``"add_remove"``: ``X2`` is ``X`` with the extreme row inserted at a
        random position; ``"replace"``: one row of ``X`` is swapped for it;
        ``"any"``: either.

    Returns
    -------
    strategy : hypothesis SearchStrategy
        Draws ``(X, X2)``; for ``"add_remove"`` ``len(X2) == len(X) + 1``.

    See Also
    --------
    bounded_arrays : The data sets' distribution.
    skpriv.testing.check_dp : Statistical check on neighbouring data sets.

    Examples
    --------
    >>> from hypothesis import given
    >>> from skpriv.testing.strategies import neighbouring_datasets
    >>> @given(neighbouring_datasets(n_features=2))
    ... def test_one_row_apart(pair):
    ...     X, X2 = pair
    ...     assert len(X2) == len(X) + 1
    >>> test_one_row_apart()
    """
    lo, hi = _check_bounds(bounds)
    if neighbours not in ("add_remove", "replace", "any"):
        raise ValueError(
            f"neighbours must be 'add_remove', 'replace' or 'any'; got {neighbours!r}."
        )
    n_min = _size(n_samples, "n_samples")
    n_cols = _size(n_features, "n_features")
    if neighbours != "add_remove":
        low = n_samples if isinstance(n_samples, int) else n_samples[0]
        if low < 1:
            raise ValueError("neighbours='replace' needs n_samples >= 1.")

    @st.composite
    def pairs(draw):
        d, n = draw(n_cols), draw(n_min)
        X = draw(bounded_arrays(n_samples=n, n_features=d, bounds=bounds))
        corner = draw(
            hnp.arrays(np.float64, (1, d), elements=st.sampled_from([lo, hi]))
        )
        kind = neighbours
        if kind == "any":
            kind = draw(st.sampled_from(["add_remove", "replace"]))
        if kind == "add_remove" or n == 0:
            i = draw(st.integers(0, n))
            return X, np.concatenate([X[:i], corner, X[i:]])
        i = draw(st.integers(0, n - 1))
        X2 = X.copy()
        X2[i] = corner[0]
        return X, X2

    return pairs()


_FIRST = ["Ada", "Zoë", "José", "Mei", "Olu", "Ingrid", "Łukasz", "Aarav", "Fatima"]
_LAST = ["Lovelace", "Núñez", "O'Brien", "Nguyen", "Smith-Jones", "Østergaard"]


def dataframes_with_pii(*, n_rows=(1, 30), nullable=True):
    """Strategy for pandas DataFrames of personal data in pandas dtypes.

    Columns: ``name`` and ``email`` (``string`` dtype, Unicode included),
    ``birth_date`` (``datetime64[ns]``), ``user_id`` (``Int64``, unique),
    ``zip`` (``category``), ``income`` (``Float64``) and ``consent``
    (``boolean``). With ``nullable=True`` every column but ``user_id`` may
    hold missing values (``pd.NA`` / ``NaT``).

    Parameters
    ----------
    n_rows : int or (int, int), default=(1, 30)
        Number of rows, or an inclusive range of it.
    nullable : bool, default=True
        Whether missing values are drawn.

    Returns
    -------
    strategy : hypothesis SearchStrategy
        Draws ``pandas.DataFrame`` with the columns above.

    See Also
    --------
    skpriv.preprocessing.Masker : Masks such columns.
    skpriv.encryption.ColumnEncryptor : Encrypts them.

    Examples
    --------
    >>> from hypothesis import given, settings
    >>> from skpriv.testing.strategies import dataframes_with_pii
    >>> @settings(max_examples=10)
    ... @given(dataframes_with_pii())
    ... def test_ids_unique(df):
    ...     assert df["user_id"].is_unique
    >>> test_ids_unique()
    """
    import pandas as pd

    rows = _size(n_rows, "n_rows")

    def maybe(strategy):
        return st.one_of(st.none(), strategy) if nullable else strategy

    name = st.builds(
        lambda f, last, extra: f"{f} {last}{extra}",
        st.sampled_from(_FIRST),
        st.sampled_from(_LAST),
        st.text(alphabet=st.characters(categories=["L"]), max_size=3),
    )
    local = st.text(
        alphabet="abcdefghijklmnopqrstuvwxyz0123456789._+", min_size=1, max_size=12
    )
    domain = st.sampled_from(["example.com", "mail.example.org", "bücher.example"])
    email = st.builds(lambda u, d: f"{u}@{d}", local, domain)
    date = st.datetimes(
        min_value=pd.Timestamp("1920-01-01").to_pydatetime(),
        max_value=pd.Timestamp("2015-12-31").to_pydatetime(),
    )
    zipcode = st.sampled_from(["10115", "75001", "SW1A 1AA", "94105"])
    income = st.floats(0, 1e6, allow_nan=False)

    @st.composite
    def frames(draw):
        n = draw(rows)
        ids = draw(st.lists(st.integers(1, 2**53), min_size=n, max_size=n, unique=True))
        cols = {
            "name": pd.array([draw(maybe(name)) for _ in range(n)], dtype="string"),
            "email": pd.array([draw(maybe(email)) for _ in range(n)], dtype="string"),
            "birth_date": pd.to_datetime(
                pd.Series([draw(maybe(date)) for _ in range(n)], dtype=object)
            ).astype("datetime64[ns]"),
            "user_id": pd.array(ids, dtype="Int64"),
            "zip": pd.Categorical(
                [draw(maybe(zipcode)) for _ in range(n)],
                categories=["10115", "75001", "94105", "SW1A 1AA"],
            ),
            "income": pd.array(
                [draw(maybe(income)) for _ in range(n)], dtype="Float64"
            ),
            "consent": pd.array(
                [draw(maybe(st.booleans())) for _ in range(n)], dtype="boolean"
            ),
        }
        return pd.DataFrame(cols)

    return frames()
