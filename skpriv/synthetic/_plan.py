"""One plan per synthesizer: noise, selection budget and the DP event, calibrated.

A plan is computed from public values only (epsilon, delta, the number of
columns, rounds and privately bounded columns) and gives both the noise
multipliers and selection epsilons the fit uses and the event it records:
``_fit`` and ``_planned_dp_event`` call the same function.

MST's budget is split in zCDP terms, as its paper does (a share ``rho`` of a
total ``r`` is a Gaussian of noise multiplier ``sqrt(1 / (2 rho))``, or a
pure-DP selection of epsilon ``sqrt(2 rho)``), then ``r`` is calibrated so
that the PLD accountant's epsilon of the composed event, at ``delta``, is the
requested epsilon (:func:`skpriv.accounting.epsilon_of`, the function
``privacy_spent`` uses). AIM's plan is a zCDP budget ``rho``, calibrated the
same way, which its rounds spend adaptively (:class:`AimPlan`). A private domain spends a fixed share of epsilon
first, as pure-DP quantiles.
"""

import math
from dataclasses import dataclass
from functools import lru_cache

import dp_accounting

from ..accounting import epsilon_of
from ._measure import selection_event

__all__ = ["AimPlan", "SynthPlan", "aim_plan", "mst_plan"]

#: Share of epsilon spent on private bounds when ``domain="private"``.
PRIVATE_DOMAIN_SHARE = 0.1
#: Relative tolerance of the calibration (always on the safe side).
_TOL = 1e-3
#: Largest epsilon calibrated with the PLD accountant (see ``_calibrate``).
PLD_MAX_EPSILON = 20.0


@dataclass(frozen=True)
class SynthPlan:
    """Noise multipliers, selection epsilons and the event they spend.

    ``one_way`` / ``two_way`` / ``selection`` are the noise multipliers of
    the one-way and later measurements and the epsilon of each selection;
    ``bounds_epsilon`` the pure epsilon of the private bounds (0 without).
    """

    one_way: float
    measure: float
    selection: float
    n_one_way: int
    n_measure: int
    n_selection: int
    bounds_epsilon: float
    bounds_event: object
    event: object


def _event(plan_parts, bounds_event):
    nm1, n1, nm2, n2, eps_sel, n_sel = plan_parts
    events = [dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(nm1), n1)]
    if n2:
        events.append(
            dp_accounting.SelfComposedDpEvent(dp_accounting.GaussianDpEvent(nm2), n2)
        )
    if n_sel:
        events.append(
            dp_accounting.SelfComposedDpEvent(selection_event(eps_sel), n_sel)
        )
    if bounds_event is not None:
        events.append(bounds_event)
    return dp_accounting.ComposedDpEvent(events)


def _calibrate(parts_of, epsilon, delta, bounds_event):
    """Largest total ``r`` whose event costs at most ``epsilon`` at ``delta``.

    The RDP accountant (milliseconds per evaluation, never below the PLD
    epsilon) finds a safe ``r``; up to :data:`PLD_MAX_EPSILON` the PLD
    accountant, which ``privacy_spent`` uses, then refines it to the target
    (its cost per evaluation grows with epsilon: seconds at 50, minutes at
    1000, where the RDP calibration stands, a few percent on the safe side).
    """

    def cost(accountant):
        return lambda log_r: epsilon_of(
            _event(parts_of(math.exp(log_r)), bounds_event), delta, accountant
        )

    # zCDP's conversion gives the start: rho with rho + 2 sqrt(rho L) = epsilon.
    log_delta = math.log(1.0 / delta)
    start = math.log((math.sqrt(log_delta + epsilon) - math.sqrt(log_delta)) ** 2)
    x = _search(cost("rdp"), start, epsilon)
    if epsilon <= PLD_MAX_EPSILON:
        x = _search(cost("pld"), x, epsilon)
    return math.exp(x)


