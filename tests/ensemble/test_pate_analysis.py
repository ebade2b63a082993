"""PATE's privacy analysis: aggregator privacy, accountant agreement, RDP maths."""

import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.stats import beta, norm

from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.accounting._accountants import gaussian_mu2
from skpriv.ensemble._aggregation import aggregate, plurality, vote_counts
from skpriv.ensemble._pate_analysis import (
    RDP_ORDERS,
    aggregator_event,
    laplace_max_queries,
    laplace_scale_for_budget,
    logpr_answered,
    logq_gnmax,
    logq_lnmax,
    rdp_data_dependent_gaussian,
    rdp_data_dependent_pure,
    rdp_to_epsilon,
)

# ---------------------------------------------------------------------------
# Empirical privacy of the noisy-max aggregators on neighbouring histograms
# ---------------------------------------------------------------------------

#: Overall false-failure rate of each statistical test (Bonferroni-split over
#: its comparisons, Clopper-Pearson intervals).
ALPHA = 1e-6
N_TRIALS = 200_000


def _cp_bounds(k, n, alpha):
    """Exact (Clopper-Pearson) one-sided bounds on a binomial proportion."""
    lower = 0.0 if k == 0 else beta.ppf(alpha, k, n - k + 1)
    upper = 1.0 if k == n else beta.ppf(1 - alpha, k + 1, n - k)
    return lower, upper


def _violations(outputs, outputs_nb, n_outcomes, epsilon, delta, alpha):
    """Outcomes whose frequencies prove P(o|D) > e^eps P(o|D') + delta."""
    pairs = [(outputs, outputs_nb), (outputs_nb, outputs)]
    n_tests = 2 * n_outcomes
    bad = []
    for a, b in pairs:
        ka = np.bincount(a + 1, minlength=n_outcomes)  # -1 (unanswered) -> 0
        kb = np.bincount(b + 1, minlength=n_outcomes)
        for o in range(n_outcomes):
            lo_a, _ = _cp_bounds(ka[o], a.size, alpha / n_tests)
            _, up_b = _cp_bounds(kb[o], b.size, alpha / n_tests)
            if lo_a > math.exp(epsilon) * up_b + delta:
                bad.append(o)
    return bad


def _gaussian_delta(noise_multiplier, epsilon):
    """Exact delta(epsilon) of the Gaussian mechanism (Balle & Wang 2018)."""
    mu = 1.0 / noise_multiplier
    return norm.cdf(-epsilon / mu + mu / 2) - math.exp(epsilon) * norm.cdf(
        -epsilon / mu - mu / 2
    )


def _run(counts, n, **kwargs):
    rng = np.random.default_rng(12345)
    return aggregate(np.tile(counts, (n, 1)), rng=rng, **kwargs)


# Neighbouring histograms: one teacher moves its vote from class 0 to 1.
H = np.array([0, 2])
H_NB = np.array([1, 1])


@pytest.mark.parametrize("mis_scale", [1.0, 0.25])
def test_lnmax_empirical_privacy_loss(mis_scale):
    """LNMax at scale b is (2/b)-DP; a 4x too small noise is caught."""
    b = 2.0
    epsilon = 2.0 / b
    kw = dict(aggregator="lnmax", sigma=b * mis_scale)
    out, out_nb = _run(H, N_TRIALS, **kw), _run(H_NB, N_TRIALS, **kw)
    bad = _violations(out, out_nb, 3, epsilon, 0.0, ALPHA)
    if mis_scale == 1.0:
        assert not bad
    else:  # power: the same test fails on a mis-scaled mechanism
        assert bad


@pytest.mark.parametrize("mis_scale", [1.0, 0.25])
def test_gnmax_empirical_privacy_loss(mis_scale):
    """GNMax at sigma satisfies the Gaussian curve of noise sigma / sqrt(2)."""
    sigma, epsilon = 2.0, 1.0
    delta = _gaussian_delta(sigma / math.sqrt(2.0), epsilon)
    kw = dict(aggregator="gnmax", sigma=sigma * mis_scale)
    out, out_nb = _run(H, N_TRIALS, **kw), _run(H_NB, N_TRIALS, **kw)
    bad = _violations(out, out_nb, 3, epsilon, delta, ALPHA)
    assert bool(bad) == (mis_scale != 1.0)


