import math

import dp_accounting
import numpy as np
import pytest
from dp_accounting.dp_event import DiscreteLaplaceDpEvent
from hypothesis import given
from hypothesis import strategies as st
from sklearn.base import BaseEstimator

from skpriv.accounting import epsilon_of, gaussian_sigma, privacy_spent, pure_epsilon
from skpriv.base import PrivacyMixin
from skpriv.mechanisms import (
    GRID_BITS,
    DiscreteLaplace,
    Gaussian,
    KaryRandomizedResponse,
    Laplace,
    grid_granularity,
)

from ._stats import assert_mean_matches, epsilon_lower_bound

N = 1_000_000


# ---------------------------------------------------------------- the grid


@pytest.mark.parametrize("scale", [1e-9, 0.3, 1.0, 1.5, 7.0, 2.0**40, 1e200])
def test_granularity_is_power_of_two_below_scale(scale):
    g = grid_granularity(scale)
    assert math.frexp(g)[0] == 0.5
    assert scale * 2.0 ** -(GRID_BITS + 1) < g <= scale * 2.0**-GRID_BITS


@pytest.mark.parametrize("mech_cls", [Laplace, Gaussian])
def test_outputs_lie_on_the_grid(mech_cls):
    mech = mech_cls(1.3)
    rng = np.random.default_rng(0)
    values = rng.uniform(-5, 5, 10_000)
    out = mech.randomise(values, rng)
    steps = out / mech.granularity
    np.testing.assert_array_equal(steps, np.rint(steps))
    noise = mech.sample((100, 10), rng)
    assert noise.shape == (100, 10) and noise.dtype == np.float64
    np.testing.assert_array_equal(
        noise / mech.granularity, np.rint(noise / mech.granularity)
    )


def _fine_bits(out: np.ndarray) -> np.ndarray:
    """Outputs in [0.25, 0.5) that are not multiples of 2**-53 (finer bits set)."""
    sel = out[(np.abs(out) >= 0.25) & (np.abs(out) < 0.5)]
    return (sel * 2.0**53) % 1.0 != 0


def test_low_order_bits_do_not_depend_on_the_input():
    # Mironov's observation: with naive float noise, 1 + L is always a multiple
    # of 2**-53 near 0.3, while 0 + L often is not -> the input leaks.
    rng = np.random.default_rng(1)
    naive_0 = _fine_bits(0.0 + rng.laplace(0, 1.0, 200_000))
    naive_1 = _fine_bits(1.0 + rng.laplace(0, 1.0, 200_000))
    assert naive_0.any() and not naive_1.any()  # the attack works on numpy
    mech = Laplace(1.0)
    for x in (0.0, 1.0):
        out = mech.randomise(np.full(200_000, x), rng)
        assert not _fine_bits(out).any()
    # The residues of the output in grid steps have the same (full) support.
    supports = [
        np.unique((mech.randomise(np.full(100_000, x), rng) / mech.granularity) % 64)
        for x in (0.0, 1.0 / 3.0)
    ]
    np.testing.assert_array_equal(supports[0], np.arange(64))
    np.testing.assert_array_equal(supports[1], np.arange(64))


@pytest.mark.parametrize("mech", [Laplace(1.0), Gaussian(1.0)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_randomise_rejects_non_finite(mech, bad):
    with pytest.raises(ValueError, match="NaN or infinity"):
        mech.randomise(np.array([0.0, bad]), np.random.default_rng(0))


def test_randomise_rejects_overflowing_values():
    with pytest.raises(ValueError, match="too large"):
        Laplace(1e-300).randomise(np.array([1e300]), np.random.default_rng(0))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"scale": 0.0}, "scale"),
        ({"scale": -1.0}, "scale"),
        ({"scale": np.nan}, "scale"),
        ({"scale": np.inf}, "scale"),
        ({"scale": True}, "scale"),
        ({"scale": "1"}, "scale"),
        ({"scale": 1.0, "granularity": 0.3}, "power of two"),
        ({"scale": 1.0, "granularity": -0.5}, "granularity"),
    ],
)
def test_laplace_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Laplace(**kwargs)


