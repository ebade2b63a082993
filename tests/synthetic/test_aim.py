"""AIM's zCDP filter, its exponential mechanism, and controlled-rounding sampling."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

pytest.importorskip("mbi")

from skpriv.accounting import epsilon_of, privacy_spent  # noqa: E402
from skpriv.synthetic import AIMSynthesizer  # noqa: E402
from skpriv.synthetic._measure import (  # noqa: E402
    bounded_range_event,
    exponential_mechanism,
)
from skpriv.synthetic._pgm import _rounded_draws  # noqa: E402
from skpriv.synthetic._plan import aim_plan  # noqa: E402

from .test_synthetic import _assert_selection_dp  # noqa: E402

#: False-failure rate of every statistical test here.
ALPHA = 1e-6


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 4, n)
    b = (a + rng.integers(0, 2, n)) % 4
    c = rng.random(n) < 0.3 + 0.1 * a
    return pd.DataFrame({"a": a, "b": b, "c": c})


DOMAIN = {"a": (0, 3), "b": (0, 3)}


def _spent_rho(synth):
    """zCDP cost of what the fit did, from its (DP) schedule."""
    nm = synth.noise_multiplier_
    return float(
        np.sum(1.0 / (2.0 * nm**2)) + np.sum(synth.selection_epsilon_**2 / 8.0)
    )


# --------------------------------------------------------------------------
# The exponential mechanism: epsilon-DP (and the test has power)
# --------------------------------------------------------------------------


def test_exponential_mechanism_is_epsilon_dp_on_neighbouring_scores():
    _assert_selection_dp(exponential_mechanism)


def test_exponential_mechanism_check_has_power():
    def twice_as_sharp(scores, epsilon, sensitivity, rng):
        return exponential_mechanism(scores, 2 * epsilon, sensitivity, rng)

    with pytest.raises(AssertionError):
        _assert_selection_dp(twice_as_sharp)


def test_exponential_mechanism_follows_its_distribution():
    # P(i) proportional to exp(eps * s_i / 2): a chi-square goodness of fit.
    rng = np.random.default_rng(0)
    scores, eps, draws = np.array([0.0, 1.0, 3.0]), 1.0, 30_000
    counts = np.bincount(
        [exponential_mechanism(scores, eps, 1.0, rng) for _ in range(draws)],
        minlength=3,
    )
    p = np.exp(eps * scores / 2)
    p /= p.sum()
    assert stats.chisquare(counts, draws * p).pvalue > ALPHA


def test_bounded_range_event_is_eps_squared_over_8():
    assert bounded_range_event(2.0).rho == pytest.approx(0.5)


# --------------------------------------------------------------------------
# Accounting: the plan's rho, checked by an independent conversion
# --------------------------------------------------------------------------


def _independent_epsilon(rho, delta):
    """rho-zCDP to (epsilon, delta): the conversion of Canonne, Kamath &
    Steinke (2020, Prop. 12 / Asoodeh et al.), minimised over real orders."""

    def eps(alpha):
        return (
            alpha * rho
            + math.log1p(-1.0 / alpha)
            - (math.log(delta) + math.log(alpha)) / (alpha - 1.0)
        )

    res = optimize.minimize_scalar(eps, bounds=(1.0 + 1e-6, 1e6), method="bounded")
    return float(res.fun)


@pytest.mark.parametrize("epsilon", [0.3, 1.0, 4.0, 10.0])
@pytest.mark.parametrize("delta", [1e-9, 1e-6])
def test_aim_rho_converts_to_epsilon_by_an_independent_accountant(epsilon, delta):
    plan = aim_plan(0, epsilon, delta)
    reported = epsilon_of(plan.event, delta)
    assert epsilon * (1 - 2e-3) <= reported <= epsilon
    independent = _independent_epsilon(plan.rho, delta)
    # dp-accounting minimises over a grid of orders: never below the
    # continuous minimum, and within 2% of it.
    assert independent * (1 - 1e-9) <= reported <= independent * 1.02
    # Bun & Steinke's simpler bound is looser still.
    assert reported <= plan.rho + 2 * math.sqrt(plan.rho * math.log(1 / delta))


def test_aim_event_is_known_before_the_data():
    est = AIMSynthesizer(epsilon=1.0, delta=1e-8, domain=DOMAIN, random_state=0)
    planned = est._planned_dp_event(300)
    est.fit(_table())
    assert est.dp_event_ == planned
    assert privacy_spent(est, strict=True).epsilon <= 1.0


# --------------------------------------------------------------------------
# The filter: every fit spends its rho, never more
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        {"epsilon": 1.0},
        {"epsilon": 1.0, "rounds": None},
        {"epsilon": 0.2, "rounds": 3},
        {"epsilon": 8.0, "rounds": 1},
        {"epsilon": 2.0, "workload": [("a", "b", "c")]},
    ],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_filter_spends_rho_and_never_more(params, seed):
    df = _table(seed=seed)
    synth = AIMSynthesizer(domain=DOMAIN, n_bins=4, random_state=seed, **params)
    synth.fit(df)
    spent = _spent_rho(synth)
    assert spent <= synth.rho_
    assert spent >= synth.rho_ * (1 - 1e-6)
    n_rounds = len(synth.cliques_)
    assert synth.selection_epsilon_.shape == (n_rounds,)
    assert synth.noise_multiplier_.shape == (df.shape[1] + n_rounds,)
    cap = params.get("rounds", "auto")
    if cap is not None:
        assert 1 <= n_rounds <= (math.ceil(1.5 * df.shape[1]) if cap == "auto" else cap)


def test_annealing_halves_the_noise_and_the_last_round_spends_the_rest():
    df = _table(2000, seed=2)
    synth = AIMSynthesizer(
        epsilon=4.0, domain=DOMAIN, n_bins=4, rounds=None, random_state=0
    )
    synth.fit(df)
    d = df.shape[1]
    first = synth.noise_multiplier_[0]
    assert np.all(synth.noise_multiplier_[:d] == first)
    rounds = synth.noise_multiplier_[d:-1]
    # Every round but the last: the first noise halved k times, k not falling.
    k = np.log2(first / rounds)
    np.testing.assert_allclose(k, np.round(k), atol=1e-9)
    assert np.all(np.diff(np.round(k)) >= 0)
    eps = synth.selection_epsilon_[:-1]
    np.testing.assert_allclose(eps / eps[0], 2.0 ** np.round(k), rtol=1e-9)


def test_the_schedule_is_declared_dp_and_rho_public():
    from skpriv.base import declared_releases

    kinds = declared_releases(AIMSynthesizer)
    assert kinds["noise_multiplier_"] == "dp"
    assert kinds["selection_epsilon_"] == "dp"
    assert kinds["rho_"] == "public"


# --------------------------------------------------------------------------
# Controlled rounding: counts within one of their expected value
# --------------------------------------------------------------------------


def test_rounded_draws_match_each_group_within_one():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(5), size=7)
    rows = rng.integers(0, 7, 5000)
    values = _rounded_draws(rows, probs, rng)
    for key in range(7):
        m = (rows == key).sum()
        counts = np.bincount(values[rows == key], minlength=5)
        assert counts.sum() == m
        assert np.all(np.abs(counts - m * probs[key]) < 1.0)


def test_rounded_draws_are_unbiased():
    # Fractional parts decide the leftover rows: each code's mean count is
    # m * p (a normal-approximation test per code over many draws).
    rng = np.random.default_rng(1)
    p = np.array([0.15, 0.35, 0.5])
    m, draws = 7, 20_000
    totals = np.zeros(3)
    sq = np.zeros(3)
    for _ in range(draws):
        c = np.bincount(
            _rounded_draws(np.zeros(m, dtype=np.int64), p[None], rng), minlength=3
        )
        totals += c
        sq += c**2
    mean = totals / draws
    sd = np.sqrt(sq / draws - mean**2)
    z = stats.norm.ppf(1 - ALPHA / 6)
    assert np.all(np.abs(mean - m * p) <= z * sd / np.sqrt(draws) + 1e-12)


def test_rounded_draws_shuffle_within_groups():
    rng = np.random.default_rng(2)
    values = _rounded_draws(np.zeros(1000, dtype=np.int64), np.array([[0.5, 0.5]]), rng)
    # Not sorted: runs of equal codes are short.
    assert np.count_nonzero(np.diff(values)) > 300


# --------------------------------------------------------------------------
# The numpy model tables equal mbi's own (its log-space pass is the fallback)
# --------------------------------------------------------------------------


def test_numpy_tables_equal_mbis_message_passing(monkeypatch):
    from skpriv.synthetic import _pgm

    df = _table(500, seed=3)
    synth = AIMSynthesizer(epsilon=2.0, domain=DOMAIN, n_bins=4, random_state=0)
    synth.fit(df)
    sizes = [dom.size for dom in synth._schema.domains]
    measurements = [
        (tuple(synth._schema.names.index(c) for c in cl), y, s, None)
        for cl, y, s in synth.measurements_
    ]
    model = synth._estimate(sizes, measurements, len(df), 200)
    ours = _pgm.MarginalModel.from_mbi(model, len(sizes))
    monkeypatch.setattr(_pgm, "_joint", lambda *args: None)  # force the fallback
    theirs = _pgm.MarginalModel.from_mbi(model, len(sizes))
    assert [s[:2] for s in ours.steps] == [s[:2] for s in theirs.steps]
    for (_, _, a), (_, _, b) in zip(ours.steps, theirs.steps):
        # mbi computes in float32.
        np.testing.assert_allclose(a, b, atol=1e-5)
    for clique in [(0,), (0, 1), (1, 2), (0, 2)]:
        np.testing.assert_allclose(
            ours.marginal(clique), theirs.marginal(clique), atol=1e-5
        )


@pytest.mark.skipif(
    not __import__("os").path.exists("/proc/self/maps"), reason="Linux memory maps"
)
def test_fits_do_not_accumulate_compiled_programs():
    # Each AIM fit compiles new XLA programs; kept, their memory mappings
    # reached vm.max_map_count after a few dozen fits and LLVM aborted.
    def n_maps():
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    rng = np.random.default_rng(0)
    counts = []
    for seed in range(4):
        df = pd.DataFrame(rng.integers(0, 4, size=(500, 5)), columns=list("vwxyz"))
        domain = {c: (0, 3) for c in df.columns}
        AIMSynthesizer(epsilon=2.0, domain=domain, n_bins=4, random_state=seed).fit(df)
        counts.append(n_maps())
    # Without the release, every fit added about a hundred mappings here.
    assert counts[-1] - counts[0] < 40, counts


def test_workload_errors_name_the_workload():
    df = _table(100)
    for workload, match in [
        ([(("a", "b"), float("nan"))], "finite"),
        ([(("a", "b"), -1.0)], "finite"),
        ([tuple("abc")] * 1, None),
    ]:
        est = AIMSynthesizer(domain=DOMAIN, workload=workload, n_bins=4, rounds=1)
        if match is None:
            est.fit(df)
        else:
            with pytest.raises(ValueError, match=match):
                est.fit(df)
    with pytest.raises(ValueError, match="max_model_size"):
        AIMSynthesizer(
            domain=DOMAIN, n_bins=4, rounds=1, max_model_size=1e-9, random_state=0
        ).fit(df)


def test_quick_compile_flag_is_restored_also_across_threads():
    import threading

    import jax

    from skpriv.synthetic._pgm import _quick_compile

    user = jax.config.read("jax_disable_most_optimizations")
    inside = []
    gate = threading.Barrier(2)

    def work():
        with _quick_compile(jax):
            gate.wait()  # both inside at once
            inside.append(jax.config.read("jax_disable_most_optimizations"))
            gate.wait()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inside == [True, True]
    assert jax.config.read("jax_disable_most_optimizations") == user
