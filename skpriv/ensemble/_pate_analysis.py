"""Privacy analysis of PATE's noisy aggregators (pure functions, no state).

Data-independent costs are expressed as ``dp_accounting`` events and composed
by its accountants. The data-dependent Rényi-DP bounds follow Papernot et al.
2018 ("Scalable private learning with PATE", Theorem 6, Propositions 7-10) and
Papernot et al. 2017 (Theorem 3) and are vectorized over queries.
"""

import math

import dp_accounting
import numpy as np
from dp_accounting.rdp import rdp_privacy_accountant
from scipy.special import log_ndtr, logsumexp

from ..accounting import epsilon_of, gaussian_sigma

__all__ = [
    "RDP_ORDERS",
    "aggregator_event",
    "aggregator_mu2",
    "gaussian_mu2_budget",
    "laplace_max_queries",
    "laplace_scale_for_budget",
    "logpr_answered",
    "logq_gnmax",
    "logq_lnmax",
    "rdp_data_dependent_gaussian",
    "rdp_data_dependent_pure",
    "rdp_to_epsilon",
]

#: Rényi orders for the data-dependent analysis. Large orders matter there:
#: confident queries have tiny ``q`` and their bound improves with the order.
RDP_ORDERS = np.unique(
    np.concatenate(
        [
            np.linspace(1.1, 10.9, 99),
            np.arange(11.0, 100.0),
            np.geomspace(100.0, 1e5, 61),
        ]
    )
)


# ---------------------------------------------------------------------------
# Data-independent costs
# ---------------------------------------------------------------------------


def aggregator_event(
    aggregator: str,
    sigma: float,
    n_queries: int,
    n_answered: int,
    sigma_threshold: float | None = None,
) -> dp_accounting.DpEvent:
    """The DP event of ``n_queries`` noisy-max queries, ``n_answered`` answered.

    Changing one private row changes one teacher, so a vote histogram moves
    by at most 1 in two classes: L1 sensitivity 2, L2 sensitivity sqrt(2),
    and the top count moves by at most 1.

    - ``"lnmax"``: Laplace noise of scale ``sigma`` on every count, a
      ``2 / sigma``-DP release per query (``LaplaceDpEvent(sigma / 2)``).
    - ``"gnmax"``: Gaussian noise of standard deviation ``sigma``, Rényi-DP
      ``alpha / sigma**2`` per query, the Gaussian mechanism with noise
      multiplier ``sigma / sqrt(2)``.
    - ``"confident_gnmax"``: every query pays the threshold check (Gaussian
      noise ``sigma_threshold`` on the top count, sensitivity 1) and every
      answered query also pays GNMax.
    """
    events = []
    if aggregator == "lnmax":
        if n_queries:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.LaplaceDpEvent(sigma / 2.0), n_queries
                )
            )
    elif aggregator == "gnmax":
        if n_queries:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.GaussianDpEvent(sigma / math.sqrt(2.0)), n_queries
                )
            )
    elif aggregator == "confident_gnmax":
        if n_queries:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.GaussianDpEvent(sigma_threshold), n_queries
                )
            )
        if n_answered:
            events.append(
                dp_accounting.SelfComposedDpEvent(
                    dp_accounting.GaussianDpEvent(sigma / math.sqrt(2.0)), n_answered
                )
            )
    else:  # pragma: no cover - guarded by the parameter constraints
        raise ValueError(f"Unknown aggregator {aggregator!r}.")
    if not events:
        return dp_accounting.NoOpDpEvent()
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)


def gaussian_mu2_budget(epsilon: float, delta: float) -> float:
    """Largest ``sum_i 1 / noise_multiplier_i**2`` that costs <= ``epsilon``.

    A composition of Gaussian mechanisms with noise multipliers ``s_i`` is
    exactly one Gaussian mechanism with noise multiplier
    ``(sum_i s_i**-2) ** -0.5`` (mu-GDP with ``mu**2 = sum_i s_i**-2``), also
    when each next mechanism is chosen adaptively and the run stops once the
    budget would be exceeded (Smith & Thakurta 2022, fully adaptive
    composition for Gaussian DP). The budget is therefore one number.
    """
    return 1.0 / gaussian_sigma(epsilon, delta) ** 2


def aggregator_mu2(n_queries: int, n_answered: int, sigma, sigma_threshold=None):
    """``mu**2`` (Gaussian DP) of the Gaussian aggregators' queries.

    GNMax costs ``2 / sigma**2`` per answered query (``n_answered ==
    n_queries``); Confident-GNMax adds ``1 / sigma_threshold**2`` per query.
    """
    mu2 = 2.0 * n_answered / sigma**2
    if sigma_threshold is not None:
        mu2 += n_queries / sigma_threshold**2
    return mu2


