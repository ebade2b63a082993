import math
import pickle

import dp_accounting
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.compose import ColumnTransformer

from skpriv.accounting import privacy_spent, pure_epsilon
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.preprocessing import LaplaceNoise, RandomizedResponse

from ..mechanisms._stats import assert_mean_matches, epsilon_lower_bound

COLORS = ["blue", "green", "red"]


def _strings(n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.column_stack(
        [rng.choice(COLORS, n), rng.choice(["no", "yes"], n)]
    ).astype(object)


def _rr(**kw):
    kw.setdefault("categories", [COLORS, ["no", "yes"]])
    kw.setdefault("random_state", 0)
    return RandomizedResponse(**kw)


# ------------------------------------------------------------- statistics

M = 200_000


def _keep_rate_ok(est, epsilon):
    X = np.array([["red", "no"]] * M, dtype=object)
    Xt = est.fit_transform(X)
    for j, (value, k) in enumerate([("red", 3), ("no", 2)]):
        e = epsilon / 2  # equal split over two columns
        p = math.exp(e) / (math.exp(e) + k - 1)
        assert_mean_matches(
            (Xt[:, j] == value).astype(float), p, math.sqrt(p * (1 - p)), "keep"
        )


def test_keep_rate_per_column():
    _keep_rate_ok(_rr(epsilon=2.0), 2.0)


def test_keep_rate_test_has_power():
    # 10% more budget than claimed (e.g. a forgotten split) is detected.
    with pytest.raises(AssertionError, match="keep"):
        _keep_rate_ok(_rr(epsilon=2.2), 2.0)


def _loss_lower_bound(est, n=M):
    a = est.fit_transform(np.array([["red", "no"]] * n, dtype=object))[:, 0] == "red"
    b = est.transform(np.array([["blue", "no"]] * n, dtype=object))[:, 0] == "red"
    return epsilon_lower_bound(int(a.sum()), int(b.sum()), n)


def test_empirical_privacy_loss_per_column():
    assert _loss_lower_bound(_rr(epsilon=2.0)) <= 1.0


def test_privacy_loss_test_has_power():
    assert _loss_lower_bound(_rr(epsilon=2.0 * 1.1)) > 1.0  # 10% over budget


def test_estimate_frequencies_unbiased():
    rng = np.random.default_rng(3)
    n = 200_000
    truth = np.array([0.6, 0.3, 0.1])
    X = rng.choice(COLORS, size=(n, 1), p=truth).astype(object)
    est = RandomizedResponse(epsilon=1.0, categories=[COLORS], random_state=4)
    (freq,) = est.estimate_frequencies(est.fit_transform(X), normalize=True)
    p = est.keep_probability_[0]
    q = (1 - p) / 2
    f = q + (p - q) * truth
    sd = np.sqrt(f * (1 - f) / n) / (p - q)
    assert np.all(np.abs(freq - truth) <= 5.5 * sd)
    (counts,) = est.estimate_frequencies(X)
    assert counts.sum() == pytest.approx(n)


# --------------------------------------------------------------- events


def test_dp_event_composes_columns():
    est = _rr(epsilon=3.0).fit(_strings())
    assert isinstance(est.dp_event_, dp_accounting.ComposedDpEvent)
    assert pure_epsilon(est.dp_event_) == pytest.approx(3.0)
    assert privacy_spent(est, delta=0.0).epsilon == pytest.approx(3.0)
    assert privacy_spent(est, delta=1e-6).epsilon <= 3.0 + 1e-3
    assert privacy_spent(est, delta=1e-6, accountant="rdp").epsilon <= 3.2


def test_column_transformer_with_laplace():
    X = np.column_stack([_strings(), np.linspace(0, 1, 60)]).astype(object)
    ct = ColumnTransformer(
        [
            ("cat", _rr(epsilon=1.0), [0, 1]),
            ("num", LaplaceNoise(epsilon=0.5, bounds=(0, 1), random_state=0), [2]),
        ]
    ).fit(X)
    assert ct.transform(X).shape == (60, 3)
    assert privacy_spent(ct, delta=0.0).epsilon == pytest.approx(1.5)


# ------------------------------------------------------------- behaviour


def test_auto_categories_warn_and_are_sorted():
    X = np.array([[3, True], [1, False], [2, True]])
    est = RandomizedResponse(random_state=0)
    with pytest.warns(PrivacyLeakWarning, match="categories"):
        est.fit(X)
    np.testing.assert_array_equal(est.categories_[0], [1, 2, 3])
    assert est.categories == "auto"


@pytest.mark.parametrize(
    "X, kind",
    [
        (np.array([[1, 2], [3, 4], [1, 4]]), "i"),
        (np.array([[True], [False], [True]]), "b"),
        (np.array([[0.5], [1.5], [0.5]]), "f"),
        (np.array([["a"], ["bb"], ["a"]]), "U"),
        (_strings(), "O"),
    ],
)
def test_types_preserved(X, kind):
    est = RandomizedResponse(epsilon=0.1, random_state=0)
    with pytest.warns(PrivacyLeakWarning):
        Xt = est.fit_transform(X)
    assert Xt.dtype.kind == kind
    assert Xt.shape == X.shape
    for j, cats in enumerate(est.categories_):
        assert set(Xt[:, j].tolist()) <= set(cats.tolist())


def test_pandas_mixed_columns_and_output():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"color": ["red", "blue", "red"], "n": [1, 2, 1]})
    est = RandomizedResponse(categories=[COLORS, [1, 2, 3]], random_state=0).set_output(
        transform="pandas"
    )
    out = est.fit_transform(df)
    assert list(out.columns) == ["color", "n"]
    assert set(out["color"]) <= set(COLORS)
    assert list(est.get_feature_names_out()) == ["color", "n"]


