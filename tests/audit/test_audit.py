"""skpriv.audit: membership inference, one-run bound, canary audit."""

import math

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.datasets import make_classification, make_regression
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.tree import DecisionTreeClassifier

from skpriv.audit import (
    canary_audit,
    example_scores,
    membership_inference,
    one_run_epsilon_lower_bound,
)


@pytest.fixture(scope="module")
def split():
    X, y = make_classification(n_samples=600, flip_y=0.2, random_state=0)
    return X[:300], y[:300], X[300:], y[300:]


def test_overfit_model_leaks(split):
    Xi, yi, Xo, yo = split
    tree = DecisionTreeClassifier(random_state=0).fit(Xi, yi)
    res = membership_inference(tree, Xi, yi, Xo, yo, random_state=0)
    assert res.auc > 0.55
    assert res.advantage > 0.15
    assert res.epsilon_lower_bound > 0.3
    assert 0 <= res.fpr <= res.tpr <= 1
    assert (res.n_members, res.n_nonmembers) == (300, 300)


@pytest.mark.parametrize("score", ["loss", "confidence", "margin"])
def test_model_that_ignores_training_data_does_not_leak(split, score):
    Xi, yi, Xo, yo = split
    # Trained on other data: members and non-members are exchangeable.
    X, y = make_classification(n_samples=300, flip_y=0.2, random_state=1)
    model = LogisticRegression().fit(X, y)
    res = membership_inference(
        model, Xi, yi, Xo, yo, score=score, confidence=0.99, random_state=0
    )
    assert abs(res.auc - 0.5) < 0.1
    assert res.epsilon_lower_bound == 0.0


def test_scores_and_validation(split):
    Xi, yi, Xo, yo = split
    model = LogisticRegression().fit(Xi, yi)
    proba = model.predict_proba(Xi)[np.arange(len(yi)), yi]
    np.testing.assert_allclose(example_scores(model, Xi, yi, "confidence"), proba)
    np.testing.assert_allclose(example_scores(model, Xi, yi, "loss"), np.log(proba))
    with pytest.raises(ValueError, match="score"):
        membership_inference(model, Xi, yi, Xo, yo, score="entropy")
    with pytest.raises(ValueError, match="confidence"):
        membership_inference(model, Xi, yi, Xo, yo, confidence=1.5)
    with pytest.raises(ValueError, match="delta"):
        membership_inference(model, Xi, yi, Xo, yo, delta=-0.1)
    with pytest.raises(ValueError, match="labels"):
        membership_inference(model, Xi, yi + 5, Xo, yo)
    Xr, yr = make_regression(n_samples=100, random_state=0)
    ridge = Ridge().fit(Xr[:50], yr[:50])
    res = membership_inference(ridge, Xr[:50], yr[:50], Xr[50:], yr[50:])
    assert 0 <= res.auc <= 1
    dummy = DummyClassifier().fit(Xi, yi)
    assert membership_inference(dummy, Xi, yi, Xo, yo).epsilon_lower_bound == 0.0


def test_one_run_bound_known_values():
    # All 100 guesses right at 95%: p^100 = 0.05 -> eps = logit(0.05 ** 0.01).
    p = 0.05**0.01
    expected = math.log(p / (1 - p))
    got = one_run_epsilon_lower_bound(100, 100, n_canaries=1000, confidence=0.95)
    assert got == pytest.approx(expected, rel=1e-6)
    # The bound is exactly where the binomial tail crosses the level.
    q = 1 / (1 + math.exp(-got))
    assert binom.sf(99, 100, q) == pytest.approx(0.05, rel=1e-6)
    # Chance-level guessing proves nothing.
    assert one_run_epsilon_lower_bound(50, 100, n_canaries=1000) == 0.0
    # More correct guesses, larger bound; delta weakens it.
    values = [
        one_run_epsilon_lower_bound(k, 100, n_canaries=1000) for k in (60, 80, 95)
    ]
    assert values == sorted(values) and values[0] < values[-1]
    assert one_run_epsilon_lower_bound(
        95, 100, n_canaries=1000, delta=1e-5
    ) < one_run_epsilon_lower_bound(95, 100, n_canaries=1000)
    with pytest.raises(ValueError, match="n_correct"):
        one_run_epsilon_lower_bound(5, 3, n_canaries=10)


