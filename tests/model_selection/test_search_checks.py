"""scikit-learn's and skpriv's checks on a private search (the factory the
common test table needs; see the issue-15 report)."""

import pytest

from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import PrivateGridSearchCV, PrivateRandomizedSearchCV
from skpriv.testing import parametrize_with_checks


def _factory(cls):
    grid = {"C": [0.5, 2.0]}
    other = (
        {"param_grid": grid}
        if cls is PrivateGridSearchCV
        else {"param_distributions": grid, "n_iter": 2}
    )
    # A budget at which the checks' easy problems are learnt; geometric
    # trials (never 0, quick to plan), few of them.
    return cls(
        DPLogisticRegression(),
        validation_fraction=0.5,
        epsilon=50.0,
        distribution="geometric",
        mean_trials=2,
        random_state=0,
        **other,
    )


#: The entries proposed for skpriv/testing/_checks.py (issue-15 report).
EXPECTED_FAILURES = {
    "check_noise_shrinks_with_epsilon": (
        "at epsilon=0.05 every trial's DPLogisticRegression shrinks to "
        "near-zero coefficients (probabilities near 0.5, little spread across "
        "seeds), while at 1000 the seeds select different candidates on "
        "different splits"
    ),
    "check_estimators_nan_inf": (
        "the search splits the rows before the estimator validates them; on "
        "the check's 10 rows a trial's training part can hold one class, "
        "whose error comes first (sklearn's searches do not validate either)"
    ),
}

INSTANCES = [_factory(PrivateGridSearchCV), _factory(PrivateRandomizedSearchCV)]


@parametrize_with_checks(INSTANCES)
@pytest.mark.filterwarnings("ignore::skpriv.exceptions.PrivacyLeakWarning")
def test_private_search_checks(estimator, check):
    name = getattr(check, "func", check).__name__
    if name in EXPECTED_FAILURES:
        pytest.xfail(EXPECTED_FAILURES[name])
    check(estimator)


def test_split_hashes_the_same_numbers_the_same_in_any_container():
    # check_classifier_data_not_an_array failed: a DataFrame of ints hashed
    # its rows by repr, an ndarray by float64 bytes, so the same rows fell in
    # different parts and the searches differed.
    import numpy as np
    import pandas as pd

    from skpriv.model_selection._split import _row_bytes

    X = np.array([[3, 0], [0, 1], [4, 4]])
    as_float = list(_row_bytes(X.astype(np.float64)))
    assert list(_row_bytes(X)) == as_float
    assert list(_row_bytes(pd.DataFrame(X))) == as_float
    assert list(_row_bytes(X.astype(np.int32))) == as_float