def test_fresh_per_call_reproducible_per_fit_and_pickle():
    X = _strings()
    est = _rr(epsilon=0.5).fit(X)
    a, b = est.transform(X), est.transform(X)
    assert not np.array_equal(a, b)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.transform(X), est.transform(X))
    np.testing.assert_array_equal(_rr(epsilon=0.5).fit(X).transform(X), a)


def test_unseeded_pickled_copies_draw_independent_noise():
    # Copies loaded from one pickle used to replay the same randomization.
    X = _strings(n=200)
    blob = pickle.dumps(_rr(epsilon=0.5, random_state=None).fit(X))
    assert b"PCG64" not in blob
    first, second = pickle.loads(blob), pickle.loads(blob)
    assert not np.array_equal(first.transform(X), second.transform(X))


def test_dataframe_with_categorical_and_bool_columns():
    # Used to fail inside check_array: "Cannot cast str dtype to float64".
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"c": pd.Categorical(["a", "b"] * 5), "flag": [True] * 10})
    rr = RandomizedResponse(
        epsilon=1e3, categories=[["a", "b"], [False, True]], random_state=0
    )
    np.testing.assert_array_equal(rr.fit_transform(df), df.to_numpy(dtype=object))
    dated = pd.DataFrame({"d": pd.to_datetime(["2020-01-05"] * 4), "n": [1, 2] * 2})
    out = RandomizedResponse(epsilon=1e3, random_state=0).fit_transform(dated)
    assert out[:, 1].tolist() == [1, 2, 1, 2]


def test_given_categories_need_not_all_occur():
    est = _rr(epsilon=1e3).fit(_strings())
    assert est.categories_[0].tolist() == COLORS
    X = np.array([["green", "yes"]], dtype=object)
    assert est.transform(X).tolist() == [["green", "yes"]]


def test_unknown_category_error_does_not_show_value():
    est = _rr().fit(_strings())
    X = np.array([["SECRET-VALUE", "yes"]], dtype=object)
    with pytest.raises(ValueError, match="not in categories_") as info:
        est.transform(X)
    assert "SECRET" not in str(info.value)


def test_unknown_category_in_fit_with_given_categories():
    X = _strings()
    X[0, 0] = "purple"
    with pytest.raises(ValueError, match="column 0"):
        _rr().fit(X)