def test_gaussian_bad_parameters():
    with pytest.raises(ValueError, match="sigma"):
        Gaussian(0.0)
    with pytest.raises(ValueError, match="delta"):
        Gaussian.from_epsilon(1.0, delta=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        Gaussian.from_epsilon(-1.0, delta=1e-5)
    with pytest.raises(ValueError, match="shape"):
        Gaussian(1.0).sample((-1, 2), np.random.default_rng(0))


def test_randomise_rejects_non_numeric():
    with pytest.raises(ValueError, match="numeric"):
        Laplace(1.0).randomise(np.array(["a"]), np.random.default_rng(0))


# ---------------------------------------------------------- calibration


def test_laplace_from_epsilon_includes_rounding():
    mech = Laplace.from_epsilon(0.5, sensitivity=2.0, n_dims=3)
    assert mech.scale == pytest.approx((2.0 + 3 * mech.granularity) / 0.5)
    assert mech.scale > 4.0
    assert mech.epsilon(2.0, n_dims=3) == pytest.approx(0.5, rel=1e-12)
    event = mech.dp_event(2.0, n_dims=3)
    assert isinstance(event, dp_accounting.LaplaceDpEvent)
    assert pure_epsilon(event) == pytest.approx(0.5, rel=1e-12)


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 5.0, 20.0])
def test_gaussian_from_epsilon_is_analytic_for_every_epsilon(epsilon):
    mech = Gaussian.from_epsilon(epsilon, 1e-5, sensitivity=2.0, n_dims=4)
    sens = 2.0 + 2.0 * mech.granularity
    assert mech.sigma == pytest.approx(gaussian_sigma(epsilon, 1e-5, sens))
    event = mech.dp_event(2.0, n_dims=4)
    acc = dp_accounting.pld.PLDAccountant(value_discretization_interval=1e-3)
    acc.compose(event)
    # The PLD accountant is pessimistic by its discretisation only.
    assert acc.get_epsilon(1e-5) == pytest.approx(epsilon, rel=1e-2, abs=1e-3)


# --------------------------------------------------- statistical: scale


def _laplace_mean_abs_ok(mech, scale, rng):
    noise = mech.sample(N, rng)
    # |Laplace(b)| is exponential: mean b, sd b.
    assert_mean_matches(np.abs(noise), scale, scale, "Laplace mean |noise|")


def test_laplace_scale_matches_theory():
    _laplace_mean_abs_ok(Laplace(2.5), 2.5, np.random.default_rng(2))


def test_laplace_scale_test_has_power():
    with pytest.raises(AssertionError, match="mean"):
        _laplace_mean_abs_ok(Laplace(2.5 * 0.9), 2.5, np.random.default_rng(2))


def _gaussian_variance_ok(mech, sigma, rng):
    noise = mech.sample(N, rng)
    # noise**2 has mean sigma**2 and sd sqrt(2) sigma**2.
    assert_mean_matches(noise**2, sigma**2, math.sqrt(2) * sigma**2, "Gaussian var")


def test_gaussian_sigma_matches_theory():
    _gaussian_variance_ok(Gaussian(0.7), 0.7, np.random.default_rng(3))


def test_gaussian_sigma_test_has_power():
    with pytest.raises(AssertionError, match="var"):
        _gaussian_variance_ok(Gaussian(0.7 * 0.9), 0.7, np.random.default_rng(3))


def test_discrete_laplace_matches_its_pmf():
    mech = DiscreteLaplace(3.0)
    noise = mech.sample(N, np.random.default_rng(4))
    assert noise.dtype == np.int64
    q = math.exp(-1 / 3.0)
    # Two-sided geometric: variance 2q / (1 - q)**2, P(0) = (1 - q) / (1 + q).
    var = 2 * q / (1 - q) ** 2
    assert_mean_matches(noise.astype(float), 0.0, math.sqrt(var), "DL mean")
    p0 = (1 - q) / (1 + q)
    assert_mean_matches((noise == 0).astype(float), p0, math.sqrt(p0 * (1 - p0)), "P0")