@pytest.mark.parametrize("mis_scale", [1.0, 0.25])
def test_confident_threshold_empirical_privacy_loss(mis_scale):
    """The threshold check (top count moves by 1) is Gaussian of noise sigma_t."""
    sigma_t, epsilon = 1.0, 1.0
    delta = _gaussian_delta(sigma_t, epsilon)
    kw = dict(
        aggregator="confident_gnmax",
        sigma=1e6,  # the label is not the point here: only answered or not
        threshold=3.0,
        sigma_threshold=sigma_t * mis_scale,
    )
    h, h_nb = np.array([3, 0]), np.array([2, 1])
    out, out_nb = _run(h, N_TRIALS, **kw), _run(h_nb, N_TRIALS, **kw)
    answered, answered_nb = (out >= 0).astype(int), (out_nb >= 0).astype(int)
    bad = _violations(answered, answered_nb, 3, epsilon, delta, ALPHA)
    assert bool(bad) == (mis_scale != 1.0)


def test_vote_counts_and_plurality():
    votes = np.array([[0, 1, 2], [0, 1, 1], [2, 1, 0]])
    counts = vote_counts(votes, 3)
    np.testing.assert_array_equal(counts, [[2, 0, 1], [0, 3, 0], [1, 1, 1]])
    np.testing.assert_array_equal(plurality(counts), [0, 1, 0])


def test_confident_gnmax_filter_stops_within_budget():
    counts = np.tile([10, 0], (1000, 1))
    sigma, sigma_t, budget = 4.0, 8.0, 5.0
    labels = aggregate(
        counts,
        aggregator="confident_gnmax",
        sigma=sigma,
        threshold=5.0,
        sigma_threshold=sigma_t,
        mu2_budget=budget,
        rng=np.random.default_rng(0),
    )
    n_asked, n_answered = labels.size, int((labels >= 0).sum())
    spent = n_asked / sigma_t**2 + 2.0 * n_answered / sigma**2
    assert 0 < n_asked < 1000
    assert spent <= budget
    # One more query (answered) would have exceeded the budget.
    assert spent + 1 / sigma_t**2 + 2 / sigma**2 > budget


# ---------------------------------------------------------------------------
# Data-independent accounting against the reference accountants
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("sigma, n", [(40.0, 500), (5.0, 37), (150.0, 10_000)])
def test_gnmax_epsilon_matches_reference_accountants(sigma, n):
    event = aggregator_event("gnmax", sigma, n, n)
    eps = epsilon_of(event, 1e-5)
    pld = pld_privacy_accountant.PLDAccountant(value_discretization_interval=1e-4)
    pld.compose(
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.GaussianDpEvent(sigma / math.sqrt(2)), n
        )
    )
    # The PLD accountant is pessimistic by its discretisation only.
    assert eps == pytest.approx(pld.get_epsilon(1e-5), rel=2e-3)
    assert eps <= pld.get_epsilon(1e-5) + 1e-9
    # RDP: alpha / sigma^2 per answered query (the 2018 paper's Prop. 8).
    rdp = RDP_ORDERS * n / sigma**2
    assert eps <= rdp_to_epsilon(rdp, 1e-5) + 1e-9
    assert privacy_spent_event(event) == pytest.approx(eps)


def privacy_spent_event(event):
    class _Fitted:
        dp_event_ = event

    return privacy_spent(_Fitted(), delta=1e-5).epsilon


def test_confident_epsilon_composes_threshold_and_answers():
    sigma, sigma_t, n_q, n_a = 40.0, 150.0, 1000, 300
    eps = epsilon_of(
        aggregator_event("confident_gnmax", sigma, n_q, n_a, sigma_t), 1e-5
    )
    rdp = rdp_privacy_accountant.RdpAccountant(list(RDP_ORDERS))
    rdp.compose(
        dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(sigma_t), n_q)
    )
    rdp.compose(
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.GaussianDpEvent(sigma / math.sqrt(2)), n_a
        )
    )
    assert eps <= rdp.get_epsilon(1e-5)
    mu = math.sqrt(n_q / sigma_t**2 + 2 * n_a / sigma**2)
    assert eps == pytest.approx(dp_accounting.get_epsilon_gaussian(1 / mu, 1e-5))


def test_lnmax_epsilon_matches_rdp_accountant_and_pure_sum():
    b, n = 20.0, 300
    event = aggregator_event("lnmax", b, n, n)
    rdp = rdp_privacy_accountant.RdpAccountant(list(RDP_ORDERS))
    rdp.compose(
        dp_accounting.SelfComposedDpEvent(dp_accounting.LaplaceDpEvent(b / 2), n)
    )
    expected = min(rdp.get_epsilon(1e-5), 2 * n / b)
    assert epsilon_of(event, 1e-5, accountant="rdp") == pytest.approx(expected)
    assert epsilon_of(event, 0.0) == pytest.approx(2 * n / b)


def _rdp_epsilon(event, delta):
    return epsilon_of(event, delta, accountant="rdp")


