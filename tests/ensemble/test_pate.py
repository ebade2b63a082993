"""PATEClassifier: partitions, sensitivity, budget, errors and integration."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.semi_supervised import SelfTrainingClassifier
from sklearn.tree import DecisionTreeClassifier
from threadpoolctl import threadpool_limits

from skpriv.accounting import privacy_spent
from skpriv.ensemble import PATEClassifier
from skpriv.ensemble._aggregation import vote_counts
from skpriv.exceptions import BudgetExceededError, PrivacyLeakWarning
from skpriv.utils._sklearn_compat import InvalidParameterError


@pytest.fixture(autouse=True)
def _one_blas_thread():
    # Many small teacher fits: BLAS threads only oversubscribe the CPU.
    with threadpool_limits(1):
        yield


class RecordingTeacher(ClassifierMixin, BaseEstimator):
    """Remembers the row ids (feature 0) it was trained on; votes its top class."""

    def fit(self, X, y):
        self.rows_ = np.asarray(X[:, 0], dtype=np.int64)
        self.classes_, counts = np.unique(y, return_counts=True)
        self.top_ = self.classes_[np.argmax(counts)]
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.top_)


class NoPredict(BaseEstimator):
    def fit(self, X, y):
        return self


def _data(n=1200, n_public=300, n_classes=3, seed=0):
    X, y = make_classification(
        n_samples=n + 300,
        n_features=8,
        n_informative=5,
        n_classes=n_classes,
        random_state=seed,
    )
    y_fit = y[:n].copy()
    y_fit[n - n_public :] = -1
    return X[:n], y_fit, X[n:], y[n:]


def _with_ids(X):
    return np.column_stack([np.arange(X.shape[0]), X])


def test_partitions_disjoint_and_cover_every_private_row():
    X, y, _, _ = _data(n=203, n_public=50)
    pate = PATEClassifier(
        RecordingTeacher(),
        n_teachers=7,
        sigma=1.0,
        epsilon=None,
        keep_teachers=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        pate.fit(_with_ids(X), y)
    rows = [t.rows_ for t in pate.teachers_ if isinstance(t, RecordingTeacher)]
    assert len(rows) == 7  # every partition here holds several classes
    seen = np.concatenate(rows)
    private = np.flatnonzero(y != -1)
    assert seen.size == private.size  # no row twice
    np.testing.assert_array_equal(np.sort(seen), private)  # every row once
    sizes = [r.size for r in rows]
    assert max(sizes) - min(sizes) <= 1


def test_one_changed_private_row_changes_one_teacher_and_votes_by_two():
    X, y, _, _ = _data(n=400, n_public=100)
    X_nb, y_nb = X.copy(), y.copy()
    i = int(np.flatnonzero(y != -1)[17])
    X_nb[i] = X[i] * -3.0 + 5.0  # replace the row: new features, new label
    y_nb[i] = (y[i] + 1) % 3
    kw = dict(
        n_teachers=10, sigma=1.0, epsilon=None, keep_teachers=True, random_state=3
    )
    teacher = DecisionTreeClassifier(max_depth=3)
    a = PATEClassifier(teacher, **kw).fit(X, y)
    b = PATEClassifier(teacher, **kw).fit(X_nb, y_nb)
    public = X[y == -1]
    votes_a = np.stack([t.predict(public) for t in a.teachers_])
    votes_b = np.stack([t.predict(public) for t in b.teachers_])
    changed = np.flatnonzero(np.any(votes_a != votes_b, axis=1))
    assert changed.size <= 1
    diff = np.abs(vote_counts(votes_a, 3) - vote_counts(votes_b, 3)).sum(axis=1)
    assert diff.max() <= 2
    # The same holds for the fitted teachers themselves (tree structures).
    same = [
        np.array_equal(ta.tree_.value, tb.tree_.value)
        and np.array_equal(ta.tree_.threshold, tb.tree_.threshold)
        for ta, tb in zip(a.teachers_, b.teachers_)
    ]
    assert sum(not s for s in same) <= 1


@pytest.mark.parametrize("aggregator", ["gnmax", "lnmax", "confident_gnmax"])
def test_fit_predict_and_budget(aggregator):
    X, y, X_test, y_test = _data()
    pate = PATEClassifier(
        n_teachers=30,
        aggregator=aggregator,
        epsilon=3.0,
        max_queries=150,
        keep_teachers=True,
        random_state=0,
    ).fit(X, y)
    assert pate.n_queries_ == 150
    assert 0 < pate.n_answered_ <= pate.n_queries_
    assert pate.epsilon_ <= 3.0
    assert pate.epsilon_ >= 0.95 * 3.0 or aggregator == "confident_gnmax"
    with pytest.warns(PrivacyLeakWarning, match="teachers_"):
        spent = privacy_spent(pate).epsilon  # PLD accountant: tighter for Laplace
    assert spent <= pate.epsilon_ * (1 + 1e-6)
    if aggregator != "lnmax":
        assert spent == pytest.approx(pate.epsilon_)
    assert 0.0 <= pate.label_agreement_ <= 1.0
    proba = pate.predict_proba(X_test)
    assert proba.shape == (X_test.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(
        pate.predict(X_test), pate.classes_[np.argmax(proba, axis=1)]
    )
    assert 0 <= pate.epsilon_data_dependent_ <= pate.epsilon_


def test_more_epsilon_means_better_labels_and_students():
    X, y, X_test, y_test = _data(n=3000, n_public=500)
    agreement, scores = [], []
    for eps in (0.3, 30.0):
        pate = PATEClassifier(
            n_teachers=50, epsilon=eps, keep_teachers=True, random_state=0
        ).fit(X, y)
        agreement.append(pate.label_agreement_)
        scores.append(pate.score(X_test, y_test))
    assert agreement[1] > agreement[0] + 0.3
    assert scores[1] > scores[0]
    assert agreement[1] > 0.9


def test_sigma_with_budget_stops_queries():
    X, y, _, _ = _data()
    sigma = 10.0
    pate = PATEClassifier(n_teachers=20, sigma=sigma, epsilon=1.0, random_state=0)
    pate.fit(X, y)
    assert 0 < pate.n_queries_ < 300
    assert pate.epsilon_ <= 1.0
    over = PATEClassifier(n_teachers=20, sigma=sigma, epsilon=None, random_state=0)
    over.set_params(max_queries=pate.n_queries_ + 1).fit(X, y)
    assert over.epsilon_ > 1.0


def test_confident_gnmax_answers_only_confident_queries():
    X, y, _, _ = _data(n=2000, n_public=400)
    pate = PATEClassifier(
        n_teachers=40,
        aggregator="confident_gnmax",
        sigma=4.0,
        threshold=30.0,
        sigma_threshold=10.0,
        epsilon=None,
        keep_teachers=True,
        random_state=0,
    ).fit(X, y)
    assert 0 < pate.n_answered_ < pate.n_queries_ == 400
    assert pate.label_agreement_ > 0.9
    # Answered queries cost GNMax; every query costs the threshold check.
    both = PATEClassifier(n_teachers=40, sigma=4.0, epsilon=None, random_state=0).fit(
        X, y
    )
    assert pate.epsilon_ < both.epsilon_
    assert pate.epsilon_data_dependent_ < pate.epsilon_
    # With a budget, the filter stops asking before the pool is exhausted.
    capped = pate.set_params(epsilon=2.0).fit(X, y)
    assert 0 < capped.n_answered_ < capped.n_queries_ < 400
    assert capped.epsilon_ <= 2.0
    assert capped.student_.n_features_in_ == X.shape[1]


def test_planned_event_bounds_the_fit():
    X, y, _, _ = _data()
    for params in (
        dict(epsilon=2.0),
        dict(sigma=20.0, epsilon=None),
        dict(aggregator="lnmax", epsilon=2.0),
        dict(aggregator="confident_gnmax", epsilon=2.0),
    ):
        pate = PATEClassifier(n_teachers=10, random_state=0, **params).fit(X, y)

        class Planned:
            dp_event_ = pate._planned_dp_event(X.shape[0])

        planned = privacy_spent(Planned(), delta=1e-5).epsilon
        actual = privacy_spent(pate, delta=1e-5).epsilon
        if params.get("aggregator") == "lnmax":
            # Calibrated LNMax: every pool size is calibrated to epsilon at
            # delta (RDP accountant), so the plan for the largest pool equals
            # the fit there up to the calibration's tolerance, not above it.
            assert planned == pytest.approx(actual, rel=2e-3), params
            assert planned <= 2.0 and actual <= 2.0
        else:
            assert planned >= actual * (1 - 1e-9), params


def test_pipeline_grid_search_and_privacy_spent():
    X, y, X_test, y_test = _data(n=900, n_public=200)

    def labelled_accuracy(est, X, y):
        mask = y != -1
        return float(np.mean(est.predict(X[mask]) == y[mask]))

    pipe = make_pipeline(
        StandardScaler(), PATEClassifier(n_teachers=10, epsilon=2.0, random_state=0)
    )
    search = GridSearchCV(
        pipe,
        {"pateclassifier__n_teachers": [5, 10], "pateclassifier__sigma": [None, 30.0]},
        cv=2,
        scoring=labelled_accuracy,
    ).fit(X, y)
    assert search.best_estimator_.score(X_test, y_test) > 0.4
    spent = privacy_spent(search)
    # 4 candidates x 2 folds + the refit, each at most epsilon=2.
    assert 2.0 < spent.epsilon <= 9 * 2.0 + 1e-6


def test_pickle_round_trip():
    X, y, X_test, _ = _data(n=500, n_public=100)
    pate = PATEClassifier(n_teachers=5, epsilon=1.0, random_state=0).fit(X, y)
    clone = pickle.loads(pickle.dumps(pate))
    np.testing.assert_array_equal(clone.predict(X_test), pate.predict(X_test))
    assert clone.epsilon_ == pate.epsilon_


def test_string_labels_and_semi_supervised_student():
    X, y, X_test, y_test = _data(n=900, n_public=300)
    names = np.array(["ant", "bee", "cat"], dtype=object)
    y_str = np.where(y == -1, -1, names[np.maximum(y, 0)]).astype(object)
    pate = PATEClassifier(
        student=SelfTrainingClassifier(LogisticRegression()),
        n_teachers=15,
        aggregator="confident_gnmax",
        threshold=10.0,
        epsilon=5.0,
        semi_supervised=True,
        random_state=0,
    ).fit(X, y_str)
    assert set(pate.classes_) == set(names)
    assert set(pate.predict(X_test)) <= set(names)
    # The self-training student saw every public row, answered or not.
    assert pate.student_.n_features_in_ == X.shape[1]
    assert np.mean(pate.predict(X_test) == names[y_test]) > 0.4


@pytest.mark.slow
def test_n_jobs_gives_the_same_model():
    X, y, X_test, _ = _data(n=400, n_public=100)
    kw = dict(n_teachers=4, epsilon=1.0, random_state=0)
    a = PATEClassifier(**kw).fit(X, y)
    b = PATEClassifier(n_jobs=2, **kw).fit(X, y)
    np.testing.assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


@pytest.mark.slow
def test_skorch_student():
    torch = pytest.importorskip("torch")
    skorch = pytest.importorskip("skorch")
    X, y, X_test, _ = _data(n=600, n_public=200)
    X, X_test = X.astype(np.float32), X_test.astype(np.float32)
    torch.manual_seed(0)
    net = skorch.NeuralNetClassifier(
        torch.nn.Sequential(
            torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
        ),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=5,
        lr=0.1,
        train_split=None,
        verbose=0,
    )
    pate = PATEClassifier(student=net, n_teachers=5, epsilon=2.0, random_state=0)
    pate.fit(X, y)
    proba = pate.predict_proba(X_test)
    assert proba.shape == (X_test.shape[0], 3)
    assert set(pate.predict(X_test)) <= set(pate.classes_)


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def _small():
    X, y, _, _ = _data(n=200, n_public=50)
    return X, y


def test_error_no_public_rows():
    X, y = _small()
    with pytest.raises(ValueError, match="no public rows"):
        PATEClassifier(n_teachers=5).fit(X[y != -1], y[y != -1])


def test_public_fraction_simulates_a_public_pool_with_a_warning():
    X, y = _small()
    with pytest.warns(PrivacyLeakWarning, match="public_fraction"):
        pate = PATEClassifier(n_teachers=5, public_fraction=0.25, random_state=0)
        pate.fit(X[y != -1], y[y != -1])
    assert pate.n_queries_ == round(0.25 * 150)


def test_error_no_private_rows():
    X, y = _small()
    with pytest.raises(ValueError, match="no private rows"):
        PATEClassifier(n_teachers=5).fit(X, np.full_like(y, -1))


def test_error_fewer_private_rows_than_teachers():
    X, y = _small()
    with pytest.raises(ValueError, match="n_teachers=500"):
        PATEClassifier(n_teachers=500).fit(X, y)


def test_error_single_private_class():
    X, y = _small()
    y = np.where(y == -1, -1, 2)
    with pytest.raises(ValueError, match="at least 2 classes"):
        PATEClassifier(n_teachers=5).fit(X, y)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_teachers=1), "n_teachers"),
        (dict(aggregator="max"), "aggregator"),
        (dict(sigma=-1.0), "sigma"),
        (dict(epsilon=0.0), "epsilon"),
        (dict(delta=1.0), "delta"),
        (dict(max_queries=0), "max_queries"),
    ],
)
def test_invalid_parameters(params, match):
    X, y = _small()
    with pytest.raises(InvalidParameterError, match=match):
        PATEClassifier(**params).fit(X, y)


@pytest.mark.parametrize("role", ["teacher", "student"])
def test_error_estimator_without_predict(role):
    X, y = _small()
    with pytest.raises(TypeError, match=f"{role}=NoPredict"):
        PATEClassifier(**{role: NoPredict()}, n_teachers=5).fit(X, y)


def test_error_noise_underdetermined_and_delta_zero():
    X, y = _small()
    with pytest.raises(ValueError, match="sigma .* or epsilon"):
        PATEClassifier(n_teachers=5, epsilon=None).fit(X, y)
    with pytest.raises(ValueError, match="delta must be > 0"):
        PATEClassifier(n_teachers=5, delta=0.0).fit(X, y)
    pate = PATEClassifier(n_teachers=5, aggregator="lnmax", delta=0.0, random_state=0)
    assert pate.fit(X, y).epsilon_ == pytest.approx(1.0)


def test_error_budget_too_small_for_one_query():
    X, y = _small()
    with pytest.raises(BudgetExceededError, match="epsilon=0.01"):
        PATEClassifier(n_teachers=5, sigma=1.0, epsilon=0.01).fit(X, y)


def test_error_nothing_answered():
    X, y = _small()
    pate = PATEClassifier(
        n_teachers=5,
        aggregator="confident_gnmax",
        threshold=1e6,
        sigma=5.0,
        epsilon=None,
        random_state=0,
    )
    with pytest.raises(ValueError, match="No query was answered"):
        pate.fit(X, y)


def test_error_nan_input():
    X, y = _small()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PATEClassifier(n_teachers=5).fit(X, y)


class _NeedsManyRows(ClassifierMixin, BaseEstimator):
    """A teacher that refuses to fit on fewer than 100 rows (like QDA on few rows)."""

    def fit(self, X, y):
        if len(X) < 100:
            raise ValueError(f"need at least 100 rows, got {len(X)}")
        self.classes_ = np.unique(y)
        return self

    def predict(self, X):
        return np.full(len(X), self.classes_[0])


def test_teacher_failure_names_the_teacher():
    X, y = _small()
    pate = PATEClassifier(_NeedsManyRows(), n_teachers=5)
    with pytest.raises(ValueError) as info:
        pate.fit(X, y)
    notes = " ".join(getattr(info.value, "__notes__", []))
    assert "teacher 0 (_NeedsManyRows)" in notes


def test_verbose_prints_a_summary(capsys):
    X, y = _small()
    PATEClassifier(n_teachers=5, verbose=1, random_state=0).fit(X, y)
    assert "queries" in capsys.readouterr().out


@pytest.mark.parametrize("aggregator", ["gnmax", "confident_gnmax"])
def test_fitted_epsilon_matches_reference_accountant(aggregator):
    import math

    import dp_accounting
    from dp_accounting.pld import pld_privacy_accountant

    X, y, _, _ = _data(n=600, n_public=150)
    pate = PATEClassifier(
        n_teachers=10,
        aggregator=aggregator,
        sigma=6.0,
        sigma_threshold=12.0,
        threshold=6.0,
        epsilon=None,
        random_state=0,
    ).fit(X, y)
    events = [
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.GaussianDpEvent(6.0 / math.sqrt(2)), pate.n_answered_
        )
    ]
    if aggregator == "confident_gnmax":
        events.append(
            dp_accounting.SelfComposedDpEvent(
                dp_accounting.GaussianDpEvent(12.0), pate.n_queries_
            )
        )
    pld = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    pld.compose(dp_accounting.ComposedDpEvent(events))
    assert pate.epsilon_ == pytest.approx(pld.get_epsilon(1e-5), rel=2e-3)


def test_sample_weight_is_refused_clearly():
    # fit(X, y, sample_weight=w) failed with "_fit() got an unexpected
    # keyword argument", naming a private method.
    X, y = _small()
    pate = PATEClassifier(n_teachers=3, epsilon=5.0, random_state=0)
    with pytest.raises(TypeError, match=r"PATEClassifier.fit .*sample_weight"):
        pate.fit(X, y, sample_weight=np.ones(len(y)))


@pytest.mark.parametrize("aggregator", ["gnmax", "lnmax"])
def test_planned_event_without_n_samples_bounds_a_fit_with_sigma_and_budget(
    aggregator,
):
    # With sigma and epsilon both set and the pool size unknown (a search
    # with refit=False), the plan counted a single query: privacy_spent of
    # the search reported epsilon 0.3 for fits that spent about 5 each.
    X, y, _, _ = _data()
    pate = PATEClassifier(
        n_teachers=10, sigma=20.0, epsilon=2.0, aggregator=aggregator, random_state=0
    ).fit(X, y)
    assert pate.n_queries_ > 1

    class Planned:
        dp_event_ = pate._planned_dp_event(None)

    planned = privacy_spent(Planned(), delta=1e-5).epsilon
    actual = privacy_spent(pate, delta=1e-5).epsilon
    assert planned >= actual * (1 - 1e-3)
    assert planned <= 2.0 * (1 + 1e-3)
    search = GridSearchCV(
        pate, {"n_teachers": [10]}, cv=2, refit=False, scoring=lambda e, X, y: 0.0
    ).fit(X, y)
    assert privacy_spent(search, delta=1e-5).epsilon >= actual


def test_dataframe_reaches_teachers_and_student_as_is():
    # A DataFrame was converted to a float array before the teachers saw it:
    # teachers and students selecting columns by name, or encoding a text
    # column themselves, failed with "could not convert string to float".
    pd = pytest.importorskip("pandas")
    from sklearn.compose import make_column_transformer
    from sklearn.preprocessing import OneHotEncoder

    X, y, X_test, y_test = _data()
    cols = [f"f{i}" for i in range(X.shape[1])]

    def frame(A):
        df = pd.DataFrame(A, columns=cols)
        df["side"] = np.where(A[:, 0] > 0, "right", "left")
        return df

    def model():
        return make_pipeline(
            make_column_transformer(
                (StandardScaler(), cols), (OneHotEncoder(), ["side"])
            ),
            LogisticRegression(),
        )

    pate = PATEClassifier(model(), model(), n_teachers=5, epsilon=5.0, random_state=0)
    pate.fit(frame(X), pd.Series(y))
    assert list(pate.feature_names_in_) == [*cols, "side"]
    assert pate.score(frame(X_test), y_test) > 0.4  # chance: 1/3
    # A numeric DataFrame gives the model a numpy array gives.
    plain = PATEClassifier(n_teachers=5, epsilon=5.0, random_state=0)
    from_array = plain.fit(X, y).predict(X_test)
    from_frame = plain.fit(pd.DataFrame(X, columns=cols), y)
    np.testing.assert_array_equal(
        from_frame.predict(pd.DataFrame(X_test, columns=cols)), from_array
    )
    assert pate.predict_proba(frame(X_test)).shape == (len(y_test), 3)
    with_nan = frame(X)
    with_nan.loc[0, "side"] = None
    with pytest.raises(ValueError, match="NaN"):
        pate.fit(with_nan, y)


def test_semi_supervised_needs_a_student_that_ignores_minus_one():
    # With semi_supervised=True a plain student learned -1 as a class: every
    # row it predicted -1 came out as the last class (classes_[-1]) and
    # predict_proba rows did not sum to one.
    X, y = _small()
    params = dict(
        n_teachers=5,
        aggregator="confident_gnmax",
        epsilon=1.0,
        semi_supervised=True,
        random_state=0,
    )
    with pytest.raises(ValueError, match="SelfTrainingClassifier"):
        PATEClassifier(**params).fit(X, y)
    with pytest.raises(ValueError, match="learned -1"):
        PATEClassifier(student=LogisticRegression(), **params).fit(X, y)
    pate = PATEClassifier(
        student=SelfTrainingClassifier(LogisticRegression()), **params
    ).fit(X, y)
    assert -1 not in pate.student_.classes_


def test_score_leaves_out_unlabelled_rows():
    # score counted every y == -1 row as an error, so a search's default
    # scoring on folds holding public rows was biased down by their share.
    X, y, X_test, y_test = _data(n=900, n_public=200)
    pate = PATEClassifier(n_teachers=10, epsilon=2.0, random_state=0).fit(X, y)
    labelled = y != -1
    expected = np.mean(pate.predict(X[labelled]) == y[labelled])
    assert pate.score(X, y) == pytest.approx(expected)
    assert pate.score(X_test, y_test) == pytest.approx(
        np.mean(pate.predict(X_test) == y_test)
    )

    def labelled_accuracy(est, X, y):
        mask = y != -1
        return float(np.mean(est.predict(X[mask]) == y[mask]))

    default = GridSearchCV(pate, {"n_teachers": [10]}, cv=2).fit(X, y)
    custom = GridSearchCV(
        pate, {"n_teachers": [10]}, cv=2, scoring=labelled_accuracy
    ).fit(X, y)
    assert default.best_score_ == pytest.approx(custom.best_score_)
    with pytest.raises(ValueError, match="every y is -1"):
        pate.score(X[~labelled], y[~labelled])