# ----------------------------------- statistical: empirical privacy loss

M = 2_000_000


def _laplace_loss_lower_bound(mech, rng):
    # Neighbours x = 0 (lower) and x = 1 (upper); S = {output <= 0} is the
    # worst-case event of the Laplace mechanism: P_0(S) / P_1(S) = e^epsilon.
    hits_0 = int(np.count_nonzero(mech.randomise(np.zeros(M), rng) <= 0.0))
    hits_1 = int(np.count_nonzero(mech.randomise(np.ones(M), rng) <= 0.0))
    return epsilon_lower_bound(hits_0, hits_1, M)


def test_laplace_empirical_privacy_loss_within_epsilon():
    mech = Laplace.from_epsilon(1.0, sensitivity=1.0)
    assert _laplace_loss_lower_bound(mech, np.random.default_rng(5)) <= 1.0


def test_laplace_privacy_loss_test_has_power():
    good = Laplace.from_epsilon(1.0, sensitivity=1.0)
    broken = Laplace(good.scale * 0.9, granularity=good.granularity)
    assert _laplace_loss_lower_bound(broken, np.random.default_rng(5)) > 1.0


def _gaussian_hockey_stick_lower_bound(mech, epsilon, sens, sigma_nominal, rng):
    # For x = 0 vs x = sens the privacy loss at y is (sens**2 - 2 y sens) /
    # (2 sigma**2); S = {loss >= epsilon} attains the hockey-stick divergence
    # P_0(S) - e^epsilon P_1(S) = delta for the calibrated sigma.
    t = (sens**2 - 2 * sigma_nominal**2 * epsilon) / (2 * sens)
    hits_0 = int(np.count_nonzero(mech.randomise(np.zeros(M), rng) <= t))
    hits_1 = int(np.count_nonzero(mech.randomise(np.full(M, sens), rng) <= t))
    from ._stats import ALPHA, clopper_pearson

    lo_0, _ = clopper_pearson(hits_0, M, ALPHA)
    _, hi_1 = clopper_pearson(hits_1, M, ALPHA)
    return lo_0 - math.exp(epsilon) * hi_1


def test_gaussian_empirical_privacy_loss_within_delta():
    eps, delta, sens = 1.0, 0.05, 1.0
    mech = Gaussian.from_epsilon(eps, delta, sensitivity=sens)
    rng = np.random.default_rng(6)
    assert _gaussian_hockey_stick_lower_bound(mech, eps, sens, mech.sigma, rng) <= delta


def test_gaussian_privacy_loss_test_has_power():
    eps, delta, sens = 1.0, 0.05, 1.0
    good = Gaussian.from_epsilon(eps, delta, sensitivity=sens)
    broken = Gaussian(good.sigma * 0.9, granularity=good.granularity)
    rng = np.random.default_rng(6)
    assert (
        _gaussian_hockey_stick_lower_bound(broken, eps, sens, good.sigma, rng) > delta
    )


# --------------------------------------------------- randomized response


def _rr_checks(mech, epsilon, k, rng):
    true = np.zeros(M, dtype=np.int64)
    out = mech.randomise(true, rng)
    p = math.exp(epsilon) / (math.exp(epsilon) + k - 1)
    kept = (out == 0).astype(float)
    assert_mean_matches(kept, p, math.sqrt(p * (1 - p)), "RR keep rate")
    # Privacy loss: S = {output == 0} for true code 0 vs true code 1.
    out_1 = mech.randomise(np.ones(M, dtype=np.int64), rng)
    lb = epsilon_lower_bound(int(kept.sum()), int(np.count_nonzero(out_1 == 0)), M)
    assert lb <= epsilon, f"RR privacy loss lower bound {lb:.4f} > {epsilon}"


def test_rr_keep_rate_and_privacy_loss():
    _rr_checks(KaryRandomizedResponse(1.0, 4), 1.0, 4, np.random.default_rng(7))


