"""Auditor's evidence against the privacy contract (issue 13).

Each test states what the contract promises; each failed before its fix (they
were written as ``xfail(strict=True)`` evidence by an attacker's review)
and now guards it.
"""

import warnings

import dp_accounting
import numpy as np
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import StackingClassifier
from sklearn.multioutput import ClassifierChain
from sklearn.pipeline import FeatureUnion, Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder

from skpriv.accounting import PrivacyBudget, epsilon_of, privacy_spent
from skpriv.exceptions import BudgetExceededError
from skpriv.linear_model import DPLogisticRegression
from skpriv.naive_bayes import DPGaussianNB
from skpriv.preprocessing import DPStandardScaler, LaplaceNoise
from skpriv.testing import check_dp


def _data(n=200, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 2))
    return X, (X[:, 0] > 0.5).astype(int)


def _spent(obj, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return privacy_spent(obj, **kw)


# ---------------------------------------------------------------------------
# 1. A failed or budget-refused refit erases the accounting of the first fit
# ---------------------------------------------------------------------------

_REFIT = (
    "the fit template deletes dp_event_ before _fit/before_fit; when the refit "
    "raises, the first fit's DP attributes stay and privacy_spent reports "
    "epsilon=0.0, covered"
)


@pytest.mark.parametrize(
    "make",
    [
        lambda: DPGaussianNB(epsilon=1.0, bounds=(0, 1), classes=[0, 1]),
        lambda: DPLogisticRegression(epsilon=1.0, data_norm=1.5, classes=[0, 1]),
        lambda: DPStandardScaler(epsilon=1.0, bounds=(0, 1)),
    ],
    ids=["DPGaussianNB", "DPLogisticRegression", "DPStandardScaler"],
)
def test_failed_refit_erases_spent_epsilon(make):
    X, y = _data()
    est = make().fit(X, y)
    first = _spent(est, strict=True).epsilon
    assert first > 0.9
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        est.fit(X_bad, y)
    # The released model is still the first fit's: it must still be charged
    # (or named as not covered).
    spent = _spent(est)
    assert spent.epsilon >= first or not spent.covered, spent


def test_budget_refused_refit_erases_spent_epsilon():
    X, y = _data()
    est = DPGaussianNB(epsilon=1.0, bounds=(0, 1), classes=[0, 1])
    with PrivacyBudget(1.5):
        est.fit(X, y)
        with pytest.raises(BudgetExceededError):
            est.fit(X, y)
    spent = _spent(est)
    assert hasattr(est, "theta_")
    assert spent.epsilon >= 1.0 or not spent.covered, spent


# ---------------------------------------------------------------------------
# 2. Steps after a local-DP transformer learn the raw labels, unnamed
# ---------------------------------------------------------------------------


def test_post_step_after_local_dp_learns_raw_labels():
    def pipe():
        return make_pipeline(
            LaplaceNoise(epsilon=1.0, bounds=(0, 1)),
            DummyClassifier(strategy="prior"),
        )

    X = np.zeros((20, 2))
    y = np.r_[np.zeros(19, int), 1]
    y_nbr = np.zeros(20, int)  # the last row's label replaced
    a, b = pipe().fit(X, y), pipe().fit(X, y_nbr)
    # Deterministically different on neighbours, for every seed:
    assert not np.array_equal(a[-1].class_prior_, b[-1].class_prior_)
    # Certified lower bound (check_dp: selection half / evaluation half,
    # one-sided Clopper-Pearson): about 2.5 with 400 runs (the leak is
    # unbounded; the bound only grows with the runs) against the claim 1.0.
    try:
        check_dp(
            pipe(),
            n_runs=400,
            false_failure=1e-3,
            random_state=0,
            statistic=lambda est: est[-1].class_prior_,
        )
        leaked = False
    except AssertionError:
        leaked = True
    spent = _spent(pipe().fit(X, y))
    assert not leaked or not spent.covered, spent


# ---------------------------------------------------------------------------
# 3. Meta-estimators that fit their DP estimator on internal CV folds
# ---------------------------------------------------------------------------

_FITS = []


class _CountingNB(DPGaussianNB):
    """DPGaussianNB that records the event of every fit it makes."""

    def _fit(self, X, y, rng, **fit_params):
        out = super()._fit(X, y, rng, **fit_params)
        _FITS.append((len(X), self._planned_dp_event(len(X))))
        return out


@pytest.mark.parametrize("kind", ["stacking", "chain"])
def test_internal_cross_val_predict_fits_not_counted(kind):
    X, y = _data()
    nb = _CountingNB(epsilon=1.0, bounds=(0, 1), classes=[0, 1])
    _FITS.clear()
    if kind == "stacking":
        final = _CountingNB(epsilon=1.0, bounds=(-0.1, 1.1), classes=[0, 1])
        model = StackingClassifier([("nb", nb)], final_estimator=final, cv=5)
        model.fit(X, y)
        # Any row: 1 full base fit + 4 fold fits that trained on it + final.
        per_row = 6
    else:
        model = ClassifierChain(nb, cv=3, order=[0, 1])
        model.fit(X, np.c_[y, X[:, 1] > 0.5].astype(int))
        # Link 0: 1 full fit + 2 of 3 fold fits; link 1: 1 fit.
        per_row = 4
    assert len(_FITS) > per_row  # e.g. 7 DP fits for stacking, 5 for the chain
    event = _FITS[0][1]
    independent = epsilon_of(
        dp_accounting.ComposedDpEvent([event] * per_row), 0.0, "pld"
    )
    spent = _spent(model)
    # reported 2.0 in both cases; independent lower count 6.0 / 4.0
    assert spent.epsilon >= independent - 1e-9 or not spent.covered, (
        spent,
        independent,
    )


# ---------------------------------------------------------------------------
# 4. Raw columns passed through next to local-DP branches, unnamed
# ---------------------------------------------------------------------------


def _noise():
    return LaplaceNoise(epsilon=1.0, bounds=(0, 1))


@pytest.mark.parametrize(
    "make",
    [
        lambda: ColumnTransformer(
            [("n", _noise(), [0]), ("raw", FunctionTransformer(np.asarray), [1])]
        ),
        lambda: ColumnTransformer(
            [("n", _noise(), [0]), ("raw", Pipeline([("id", "passthrough")]), [1])]
        ),
        lambda: ColumnTransformer(
            [
                ("n", _noise(), [0]),
                (
                    "raw",
                    OneHotEncoder(categories=[[0.0, 1.0]], sparse_output=False),
                    [1],
                ),
            ]
        ),
        lambda: FeatureUnion([("n", _noise()), ("raw", "passthrough")]),
        lambda: FeatureUnion([("n", _noise()), ("raw", FunctionTransformer())]),
    ],
    ids=[
        "ct-asarray",
        "ct-nested-passthrough",
        "ct-onehot",
        "fu-passthrough",
        "fu-identity",
    ],
)
def test_raw_columns_beside_local_dp_not_named(make):
    X = np.c_[np.random.default_rng(0).uniform(0, 1, 50), np.arange(50) % 2]
    model = make()
    Z = np.asarray(model.fit_transform(X), dtype=float)
    raw = X[:, 1]
    assert any(np.array_equal(Z[:, j], raw) for j in range(Z.shape[1]))
    assert not _spent(model).covered


# ---------------------------------------------------------------------------
# 5. A warning emitted on one neighbour only
# ---------------------------------------------------------------------------


def test_private_data_norm_warns_on_one_neighbour_only():
    X, y = _data(60)
    X2, y2 = np.vstack([X, [[1e200, 1e200]]]), np.r_[y, 0]

    def runtime_warnings(X, y, seed):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            DPLogisticRegression(
                data_norm="private", classes=[0, 1], random_state=seed
            ).fit(X, y)
        return any(issubclass(w.category, RuntimeWarning) for w in caught)

    a = [runtime_warnings(X, y, s) for s in range(5)]
    b = [runtime_warnings(X2, y2, s) for s in range(5)]
    assert a == b, (a, b)


# ---------------------------------------------------------------------------
# 6. check_dp crashes on a classifier pipeline that starts with local DP
# ---------------------------------------------------------------------------


def test_check_dp_on_local_dp_then_private_classifier():
    pipe = make_pipeline(
        LaplaceNoise(epsilon=1.0, bounds=(0, 1)),
        DPGaussianNB(epsilon=1.0, bounds=(-20, 21), classes=[0, 1]),
    )
    result = check_dp(pipe, n_runs=40, false_failure=1e-3, random_state=0)
    assert result.epsilon_lower_bound <= result.epsilon
