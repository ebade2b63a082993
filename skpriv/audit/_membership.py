"""Membership-inference attack and the one-run canary audit."""

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.base import clone
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.utils import _safe_indexing
from sklearn.utils.validation import check_consistent_length

from ..utils._random import check_random_state
from ..utils._validation import check_delta
from ._scores import clopper_pearson, example_scores, one_run_epsilon_lower_bound

__all__ = [
    "CanaryAuditResult",
    "MembershipInferenceResult",
    "canary_audit",
    "membership_inference",
]


@dataclass(frozen=True)
class MembershipInferenceResult:
    """What :func:`membership_inference` found.

    A frozen dataclass returned by :func:`membership_inference`; each
    parameter is stored as a read-only attribute of the same name.

    Parameters
    ----------
    auc : float
        Area under the ROC curve of the attack (0.5: no better than chance).
    advantage : float
        ``max(TPR - FPR)`` over thresholds (0: no leakage detected).
    epsilon_lower_bound : float
        Lower bound of epsilon at the given confidence (0: none shown).
    threshold : float
        Score threshold behind ``epsilon_lower_bound``, chosen on the
        selection halves.
    tpr, fpr : float
        True and false positive rates at that threshold on the evaluation
        halves (the rates the bound is computed from).
    n_members, n_nonmembers : int
        Sizes of the two groups.

    See Also
    --------
    membership_inference : The attack that returns it.
    CanaryAuditResult : What :func:`canary_audit` returns.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skpriv.audit import membership_inference
    >>> X, y = make_classification(n_samples=200, flip_y=0.2, random_state=0)
    >>> tree = DecisionTreeClassifier(random_state=0).fit(X[:100], y[:100])
    >>> res = membership_inference(
    ...     tree, X[:100], y[:100], X[100:], y[100:], random_state=0
    ... )
    >>> res.n_members, res.n_nonmembers
    (100, 100)
    >>> 0.5 < res.auc <= 1
    True
    """

    auc: float
    advantage: float
    epsilon_lower_bound: float
    threshold: float
    tpr: float
    fpr: float
    n_members: int
    n_nonmembers: int


def _check_confidence(confidence):
    if not (isinstance(confidence, float | int) and 0 < confidence < 1):
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}.")
    return float(confidence)


def _threshold_epsilons(s_in, s_out, thresholds, delta, alpha):
    """Epsilon lower bound of the test "member if score >= t" at each ``t``.

    Each bound holds with probability ``>= 1 - 2 alpha`` when ``t`` does not
    depend on the scores: it uses a lower bound of the true positive rate and
    an upper bound of the false positive rate (one-sided Clopper-Pearson,
    ``alpha`` each). Both inequalities of ``(epsilon, delta)``-DP need exactly
    these two: ``TPR <= e^eps FPR + delta`` and ``1 - FPR <= e^eps (1 - TPR)
    + delta`` (Kairouz et al. 2015), so a smaller true TPR or a larger true
    FPR only lowers the bound.
    """
    tp = s_in.size - np.searchsorted(s_in, thresholds, side="left")
    fp = s_out.size - np.searchsorted(s_out, thresholds, side="left")
    tpr_lo, _ = clopper_pearson(tp, s_in.size, alpha)
    _, fpr_hi = clopper_pearson(fp, s_out.size, alpha)
    with np.errstate(divide="ignore", invalid="ignore"):
        e1 = np.log(np.maximum(tpr_lo - delta, 0.0) / fpr_hi)
        e2 = np.log(np.maximum(1.0 - fpr_hi - delta, 0.0) / (1.0 - tpr_lo))
    eps = np.nan_to_num(np.maximum(e1, e2), nan=0.0, neginf=0.0, posinf=np.inf)
    return np.maximum(eps, 0.0), tp, fp


def _candidate_thresholds(s_in, s_out, n_thresholds):
    pooled = np.r_[s_in, s_out]
    finite = pooled[np.isfinite(pooled)]
    if finite.size == 0:
        return np.unique(pooled)
    qs = np.linspace(0, 1, int(n_thresholds) + 2)[1:-1]
    return np.unique(np.quantile(finite, qs))


