"""Cross-validation folds are not neighbours: fold fits charged for g rows."""

import warnings

import dp_accounting as dpa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.model_selection import GridSearchCV, KFold, cross_validate

from skpriv.accounting import privacy_spent
from skpriv.exceptions import PrivacyLeakWarning

from ._toys import CountingClassifier

rng = np.random.default_rng(1)
N = 40
X = rng.uniform(size=(N, 3))
y = (X[:, 0] > 0.5).astype(int)


def _spent(obj, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return privacy_spent(obj, **kwargs)


def _largest_training_set_change(splitter, n):
    """Enumerate every insertion of one row into n rows: the largest change
    of a split's training set (as a set of original rows, plus the new one)."""
    base = [set(train) for train, _ in splitter.split(np.zeros((n, 1)))]
    worst = 0
    for p in range(n + 1):
        ids = np.r_[np.arange(p), -1, np.arange(p, n)]
        grown = [set(ids[train]) for train, _ in splitter.split(np.zeros((n + 1, 1)))]
        worst = max(worst, max(len(a ^ b) for a, b in zip(base, grown)))
    return worst


@pytest.mark.parametrize("n_splits", [2, 3, 5, 10])
def test_kfold_group_size_bounds_every_insertion(n_splits):
    from skpriv.accounting._planning import fold_shift

    g, _ = fold_shift(KFold(n_splits))
    worst = max(
        _largest_training_set_change(KFold(n_splits), n)
        for n in range(n_splits, 4 * n_splits + 7)
    )
    assert worst == g  # the bound is reached: it is tight


def test_kfold_search_charges_each_fold_fit_for_its_group():
    search = GridSearchCV(
        CountingClassifier(epsilon=0.5),
        {"epsilon": [0.5]},
        cv=KFold(5),
    ).fit(X, y)
    # 5 fold fits, each Laplace(1 / 0.5) charged for 3 rows, + the refit.
    acc = dpa.pld.PLDAccountant()
    event = dpa.ComposedDpEvent(
        [dpa.SelfComposedDpEvent(dpa.LaplaceDpEvent(2.0 / 3), 5), dpa.LaplaceDpEvent(2)]
    )
    assert _spent(search).epsilon == pytest.approx(5 * 3 * 0.5 + 0.5)
    acc.compose(event)
    assert _spent(search, delta=1e-6).epsilon <= acc.get_epsilon(1e-6) + 1e-3


@settings(max_examples=30, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=False, width=32), st.floats(allow_nan=False, width=32)
        ),
        min_size=12,
        max_size=40,
    ),
    new=st.tuples(st.floats(width=32), st.floats(width=32)),
    position=st.integers(0, 40),
    seed=st.integers(0, 2**32 - 1),
)
def test_stable_kfold_adding_a_row_changes_only_its_own_fold(rows, new, position, seed):
    from skpriv.model_selection import StableKFold

    cv = StableKFold(n_splits=3, random_state=seed)
    X0 = np.array(rows)
    p = min(position, len(rows))
    X1 = np.insert(X0, p, new, axis=0)
    before = cv.fold_of_rows(X0)
    after = cv.fold_of_rows(X1)
    np.testing.assert_array_equal(np.delete(after, p), before)


def test_stable_kfold_fold_does_not_depend_on_other_rows_or_signed_zero():
    from skpriv.model_selection import StableKFold

    cv = StableKFold(4, random_state=0)
    a = cv.fold_of_rows(np.array([[0.0, 1.0], [2.0, np.nan]]))
    b = cv.fold_of_rows(np.array([[5.0, 5.0], [-0.0, 1.0], [2.0, -np.nan]]))
    assert a.tolist() == b[1:].tolist()


def test_stable_kfold_works_as_cv_and_is_charged_one_row():
    from skpriv.model_selection import StableKFold

    cv = StableKFold(n_splits=4, random_state=0)
    results = cross_validate(CountingClassifier(), X, y, cv=cv)
    assert len(results["test_score"]) == 4
    search = GridSearchCV(
        CountingClassifier(epsilon=0.5), {"epsilon": [0.5]}, cv=cv
    ).fit(X, y)
    spent = _spent(search)
    assert spent.epsilon == pytest.approx(4 * 0.5 + 0.5)
    assert not any("folds" in r.reason for r in spent.uncovered)
    with pytest.raises(ValueError, match="n_splits must be an integer"):
        StableKFold(n_splits=1).get_n_splits()
    with pytest.raises(ValueError, match="left a fold empty"):
        list(StableKFold(n_splits=3, random_state=0).split(np.zeros((5, 1))))


@pytest.mark.parametrize(
    "cv", [KFold(4, shuffle=True, random_state=0), 4], ids=["shuffled", "stratified"]
)
def test_unstable_splitters_are_named_uncovered(cv):
    from skpriv.exceptions import UncoveredReleaseError

    search = GridSearchCV(CountingClassifier(epsilon=0.5), {"epsilon": [0.5]}, cv=cv)
    search.fit(X, y)
    spent = _spent(search)
    assert any(
        r.attribute == "fits" and "StableKFold" in r.reason for r in spent.uncovered
    )
    with pytest.raises(UncoveredReleaseError, match="StableKFold"):
        privacy_spent(search, strict=True)


def test_subsampled_fold_fits_have_no_group_bound_and_are_named():
    from skpriv.accounting._planning import group_event

    from ..toy import ToySubsampledGaussian

    assert (
        group_event(dpa.PoissonSampledDpEvent(0.1, dpa.GaussianDpEvent(1)), 2) is None
    )
    rr = dpa.RandomizedResponseDpEvent(2 / (np.e + 1), 2)  # epsilon 1
    from skpriv.accounting import pure_epsilon

    assert pure_epsilon(group_event(rr, 3)) == pytest.approx(3.0)
    search = GridSearchCV(
        ToySubsampledGaussian(noise_multiplier=2.0, batch_size=10, random_state=0),
        {"noise_multiplier": [2.0]},
        cv=KFold(4),
        scoring=lambda e, X, y: 0.0,
    ).fit(X, y)
    assert any(
        "no exact group-privacy bound" in r.reason for r in _spent(search).uncovered
    )
