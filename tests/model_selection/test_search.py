import math
import warnings

import dp_accounting
import numpy as np
import pytest
from dp_accounting.rdp import rdp_privacy_accountant as rdp
from scipy.stats import beta
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.accounting import make_accountant, privacy_spent
from skpriv.base import DP, PUBLIC, PrivacyMixin, privacy_constraints
from skpriv.exceptions import BudgetExceededError, PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import PrivateGridSearchCV, PrivateRandomizedSearchCV
from skpriv.model_selection._search import draw_n_trials

X, Y = make_classification(
    n_samples=300, n_features=4, n_informative=3, n_redundant=0, random_state=0
)
GRID = {"dplogisticregression__C": [0.1, 1.0, 10.0]}


def _pipe():
    return make_pipeline(
        Normalizer(), DPLogisticRegression(data_norm=1.0, classes=[0, 1])
    )


def _search(**kw):
    params = dict(
        epsilon=2.0,
        epsilon_param="dplogisticregression__epsilon",
        distribution="geometric",
        random_state=0,
    )
    params.update(kw)
    return PrivateGridSearchCV(_pipe(), GRID, **params)


# ---------------------------------------------------------------------------
# Accounting: an independent implementation of the random-stopping bound
# ---------------------------------------------------------------------------


def _orders():
    return np.asarray(make_accountant("rdp")._orders)


def _inner_rdp(search, n):
    """RDP curve of one trial, from the recorded event's parts (dp-accounting)."""
    acc = rdp.RdpAccountant(list(_orders()))
    acc.compose(search.dp_event_.event)
    return np.asarray(acc._rdp)


def _gamma(eta, mean):
    """Solve mean = eta (1 - g) / (g (1 - g**eta)) for g (eta > 0), or the
    logarithmic mean (1 - g) / (g log(1 / g)) for eta = 0, by bisection."""

    def m(g):
        if eta == 0:
            return (1 - g) / (g * math.log(1 / g))
        return eta * (1 - g) / (g * (1 - g**eta))

    lo, hi = 1e-12, 1 - 1e-12
    for _ in range(200):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if m(mid) > mean else (lo, mid)
    return (lo + hi) / 2


def _paper_bound(orders, eps, mean, shape):
    """Papernot & Steinke (2022): Theorem 2 (truncated negative binomial) and
    Theorem 6 (Poisson), written from the paper."""
    out = np.full(len(orders), np.inf)
    if math.isinf(shape):
        for i, lam in enumerate(orders):
            if lam <= 1:
                continue
            eps_hat = math.log1p(1 / (lam - 1))
            # delta_hat: the (eps_hat, delta) guarantee of one trial from its
            # RDP curve (Canonne-Kamath-Steinke conversion, as the paper).
            # delta_hat: the (eps_hat, delta) guarantee of one trial from its
            # RDP curve: Canonne-Kamath-Steinke (2020, Prop. 12) for orders
            # above 1.01, and the KL bound sqrt(1 - exp(-eps)) at every order.
            logs = []
            for a, e in zip(orders, eps):
                log_d = 0.5 * math.log1p(-math.exp(-e)) if e > 0 else -math.inf
                if a > 1.01:
                    log_d = min(
                        log_d,
                        (a - 1) * (e - eps_hat + math.log1p(-1 / a)) - math.log(a),
                    )
                logs.append(log_d)
            delta_hat = min(math.exp(min(logs)), 1.0)
            out[i] = eps[i] + mean * delta_hat + math.log(mean) / (lam - 1)
        return out
    gamma = _gamma(shape, mean)
    const = (1 + shape) * min(
        (1 - 1 / lh) * e - math.log(gamma) / lh for lh, e in zip(orders, eps)
    )
    for i, lam in enumerate(orders):
        if lam > 1:
            out[i] = eps[i] + math.log(mean) / (lam - 1) + const
    # RDP is non-decreasing in the order.
    return np.array([out[orders >= lam].min() for lam in orders])


