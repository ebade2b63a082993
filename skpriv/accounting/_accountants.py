"""dp-accounting's accountants, and the one function from an event to epsilon."""

import logging
import math

import dp_accounting
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.pld import privacy_loss_distribution as PLD
from dp_accounting.rdp import rdp_privacy_accountant

__all__ = ["epsilon_of", "gaussian_mu2", "make_accountant", "pure_epsilon"]

_RDP_ORDERS = (
    [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]
)
#: Orders added for events whose RDP is closed form at every order (zCDP,
#: unsampled Gaussians, pure DP): a small zCDP budget is best converted at a
#: large order (about sqrt(log(1 / delta) / rho)), beyond 1024 below epsilon
#: ~0.01. Sampled events keep the grid above (their RDP costs grow with the
#: order).
_RDP_WIDE_ORDERS = _RDP_ORDERS + [2.0**k for k in range(11, 31)]


class _LocalRRMixin:
    """Compose ``RandomizedResponseDpEvent`` as a replace-one (local) event.

    dp-accounting's accountants, built for add/remove-one neighbours, refuse
    randomized response, whose natural relation is replace-one. skpriv's
    local-DP transformers record every event for the replacement of one row's
    values (Laplace and Gaussian events carry the full replacement
    sensitivity), so the replace-one privacy loss of randomized response
    composes with them exactly; this adds that case and defers the rest.
    """

    def _maybe_compose(self, event, count, do_compose):
        if not isinstance(event, dp_accounting.RandomizedResponseDpEvent):
            return super()._maybe_compose(event, count, do_compose)
        if do_compose and event.num_buckets > 1:
            if event.noise_parameter == 0:
                self._contains_non_dp_event = True
            else:
                self._compose_rr(event, count)
        return None


class _PLDAccountant(_LocalRRMixin, pld_privacy_accountant.PLDAccountant):
    def _compose_rr(self, event, count):
        rr = PLD.from_randomized_response(
            noise_parameter=event.noise_parameter,
            num_buckets=event.num_buckets,
            value_discretization_interval=self._value_discretization_interval,
            neighboring_relation=dp_accounting.NeighboringRelation.REPLACE_ONE,
        )
        self._pld = self._pld.compose(rr.self_compose(count))


class _NoConvergenceNotes(logging.Filter):
    """Drop dp-accounting's RDP note that a fractional order was skipped.

    The RDP accountant logs it (through absl) for every order whose series
    does not converge, common at large sampling rates and small noise, and
    takes the minimum over the remaining orders, which is still a valid
    bound: the note is noise for users.
    """

    def filter(self, record):
        return "failed to converge" not in record.getMessage()


_ABSL_LOGGER = logging.getLogger("absl")
_NO_CONVERGENCE_NOTES = _NoConvergenceNotes()


class _RdpAccountant(_LocalRRMixin, rdp_privacy_accountant.RdpAccountant):
    def _maybe_compose(self, event, count, do_compose):
        _ABSL_LOGGER.addFilter(_NO_CONVERGENCE_NOTES)
        try:
            return super()._maybe_compose(event, count, do_compose)
        finally:
            _ABSL_LOGGER.removeFilter(_NO_CONVERGENCE_NOTES)

    def _compose_rr(self, event, count):
        self._rdp += count * rdp_privacy_accountant._compute_randomized_response_rdp(
            event.noise_parameter,
            event.num_buckets,
            self._orders,
            dp_accounting.NeighboringRelation.REPLACE_ONE,
        )


def make_accountant(accountant: str = "pld"):
    """Return a fresh dp-accounting accountant: ``"pld"`` or ``"rdp"``.

    These are dp-accounting's ``PLDAccountant`` (value discretisation
    ``1e-4``) and ``RdpAccountant`` (a fixed grid of Rényi orders). Both also
    compose ``RandomizedResponseDpEvent`` (recorded by local randomized
    response), which dp-accounting refuses, with its replace-one privacy loss.

    Parameters
    ----------
    accountant : {"pld", "rdp"}, default="pld"
        Privacy-loss-distribution accountant (tight) or Rényi DP accountant
        (faster, looser).

    Returns
    -------
    accountant : dp_accounting.PrivacyAccountant
        An empty accountant: ``compose`` DP events into it, then read
        ``get_epsilon(delta)``.

    See Also
    --------
    privacy_spent : Compose the events of a fitted object in one call.
    collect_dp_events : The events a fitted object recorded.

    Examples
    --------
    >>> import dp_accounting
    >>> from skpriv.accounting import make_accountant
    >>> accountant = make_accountant("rdp")
    >>> accountant = accountant.compose(dp_accounting.GaussianDpEvent(1.0), 10)
    >>> round(float(accountant.get_epsilon(1e-5)), 2)
    19.05
    """
    if accountant == "pld":
        return _PLDAccountant(value_discretization_interval=1e-4)
    if accountant == "rdp":
        return _RdpAccountant(_RDP_ORDERS)
    raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")


