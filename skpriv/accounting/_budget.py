"""PrivacyBudget: a privacy filter that refuses the release that would exceed it."""

import contextvars
import math
import warnings

import dp_accounting
import numpy as np
from sklearn.utils.validation import _num_samples

from ..exceptions import BudgetExceededError, PrivacyLeakWarning
from ..utils._validation import check_delta, check_epsilon
from ._accountants import _RdpAccountant, epsilon_of, pure_epsilon

__all__ = ["PrivacyBudget", "after_fit", "before_fit", "charge_budgets"]

#: Budgets entered with ``with budget:`` in this context (thread, task).
_ACTIVE = contextvars.ContextVar("skpriv_active_budgets", default=())
#: Relative slack of the comparison with the budget: the accountants' own
#: rounding (a composition of n releases at epsilon / n may sum to 1 ulp over).
_TOLERANCE = 1e-9
#: Rényi orders among which the RDP filter picks its one order.
_FILTER_ORDERS = 1.0 + np.geomspace(1e-2, 1e3, 400)


def _composed(events):
    if not events:
        return dp_accounting.NoOpDpEvent()
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)


def _rdp_at(event, order: float) -> float:
    accountant = _RdpAccountant([order])
    accountant.compose(event)
    return float(accountant._rdp[0])


def _rdp_budget(epsilon: float, delta: float, order: float) -> float:
    """Largest RDP at ``order`` that converts to ``(epsilon, delta)``.

    The conversion of Canonne, Kamath & Steinke (2020), which dp-accounting's
    RDP accountant uses: ``eps = rdp + log((a - 1) / a) - (log(delta) +
    log(a)) / (a - 1)``.
    """
    a = order
    return epsilon - math.log((a - 1) / a) + (math.log(delta) + math.log(a)) / (a - 1)


def _filter_order(epsilon: float, delta: float) -> float:
    """The fixed order of the RDP filter: best for Gaussian-like compositions.

    A composition of Gaussian releases has RDP linear in the order, so the
    order maximising ``budget(order) / order`` admits the most of them. It is
    chosen from the budget alone, before any release: the filter is then the
    fixed-order filter of Feldman & Zrnic (2021), valid under fully adaptive
    choices.
    """
    best, best_ratio = None, -math.inf
    for a in _FILTER_ORDERS:
        b = _rdp_budget(epsilon, delta, float(a))
        if b > 0 and b / a > best_ratio:
            best, best_ratio = float(a), b / a
    if best is None:
        raise ValueError(
            f"PrivacyBudget: no Rényi order converts to epsilon={epsilon} at "
            f"delta={delta}; use a larger epsilon or delta, or accountant='pld'."
        )
    return best