@pytest.mark.parametrize("distribution", ["poisson", "geometric", "logarithmic", 0.5])
def test_epsilon_matches_independent_random_stopping_bound(distribution):
    search = _search(distribution=distribution, mean_trials=8).fit(X, Y)
    orders = _orders()
    curve = _paper_bound(
        orders, _inner_rdp(search, len(X)), 8.0, search.dp_event_.shape
    )
    independent = rdp.compute_epsilon(orders, curve, search.delta)[0]
    assert search.epsilon_ == pytest.approx(independent, rel=1e-6)
    # Calibrated to the budget, and on its safe side.
    assert 2.0 * (1 - 1e-3) <= search.epsilon_ <= 2.0


def test_privacy_spent_equals_epsilon_and_covers_everything():
    search = _search().fit(X, Y)
    spent = privacy_spent(search, accountant="rdp", strict=True)
    assert spent.epsilon == pytest.approx(search.epsilon_)
    assert spent.uncovered == ()


def test_privacy_spent_default_accountant():
    # The PLD accountant cannot compose RepeatAndSelectDpEvent: epsilon_of
    # composes it with RDP, as the search calibrates it.
    search = _search().fit(X, Y)
    assert privacy_spent(search, strict=True).epsilon == pytest.approx(search.epsilon_)


def test_planned_event_is_the_recorded_one():
    search = _search().fit(X, Y)
    assert search._planned_dp_event(len(X)) == search.dp_event_


def test_candidate_with_another_mechanism_stays_under_template_curve():
    grid = {"dplogisticregression__solver": ["ssp", "output"]}
    search = PrivateGridSearchCV(
        _pipe(),
        grid,
        epsilon=2.0,
        epsilon_param="dplogisticregression__epsilon",
        distribution="geometric",
        random_state=0,
    ).fit(X, Y)
    budgets = search.cv_results_["param_dplogisticregression__epsilon"]
    ref = make_accountant("rdp")
    ref.compose(search.dp_event_.event.events[0])
    out = make_accountant("rdp")
    out.compose(
        DPLogisticRegression(epsilon=budgets[1], solver="output")._planned_dp_event(1)
    )
    assert np.all(out._rdp <= ref._rdp)
    assert 0 < budgets[1] < budgets[0]


# ---------------------------------------------------------------------------
# Number of trials
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [math.inf, 1.0, 0.0, 0.5])
def test_number_of_trials_has_the_stated_mean(shape):
    rng = np.random.default_rng(0)
    draws = np.array([draw_n_trials(rng, 6.0, shape) for _ in range(20000)])
    if not math.isinf(shape):
        assert draws.min() >= 1
    # Fixed seed; 6 standard errors (false failure far below 1e-6).
    assert abs(draws.mean() - 6.0) < 6 * draws.std() / math.sqrt(len(draws))


# ---------------------------------------------------------------------------
# Behaviour
# ---------------------------------------------------------------------------


def test_fitted_attributes_and_prediction():
    search = _search().fit(X, Y)
    assert search.best_params_ in search.cv_results_["params"]
    assert search.cv_results_["rank_test_score"][search.best_index_] == 1
    assert (
        np.isnan(search.cv_results_["mean_test_score"]).sum()
        == len(search.cv_results_["params"]) - 1
    )
    assert search.predict(X).shape == (len(X),)
    assert search.predict_proba(X).shape == (len(X), 2)
    assert search.score(X, Y) > 0.6
    assert not hasattr(search, "n_trials_")  # the guarantee needs it hidden
    np.testing.assert_array_equal(search.classes_, [0, 1])


def test_random_state_reproducible_and_seeds_differ():
    a, b = _search().fit(X, Y), _search().fit(X, Y)
    assert a.best_score_ == b.best_score_
    np.testing.assert_array_equal(
        a.best_estimator_[-1].coef_, b.best_estimator_[-1].coef_
    )
    c = _search(random_state=1).fit(X, Y)
    assert c.best_score_ != a.best_score_


