"""MST and AIM synthesizers: accounting, noise, selection, round trips, bad input."""

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

pytest.importorskip("mbi")

from skpriv.accounting import epsilon_of, privacy_spent  # noqa: E402
from skpriv.exceptions import PrivacyLeakWarning  # noqa: E402
from skpriv.synthetic import (  # noqa: E402
    AIMSynthesizer,
    MSTSynthesizer,
    _measure,  # noqa: E402
    evaluate,
)
from skpriv.synthetic._base import BaseSynthesizer  # noqa: E402
from skpriv.synthetic._measure import marginal, noisy_max  # noqa: E402

#: False-failure rate of every statistical test here.
ALPHA = 1e-6
SYNTHS = [MSTSynthesizer, AIMSynthesizer]


def _patients(n=400, seed=0):
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 90, n)
    sex = rng.choice(["F", "M"], n)
    return pd.DataFrame(
        {
            "age": age,
            "sex": pd.Categorical(sex, categories=["F", "M"]),
            "bmi": 20 + 0.1 * age + rng.normal(0, 3, n),
            "smoker": rng.random(n) < 0.2 + 0.3 * (sex == "M"),
            "visit": pd.Timestamp("2020-01-01")
            + pd.to_timedelta(rng.integers(0, 365, n), unit="D"),
            "ward": rng.choice(["A", "B", "C"], n).astype(object),
        }
    )