def _canaries(rng, n=100, m=200):
    X = np.c_[rng.normal(size=(n, 2)), np.zeros((n, m))]
    y = (X[:, 0] > 0).astype(int)
    Xc = np.c_[np.zeros((m, 2)), np.eye(m)]
    yc = rng.integers(0, 2, m)
    return X, y, Xc, yc


def test_canary_audit_detects_memorisation():
    X, y, Xc, yc = _canaries(np.random.default_rng(0))
    res = canary_audit(
        LogisticRegression(C=100.0), X, y, Xc, yc, score="margin", random_state=0
    )
    assert res.n_correct == res.n_guesses == 40
    assert res.epsilon_lower_bound > 2.0
    assert 60 < res.n_included < 140


def test_canary_audit_on_a_model_that_ignores_canaries():
    X, y, Xc, yc = _canaries(np.random.default_rng(0))
    res = canary_audit(DummyClassifier(), X, y, Xc, yc, random_state=0)
    assert res.epsilon_lower_bound < 1.0
    with pytest.raises(ValueError, match="n_guesses"):
        canary_audit(DummyClassifier(), X, y, Xc, yc, n_guesses=1000)


def test_scores_reject_inconsistent_lengths_and_unfitted_models(split):
    # X and y of different lengths were silently truncated to the shorter one.
    Xi, yi, Xo, yo = split
    model = LogisticRegression().fit(Xi, yi)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        membership_inference(model, Xi, yi[:100], Xo, yo)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        membership_inference(model, Xi, yi, Xo[:50], yo)
    with pytest.raises(NotFittedError):
        membership_inference(LogisticRegression(), Xi, yi, Xo, yo)
    with pytest.raises(ValueError, match=r"one score per example, shape \(300,\)"):
        example_scores(model, Xi, yi, score=lambda est, X, y: np.ones((len(X), 2)))


def _canary_data():
    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(100, 2)), np.zeros((100, 200))]
    y = (X[:, 0] > 0).astype(int)
    Xc = np.c_[np.zeros((200, 2)), np.eye(200)]
    yc = rng.integers(0, 2, 200)
    return X, y, Xc, yc


def test_canary_audit_keeps_dataframes_and_sparse_matrices():
    # DataFrames were turned into arrays (a pipeline selecting columns by
    # name failed) and sparse matrices raised an IndexError.
    pd = pytest.importorskip("pandas")
    from scipy import sparse
    from sklearn.compose import make_column_transformer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, Xc, yc = _canary_data()
    dense = canary_audit(
        LogisticRegression(C=100.0), X, y, Xc, yc, score="margin", random_state=0
    )
    cols = [f"c{i}" for i in range(X.shape[1])]
    pipe = make_pipeline(
        make_column_transformer(
            (StandardScaler(), ["c0", "c1"]), remainder="passthrough"
        ),
        LogisticRegression(C=100.0),
    )
    framed = canary_audit(
        pipe,
        pd.DataFrame(X, columns=cols),
        pd.Series(y),
        pd.DataFrame(Xc, columns=cols),
        pd.Series(yc),
        score="margin",
        random_state=0,
    )
    assert framed.n_included == dense.n_included
    assert framed.epsilon_lower_bound > 1
    sparse_res = canary_audit(
        LogisticRegression(C=100.0),
        sparse.csr_matrix(X),
        y,
        sparse.csr_matrix(Xc),
        yc,
        score="margin",
        random_state=0,
    )
    assert sparse_res.n_included == dense.n_included
    assert sparse_res.epsilon_lower_bound > 1


def test_canary_audit_validation_names_the_argument():
    X, y, Xc, yc = _canary_data()
    with pytest.raises(ValueError, match="X_canaries must have as many columns as X"):
        canary_audit(LogisticRegression(), X, y, Xc[:, :10], yc, random_state=0)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        canary_audit(LogisticRegression(), X, y, Xc, yc[:50], random_state=0)
    with pytest.raises(ValueError, match="needs a callable score"):
        canary_audit(LogisticRegression(), X, None, Xc, None, random_state=0)
    with pytest.raises(ValueError, match="give both y and y_canaries"):
        canary_audit(LogisticRegression(), X, y, Xc, None, random_state=0)