@pytest.mark.parametrize("delta", [0.0, 1e-5])
def test_laplace_calibration_never_overshoots(delta):
    scale = laplace_scale_for_budget(200, 1.5, delta)
    eps = _rdp_epsilon(aggregator_event("lnmax", scale, 200, 200), delta)
    assert eps <= 1.5
    assert eps >= 1.5 * 0.99
    k = laplace_max_queries(scale, 1.0, delta, 200)
    assert _rdp_epsilon(aggregator_event("lnmax", scale, k, k), delta) <= 1.0
    assert _rdp_epsilon(aggregator_event("lnmax", scale, k + 1, k + 1), delta) > 1.0


def test_gaussian_mu2_of_events():
    g = dp_accounting.GaussianDpEvent(2.0)
    assert gaussian_mu2(dp_accounting.SelfComposedDpEvent(g, 8)) == pytest.approx(2.0)
    assert gaussian_mu2(dp_accounting.ComposedDpEvent([g, g])) == pytest.approx(0.5)
    assert gaussian_mu2(dp_accounting.LaplaceDpEvent(1.0)) is None


# ---------------------------------------------------------------------------
# Data-dependent analysis: golden numbers from the paper's reference code
# ---------------------------------------------------------------------------


def test_logq_and_rdp_golden_numbers():
    # Values of tensorflow/privacy research/pate_2018/core.py on the same input.
    counts = np.array([[90.0, 5.0, 5.0]])
    logq = logq_gnmax(counts, 20.0)
    assert logq[0] == pytest.approx(-5.931676280781258, rel=1e-12)
    orders = np.array([2.0, 10.0, 50.0])
    rdp = rdp_data_dependent_gaussian(logq, 20.0, orders)[0]
    np.testing.assert_allclose(
        rdp, [0.0014632813330608097, 0.0030880257800979393, 0.125], rtol=1e-10
    )
    logq_l = logq_lnmax(counts, 10.0)
    assert logq_l[0] == pytest.approx(-6.841771923396467, rel=1e-12)
    rdp_l = rdp_data_dependent_pure(logq_l, 0.2, np.array([5.0]))[0, 0]
    assert rdp_l == pytest.approx(0.0005632928254015653, rel=1e-10)


def test_data_dependent_never_above_data_independent():
    rng = np.random.default_rng(0)
    counts = rng.multinomial(100, [0.7, 0.2, 0.1], size=200)
    for sigma in (5.0, 40.0):
        rdp = rdp_data_dependent_gaussian(logq_gnmax(counts, sigma), sigma)
        assert np.all(rdp <= RDP_ORDERS / sigma**2 + 1e-15)
        assert np.all(rdp >= 0)
    unanimous = np.tile([100, 0, 0], (5, 1))
    dd = rdp_data_dependent_gaussian(logq_gnmax(unanimous, 20.0), 20.0)
    assert np.all(dd[:, :10] < RDP_ORDERS[:10] / 400.0)
    # A certain outcome costs nothing.
    assert np.all(rdp_data_dependent_gaussian([-np.inf], 5.0) == 0)
    logpr = logpr_answered(unanimous, 60.0, 10.0)
    assert np.all(logpr < 0)


@pytest.mark.parametrize("kind", ["gaussian", "laplace"])
@pytest.mark.parametrize("scale", [0.3, 40.0, 2.0**24])
def test_noisy_counts_stay_on_a_grid_that_holds_the_integers(kind, scale):
    from skpriv.ensemble._aggregation import _noisy
    from skpriv.mechanisms import grid_granularity

    counts = np.arange(12).reshape(4, 3)
    out = _noisy(kind, scale, counts, np.random.default_rng(0))
    step = min(grid_granularity(scale), 1.0)
    # Integer counts lie on the grid, so the mechanism's rounding is exact
    # and the output is a multiple of the (power-of-two, <= 1) step.
    np.testing.assert_array_equal(np.mod(out, step), 0.0)
    assert np.std(out - counts) > 0


@pytest.mark.parametrize("aggregator", ["gnmax", "lnmax", "confident_gnmax"])
@pytest.mark.parametrize("epsilon", [0.05, 0.5, 2.0, 8.0])
@pytest.mark.parametrize("n_queries", [1, 10, 1000])
def test_calibrated_sigma_never_overshoots(aggregator, epsilon, n_queries):
    from skpriv.ensemble import PATEClassifier

    pate = PATEClassifier(aggregator=aggregator, epsilon=epsilon, delta=1e-5)
    plan = pate._plan(n_queries)
    # Worst case: every query asked and answered.
    event = aggregator_event(
        aggregator, plan["sigma"], n_queries, n_queries, plan["sigma_threshold"]
    )
    spent = epsilon_of(event, 1e-5, accountant=pate._accountant())
    assert spent <= epsilon
    assert spent >= 0.99 * epsilon  # and the budget is used