def test_rr_tests_have_power():
    # A mechanism spending 10% more than it claims fails both assertions.
    with pytest.raises(AssertionError, match="keep rate"):
        _rr_checks(KaryRandomizedResponse(1.1, 4), 1.0, 4, np.random.default_rng(7))


def test_rr_other_codes_are_uniform():
    mech = KaryRandomizedResponse(0.5, 5)
    out = mech.randomise(np.full(M, 2), np.random.default_rng(8))
    q = (1 - mech.keep_probability) / 4
    for code in (0, 1, 3, 4):
        hit = (out == code).astype(float)
        assert_mean_matches(hit, q, math.sqrt(q * (1 - q)), f"RR P({code})")


def test_rr_event_and_epsilon():
    mech = KaryRandomizedResponse(1.5, 6)
    event = mech.dp_event()
    assert isinstance(event, dp_accounting.RandomizedResponseDpEvent)
    assert event.noise_parameter == pytest.approx(6 / (math.exp(1.5) + 5))
    assert pure_epsilon(event) == pytest.approx(1.5)
    assert isinstance(
        KaryRandomizedResponse(1.0, 1).dp_event(), dp_accounting.NoOpDpEvent
    )


def test_rr_large_epsilon_is_finite():
    mech = KaryRandomizedResponse(1e4, 3)
    assert mech.keep_probability == 1.0
    codes = np.array([0, 1, 2])
    np.testing.assert_array_equal(
        mech.randomise(codes, np.random.default_rng(0)), codes
    )


def test_rr_frequency_estimator_is_unbiased():
    rng = np.random.default_rng(9)
    k, n = 4, 400_000
    truth = np.array([0.5, 0.3, 0.15, 0.05])
    codes = rng.choice(k, size=n, p=truth)
    mech = KaryRandomizedResponse(1.0, k)
    est = mech.estimate_frequencies(mech.randomise(codes, rng), normalize=True)
    p = mech.keep_probability
    q = (1 - p) / (k - 1)
    # Var of the estimate of frequency j: f_j(1 - f_j) / (n (p - q)^2), f_j the
    # randomized frequency; 5 sd bounds the error with probability > 1 - 1e-6.
    f = q + (p - q) * truth
    sd = np.sqrt(f * (1 - f) / n) / (p - q)
    assert np.all(np.abs(est - truth) <= 5.5 * sd), (est, truth)
    counts = mech.estimate_frequencies(codes)
    assert counts.sum() == pytest.approx(n)


@pytest.mark.parametrize(
    "args, match",
    [((0.0, 3), "epsilon"), ((1.0, 0), "n_categories"), ((1.0, 2.5), "n_categories")],
)
def test_rr_bad_parameters(args, match):
    with pytest.raises(ValueError, match=match):
        KaryRandomizedResponse(*args)


