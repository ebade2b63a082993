"""``privacy_spent``: what a fitted object spent, and what it releases uncovered."""

import math
import warnings
from typing import NamedTuple

import dp_accounting
from sklearn.utils.validation import check_is_fitted

from ..exceptions import PrivacyLeakWarning, UncoveredReleaseError
from ..utils._validation import check_delta
from ._accountants import epsilon_of
from ._planning import default_delta, events_by_part, plan
from ._walk import (
    LEAF,
    POST,
    SEARCH,
    _Fits,
    _learns_labels,
    as_walkable,
    fitted_children,
    uncovered,
    walk,
)

__all__ = ["PrivacySpent", "non_private_parts", "privacy_spent"]


class _EpsilonDelta(NamedTuple):
    epsilon: float
    delta: float


class PrivacySpent(_EpsilonDelta):
    """Privacy spent, as ``(epsilon, delta)``, and what that does not cover.

    The named tuple :func:`privacy_spent` returns: the data it was computed on
    is ``(epsilon, delta)``-differentially private with respect to everything
    the fitted object released except the releases listed in ``uncovered``.
    It unpacks like a plain tuple of two.

    Parameters
    ----------
    epsilon : float
        Privacy loss bound; ``0.0`` when nothing private touched the data,
        ``inf`` when a non-private step did and nothing was private.
    delta : float
        Probability with which the ``epsilon`` bound may fail, in [0, 1).
    uncovered : sequence of UncoveredRelease, default=()
        What the object releases outside the guarantee.
    parts : sequence of (str, dp_accounting.DpEvent), default=()
        The DP events composed, with the path of the part that recorded
        each (for :attr:`parts`).
    accountant : {"pld", "rdp"}, default="pld"
        The accountant used (for :attr:`parts`).

    Attributes
    ----------
    uncovered : tuple of UncoveredRelease
        Each ``(part, attribute, reason)``: a fitted attribute, score or
        output computed from the private data without the noise the epsilon
        accounts for. Empty when the whole release is covered.
    covered : bool
        ``True`` when ``uncovered`` is empty.

    See Also
    --------
    privacy_spent : Compute the privacy a fitted object spent.

    Examples
    --------
    >>> from skpriv.accounting import PrivacySpent
    >>> spent = PrivacySpent(epsilon=1.0, delta=1e-5)
    >>> spent
    PrivacySpent(epsilon=1.0, delta=1e-05)
    >>> epsilon, delta = spent
    >>> epsilon
    1.0
    >>> spent.covered
    True
    """

    def __new__(cls, epsilon, delta, uncovered=(), parts=(), accountant="pld"):
        self = super().__new__(cls, epsilon, delta)
        self.uncovered = tuple(uncovered)
        self._parts = tuple(parts)
        self._accountant = accountant
        return self

    def __reduce__(self):
        return (
            type(self),
            (self.epsilon, self.delta, self.uncovered, self._parts, self._accountant),
        )

    @property
    def covered(self) -> bool:
        return not self.uncovered

    @property
    def parts(self) -> dict:
        """Epsilon of each part alone at this ``delta``: ``{path: epsilon}``.

        A part is a step or fitted sub-estimator that recorded DP events (a
        search's planned fits are listed under the search's path). The parts
        compose to :attr:`epsilon`, which is at most their sum.
        """
        grouped = {}
        for path, event in self._parts:
            grouped.setdefault(path, []).append(event)
        return {
            path: epsilon_of(
                events[0]
                if len(events) == 1
                else dp_accounting.ComposedDpEvent(events),
                self.delta,
                self._accountant,
            )
            for path, events in grouped.items()
        }

    def summary(self) -> str:
        """A short text: the epsilon, then what it covers and what not.

        Returns
        -------
        text : str
            One line with epsilon and delta, then one line per uncovered
            release (or a line saying everything is covered).
        """
        lines = [f"epsilon={self.epsilon:.4g}, delta={self.delta:.3g}"]
        if self.covered:
            lines.append("covers everything the object releases")
        else:
            lines.append("not covered:")
            lines.extend(f"  - {release}" for release in self.uncovered)
        return "\n".join(lines)


