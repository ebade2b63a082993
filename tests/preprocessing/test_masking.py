import hashlib
import hmac
import pickle
import time
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import binom
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from sklearn.utils.estimator_checks import parametrize_with_checks

from skpriv.encryption import Key
from skpriv.preprocessing import Masker
from skpriv.utils.estimator_checks import _EXPECTED_FAILED_CHECKS

CANARY = (b"KEYCANARY" * 4)[:32]


def _col(values):
    return np.array(values, dtype=object).reshape(-1, 1)


# ---------------------------------------------------------------- sklearn checks
# Text output cannot go through the checks' assert_allclose (the same reason
# as ColumnEncryptor's entry in skpriv's expected-failures table);
# test_exact_equality_checks below checks these properties exactly.
_TEXT_OUTPUT_FAILURES = {
    check: reason.replace("ColumnEncryptor", "Masker")
    for check, reason in _EXPECTED_FAILED_CHECKS["ColumnEncryptor"].items()
}
_CHECKED = [
    Masker(strategy="replace", fill_value=-1.0),  # numeric output: every check
    Masker(strategy="hash", key=Key(CANARY)),
    Masker(strategy="generalize", n_bins=3),
]
_EXACT = [
    *_CHECKED[1:],
    Masker(strategy="redact"),
    Masker(strategy="partial", keep_first=1, keep_last=1),
]


@parametrize_with_checks(
    _CHECKED,
    expected_failed_checks=lambda est: (
        {} if est.strategy == "replace" else _TEXT_OUTPUT_FAILURES
    ),
)
def test_sklearn_checks_on_every_strategy(estimator, check):
    check(estimator)


@pytest.mark.parametrize("masker", _EXACT, ids=lambda m: m.strategy)
def test_exact_equality_checks(masker):
    # What the expected failures above check with assert_allclose, exactly.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    full = masker.fit_transform(X)
    np.testing.assert_array_equal(full, masker.fit(X).transform(X))
    order = rng.permutation(30)
    np.testing.assert_array_equal(full[order], masker.transform(X[order]))
    np.testing.assert_array_equal(full[:5], masker.transform(X[:5]))
    np.testing.assert_array_equal(full, masker.transform(X.tolist()))
    np.testing.assert_array_equal(full, pickle.loads(pickle.dumps(masker)).transform(X))
    np.testing.assert_array_equal(full, make_pipeline(masker).fit_transform(X))


# ---------------------------------------------------------------------- hash
def test_hash_is_keyed_hmac_not_plain_sha():
    key = Key(CANARY)
    values = ["alice@example.org", "123456", ""]
    out = Masker(strategy="hash", key=key, hash_length=64).fit_transform(_col(values))
    sub = key._material("masker/hash")
    for v, o in zip(values, out.ravel()):
        assert o == hmac.new(sub, v.encode(), hashlib.sha256).hexdigest()
        assert o != hashlib.sha256(v.encode()).hexdigest()
        assert o != hmac.new(CANARY, v.encode(), hashlib.sha256).hexdigest()


def test_hash_stable_and_unlinkable_across_keys_and_purposes():
    X = _col([f"id{i}" for i in range(200)])
    key = Key.generate()

    def pseudo(k):
        return Masker(strategy="hash", key=k).fit_transform(X).ravel()

    a = pseudo(key)
    np.testing.assert_array_equal(a, pseudo(key))
    assert len(set(a)) == 200
    for other in (Key.generate(), key.derive("emails"), key.derive("phones")):
        assert not set(a) & set(pseudo(other))
    assert not set(pseudo(key.derive("emails"))) & set(pseudo(key.derive("phones")))


def test_hash_of_repeated_values_matches_one_by_one():
    values = [f"id{i % 100}" for i in range(20_000)]  # deduplicating path
    masker = Masker(strategy="hash", key=Key.generate(), hash_length=13)
    out = masker.fit_transform(_col(values)).ravel()
    single = [masker.transform(_col([v]))[0, 0] for v in values[:100]]
    assert out[:100].tolist() == single and out[100:200].tolist() == single


