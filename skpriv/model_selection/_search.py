"""Private hyperparameter search by random stopping (Papernot & Steinke 2022)."""

import hashlib
import math
import warnings
from numbers import Integral, Real

import dp_accounting
import joblib
import numpy as np
from dp_accounting.dp_event import RepeatAndSelectDpEvent
from dp_accounting.rdp.rdp_privacy_accountant import (
    _gamma_truncated_negative_binomial,
)
from joblib import Parallel, delayed
from scipy.optimize import brentq
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.model_selection import ParameterGrid, ParameterSampler
from sklearn.utils import get_tags, indexable
from sklearn.utils._param_validation import HasMethods
from sklearn.utils.metadata_routing import (
    MetadataRouter,
    MethodMapping,
    _routing_enabled,
    process_routing,
)
from sklearn.utils.metaestimators import _safe_split, available_if
from sklearn.utils.validation import (
    _check_method_params,
    _num_samples,
    check_array,
    check_is_fitted,
)

from ..accounting import epsilon_of, make_accountant
from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..exceptions import BudgetExceededError
from ..mechanisms import Laplace
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context
from ._split import _row_bytes

__all__ = ["PrivateGridSearchCV", "PrivateRandomizedSearchCV"]

#: Shape of the number of trials (dp-accounting's RepeatAndSelectDpEvent):
#: Poisson is shape infinity, geometric 1, logarithmic 0.
_SHAPES = {"poisson": math.inf, "geometric": 1.0, "logarithmic": 0.0}
#: Bisection steps of the calibration: relative precision 1e-4 of the trial
#: budget (log scale over six decades); always on the safe side.
_BISECTION_STEPS = 18
#: Plans of recent fits, by a hash of the parameters, candidates and n.
_PLAN_CACHE: dict = {}


def _rdp_curve(event) -> np.ndarray:
    """Rényi DP of ``event`` at the orders of skpriv's RDP accountant."""
    acc = make_accountant("rdp")
    if not acc.supports(event):
        raise ValueError(
            f"the Rényi DP accountant cannot compose the trial's DP events "
            f"{event}; private search needs estimators whose events it "
            f"supports (Gaussian, Laplace, randomized response, Poisson-"
            f"sampled Gaussian)."
        )
    acc.compose(event)
    # dp-accounting keeps the per-order values in ``_rdp``; there is no public
    # getter, and this is the curve its own RepeatAndSelect formula reads.
    return np.asarray(acc._rdp, dtype=np.float64)


def _composed(events):
    events = [e for e in events if not isinstance(e, dp_accounting.NoOpDpEvent)]
    if not events:
        return dp_accounting.NoOpDpEvent()
    return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)


def _plan_fit(estimator, n_samples):
    """``(event, uncovered)`` of one fit of ``estimator`` on ``n_samples`` rows.

    Local-DP releases are counted twice (the fit's on a training row, the
    prediction's on a validation row) although each row is in one part only:
    a safe upper bound.
    """
    from ..accounting._planning import _Context, _split_plan

    ctx = _Context()
    plan = _split_plan(estimator, n_samples, ctx)
    event = _composed(plan.central + plan.local_fit + plan.local_call)
    return event, [f"{r.part}.{r.attribute} ({r.reason})" for r in ctx.uncovered]


def draw_n_trials(rng, mean, shape) -> int:
    """Number of trials: Poisson (shape inf) or truncated negative binomial.

    The truncated negative binomial of Papernot & Steinke (2022, Def. 1) with
    shape ``eta`` and mean ``mean``: ``P(K = k)`` is proportional to
    ``(1 - gamma)**k * binom(k + eta - 1, k)`` for ``k >= 1``; ``eta = 0``
    is the logarithmic distribution. ``gamma`` comes from dp-accounting's own
    mapping, so that the draw is the distribution its accountant analyses.
    """
    if math.isinf(shape):
        return int(rng.poisson(mean))
    if mean == 1.0:
        return 1
    gamma = _gamma_truncated_negative_binomial(shape, mean)
    if shape == 0.0:
        return int(rng.logseries(1.0 - gamma))
    while True:  # rejection of 0: exactly the truncated distribution
        k = int(rng.negative_binomial(shape, gamma))
        if k > 0:
            return k