def _lnmax_epsilon(scale: float, n_queries: int, delta: float) -> float:
    # The Rényi-DP accountant (capped by the pure-DP sum): the PLD accountant
    # is tighter but takes minutes at low noise, and a bisection calls this
    # about 40 times.
    if n_queries == 0:
        return 0.0
    event = aggregator_event("lnmax", scale, n_queries, n_queries)
    return epsilon_of(event, delta, accountant="rdp")


def laplace_scale_for_budget(n_queries: int, epsilon: float, delta: float) -> float:
    """Smallest LNMax scale whose ``n_queries`` queries cost <= ``epsilon``.

    At ``delta = 0`` this is the pure-DP ``2 n_queries / epsilon``; otherwise a
    bisection on :func:`skpriv.accounting.epsilon_of` (Rényi-DP accountant),
    which keeps the upper end feasible so
    the result never overshoots.
    """
    pure = 2.0 * n_queries / epsilon
    if delta == 0:
        return pure
    lo, hi = pure * 1e-3, pure  # pure DP is always feasible
    for _ in range(40):
        mid = math.sqrt(lo * hi)
        if _lnmax_epsilon(mid, n_queries, delta) > epsilon:
            lo = mid
        else:
            hi = mid
        if hi / lo < 1.0 + 1e-4:
            break
    return hi


def laplace_max_queries(
    scale: float, epsilon: float, delta: float, n_candidates: int
) -> int:
    """Most LNMax queries (<= ``n_candidates``) at ``scale`` within ``epsilon``."""
    if _lnmax_epsilon(scale, n_candidates, delta) <= epsilon:
        return n_candidates
    lo, hi = 0, n_candidates  # lo feasible, hi not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _lnmax_epsilon(scale, mid, delta) <= epsilon:
            lo = mid
        else:
            hi = mid
    return lo


# ---------------------------------------------------------------------------
# Data-dependent analysis (Papernot et al. 2018)
# ---------------------------------------------------------------------------