@pytest.mark.parametrize("length", [8, 13, 16, 64])
def test_hash_length(length):
    out = Masker(strategy="hash", key=Key.generate(), hash_length=length)
    vals = out.fit_transform(_col(["a", "b"])).ravel()
    assert all(len(v) == length and int(v, 16) >= 0 for v in vals)


def test_dictionary_attack_recovers_nothing_without_key():
    ids = [f"{i:06d}" for i in range(100_000)]
    key = Key.generate()
    targets = _col(["042424", "999999", "000001"])
    pseudo = set(
        Masker(strategy="hash", key=key, hash_length=64).fit_transform(targets).ravel()
    )
    # An attacker enumerates all candidate IDs with plain hashes and with
    # HMACs under guessed keys: nothing matches.
    start = time.perf_counter()
    plain = {hashlib.sha256(i.encode()).hexdigest() for i in ids}
    elapsed = time.perf_counter() - start
    assert not pseudo & plain
    for guess in (b"", b"\x00" * 32, b"key", b"secret"):
        assert not pseudo & {
            hmac.new(guess, i.encode(), hashlib.sha256).hexdigest() for i in ids
        }
    # ...whereas the same enumeration reverses a plain hash at once.
    leaked = hashlib.sha256(b"042424").hexdigest()
    assert leaked in plain and elapsed < 5


def test_hash_numbers_as_text_and_missing_kept():
    m = Masker(strategy="hash", key=Key.generate()).fit(_col(["x"]))
    out = m.transform(np.array([[42], ["42"], [None], [np.nan]], dtype=object))
    assert out[0, 0] == out[1, 0]
    assert out[2, 0] is None and np.isnan(out[3, 0])


def test_hash_and_partial_ids_unchanged_by_missing_values():
    # An integer id column turns float when a value is missing: each id must
    # keep its pseudonym (joins across tables) and its partial mask.
    pd = pytest.importorskip("pandas")
    full = pd.DataFrame({"id": [1001, 1002, 1003]})
    holed = pd.DataFrame({"id": [1001, None, 1003]})
    nullable = pd.DataFrame({"id": pd.array([1001, None, 1003], dtype="Int64")})
    for masker in (
        Masker(strategy="hash", key=Key.generate()),
        Masker(strategy="partial", keep_last=2),
    ):
        ref = masker.fit_transform(full)[:, 0]
        for df in (holed, nullable):
            out = masker.fit_transform(df)[:, 0]
            assert out[[0, 2]].tolist() == ref[[0, 2]].tolist()
    # Non-integral floats keep their own text.
    m = Masker(strategy="partial", keep_last=3).fit(_col([1.5]))
    assert m.transform(_col([2.25])).ravel().tolist() == ["*.25"]


def test_dataframe_with_categorical_and_bool_columns():
    # scikit-learn's check_array(dtype=None) cast this frame to float and
    # failed with "Cannot cast str dtype to float64".
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"c": pd.Categorical(["a", "b"]), "flag": [True, False]})
    key = Key.generate()
    out = Masker(strategy="hash", key=key).fit_transform(df)
    alone = Masker(strategy="hash", key=key).fit_transform(df[["c"]])
    assert out[:, 0].tolist() == alone[:, 0].tolist()
    partial = Masker(strategy="partial", keep_last=1).fit_transform(df)
    assert partial[:, 1].tolist() == ["***e", "****e"]
    # Dates next to numbers failed too (DTypePromotionError, or "Cannot cast
    # DatetimeArray to dtype float64").
    dates = pd.to_datetime(["2020-01-05", "2021-03-04"])
    for other in ([True, False], [30, 40], pd.array([1.5, None], dtype="Float64")):
        frame = pd.DataFrame({"born": dates, "other": other})
        out = Masker(strategy="generalize").fit_transform(frame)
        assert out[:, 0].tolist() == ["2020-01", "2021-03"]


