"""Soundness of the empirical epsilon lower bounds (statistical tests).

Each audit here attacks a mechanism of known epsilon on the membership bit:
every example's score is an independent draw given whether it is a member.
A sound lower bound at confidence ``c`` exceeds the true epsilon in at most
a share ``1 - c`` of audits. The checks allow a binomial tolerance at a
false-failure rate of 1e-6 (fixed seeds), and each has a ``*_has_power``
twin showing it fails on a mechanism leaking more than it claims.
"""

import math

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.dummy import DummyClassifier

from skpriv.audit import membership_inference, one_run_epsilon_lower_bound

FALSE_FAILURE = 1e-6
_DUMMY = DummyClassifier().fit([[0.0]], [0])


def _first_column(estimator, X, y):
    return np.asarray(X, dtype=np.float64)[:, 0]


def _null(rng, n, member):
    # epsilon = 0: members and non-members score alike.
    return rng.normal(size=(n, 1))


def _randomized_response(epsilon):
    p = math.exp(epsilon) / (1 + math.exp(epsilon))

    def draw(rng, n, member):
        return (rng.random((n, 1)) < (p if member else 1 - p)).astype(float)

    return draw


def _laplace(epsilon):
    # Membership bit (sensitivity 1) plus Laplace noise of scale 1/epsilon.
    def draw(rng, n, member):
        return float(member) + rng.laplace(0.0, 1.0 / epsilon, size=(n, 1))

    return draw


def _audit_bounds(mechanism, n_audits, n, seed, **kwargs):
    rng = np.random.default_rng(seed)
    y = np.zeros(n)
    bounds = np.empty(n_audits)
    for i in range(n_audits):
        res = membership_inference(
            _DUMMY,
            mechanism(rng, n, True),
            y,
            mechanism(rng, n, False),
            y,
            score=_first_column,
            random_state=int(rng.integers(2**31)),
            **kwargs,
        )
        bounds[i] = res.epsilon_lower_bound
    return bounds


def _assert_rarely_above(bounds, epsilon, confidence):
    """At most a share ``1 - confidence`` of the bounds exceed ``epsilon``."""
    above = int(np.count_nonzero(bounds > epsilon))
    allowed = int(binom.isf(FALSE_FAILURE, bounds.size, 1 - confidence))
    assert above <= allowed, (
        f"share of bounds above epsilon={epsilon}: {above}/{bounds.size} "
        f"(allowed {allowed} at confidence {confidence})"
    )


# ------------------------------------------------ membership_inference


@pytest.mark.parametrize("confidence, n_thresholds", [(0.95, 20), (0.8, 200), (0.6, 1)])
def test_null_mechanism_bound_is_rarely_positive(confidence, n_thresholds):
    # The old bound used 1 - fpr_lo (a lower FPR bound where an upper one is
    # needed) and chose the best threshold on the samples it bounded: 92% of
    # these audits of an epsilon = 0 mechanism reported a positive epsilon.
    bounds = _audit_bounds(
        _null,
        n_audits=200,
        n=200,
        seed=0,
        confidence=confidence,
        n_thresholds=n_thresholds,
    )
    _assert_rarely_above(bounds, 0.0, confidence)


def test_null_check_has_power():
    # The same check fails on a mechanism that leaks (epsilon = 1).
    bounds = _audit_bounds(_randomized_response(1.0), n_audits=200, n=200, seed=0)
    with pytest.raises(AssertionError, match="share of bounds above"):
        _assert_rarely_above(bounds, 0.0, 0.95)


@pytest.mark.parametrize(
    "mechanism, epsilon, n",
    [(_randomized_response, 2.0, 200), (_laplace, 2.0, 1000)],
    ids=["randomized_response", "laplace"],
)
@pytest.mark.parametrize("confidence", [0.95, 0.7])
def test_known_epsilon_is_found_and_never_exceeded(mechanism, epsilon, n, confidence):
    bounds = _audit_bounds(
        mechanism(epsilon), n_audits=150, n=n, seed=1, confidence=confidence
    )
    # Power: the leak is detected in (almost) every audit...
    assert np.mean(bounds > 0) > 0.95
    assert np.median(bounds) > 0.5 * epsilon
    # ...and the bound exceeds the true epsilon at most 1 - confidence of
    # the time.
    _assert_rarely_above(bounds, epsilon, confidence)


