"""What the synthesizers release: Gaussian marginals and noisy-max selections.

Both are floating-point safe by construction, through the grid samplers of
:mod:`skpriv.mechanisms`:

- **Marginals** are integer count vectors (one row changes one cell by one
  under add/remove-one: L2 sensitivity 1). :class:`~skpriv.mechanisms.Gaussian`
  rounds them to its power-of-two grid (exact for integers) and adds grid
  noise; its event includes the rounding term.
- **Selections** (MST's edges, AIM's marginals) are *report noisy max with
  Laplace noise*: every candidate's score is perturbed by
  :class:`~skpriv.mechanisms.Laplace` of scale ``2 * sensitivity / epsilon``
  and the largest wins. Report noisy max is ``epsilon``-DP for scores of
  sensitivity ``sensitivity`` (Dwork & Roth 2014, claim 3.9, whose argument
  gives ``2 sensitivity / epsilon`` for scores that may move in both
  directions), and it is the exponential mechanism's accuracy within a
  constant. Computed on the grid, the noisy scores are post-processing of the
  exact continuous mechanism on rounded scores (whose sensitivity gains one
  grid step, which the scale includes) and the argmax is post-processing of
  them: no floating-point artefact of a Gumbel or exponential sampler
  reaches the choice. Ties go to the first candidate (deterministic).

MST's selection event is pure ``epsilon``-DP, recorded as binary randomized
response at ``epsilon``, which dominates every pure ``epsilon``-DP mechanism
(Kairouz, Oh & Viswanath 2015) and composes exactly in the PLD accountant.

AIM selects with the **exponential mechanism** itself (:func:`exponential_mechanism`,
the Gumbel-max form, as :mod:`skpriv.stats` draws private quantiles), which is
``epsilon``-bounded-range and hence ``epsilon**2 / 8``-zCDP (Cesar & Rogers
2021), AIM's own analysis (:func:`bounded_range_event`): four times less
zCDP budget than a pure-DP account of the same epsilon. Its output is an
index, a function of the candidates' order only; floating point touches the
probabilities by a relative ``2**-52`` (the stance of :mod:`skpriv.stats`'
quantiles, stated there).
"""

import math

import dp_accounting
import numpy as np

from ..mechanisms import Gaussian, Laplace

__all__ = [
    "gaussian_for",
    "marginal",
    "measure",
    "noisy_max",
    "bounded_range_event",
    "exponential_mechanism",
    "selection_event",
]


def marginal(codes: np.ndarray, sizes, clique) -> np.ndarray:
    """Exact counts of the marginal on ``clique`` (column positions), flattened."""
    clique = tuple(clique)
    shape = tuple(int(sizes[j]) for j in clique)
    if not clique:
        return np.array([codes.shape[0]], dtype=np.float64)
    flat = np.ravel_multi_index(tuple(codes[:, j] for j in clique), shape)
    return np.bincount(flat, minlength=int(np.prod(shape))).astype(np.float64)


def gaussian_for(noise_multiplier: float) -> Gaussian:
    """The grid Gaussian whose event at sensitivity 1 has ``noise_multiplier``.

    Rounding adds one grid step to the L2 sensitivity, so ``sigma`` is
    ``noise_multiplier * (1 + granularity)``; then
    ``dp_event(1.0).noise_multiplier == noise_multiplier``.
    """
    granularity = Gaussian(noise_multiplier).granularity
    return Gaussian(noise_multiplier * (1.0 + granularity), granularity=granularity)


def measure(counts: np.ndarray, noise_multiplier: float, rng) -> tuple:
    """``(noisy counts, sigma)``: one Gaussian release of a count vector."""
    mech = gaussian_for(noise_multiplier)
    return mech.randomise(counts, rng), mech.sigma


def noisy_max(scores, epsilon: float, sensitivity: float, rng) -> int:
    """Report noisy max on the grid: the index of the largest noisy score."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 1:
        return 0
    mech = Laplace.from_epsilon(epsilon, sensitivity=2.0 * sensitivity, n_dims=2)
    return int(np.argmax(mech.randomise(scores, rng)))


def selection_event(epsilon: float):
    """Pure ``epsilon``-DP, as binary randomized response (it dominates)."""
    return dp_accounting.RandomizedResponseDpEvent(
        noise_parameter=2.0 / (math.exp(min(epsilon, 700.0)) + 1.0), num_buckets=2
    )


def exponential_mechanism(scores, epsilon: float, sensitivity: float, rng) -> int:
    """Index drawn with probability proportional to ``exp(eps * s / (2 sens))``.

    The Gumbel-max form: the largest of ``epsilon * s / (2 * sensitivity)``
    plus independent standard Gumbel noise (exactly the exponential
    mechanism's distribution, computed in log space, so nothing under- or
    overflows). ``epsilon``-DP and ``epsilon``-bounded-range for scores of
    sensitivity ``sensitivity`` (:func:`bounded_range_event`).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.size == 1:
        return 0
    logits = scores * (float(epsilon) / (2.0 * float(sensitivity)))
    return int(np.argmax(logits + rng.gumbel(size=scores.shape)))


def bounded_range_event(epsilon: float):
    """One exponential-mechanism draw at ``epsilon``: ``epsilon**2 / 8``-zCDP.

    The exponential mechanism is ``epsilon``-bounded-range, which implies
    ``epsilon**2 / 8``-zCDP (Cesar & Rogers 2021, the analysis of AIM); the
    RDP accountant composes :class:`dp_accounting.ZCDpEvent` exactly.
    """
    return dp_accounting.ZCDpEvent(rho=float(epsilon) ** 2 / 8.0)