# ------------------------------------------------------------ other strategies
def test_redact_hides_missing_too():
    out = Masker().fit_transform(_col(["a", None, np.nan]))
    assert out.ravel().tolist() == ["[REDACTED]"] * 3


def test_replace_and_numeric_output():
    out = Masker(strategy="replace", fill_value="X").fit_transform(_col(["a", None]))
    assert out.ravel().tolist() == ["X", None]
    num = Masker(strategy="replace", fill_value=0).fit_transform([[1.5], [np.nan]])
    assert num.dtype == np.float64 and num[0, 0] == 0 and np.isnan(num[1, 0])
    assert np.isnan(Masker(strategy="replace").fit_transform([[1.0]])).all()


@pytest.mark.parametrize(
    "first, last, value, expected",
    [
        (0, 4, "4111111111111111", "************1111"),
        (1, 1, "alice", "a***e"),
        (2, 2, "abcd", "****"),  # too short to hide anything: all masked
        (0, 0, "abc", "***"),
        (3, 0, "abcdef", "abc***"),
        (0, 2, "", ""),
    ],
)
def test_partial(first, last, value, expected):
    m = Masker(strategy="partial", keep_first=first, keep_last=last)
    assert m.fit_transform(_col([value]))[0, 0] == expected


@given(
    text=st.text(min_size=0, max_size=30),
    first=st.integers(0, 5),
    last=st.integers(0, 5),
)
def test_partial_property(text, first, last):
    out = Masker(strategy="partial", keep_first=first, keep_last=last)
    masked = out.fit_transform(_col([text]))[0, 0]
    assert len(masked) == len(text)
    if len(text) > first + last:
        assert masked[:first] == text[:first]
        assert masked[len(text) - last :] == text[len(text) - last :]
        assert set(masked[first : len(text) - last]) <= {"*"}
    else:
        assert masked == "*" * len(text)


def test_partial_mask_char_and_numbers():
    m = Masker(strategy="partial", keep_last=2, mask_char="#")
    assert m.fit_transform(_col([123456, None])).ravel().tolist() == ["####56", None]
    with pytest.raises(ValueError, match="mask_char"):
        Masker(strategy="partial", mask_char="ab").fit(_col(["a"]))


def test_generalize_quantile_uniform_and_edges():
    X = np.arange(100, dtype=float).reshape(-1, 1)
    q = Masker(strategy="generalize", n_bins=4).fit(X)
    np.testing.assert_allclose(q.bin_edges_[0], [0, 24.75, 49.5, 74.25, 99])
    labels = q.transform(X).ravel()
    assert len(set(labels)) == 4 and labels[-1] == "[74.25, 99]"
    u = Masker(strategy="generalize", n_bins=2, binning="uniform").fit(X)
    np.testing.assert_allclose(u.bin_edges_[0], [0, 49.5, 99])
    assert u.transform([[-1], [200], [np.nan]]).ravel().tolist()[:2] == ["< 0", "> 99"]
    fixed = Masker(strategy="generalize", bin_edges=[0, 18, 65]).fit(X)
    assert fixed.transform([[17.9], [18], [65], [90]]).ravel().tolist() == [
        "[0, 18)",
        "[18, 65]",
        "[18, 65]",
        "> 65",
    ]


def test_generalize_labels_show_the_edges():
    # Edges were cut to 6 significant digits: epoch seconds 1600024750 read
    # "1600020000", and close edges all got the same label.
    X = (1.6e9 + np.arange(0, 100_000, 1000.0)).reshape(-1, 1)
    labels = sorted(set(Masker(strategy="generalize", n_bins=4).fit_transform(X)[:, 0]))
    assert labels[:2] == ["[1600000000, 1600024750)", "[1600024750, 1600049500)"]
    close = Masker(strategy="generalize", bin_edges=[1.0000001, 1.0000002, 1.0000003])
    assert close.fit_transform([[1.00000015], [1.00000025]]).ravel().tolist() == [
        "[1.0000001, 1.0000002)",
        "[1.0000002, 1.0000003]",
    ]