def non_private_parts(obj):
    """List the fitted parts that learned from the data without DP.

    A part of the walk done by :func:`privacy_spent` with no DP event and no
    fitted sub-estimators whose state depends on the training data: a
    ``StandardScaler``'s means, a plain ``LogisticRegression``'s
    coefficients. Stateless steps (``Normalizer``, ``FunctionTransformer``),
    steps declared public (:class:`DeclaredPublic`, a ``FrozenEstimator``, an
    encoder with given ``categories``, skpriv's masking and encryption
    transformers) are not listed, nor are pipeline steps after a local-DP
    transformer: they learn from privatized rows, which is post-processing.

    Parameters
    ----------
    obj : estimator
        A fitted object.

    Returns
    -------
    names : list of str
        Paths of the non-private parts (step names, dotted), in walk order.

    See Also
    --------
    privacy_spent : Lists these parts, with every other uncovered release.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer, StandardScaler
    >>> from skpriv.accounting import non_private_parts
    >>> pipe = make_pipeline(StandardScaler(), Normalizer()).fit([[0.0], [1.0]])
    >>> non_private_parts(pipe)
    ['standardscaler']
    """
    obj = as_walkable(obj)
    names = []
    for part in walk(obj):
        if part.role == SEARCH:
            best = getattr(part.est, "best_estimator_", None)
            if best is not None:
                names.extend(non_private_parts(best))
        elif part.role == LEAF:
            where = part.path or type(part.est).__name__
            if any(r.attribute == "*" for r in uncovered(part.est, where)):
                names.append(where)
        elif part.role == POST and _learns_labels(part.est):
            names.append(part.path or type(part.est).__name__)
    return names


def _bootstrapped_parts(obj):
    """Fitted meta-estimators that resample rows with replacement for DP parts."""
    found = []

    def visit(est, path):
        if getattr(est, "dp_event_", None) is not None:
            return
        if hasattr(est, "cv_results_") and hasattr(est, "best_estimator_"):
            visit(est.best_estimator_, path)
            return
        params = est.get_params(deep=False) if hasattr(est, "get_params") else {}
        children = list(fitted_children(est))
        if params.get("bootstrap") is True and any(
            events_by_part(child) for _, child in children
        ):
            found.append(path or type(est).__name__)
            return
        for name, child in children:
            visit(child, f"{path}.{name}" if path else name)

    visit(obj, "")
    return found