def test_canary_audit_of_an_unsupervised_estimator():
    # Any estimator: a transformer with no labels, scored by a callable. A
    # non-private scaler's mean moves towards the included canaries' own
    # feature, which the audit reads.
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(20, 2)), np.zeros((20, 200))]
    Xc = np.c_[np.zeros((200, 2)), 50.0 * np.eye(200)]

    def score(model, Xc, _):
        return model.mean_[2:]

    res = canary_audit(StandardScaler(), X, None, Xc, None, score=score, random_state=0)
    assert res.epsilon_lower_bound > 1 and res.epsilon_claimed is None


def test_one_run_delta_term_follows_the_paper():
    # Steinke et al. (2023), Algorithm 2: the delta term is 2 m delta times
    # max_i P[v - i <= Binomial(r, q) < v] / i, not the full 2 m delta the
    # old code added (1.306 here).
    assert one_run_epsilon_lower_bound(45, 50, n_canaries=1000, delta=1e-5) > 1.38


@pytest.mark.parametrize("bad", [0, 2.5, "20", None])
def test_n_thresholds_must_be_a_positive_integer(split, bad):
    # 2.5 was silently truncated to 2 and "a" raised int()'s own message.
    Xi, yi, Xo, yo = split
    model = LogisticRegression().fit(Xi, yi)
    with pytest.raises(ValueError, match="n_thresholds must be an integer"):
        membership_inference(model, Xi, yi, Xo, yo, n_thresholds=bad)


@pytest.mark.parametrize("bad", [1, 40.5, "40"])
def test_n_guesses_must_be_an_integer_in_range(bad):
    # 40.5 was silently truncated to 40; "40" raised int()'s own message.
    X, y, Xc, yc = _canary_data()
    with pytest.raises(ValueError, match=r"n_guesses must be an integer in \[2, 200\]"):
        canary_audit(LogisticRegression(), X, y, Xc, yc, n_guesses=bad)


def test_score_needing_a_missing_method_names_the_alternative(split):
    # SVC without probabilities and trees without decision_function raised a
    # bare AttributeError from inside example_scores.
    from sklearn.svm import SVC

    Xi, yi, Xo, yo = split
    svc = SVC().fit(Xi, yi)
    with pytest.raises(ValueError, match="score='loss' needs predict_proba.*'margin'"):
        membership_inference(svc, Xi, yi, Xo, yo)
    assert membership_inference(svc, Xi, yi, Xo, yo, score="margin").auc > 0.4
    tree = DecisionTreeClassifier(random_state=0).fit(Xi, yi)
    with pytest.raises(ValueError, match="score='margin' needs decision_function"):
        membership_inference(tree, Xi, yi, Xo, yo, score="margin")


@pytest.mark.slow
def test_canary_audit_never_exceeds_a_calibrated_claim():
    # One-run audits of a correctly calibrated DP model (its claim read from
    # the model) at confidence 1 - 1e-6 never certify more than the claim,
    # while the same canaries give a positive bound on a non-private model.
    from skpriv.linear_model import DPLogisticRegression

    rng = np.random.default_rng(0)
    X = np.c_[rng.normal(size=(100, 2)) / 4, np.zeros((100, 200))]
    y = (X[:, 0] > 0).astype(int)
    Xc = np.c_[np.zeros((200, 2)), np.eye(200)]
    yc = rng.integers(0, 2, 200)
    open_model = canary_audit(
        LogisticRegression(C=100.0), X, y, Xc, yc, score="margin", random_state=0
    )
    assert open_model.epsilon_lower_bound > 0
    for seed in range(5):
        res = canary_audit(
            DPLogisticRegression(epsilon=2.0, data_norm=1.0, random_state=seed),
            X,
            y,
            Xc,
            yc,
            score="margin",
            confidence=1 - 1e-6,
            random_state=seed,
        )
        assert res.epsilon_claimed == pytest.approx(2.0, rel=1e-3)
        assert res.epsilon_lower_bound <= res.epsilon_claimed