def test_generalize_top_and_bottom_coding():
    X = np.array([[1.0], [5], [20], [50], [90], [1000]])
    m = Masker(strategy="generalize", n_bins=2, bottom_code=5, top_code=90).fit(X)
    out = m.transform(X).ravel().tolist()
    assert out[0] == "< 5" and out[-2:] == [">= 90", ">= 90"]
    assert m.bin_edges_[0][0] == 5 and m.bin_edges_[0][-1] == 90
    with pytest.raises(ValueError, match="bottom_code"):
        Masker(strategy="generalize", bottom_code=5, top_code=1).fit(X)
    # With bin_edges they used to be silently ignored (90 -> "[50, 100]").
    for codes in ({"top_code": 90}, {"bottom_code": 5}):
        with pytest.raises(ValueError, match="bin_edges.*top_code"):
            Masker(strategy="generalize", bin_edges=[0, 50, 100], **codes).fit(X)


def test_generalize_dates():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "ts": pd.to_datetime(["2024-03-15", "2023-12-31", None]),
            "iso": ["2024-03-15", "1999-01-02", None],
        }
    )
    month = Masker(strategy="generalize").fit_transform(df)
    assert month[:2].tolist() == [["2024-03", "2024-03"], ["2023-12", "1999-01"]]
    year = Masker(strategy="generalize", date_unit="year").fit_transform(
        np.array(["2024-03-15", "2023-12-31"], dtype="datetime64[D]").reshape(-1, 1)
    )
    assert year.ravel().tolist() == ["2024", "2023"]


def test_generalize_aware_dates_keep_their_local_month():
    # They were converted to UTC (2020-01-31 23:00 in New York became
    # "2020-02") with a numpy UserWarning on every call.
    pd = pytest.importorskip("pandas")
    aware = pd.to_datetime(["2020-01-31 23:00", "2021-03-04 12:00"])
    aware = aware.tz_localize("America/New_York")
    inputs = [
        pd.DataFrame({"ts": aware}),
        pd.DataFrame({"ts": aware, "n": [1, 2]}),
        _col(["2020-01-31T23:00-05:00", "2021-03-04T12:00:00-05:00"]),
    ]
    for X in inputs:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            out = Masker(strategy="generalize").fit_transform(X)
        assert out[:, 0].tolist() == ["2020-01", "2021-03"]


def test_generalize_rejects_text():
    with pytest.raises(ValueError, match="numeric or date"):
        Masker(strategy="generalize").fit(_col(["a", "b"]))


def test_input_errors_do_not_show_the_values():
    # scikit-learn's "Expected 2D array, got 1D array instead: array=[...]"
    # printed the e-mail addresses the Masker was meant to hide.
    from skpriv.encryption import ColumnEncryptor
    from skpriv.preprocessing import LaplaceNoise, RandomizedResponse

    emails = ["alice@example.com", "bob@example.com"]
    for est, X, secret in (
        (Masker(), emails, "alice"),
        (ColumnEncryptor(Key.generate()), emails, "alice"),
        (RandomizedResponse(), emails, "alice"),
        (LaplaceNoise(bounds=(0, 1)), [0.123456, 0.75], "0.123456"),
    ):
        with pytest.raises(ValueError, match="Reshape your data") as info:
            est.fit(X)
        assert secret not in str(info.value)
    fitted = Masker().fit(_col(emails))
    with pytest.raises(ValueError, match="Reshape your data") as info:
        fitted.transform(emails)
    assert "alice" not in str(info.value)


def test_generalize_error_does_not_show_the_values():
    # Error messages end up in logs: they must not print what Masker hides.
    with pytest.raises(ValueError, match="numeric or date") as info:
        Masker(strategy="generalize").fit(_col(["alice@example.com", "bob"]))
    assert "alice" not in str(info.value) and "str" in str(info.value)