class PrivacyBudget:
    """A privacy filter: a total ``(epsilon, delta)`` that releases draw from.

    Charge it with fitted skpriv objects (:meth:`spend`), with estimators to
    fit (:meth:`fit`, which refuses *before* fitting), with the statistics of
    :mod:`skpriv.stats` (``budget=`` or ``with budget:``) or with DP events
    (:meth:`charge`). A release that would take the total over the budget
    raises :class:`~skpriv.exceptions.BudgetExceededError` and is not
    recorded; :meth:`report` shows what was spent, part by part.

    Parameters
    ----------
    epsilon : float
        Total epsilon (> 0, finite).
    delta : float, default=0.0
        Total delta in [0, 1). ``0`` admits only pure-DP releases (Laplace,
        discrete Laplace, exponential mechanism, randomized response).
    accountant : {"pld", "rdp"}, default="pld"
        How releases compose against an approximate-DP budget (``delta >
        0``); see Notes.

    Attributes
    ----------
    epsilon : float
    delta : float
    accountant : str

    See Also
    --------
    skpriv.accounting.privacy_spent : What one fitted object spent.
    skpriv.stats : Statistics that charge a budget before releasing.

    Notes
    -----
    Which rule decides whether a release still fits:

    - ``delta=0``: the sum of the pure epsilons (basic composition), a privacy
      filter valid even when each release is chosen after seeing the previous
      ones (Rogers, Roth, Ullman & Vadhan 2016).
    - ``accountant="rdp"``: the Rényi-DP filter of Feldman & Zrnic (2021) at
      one order fixed by the budget (the best order for Gaussian
      compositions), also valid under fully adaptive choices; the first
      release alone is compared exactly (its parameters cannot depend on an
      earlier output).
    - ``accountant="pld"`` (default): the tight privacy-loss-distribution
      composition of everything charged, as :func:`privacy_spent` computes
      it. It is exact for a sequence of releases whose privacy parameters do
      not depend on earlier *outputs* (a script that fixes its steps in
      advance, even if their results feed later steps). When the parameters
      of later releases are chosen by looking at earlier results, use
      ``accountant="rdp"`` or ``delta=0``: no PLD filter is known to be
      valid under such adaptivity.

    ``with budget:`` charges the statistics computed inside the block (and,
    through the fit template, the fits of skpriv estimators) before each
    release.

    References
    ----------
    .. [1] R. Rogers, A. Roth, J. Ullman, S. Vadhan, "Privacy odometers and
       filters: pay-as-you-go composition", NeurIPS 2016.
    .. [2] V. Feldman, T. Zrnic, "Individual privacy accounting via a Rényi
       filter", NeurIPS 2021.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv import stats
    >>> from skpriv.accounting import PrivacyBudget
    >>> from skpriv.exceptions import BudgetExceededError
    >>> X = np.random.default_rng(0).uniform(0, 10, size=1000)
    >>> budget = PrivacyBudget(epsilon=1.0)
    >>> m = stats.mean(X, epsilon=0.5, bounds=(0, 10), budget=budget, random_state=0)
    >>> v = stats.var(X, epsilon=0.5, bounds=(0, 10), budget=budget, random_state=0)
    >>> try:
    ...     stats.mean(X, epsilon=0.1, bounds=(0, 10), budget=budget)
    ... except BudgetExceededError:
    ...     print("refused")
    refused
    >>> round(budget.spent.epsilon, 6)
    1.0
    """

    def __init__(self, epsilon, delta=0.0, accountant="pld"):
        self.epsilon = check_epsilon(epsilon)
        self.delta = check_delta(delta)
        if accountant not in ("pld", "rdp"):
            raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")
        self.accountant = accountant
        self._entries = []  # (label, event)
        self._uncovered = []  # str
        self._order = (
            _filter_order(self.epsilon, self.delta)
            if accountant == "rdp" and self.delta > 0
            else None
        )
        self._tokens = []
        self._n_first = None  # events in the first charge (the RDP filter)

    def __repr__(self):
        return (
            f"PrivacyBudget(epsilon={self.epsilon!r}, delta={self.delta!r}, "
            f"accountant={self.accountant!r})"
        )

    # ------------------------------------------------------------------
    # The filter
    # ------------------------------------------------------------------

    def _reading(self, events) -> float:
        """The filter's epsilon for these events (compared with ``epsilon``)."""
        if not events:
            return 0.0
        event = _composed(events)
        if self.delta == 0:
            return pure_epsilon(event)
        first = self._n_first if self._n_first is not None else len(events)
        if self.accountant == "pld" or len(events) <= first:
            # The first charge is read exactly: its parameters cannot depend
            # on an earlier output.
            return epsilon_of(event, self.delta, "pld")
        # RDP filter at the fixed order: epsilon as the order's conversion.
        a = self._order
        rdp = _rdp_at(event, a)
        return (
            rdp + math.log((a - 1) / a) - (math.log(self.delta) + math.log(a)) / (a - 1)
        )

    def _admits(self, events) -> bool:
        return self._reading(events) <= self.epsilon * (1.0 + _TOLERANCE)

    def _check_events(self, new, what):
        if not isinstance(new, list):
            new = [new]
        for event in new:
            if not isinstance(event, dp_accounting.DpEvent):
                raise TypeError(
                    f"PrivacyBudget charges dp_accounting.DpEvent objects; got "
                    f"{type(event).__name__}."
                )
            if isinstance(event, dp_accounting.NonPrivateDpEvent):
                raise BudgetExceededError(
                    f"{what} is not differentially private (NonPrivateDpEvent): "
                    f"no budget covers it."
                )
        if self.delta == 0 and math.isinf(pure_epsilon(_composed(new))):
            raise BudgetExceededError(
                f"{what} has no pure-DP guarantee (Gaussian noise or subsampled "
                f"releases need delta > 0), and this budget has delta=0; give "
                f"the budget a delta or use pure-DP releases."
            )
        total = [e for _, e in self._entries] + new
        if not self._admits(total):
            spent = self._reading([e for _, e in self._entries])
            alone = self._reading(new)
            raise BudgetExceededError(
                f"{what} would spend epsilon={alone:.4g} on its own, and with "
                f"the epsilon={spent:.4g} already spent would exceed the budget "
                f"epsilon={self.epsilon:g} (delta={self.delta:g}); it was "
                f"refused and nothing was recorded."
            )
        return new

    def check(self, event, label=None):
        """Raise :class:`~skpriv.exceptions.BudgetExceededError` unless ``event`` fits.

        Nothing is recorded: :meth:`charge` records.

        Parameters
        ----------
        event : dp_accounting.DpEvent or list of DpEvent
            The release(s) to test.
        label : str, default=None
            Name used in the error message.
        """
        self._check_events(
            list(event) if isinstance(event, (list, tuple)) else event,
            label or "the release",
        )

    def charge(self, event, label=None):
        """Record ``event`` if it fits, else raise before anything is recorded.

        Call it *before* releasing what ``event`` describes: the statistics of
        :mod:`skpriv.stats` do.

        Parameters
        ----------
        event : dp_accounting.DpEvent or list of DpEvent
            The release(s) to charge.
        label : str, default=None
            Name of the part in :meth:`report`.

        Returns
        -------
        self : PrivacyBudget
            The budget, with the release recorded.
        """
        label = self._unique(label or "release")
        events = self._check_events(
            list(event) if isinstance(event, (list, tuple)) else event, label
        )
        self._record((label, e) for e in events)
        return self

    def _unique(self, label):
        """``label``, numbered if an earlier charge used it (``mean (2)``)."""
        used = {entry.split(".")[0] for entry, _ in self._entries}
        if label not in used:
            return label
        k = 2
        while f"{label} ({k})" in used:
            k += 1
        return f"{label} ({k})"

    def _record(self, entries):
        entries = list(entries)
        if self._n_first is None and entries:
            self._n_first = len(entries)
        self._entries.extend(entries)

    def spend(self, obj, label=None):
        """Charge what a fitted object (or a DP event) spent.

        The object's events are read as :func:`privacy_spent` reads them
        (pipelines, column transformers, searches included); what it releases
        outside its guarantee is listed by :meth:`report` and warned about.
        The fit has already happened: if it does not fit in the budget the
        error says so and nothing is recorded, and the object must not be
        published. To refuse before fitting, use :meth:`fit` or
        ``with budget:``.

        Parameters
        ----------
        obj : fitted estimator, dp_accounting.DpEvent or list of DpEvent
            What to charge.
        label : str, default=None
            Name of the part (the class name by default).

        Returns
        -------
        self : PrivacyBudget
            The budget, with the object's releases recorded.
        """
        if isinstance(obj, dp_accounting.DpEvent) or (
            isinstance(obj, (list, tuple))
            and obj
            and all(isinstance(e, dp_accounting.DpEvent) for e in obj)
        ):
            return self.charge(obj, label)
        from ._planning import events_by_part
        from ._spent import _deduplicated
        from ._walk import as_walkable, uncovered

        walkable = as_walkable(obj)
        label = self._unique(label or type(obj).__name__)
        parts = events_by_part(walkable)
        events = [e for _, e in parts]
        self._check_events(events, label)
        self._record((f"{label}.{path}" if path else label, e) for path, e in parts)
        releases = _deduplicated(uncovered(walkable))
        if releases:
            named = [f"{label}: {r}" for r in releases]
            self._uncovered.extend(named)
            warnings.warn(
                f"PrivacyBudget.spend: the budget does not cover {'; '.join(named)}.",
                PrivacyLeakWarning,
                stacklevel=2,
            )
        return self

    def fit(self, estimator, X, y=None, **fit_params):
        """Fit ``estimator`` only if its planned cost fits, then charge it.

        The cost is planned from the parameters and the number of rows (the
        estimator's own plan, as :func:`privacy_spent` plans a search's fits)
        and checked *before* the fit; after it, what the fit recorded (at most
        the plan) is charged.

        Parameters
        ----------
        estimator : estimator
            An unfitted skpriv estimator, pipeline or search.
        X, y : array-like
            Training data.
        **fit_params : dict
            Passed to ``estimator.fit``.

        Returns
        -------
        estimator : estimator
            The fitted estimator.
        """
        from ._planning import planned_events

        label = type(estimator).__name__
        planned = planned_events(estimator, _num_samples(X))
        self._check_events(planned, label)
        estimator.fit(X, y, **fit_params)
        self.spend(estimator, label)
        return estimator

    # ------------------------------------------------------------------
    # with budget:
    # ------------------------------------------------------------------

    def __enter__(self):
        self._tokens.append(_ACTIVE.set(_ACTIVE.get() + (self,)))
        return self

    def __exit__(self, *exc_info):
        _ACTIVE.reset(self._tokens.pop())
        return False

    # ------------------------------------------------------------------
    # Reading
    # ------------------------------------------------------------------

    @property
    def spent(self):
        """What was charged, as :class:`~skpriv.accounting.PrivacySpent`."""
        from ._spent import PrivacySpent

        events = [e for _, e in self._entries]
        return PrivacySpent(
            self._reading(events),
            self.delta,
            parts=list(self._entries),
            accountant=self.accountant,
        )

    @property
    def remaining(self) -> float:
        """``epsilon`` minus the epsilon spent (at least 0)."""
        return max(0.0, self.epsilon - self._reading([e for _, e in self._entries]))

    def report(self) -> str:
        """What was spent, part by part, as a text table.

        Each part's epsilon is its own at the budget's delta; the total is the
        filter's composition (below the sum of the parts, except for pure DP
        where it is the sum).

        Returns
        -------
        report : str
            One line per part, then the total and what remains.
        """
        rows = {}
        for label, event in self._entries:
            rows.setdefault(label, []).append(event)
        width = max([len("part")] + [len(k) for k in rows])
        lines = [
            f"PrivacyBudget(epsilon={self.epsilon:g}, delta={self.delta:g}, "
            f"accountant={self.accountant!r})",
            f"{'part':<{width}}  epsilon",
        ]
        for label, events in rows.items():
            lines.append(f"{label:<{width}}  {self._reading(events):.4g}")
        spent = self._reading([e for _, e in self._entries])
        lines.append(f"{'total':<{width}}  {spent:.4g}")
        lines.append(f"{'remaining':<{width}}  {max(0.0, self.epsilon - spent):.4g}")
        if self._uncovered:
            lines.append("not covered:")
            lines.extend(f"  - {item}" for item in self._uncovered)
        return "\n".join(lines)


