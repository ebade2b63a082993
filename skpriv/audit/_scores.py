"""Per-example membership scores and the binomial bounds the audits share."""

import math

import numpy as np
from scipy.stats import beta, binom
from sklearn.base import is_regressor
from sklearn.utils.validation import check_consistent_length, check_is_fitted

__all__ = ["clopper_pearson", "example_scores", "one_run_epsilon_lower_bound"]

_SCORES = ("loss", "confidence", "margin")


def example_scores(estimator, X, y, score="loss"):
    """Membership scores of a fitted estimator: higher means "more member".

    A model tends to fit its training rows better than unseen ones, so a
    row's loss (or the confidence in its true label) hints at whether it was
    trained on. These per-example scores are what :func:`membership_inference`
    thresholds and what :func:`canary_audit` ranks.

    Parameters
    ----------
    estimator : fitted estimator
        Classifier with ``predict_proba`` (or ``decision_function`` for
        ``"margin"``), or a regressor.
    X : array-like of shape (n_samples, n_features)
        Examples to score.
    y : array-like of shape (n_samples,)
        Their true labels (classifiers: labels seen in fit) or targets.
    score : {"loss", "confidence", "margin"} or callable, default="loss"
        ``"loss"``: minus the cross-entropy (classifiers) or squared error
        (regressors) of each example; ``"confidence"``: the predicted
        probability of the true label; ``"margin"``: the signed decision
        value of the true label (binary classifiers). A callable
        ``score(estimator, X, y) -> ndarray`` is used as is.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        One score per example, as float64; higher means more likely a
        training member.

    See Also
    --------
    membership_inference : Threshold attack built on these scores.
    canary_audit : One-run audit that ranks canaries by these scores.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skpriv.audit import example_scores
    >>> X, y = make_classification(n_samples=20, n_features=4, random_state=0)
    >>> clf = LogisticRegression().fit(X, y)
    >>> scores = example_scores(clf, X, y)
    >>> scores.shape, bool((scores <= 0).all())
    ((20,), True)
    >>> proba = example_scores(clf, X, y, score="confidence")
    >>> bool(((proba >= 0) & (proba <= 1)).all())
    True
    """
    check_consistent_length(X, y)
    if callable(score):
        scores = np.asarray(score(estimator, X, y), dtype=np.float64)
        if scores.shape != (len(y),):
            raise ValueError(
                f"score={score!r} returned an array of shape {scores.shape}; "
                f"it must return one score per example, shape ({len(y)},)."
            )
        return scores
    if score not in _SCORES:
        raise ValueError(
            f"score must be one of {_SCORES} or a callable; got {score!r}."
        )
    check_is_fitted(estimator)
    y = np.asarray(y)
    if is_regressor(estimator):
        if score != "loss":
            raise ValueError(f"score={score!r} needs a classifier; use score='loss'.")
        return -((np.asarray(estimator.predict(X), dtype=np.float64) - y) ** 2)
    classes = np.asarray(estimator.classes_)
    idx = np.searchsorted(classes, y)
    if np.any(idx >= classes.size) or np.any(
        classes[np.minimum(idx, classes.size - 1)] != y
    ):
        raise ValueError("y contains labels the estimator was not fitted on.")
    needed = "decision_function" if score == "margin" else "predict_proba"
    if not hasattr(estimator, needed):
        other = "'loss' or 'confidence'" if score == "margin" else "'margin'"
        raise ValueError(
            f"score={score!r} needs {needed}, which {type(estimator).__name__} "
            f"does not provide; use score={other} or a callable."
        )
    if score == "margin":
        dec = np.asarray(estimator.decision_function(X), dtype=np.float64)
        if dec.ndim == 1:
            return np.where(idx == 1, dec, -dec)
        true = dec[np.arange(len(idx)), idx]
        dec = dec.copy()
        dec[np.arange(len(idx)), idx] = -np.inf
        return true - dec.max(axis=1)
    proba = np.asarray(estimator.predict_proba(X), dtype=np.float64)
    p_true = proba[np.arange(len(idx)), idx]
    if score == "confidence":
        return p_true
    return np.log(np.clip(p_true, 1e-300, 1.0))