# -------------------------------------------------------------------- random
def _interval(n, p, alpha=1e-6):
    return binom.ppf(alpha / 2, n, p), binom.isf(alpha / 2, n, p)


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_random_replaces_a_binomial_share(p):
    # False-failure rate 1e-6: the count of replaced cells must lie in the
    # central 1 - 1e-6 interval of Binomial(n, p).
    X = np.ones((20_000, 5))
    lo, hi = _interval(X.size, p)
    out = Masker(strategy="random", p=p, fill_value=0.0, random_state=1).fit_transform(
        X
    )
    assert lo <= (out == 0).sum() <= hi
    # Independent across columns: pairs replaced together ~ Binomial(n, p^2).
    both = ((out[:, 0] == 0) & (out[:, 1] == 0)).sum()
    lo2, hi2 = _interval(len(X), p * p)
    assert lo2 <= both <= hi2
    # Power: a mechanism mis-scaled by 10% fails the same test.
    bad = Masker(strategy="random", p=p * 1.1, fill_value=0.0, random_state=1)
    assert not lo <= (bad.fit_transform(X) == 0).sum() <= hi


def test_random_object_columns_missing_and_seeds():
    X = _col(["a", "b", None, "d"] * 50)
    m = Masker(strategy="random", p=0.5, fill_value="?", random_state=0)
    a, b = m.fit_transform(X), m.transform(X)
    np.testing.assert_array_equal(a, b)  # an int seed repeats its masks
    assert a[2, 0] is None
    assert set(a.ravel()) - {None} <= {"a", "b", "d", "?"}
    fresh = Masker(strategy="random", p=0.5, fill_value="?").fit(X)
    assert not np.array_equal(fresh.transform(X), fresh.transform(X))
    assert (Masker(strategy="random", p=0.0).fit_transform(X) == X).all()
    assert (
        Masker(strategy="random", p=1.0).fit_transform(X).tolist().count([None]) == 200
    )


def test_random_records_no_dp_event():
    m = Masker(strategy="random", p=0.5, random_state=0).fit([[1.0]])
    assert not hasattr(m, "dp_event_")


# ---------------------------------------------------------- integration, errors
def test_column_transformer_pandas_output():
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(
        {
            "email": ["a@x.org", "b@y.org", None],
            "card": ["4111", "5500", "3400"],
            "age": [23.0, 67.0, 41.0],
        }
    )
    key = Key.generate()
    ct = ColumnTransformer(
        [
            ("ids", Masker(strategy="hash", key=key), ["email"]),
            ("card", Masker(strategy="partial", keep_last=2), ["card"]),
            ("age", Masker(strategy="generalize", bin_edges=[0, 30, 60]), ["age"]),
        ]
    ).set_output(transform="pandas")
    out = ct.fit_transform(df)
    assert list(out.columns) == ["ids__email", "card__card", "age__age"]
    assert out["card__card"].tolist() == ["**11", "**00", "**00"]
    assert out["age__age"].tolist() == ["[0, 30)", "> 60", "[30, 60]"]
    assert pd.isna(out["ids__email"][2])
    encoded = make_pipeline(ct, OneHotEncoder(handle_unknown="ignore")).fit_transform(
        df
    )
    assert encoded.shape[0] == 3


def test_bad_params_name_the_parameter():
    X = _col(["a"])
    with pytest.raises(ValueError, match="key"):
        Masker(strategy="hash").fit(X)
    with pytest.raises(ValueError, match="strategy"):
        Masker(strategy="scramble").fit(X)
    with pytest.raises(ValueError, match="hash_length"):
        Masker(strategy="hash", key=Key.generate(), hash_length=4).fit(X)
    with pytest.raises(ValueError, match="p"):
        Masker(strategy="random", p=1.5).fit(X)
    for edges in ([3, 1], ["a", "b"], [[0, 1], [2]]):
        with pytest.raises(ValueError, match="bin_edges"):
            Masker(strategy="generalize", bin_edges=edges).fit([[1.0]])
    with pytest.raises(ValueError, match="key"):
        Masker(strategy="hash", key="my secret").fit(X)


