"""DPLogisticRegression: differentially private logistic regression."""

import math
from numbers import Integral, Real

import dp_accounting as dpa
import numpy as np
from scipy.special import expit, log_softmax, softmax
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import accuracy_score
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..accounting import gaussian_sigma
from ..base import PrivacyMixin, privacy_constraints, reject_fit_params
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, StrOptions, validate_data
from ..utils._validation import check_data_norm, clip_rows_l2, resolve_data_norm
from . import _mechanisms as mech

__all__ = ["DPLogisticRegression"]

#: Value of the constant feature that carries the intercept, relative to a row
#: scaled to norm <= 1: rows become ``[x / data_norm, 0.3]`` (norm <= 1.044).
#: A small constant spends little of the sensitivity on the intercept.
INTERCEPT_FEATURE = 0.3
#: Share of the budget (of mu^2 in Gaussian-DP terms, of epsilon for pure DP)
#: spent on ``data_norm="private"``.
NORM_SHARE = 0.1
#: Shares of the solver's budget (of mu^2): the Gram matrix Z^T Z, then the
#: statistic Z^T t of the starting point; the noisy steps get the rest.
GRAM_SHARE = 0.2
TARGET_SHARE_GD = 0.2
#: ``solver="auto"`` takes noisy Newton steps ("gd") when the noise of the
#: rest of the budget spent on one gradient, relative to the noisy trace of
#: Z^T Z (about the number of rows), is below this level; else "ssp".
AUTO_GD_NOISE_LEVEL = 0.15
#: Quantile of the row norms that ``data_norm="private"`` estimates.
NORM_QUANTILE = 0.95


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"],
    data_norm=PARAM_DOCS["data_norm"],
    random_state=PARAM_DOCS["random_state"],
)
class DPLogisticRegression(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """Differentially private logistic regression (binary and multinomial).

    A drop-in for :class:`sklearn.linear_model.LogisticRegression` whose
    coefficients *and intercept* are ``(epsilon, delta)``-differentially
    private with respect to the training rows. Multiclass problems use one
    multinomial (softmax) model, so the budget is spent once for all classes.

    Parameters
    ----------
    {epsilon}

    delta : float, default=1e-5
        Probability with which the epsilon guarantee may fail
        (0 <= delta < 1); choose it well below ``1 / n_samples``.
        ``delta=0`` selects a pure-DP (Laplace) solver.

    {data_norm}
        ``"private"`` spends 10% of the budget (see Notes) on the 95th
        percentile of the row norms, rounded up to a power of two.

    C : float, default=1.0
        Inverse of the regularisation strength, as in scikit-learn: the
        objective is ``C * sum_i loss_i + ||W||^2 / 2`` on the scaled rows.
        With ``delta=0`` the noise grows with ``C`` (see Notes).

    fit_intercept : bool, default=True
        Learn an intercept. It is covered by the guarantee: each row gets a
        constant feature inside the clipped norm budget.

    solver : {"auto", "gd", "ssp", "output"}, default="auto"
        Private algorithm. ``"gd"``: noisy full-batch (preconditioned)
        gradient descent (needs ``delta > 0``); ``"ssp"``: noisy sufficient
        statistics of a second-order expansion (Gaussian noise, or Laplace
        noise and pure DP when ``delta=0``); ``"output"``: output
        perturbation (pure DP whatever ``delta``). ``"auto"`` uses ``"ssp"``
        when ``delta=0``, else ``"gd"`` when the data set is large enough for
        the budget (judged from a noisy release, at no extra cost) and
        ``"ssp"`` otherwise.

    max_iter : int, default=20
        Number of noisy gradient steps (``"gd"``): the budget is split over
        them. For ``"output"``, the L-BFGS iterations are not limited by it.

    tol : float, default=1e-4
        ``"gd"`` stops early when the noisy step is smaller (post-processing,
        it spends less, never more). ``"output"`` solves the non-private
        problem to a gradient norm ``tol * C * G`` and adds the resulting
        error to the sensitivity.

    {random_state}

    n_jobs : int, default=None
        Maximum number of BLAS threads used by ``fit`` (``None``: the
        library's default, ``-1``: all cores).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, on the scale of the input features.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : ndarray of shape (1,)
        Noisy gradient steps taken (``"gd"``), L-BFGS iterations
        (``"output"``) or 1 (``"ssp"``).
    data_norm_ : float
        The row-norm bound actually used (equal to ``data_norm`` when it is
        a number).
    solver_ : str
        The solver used (``"auto"`` resolved).
    dp_event_ : dp_accounting.DpEvent
        What the fit spent, read by :func:`skpriv.accounting.privacy_spent`.
    dp_n_samples_ : int
        Number of training rows.

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The non-private estimator.
    skpriv.accounting.privacy_spent : Composes the cost of fits and searches.
    skpriv.audit.membership_inference : Empirical check of the leakage.

    Notes
    -----
    **Neighbouring relation.** Data sets differ by adding or removing one row
    (with its label); the number of rows is private too. Each row is clipped
    to L2 norm ``data_norm_``, divided by it and, with ``fit_intercept``,
    extended by the constant ``0.3``, so rows have norm at most
    ``R = sqrt(1 + 0.3**2)``. One example's loss gradient then has L2 norm at
    most ``G = R`` (binary: ``|sigmoid(w.x) - y| <= 1``) or ``sqrt(2) R``
    (multinomial: ``||softmax - e_y||_2 <= sqrt(2)``). Without an intercept
    ``R = 1``.

    **Guarantee.** ``coef_``, ``intercept_`` and everything computed from
    them are ``(epsilon, delta)``-DP (``epsilon``-DP when ``delta=0`` or
    ``solver="output"``) with respect to adding or removing one training
    row, provided ``data_norm`` is public or ``"private"``; with
    ``data_norm=None`` the bound is read from the data and the guarantee does
    not hold (hence the :class:`~skpriv.exceptions.PrivacyLeakWarning`).

    **Approximate DP (delta > 0).** Everything released is Gaussian, so the
    total is exactly ``mu``-Gaussian DP [5]_ (``1/mu^2`` is the sum of the
    ``1/m^2`` of the releases with noise multipliers ``m``), with ``mu`` set
    by the analytic Gaussian curve (Balle & Wang 2018) so that it is
    ``(epsilon, delta)``-DP. ``mu^2`` is split: 10% for
    ``data_norm="private"``; of the rest, 20% for ``Z^T Z`` (upper triangle,
    L2 sensitivity ``R^2``), released first. Its noisy trace (about the
    number of rows, post-processing) tells ``solver="auto"`` how noisy the
    problem is. ``"ssp"`` then spends the remaining 80% on ``Z^T t`` with
    centred labels ``t`` (sensitivity ``R ||t||``) and minimises the
    second-order expansion of the penalised loss at zero (functional
    mechanism [3]_, statistics perturbed as in [4]_); it wins when
    ``epsilon * n`` is small. ``"gd"`` spends 20% on that same starting
    point and 60% on ``max_iter`` full-batch steps, each releasing the sum of
    per-example gradients whose residual (``sigmoid(w.x) - y``, or
    ``softmax - e_y``) is clipped to norm 0.5 (binary) or 0.6 (multinomial),
    so the L2 sensitivity is ``0.5 R`` or ``0.6 R``; the steps are
    preconditioned by ``C c Z^T Z + I`` from the noisy Gram matrix (``c``
    bounds the loss curvature), a noisy Newton method [2]_, and the last half
    of the iterates is averaged. The recorded ``dp_event_`` composes these
    Gaussian events, so :func:`~skpriv.accounting.privacy_spent` reports
    ``epsilon`` at ``delta`` (PLD accountant; noise multipliers carry a
    1e-4 margin for its discretisation). Noise is drawn on a power-of-two
    grid (:class:`skpriv.mechanisms.Gaussian`) and the rounding term is added
    to the sensitivity. The dataset size is never used except through
    these noisy releases. Above 1000 columns only the diagonal of ``Z^T Z``
    is released (L2 sensitivity ``||z||_4^2 <= R^2``) and preconditions.

    **Pure DP (delta = 0).** ``"ssp"`` (the default) releases the diagonal
    of ``Z^T Z`` (L1 sensitivity ``R^2``, 20% of epsilon) and ``Z^T t`` (L1
    sensitivity ``||z||_1 ||t||_1 <= sqrt(D) R ||t||_1``, 80%) with Laplace
    noise and solves the diagonal second-order expansion; it is accurate at
    small ``epsilon * n`` but, ignoring feature correlations, saturates
    below the non-private accuracy. ``"output"`` (better for large
    ``epsilon * n`` with a small ``C`` such as ``1 / sqrt(n)``, see
    ``benchmarks/RESULTS.md``) is output perturbation [1]_: the objective
    ``C sum loss + ||W||^2 / 2`` is 1-strongly convex, so adding or removing
    a row moves its minimiser by at most ``C G`` in L2; the minimiser is
    computed to a gradient norm ``tol C G`` (which adds ``2 tol C G``) and
    each of the ``p`` coefficients gets Laplace noise of scale
    ``sqrt(p) (1 + 2 tol) C G / epsilon`` (L1 sensitivity over L2 times
    ``sqrt(p)``), which is ``epsilon``-DP (90% of it with
    ``data_norm="private"``, whose histogram then uses Laplace noise). The
    noise does not shrink with ``n``; pick ``C`` small (e.g. with a search,
    whose cost :func:`~skpriv.accounting.privacy_spent` counts).

    ``data_norm="private"`` releases a noisy histogram of
    ``ceil(log2(||x||))`` (sensitivity 1) and takes its 95% quantile.
    Prediction is post-processing and free. A fixed ``random_state`` is for
    tests only.

    References
    ----------
    .. [1] K. Chaudhuri, C. Monteleoni, A. Sarwate, "Differentially private
       empirical risk minimization", JMLR 12, 2011.
    .. [2] M. Avella-Medina, C. Bradshaw, P.-L. Loh, "Differentially private
       inference via noisy optimization", Annals of Statistics 51(5), 2023.
    .. [3] J. Zhang, Z. Zhang, X. Xiao, Y. Yang, M. Winslett, "Functional
       mechanism: regression analysis under differential privacy", VLDB 2012.
    .. [4] Y.-X. Wang, "Revisiting differentially private linear regression:
       optimal and adaptive prediction & estimation in unbounded domain",
       UAI 2018.
    .. [5] J. Dong, A. Roth, W. Su, "Gaussian differential privacy", JRSS B
       2022.

    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer, StandardScaler
    >>> from skpriv.accounting import privacy_spent
    >>> from skpriv.linear_model import DPLogisticRegression
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> clf = make_pipeline(
    ...     StandardScaler(), Normalizer(),
    ...     DPLogisticRegression(epsilon=1.0, data_norm=1.0, random_state=0),
    ... ).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> round(privacy_spent(clf, delta=1e-5).epsilon, 3)
    1.0
    """

    _parameter_constraints = {
        **privacy_constraints("epsilon", "delta", "data_norm", "random_state"),
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "solver": [StrOptions({"auto", "gd", "ssp", "output"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="neither")],
        "n_jobs": [Integral, None],
    }

    def __init__(
        self,
        *,
        epsilon=1.0,
        delta=1e-5,
        data_norm=None,
        C=1.0,
        fit_intercept=True,
        solver="auto",
        max_iter=20,
        tol=1e-4,
        random_state=None,
        n_jobs=None,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.data_norm = data_norm
        self.C = C
        self.fit_intercept = fit_intercept
        self.solver = solver
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------
    # Budget
    # ------------------------------------------------------------------

    def _pure(self):
        """Whether the fit uses the pure-DP (Laplace) algorithms."""
        return self.delta == 0 or self.solver == "output"

    def _pure_solver(self):
        return "output" if self.solver == "output" else "ssp"

    def _budget(self):
        """How the budget is split: Gaussian noise multipliers or epsilons."""
        private_norm = isinstance(self.data_norm, str)
        if self._pure():
            norm_eps = NORM_SHARE * self.epsilon if private_norm else 0.0
            return {"norm_eps": norm_eps, "main_eps": self.epsilon - norm_eps}
        mu = 1.0 / gaussian_sigma(self.epsilon, self.delta)
        norm_share = NORM_SHARE if private_norm else 0.0
        mu_rest = mu * math.sqrt(1.0 - norm_share)
        return {
            "norm_mult": 1.0 / (mu * math.sqrt(norm_share)) if private_norm else None,
            "gram_mult": 1.0 / (mu_rest * math.sqrt(GRAM_SHARE)),
            # Multiplier of everything after the Gram matrix as one release.
            "main_mult": 1.0 / (mu_rest * math.sqrt(1.0 - GRAM_SHARE)),
        }

    def _planned_dp_event(self, n_samples):
        budget = self._budget()
        events = []
        if self._pure():
            if budget["norm_eps"] > 0:
                events.append(dpa.LaplaceDpEvent(1.0 / budget["norm_eps"]))
            main = budget["main_eps"]
            if self._pure_solver() == "output":
                events.append(dpa.LaplaceDpEvent(1.0 / main))
            else:
                diag = mech.GRAM_SHARE_PURE * main
                events.append(
                    dpa.ComposedDpEvent(
                        [
                            dpa.LaplaceDpEvent(1.0 / diag),
                            dpa.LaplaceDpEvent(1.0 / (main - diag)),
                        ]
                    )
                )
            return dpa.ComposedDpEvent(events)
        slack = 1.0 + mech._PLD_SLACK
        if budget["norm_mult"] is not None:
            events.append(dpa.GaussianDpEvent(budget["norm_mult"] * slack))
        events.append(dpa.GaussianDpEvent(budget["gram_mult"] * slack))
        # Both solvers spend exactly the Gaussian-DP of one release at the
        # main multiplier after the Gram matrix (Gaussian compositions are
        # Gaussian: 1/m^2 adds up), so this single event is equivalent.
        events.append(dpa.GaussianDpEvent(budget["main_mult"] * slack))
        return dpa.ComposedDpEvent(events)

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _check_params(self):
        if isinstance(self.data_norm, (Real, np.number)):
            check_data_norm(self.data_norm)
        if self.solver == "output" and self.delta > 0:
            return  # pure DP is also (epsilon, delta)-DP: allowed.
        if self.delta == 0 and self.solver == "gd":
            raise ValueError(
                "solver='gd' uses Gaussian noise and needs delta > 0; with "
                "delta=0 use solver='auto', 'ssp' or 'output' (pure DP)."
            )

    def _fit(self, X, y, rng, **fit_params):
        reject_fit_params(self, fit_params)
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64, y_numeric=False)
        check_classification_targets(y)
        classes, y_idx = np.unique(y, return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"DPLogisticRegression needs samples of at least 2 classes in the "
                f"data; got 1 class: {classes[0]!r}."
            )
        self.classes_ = classes
        binary = classes.size == 2
        budget = self._budget()
        events = []
        n_samples, n_features = X.shape

        norms = np.linalg.norm(X, axis=1)
        if self.data_norm == "private":
            bound, event = mech.private_norm_bound(
                norms,
                rng,
                noise_multiplier=budget.get("norm_mult"),
                epsilon=budget.get("norm_eps") if self._pure() else None,
                q=NORM_QUANTILE,
            )
            events.append(event)
            self.data_norm_ = bound
        else:
            self.data_norm_ = resolve_data_norm(self.data_norm, X)

        # All-zero rows make clip_rows_l2 divide by a tiny norm: the overflow
        # to inf is harmless (the scale is capped at 1) but would warn.
        with np.errstate(over="ignore"):
            Z = clip_rows_l2(X, self.data_norm_) / self.data_norm_
        if self.fit_intercept:
            Z = np.hstack([Z, np.full((n_samples, 1), INTERCEPT_FEATURE)])
            row_bound = math.sqrt(1.0 + INTERCEPT_FEATURE**2)
        else:
            row_bound = 1.0
        Y = (y_idx == 1).astype(np.float64) if binary else np.eye(classes.size)[y_idx]

        limits = (
            None if self.n_jobs is None else (self.n_jobs if self.n_jobs > 0 else None)
        )
        with threadpool_limits(limits=limits):
            W, n_iter, main_events = self._solve(
                Z, Y, rng, binary, row_bound, budget, n_samples
            )
        events.extend(main_events)

        coef = W[:n_features] / self.data_norm_
        intercept = W[n_features] * INTERCEPT_FEATURE if self.fit_intercept else None
        if binary:
            self.coef_ = coef[None, :]
            self.intercept_ = np.array([intercept if intercept is not None else 0.0])
        else:
            self.coef_ = np.ascontiguousarray(coef.T)
            self.intercept_ = (
                intercept if intercept is not None else np.zeros(classes.size)
            )
        self.n_iter_ = np.array([n_iter], dtype=np.int32)
        self.dp_event_ = dpa.ComposedDpEvent(events)
        return self

    def _solve(self, Z, Y, rng, binary, row_bound, budget, n_samples):
        if self._pure() and self._pure_solver() == "ssp":
            self.solver_ = "ssp"
            W, event = mech.pure_sufficient_statistics(
                Z,
                Y,
                rng,
                binary=binary,
                row_bound=row_bound,
                C=self.C,
                epsilon=budget["main_eps"],
            )
            return W, 1, [event]
        if self._pure():
            eps = budget["main_eps"]
            self.solver_ = "output"
            W, n_iter, event = mech.output_perturbation(
                Z,
                Y,
                rng,
                binary=binary,
                row_bound=row_bound,
                C=self.C,
                epsilon=eps,
                tol=self.tol,
            )
            return W, n_iter, [event]
        evals, evecs, trace, gram_event = mech.noisy_gram(
            Z, rng, row_bound=row_bound, noise_multiplier=budget["gram_mult"]
        )
        events = [gram_event]
        solver = self.solver
        if solver == "auto":
            # Post-processing of the noisy trace: no extra cost.
            n_coef = Z.shape[1] * (1 if binary else Y.shape[1])
            noise_level = (
                budget["main_mult"]
                * mech.gradient_bound(row_bound, binary, clipped=True)
                * math.sqrt(n_coef)
                / max(trace, 1.0)
            )
            solver = "gd" if noise_level < AUTO_GD_NOISE_LEVEL else "ssp"
        self.solver_ = solver
        main = budget["main_mult"] * math.sqrt(1.0 - GRAM_SHARE)  # = 1 / mu_rest
        common = dict(binary=binary, row_bound=row_bound, C=self.C, gram=(evals, evecs))
        if solver == "ssp":
            W, event = mech.sufficient_statistics(
                Z, Y, rng, noise_multiplier=budget["main_mult"], **common
            )
            return W, 1, events + [event]
        W, event = mech.sufficient_statistics(
            Z, Y, rng, noise_multiplier=main / math.sqrt(TARGET_SHARE_GD), **common
        )
        events.append(event)
        step_share = 1.0 - GRAM_SHARE - TARGET_SHARE_GD
        W, n_iter, event = mech.noisy_newton(
            Z,
            Y,
            W,
            rng,
            # T steps of multiplier m sqrt(T) compose to multiplier m.
            noise_multiplier=main * math.sqrt(self.max_iter / step_share),
            max_iter=self.max_iter,
            tol=self.tol,
            **common,
        )
        return W, n_iter, events + [event]

    # ------------------------------------------------------------------
    # Prediction (post-processing)
    # ------------------------------------------------------------------

    def decision_function(self, X):
        """Confidence scores: ``X @ coef_.T + intercept_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            For binary problems, the score of ``classes_[1]``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        scores = X @ self.coef_.T + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            The class of ``classes_`` with the highest score for each sample.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            return self.classes_[(scores > 0).astype(int)]
        return self.classes_[np.argmax(scores, axis=1)]

    def predict_proba(self, X):
        """Class probabilities (sigmoid or softmax of the scores).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            p = expit(scores)
            return np.column_stack([1.0 - p, p])
        return softmax(scores, axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, computed stably.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Samples.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Log-probabilities; columns follow ``classes_``.
        """
        scores = self.decision_function(X)
        if scores.ndim == 1:
            scores = np.column_stack([np.zeros_like(scores), scores])
        return log_softmax(scores, axis=1)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy on ``X`` and ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Test samples.
        y : array-like of shape (n_samples,)
            True labels; every label must be one of ``classes_``.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        score : float
            Fraction of correctly classified samples (weighted by
            ``sample_weight`` when given).
        """
        check_is_fitted(self)
        y = np.asarray(y)
        unseen = np.setdiff1d(np.unique(y), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y contains labels not seen during fit: {unseen.tolist()!r}; "
                f"known classes_ are {self.classes_.tolist()!r}."
            )
        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)
