"""The hypothesis strategies generate what they claim."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import find, given, settings

from skpriv.testing.strategies import (
    bounded_arrays,
    dataframes_with_pii,
    neighbouring_datasets,
)


def test_import_testing_does_not_import_hypothesis():
    code = (
        "import sys, skpriv.testing; skpriv.testing.check_dp; "
        "assert 'hypothesis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@settings(max_examples=50, deadline=None)
@given(bounded_arrays(n_samples=(1, 20), n_features=(1, 4), bounds=(-2, 3)))
def test_bounded_arrays_stay_in_bounds(X):
    assert X.dtype == np.float64 and X.ndim == 2
    assert 1 <= X.shape[0] <= 20 and 1 <= X.shape[1] <= 4
    assert ((X >= -2) & (X <= 3)).all()


def test_bounded_arrays_reach_both_bounds():
    # Worst cases are generated, not just interior points.
    find(bounded_arrays(bounds=(0, 1)), lambda X: (X == 0).any() and (X == 1).any())


@pytest.mark.parametrize("neighbours", ["add_remove", "replace"])
def test_neighbouring_datasets_are_one_extreme_row_apart(neighbours):
    @settings(max_examples=50, deadline=None)
    @given(
        neighbouring_datasets(n_samples=(1, 10), bounds=(-1, 1), neighbours=neighbours)
    )
    def check(pair):
        X, X2 = pair
        if neighbours == "add_remove":
            assert len(X2) == len(X) + 1
            extra = [
                r for r in X2.tolist() if X2.tolist().count(r) > X.tolist().count(r)
            ]
            assert extra and all(abs(v) == 1 for v in extra[0])
        else:
            assert X2.shape == X.shape
            diff = np.flatnonzero((X != X2).any(axis=1))
            assert diff.size <= 1
            if diff.size:
                assert (np.abs(X2[diff[0]]) == 1).all()

    check()


def test_neighbouring_datasets_reach_opposite_corners():
    find(
        neighbouring_datasets(n_features=2, neighbours="replace"),
        lambda p: bool(
            ((p[0] != p[1]).any(axis=1) & (np.abs(p[0] - p[1]) == 1).all(axis=1)).any()
        ),
    )


@settings(max_examples=30, deadline=None)
@given(dataframes_with_pii(n_rows=(1, 15)))
def test_dataframes_with_pii_dtypes(df):
    assert list(df.columns) == [
        "name",
        "email",
        "birth_date",
        "user_id",
        "zip",
        "income",
        "consent",
    ]
    assert df["name"].dtype == "string" and df["email"].dtype == "string"
    assert df["birth_date"].dtype == "datetime64[ns]"
    assert df["user_id"].dtype == "Int64" and df["user_id"].is_unique
    assert isinstance(df["zip"].dtype, pd.CategoricalDtype)
    assert df["income"].dtype == "Float64" and df["consent"].dtype == "boolean"
    assert df["email"].dropna().str.contains("@").all()


def test_dataframes_with_pii_draw_missing_values_and_unicode():
    seen = {"email_na": 0, "date_na": 0, "income_na": 0, "unicode": 0}

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(dataframes_with_pii(n_rows=(5, 10)))
    def record(df):
        seen["email_na"] += bool(df["email"].isna().any())
        seen["date_na"] += bool(df["birth_date"].isna().any())
        seen["income_na"] += bool(df["income"].isna().any())
        seen["unicode"] += any(not s.isascii() for s in df["name"].dropna())

    record()
    assert all(seen.values()), seen

    @settings(max_examples=20, deadline=None, derandomize=True)
    @given(dataframes_with_pii(nullable=False))
    def no_missing(df):
        assert not df.isna().to_numpy().any()

    no_missing()


@pytest.mark.parametrize(
    "factory, match",
    [
        (lambda: bounded_arrays(bounds=(1, 0)), "lower < upper"),
        (lambda: bounded_arrays(at_bounds=2), "at_bounds must lie"),
        (lambda: neighbouring_datasets(neighbours="x"), "neighbours must be"),
        (lambda: bounded_arrays(n_samples=(3, 1)), "n_samples must be"),
    ],
)
def test_bad_arguments(factory, match):
    with pytest.raises(ValueError, match=match):
        factory()