def test_repr_and_pickle_hide_key(monkeypatch):
    import base64

    monkeypatch.setenv("SKPRIV_TEST_MASK", base64.urlsafe_b64encode(CANARY).decode())
    m = Masker(strategy="hash", key=Key.from_env("SKPRIV_TEST_MASK")).fit(_col(["a"]))
    for blob in (repr(m).encode(), pickle.dumps(m), str(m.get_params()).encode()):
        assert CANARY not in blob and base64.urlsafe_b64encode(CANARY) not in blob
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(m)).transform(_col(["a"])), m.transform(_col(["a"]))
    )


# ------------------------------------------------------- what Masker releases
def _spent_quietly(obj):
    from skpriv.accounting import privacy_spent

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spent = privacy_spent(obj)
    return spent, [str(w.message) for w in caught]


@pytest.mark.parametrize(
    "masker",
    [
        Masker("hash", key=Key(CANARY)),
        Masker("redact"),
        Masker("partial"),
        Masker("replace", fill_value="x"),
        Masker("random", random_state=0),
        Masker("generalize", bin_edges=[0, 10, 20]),
        Masker("generalize", binning="uniform", bottom_code=0, top_code=20),
    ],
    ids=lambda m: m.strategy,
)
def test_strategies_learning_nothing_from_values_are_covered(masker):
    # Finding 11: every Masker was reported as learning from the data
    # (epsilon=inf and a warning naming the class, not the step).
    X = _col([3, 14, 25, 7])
    pipe = make_pipeline(masker, OneHotEncoder(handle_unknown="ignore")).fit(X)
    spent, messages = _spent_quietly(pipe.steps[0][1])
    assert spent == (0.0, 0.0) and spent.covered and not messages
    ct = ColumnTransformer([("ids", masker, [0])]).fit(X)
    spent, messages = _spent_quietly(ct)
    assert spent.epsilon == 0.0 and spent.covered and not messages


@pytest.mark.parametrize(
    "params", [{"binning": "quantile"}, {"binning": "uniform", "bottom_code": 0}]
)
def test_generalize_learned_bins_are_named_uncovered(params):
    X = _col([3, 14, 25, 7])
    ct = ColumnTransformer([("age", Masker("generalize", n_bins=2, **params), [0])])
    spent, messages = _spent_quietly(ct.fit(X))
    assert [(r.part, r.attribute) for r in spent.uncovered] == [("age", "bin_edges_")]
    assert "bin edges read from the data" in spent.uncovered[0].reason
    assert any("age" in m and "bin_edges_" in m for m in messages)


# ------------------------------------------------------------- typed columns
@pytest.mark.parametrize("unit", ["ns", "us", "s"])
def test_generalize_dates_in_every_unit(unit):
    # datetime64[ns] gave '-17861-05' and '12467-02' (nanoseconds read as
    # microseconds); birth years came out as '21561'.
    pd = pytest.importorskip("pandas")
    dates = np.array(["1950-03-04", "1980-07-01"], dtype=f"datetime64[{unit}]")
    month = Masker("generalize", date_unit="month")
    assert month.fit_transform(dates.reshape(-1, 1)).ravel().tolist() == [
        "1950-03",
        "1980-07",
    ]
    year = Masker("generalize", date_unit="year")
    frame = pd.DataFrame({"born": dates})
    assert year.fit_transform(frame).ravel().tolist() == ["1950", "1980"]


