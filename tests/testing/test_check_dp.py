"""check_dp: passes correct mechanisms and estimators, fails broken ones.

Statistical tests at a false-failure rate of 1e-6 (fixed seeds). The
documented settings for the power claim (at least 99%): epsilon = 1,
``n_runs=4000`` for a halved noise scale, ``n_runs=1000`` for a leaked
attribute or an ignored clipping bound.
"""

import warnings

import numpy as np
import pytest
from scipy.stats import binom

from skpriv.mechanisms import DiscreteLaplace, Gaussian, KaryRandomizedResponse
from skpriv.testing import assert_privacy_spent, check_dp, make_test_instance
from skpriv.testing._checks import _PRIVACY_CHECK_DATA
from skpriv.utils import all_estimators

from ._user_estimators import DPSum, laplace_sum

FALSE_FAILURE = 1e-6
RUNS = {"halved": 4000, "leak": 1000, "noclip": 1000}


def _gaussian_sum(epsilon, delta, factor=1.0):
    def mechanism(X, y, seed):
        mech = Gaussian.from_epsilon(epsilon, delta, sensitivity=1.0)
        mech = Gaussian(mech.sigma * factor, granularity=mech.granularity)
        x = np.clip(np.asarray(X, float)[:, 0], 0, 1)
        return mech.randomise(np.array([x.sum()]), np.random.default_rng(seed))

    return mechanism


def _discrete_count(epsilon, factor=1.0):
    def mechanism(X, y, seed):
        mech = DiscreteLaplace(factor / epsilon)
        count = np.array([np.count_nonzero(np.asarray(X)[:, 0] > 0.5)])
        return mech.randomise(count, np.random.default_rng(seed))

    return mechanism


def _rr(epsilon):
    def mechanism(X, y, seed):
        rr = KaryRandomizedResponse(epsilon, 2)
        bit = np.array([int(np.asarray(X)[-1, 0] > 0.5)])
        return rr.randomise(bit, np.random.default_rng(seed))

    return mechanism


@pytest.mark.parametrize(
    "mechanism, epsilon, delta",
    [
        (laplace_sum(), 1.0, 0.0),
        (_gaussian_sum(1.0, 1e-5), 1.0, 1e-5),
        (_discrete_count(1.0), 1.0, 0.0),
        (_rr(1.0), 1.0, 0.0),
    ],
    ids=["laplace", "gaussian", "discrete_laplace", "randomized_response"],
)
def test_skpriv_mechanisms_pass(mechanism, epsilon, delta):
    res = check_dp(
        mechanism,
        epsilon=epsilon,
        delta=delta,
        n_runs=4000,
        random_state=0,
        neighbours="replace",
    )
    assert res.epsilon_lower_bound <= epsilon and res.n_runs == 4000


def test_halved_mechanism_fails():
    with pytest.raises(
        AssertionError, match=r"statistic 'output' certifies epsilon >="
    ):
        check_dp(laplace_sum(0.5), epsilon=1.0, n_runs=4000, random_state=0)


def _estimators():
    for name, cls in all_estimators():
        try:
            est = make_test_instance(cls)
        except TypeError:  # searches: need an estimator (their own tests)
            continue
        if name == "Microaggregator":  # k-anonymity, not DP: nothing to check
            continue
        marks = [pytest.mark.slow] if name.startswith(("DPNeural", "PATE")) else []
        yield pytest.param(name, est, marks=marks, id=name)


@pytest.mark.parametrize("name, estimator", list(_estimators()))
def test_skpriv_estimators_pass_at_their_claim(name, estimator):
    # The claim is read through the privacy contract (privacy_spent); runs
    # are few (each is a fit): what this shows is that nothing deterministic
    # differs between neighbours and the declared epsilon is not exceeded.
    X = y = None
    if name in _PRIVACY_CHECK_DATA:
        X, y = _PRIVACY_CHECK_DATA[name](np.random.default_rng(0))
    n_runs = 16 if name.startswith(("DPNeural", "PATE")) else 100
    res = check_dp(estimator, X, y, n_runs=n_runs, random_state=0)
    assert res.epsilon_lower_bound <= res.epsilon


