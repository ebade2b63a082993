"""skpriv.stats: noise scales against the formula, privacy loss, properties."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from skpriv import stats
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.mechanisms import grid_granularity
from skpriv.stats import _functions
from skpriv.stats._noise import Release

from ..mechanisms._stats import assert_mean_matches, epsilon_lower_bound

N_DRAWS = 6000


def _mis_scaled(monkeypatch, factor):
    """Every stats release draws ``factor`` times the noise it accounts for."""
    real = _functions.plan_release

    def broken(sensitivity, share):
        r = real(sensitivity, share)
        return Release(r.kind, r.scales * factor, r.granularity, r.event)

    monkeypatch.setattr(_functions, "plan_release", broken)


# ------------------------------------------------- golden noise scales


def _mean_noise_ok(rng):
    # Two features of widths 1 and 10, 1000 rows, pure epsilon 1: the mean of
    # feature j has Laplace noise of scale d (w_j / 2 + g_j) / (epsilon n).
    n, d, eps = 1000, 2, 1.0
    X = np.column_stack([np.full(n, 0.5), np.full(n, 5.0)])
    widths = np.array([1.0, 10.0])
    nominal = d * (widths / 2) / eps
    scale = d * (widths / 2 + np.array([grid_granularity(s) for s in nominal])) / eps
    b = scale / n
    out = np.array(
        [
            stats.mean(X, eps, bounds=(0, [1, 10]), axis=0, random_state=rng)
            for _ in range(N_DRAWS)
        ]
    )
    for j in range(d):
        # |Laplace(b)| has mean b and standard deviation b.
        assert_mean_matches(np.abs(out[:, j] - X[0, j]), b[j], b[j], f"mean scale {j}")


def test_mean_noise_scale_per_feature_matches_formula():
    _mean_noise_ok(np.random.default_rng(0))


def test_mean_noise_scale_test_has_power(monkeypatch):
    _mis_scaled(monkeypatch, 0.9)
    with pytest.raises(AssertionError, match="mean scale"):
        _mean_noise_ok(np.random.default_rng(0))


def _gaussian_noise_ok(rng):
    # Gaussian: feature j gets sd sqrt(d) (w_j / 2 + g_j) / mu, mu from the
    # analytic Gaussian at (epsilon, delta).
    from skpriv.accounting import gaussian_sigma

    n, d, eps, delta = 1000, 3, 1.0, 1e-5
    X = np.full((n, d), 0.5) * np.array([1.0, 2.0, 4.0])
    widths = np.array([1.0, 2.0, 4.0])
    ratio = math.sqrt(d) * gaussian_sigma(eps, delta)
    grid = np.array([grid_granularity(w / 2 * ratio) for w in widths])
    sd = (widths / 2 + grid) * ratio / n
    out = np.array(
        [
            stats.mean(
                X, eps, bounds=(0, widths), axis=0, delta=delta, random_state=rng
            )
            for _ in range(N_DRAWS)
        ]
    )
    for j in range(d):
        err2 = (out[:, j] - X[0, j]) ** 2
        assert_mean_matches(err2, sd[j] ** 2, math.sqrt(2) * sd[j] ** 2, f"gauss {j}")


def test_gaussian_noise_scale_per_feature_matches_formula():
    _gaussian_noise_ok(np.random.default_rng(1))


def test_gaussian_noise_scale_test_has_power(monkeypatch):
    _mis_scaled(monkeypatch, 0.9)
    with pytest.raises(AssertionError, match="gauss"):
        _gaussian_noise_ok(np.random.default_rng(1))


# ------------------------------------------ empirical privacy loss


M = 2_000_000


def _mean_loss_lower_bound(rng):
    # M independent releases at epsilon 1 each: M columns, epsilon M in
    # total (split equally). D holds one row at the lower bound, D' adds a
    # row at the upper bound: the centred sum moves by the sensitivity 1/2,
    # and S = {centred sum <= -1/2} has probability ratio e^epsilon.
    D = np.zeros((1, M))
    D2 = np.vstack([D, np.ones((1, M))])
    out = stats.mean(D, float(M), bounds=(0, 1), axis=0, random_state=rng)
    out2 = stats.mean(D2, float(M), bounds=(0, 1), axis=0, random_state=rng)
    s1, s2 = (out - 0.5) * 1, (out2 - 0.5) * 2
    return epsilon_lower_bound(
        int(np.count_nonzero(s1 <= -0.5)), int(np.count_nonzero(s2 <= -0.5)), M
    )


@pytest.mark.slow
def test_mean_empirical_privacy_loss_within_epsilon():
    assert _mean_loss_lower_bound(np.random.default_rng(5)) <= 1.0


@pytest.mark.slow
def test_mean_privacy_loss_test_has_power(monkeypatch):
    _mis_scaled(monkeypatch, 0.9)
    assert _mean_loss_lower_bound(np.random.default_rng(5)) > 1.0


Q_COLS = 100_000


def _quantile_loss_lower_bound(rng, epsilon_each=1.0):
    # Q_COLS independent median releases (one per column) on the grid
    # {0, 1/2, 1}. D: one row at 0; D': plus a row at 1. For D, u = (-1/2,
    # -1/2, -1/2); for D', u = (-1, 0, 0): P_D(0) = 1/3, P_D'(0) =
    # e^-eps / (e^-eps + 2): ratio below e^eps.
    D = np.zeros((1, Q_COLS))
    D2 = np.vstack([D, np.ones((1, Q_COLS))])
    total = epsilon_each * Q_COLS
    kw = dict(bounds=(0, 1), axis=0, n_grid=2, random_state=rng)
    a = stats.quantile(D, 0.5, total, **kw)
    b = stats.quantile(D2, 0.5, total, **kw)
    return epsilon_lower_bound(
        int(np.count_nonzero(a == 0)), int(np.count_nonzero(b == 0)), Q_COLS
    )


@pytest.mark.slow
def test_quantile_empirical_privacy_loss_within_epsilon():
    assert _quantile_loss_lower_bound(np.random.default_rng(6)) <= 1.0


@pytest.mark.slow
def test_quantile_privacy_loss_test_has_power(monkeypatch):
    # An exponential mechanism that forgets the factor 2 (spends 2 epsilon).
    from skpriv.stats import _quantile

    real = _quantile.grid_quantiles

    def broken(sorted_values, qs, candidates, epsilon, per_row, rng):
        return real(sorted_values, qs, candidates, 2 * epsilon, per_row, rng)

    monkeypatch.setattr(_functions, "grid_quantiles", broken)
    assert _quantile_loss_lower_bound(np.random.default_rng(6)) > 1.0


# ----------------------------------------------------- behaviour


def test_quantile_vectorized_shapes_and_accuracy():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 100, size=(20_000, 3))
    out = stats.quantile(
        X, [0.1, 0.5, 0.9], 3.0, bounds=(0, 100), axis=0, random_state=0
    )
    assert out.shape == (3, 3)
    np.testing.assert_allclose(out, np.quantile(X, [0.1, 0.5, 0.9], axis=0), atol=1.5)
    flat = stats.quantile(X, [0.5], 1.0, bounds=(0, 100), random_state=0)
    assert flat.shape == (1,)
    assert isinstance(stats.quantile(X[:, 0], 0.5, 1.0, bounds=(0, 100)), float)


def test_quantile_without_bounds_uses_the_public_log_grid():
    from skpriv.stats._quantile import log_grid

    X = np.random.default_rng(0).lognormal(3, 1, size=50_000)
    out = stats.quantile(X, [0.5, 0.99], 1.0, bounds="private", random_state=0)
    assert np.isin(out, log_grid()).all()
    true = np.quantile(X, [0.5, 0.99])
    assert np.all(np.abs(np.log(out / true)) < 0.2)


def test_private_bounds_spend_the_stated_share():
    from skpriv.accounting import PrivacyBudget

    X = np.random.default_rng(0).normal(10, 2, size=20_000)
    budget = PrivacyBudget(1.0)
    m = stats.mean(X, 1.0, bounds="private", budget=budget, random_state=0)
    assert abs(m - 10) < 0.3
    assert budget.spent.epsilon == pytest.approx(1.0)


def test_bounds_none_warns():
    with pytest.warns(PrivacyLeakWarning, match="bounds=None"):
        stats.mean([1.0, 2.0, 3.0], 1.0, random_state=0)
    with pytest.warns(PrivacyLeakWarning, match="range=None"):
        stats.histogram([1.0, 2.0, 3.0], 1.0, bins=3, random_state=0)


def test_count_and_histogram_are_integers_near_the_truth():
    X = np.random.default_rng(0).uniform(0, 1, size=(10_000, 2)) > 0.5
    c = stats.count(X, 2.0, axis=0, random_state=0)
    assert c.dtype == np.int64 and c.shape == (2,)
    np.testing.assert_allclose(c, X.sum(axis=0), atol=40)
    hist, edges = stats.histogram(
        X[:, 0].astype(float), 1.0, bins=[0, 0.5, 1.0], random_state=0
    )
    assert hist.dtype == np.int64
    np.testing.assert_allclose(
        hist, np.histogram(X[:, 0].astype(float), [0, 0.5, 1.0])[0], atol=40
    )
    dens, _ = stats.histogram(
        X[:, 0].astype(float), 1.0, bins=2, range=(0, 1), density=True
    )
    assert dens.sum() * 0.5 == pytest.approx(1.0)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: stats.mean([[1.0, np.nan]], 1.0, bounds=(0, 1)), "NaN"),
        (lambda: stats.mean([1.0, 2.0], 1.0, bounds=(0, 1), axis=1), "axis"),
        (lambda: stats.mean([1.0, 2.0], -1.0, bounds=(0, 1)), "epsilon"),
        (lambda: stats.mean([1.0, 2.0], 1.0, bounds=(1, 0)), "bounds"),
        (lambda: stats.quantile([1.0, 2.0], 1.5, 1.0, bounds=(0, 1)), "q must"),
        (lambda: stats.var(np.ones((2, 2, 2)), 1.0, bounds=(0, 1)), "1-D"),
        (lambda: stats.mean([], 1.0, bounds=(0, 1)), "empty"),
        (lambda: stats.mean(["secret-7"], 1.0, bounds=(0, 1)), "numeric"),
        (lambda: stats.mean([1.0], 1.0, bounds=(0, 1), budget=1.0), "PrivacyBudget"),
    ],
)
def test_errors_name_the_parameter_and_no_value(call, match):
    with pytest.raises((ValueError, TypeError), match=match) as info:
        call()
    assert "secret-7" not in str(info.value)


@settings(max_examples=40, deadline=None)
@given(
    data=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=50),
    lower=st.floats(-100, 0),
    width=st.floats(1e-3, 100),
    eps=st.floats(0.01, 10),
    seed=st.integers(0, 2**31),
)
def test_properties_outputs_respect_the_bounds(data, lower, width, eps, seed):
    upper = lower + width
    b = (lower, upper)
    m = stats.mean(data, eps, bounds=b, random_state=seed)
    v = stats.var(data, eps, bounds=b, random_state=seed)
    q = stats.quantile(data, [0.2, 0.8], eps, bounds=b, n_grid=64, random_state=seed)
    assert lower <= m <= upper
    assert 0.0 <= v <= (upper - lower) ** 2 / 4 * (1 + 1e-12)
    assert np.all((q >= lower) & (q <= upper))
    grid = lower + (upper - lower) * (np.arange(65) / 64)
    assert np.isin(q, grid).all()


def test_statistics_are_reproducible_and_fresh():
    X = np.arange(100.0)
    a = stats.mean(X, 1.0, bounds=(0, 100), random_state=3)
    assert a == stats.mean(X, 1.0, bounds=(0, 100), random_state=3)
    draws = {stats.mean(X, 1.0, bounds=(0, 100)) for _ in range(5)}
    assert len(draws) > 1


def test_sum_is_n_times_the_mean():
    X = np.random.default_rng(0).uniform(0, 1, 1000)
    s = stats.sum(X, 1.0, bounds=(0, 1), random_state=0)
    m = stats.mean(X, 1.0, bounds=(0, 1), random_state=0)
    assert s == pytest.approx(1000 * m)
    assert abs(s - X.sum()) < 10