def _budgets(budget):
    found = list(_ACTIVE.get())
    if budget is not None:
        if not isinstance(budget, PrivacyBudget):
            raise TypeError(
                f"budget must be a skpriv.accounting.PrivacyBudget or None; got "
                f"{type(budget).__name__}."
            )
        if all(b is not budget for b in found):
            found.append(budget)
    return found


def charge_budgets(budget, event, label):
    """Charge ``event`` to ``budget`` and every active one, or to none.

    All are checked before any records, so a refusal leaves every budget as
    it was.
    """
    found = _budgets(budget)
    for b in found:
        b.check(event, label)
    for b in found:
        b.charge(event, label)


def before_fit(estimator, n_samples):
    """Check a fit's planned event against the active budgets (fit template hook).

    Returns the budgets to charge after the fit (:func:`after_fit`); raises
    :class:`~skpriv.exceptions.BudgetExceededError` before any work when the
    plan does not fit.
    """
    found = list(_ACTIVE.get())
    if not found:
        return ()
    label = type(estimator).__name__
    event = estimator._planned_dp_event(n_samples)
    for b in found:
        b.check(event, label)
    return tuple(found)


def after_fit(estimator, budgets):
    """Charge what the fit recorded (at most its plan) to ``budgets``."""
    label = type(estimator).__name__
    for b in budgets:
        b._record([(label, estimator.dp_event_)])