@pytest.mark.parametrize("neighbours", ["add_remove", "replace"])
def test_user_estimator_passes(neighbours):
    res = check_dp(DPSum(), n_runs=1000, neighbours=neighbours, random_state=0)
    assert res.epsilon == 1.0 and res.delta == 0.0  # read from the contract
    assert res.epsilon_lower_bound <= 1.0


@pytest.mark.parametrize(
    "bug, statistic",
    [
        ("halved", "sum_"),
        ("leak", "max_"),
        ("noclip", "sum_"),
    ],
)
def test_broken_user_estimator_fails(bug, statistic):
    with pytest.raises(
        AssertionError,
        match=rf"DPSum is less private than claimed: "
        rf"statistic '{statistic}'",
    ):
        check_dp(DPSum(bug=bug), n_runs=RUNS[bug], random_state=1)


@pytest.mark.slow
@pytest.mark.parametrize("bug", ["halved", "leak", "noclip"])
def test_power_is_at_least_99_percent(bug):
    # 40 independent checks; with power >= 0.99 more than 4 misses happen
    # with probability below 1e-6 (binomial tail).
    misses = 0
    for seed in range(40):
        try:
            check_dp(DPSum(bug=bug), n_runs=RUNS[bug], random_state=100 + seed)
        except AssertionError:
            continue
        misses += 1
    assert misses <= binom.isf(FALSE_FAILURE, 40, 0.01), misses


def _failures(mechanism, n_checks, false_failure, seed):
    failed = 0
    for i in range(n_checks):
        try:
            check_dp(
                mechanism,
                epsilon=1.0,
                n_runs=400,
                false_failure=false_failure,
                random_state=seed + i,
            )
        except AssertionError:
            failed += 1
    return failed


@pytest.mark.slow
def test_false_failure_rate_holds():
    # At a stated false-failure rate of 0.1, correct mechanisms fail at most
    # a tenth of the time (up to a binomial tolerance at 1e-6).
    failed = _failures(laplace_sum(), 300, 0.1, seed=0)
    assert failed <= binom.isf(FALSE_FAILURE, 300, 0.1), failed


@pytest.mark.slow
def test_false_failure_check_has_power():
    # The same count on a mechanism at a third of its noise exceeds it.
    failed = _failures(laplace_sum(1 / 3), 300, 0.1, seed=0)
    assert failed > binom.isf(FALSE_FAILURE, 300, 0.1), failed


def test_result_states_cost_and_reach():
    res = check_dp(laplace_sum(), epsilon=1.0, n_runs=1000, random_state=0)
    assert res.seconds > 0 and 2.5 < res.max_detectable_epsilon < 3.2
    more = check_dp(laplace_sum(), epsilon=1.0, n_runs=4000, random_state=0)
    assert more.max_detectable_epsilon > res.max_detectable_epsilon + 1


def test_reproducible_with_int_seed():
    a = check_dp(DPSum(), n_runs=200, random_state=3)
    b = check_dp(DPSum(), n_runs=200, random_state=3)
    assert (a.epsilon_lower_bound, a.statistic) == (b.epsilon_lower_bound, b.statistic)


def test_user_statistic_and_data():
    X = np.random.default_rng(0).random((30, 3))
    res = check_dp(
        DPSum(), X, statistic=lambda est: est.sum_[0] ** 2, n_runs=400, random_state=0
    )
    assert res.statistic == "user"


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"neighbours": "swap"}, "neighbours must be"),
        ({"n_runs": 3}, "n_runs must be an integer >= 8"),
        ({"false_failure": 0.0}, "false_failure must lie in"),
        ({"epsilon": -1.0}, "epsilon must be a number >= 0"),
        ({"statistic": 3}, "statistic must be a callable"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        check_dp(DPSum(), **kwargs)


def test_mechanism_needs_epsilon():
    with pytest.raises(ValueError, match="needs epsilon="):
        check_dp(laplace_sum(), n_runs=8)


def test_assert_privacy_spent():
    fitted = DPSum(random_state=0).fit([[0.1], [0.9]])
    assert assert_privacy_spent(fitted, 1.0).epsilon == pytest.approx(1.0)
    with pytest.raises(AssertionError, match="exceeds the budget epsilon = 0.5"):
        assert_privacy_spent(fitted, 0.5)
    leaky = DPSum(bug="leak", random_state=0).fit([[0.1], [0.9]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(AssertionError, match="max_"):
            assert_privacy_spent(leaky, 10.0)