def test_randomized_search_and_list_grids():
    from scipy.stats import loguniform

    search = PrivateRandomizedSearchCV(
        _pipe(),
        {"dplogisticregression__C": loguniform(0.01, 10)},
        n_iter=4,
        epsilon=2.0,
        epsilon_param="dplogisticregression__epsilon",
        distribution="geometric",
        random_state=0,
    ).fit(X, Y)
    assert len(search.cv_results_["params"]) == 4
    grid = [{"dplogisticregression__C": [1.0]}, {"dplogisticregression__tol": [1e-3]}]
    search = (
        _search(param_grid=grid)
        if False
        else PrivateGridSearchCV(
            _pipe(),
            grid,
            epsilon=2.0,
            epsilon_param="dplogisticregression__epsilon",
            distribution="geometric",
            random_state=0,
        ).fit(X, Y)
    )
    assert search.cv_results_["param_dplogisticregression__C"].mask.sum() == 1


def test_n_jobs_gives_the_same_result():
    a = _search().fit(X, Y)
    b = _search(n_jobs=2).fit(X, Y)
    assert a.best_score_ == b.best_score_


def test_works_inside_a_pipeline():
    outer = make_pipeline(
        Normalizer(),
        _search(estimator=None)
        if False
        else PrivateGridSearchCV(
            DPLogisticRegression(data_norm=1.0, classes=[0, 1]),
            {"C": [0.1, 1.0]},
            epsilon=2.0,
            distribution="geometric",
            random_state=0,
        ),
    ).fit(X, Y)
    spent = privacy_spent(outer, accountant="rdp", strict=True)
    assert spent.epsilon == pytest.approx(outer[-1].epsilon_)


def test_non_private_step_makes_the_selection_uncovered():
    pipe = make_pipeline(
        StandardScaler(),
        Normalizer(),
        DPLogisticRegression(data_norm=1.0, classes=[0, 1]),
    )
    search = PrivateGridSearchCV(
        pipe,
        GRID,
        epsilon=2.0,
        epsilon_param="dplogisticregression__epsilon",
        distribution="geometric",
        random_state=0,
    ).fit(X, Y)
    with pytest.warns(PrivacyLeakWarning, match="standardscaler"):
        spent = privacy_spent(search, accountant="rdp")
    assert {r.attribute for r in spent.uncovered} >= {"best_params_", "best_score_"}


def test_metadata_routing():
    import sklearn

    class Recorder(DPLogisticRegression):
        def fit(self, X, y, marker=None):
            assert marker is not None and len(marker) == len(X)
            return super().fit(X, y)

    with sklearn.config_context(enable_metadata_routing=True):
        est = Recorder(data_norm=1.0, classes=[0, 1]).set_fit_request(marker=True)
        search = PrivateGridSearchCV(
            est, {"C": [1.0]}, epsilon=2.0, distribution="geometric", random_state=0
        )
        search.fit(X, Y, marker=np.arange(len(X)))


# ---------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------


def test_budget_too_small_for_one_trial():
    with pytest.raises(BudgetExceededError, match="one trial"):
        _search(epsilon=1e-3, distribution="poisson").fit(X, Y)


def test_missing_epsilon_param():
    with pytest.raises(ValueError, match="no parameter 'epsilon'"):
        PrivateGridSearchCV(_pipe(), GRID, epsilon=1.0).fit(X, Y)


def test_grid_must_not_set_the_budget():
    with pytest.raises(ValueError, match="remove it from the grid"):
        _search(param_grid=None) if False else PrivateGridSearchCV(
            _pipe(),
            {"dplogisticregression__epsilon": [1.0]},
            epsilon=1.0,
            epsilon_param="dplogisticregression__epsilon",
        ).fit(X, Y)


def test_refuses_estimator_that_spends_nothing():
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match="spends no privacy budget"):
        PrivateGridSearchCV(
            LogisticRegression(),
            {"fit_intercept": [True]},
            epsilon=1.0,
            epsilon_param="C",
        ).fit(X, Y)
    with pytest.raises(ValueError, match="does not set the privacy budget"):
        PrivateGridSearchCV(
            DPLogisticRegression(data_norm=1.0),
            {"C": [1.0]},
            epsilon=1.0,
            epsilon_param="tol",
        ).fit(X, Y)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_epsilon(bad):
    with pytest.raises(ValueError, match="epsilon"):
        _search(epsilon=bad).fit(X, Y)


