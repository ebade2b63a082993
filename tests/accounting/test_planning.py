"""privacy_spent counts every fit and release a search or meta-estimator made.

Each number is checked against an independent count: doubles that record
every row they transform and every fit (tests/accounting/_toys.py), composed
with dp-accounting directly.
"""

import warnings

import dp_accounting as dpa
import numpy as np
import pytest
from sklearn.feature_selection import RFE, RFECV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.semi_supervised import SelfTrainingClassifier

from skpriv.accounting import privacy_spent
from skpriv.exceptions import PrivacyLeakWarning

from . import _toys
from ._toys import CountingClassifier, CountingNoise

rng = np.random.default_rng(0)
N = 36
X = np.c_[np.arange(N), rng.uniform(size=(N, 3))]
y = (X[:, 1] > 0.5).astype(int)


def _spent(obj, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return privacy_spent(obj, **kwargs)


def _noise_search(**kwargs):
    _toys.ROWS_SEEN.clear()
    pipe = make_pipeline(CountingNoise(random_state=0), LogisticRegression())
    search = GridSearchCV(
        pipe, {"countingnoise__epsilon": [0.25, 0.5]}, cv=KFold(3), **kwargs
    )
    return search.fit(X, y)


def _local_epsilon(search):
    """Pure epsilon of the most released row: each release at its epsilon."""
    # Every candidate's fits release each row the same number of times (the
    # counter sums over candidates), so compose per candidate from the count.
    per_candidate = {}
    for eps in (0.25, 0.5):
        _toys.ROWS_SEEN.clear()
        single = GridSearchCV(
            make_pipeline(CountingNoise(random_state=0), LogisticRegression()),
            {"countingnoise__epsilon": [eps]},
            cv=KFold(3),
            scoring=search.scoring,
            return_train_score=search.return_train_score,
            refit=False,
        ).fit(X, y)
        assert single is not None
        per_candidate[eps] = max(_toys.ROWS_SEEN.values())
    best = search.best_params_["countingnoise__epsilon"]
    return sum(count * eps for eps, count in per_candidate.items()) + best


@pytest.mark.parametrize(
    "scoring, return_train_score",
    [
        (None, False),
        (None, True),  # 11 releases per row per candidate counted as 3
        (["accuracy", "balanced_accuracy"], True),  # one cached predict
        (["accuracy", "roc_auc", "neg_log_loss"], False),  # 3 methods
        (["accuracy", "roc_auc", "neg_log_loss"], True),
    ],
)
def test_search_counts_every_local_release_of_a_row(scoring, return_train_score):
    refit = "accuracy" if isinstance(scoring, list) else True
    search = _noise_search(
        scoring=scoring, return_train_score=return_train_score, refit=refit
    )
    total_seen = max(_toys.ROWS_SEEN.values())
    expected = _local_epsilon(search)
    # The independent count of the whole search agrees with the sum of its
    # candidates' counts (0.25 and 0.5 are released equally often).
    assert total_seen == pytest.approx((expected - 0.5) / 0.75 * 2 + 1, abs=1)
    assert _spent(search).epsilon == pytest.approx(expected)


def test_search_counts_releases_of_a_gaussian_row_with_dp_accounting():
    from skpriv.preprocessing import GaussianNoise

    Xu = X[:, 1:]
    pipe = make_pipeline(
        GaussianNoise(epsilon=1.0, delta=1e-6, bounds=(0, 1), random_state=0),
        LogisticRegression(),
    )
    search = GridSearchCV(
        pipe, {"logisticregression__C": [1.0]}, cv=KFold(4), return_train_score=True
    ).fit(Xu, y)
    event = search.best_estimator_[0].dp_event_
    # Per row: 3 training fits + 3 train scorings + 1 test scoring + refit.
    expected = dpa.get_epsilon_gaussian(
        event.noise_multiplier / np.sqrt(3 + 3 + 1 + 1), 1e-5
    )
    assert _spent(search, delta=1e-5).epsilon == pytest.approx(expected, rel=1e-6)


def test_rfe_counts_every_fit():
    _toys.FITS.clear()
    rfe = RFE(CountingClassifier(epsilon=0.5), n_features_to_select=1).fit(X, y)
    assert len(_toys.FITS) == 4  # 4 features, one dropped per round
    assert _spent(rfe).epsilon == pytest.approx(0.5 * len(_toys.FITS))


def test_rfe_of_dp_logistic_regression_composes_every_fit():
    from skpriv.linear_model import DPLogisticRegression

    Xn = X[:, 1:] / np.linalg.norm(X[:, 1:], axis=1, keepdims=True)
    dp = DPLogisticRegression(epsilon=1.0, delta=1e-6, data_norm=1.0, classes=[0, 1])
    rfe = RFE(dp, n_features_to_select=1).fit(Xn, y)
    events = [rfe.estimator_.dp_event_] * 3
    acc = dpa.pld.PLDAccountant(value_discretization_interval=1e-4)
    for event in events:
        acc.compose(event)
    expected = min(acc.get_epsilon(1e-5), privacy_spent(rfe.estimator_).epsilon * 3)
    assert _spent(rfe, delta=1e-5).epsilon == pytest.approx(expected, rel=1e-2)
    assert _spent(rfe, delta=1e-5).epsilon > 1.5 * _spent(rfe.estimator_, delta=1e-5)[0]


def test_rfe_in_a_search_counts_every_fit_of_every_fold():
    from skpriv.model_selection import StableKFold

    _toys.FITS.clear()
    search = GridSearchCV(
        RFE(CountingClassifier(epsilon=0.5), n_features_to_select=2),
        {"step": [1]},
        cv=StableKFold(3, random_state=0),
    ).fit(X, y)
    # 3 fits per RFE (4 -> 3 -> 2 features, then the final fit), 3 folds +
    # the refit: each row is in at most all of them.
    assert len(_toys.FITS) == 4 * 3
    assert _spent(search).epsilon == pytest.approx(0.5 * 12)


def test_rfecv_counts_fold_and_final_fits():
    from skpriv.model_selection import StableKFold

    _toys.FITS.clear()
    rfecv = RFECV(
        CountingClassifier(epsilon=0.5), cv=StableKFold(3, random_state=0)
    ).fit(X, y)
    assert _spent(rfecv).epsilon == pytest.approx(0.5 * len(_toys.FITS))
    kinds = {r.attribute for r in _spent(rfecv).uncovered}
    assert {"support_", "cv_results_"} <= kinds


@pytest.mark.parametrize("max_iter", [2, 10])
def test_self_training_counts_its_fits_bounded_by_max_iter(max_iter):
    yu = y.copy()
    yu[12:] = -1
    _toys.FITS.clear()
    st = SelfTrainingClassifier(
        CountingClassifier(epsilon=0.5), threshold=0.6, max_iter=max_iter
    ).fit(X, yu)
    fits = len(_toys.FITS)
    spent = _spent(st)
    # Stopping is data dependent: the bound max_iter + 1 is charged.
    assert fits <= max_iter + 1
    assert spent.epsilon == pytest.approx(0.5 * (max_iter + 1))
    assert "transduction_" in {r.attribute for r in spent.uncovered}


def test_search_plans_from_what_was_fitted_not_the_changed_template():
    est = make_pipeline(CountingNoise(epsilon=0.5), CountingClassifier(epsilon=0.25))
    search = GridSearchCV(
        est, {"countingclassifier__epsilon": [0.25]}, cv=KFold(3)
    ).fit(X, y)
    before = _spent(search).epsilon
    search.estimator.set_params(countingnoise__epsilon=0.01)
    assert _spent(search).epsilon == pytest.approx(before)


def test_search_without_refit_names_that_its_template_is_read_now():
    search = GridSearchCV(
        CountingClassifier(epsilon=0.5), {"epsilon": [0.5]}, cv=KFold(3), refit=False
    ).fit(X, y)
    spent = _spent(search)
    assert any("refit=False" in r.reason for r in spent.uncovered)


def test_cross_validate_folds_are_named_uncovered():
    results = cross_validate(
        CountingClassifier(epsilon=0.5), X, y, cv=KFold(3), return_estimator=True
    )
    spent = _spent(results)
    assert spent.epsilon == pytest.approx(1.5)
    assert ("cross_validate", "estimator") in {
        (r.part, r.attribute) for r in spent.uncovered
    }
