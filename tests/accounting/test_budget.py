"""PrivacyBudget: the filter refuses the release that would exceed it."""

import dp_accounting
import numpy as np
import pytest
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv import stats
from skpriv.accounting import PrivacyBudget, epsilon_of, privacy_spent
from skpriv.exceptions import BudgetExceededError, PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.preprocessing import DPStandardScaler

X = np.random.default_rng(0).uniform(0, 1, size=(200, 3))
y = (X[:, 0] > 0.5).astype(int)


def test_statistics_are_refused_before_anything_is_drawn():
    budget = PrivacyBudget(1.0)
    stats.mean(X, 0.6, bounds=(0, 1), axis=0, budget=budget, random_state=0)
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    with pytest.raises(BudgetExceededError, match="exceed the budget"):
        stats.var(X, 0.5, bounds=(0, 1), axis=0, budget=budget, random_state=rng)
    assert rng.bit_generator.state == state  # no noise drawn: nothing released
    assert budget.spent.epsilon == pytest.approx(0.6)
    stats.quantile(X, 0.5, 0.4, bounds=(0, 1), budget=budget, random_state=0)
    assert budget.remaining == pytest.approx(0.0, abs=1e-9)


def test_with_budget_charges_statistics_inside_the_block():
    budget = PrivacyBudget(1.0)
    with budget:
        stats.count(X > 0.5, 0.5, random_state=0)
        stats.histogram(X[:, 0], 0.5, bins=4, range=(0, 1), random_state=0)
        with pytest.raises(BudgetExceededError):
            stats.mean(X, 0.1, bounds=(0, 1))
    stats.mean(X, 0.1, bounds=(0, 1))  # outside the block: not charged
    assert budget.spent.epsilon == pytest.approx(1.0)
    report = budget.report()
    assert "skpriv.stats.count" in report and "skpriv.stats.histogram" in report


def test_spend_fitted_pipeline_composes_its_parts():
    budget = PrivacyBudget(1.5, delta=1e-5)
    pipe = make_pipeline(
        DPStandardScaler(epsilon=0.5, delta=1e-6, bounds=(0, 1), random_state=0),
        Normalizer(),
        DPLogisticRegression(
            epsilon=1.0, data_norm=1.0, classes=[0, 1], random_state=0
        ),
    ).fit(X, y)
    budget.spend(pipe)
    assert budget.spent.epsilon == pytest.approx(
        privacy_spent(pipe, delta=1e-5).epsilon
    )
    assert "Pipeline.dpstandardscaler" in budget.report()
    with pytest.raises(BudgetExceededError):
        budget.spend(pipe)  # a second copy would exceed 1.5


def test_spend_warns_about_what_the_budget_does_not_cover():
    budget = PrivacyBudget(5.0, delta=1e-5)
    pipe = make_pipeline(
        StandardScaler(), DPLogisticRegression(data_norm=1.0, classes=[0, 1])
    ).fit(X, y)
    with pytest.warns(PrivacyLeakWarning, match="does not cover"):
        budget.spend(pipe)
    assert "not covered" in budget.report()


def test_fit_refuses_before_fitting():
    budget = PrivacyBudget(1.0, delta=1e-5)
    clf = DPLogisticRegression(epsilon=2.0, data_norm=1.0, classes=[0, 1])
    with pytest.raises(BudgetExceededError):
        budget.fit(clf, X, y)
    assert not hasattr(clf, "coef_")
    ok = budget.fit(
        DPLogisticRegression(epsilon=1.0, data_norm=1.0, classes=[0, 1]), X, y
    )
    assert hasattr(ok, "coef_")
    assert budget.spent.epsilon <= 1.0 + 1e-9


def test_pure_budget_refuses_gaussian_releases():
    budget = PrivacyBudget(10.0)
    with pytest.raises(BudgetExceededError, match="delta"):
        stats.mean(X, 1.0, bounds=(0, 1), delta=1e-5, budget=budget)
    with pytest.raises(BudgetExceededError, match="not differentially private"):
        budget.charge(dp_accounting.NonPrivateDpEvent())


def test_one_release_at_the_whole_budget_fits_exactly():
    # The first release is compared exactly, with either accountant.
    for accountant in ("pld", "rdp"):
        budget = PrivacyBudget(1.0, delta=1e-5, accountant=accountant)
        stats.mean(X, 1.0, bounds=(0, 1), delta=1e-5, budget=budget, random_state=0)
        with pytest.raises(BudgetExceededError):
            stats.mean(X, 0.01, bounds=(0, 1), delta=1e-5, budget=budget)


def test_rdp_filter_admits_gaussian_compositions_within_its_order():
    # The RDP filter (fixed order) admits a composition whose RDP conversion
    # fits; its reading never falls below the tight PLD epsilon.
    budget = PrivacyBudget(2.0, delta=1e-5, accountant="rdp")
    event = dp_accounting.GaussianDpEvent(6.0)
    admitted = 0
    while True:
        try:
            budget.charge(event, "g")
        except BudgetExceededError:
            break
        admitted += 1
    composed = dp_accounting.SelfComposedDpEvent(event, admitted)
    assert admitted >= 2
    assert epsilon_of(composed, 1e-5) <= 2.0
    assert budget.spent.epsilon <= 2.0 * (1 + 1e-9)
    pld = PrivacyBudget(2.0, delta=1e-5)
    count = 0
    while True:
        try:
            pld.charge(event, "g")
        except BudgetExceededError:
            break
        count += 1
    assert count >= admitted  # the tight accountant admits at least as many


def test_invalid_budget_parameters():
    with pytest.raises(ValueError, match="epsilon"):
        PrivacyBudget(0.0)
    with pytest.raises(ValueError, match="delta"):
        PrivacyBudget(1.0, delta=1.0)
    with pytest.raises(ValueError, match="accountant"):
        PrivacyBudget(1.0, accountant="basic")


def test_an_estimator_fit_inside_with_budget_is_charged_and_refused_before_work():
    # The fit template consults the active budget: a fit whose planned event
    # exceeds what is left raises before any work and records nothing.
    import numpy as np
    import pytest

    from skpriv.accounting import PrivacyBudget
    from skpriv.exceptions import BudgetExceededError
    from skpriv.preprocessing import LaplaceNoise

    X = np.random.default_rng(0).uniform(size=(30, 2))
    budget = PrivacyBudget(epsilon=1.5)
    with budget:
        LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0).fit(X)
        second = LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)
        with pytest.raises(BudgetExceededError):
            second.fit(X)
    assert not hasattr(second, "dp_event_")
    assert budget.spent[0] == pytest.approx(1.0)