def privacy_spent(obj, delta=None, accountant="pld", *, n_samples=None, strict=False):
    """Privacy spent on the training data by a fitted object, as (epsilon, delta).

    Every fitted skpriv estimator and transformer records the DP event of its
    fit (``dp_event_``: mechanism, noise, sampling, steps) and declares what
    each of its fitted attributes is: DP output, public, or not covered. This
    function walks ``obj`` — a single estimator, a ``Pipeline``,
    ``ColumnTransformer``, ``FeatureUnion``, any meta-estimator holding
    fitted estimators, a ``GridSearchCV`` / ``RandomizedSearchCV``, or the
    results of ``cross_validate`` — composes the events with a tight
    accountant from Google's dp-accounting library, and lists everything
    released outside that guarantee in ``uncovered``.

    A search counts every fit it made: each candidate once per split plus the
    refit. The candidates' fits happened in worker processes (``n_jobs > 1``)
    whose estimators are discarded, so their events are *planned* from the
    candidate's parameters and the training-fold size by the estimator's own
    plan. A scikit-learn search's scores (``cv_results_``, ``best_score_``)
    and its choice (``best_params_``, and so ``best_estimator_``) are exact
    statistics of the private rows: they are listed as not covered.

    Parameters
    ----------
    obj : estimator, list of estimators or dict
        A fitted object, a list of fitted objects trained on the same data
        (their costs compose), or the dict returned by
        :func:`~sklearn.model_selection.cross_validate` with
        ``return_estimator=True`` (one fit per split; its scores are not
        covered).
    delta : float, default=None
        Target delta in [0, 1). ``None`` uses the sum of the ``delta``
        parameters of the private parts (0 when all are pure DP).
    accountant : {"pld", "rdp"}, default="pld"
        Privacy-loss-distribution (tight) or Rényi DP accountant.
    n_samples : int, default=None
        Only for searches whose candidates use subsampling (DP-SGD): the
        number of rows the search was fitted on. Inferred from the refitted
        best estimator when available.
    strict : bool, default=False
        Raise :class:`~skpriv.exceptions.UncoveredReleaseError` naming every
        uncovered release instead of warning (for CI).

    Returns
    -------
    spent : PrivacySpent
        Named tuple ``(epsilon, delta)``; ``spent.uncovered`` lists what is
        not covered (by part path and attribute), ``spent.parts`` gives each
        part's epsilon. ``epsilon`` is ``0.0`` when nothing learned from the
        data, and ``inf`` when parts learned from it without DP and no DP part
        was fitted, or a part recorded a non-private event. Uncovered
        releases raise a :class:`~skpriv.exceptions.PrivacyLeakWarning`
        naming them.

    See Also
    --------
    collect_dp_events : The events that are composed.
    epsilon_of : The one function from a DP event to epsilon.
    DeclaredPublic : Declare a step's fitted state public.
    skpriv.display.PrivacyUtilityDisplay : Plot utility against epsilon.

    Examples
    --------
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import StandardScaler
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> import warnings
    >>> from sklearn.preprocessing import Normalizer
    >>> privacy_spent(make_pipeline(Normalizer()).fit([[0.0], [1.0]]))
    PrivacySpent(epsilon=0.0, delta=0.0)
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     spent = privacy_spent(make_pipeline(StandardScaler()).fit([[0.0], [1.0]]))
    >>> spent
    PrivacySpent(epsilon=inf, delta=0.0)
    >>> [str(release) for release in spent.uncovered]
    ['standardscaler (learned from the data without differential privacy)']

    Two Laplace steps at epsilon 1.0 and 0.5 compose to 1.5 (pure DP):

    >>> X = [[0.0, 1.0], [0.5, 0.2], [1.0, 0.0]]
    >>> pipe = make_pipeline(
    ...     LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0),
    ...     LaplaceNoise(epsilon=0.5, bounds=(0, 1), random_state=0),
    ... ).fit(X)
    >>> privacy_spent(pipe)
    PrivacySpent(epsilon=1.5, delta=0.0)
    """
    if accountant not in ("pld", "rdp"):
        raise ValueError(f"accountant must be 'pld' or 'rdp'; got {accountant!r}.")
    # An unfitted object spent nothing, but reporting 0 (or inf with a warning
    # that it "learned from the data") would hide the mistake.
    obj = as_walkable(obj)
    if hasattr(obj, "fit"):  # an estimator (a list's parts were checked)
        check_is_fitted(obj)
    elif not isinstance(obj, _Fits) and not (
        hasattr(obj, "dp_event_") or hasattr(obj, "_privacy_children")
    ):
        raise TypeError(
            f"privacy_spent expects a fitted estimator, a list of them, the "
            f"dict of cross_validate(..., return_estimator=True) or a "
            f"PrivacyUtilityDisplay; got {type(obj).__name__}."
        )
    parts, planned = plan(obj, n_samples=n_samples)
    if delta is None:
        delta = default_delta(obj)
    delta = check_delta(delta)
    # What planning could not bound (unstable folds, dropped refits), then
    # what each part releases.
    releases = _deduplicated([*planned, *uncovered(obj)])
    if releases:
        listed = describe(releases)
        message = (
            f"privacy_spent: the reported epsilon does not cover {listed}. Fit "
            f"such parts on public data, declare them public (DeclaredPublic) "
            f"if what they learn is public, or use private counterparts; see "
            f"the privacy model page of the documentation."
        )
        if strict:
            raise UncoveredReleaseError(message, releases)
        warnings.warn(message, PrivacyLeakWarning, stacklevel=2)
    resampled = _bootstrapped_parts(obj)
    if resampled:
        warnings.warn(
            f"privacy_spent: {', '.join(resampled)} (bootstrap=True) trained "
            f"its private estimators on rows drawn with replacement: a row "
            f"drawn k times in one sample costs up to k times the epsilon of "
            f"that estimator, which the reported epsilon does not cover. Use "
            f"bootstrap=False (sampling without replacement).",
            PrivacyLeakWarning,
            stacklevel=2,
        )
    if not parts:
        # Nothing private was fitted: 0 if nothing was learned either, inf if
        # anything was released from the data outside DP (epsilon 0 beside a
        # list of uncovered releases would read as "perfectly private").
        return PrivacySpent(math.inf if releases else 0.0, delta, releases)
    events = [event for _, event in parts]
    event = events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)
    return PrivacySpent(
        epsilon_of(event, delta, accountant), delta, releases, parts, accountant
    )


def describe(releases) -> str:
    """``releases`` as one line, grouped by part and reason."""
    groups = {}
    for r in releases:
        groups.setdefault((r.part, r.reason), []).append(r.attribute)
    items = []
    for (part, reason), attrs in groups.items():
        if attrs == ["*"]:
            items.append(f"{part} ({reason})")
        else:
            items.append(
                f"{part}: {', '.join(a for a in attrs if a != '*')} ({reason})"
            )
    return "; ".join(items)


def _deduplicated(releases):
    seen, out = set(), []
    for release in releases:
        if release not in seen:
            seen.add(release)
            out.append(release)
    return out