def clopper_pearson(k, n, alpha):
    """One-sided Clopper-Pearson bounds of a binomial proportion.

    Returns ``(lower, upper)``, each holding with probability ``>= 1 - alpha``.
    """
    k = np.asarray(k, dtype=np.float64)
    lower = np.where(k > 0, beta.ppf(alpha, k, n - k + 1), 0.0)
    upper = np.where(k < n, beta.ppf(1 - alpha, k + 1, n - k), 1.0)
    return lower, upper


def one_run_epsilon_lower_bound(
    n_correct, n_guesses, *, n_canaries, delta=0.0, confidence=0.95
):
    """Epsilon lower bound from a one-run canary audit (Steinke et al. 2023).

    ``m = n_canaries`` canaries are each included independently with
    probability 1/2; after one training run the auditor guesses the inclusion
    of ``r = n_guesses`` of them and gets ``v = n_correct`` right. For an
    ``epsilon``-DP algorithm ``P[v' >= v] <= P[Binomial(r, e^eps / (1 +
    e^eps)) >= v]``. For ``(epsilon, delta)``-DP the tail grows by
    ``2 m delta * max_{1 <= i <= v} P[v - i <= Binomial(r, q) < v] / i``
    (their Theorem 3 as computed by their Algorithm 2), at most ``2 m
    delta``: the audit sees nothing once ``m delta`` approaches ``1 -
    confidence``. The bound is the largest epsilon that this test rejects at
    level ``1 - confidence``.

    Parameters
    ----------
    n_correct : int
        Number of correct inclusion guesses, ``v``.
    n_guesses : int
        Number of guesses made, ``r`` (at least 1 and at least
        ``n_correct``).
    n_canaries : int
        Number of canaries, ``m``; it only enters through the ``2 m delta``
        allowance.
    delta : float, default=0.0
        The delta of the ``(epsilon, delta)`` guarantee being tested.
    confidence : float, default=0.95
        Confidence of the bound, in (0, 1).

    Returns
    -------
    epsilon_lower_bound : float
        ``0.0`` when nothing can be rejected.

    See Also
    --------
    canary_audit : Runs the audit and calls this function.
    membership_inference : Heuristic bound from a model already trained.

    References
    ----------
    .. [1] T. Steinke, M. Nasr, M. Jagielski, "Privacy auditing with one (1)
       training run", NeurIPS 2023.

    Examples
    --------
    >>> from skpriv.audit import one_run_epsilon_lower_bound
    >>> round(one_run_epsilon_lower_bound(18, 20, n_canaries=100), 2)
    0.93
    >>> one_run_epsilon_lower_bound(10, 20, n_canaries=100)
    0.0
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1); got {confidence!r}.")
    n_correct, n_guesses = int(n_correct), int(n_guesses)
    if n_guesses < 1 or not 0 <= n_correct <= n_guesses:
        raise ValueError(
            f"need 0 <= n_correct <= n_guesses and n_guesses >= 1; got "
            f"n_correct={n_correct}, n_guesses={n_guesses}."
        )
    level = 1.0 - confidence
    shifts = np.arange(1, n_correct + 1)

    def tail(eps):
        p = 1.0 / (1.0 + math.exp(-eps))
        tail = binom.sf(n_correct - 1, n_guesses, p)
        if delta > 0 and n_correct > 0:
            # P[v - i <= Binomial(r, p) < v] for i = 1..v, averaged over i.
            window = np.cumsum(binom.pmf(n_correct - shifts, n_guesses, p))
            tail += 2.0 * n_canaries * delta * float(np.max(window / shifts))
        return tail

    if tail(0.0) >= level:
        return 0.0
    lo, hi = 0.0, 1.0
    while tail(hi) < level:
        lo, hi = hi, 2.0 * hi
        if hi > 1e3:
            return lo
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if tail(mid) < level:
            lo = mid
        else:
            hi = mid
    return lo