def test_rr_rejects_out_of_range_codes():
    mech = KaryRandomizedResponse(1.0, 3)
    with pytest.raises(ValueError, match="codes"):
        mech.randomise(np.array([0, 3]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="codes"):
        mech.randomise(np.array([0.5]), np.random.default_rng(0))


def test_discrete_laplace_randomise_and_event():
    mech = DiscreteLaplace.from_epsilon(0.5, sensitivity=2)
    assert mech.scale == 4.0
    out = mech.randomise(np.array([1, 2, 3]), np.random.default_rng(0))
    assert out.dtype == np.int64
    assert isinstance(mech.dp_event(2), DiscreteLaplaceDpEvent)
    assert pure_epsilon(mech.dp_event(2)) == pytest.approx(0.5)
    acc = dp_accounting.pld.PLDAccountant(value_discretization_interval=1e-4)
    acc.compose(mech.dp_event(2))
    assert acc.get_epsilon(1e-9) <= 0.5 + 1e-3
    with pytest.raises(ValueError, match="integer"):
        mech.randomise(np.array([0.5]), np.random.default_rng(0))
    with pytest.raises(ValueError, match="sensitivity"):
        mech.epsilon(1.5)
    # Values the int64 output cannot hold are rejected, not wrapped around.
    for big in (
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([1e20]),
        np.array([-(2**63)], dtype=np.int64),
    ):
        with pytest.raises(ValueError, match="2\\*\\*62"):
            mech.randomise(big, np.random.default_rng(0))
    edge = np.array([2**62, -(2**62)], dtype=np.int64)
    out = mech.randomise(edge, np.random.default_rng(0))
    assert np.all(np.abs(out - edge) < 1000)
    assert mech.randomise(np.array([True]), np.random.default_rng(0)).dtype == np.int64


def test_int_rng_is_reproducible_and_none_is_fresh():
    mech = Laplace(1.0)
    a = mech.sample(5, 0)
    b = mech.sample(5, 0)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(mech.sample(5, None), mech.sample(5, None))


class _NoisyClippedSum(PrivacyMixin, BaseEstimator):
    """A minimal private estimator: one mechanism's release of a clipped sum."""

    _privacy_releases = {"sum_": "dp"}
    _parameter_constraints = {"mechanism": [object], "random_state": [None, int]}

    def __init__(self, mechanism=None, random_state=None):
        self.mechanism = mechanism
        self.random_state = random_state

    def _fit(self, X, y, rng):
        X = np.clip(np.asarray(X, dtype=float).ravel(), -0.5, 0.5)
        self.sum_ = self.mechanism.randomise(np.array([X.sum()]), rng)
        return self

    def _planned_dp_event(self, n_samples):
        return self.mechanism.dp_event()


def test_events_compose_in_privacy_spent():
    # The mechanisms' events are plain dp_accounting events: privacy_spent
    # composes them across the objects that recorded them.
    X = np.linspace(-1, 1, 20)[:, None]
    lap = Laplace.from_epsilon(0.5)
    fits = [_NoisyClippedSum(lap, random_state=i).fit(X) for i in range(2)]
    spent = privacy_spent(fits, delta=0.0)
    assert float(spent[0]) == pytest.approx(1.0)  # pure DP: epsilons add
    assert spent.uncovered == ()
    assert spent.parts == {"estimator[0]": 0.5, "estimator[1]": 0.5}

    gauss = Gaussian.from_epsilon(1.0, 1e-6)
    fits.append(_NoisyClippedSum(gauss, random_state=2).fit(X))
    spent = privacy_spent(fits, delta=1e-5)
    expected = epsilon_of(
        dp_accounting.ComposedDpEvent(
            [lap.dp_event(), lap.dp_event(), gauss.dp_event()]
        ),
        1e-5,
    )
    assert float(spent[0]) == pytest.approx(expected)
    # A Laplace and a Gaussian compose to more than either alone, less than the sum.
    assert 1.0 < float(spent[0]) < 1.0 + gauss_epsilon_at(gauss, 1e-5) + 1e-9


def gauss_epsilon_at(mech, delta):
    return epsilon_of(mech.dp_event(), delta)


# ------------------------------------------------------------ hypothesis


@given(
    shape=st.lists(st.integers(0, 5), min_size=0, max_size=3).map(tuple),
    scale=st.floats(1e-6, 1e6),
    offset=st.floats(-1e6, 1e6),
    gaussian=st.booleans(),
)
def test_randomise_properties(shape, scale, offset, gaussian):
    mech = Gaussian(scale) if gaussian else Laplace(scale)
    rng = np.random.default_rng(0)
    values = offset + np.linspace(-1, 1, int(np.prod(shape))).reshape(shape)
    out = mech.randomise(values, rng)
    assert out.shape == values.shape and out.dtype == np.float64
    assert np.isfinite(out).all()
    steps = out / mech.granularity
    np.testing.assert_array_equal(steps, np.rint(steps))


@given(k=st.integers(1, 50), epsilon=st.floats(1e-3, 50), n=st.integers(0, 50))
def test_rr_properties(k, epsilon, n):
    mech = KaryRandomizedResponse(epsilon, k)
    codes = np.arange(n) % k
    out = mech.randomise(codes, np.random.default_rng(0))
    assert out.shape == codes.shape
    assert out.dtype == np.int64
    assert ((out >= 0) & (out < k)).all()
    assert 1.0 / k <= mech.keep_probability <= 1.0