def test_hash_and_partial_of_dates_do_not_depend_on_the_unit():
    key = Key(CANARY)
    texts = {}
    for unit in ("ns", "us", "s"):
        dates = np.array(["1950-03-04"], dtype=f"datetime64[{unit}]").reshape(-1, 1)
        texts[unit] = (
            Masker("hash", key=key).fit_transform(dates)[0, 0],
            Masker("partial", keep_first=4, keep_last=0).fit_transform(dates)[0, 0],
        )
    assert texts["ns"] == texts["us"] == texts["s"]
    assert texts["ns"][1] == "1950" + "*" * 15  # "1950-03-04 00:00:00"


def test_nullable_integer_and_boolean_columns_keep_their_values():
    # Int64 columns turned float: 12345678901234567 and ...568 got one
    # pseudonym, another than the same ids in an int64 column; nullable True
    # hashed as "1"; partial gave '******************e+16'.
    pd = pytest.importorskip("pandas")
    ids = [12345678901234567, 12345678901234568]
    key = Key(CANARY)
    nullable = pd.DataFrame({"id": pd.array([*ids, None], dtype="Int64")})
    plain = pd.DataFrame({"id": np.array(ids, dtype="int64")})
    got = Masker("hash", key=key).fit_transform(nullable).ravel()
    want = Masker("hash", key=key).fit_transform(plain).ravel()
    assert got[0] != got[1] and list(got[:2]) == list(want)
    assert got[2] is pd.NA
    partial = Masker("partial", keep_last=4).fit_transform(nullable).ravel()
    assert list(partial[:2]) == ["*" * 13 + "4567", "*" * 13 + "4568"]
    flags = pd.DataFrame({"f": pd.array([True, False, None], dtype="boolean")})
    hashed = Masker("hash", key=key).fit_transform(flags).ravel()
    text = Masker("hash", key=key).fit_transform(_col(["True", "False"])).ravel()
    assert list(hashed[:2]) == list(text)


def test_masking_imports_no_encryption_helpers_for_columns():
    # STYLE: preprocessing takes column helpers from utils, not encryption.
    import skpriv.preprocessing._masking as masking
    import skpriv.utils._validation as validation

    for name in ("is_missing", "to_text", "typed_columns_as_object"):
        assert getattr(masking, name) is getattr(validation, name)


# -------------------------------------------------------------------- Unicode
def test_hash_normalizes_unicode_by_default():
    # "é" and "e" + U+0301 are one text typed two ways; they got two pseudonyms.
    key = Key(CANARY)
    X = _col(["caf\u00e9", "cafe\u0301", "\uff43afe\u0301"])
    nfc = Masker("hash", key=key).fit_transform(X).ravel()
    assert nfc[0] == nfc[1] != nfc[2]
    nfkc = Masker("hash", key=key, normalize="NFKC").fit_transform(X).ravel()
    assert nfkc[0] == nfkc[1] == nfkc[2] == nfc[0]
    raw = Masker("hash", key=key, normalize=None).fit_transform(X).ravel()
    assert raw[0] == nfc[0] != raw[1]


@pytest.mark.parametrize(
    "text, expected",
    [
        # A family emoji (three people joined by ZWJ) is one character.
        (
            "ab\U0001f468\u200d\U0001f469\u200d\U0001f467xyz",
            "ab\U0001f468\u200d\U0001f469\u200d\U0001f467*yz",
        ),
        ("\U0001f44d\U0001f3fdabcde", "\U0001f44d\U0001f3fdab*de"),  # skin tone
        (
            "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1eawxyz",
            "\U0001f1eb\U0001f1f7\U0001f1e9\U0001f1eaw*yz",
        ),
        ("e\u0301abcde", "e\u0301ab*de"),  # a combining accent stays on its letter
        ("12\u202e3456", "123*56"),  # a right-to-left override is dropped
        ("\u2067abc\u2069defg", "abc**fg"),
    ],
)
def test_partial_works_on_user_perceived_characters(text, expected):
    # partial cut joined emoji and accents apart and kept bidi controls.
    out = Masker("partial", keep_first=3, keep_last=2).fit_transform(_col([text]))
    assert out[0, 0] == expected