DOMAIN = {
    "age": (18, 100),
    "sex": ["F", "M"],
    "bmi": (10.0, 50.0),
    "visit": (pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01")),
    "ward": ["A", "B", "C"],
}


@pytest.fixture(scope="module")
def fitted():
    df = _patients()
    return df, {
        cls: cls(epsilon=1.0, domain=DOMAIN, n_bins=8, random_state=0).fit(df)
        for cls in SYNTHS
    }


# --------------------------------------------------------------------------
# Accounting: one plan, privacy_spent equals epsilon
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cls", SYNTHS)
def test_privacy_spent_equals_epsilon_and_covers_everything(cls, fitted):
    _, models = fitted
    synth = models[cls]
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        spent = privacy_spent(synth, strict=True)
    assert spent.delta == synth.delta
    assert synth.epsilon * (1 - 2e-3) <= spent.epsilon <= synth.epsilon
    # One plan: the recorded event is the one a search would plan.
    assert synth._planned_dp_event(400) == synth.dp_event_


@pytest.mark.parametrize("cls", SYNTHS)
@pytest.mark.parametrize("epsilon", [0.3, 4.0])
def test_plan_calibrates_to_epsilon(cls, epsilon):
    est = cls(epsilon=epsilon, delta=1e-7)
    est.n_features_in_ = 6
    event = est._planned_dp_event(1000)
    assert epsilon * (1 - 2e-3) <= epsilon_of(event, 1e-7) <= epsilon


def test_large_epsilon_is_calibrated_safely_and_fast():
    # Above 20 the RDP calibration stands (the PLD one would take minutes).
    est = MSTSynthesizer(epsilon=1000.0)
    est.n_features_in_ = 4
    event = est._planned_dp_event(100)
    assert 950.0 <= epsilon_of(event, 1e-9, "rdp") <= 1000.0


def test_private_domain_spends_its_share_and_is_dp(recwarn):
    df = _patients()
    domain = {
        "sex": ["F", "M"],
        "ward": ["A", "B", "C"],
        "age": "private",
        "bmi": "private",
        "visit": "private",
    }
    synth = MSTSynthesizer(epsilon=2.0, domain=domain, n_bins=8, random_state=0)
    synth.fit(df)
    assert not [w for w in recwarn if issubclass(w.category, PrivacyLeakWarning)]
    spent = privacy_spent(synth, strict=True)
    assert 2.0 * (1 - 2e-3) <= spent.epsilon <= 2.0
    low, high = synth.domain_["age"]
    assert low <= 20 and high >= 89  # the log grid brackets the ages
    assert synth.sample(50)["age"].between(low, high).all()


def test_domain_from_data_warns_and_is_named_uncovered():
    df = _patients()
    synth = MSTSynthesizer(epsilon=1.0, domain={"sex": ["F", "M"]}, random_state=0)
    with pytest.warns(PrivacyLeakWarning, match="age"):
        synth.fit(df)
    with pytest.warns(PrivacyLeakWarning):
        spent = privacy_spent(synth)
    assert [u.attribute for u in spent.uncovered] == ["domain_"]


# --------------------------------------------------------------------------
# Noise: the marginals' Gaussian is calibrated as claimed
# --------------------------------------------------------------------------


def _neighbours():
    rng = np.random.default_rng(1)
    codes = rng.integers(0, 4, size=(300, 2))
    extreme = np.array([[3, 3]])
    return codes, np.vstack([codes, extreme])


def _variance_bounds(n):
    return (
        stats.chi2.ppf(ALPHA / 2, n - 1) / (n - 1),
        stats.chi2.ppf(1 - ALPHA / 2, n - 1) / (n - 1),
    )


def _measured_noise(nm, draws):
    """Noisy minus exact count of the cell one row changes, on both neighbours."""
    d, d2 = _neighbours()
    est = MSTSynthesizer()
    sizes = [4, 4]
    out = []
    for codes in (d, d2):
        rng = np.random.default_rng(7)
        exact = marginal(codes, sizes, (0, 1))[-1]
        noisy = np.array(
            [est._measure(codes, sizes, (0, 1), nm, rng)[1][-1] for _ in range(draws)]
        )
        out.append(noisy - exact)
    return out, est._measure(d, sizes, (0, 1), nm, np.random.default_rng(0))[2]


def _assert_noise_as_claimed(nm, draws=20_000):
    (noise, noise2), sigma = _measured_noise(nm, draws)
    # The claimed event: a Gaussian of noise multiplier nm at sensitivity 1.
    assert sigma / (1 + _measure.gaussian_for(nm).granularity) == pytest.approx(nm)
    lo, hi = _variance_bounds(2 * draws)
    var = np.concatenate([noise, noise2]).var(ddof=1) / sigma**2
    assert lo <= var <= hi, var
    # The two neighbours' outputs differ only by the shift of one count.
    z = stats.norm.ppf(1 - ALPHA / 2)
    for e in (noise, noise2):
        assert abs(e.mean()) <= z * sigma / np.sqrt(draws)


def test_marginal_noise_is_calibrated_as_claimed():
    plan = MSTSynthesizer(epsilon=1.0)._plan(6, 0)
    _assert_noise_as_claimed(plan.measure)


def test_marginal_noise_check_has_power(monkeypatch):
    # A mechanism adding 10% less noise than its event claims must fail.
    real = _measure.gaussian_for

    def too_little(nm):
        mech = real(nm)
        return type(mech)(0.9 * mech.sigma, granularity=mech.granularity)

    monkeypatch.setattr(_measure, "gaussian_for", too_little)
    monkeypatch.setattr(
        _measure,
        "measure",
        lambda counts, nm, rng: (too_little(nm).randomise(counts, rng), real(nm).sigma),
    )
    import skpriv.synthetic._base as base

    monkeypatch.setattr(base, "measure", _measure.measure)
    with pytest.raises(AssertionError):
        _assert_noise_as_claimed(5.0)


def test_marginal_outputs_are_on_the_grid():
    codes, _ = _neighbours()
    est = MSTSynthesizer()
    _, noisy, _, _ = est._measure(codes, [4, 4], (0, 1), 3.0, np.random.default_rng(0))
    g = _measure.gaussian_for(3.0).granularity
    np.testing.assert_array_equal(noisy / g, np.round(noisy / g))


# --------------------------------------------------------------------------
# Selection: report noisy max is epsilon-DP on neighbouring scores
# --------------------------------------------------------------------------


def _first_picked(scores, epsilon, draws, select=noisy_max):
    rng = np.random.default_rng(3)
    return sum(select(scores, epsilon, 1.0, rng) == 0 for _ in range(draws))


def _assert_selection_dp(select, epsilon=1.0, draws=20_000):
    # Scores [0, 0] and [-1, 1] are neighbours (each moved by the sensitivity
    # 1); epsilon-DP needs P'(0) >= exp(-epsilon) P(0) = exp(-epsilon) / 2.
    picked = _first_picked(np.array([-1.0, 1.0]), epsilon, draws, select)
    lower = stats.beta.ppf(ALPHA, picked, draws - picked + 1)  # Clopper-Pearson
    assert lower >= np.exp(-epsilon) / 2 * (1 - 1e-9), (picked / draws, lower)


def test_selection_is_epsilon_dp_on_neighbouring_scores():
    _assert_selection_dp(noisy_max)


def test_selection_check_has_power():
    from skpriv.mechanisms import Laplace

    def half_noise(scores, epsilon, sensitivity, rng):
        mech = Laplace.from_epsilon(epsilon, sensitivity=sensitivity)  # b halved
        return int(np.argmax(mech.randomise(scores, rng)))

    with pytest.raises(AssertionError):
        _assert_selection_dp(half_noise)


def test_selection_prefers_large_scores_and_is_on_the_grid():
    rng = np.random.default_rng(0)
    picks = [noisy_max(np.array([0.0, 50.0, 0.0]), 1.0, 1.0, rng) for _ in range(200)]
    assert np.mean(np.array(picks) == 1) > 0.95
    assert noisy_max(np.array([3.0]), 1.0, 1.0, rng) == 0


# --------------------------------------------------------------------------
# Round trips, determinism
# --------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("cls", SYNTHS)
def test_dataframe_round_trip_keeps_columns_and_dtypes(cls, fitted):
    df, models = fitted
    out = models[cls].sample(300)
    assert isinstance(out, pd.DataFrame)
    assert list(out.columns) == list(df.columns)
    assert out.dtypes.to_dict() == df.dtypes.to_dict()
    assert out["age"].between(18, 100).all()
    assert out["bmi"].between(10.0, 50.0).all()
    assert set(out["ward"]) <= {"A", "B", "C"}
    assert set(out["sex"].cat.categories) == {"F", "M"}
    assert (
        out["visit"]
        .between(pd.Timestamp("2020-01-01"), pd.Timestamp("2021-01-01"))
        .all()
    )
    assert len(models[cls].sample(0)) == 0


@pytest.mark.slow
def test_synthetic_rows_keep_the_strong_dependence():
    # bmi rises with age: MST's tree measures that pair at a large budget.
    df = _patients(3000)
    synth = MSTSynthesizer(epsilon=8.0, domain=DOMAIN, n_bins=8, random_state=0)
    out = synth.fit(df).sample(3000)
    assert ("age", "bmi") in synth.cliques_ or ("bmi", "age") in synth.cliques_
    assert np.corrcoef(out["age"], out["bmi"])[0, 1] > 0.2
    report = evaluate(df, out)
    assert report.mean_one_way < 0.1


@pytest.mark.parametrize(
    "X",
    [
        np.random.default_rng(0).random((200, 3)),
        np.random.default_rng(0).integers(0, 5, (200, 3)),
        np.random.default_rng(0).choice(np.array(["a", "b"], dtype=object), (200, 2)),
        np.random.default_rng(0).random((200, 3)) < 0.5,
    ],
    ids=["float", "int", "object", "bool"],
)
def test_array_round_trip(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        synth = MSTSynthesizer(epsilon=2.0, n_bins=4, random_state=0).fit(X)
    out = synth.sample(50)
    assert isinstance(out, np.ndarray)
    assert out.shape == (50, X.shape[1]) and out.dtype == X.dtype
    if X.dtype.kind == "i":
        assert set(np.unique(out)) <= set(range(5))


@pytest.mark.slow
@pytest.mark.parametrize("cls", SYNTHS)
def test_same_seed_same_rows(cls):
    df = _patients(200)
    outs = [
        cls(epsilon=1.0, domain=DOMAIN, n_bins=8, random_state=s).fit(df).sample(100)
        for s in (0, 0, 1)
    ]
    pd.testing.assert_frame_equal(outs[0], outs[1])
    assert not outs[0].equals(outs[2])


@pytest.mark.slow
def test_sample_continues_the_stream_or_takes_a_seed(fitted):
    _, models = fitted
    synth = models[MSTSynthesizer]
    a, b = synth.sample(50), synth.sample(50)
    assert not a.equals(b)
    pd.testing.assert_frame_equal(
        synth.sample(50, random_state=3), synth.sample(50, random_state=3)
    )


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


def test_unknown_category_is_refused_without_quoting_it():
    df = _patients(100)
    df["ward"] = df["ward"].where(df.index != 5, "SECRET-WARD-9")
    synth = MSTSynthesizer(domain=DOMAIN, random_state=0)
    with pytest.raises(ValueError, match="ward") as info:
        synth.fit(df)
    assert "SECRET" not in str(info.value)
    assert not hasattr(synth, "dp_event_")


@pytest.mark.parametrize("column", ["bmi", "ward", "visit"])
def test_missing_values_are_refused(column):
    df = _patients(100)
    df[column] = df[column].astype(object).where(df.index != 3, None)
    with pytest.raises(ValueError, match=r"NaN|missing"):
        MSTSynthesizer(domain=DOMAIN).fit(df)


@pytest.mark.slow
def test_numbers_outside_declared_bounds_are_clipped():
    df = _patients(200)
    df.loc[0, "bmi"] = 1e6
    out = MSTSynthesizer(domain=DOMAIN, random_state=0).fit(df).sample(200)
    assert out["bmi"].max() <= 50.0


@pytest.mark.parametrize(
    "params, match",
    [
        ({"delta": 0.0}, "delta"),
        ({"domain": {"nope": [1]}}, "nope"),
        ({"domain": {**DOMAIN, "ward": "private"}}, "categorical"),
        ({"domain": {**DOMAIN, "bmi": (5.0, 5.0)}}, "low < high"),
        ({"n_bins": 1}, "n_bins"),
        ({"epsilon": -1.0}, "epsilon"),
    ],
)
def test_bad_parameters_name_the_fix(params, match):
    with pytest.raises(ValueError, match=match):
        MSTSynthesizer(**params).fit(_patients(50))


def test_aim_workload_names_columns():
    df = _patients(200)
    with pytest.raises(ValueError, match="workload"):
        AIMSynthesizer(domain=DOMAIN, workload=[("age", "nope")]).fit(df)
    synth = AIMSynthesizer(
        domain=DOMAIN,
        n_bins=8,
        workload=[(("age", "bmi"), 2.0), ("sex", "smoker")],
        rounds=2,
        random_state=0,
    ).fit(df)
    allowed = {(0,), (2,), (0, 2), (1,), (3,), (1, 3)}
    names = list(df.columns)
    assert all(
        tuple(sorted(names.index(c) for c in cl)) in allowed for cl in synth.cliques_
    )
    assert len(synth.cliques_) == 2


@pytest.mark.slow
def test_sample_rejects_bad_counts(fitted):
    _, models = fitted
    with pytest.raises(ValueError, match="n_samples"):
        models[MSTSynthesizer].sample(-1)


# --------------------------------------------------------------------------
# Light import, extra named
# --------------------------------------------------------------------------


def test_import_is_light():
    code = (
        "import sys, skpriv.synthetic\n"
        "assert 'jax' not in sys.modules and 'mbi' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_missing_mbi_names_the_extra(monkeypatch):
    from skpriv.synthetic import _pgm

    monkeypatch.setitem(sys.modules, "mbi", None)
    with pytest.raises(ImportError, match=r"skpriv\[synth\]"):
        _pgm.import_mbi()


@pytest.mark.slow
def test_evaluate_reports_tstr_and_reference():
    df = _patients(600)
    train, test = df.iloc[:400], df.iloc[400:]
    report = evaluate(train, train, target="smoker", real_test=test)
    assert report.two_way and report.one_way
    assert report.mean_two_way == 0.0
    assert 0.0 <= report.tstr <= 1.0 and report.tstr == report.trtr
    assert "train on synthetic" in report.summary()


@pytest.mark.slow
def test_display_draws(fitted):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    from skpriv.display._synthetic import SyntheticQualityDisplay

    df, models = fitted
    disp = SyntheticQualityDisplay.from_data(df, models[MSTSynthesizer].sample(200))
    assert len(disp.ax_) == 2
    import matplotlib.pyplot as plt

    plt.close("all")


def test_base_is_not_public():
    import skpriv.synthetic as mod

    assert "BaseSynthesizer" not in mod.__all__
    assert issubclass(MSTSynthesizer, BaseSynthesizer)