def gaussian_mu2(event):
    """``sum 1 / noise_multiplier**2`` if ``event`` composes only Gaussians.

    A composition of Gaussian mechanisms with noise multipliers ``s_i`` is
    exactly the Gaussian mechanism with noise multiplier
    ``(sum_i s_i**-2) ** -0.5``. Returns ``None`` for any other event.
    """
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.GaussianDpEvent):
        nm = event.noise_multiplier
        return math.inf if nm == 0 else 1.0 / nm**2
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        inner = gaussian_mu2(event.event)
        return None if inner is None else event.count * inner
    if isinstance(event, dp_accounting.ComposedDpEvent):
        parts = [gaussian_mu2(e) for e in event.events]
        return None if any(p is None for p in parts) else float(sum(parts))
    return None


def pure_epsilon(event) -> float:
    """Epsilon at delta=0 of a pure-DP event (``inf`` if it is not pure DP).

    At delta = 0 the tight composition of pure-DP mechanisms is the sum of
    their epsilons (no advanced composition applies), and Poisson sampling at
    rate q amplifies epsilon to ``log(1 + q (e^epsilon - 1))``. The PLD
    accountant, whose discretisation is pessimistic, returns ``inf`` at
    delta=0, so pure DP is reported through this exact calculation instead.

    Parameters
    ----------
    event : dp_accounting.DpEvent
        Laplace, discrete Laplace, randomized response or no-op events, and
        compositions and Poisson samplings of them. Any other event (Gaussian,
        non-private...) has no pure-DP guarantee.

    Returns
    -------
    epsilon : float
        Exact epsilon of ``event`` at delta = 0, or ``inf`` if it is not pure
        DP.

    See Also
    --------
    privacy_spent : Uses this at ``delta=0``.
    laplace_scale : Calibration of the Laplace mechanism.

    Examples
    --------
    >>> import dp_accounting
    >>> from skpriv.accounting import pure_epsilon
    >>> laplace = dp_accounting.LaplaceDpEvent(noise_multiplier=2.0)
    >>> pure_epsilon(dp_accounting.SelfComposedDpEvent(laplace, 3))
    1.5
    >>> pure_epsilon(dp_accounting.GaussianDpEvent(1.0))
    inf
    """
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.LaplaceDpEvent):
        return 1.0 / event.noise_multiplier if event.noise_multiplier > 0 else math.inf
    if isinstance(event, dp_accounting.dp_event.DiscreteLaplaceDpEvent):
        return event.noise_parameter * event.sensitivity
    if isinstance(event, dp_accounting.RandomizedResponseDpEvent):
        p, k = event.noise_parameter, event.num_buckets
        if k <= 1:
            return 0.0  # a single bucket reveals nothing
        if p <= 0:
            return math.inf
        return math.log((1.0 - p + p / k) / (p / k))
    if isinstance(event, dp_accounting.ComposedDpEvent):
        return sum(pure_epsilon(e) for e in event.events)
    if isinstance(event, dp_accounting.SelfComposedDpEvent):
        return event.count * pure_epsilon(event.event)
    if isinstance(event, dp_accounting.PoissonSampledDpEvent):
        eps = pure_epsilon(event.event)
        q = event.sampling_probability
        return math.log1p(q * math.expm1(eps)) if math.isfinite(eps) else math.inf
    return math.inf


#: Pure-DP parts above this epsilon are composed with RDP, not PLD (memory).
_PLD_MAX_PURE_EPSILON = 50.0


_PURE_LEAVES = (
    dp_accounting.LaplaceDpEvent,
    dp_accounting.RandomizedResponseDpEvent,
    dp_accounting.dp_event.DiscreteLaplaceDpEvent,
)
#: Leaves whose RDP is closed form at every order.
_CLOSED_FORM_LEAVES = (
    dp_accounting.ZCDpEvent,
    dp_accounting.GaussianDpEvent,
    dp_accounting.LaplaceDpEvent,
    dp_accounting.RandomizedResponseDpEvent,
    dp_accounting.NoOpDpEvent,
)