def test_known_epsilon_check_has_power():
    # A mechanism at epsilon = 4 audited against a claim of 2: caught.
    bounds = _audit_bounds(_randomized_response(4.0), n_audits=100, n=1000, seed=1)
    with pytest.raises(AssertionError, match="share of bounds above"):
        _assert_rarely_above(bounds, 2.0, 0.95)


def test_delta_is_subtracted_from_the_rates():
    # Randomized response at epsilon = 2 is (epsilon', delta)-DP for every
    # epsilon' < 2 with delta = TPR - e^epsilon' FPR; a bound testing that
    # delta must not exceed epsilon' beyond the confidence.
    p = math.exp(2.0) / (1 + math.exp(2.0))
    eps_small = 1.0
    delta = p - math.exp(eps_small) * (1 - p)
    bounds = _audit_bounds(
        _randomized_response(2.0), n_audits=150, n=400, seed=2, delta=delta
    )
    _assert_rarely_above(bounds, eps_small, 0.95)
    assert np.mean(bounds > 0) > 0.5


def test_split_is_reproducible_and_needs_two_of_each():
    rng = np.random.default_rng(3)
    Xi, Xo = _laplace(1.0)(rng, 50, True), _laplace(1.0)(rng, 50, False)
    y = np.zeros(50)
    kw = dict(score=_first_column, random_state=7)
    a = membership_inference(_DUMMY, Xi, y, Xo, y, **kw)
    b = membership_inference(_DUMMY, Xi, y, Xo, y, **kw)
    assert a == b
    with pytest.raises(ValueError, match="at least 2 members and 2 non-members"):
        membership_inference(_DUMMY, Xi[:1], y[:1], Xo, y, **kw)


# -------------------------------------------- one-run (canary) bound


def _one_run_bounds(epsilon, n_audits, n_guesses, confidence, seed):
    # The guesses of a one-run audit of an epsilon-DP algorithm are right
    # with probability at most e^eps / (1 + e^eps) each; randomized response
    # on the inclusion bits attains it.
    rng = np.random.default_rng(seed)
    p = 1 / (1 + math.exp(-epsilon))
    correct = rng.binomial(n_guesses, p, size=n_audits)
    values, index = np.unique(correct, return_inverse=True)
    bound_of = [
        one_run_epsilon_lower_bound(
            int(v), n_guesses, n_canaries=4 * n_guesses, confidence=confidence
        )
        for v in values
    ]
    return np.asarray(bound_of)[index]


@pytest.mark.parametrize("epsilon", [0.0, 1.0, 3.0])
def test_one_run_bound_is_sound(epsilon):
    bounds = _one_run_bounds(epsilon, 2000, 100, 0.9, seed=4)
    _assert_rarely_above(bounds, epsilon, 0.9)
    if epsilon > 0:
        assert np.mean(bounds > 0) > 0.9


def test_one_run_check_has_power():
    bounds = _one_run_bounds(1.5, 2000, 100, 0.9, seed=4)
    with pytest.raises(AssertionError, match="share of bounds above"):
        _assert_rarely_above(bounds, 1.0, 0.9)


def _one_run_bounds_delta(epsilon, delta, n_audits, n_guesses, seed):
    # Each canary leaks outright with probability delta, otherwise goes
    # through randomized response at epsilon: an (epsilon, delta)-DP release.
    rng = np.random.default_rng(seed)
    p = delta + (1 - delta) / (1 + math.exp(-epsilon))
    correct = rng.binomial(n_guesses, p, size=n_audits)
    values, index = np.unique(correct, return_inverse=True)
    bound_of = [
        one_run_epsilon_lower_bound(
            int(v), n_guesses, n_canaries=4 * n_guesses, delta=delta, confidence=0.9
        )
        for v in values
    ]
    return np.asarray(bound_of)[index]


@pytest.mark.parametrize("epsilon", [1.0, 2.0])
def test_one_run_bound_with_delta_is_sound(epsilon):
    bounds = _one_run_bounds_delta(epsilon, 1e-3, 2000, 100, seed=5)
    _assert_rarely_above(bounds, epsilon, 0.9)
    assert np.mean(bounds > 0) > 0.9
