"""Noisy aggregation of teacher votes: LNMax, GNMax and Confident-GNMax."""

import math

import numpy as np

__all__ = ["aggregate", "plurality", "vote_counts"]


def vote_counts(votes: np.ndarray, n_classes: int) -> np.ndarray:
    """Histogram of the teachers' votes per query.

    Parameters
    ----------
    votes : ndarray of shape (n_teachers, n_queries)
        Class index voted by each teacher for each query.
    n_classes : int

    Returns
    -------
    counts : ndarray of shape (n_queries, n_classes)
        ``counts[i, c]`` teachers voted class ``c`` on query ``i``.
    """
    votes = np.asarray(votes, dtype=np.int64)
    n_queries = votes.shape[1]
    flat = votes + n_classes * np.arange(n_queries)[None, :]
    counts = np.bincount(flat.ravel(), minlength=n_queries * n_classes)
    return counts.reshape(n_queries, n_classes)


def plurality(counts: np.ndarray) -> np.ndarray:
    """The noiseless plurality vote (lowest class index wins ties)."""
    return np.argmax(counts, axis=1)


def _noisy(kind: str, scale: float, values: np.ndarray, rng) -> np.ndarray:
    """``values`` (integer vote counts) plus floating-point-safe noise.

    The grid step is capped at 1 so that integer counts lie on the grid:
    the mechanism's rounding is then the identity and adds no sensitivity.
    """
    from ..mechanisms import Gaussian, Laplace, grid_granularity

    granularity = min(grid_granularity(scale), 1.0)
    cls = Laplace if kind == "laplace" else Gaussian
    mechanism = cls(scale, granularity=granularity)
    return np.asarray(mechanism.randomise(values.astype(np.float64), rng))


def aggregate(
    counts: np.ndarray,
    *,
    aggregator: str,
    sigma: float,
    rng: np.random.Generator,
    threshold: float | None = None,
    sigma_threshold: float | None = None,
    mu2_budget: float = math.inf,
):
    """Answer the queries whose vote histograms are ``counts``, in order.

    Parameters
    ----------
    counts : ndarray of shape (n_queries, n_classes)
    aggregator : {"lnmax", "gnmax", "confident_gnmax"}
    sigma : float
        Laplace scale (``"lnmax"``) or Gaussian standard deviation.
    rng : numpy.random.Generator
    threshold, sigma_threshold : float
        Confident-GNMax only: answer when the top count plus
        ``N(0, sigma_threshold**2)`` reaches ``threshold``.
    mu2_budget : float, default=inf
        Confident-GNMax only: the Gaussian-DP budget ``mu**2``. Queries stop
        before the first one whose worst case (checked and answered) would
        exceed it, which makes the stopping rule a Gaussian-DP privacy filter.

    Returns
    -------
    labels : ndarray of shape (n_asked,)
        Noisy label index per asked query, ``-1`` where not answered.
    """
    n_queries, n_classes = counts.shape
    if aggregator == "lnmax":
        noisy = _noisy("laplace", sigma, counts, rng)
        return np.argmax(noisy, axis=1)
    if aggregator == "gnmax":
        noisy = _noisy("gaussian", sigma, counts, rng)
        return np.argmax(noisy, axis=1)

    # Confident-GNMax: noisy threshold check, then GNMax on the checked rows.
    top = counts.max(axis=1)
    passed = _noisy("gaussian", sigma_threshold, top, rng) >= threshold
    cost_check = 1.0 / sigma_threshold**2
    cost_answer = 2.0 / sigma**2
    answered_before = np.concatenate([[0], np.cumsum(passed)[:-1]])
    worst = (np.arange(n_queries) + 1) * cost_check + (
        answered_before + 1
    ) * cost_answer
    # Guard against rounding: a query is asked only if it fits the budget.
    over = np.flatnonzero(worst > mu2_budget * (1.0 - 1e-12))
    n_asked = int(over[0]) if over.size else n_queries
    passed = passed[:n_asked]
    labels = np.full(n_asked, -1, dtype=np.int64)
    rows = np.flatnonzero(passed)
    noisy = _noisy("gaussian", sigma, counts[rows], rng)
    labels[rows] = np.argmax(noisy, axis=1)
    return labels
