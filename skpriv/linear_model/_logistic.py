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
from ..base import (
    DP,
    PUBLIC,
    PrivacyMixin,
    declared_releases,
    privacy_constraints,
    reject_fit_params,
)
from ..utils._classes import encode_classes
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import Interval, StrOptions, validate_data
from ..utils._validation import check_data_norm, clip_rows_l2, resolve_data_norm
from . import _mechanisms as mech
from ._budget import calibration_epsilon

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

    classes : array-like of shape (n_classes,), default=None
        The public list of labels (at least 2). The model has one output per
        label, whether or not the training data holds it, so ``classes_``
        and the shape of ``coef_`` reveal nothing about the rows; a training
        label outside the list raises a ``ValueError``. ``None`` reads the
        labels from ``y`` and raises a
        :class:`~skpriv.exceptions.PrivacyLeakWarning`: one row carrying a
        rare label then shows in ``classes_``, which ``privacy_spent`` names
        as not covered.

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
        Class labels: ``classes`` sorted (public), or the labels of ``y``
        when ``classes=None`` (not covered by the guarantee).
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
        Coefficients, on the scale of the input features.
    intercept_ : ndarray of shape (1,) or (n_classes,)
        Intercepts.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.
    n_iter_ : ndarray of shape (1,)
        Noisy gradient steps taken (``"gd"``, a DP output: the stopping rule
        reads only noisy values), else 1 (one noisy release; the iterations
        of the exact solver behind ``"output"`` depend on the data and are
        not released).
    data_norm_ : float
        The row-norm bound actually used: ``data_norm`` when it is a number
        (public), a DP estimate for ``"private"``, the largest row norm for
        ``None`` (not covered).
    solver_ : str
        The solver used (``"auto"`` resolved from a noisy release).
    dp_event_ : dp_accounting.DpEvent
        What the fit spent, read by :func:`skpriv.accounting.privacy_spent`.
    dp_n_samples_ : int
        Number of training rows (treated as public).

    See Also
    --------
    sklearn.linear_model.LogisticRegression : The non-private estimator.
    skpriv.accounting.privacy_spent : Composes the cost of fits and searches.
    skpriv.audit.membership_inference : Empirical check of the leakage.

    Notes
    -----
    **Neighbouring relation.** Data sets differ by adding or removing one row
    (with its label). The number of rows is treated as public (as in Opacus
    and TensorFlow Privacy; it is released in ``dp_n_samples_``), although no
    solver uses it. Each row is clipped
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
    ``classes_`` is public when ``classes`` is given; with ``classes=None`` it
    is read from the labels and not covered. Each fitted attribute's kind
    (DP output, public, or not covered) is declared in
    ``_privacy_releases``; :func:`~skpriv.accounting.privacy_spent` names
    every release it does not cover. One plan (``_plan``) gives the noise of
    every release, the DP event a fit records and the event a search plans.

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
    ...     DPLogisticRegression(
    ...         epsilon=1.0, data_norm=1.0, classes=[0, 1], random_state=0
    ...     ),
    ... ).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    >>> round(privacy_spent(clf, delta=1e-5).epsilon, 3)
    1.0
    """

    _privacy_releases = {
        "coef_": DP,
        "intercept_": DP,
        "classes_": PUBLIC,
        "n_iter_": DP,
        "solver_": DP,
        "data_norm_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "delta", "data_norm", "random_state"),
        "classes": ["array-like", None],
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
        classes=None,
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
        self.classes = classes
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

    def _plan(self, n_samples=None):
        """The noise of every release, from the parameters alone.

        The one source of the noise ``fit`` adds and of the DP event it
        records (:meth:`_plan_event`) and a search plans
        (:meth:`_planned_dp_event`). Nothing here depends on the data;
        ``n_samples`` is not used (no solver uses the number of rows).

        Returns
        -------
        plan : dict
            ``pure`` (bool) and ``solver`` (``"output"``, ``"ssp"``, ``"gd"``
            or ``"auto"``); for pure DP the epsilons ``norm_eps`` (0 without
            ``data_norm="private"``), ``diag_eps`` and ``b_eps`` (``"ssp"``)
            or ``output_eps``; else the Gaussian noise multipliers (with the
            PLD margin) ``norm_mult`` (or None), ``gram_mult``, ``ssp_mult``
            (the statistic of ``"ssp"``), ``target_mult`` and ``step_mult``
            (the start and each of the ``max_iter`` steps of ``"gd"``), and
            ``main_mult`` (without margin, for ``solver="auto"``).
        """
        private_norm = isinstance(self.data_norm, str)
        # A huge epsilon (1e300) is calibrated as 1e6: negligible noise, and
        # no overflow in 1 / sigma**2 (the event records what was added).
        epsilon = calibration_epsilon(self.epsilon)
        if self._pure():
            norm_eps = NORM_SHARE * epsilon if private_norm else 0.0
            main = epsilon - norm_eps
            solver = "output" if self.solver == "output" else "ssp"
            plan = {"pure": True, "solver": solver, "norm_eps": norm_eps}
            if solver == "output":
                plan["output_eps"] = main
            else:
                plan["diag_eps"] = mech.GRAM_SHARE_PURE * main
                plan["b_eps"] = main - plan["diag_eps"]
            return plan
        mu = 1.0 / gaussian_sigma(epsilon, self.delta)
        norm_share = NORM_SHARE if private_norm else 0.0
        mu_rest = mu * math.sqrt(1.0 - norm_share)
        # Multiplier of everything after the Gram matrix as one release.
        main_mult = 1.0 / (mu_rest * math.sqrt(1.0 - GRAM_SHARE))
        main = 1.0 / mu_rest
        step_share = 1.0 - GRAM_SHARE - TARGET_SHARE_GD
        slack = 1.0 + mech.PLD_SLACK
        return {
            "pure": False,
            "solver": self.solver,
            "norm_mult": (
                slack / (mu * math.sqrt(norm_share)) if private_norm else None
            ),
            "gram_mult": slack / (mu_rest * math.sqrt(GRAM_SHARE)),
            "main_mult": main_mult,
            "ssp_mult": slack * main_mult,
            "target_mult": slack * main / math.sqrt(TARGET_SHARE_GD),
            # T steps of multiplier m sqrt(T) compose to multiplier m.
            "step_mult": slack * main * math.sqrt(self.max_iter / step_share),
        }

    @staticmethod
    def _plan_event(plan, solver, n_steps=0):
        """The DP event of a fit that ran ``solver`` (``n_steps`` for "gd").

        ``"gd"`` spends ``target_mult`` and ``n_steps`` steps; with all
        ``max_iter`` steps it spends exactly what ``"ssp"`` does (Gaussian
        compositions add up in ``1 / m**2``), and an early stop spends less.
        """
        events = []
        if plan["pure"]:
            if plan["norm_eps"] > 0:
                events.append(dpa.LaplaceDpEvent(1.0 / plan["norm_eps"]))
            if solver == "output":
                events.append(dpa.LaplaceDpEvent(1.0 / plan["output_eps"]))
            else:
                events.append(dpa.LaplaceDpEvent(1.0 / plan["diag_eps"]))
                events.append(dpa.LaplaceDpEvent(1.0 / plan["b_eps"]))
            return dpa.ComposedDpEvent(events)
        if plan["norm_mult"] is not None:
            events.append(dpa.GaussianDpEvent(plan["norm_mult"]))
        events.append(dpa.GaussianDpEvent(plan["gram_mult"]))
        if solver == "ssp":
            events.append(dpa.GaussianDpEvent(plan["ssp_mult"]))
        else:
            events.append(dpa.GaussianDpEvent(plan["target_mult"]))
            if n_steps:
                events.append(
                    dpa.SelfComposedDpEvent(
                        dpa.GaussianDpEvent(plan["step_mult"]), n_steps
                    )
                )
        return dpa.ComposedDpEvent(events)

    def _planned_dp_event(self, n_samples):
        plan = self._plan(n_samples)
        # "auto" picks "ssp" or "gd" by a noisy release; both spend at most
        # the event of "gd" with every step (equal to "ssp"'s).
        solver = "gd" if plan["solver"] == "auto" else plan["solver"]
        return self._plan_event(plan, solver, self.max_iter)

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        # Decided at fit time, so that set_params after fit cannot relabel.
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

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
        classes, y_idx, inferred = encode_classes(
            y, self.classes, owner="DPLogisticRegression", stacklevel=6
        )
        self.classes_ = classes
        binary = classes.size == 2
        plan = self._plan(X.shape[0])
        n_samples, n_features = X.shape

        if self.data_norm == "private":
            self.data_norm_ = mech.private_norm_bound(
                np.linalg.norm(X, axis=1),
                rng,
                noise_multiplier=plan.get("norm_mult"),
                epsilon=plan.get("norm_eps") if plan["pure"] else None,
                q=NORM_QUANTILE,
            )[0]
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
            W, n_steps = self._solve(Z, Y, rng, binary, row_bound, plan)

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
        # Noisy steps of "gd" (its noisy stopping rule makes the count a DP
        # output); one release otherwise. The iterations of the exact solver
        # behind "output" are not released: they depend on the data.
        self.n_iter_ = np.array([n_steps or 1], dtype=np.int32)
        self.dp_event_ = self._plan_event(plan, self.solver_, n_steps)
        self._fit_release_kinds = self._fitted_kinds(inferred, plan)
        return self

    def _fitted_kinds(self, classes_inferred, plan):
        """Kinds of the releases that depend on the parameters of this fit."""
        kinds = {}
        if classes_inferred:
            kinds["classes_"] = (
                "uncovered: the label set read from the training labels "
                "(classes=None); pass classes= to make it public"
            )
        if self.data_norm is None:
            kinds["data_norm_"] = (
                "uncovered: the largest row norm of the training data (data_norm=None)"
            )
            for attr in ("coef_", "intercept_"):
                kinds[attr] = (
                    "uncovered: its noise is calibrated to data_norm_, which "
                    "was read from the training data (data_norm=None)"
                )
        elif self.data_norm == "private":
            kinds["data_norm_"] = DP
        # "auto" chooses the solver from a noisy release (a DP output);
        # otherwise it is the parameter. Only "gd" steps a noisy number of
        # times; n_iter_ is 1 otherwise.
        if plan["pure"] or self.solver != "auto":
            kinds["solver_"] = PUBLIC
        if self.solver_ != "gd":
            kinds["n_iter_"] = PUBLIC
        return kinds

    def _solve(self, Z, Y, rng, binary, row_bound, plan):
        """``(W, n_steps)`` of the planned solver; sets ``solver_``."""
        common = dict(binary=binary, row_bound=row_bound, C=self.C)
        if plan["pure"]:
            self.solver_ = plan["solver"]
            if self.solver_ == "ssp":
                W, _ = mech.pure_sufficient_statistics(
                    Z, Y, rng, eps_diag=plan["diag_eps"], eps_b=plan["b_eps"], **common
                )
            else:
                W, _, _ = mech.output_perturbation(
                    Z, Y, rng, epsilon=plan["output_eps"], tol=self.tol, **common
                )
            return W, 0
        evals, evecs, trace, _ = mech.noisy_gram(
            Z, rng, row_bound=row_bound, noise_multiplier=plan["gram_mult"]
        )
        solver = self.solver
        if solver == "auto":
            # Post-processing of the noisy trace: no extra cost.
            n_coef = Z.shape[1] * (1 if binary else Y.shape[1])
            noise_level = (
                plan["main_mult"]
                * mech.gradient_bound(row_bound, binary, clipped=True)
                * math.sqrt(n_coef)
                / max(trace, 1.0)
            )
            solver = "gd" if noise_level < AUTO_GD_NOISE_LEVEL else "ssp"
        self.solver_ = solver
        common["gram"] = (evals, evecs)
        if solver == "ssp":
            W, _ = mech.sufficient_statistics(
                Z, Y, rng, noise_multiplier=plan["ssp_mult"], **common
            )
            return W, 0
        W, _ = mech.sufficient_statistics(
            Z, Y, rng, noise_multiplier=plan["target_mult"], **common
        )
        W, n_steps, _ = mech.noisy_newton(
            Z,
            Y,
            W,
            rng,
            noise_multiplier=plan["step_mult"],
            max_iter=self.max_iter,
            tol=self.tol,
            **common,
        )
        return W, n_steps

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