def _choose_threshold(s_in, s_out, n_thresholds, delta, alpha):
    """The threshold whose bound looks best on the selection half.

    Ranked by the bound itself (at the evaluation half's level), then, among
    equal bounds (all zero when the half is small), by the smoothed log
    likelihood ratio, so that a weak signal still picks a useful threshold.
    """
    thresholds = _candidate_thresholds(s_in, s_out, n_thresholds)
    eps, tp, fp = _threshold_epsilons(s_in, s_out, thresholds, delta, alpha)
    tpr = (tp + 0.5) / (s_in.size + 1.0)
    fpr = (fp + 0.5) / (s_out.size + 1.0)
    ratio = np.maximum(np.log(tpr / fpr), np.log((1 - fpr) / (1 - tpr)))
    return thresholds[np.lexsort((ratio, eps))[-1]]


def membership_inference(
    estimator,
    X_members,
    y_members,
    X_nonmembers,
    y_nonmembers,
    *,
    score="loss",
    delta=0.0,
    confidence=0.95,
    n_thresholds=20,
    random_state=None,
):
    """Loss/confidence-threshold membership inference against a fitted model.

    The attack (Yeom et al. 2018) scores every example — by default minus
    its loss — and says "member" at or above a threshold. The members and
    the non-members are each split at random into two halves. On the first
    halves, ``n_thresholds`` thresholds (quantiles of their scores) are tried
    and the most telling one is kept; on the second halves, one-sided
    Clopper-Pearson intervals bound the true positive rate from below and the
    false positive rate from above, ``(1 - confidence) / 2`` each, and give
    the epsilon an ``(epsilon, delta)``-DP training would need:
    ``epsilon >= log((TPR - delta) / FPR)`` and
    ``log((1 - FPR - delta) / (1 - TPR))`` (Kairouz et al. 2015).

    Parameters
    ----------
    estimator : fitted estimator
        The model under attack (any classifier with ``predict_proba``, or a
        regressor with ``score="loss"``).
    X_members, y_members : array-like
        Examples the model was trained on (at least 2).
    X_nonmembers, y_nonmembers : array-like
        Examples from the same distribution that it was not trained on (at
        least 2).
    score : {"loss", "confidence", "margin"} or callable, default="loss"
        Per-example score, higher meaning "member" (see
        :func:`example_scores`).
    delta : float, default=0.0
        The delta of the guarantee being tested.
    confidence : float, default=0.95
        Confidence of the epsilon lower bound.
    n_thresholds : int, default=20
        Number of thresholds tried on the selection halves. Trying more costs
        no confidence: the bound is computed on the other halves.
    random_state : int, numpy.random.Generator or None, default=None
        Draws the split into the selection and the evaluation halves. An int
        makes the result reproducible.

    Returns
    -------
    result : MembershipInferenceResult
        AUC, advantage, epsilon lower bound and the threshold behind it.

    See Also
    --------
    canary_audit : A one-run audit of the training algorithm with inserted
        canaries.

    Notes
    -----
    The bound holds with probability at least ``confidence`` whenever each
    example's score is an independent draw from the members' or the
    non-members' score distribution: the threshold is chosen on examples the
    bound does not use, so it is a fixed threshold for the evaluation halves.
    For instance, of many audits of a model that does not depend on its
    training rows at all (epsilon = 0), at most a share ``1 - confidence``
    report a positive bound. Choosing the best of many thresholds on the
    same examples that bound it would overstate epsilon, which is why half of
    the examples are set aside.

    All examples are scored against one trained model, so as a bound on the
    training algorithm's epsilon (rather than on this one model's scores)
    it is the usual empirical one of membership-inference studies;
    :func:`canary_audit` randomizes the training data and gives a rigorous
    one-run bound. ``auc`` and ``advantage`` use all examples and are
    descriptive: ``advantage`` is the largest gap over all thresholds, so it
    is above 0 even for a model that leaks nothing.

    References
    ----------
    .. [1] S. Yeom, I. Giacomelli, M. Fredrikson, S. Jha, "Privacy risk in
       machine learning: analyzing the connection to overfitting", CSF 2018.
    .. [2] M. Jagielski, J. Ullman, A. Oprea, "Auditing differentially
       private machine learning: how private is private SGD?", NeurIPS 2020.
    .. [3] P. Kairouz, S. Oh, P. Viswanath, "The composition theorem for
       differential privacy", ICML 2015.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.tree import DecisionTreeClassifier
    >>> from skpriv.audit import membership_inference
    >>> X, y = make_classification(n_samples=400, flip_y=0.2, random_state=0)
    >>> tree = DecisionTreeClassifier(random_state=0).fit(X[:200], y[:200])
    >>> res = membership_inference(
    ...     tree, X[:200], y[:200], X[200:], y[200:], random_state=0
    ... )
    >>> res.auc > 0.6, res.epsilon_lower_bound > 0
    (True, True)
    """
    delta = check_delta(delta)
    confidence = _check_confidence(confidence)
    if (
        isinstance(n_thresholds, (bool, np.bool_))
        or not isinstance(n_thresholds, (int, np.integer))
        or n_thresholds < 1
    ):
        raise ValueError(f"n_thresholds must be an integer >= 1; got {n_thresholds!r}.")
    rng = check_random_state(random_state)
    s_in = example_scores(estimator, X_members, y_members, score)
    s_out = example_scores(estimator, X_nonmembers, y_nonmembers, score)
    if s_in.size < 2 or s_out.size < 2:
        raise ValueError(
            f"membership_inference needs at least 2 members and 2 non-members "
            f"(half of each choose the threshold, the other half bound "
            f"epsilon); got {s_in.size} and {s_out.size}."
        )
    # A NaN score (a model failing on a row) counts as "least member-like".
    s_in = np.nan_to_num(s_in, nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    s_out = np.nan_to_num(s_out, nan=-np.inf, posinf=np.inf, neginf=-np.inf)
    labels = np.r_[np.ones(s_in.size), np.zeros(s_out.size)]
    pooled = np.r_[s_in, s_out]
    finite = pooled[np.isfinite(pooled)]
    if finite.size:
        # roc_auc_score refuses infinities; clipping keeps their order.
        pooled = np.clip(pooled, finite.min() - 1.0, finite.max() + 1.0)
    else:
        pooled = np.sign(pooled)
    auc = float(roc_auc_score(labels, pooled))
    roc_fpr, roc_tpr, _ = roc_curve(labels, pooled)

    alpha = (1.0 - confidence) / 2.0
    perm_in, perm_out = rng.permutation(s_in.size), rng.permutation(s_out.size)
    sel_in, ev_in = np.split(s_in[perm_in], [s_in.size // 2])
    sel_out, ev_out = np.split(s_out[perm_out], [s_out.size // 2])
    threshold = _choose_threshold(
        np.sort(sel_in), np.sort(sel_out), n_thresholds, delta, alpha
    )
    ev_in, ev_out = np.sort(ev_in), np.sort(ev_out)
    eps, tp, fp = _threshold_epsilons(
        ev_in, ev_out, np.array([threshold]), delta, alpha
    )
    return MembershipInferenceResult(
        auc=auc,
        advantage=float(max(np.max(roc_tpr - roc_fpr), 0.0)),
        epsilon_lower_bound=float(eps[0]),
        threshold=float(threshold),
        tpr=float(tp[0] / ev_in.size),
        fpr=float(fp[0] / ev_out.size),
        n_members=int(s_in.size),
        n_nonmembers=int(s_out.size),
    )


def _num_rows(a):
    return a.shape[0] if hasattr(a, "shape") else len(a)


def _stack_rows(a, b, name_a, name_b):
    """Rows of ``a`` then of ``b``, keeping pandas and sparse containers."""
    if hasattr(a, "iloc") and hasattr(b, "iloc"):
        import pandas as pd

        if getattr(a, "ndim", 1) == 2 and list(a.columns) != list(b.columns):
            raise ValueError(
                f"{name_b} must have the columns of {name_a}; got "
                f"{list(b.columns)!r} and {list(a.columns)!r}."
            )
        return pd.concat([a, b], ignore_index=True)
    if sparse.issparse(a) or sparse.issparse(b):
        a, b = sparse.csr_matrix(a), sparse.csr_matrix(b)
    else:
        a, b = np.asarray(a), np.asarray(b)
    if a.shape[1:] != b.shape[1:]:
        raise ValueError(
            f"{name_b} must have as many columns as {name_a}; got "
            f"{b.shape[1:]} and {a.shape[1:]} beyond the rows."
        )
    return sparse.vstack([a, b], format="csr") if sparse.issparse(a) else np.r_[a, b]


@dataclass(frozen=True)
class CanaryAuditResult:
    """What :func:`canary_audit` found.

    A frozen dataclass returned by :func:`canary_audit`; each parameter is
    stored as a read-only attribute of the same name.

    Parameters
    ----------
    epsilon_lower_bound : float
        Epsilon that the training algorithm must at least spend, at the
        stated confidence.
    n_correct : int
        Correct inclusion guesses.
    n_guesses : int
        Guesses made (the auditor abstains on the other canaries).
    n_canaries : int
        Canaries, each included with probability 1/2.
    n_included : int
        Canaries actually included in the training run.
    epsilon_claimed : float or None, default=None
        What the trained model reports through
        :func:`~skpriv.accounting.privacy_spent` (at the audit's ``delta``
        when positive), or None for a model that records no DP event. A
        bound above it means the model is less private than it claims.

    See Also
    --------
    canary_audit : The audit that returns it.
    one_run_epsilon_lower_bound : The bound computed from ``n_correct``.
    MembershipInferenceResult : What :func:`membership_inference` returns.

    Examples
    --------
    >>> from skpriv.audit import CanaryAuditResult, one_run_epsilon_lower_bound
    >>> eps = one_run_epsilon_lower_bound(40, 40, n_canaries=200)
    >>> res = CanaryAuditResult(epsilon_lower_bound=eps, n_correct=40,
    ...                         n_guesses=40, n_canaries=200, n_included=97)
    >>> round(res.epsilon_lower_bound, 2)
    2.55
    """

    epsilon_lower_bound: float
    n_correct: int
    n_guesses: int
    n_canaries: int
    n_included: int
    epsilon_claimed: float | None = None


def canary_audit(
    estimator,
    X,
    y,
    X_canaries,
    y_canaries,
    *,
    score="loss",
    n_guesses=None,
    delta=0.0,
    confidence=0.95,
    random_state=None,
):
    """Empirical epsilon of a training algorithm from one run with canaries.

    Each canary row is included in the training data independently with
    probability 1/2; ``estimator`` is cloned and fitted once on ``X`` plus
    the included canaries. The canaries are scored (higher means "member");
    the auditor guesses "in" for the ``n_guesses // 2`` highest and "out"
    for as many of the lowest, and the count of correct guesses gives a
    lower bound on epsilon valid for any ``(epsilon, delta)``-DP algorithm
    (Steinke, Nasr & Jagielski 2023; see
    :func:`~skpriv.audit.one_run_epsilon_lower_bound`).

    Parameters
    ----------
    estimator : estimator
        Unfitted estimator (it is cloned).
    X, y : array-like
        Non-canary training data (always included); ``y=None`` for an
        unsupervised estimator or transformer (then ``score`` must be a
        callable).
    X_canaries, y_canaries : array-like
        Canary rows and labels (``y_canaries=None`` with ``y=None``); design
        them to be easy to memorise (e.g. a feature of their own at the norm
        bound, or a random label). Any estimator works, DP-SGD nets
        included: the canaries are ordinary training rows.
    score : {"loss", "confidence", "margin"} or callable, default="loss"
        Canary score, as in :func:`membership_inference`; a callable
        ``score(model, X_canaries, y_canaries)`` returns one score per
        canary, higher meaning "included" (for a transformer, e.g. how close
        its fitted state lies to each canary).
    n_guesses : int, default=None
        Number of guesses (half "in", half "out"); default: a fifth of the
        canaries.
    delta : float, default=0.0
        The delta of the guarantee being tested.
    confidence : float, default=0.95
        Confidence of the lower bound.
    random_state : int, numpy.random.Generator or None, default=None
        Draws which canaries are included.

    Returns
    -------
    result : CanaryAuditResult
        The epsilon lower bound, the number of correct guesses and of
        guesses, and how many canaries were included.

    See Also
    --------
    membership_inference : Attack on a model that is already trained.

    References
    ----------
    .. [1] T. Steinke, M. Nasr, M. Jagielski, "Privacy auditing with one (1)
       training run", NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpriv.audit import canary_audit
    >>> rng = np.random.default_rng(0)
    >>> X = np.c_[rng.normal(size=(100, 2)), np.zeros((100, 200))]
    >>> y = (X[:, 0] > 0).astype(int)
    >>> Xc = np.c_[np.zeros((200, 2)), np.eye(200)]  # a feature per canary
    >>> yc = rng.integers(0, 2, 200)
    >>> res = canary_audit(LogisticRegression(C=100.0), X, y, Xc, yc,
    ...                    score="margin", random_state=0)
    >>> res.epsilon_lower_bound > 1
    True
    """
    delta = check_delta(delta)
    confidence = _check_confidence(confidence)
    rng = check_random_state(random_state)
    unsupervised = y is None and y_canaries is None
    if unsupervised and not callable(score):
        raise ValueError(
            "canary_audit without labels (y=None, y_canaries=None) needs a "
            "callable score(model, X_canaries, None) -> one score per canary."
        )
    if (y is None) != (y_canaries is None):
        raise ValueError("give both y and y_canaries, or neither.")
    if not unsupervised:
        check_consistent_length(X, y)
        check_consistent_length(X_canaries, y_canaries)
    m = _num_rows(X_canaries)
    if m < 2:
        raise ValueError(f"canary_audit needs at least 2 canaries; got {m}.")
    if n_guesses is None:
        n_guesses = max(2, m // 5)
    if (
        isinstance(n_guesses, (bool, np.bool_))
        or not isinstance(n_guesses, (int, np.integer))
        or not 2 <= n_guesses <= m
    ):
        raise ValueError(
            f"n_guesses must be an integer in [2, {m}]; got {n_guesses!r}."
        )
    n_guesses = int(n_guesses)
    included = rng.random(m) < 0.5
    chosen = np.flatnonzero(included)
    X_train = _stack_rows(X, _safe_indexing(X_canaries, chosen), "X", "X_canaries")
    perm = rng.permutation(_num_rows(X_train))
    if unsupervised:
        model = clone(estimator).fit(_safe_indexing(X_train, perm))
        scores = np.asarray(score(model, X_canaries, None), dtype=np.float64)
        if scores.shape != (m,):
            raise ValueError(
                f"score returned shape {scores.shape}; it must return one "
                f"score per canary, shape ({m},)."
            )
    else:
        y_train = _stack_rows(y, _safe_indexing(y_canaries, chosen), "y", "y_canaries")
        model = clone(estimator).fit(
            _safe_indexing(X_train, perm), _safe_indexing(y_train, perm)
        )
        scores = example_scores(model, X_canaries, y_canaries, score)
    # Ties broken at random so that the guesses depend only on the scores.
    order = np.lexsort((rng.random(m), scores))
    k = n_guesses // 2
    guess_out, guess_in = order[:k], order[m - (n_guesses - k) :]
    correct = int(included[guess_in].sum() + (~included[guess_out]).sum())
    eps = one_run_epsilon_lower_bound(
        correct, n_guesses, n_canaries=m, delta=delta, confidence=confidence
    )
    claimed = None
    if hasattr(model, "dp_event_"):
        from ..accounting import privacy_spent

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # uncovered parts: not this audit's
            claimed = float(privacy_spent(model, delta=delta or None).epsilon)
    return CanaryAuditResult(
        epsilon_lower_bound=float(eps),
        n_correct=correct,
        n_guesses=n_guesses,
        n_canaries=int(m),
        n_included=int(included.sum()),
        epsilon_claimed=claimed,
    )
