"""Statistical helpers shared by the noise tests (false-failure rate 1e-6)."""

import math

import numpy as np
from scipy import stats

#: Probability that a correct mechanism fails one assertion.
ALPHA = 1e-6
#: Two-sided normal quantile for ALPHA.
Z = float(stats.norm.isf(ALPHA / 2))


def clopper_pearson(hits: int, n: int, alpha: float) -> tuple[float, float]:
    """Two-sided ``1 - alpha`` Clopper-Pearson interval of a binomial rate."""
    lo = 0.0 if hits == 0 else float(stats.beta.ppf(alpha / 2, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(stats.beta.isf(alpha / 2, hits + 1, n - hits))
    return lo, hi


def epsilon_lower_bound(hits_a: int, hits_b: int, n: int) -> float:
    """A ``1 - ALPHA`` lower confidence bound on ``ln(P_a(S) / P_b(S))``."""
    lo_a, _ = clopper_pearson(hits_a, n, ALPHA)
    _, hi_b = clopper_pearson(hits_b, n, ALPHA)
    return math.log(lo_a / hi_b)


def assert_mean_matches(samples: np.ndarray, expected: float, sd: float, what: str):
    """Mean of iid samples with known sd equals ``expected`` (z-test at ALPHA)."""
    n = samples.size
    mean = float(samples.mean())
    tol = Z * sd / math.sqrt(n)
    assert abs(mean - expected) <= tol, (
        f"{what}: empirical {mean:.6g} differs from {expected:.6g} by more than "
        f"{tol:.3g} (false-failure rate {ALPHA})"
    )