def _search(cost, x, epsilon):
    """Largest ``x`` (log r) with ``cost(x) <= epsilon``, within :data:`_TOL`."""
    target = math.log(epsilon)
    lo, hi = None, None  # (x, log cost - target): cost <= epsilon, and above

    def log_gap(x):
        # (log cost - target, whether cost <= epsilon): the comparison is made
        # on the costs themselves, so a cost one ulp above epsilon is never
        # taken for the safe side by the rounding of the logarithms. A cost
        # of 0 (a large delta covers a small rho) is far on the safe side.
        c = cost(x)
        gap = math.log(c) - target if c > 0 else -1e3
        return (min(gap, 0.0) if c <= epsilon else max(gap, 1e-12)), c <= epsilon

    fx, safe = log_gap(x)
    slope = 0.6  # d log(epsilon) / d log(r): 0.5 (small) to 1 (large epsilon)
    for step in range(200):
        if safe:
            lo = (x, fx) if lo is None or x > lo[0] else lo
            if -fx < _TOL:
                break
        else:
            hi = (x, fx) if hi is None or x < hi[0] else hi
        if lo is not None and hi is not None:
            if hi[0] - lo[0] < 1e-7:
                break
            if step % 2:  # bisection every other step: the bracket halves
                x = 0.5 * (lo[0] + hi[0])
            else:  # regula falsi inside the bracket, nudged to the safe side
                x = lo[0] - lo[1] * (hi[0] - lo[0]) / (hi[1] - lo[1])
                x = min(max(x, lo[0]), hi[0]) - 0.25 * _TOL * (hi[0] - lo[0])
        else:
            x = x - max(min(fx / slope, 50.0), -50.0)
        fx, safe = log_gap(x)
    if lo is None:  # pragma: no cover - the search always brackets
        raise RuntimeError("synthesizer budget calibration did not converge")
    return lo[0]


def _bounds(n_private, epsilon):
    """Pure epsilon and event of the private bounds (two quantiles per column)."""
    if not n_private:
        return 0.0, None
    from ..stats._quantile import em_event

    eps_b = PRIVATE_DOMAIN_SHARE * epsilon
    each = eps_b / (2 * n_private)
    return eps_b, dp_accounting.SelfComposedDpEvent(em_event(each), 2 * n_private)


@lru_cache(maxsize=256)
def mst_plan(n_columns: int, n_private: int, epsilon: float, delta: float):
    """MST: one-ways, ``d - 1`` edge selections, ``d - 1`` two-ways, a third each.

    As in MST, each group of ``k`` measurements shares its third as one
    Gaussian of the ``k`` marginals stacked (noise multiplier ``sqrt(3 k /
    (2 r))`` each).
    """
    d = n_columns
    eps_b, bounds_event = _bounds(n_private, epsilon)

    def parts_of(r):
        third = r / 3.0 if d > 1 else r
        nm1 = math.sqrt(d / (2.0 * third))
        nm2 = math.sqrt((d - 1) / (2.0 * third)) if d > 1 else 0.0
        eps_sel = math.sqrt(2.0 * third / (d - 1)) if d > 1 else 0.0
        return nm1, d, nm2, d - 1, eps_sel, d - 1

    r = _calibrate(parts_of, epsilon, delta, bounds_event)
    nm1, n1, nm2, n2, eps_sel, n_sel = parts_of(r)
    event = _event((nm1, n1, nm2, n2, eps_sel, n_sel), bounds_event)
    return SynthPlan(nm1, nm2, eps_sel, n1, n2, n_sel, eps_b, bounds_event, event)


@dataclass(frozen=True)
class AimPlan:
    """AIM's zCDP budget ``rho`` and the event it spends.

    AIM (as in its paper) runs a zCDP *filter*: the noise and selection
    epsilon of each round depend on earlier rounds' DP outputs, and the fit
    stops before the rounds' total ``rho`` exceeds the budget. Adaptive
    composition of zCDP under such a filter is ``rho``-zCDP (Feldman & Zrnic
    2021 give the Renyi filter for each order; a zCDP budget is one at every
    order at once), so the event ``ZCDpEvent(rho)`` is known before the data
    is seen, whatever the rounds turn out to be.
    """

    rho: float
    bounds_epsilon: float
    bounds_event: object
    event: object


def _aim_event(rho, bounds_event):
    event = dp_accounting.ZCDpEvent(rho=float(rho))
    if bounds_event is None:
        return event
    return dp_accounting.ComposedDpEvent([event, bounds_event])


@lru_cache(maxsize=256)
def aim_plan(n_private: int, epsilon: float, delta: float):
    """AIM: the largest ``rho`` whose event costs ``epsilon`` at ``delta``.

    ``ZCDpEvent`` is composed by the RDP accountant (the PLD accountant has
    no zCDP event; :func:`skpriv.accounting.epsilon_of` falls back to RDP by
    itself), with dp-accounting's RDP-to-DP conversion.
    """
    eps_b, bounds_event = _bounds(n_private, epsilon)

    def cost(log_rho):
        return epsilon_of(_aim_event(math.exp(log_rho), bounds_event), delta, "rdp")

    log_delta = math.log(1.0 / delta)
    start = math.log((math.sqrt(log_delta + epsilon) - math.sqrt(log_delta)) ** 2)
    rho = math.exp(_search(cost, start, epsilon))
    return AimPlan(rho, eps_b, bounds_event, _aim_event(rho, bounds_event))
