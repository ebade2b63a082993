"""Issue 20: O(batch) Poisson sampling has the distribution of independent inclusion.

Each statistical assertion fails a correct sampler with probability at most
ALPHA / 3 (three per check, false-failure rate <= 1e-6 in all); each
``*_has_power`` twin runs the same check on a deliberately wrong sampler.
"""

import time

import numpy as np
import pytest
from scipy import stats

from skpriv.neural_network._dpsgd import PoissonBatches, poisson_indices

ALPHA = 1e-6
N, Q, T = 60, 0.1, 20_000  # rows, sample rate, draws


def _chi2_pvalue(observed, expected):
    return float(
        stats.chi2.sf(((observed - expected) ** 2 / expected).sum(), len(observed) - 1)
    )


def _check_poisson_sampler(sampler, seed):
    rng = np.random.default_rng(seed)
    sizes = np.empty(T, dtype=int)
    counts = np.zeros(N, dtype=int)
    for t in range(T):
        idx = sampler(N, Q, rng)
        assert len(np.unique(idx)) == len(idx), "duplicate rows in a batch"
        assert np.all((0 <= idx) & (idx < N))
        sizes[t] = len(idx)
        counts[idx] += 1
    # 1. Batch size ~ Binomial(N, Q): chi-square over bins with >= 20 expected.
    pmf = stats.binom.pmf(np.arange(N + 1), N, Q) * T
    edges = [0]
    acc = 0.0
    for k in range(N + 1):
        acc += pmf[k]
        if acc >= 20:
            edges.append(k + 1)
            acc = 0.0
    edges[-1] = N + 1
    obs = np.add.reduceat(np.bincount(sizes, minlength=N + 1), edges[:-1])
    exp = np.add.reduceat(pmf, edges[:-1])
    assert _chi2_pvalue(obs, exp) >= ALPHA / 3, "batch sizes are not Binomial(n, q)"
    # 2. Each row's inclusion count ~ Binomial(T, Q), rows independent:
    #    chi-square of the counts (n degrees of freedom) ...
    mean, var = T * Q, T * Q * (1 - Q)
    stat = float(((counts - mean) ** 2 / var).sum())
    assert stats.chi2.sf(stat, N) >= ALPHA / 3, "inclusion frequencies differ"
    # 3. ... and no single row off (Bonferroni over rows).
    lo = stats.binom.ppf(ALPHA / 6 / N, T, Q)
    hi = stats.binom.isf(ALPHA / 6 / N, T, Q)
    assert np.all((counts >= lo) & (counts <= hi)), "a row is included too often"


def test_poisson_indices_equal_independent_inclusion():
    _check_poisson_sampler(poisson_indices, seed=0)


def _fixed_size(n, q, rng):  # the usual shuffled-batches mistake
    return rng.choice(n, size=round(n * q), replace=False)


def _with_replacement(n, q, rng):  # duplicates collapsed: batches too small
    return np.unique(rng.integers(0, n, size=rng.binomial(n, q)))


def _biased(n, q, rng):  # the first rows 30% more likely
    p = np.full(n, q)
    p[:5] *= 1.3
    return np.flatnonzero(rng.random(n) < p)


@pytest.mark.parametrize(
    "sampler, message",
    [
        (_fixed_size, "Binomial"),
        (_with_replacement, "Binomial"),
        (_biased, "Binomial|inclu"),
    ],
)
def test_poisson_check_has_power(sampler, message):
    with pytest.raises(AssertionError, match=message):
        _check_poisson_sampler(sampler, seed=1)


def test_independent_inclusion_reference_passes():
    # The O(n) construction (a uniform draw per row) passes the same check.
    _check_poisson_sampler(lambda n, q, rng: np.flatnonzero(rng.random(n) < q), 2)


def test_batches_use_the_sampler_and_cost_o_batch():
    import torch
    from skorch.dataset import Dataset

    n = 2_000_000
    X = torch.zeros(n, 1)
    batches = PoissonBatches(
        Dataset(X, None), 1e-4, 200, np.random.default_rng(3), "cpu", None
    )
    ref = np.random.default_rng(3)
    start = time.perf_counter()
    for Xb, _ in batches:
        assert len(Xb) == len(poisson_indices(n, 1e-4, ref))
    # 200 steps at q = 1e-4 over 2M rows: O(n) per step (a uniform draw
    # per row, as before) takes seconds; O(batch) takes milliseconds.
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize("q", [0.0, 1.0])
def test_poisson_indices_edges(q):
    idx = poisson_indices(7, q, np.random.default_rng(0))
    assert idx.tolist() == ([] if q == 0 else list(range(7)))