def _validation_mask(X, fraction, key) -> np.ndarray:
    """Rows whose keyed hash falls below ``fraction``: a row's part depends on
    that row alone, so adding a row changes one part by that row."""
    if isinstance(X, (list, tuple)) or (
        isinstance(X, np.ndarray) and X.dtype.kind in "biu"
    ):
        # The same numbers hash the same whatever container or integer type.
        X = np.asarray(X)
        if X.dtype.kind in "biu":
            X = X.astype(np.float64)
    digests = np.fromiter(
        (
            int.from_bytes(
                hashlib.blake2b(row, key=key, digest_size=8).digest(), "little"
            )
            for row in _row_bytes(X)
        ),
        dtype=np.uint64,
        count=_num_samples(X),
    )
    return (digests >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction


def _plain(a):
    """Other array-likes as ndarrays, so that the split sees their values."""
    if a is None or isinstance(a, (np.ndarray, list, tuple)) or hasattr(a, "iloc"):
        return a
    if hasattr(a, "__array__") and not hasattr(a, "tocsr"):
        return np.asarray(a)
    return a


def _accuracy_rows(estimator, X, y):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y.ravel()
    return (np.asarray(estimator.predict(X)) == y).astype(np.float64)


def _reseed(estimator, rng):
    """Give every ``random_state`` of ``estimator`` a fresh seed from ``rng``.

    Repeated trials must be independent runs: a fixed seed in the template
    would repeat the same noise, which anyone who knows the seed removes.
    """
    names = [
        k
        for k in estimator.get_params(deep=True)
        if k.split("__")[-1] == "random_state"
    ]
    seeds = rng.integers(0, 2**31 - 1, size=len(names))
    estimator.set_params(**{k: int(s) for k, s in zip(names, seeds)})


def _run_trial(
    estimator, params, X, y, train, val, fit_params, scorer, mechanism, seed
):
    """Fit one candidate on the training part; noisy sum of per-row scores."""
    rng = np.random.default_rng(seed)
    est = clone(estimator).set_params(**params)
    _reseed(est, rng)
    X_train, y_train = _safe_split(est, X, y, train)
    X_val, y_val = _safe_split(est, X, y, val, train)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.fit(X_train, y_train, **_check_method_params(X, fit_params, train))
        rows = np.asarray(scorer(est, X_val, y_val), dtype=np.float64).ravel()
    if rows.shape[0] != _num_samples(X_val):
        raise ValueError(
            f"scoring must return one score per validation row; it returned "
            f"{rows.shape[0]} values for {_num_samples(X_val)} rows."
        )
    # A row's score is clipped to [0, 1]: the sum has sensitivity 1.
    total = float(np.sum(np.clip(np.nan_to_num(rows, nan=0.0), 0.0, 1.0)))
    noisy = float(mechanism.randomise(np.array([total]), rng)[0])
    messages = {(w.category, str(w.message)) for w in caught}
    return est, noisy, messages


def _estimator_has(attr):
    def check(self):
        if hasattr(self, "best_estimator_"):
            return hasattr(self.best_estimator_, attr)
        return hasattr(self.estimator, attr)

    return check


class BasePrivateSearchCV(PrivacyMixin, MetaEstimatorMixin, BaseEstimator):
    """Private selection among candidates by random stopping (shared code)."""

    _parameter_constraints = {
        "estimator": [HasMethods(["fit"])],
        **privacy_constraints("epsilon", "delta", "random_state"),
        "scoring": [None, StrOptions({"accuracy"}), callable],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "mean_trials": [Interval(Real, 1, None, closed="left"), None],
        "distribution": [
            StrOptions(set(_SHAPES)),
            Interval(Real, 0, None, closed="neither"),
        ],
        "epsilon_param": [str],
        "score_share": [Interval(Real, 0, 1, closed="neither")],
        "refit": ["boolean"],
        "n_jobs": [Integral, None],
        "verbose": ["verbose"],
    }

    _privacy_releases = {
        "best_estimator_": DP,
        "best_params_": DP,
        "best_index_": DP,
        "best_score_": DP,
        "cv_results_": DP,
        "epsilon_": PUBLIC,
        "trial_epsilon_": PUBLIC,
        "mean_trials_": PUBLIC,
    }

    def __init__(
        self,
        estimator,
        *,
        epsilon,
        delta=1e-5,
        scoring=None,
        validation_fraction=0.2,
        mean_trials=None,
        distribution="poisson",
        epsilon_param="epsilon",
        score_share=0.25,
        refit=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        self.estimator = estimator
        self.epsilon = epsilon
        self.delta = delta
        self.scoring = scoring
        self.validation_fraction = validation_fraction
        self.mean_trials = mean_trials
        self.distribution = distribution
        self.epsilon_param = epsilon_param
        self.score_share = score_share
        self.refit = refit
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.verbose = verbose

    # ------------------------------------------------------------------
    # Candidates and the plan
    # ------------------------------------------------------------------

    def _candidates(self):  # pragma: no cover - abstract
        raise NotImplementedError

    def _checked_candidates(self):
        candidates = self._fitted_candidates()
        if not candidates:
            raise ValueError(f"{type(self).__name__}: the parameter grid is empty.")
        if any(self.epsilon_param in c for c in candidates):
            raise ValueError(
                f"the grid sets {self.epsilon_param!r}, the parameter through "
                f"which the search gives each trial its budget; remove it from "
                f"the grid (the search spends epsilon={self.epsilon!r} in all)."
            )
        return candidates

    def _fitted_candidates(self):
        # A fitted search plans from the candidates it drew.
        if hasattr(self, "cv_results_"):
            return list(self.cv_results_["params"])
        return self._candidates()

    def _shape(self):
        if isinstance(self.distribution, str):
            return _SHAPES[self.distribution]
        return float(self.distribution)

    def _mean_trials(self, n_candidates):
        if self.mean_trials is not None:
            return float(self.mean_trials)
        # Enough trials that a Poisson count is rarely 0 (e**-10) and every
        # candidate has a fair chance of being tried.
        return float(max(10, n_candidates))

    def _check_estimator(self):
        params = self.estimator.get_params(deep=True)
        if self.epsilon_param not in params:
            raise ValueError(
                f"{type(self.estimator).__name__} has no parameter "
                f"{self.epsilon_param!r}; set epsilon_param to the parameter "
                f"that sets its privacy budget (for a pipeline, "
                f"'<step name>__epsilon')."
            )

    def _trial_event(self, estimator, est_epsilon, n_train):
        est = clone(estimator).set_params(**{self.epsilon_param: est_epsilon})
        return _plan_fit(est, n_train)

    def _plan(self, n_samples):
        """One plan: each candidate's budget, the score noise and the event.

        Every trial spends at most what ``estimator`` (the template) spends
        with ``epsilon_param = (1 - score_share) * t`` plus a Laplace score
        at ``score_share * t``; ``t`` is the largest budget whose random
        stopping event is ``epsilon``-DP at ``delta`` (RDP accountant).
        Candidates with another mechanism get the largest budget whose Rényi
        curve stays under the template's at every order, so the mixture over
        candidates is bounded by the template's curve (Rényi divergence is
        jointly quasi-convex).
        """
        self._check_estimator()
        candidates = self._checked_candidates()
        n_samples = int(n_samples)
        # The plan is a function of the parameters, the candidates and n
        # only; repeated fits (tests, benchmarks) reuse it.
        params = {
            k: v
            for k, v in self.get_params(deep=False).items()
            if k not in ("random_state", "n_jobs", "verbose")
        }
        try:
            key = joblib.hash((type(self).__name__, params, candidates, n_samples))
        except Exception:  # parameters joblib cannot pickle: no cache
            key = None
        if key is not None and key in _PLAN_CACHE:
            return dict(_PLAN_CACHE[key])
        plan = self._new_plan(candidates, n_samples)
        if key is not None:
            if len(_PLAN_CACHE) >= 64:
                _PLAN_CACHE.pop(next(iter(_PLAN_CACHE)))
            _PLAN_CACHE[key] = plan
        return dict(plan)

    def _new_plan(self, candidates, n_samples):
        n_train = max(1, n_samples - math.ceil(self.validation_fraction * n_samples))
        mean = self._mean_trials(len(candidates))
        shape = self._shape()
        s = self.score_share

        ref_cache = {}

        def reference(t):
            if t not in ref_cache:
                event, _ = self._trial_event(self.estimator, (1 - s) * t, n_train)
                ref_cache[t] = event
            return ref_cache[t]

        def total(t):
            score = Laplace.from_epsilon(s * t, 1.0).dp_event(1.0)
            inner = dp_accounting.ComposedDpEvent([reference(t), score])
            return RepeatAndSelectDpEvent(inner, mean, shape)

        eps_cache = {}

        def eps(t):
            if t not in eps_cache:
                eps_cache[t] = epsilon_of(total(t), self.delta, "rdp")
            return eps_cache[t]

        first = reference(self.epsilon)
        if isinstance(first, dp_accounting.NoOpDpEvent):
            raise ValueError(
                f"{type(self.estimator).__name__} spends no privacy budget when "
                f"fitted: a private search needs a differentially private "
                f"estimator whose {self.epsilon_param!r} sets its budget."
            )
        if isinstance(first, dp_accounting.NonPrivateDpEvent) or first == reference(
            self.epsilon / 4
        ):
            raise ValueError(
                f"{self.epsilon_param!r} does not set the privacy budget of "
                f"{type(self.estimator).__name__} (its fit costs the same, or "
                f"is not private, whatever the value); a private search needs "
                f"a differentially private estimator and the parameter that "
                f"sets its epsilon."
            )
        floor = eps(self.epsilon * 1e-6)
        if floor > self.epsilon:
            raise BudgetExceededError(
                f"epsilon={self.epsilon!r} cannot pay for one trial: random "
                f"stopping with mean_trials={mean:g} costs at least "
                f"{floor:.4g} at delta={self.delta!r} before any trial spends "
                f"anything. Raise epsilon above {floor:.4g} (several times "
                f"that for useful models), or lower mean_trials."
            )
        lo, hi = self.epsilon * 1e-6, self.epsilon
        while eps(hi) <= self.epsilon and hi < 1e6:
            lo, hi = hi, hi * 2
        # Brent's method on log t (each evaluation of dp-accounting's Poisson
        # formula takes ~0.1 s), then down to the safe side of the root.
        t = math.exp(
            brentq(
                lambda u: eps(math.exp(u)) - self.epsilon,
                math.log(lo),
                math.log(hi),
                xtol=1e-5,
            )
        )
        while eps(t) > self.epsilon:
            t *= 1 - 1e-4
        ref_event = reference(t)
        ref_curve = _rdp_curve(ref_event)
        budgets, uncovered = [], []
        for params in candidates:
            cand = clone(self.estimator).set_params(**params)
            e = self._candidate_budget(cand, (1 - s) * t, ref_event, ref_curve, n_train)
            budgets.append(e)
            _, notes = self._trial_event(cand, e, n_train)
            uncovered.extend(notes)
            other, _ = self._trial_event(cand, e, max(1, n_train // 2))
            if other != self._trial_event(cand, e, n_train)[0]:
                uncovered.append(
                    f"the cost of a trial of {type(cand).__name__} depends on "
                    f"the number of training rows, which the split leaves "
                    f"random; it is planned at {n_train} rows"
                )
        return {
            "trial_epsilon": t,
            "budgets": budgets,
            "score_mechanism": Laplace.from_epsilon(s * t, 1.0),
            "mean": mean,
            "shape": shape,
            "event": total(t),
            "candidates": candidates,
            "uncovered": sorted(set(uncovered)),
        }

    def _candidate_budget(self, cand, e_ref, ref_event, ref_curve, n_train):
        """Largest budget of ``cand`` whose Rényi curve is under the template's."""
        event, _ = self._trial_event(cand, e_ref, n_train)
        if event == ref_event:
            return e_ref

        def under(e):
            ev, _ = self._trial_event(cand, e, n_train)
            return bool(np.all(_rdp_curve(ev) <= ref_curve))

        if under(e_ref):
            return e_ref
        lo, hi = e_ref * 1e-6, e_ref
        if not under(lo):
            lo = 0.0
        for _ in range(_BISECTION_STEPS if lo else 0):
            mid = math.sqrt(lo * hi)
            lo, hi = (mid, hi) if under(mid) else (lo, mid)
        if lo == 0.0:
            raise ValueError(
                f"candidate {cand!r} uses a mechanism whose Rényi curve cannot "
                f"be kept under the template estimator's; search it separately."
            )
        return lo

    def _planned_dp_event(self, n_samples):
        return self._plan(n_samples)["event"]

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def _scorer(self):
        if callable(self.scoring):
            return self.scoring
        if self.scoring is None and not is_classifier(self.estimator):
            raise ValueError(
                f"scoring=None scores by accuracy, which needs a classifier; "
                f"for {type(self.estimator).__name__} pass scoring=callable"
                f"(estimator, X, y) returning one score in [0, 1] per row (a "
                f"DP score needs bounded per-row scores)."
            )
        return _accuracy_rows

    @_fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y=None, **params):
        """Run the private search: trials on the training part, one released.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (split once into training and validation parts).
        y : array-like of shape (n_samples,), default=None
            Targets.
        **params : dict
            Fit parameters of the estimator (routed by metadata routing when
            it is enabled); per-row arrays are split with the rows.

        Returns
        -------
        self : object
            The fitted search.
        """
        return self._privacy_fit(X, y, **params)

    def _fit(self, X, y, rng, **params):
        X, y = indexable(_plain(X), _plain(y))
        # Shape checks only (the estimator validates values: a pipeline may
        # take text or missing values), before any row is read.
        check_array(
            X,
            accept_sparse=True,
            dtype=None,
            ensure_all_finite=False,
            ensure_2d=False,
            allow_nd=True,
            ensure_min_samples=2,
        )
        if _routing_enabled():
            fit_params = process_routing(self, "fit", **params).estimator.fit
        else:
            fit_params = params
        scorer = self._scorer()
        n_samples = _num_samples(X)
        if n_samples < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 rows (a training and "
                f"a validation part); got {n_samples}."
            )
        plan = self._plan(n_samples)
        candidates = plan["candidates"]
        if self.verbose:
            print(
                f"[{type(self).__name__}] {len(candidates)} candidates, "
                f"Poisson-or-TNB mean {plan['mean']:g} trials, each with "
                f"{self.epsilon_param}={(1 - self.score_share) * plan['trial_epsilon']:.4g}"
                f"; the search spends epsilon={self.epsilon:g} at delta={self.delta:g}"
            )
        key = rng.bytes(32)
        is_val = _validation_mask(X, self.validation_fraction, key)
        if is_val.all() or not is_val.any():
            raise ValueError(
                f"the random split left the {'training' if is_val.all() else 'validation'} "
                f"part empty ({n_samples} rows, validation_fraction="
                f"{self.validation_fraction}); use more rows or a "
                f"validation_fraction nearer 0.5."
            )
        train, val = np.flatnonzero(~is_val), np.flatnonzero(is_val)
        n_trials = draw_n_trials(rng, plan["mean"], plan["shape"])
        if n_trials == 0:
            raise ValueError(
                f"the Poisson number of trials came out 0 (probability "
                f"exp(-{plan['mean']:g})): nothing was fitted and no row was "
                f"read. Fit again, or use distribution='geometric' (always at "
                f"least one trial)."
            )
        picks = rng.integers(len(candidates), size=n_trials)
        seeds = rng.integers(0, 2**63 - 1, size=n_trials)
        jobs = (
            delayed(_run_trial)(
                self.estimator,
                {**candidates[c], self.epsilon_param: plan["budgets"][c]},
                X,
                y,
                train,
                val,
                fit_params,
                scorer,
                plan["score_mechanism"],
                int(seed),
            )
            for c, seed in zip(picks, seeds)
        )
        # Per-trial messages reveal the number of trials, which the
        # guarantee needs hidden: only at verbose >= 2, for debugging.
        results = Parallel(n_jobs=self.n_jobs, verbose=max(0, self.verbose - 1))(jobs)
        noisy = np.array([score for _, score, _ in results])
        best = int(np.argmax(noisy))
        messages = set().union(*(m for _, _, m in results))
        for category, message in sorted(messages, key=lambda m: m[1]):
            warnings.warn(message, category, stacklevel=4)

        self.best_index_ = int(picks[best])
        self.best_params_ = dict(candidates[self.best_index_])
        # The noisy score sum over the public expected validation size:
        # n is public, the actual validation size is not released.
        self.best_score_ = float(noisy[best] / (self.validation_fraction * n_samples))
        if self.refit:
            self.best_estimator_ = results[best][0]
        self.cv_results_ = self._results(candidates, plan)
        self.trial_epsilon_ = float(plan["trial_epsilon"])
        self.mean_trials_ = float(plan["mean"])
        self.dp_event_ = plan["event"]
        self.epsilon_ = epsilon_of(self.dp_event_, self.delta, "rdp")
        self._fit_release_kinds = self._fitted_kinds(plan, results)
        if self.verbose:
            print(
                f"[{type(self).__name__}] released {self.best_params_} with "
                f"noisy score {self.best_score_:.4g}"
            )
        return self

    def _results(self, candidates, plan):
        n = len(candidates)
        results = {"params": [dict(c) for c in candidates]}
        for name in sorted({k for c in candidates for k in c}):
            column = np.ma.masked_all(n, dtype=object)
            for i, c in enumerate(candidates):
                if name in c:
                    column[i] = c[name]
            results[f"param_{name}"] = column
        results[f"param_{self.epsilon_param}"] = np.ma.MaskedArray(
            np.array(plan["budgets"], dtype=object)
        )
        # Only the selected trial is released (scores of the others would be
        # further releases the random-stopping bound does not cover).
        score = np.full(n, np.nan)
        score[self.best_index_] = self.best_score_
        results["mean_test_score"] = score
        rank = np.full(n, 2, dtype=np.int32)
        rank[self.best_index_] = 1
        results["rank_test_score"] = rank
        return results

    def _fitted_kinds(self, plan, results):
        from ..accounting._walk import uncovered

        notes = list(plan["uncovered"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for est, _, _ in results:
                notes.extend(str(r) for r in uncovered(est))
        if not notes:
            return {}
        reason = "uncovered: trials release what their DP covers not: " + "; ".join(
            sorted(set(notes))
        )
        return {
            attr: reason
            for attr in (
                "best_estimator_",
                "best_params_",
                "best_index_",
                "best_score_",
                "cv_results_",
            )
        }

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        kinds.update(getattr(self, "_fit_release_kinds", {}))
        return kinds

    def get_metadata_routing(self):
        """Route fit parameters to the estimator's ``fit``.

        Returns
        -------
        routing : MetadataRouter
            The routing information.
        """
        return MetadataRouter(owner=type(self).__name__).add(
            estimator=self.estimator,
            method_mapping=MethodMapping().add(caller="fit", callee="fit"),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = inner.classifier_tags
        tags.regressor_tags = inner.regressor_tags
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        tags.array_api_support = False
        return tags

    # ------------------------------------------------------------------
    # The released model
    # ------------------------------------------------------------------

    def _best(self):
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_

    @property
    def classes_(self):
        """Class labels of the best estimator."""
        return self._best().classes_

    @property
    def n_features_in_(self):
        """Number of features of the best estimator."""
        return self._best().n_features_in_

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """Predict with the best estimator."""
        return self._best().predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X):
        """Class probabilities from the best estimator."""
        return self._best().predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X):
        """Log class probabilities from the best estimator."""
        return self._best().predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """Decision function of the best estimator."""
        return self._best().decision_function(X)

    @available_if(_estimator_has("transform"))
    def transform(self, X):
        """Transform with the best estimator."""
        return self._best().transform(X)

    @available_if(_estimator_has("score"))
    def score(self, X, y=None):
        """Score of the best estimator on data you pass (not a release of the
        training rows unless you pass them)."""
        return self._best().score(X, y)


_SHARED_PARAMS = """
    epsilon : float
        Privacy budget of the whole search (> 0): every trial, its score and
        the selection together are ``(epsilon, delta)``-DP.
    delta : float, default=1e-5
        Target delta of the whole search (0 <= delta < 1), well below
        ``1 / n_samples``.
    scoring : {"accuracy"} or callable, default=None
        Score of a trial on the validation part, summed over rows and
        released with Laplace noise of sensitivity 1. ``None`` and
        ``"accuracy"`` use accuracy (classifiers). A callable
        ``scoring(estimator, X, y)`` returns one score per row; each is
        clipped to [0, 1] (a row's influence must be bounded for the sum to
        be DP). Scikit-learn's scorers return one exact number and are not
        accepted.
    validation_fraction : float, default=0.2
        Expected share of the rows held out for scoring. Rows are split once,
        by a keyed hash of each row (a fresh key at every fit), so adding a
        row changes one part by that row alone.
    mean_trials : float, default=None
        Mean of the random number of trials (>= 1). ``None``: the larger of
        10 and the number of candidates. More trials try more candidates but
        leave less budget to each.
    distribution : {"poisson", "geometric", "logarithmic"} or float, \
default="poisson"
        Distribution of the number of trials: Poisson, or the truncated
        negative binomial of Papernot & Steinke with shape ``eta`` (1:
        geometric, 0: logarithmic; a float > 0 sets ``eta``). The truncated
        distributions always run at least one trial; a Poisson count of 0
        (probability ``exp(-mean_trials)``) raises an error before any row is
        read.
    epsilon_param : str, default="epsilon"
        The estimator's parameter that sets its budget, e.g.
        ``"dplogisticregression__epsilon"`` in a pipeline. The search sets it
        for every trial; it must not be in the grid.
    score_share : float, default=0.25
        Share of a trial's budget spent on its noisy score; the rest goes to
        ``epsilon_param``. Small validation parts need a larger share.
    refit : bool, default=True
        Keep the selected trial's fitted model as ``best_estimator_`` (fitted
        on the training part). Unlike scikit-learn's searches nothing is
        refitted on all rows: a refit would spend the budget again. ``False``
        releases the selection only.
    random_state : int, numpy.random.Generator or None, default=None
        Source of the split key, the number of trials, the candidates tried
        and every noise (the estimator's own ``random_state`` is reseeded
        per trial). ``None`` draws from the operating system (private); an
        int is for tests and examples.
    n_jobs : int, default=None
        Trials run in parallel with joblib.
    verbose : int, default=0
        1: print the plan and the released result. 2 and above: joblib's
        progress per trial, which reveals the number of trials (the
        guarantee assumes it hidden): for debugging on public data only.
"""

_SHARED_ATTRIBUTES = """
    best_estimator_ : estimator
        The selected trial's model (``refit=True``), with ``epsilon_param``
        set to that trial's budget.
    best_params_ : dict
        The selected candidate (DP).
    best_index_ : int
        Its index in ``cv_results_["params"]``.
    best_score_ : float
        Its noisy score: the noisy sum of per-row scores over the expected
        validation size ``validation_fraction * n_samples`` (``n`` is public;
        the actual size, which varies by about ``sqrt(n)``, is not released).
    cv_results_ : dict of arrays
        Every candidate's parameters (public) and budget
        (``param_<epsilon_param>``), and the released score at the selected
        candidate only (``mean_test_score`` is NaN elsewhere,
        ``rank_test_score`` 1 for it and 2 for the others): the other trials'
        scores are not released.
    epsilon_ : float
        Epsilon of ``dp_event_`` at ``delta`` (Rényi DP accountant), at most
        ``epsilon``.
    trial_epsilon_ : float
        Budget ``t`` of one trial: ``(1 - score_share) * t`` for the template
        estimator, ``score_share * t`` for its score.
    mean_trials_ : float
        The mean number of trials used.
    dp_event_ : dp_accounting.DpEvent
        ``RepeatAndSelectDpEvent`` of one trial, read by
        :func:`~skpriv.accounting.privacy_spent`.
    dp_n_samples_ : int
        Number of rows (public).
    classes_ : ndarray
        Class labels of ``best_estimator_``.
    n_features_in_ : int
        Number of features of ``best_estimator_``.
"""

_NOTES = """
    **Random stopping.** The search draws a random number of trials ``K``
    (Poisson, or truncated negative binomial), and in each trains a uniformly
    random candidate with the DP estimator on the training part and scores it
    on the validation part with Laplace noise. Only the best trial is
    released. Papernot & Steinke [1]_ (extending Liu & Talwar [2]_) bound
    the Rényi DP of this release by that of one trial plus a term in
    ``log(mean_trials)``, whatever ``K`` turns out to be, provided ``K``, the
    other trials and their scores stay hidden; ``fit`` therefore keeps
    nothing of the other trials and logs nothing per trial (below verbose
    2). The running time grows with ``K``: do not publish it.

    **One plan.** ``_plan`` gives the budget of every trial and the event
    recorded: dp-accounting's ``RepeatAndSelectDpEvent`` of one trial
    (template estimator at ``(1 - score_share) * t`` composed with the
    Laplace score at ``score_share * t``), with ``t`` the largest budget whose
    event is ``(epsilon, delta)``-DP by the Rényi DP accountant (the
    accountant that composes this event). A candidate whose parameters
    change the mechanism (another solver) gets the largest budget whose Rényi
    curve stays under the template's at every order; the mixture over
    candidates is then bounded by the template's curve (joint
    quasi-convexity of Rényi divergence).

    **What is not covered.** When a trial releases something its own DP
    does not cover (a ``StandardScaler`` fitted on the rows, bounds read from
    the data, ``classes=None``), the search's scores and choice are not
    covered either: the fitted search declares them so and
    :func:`~skpriv.accounting.privacy_spent` names them.

    References
    ----------
    .. [1] N. Papernot, T. Steinke, "Hyperparameter tuning with Renyi
       differential privacy", ICLR 2022.
    .. [2] J. Liu, K. Talwar, "Private selection from private candidates",
       STOC 2019.
"""


class PrivateGridSearchCV(BasePrivateSearchCV):
    __doc__ = (
        """Differentially private search over a parameter grid.

    A drop-in for :class:`~sklearn.model_selection.GridSearchCV` on private
    data: the whole search, the scores and the choice included, spends
    ``epsilon`` (at ``delta``). Rows are split once into a training and a
    validation part; a random number of trials each fit a random candidate
    (with ``epsilon_param`` set by the search) and score it with noise; only
    the best trial is released (random stopping, Papernot & Steinke 2022).

    Parameters
    ----------
    estimator : estimator
        A differentially private estimator or a pipeline ending in one, with
        the parameter ``epsilon_param``.
    param_grid : dict or list of dicts
        Candidates, as for ``GridSearchCV`` (without ``epsilon_param``).
"""
        + _SHARED_PARAMS
        + """
    Attributes
    ----------"""
        + _SHARED_ATTRIBUTES
        + """
    See Also
    --------
    PrivateRandomizedSearchCV : Candidates sampled from distributions.
    sklearn.model_selection.GridSearchCV : The non-private search.
    skpriv.accounting.privacy_spent : What the search spent.

    Notes
    -----"""
        + _NOTES
        + """
    Examples
    --------
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer
    >>> from skpriv.linear_model import DPLogisticRegression
    >>> from skpriv.model_selection import PrivateGridSearchCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> pipe = make_pipeline(
    ...     Normalizer(), DPLogisticRegression(data_norm=1.0, classes=[0, 1])
    ... )
    >>> search = PrivateGridSearchCV(
    ...     pipe,
    ...     {"dplogisticregression__C": [0.1, 1.0, 10.0]},
    ...     epsilon=2.0,
    ...     epsilon_param="dplogisticregression__epsilon",
    ...     random_state=0,
    ... ).fit(X, y)
    >>> sorted(search.best_params_)
    ['dplogisticregression__C']
    >>> round(search.epsilon_, 2) <= 2.0
    True
    """
    )

    _parameter_constraints = {
        **BasePrivateSearchCV._parameter_constraints,
        "param_grid": [dict, list],
    }

    def __init__(
        self,
        estimator,
        param_grid,
        *,
        epsilon,
        delta=1e-5,
        scoring=None,
        validation_fraction=0.2,
        mean_trials=None,
        distribution="poisson",
        epsilon_param="epsilon",
        score_share=0.25,
        refit=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        super().__init__(
            estimator,
            epsilon=epsilon,
            delta=delta,
            scoring=scoring,
            validation_fraction=validation_fraction,
            mean_trials=mean_trials,
            distribution=distribution,
            epsilon_param=epsilon_param,
            score_share=score_share,
            refit=refit,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.param_grid = param_grid

    def _candidates(self):
        return list(ParameterGrid(self.param_grid))


class PrivateRandomizedSearchCV(BasePrivateSearchCV):
    __doc__ = (
        """Differentially private search over sampled parameter settings.

    As :class:`PrivateGridSearchCV`, with ``n_iter`` candidates drawn from
    ``param_distributions`` (as
    :class:`~sklearn.model_selection.RandomizedSearchCV` does; the draw is
    independent of the data) before the trials pick among them.

    Parameters
    ----------
    estimator : estimator
        A differentially private estimator or a pipeline ending in one, with
        the parameter ``epsilon_param``.
    param_distributions : dict or list of dicts
        Distributions (with ``rvs``) or lists to sample from, without
        ``epsilon_param``.
    n_iter : int, default=10
        Number of candidates drawn.
"""
        + _SHARED_PARAMS
        + """
    Attributes
    ----------"""
        + _SHARED_ATTRIBUTES
        + """
    See Also
    --------
    PrivateGridSearchCV : Candidates from a grid.
    sklearn.model_selection.RandomizedSearchCV : The non-private search.

    Notes
    -----"""
        + _NOTES
        + """
    Examples
    --------
    >>> from scipy.stats import loguniform
    >>> from sklearn.datasets import load_breast_cancer
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer
    >>> from skpriv.linear_model import DPLogisticRegression
    >>> from skpriv.model_selection import PrivateRandomizedSearchCV
    >>> X, y = load_breast_cancer(return_X_y=True)
    >>> pipe = make_pipeline(
    ...     Normalizer(), DPLogisticRegression(data_norm=1.0, classes=[0, 1])
    ... )
    >>> search = PrivateRandomizedSearchCV(
    ...     pipe,
    ...     {"dplogisticregression__C": loguniform(0.01, 100)},
    ...     n_iter=5,
    ...     epsilon=2.0,
    ...     epsilon_param="dplogisticregression__epsilon",
    ...     random_state=0,
    ... ).fit(X, y)
    >>> len(search.cv_results_["params"])
    5
    """
    )

    _parameter_constraints = {
        **BasePrivateSearchCV._parameter_constraints,
        "param_distributions": [dict, list],
        "n_iter": [Interval(Integral, 1, None, closed="left")],
    }

    def __init__(
        self,
        estimator,
        param_distributions,
        *,
        n_iter=10,
        epsilon,
        delta=1e-5,
        scoring=None,
        validation_fraction=0.2,
        mean_trials=None,
        distribution="poisson",
        epsilon_param="epsilon",
        score_share=0.25,
        refit=True,
        random_state=None,
        n_jobs=None,
        verbose=0,
    ):
        super().__init__(
            estimator,
            epsilon=epsilon,
            delta=delta,
            scoring=scoring,
            validation_fraction=validation_fraction,
            mean_trials=mean_trials,
            distribution=distribution,
            epsilon_param=epsilon_param,
            score_share=score_share,
            refit=refit,
            random_state=random_state,
            n_jobs=n_jobs,
            verbose=verbose,
        )
        self.param_distributions = param_distributions
        self.n_iter = n_iter

    def _candidates(self):
        seed = self.random_state if isinstance(self.random_state, Integral) else None
        return list(
            ParameterSampler(self.param_distributions, self.n_iter, random_state=seed)
        )