def _leaves(event, through_sampling=False):
    """The mechanisms inside compositions (and Poisson samplings, if asked)."""
    if isinstance(event, dp_accounting.ComposedDpEvent):
        for part in event.events:
            yield from _leaves(part, through_sampling)
    elif isinstance(event, dp_accounting.SelfComposedDpEvent) or (
        through_sampling and isinstance(event, dp_accounting.PoissonSampledDpEvent)
    ):
        yield from _leaves(event.event, through_sampling)
    else:
        yield event


def _largest_pure_part(event) -> float:
    """Largest epsilon of a pure-DP leaf (Laplace, RR) inside ``event``."""
    return max(
        (pure_epsilon(e) for e in _leaves(event, True) if isinstance(e, _PURE_LEAVES)),
        default=0.0,
    )


def _closed_form_rdp(event) -> bool:
    """Whether ``event`` composes only zCDP, unsampled Gaussian and pure parts."""
    return all(isinstance(e, _CLOSED_FORM_LEAVES) for e in _leaves(event))


def epsilon_of(event, delta: float, accountant: str = "pld") -> float:
    """Epsilon at ``delta`` of a DP event: the one place an event becomes epsilon.

    Every part of skpriv (``privacy_spent``, the estimators' ``epsilon_``,
    calibration checks) goes through this function, so the same event always
    reports the same epsilon.

    - ``delta == 0``: the exact pure-DP epsilon (:func:`pure_epsilon`);
    - compositions of unsampled Gaussians with ``accountant="pld"``: exactly
      one Gaussian mechanism, in closed form (the PLD accountant gives the
      same value but takes minutes at low noise);
    - otherwise the accountant's epsilon, and never more than the pure-DP
      epsilon, which bounds every ``delta``.

    Parameters
    ----------
    event : dp_accounting.DpEvent
        The event; ``NonPrivateDpEvent`` gives ``inf``.
    delta : float
        Target delta in [0, 1).
    accountant : {"pld", "rdp"}, default="pld"
        The dp-accounting accountant.

    Returns
    -------
    epsilon : float
        The smallest epsilon the accountant certifies at ``delta`` (``inf``
        for a non-private event, ``0.0`` for no release).

    See Also
    --------
    privacy_spent : Composes a fitted object's events through this function.
    make_accountant : The accountants it uses.

    Examples
    --------
    >>> import dp_accounting
    >>> from skpriv.accounting import epsilon_of
    >>> epsilon_of(dp_accounting.LaplaceDpEvent(0.5), 0.0)
    2.0
    >>> round(epsilon_of(dp_accounting.GaussianDpEvent(3.7306), 1e-5), 4)
    1.0
    """
    if accountant not in ("pld", "rdp"):
        raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")
    if isinstance(event, dp_accounting.NoOpDpEvent):
        return 0.0
    if isinstance(event, dp_accounting.NonPrivateDpEvent):
        return math.inf
    pure = pure_epsilon(event)
    if delta == 0.0:
        return float(pure)
    mu2 = gaussian_mu2(event)
    if accountant == "pld" and mu2 is not None and mu2 > 0:
        if math.isinf(mu2):
            return math.inf
        sigma = 1.0 / math.sqrt(mu2)
        return float(dp_accounting.get_epsilon_gaussian(sigma, delta))
    if accountant == "pld" and _largest_pure_part(event) > _PLD_MAX_PURE_EPSILON:
        # The PLD of a pure mechanism spans [-eps, eps] at the 1e-4
        # discretisation: at eps = 1e6 that is 2e10 points (tens of GB). Such
        # parts say little anyway; the RDP bound (and the pure one) is exact
        # enough and instant.
        accountant = "rdp"
    acc = make_accountant(accountant)
    if accountant == "rdp" and _closed_form_rdp(event):
        acc = _RdpAccountant(_RDP_WIDE_ORDERS)
    if not acc.supports(event) and accountant == "pld":
        # Events dp-accounting's PLD accountant cannot compose (its
        # RepeatAndSelectDpEvent, which private searches record) have an RDP
        # analysis: use it rather than fail.
        accountant = "rdp"
        acc = make_accountant(accountant)
        if _closed_form_rdp(event):
            acc = _RdpAccountant(_RDP_WIDE_ORDERS)
    if not acc.supports(event):
        raise ValueError(
            f"The {accountant!r} accountant does not support the recorded events "
            f"{event}; try accountant='pld' or 'rdp'."
        )
    acc.compose(event)
    return float(min(pure, acc.get_epsilon(delta)))