def test_regressor_needs_a_row_score():
    from skpriv.linear_model import DPLinearRegression

    with pytest.raises(ValueError, match="one score in \\[0, 1\\] per row"):
        PrivateGridSearchCV(
            DPLinearRegression(), {"fit_intercept": [True]}, epsilon=1.0
        ).fit(X, Y.astype(float))


# ---------------------------------------------------------------------------
# Empirical distinguishing test on neighbouring data sets
# ---------------------------------------------------------------------------


class _Constant(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """Predicts ``label`` whatever the data: DP at any epsilon (reads nothing)."""

    _parameter_constraints = {**privacy_constraints("epsilon", "random_state")}
    _privacy_releases = {"classes_": PUBLIC, "label_": DP}

    def __init__(self, epsilon=1.0, label=0, random_state=None):
        self.epsilon = epsilon
        self.label = label
        self.random_state = random_state

    def _fit(self, X, y, rng):
        self.classes_ = np.array([0, 1])
        self.label_ = self.label
        return self

    def _planned_dp_event(self, n_samples):
        return dp_accounting.LaplaceDpEvent(1.0 / self.epsilon)

    def predict(self, X):
        return np.full(len(X), self.label_)


class _ExactScores(PrivateGridSearchCV):
    """The search with the score noise removed (for the power check)."""

    def _plan(self, n_samples):
        plan = super()._plan(n_samples)

        class _NoNoise:
            def randomise(self, values, rng):
                return np.asarray(values, dtype=float)

        plan["score_mechanism"] = _NoNoise()
        return plan


_DATA = (np.arange(12.0).reshape(-1, 1), np.arange(12) % 2)
_NEIGHBOUR = (np.vstack([_DATA[0], [[100.0]]]), np.append(_DATA[1], 1))
_EPSILON, _DELTA = 0.5, 1e-5


def _releases(cls, data, n_runs):
    out = []
    for seed in range(n_runs):
        search = cls(
            _Constant(),
            {"label": [0, 1]},
            epsilon=_EPSILON,
            delta=_DELTA,
            validation_fraction=0.5,
            distribution="geometric",
            mean_trials=2,
            random_state=seed,
        )
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                search.fit(*data)
        except ValueError:  # an empty part: nothing released
            out.append((None, None))
            continue
        # One function of the output for both data sets: the score scaled
        # by the first data set's expected validation size.
        out.append((search.best_params_["label"], search.best_score_ * 0.5 * 12))
    return out


def _events(releases):
    """Indicators of the tested events on the released (label, score) pairs."""
    label = np.array([r[0] == 1 for r in releases])
    lattice = np.array(
        [r[1] is not None and abs(r[1] - round(r[1])) < 1e-9 for r in releases]
    )
    return {"label == 1": label, "score * 6 integer": lattice}


def _violations(cls, n_runs):
    """Events whose probability on one data set exceeds e^eps times the other's
    plus delta by more than Clopper-Pearson bounds allow (family-wise false
    failure 1e-6)."""
    a, b = (
        _events(_releases(cls, _DATA, n_runs)),
        _events(_releases(cls, _NEIGHBOUR, n_runs)),
    )
    alpha = 1e-6 / (2 * 2 * len(a))
    bad = []
    for name in a:
        for p, q in ((a[name], b[name]), (b[name], a[name])):
            k, m = int(p.sum()), int(q.sum())
            p_low = beta.ppf(alpha, k, n_runs - k + 1) if k else 0.0
            q_high = beta.ppf(1 - alpha, m + 1, n_runs - m) if m < n_runs else 1.0
            if p_low > math.exp(_EPSILON) * q_high + _DELTA:
                bad.append(name)
    return bad


@pytest.mark.slow
def test_released_pair_within_claimed_epsilon():
    assert _violations(PrivateGridSearchCV, 600) == []


@pytest.mark.slow
def test_released_pair_within_claimed_epsilon_has_power():
    assert _violations(_ExactScores, 600) != []