def _log1mexp(x):
    """``log(1 - exp(x))`` for ``x <= 0``, elementwise and stable."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(x < -math.log(2.0), np.log1p(-np.exp(x)), np.log(-np.expm1(x)))


def _gaps(counts):
    """Per query: gaps ``n_top - n_j`` to the other classes, shape (m, k-1)."""
    counts = np.asarray(counts, dtype=np.float64)
    order = np.argsort(-counts, axis=1, kind="stable")
    top = np.take_along_axis(counts, order[:, :1], axis=1)
    rest = np.take_along_axis(counts, order[:, 1:], axis=1)
    return top - rest


def logq_gnmax(counts, sigma: float) -> np.ndarray:
    """Upper bound on ``log Pr[GNMax != plurality]`` per query (Proposition 7).

    Union bound over the other classes: class ``j`` beats the top class when
    the difference of two Gaussians (variance ``2 sigma**2``) exceeds the gap.
    The bound is capped at ``1 - 1 / n_classes``.
    """
    counts = np.atleast_2d(counts)
    gaps = _gaps(counts)
    logq = logsumexp(log_ndtr(-gaps / (math.sqrt(2.0) * sigma)), axis=1)
    return np.minimum(logq, math.log1p(-1.0 / counts.shape[1]))


def logq_lnmax(counts, scale: float) -> np.ndarray:
    """Upper bound on ``log Pr[LNMax != plurality]`` per query.

    For Laplace noise of scale ``b``, class ``j`` beats the top class with
    probability ``(2 + g / b) / 4 * exp(-g / b)`` for a gap ``g``
    (Papernot et al. 2017, Lemma 4); union bound, capped at ``1 - 1 / k``.
    """
    counts = np.atleast_2d(counts)
    z = _gaps(counts) / scale
    logq = logsumexp(np.log(2.0 + z) + math.log(0.25) - z, axis=1)
    return np.minimum(logq, math.log1p(-1.0 / counts.shape[1]))


def logpr_answered(counts, threshold: float, sigma_threshold: float) -> np.ndarray:
    """``log Pr[max count + N(0, sigma_threshold^2) >= threshold]`` per query.

    The top count is rounded to an integer as in the paper's code.
    """
    counts = np.atleast_2d(counts)
    top = np.round(counts.max(axis=1))
    return log_ndtr((top - threshold) / sigma_threshold)


def rdp_data_dependent_gaussian(logq, sigma: float, orders=RDP_ORDERS) -> np.ndarray:
    """Data-dependent RDP of a mechanism with RDP ``alpha / sigma**2`` (Thm 6).

    Given an upper bound ``q`` on the probability that the mechanism's output
    differs from its most likely one, Theorem 6 of Papernot et al. (2018)
    bounds its RDP at order ``lambda`` by
    ``log((1-q) A**(lambda-1) + q B**(lambda-1)) / (lambda - 1)`` for the
    higher orders ``mu2 = sigma sqrt(log(1/q))`` and ``mu1 = mu2 + 1`` of
    Proposition 10, when the conditions of the theorem hold; otherwise the
    data-independent ``lambda / sigma**2`` stands.

    Parameters
    ----------
    logq : array-like of shape (n_queries,)
        ``log q`` per query (<= 0).
    sigma : float
        The mechanism's data-independent RDP is ``alpha / sigma**2``.
    orders : array-like of shape (n_orders,)

    Returns
    -------
    rdp : ndarray of shape (n_queries, n_orders)
    """
    logq = np.atleast_1d(np.asarray(logq, dtype=np.float64))[:, None]
    orders = np.asarray(orders, dtype=np.float64)[None, :]
    var = sigma**2
    data_independent = np.broadcast_to(orders / var, (logq.shape[0], orders.shape[1]))
    out = np.array(data_independent, dtype=np.float64)
    fixed = np.isneginf(logq[:, 0])
    out[fixed] = 0.0  # the output is certain: no privacy loss

    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        mu2 = np.sqrt(var * -logq)
        mu1 = mu2 + 1.0
        eps1 = mu1 / var
        eps2 = mu2 / var
        log_a2 = (mu2 - 1.0) * eps2
        cond = (
            (mu2 > 1.0)
            & (
                logq
                <= log_a2
                - mu2 * (np.log1p(1.0 / (mu1 - 1.0)) + np.log1p(1.0 / (mu2 - 1.0)))
            )
            & (-logq > eps2)
        )
        mask = cond & (mu1 > orders) & ~fixed[:, None]
        log1q = _log1mexp(logq)
        inner = np.minimum((logq + eps2) * (1.0 - 1.0 / mu2), 0.0)
        log_a = (orders - 1.0) * (log1q - _log1mexp(inner))
        log_b = (orders - 1.0) * (eps1 - logq / (mu1 - 1.0))
        bound = np.logaddexp(log1q + log_a, logq + log_b) / (orders - 1.0)
    out = np.where(mask, np.minimum(out, bound), out)
    return np.maximum(out, 0.0)


def rdp_data_dependent_pure(logq, pure_eps: float, orders=RDP_ORDERS) -> np.ndarray:
    """Data-dependent RDP of an ``pure_eps``-DP mechanism (2017, Theorem 3).

    The minimum of ``alpha pure_eps**2 / 2``, ``pure_eps`` and, when
    ``q <= 1 / (e**pure_eps + 1)``, the bound of Theorem 3 of Papernot et al.
    (2017) in terms of ``q``.

    Returns
    -------
    rdp : ndarray of shape (n_queries, n_orders)
    """
    logq = np.atleast_1d(np.asarray(logq, dtype=np.float64))[:, None]
    orders = np.asarray(orders, dtype=np.float64)[None, :]
    base = np.minimum(0.5 * pure_eps**2 * orders, pure_eps)
    base = np.broadcast_to(base, (logq.shape[0], orders.shape[1]))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        # q <= 1 / (e**eps + 1), in logs: no overflow at a huge epsilon.
        ok = logq <= -np.logaddexp(0.0, pure_eps)
        log1q = _log1mexp(np.minimum(logq, 0.0))
        inner = np.minimum(pure_eps + logq, 0.0)
        t_one = log1q + (log1q - _log1mexp(inner)) * (orders - 1.0)
        t_two = logq + pure_eps * (orders - 1.0)
        bound = np.logaddexp(t_one, t_two) / (orders - 1.0)
    out = np.where(ok, np.minimum(base, bound), base)
    return np.maximum(out, 0.0)


def rdp_to_epsilon(rdp, delta: float, orders=RDP_ORDERS) -> float:
    """Epsilon at ``delta`` of an RDP curve, with dp-accounting's conversion."""
    eps, _ = rdp_privacy_accountant.compute_epsilon(
        list(np.asarray(orders, dtype=np.float64)),
        list(np.asarray(rdp, dtype=np.float64)),
        delta,
    )
    return float(eps)