def test_handle_unknown_random_is_uniform():
    est = _rr(handle_unknown="random", epsilon=0.5).fit(_strings())
    n = 300_000
    Xt = est.transform(np.array([["purple", "no"]] * n, dtype=object))
    for color in COLORS:
        hit = (Xt[:, 0] == color).astype(float)
        assert_mean_matches(hit, 1 / 3, math.sqrt(2 / 9), "uniform")


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, True])
def test_bad_epsilon(bad):
    with pytest.raises(ValueError, match="epsilon"):
        _rr(epsilon=bad).fit(_strings())


@pytest.mark.parametrize(
    "categories, match",
    [
        ([COLORS], "one entry per column"),
        ([COLORS, ["no", "no", "yes"]], "duplicate"),
        ([COLORS, []], "non-empty"),
        ([COLORS, np.array(["no", 1], dtype=object)], "mix types"),
    ],
)
def test_bad_categories(categories, match):
    with pytest.raises(ValueError, match=match):
        RandomizedResponse(categories=categories).fit(_strings())


def test_bad_categories_type():
    with pytest.raises(ValueError, match="categories"):
        RandomizedResponse(categories="all").fit(_strings())


def test_missing_values_rejected():
    X = _strings()
    X[1, 1] = None
    with pytest.raises(ValueError, match="missing"):
        RandomizedResponse().fit(X)
    X[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        RandomizedResponse().fit(X)
    with pytest.raises(ValueError, match="infinit"):
        RandomizedResponse().fit(np.array([[1.0], [np.inf]]))


def test_pandas_missing_values_rejected_clearly():
    # pd.NA used to crash inside the finiteness check with "boolean value of
    # NA is ambiguous"; every missing marker gets the same clear error.
    pd = pytest.importorskip("pandas")
    frames = [
        pd.DataFrame({"a": pd.array(["x", None], dtype="string")}),
        pd.DataFrame({"a": pd.array(["x", None], dtype="string"), "b": [1, 2]}),
        pd.DataFrame({"a": pd.Categorical(["x", None])}),
        pd.DataFrame({"a": pd.array([1, None], dtype="Int64")}),
        pd.DataFrame({"a": pd.to_datetime(["2024-01-01", None])}),
    ]
    rr = RandomizedResponse(categories=[["x", "y"]], handle_unknown="random")
    rr.fit(np.array([["x"], ["y"]], dtype=object))
    for df in frames:
        with pytest.raises(ValueError, match="missing values"):
            RandomizedResponse().fit(df)
    with pytest.raises(ValueError, match="missing values"):
        rr.transform(np.array([["x"], [pd.NA]], dtype=object))


def test_mixed_types_in_a_column_rejected():
    X = np.array([["a"], [1]], dtype=object)
    with pytest.raises(ValueError, match="mix types"):
        RandomizedResponse().fit(X)


def test_wrong_number_of_features():
    est = _rr().fit(_strings())
    with pytest.raises(ValueError, match="features"):
        est.transform(np.array([["red"]], dtype=object))


# ------------------------------------------------------------ hypothesis


@given(
    data=st.lists(
        st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=20
    ),
    epsilon=st.floats(1e-2, 100),
)
def test_properties(data, epsilon):
    X = np.array(data)
    est = RandomizedResponse(
        epsilon=epsilon, categories=[list(range(6))] * 3, random_state=0
    )
    Xt = est.fit_transform(X)
    assert Xt.shape == X.shape and Xt.dtype == X.dtype
    assert ((Xt >= 0) & (Xt <= 5)).all()
    assert est.keep_probability_.shape == (3,)


def test_grid_search_over_epsilon_is_accounted():
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X = _strings(90)
    y = (X[:, 1] == "yes").astype(int)
    pipe = make_pipeline(
        _rr(), OneHotEncoder(categories=[COLORS, ["no", "yes"]]), LogisticRegression()
    )
    search = GridSearchCV(pipe, {"randomizedresponse__epsilon": [1.0, 4.0]}, cv=3)
    search.fit(X, y)
    best = search.best_params_["randomizedresponse__epsilon"]
    assert privacy_spent(search, delta=0.0).epsilon == pytest.approx(15.0 + best)
    assert privacy_spent(search, delta=1e-6).epsilon < 15.0 + best
