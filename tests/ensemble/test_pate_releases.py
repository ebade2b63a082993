"""What a fitted PATEClassifier releases (issue 13, findings 6 and 8)."""

import math
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.tree import DecisionTreeClassifier

from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.base import fitted_attributes, release_kinds
from skpriv.ensemble import PATEClassifier
from skpriv.exceptions import PrivacyLeakWarning, UncoveredReleaseError

SEEDS = (0, 1, 2)
CLASSES = [0, 1, 2]


def _data(n=600, n_public=150, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=5,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        random_state=seed,
    )
    y = y.copy()
    y[n - n_public :] = -1  # the public pool, last
    return X, y


def _pate(**params):
    kw = dict(
        teacher=DecisionTreeClassifier(max_depth=3),
        n_teachers=10,
        epsilon=2.0,
        classes=CLASSES,
        random_state=0,
    )
    return PATEClassifier(**{**kw, **params})


# --------------------------------------------------------------------------
# Teachers and exact statistics: not kept by default, named when kept
# --------------------------------------------------------------------------


@pytest.mark.parametrize("aggregator", ["gnmax", "lnmax", "confident_gnmax"])
def test_default_fit_releases_only_covered_attributes(aggregator):
    X, y = _data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        pate = _pate(aggregator=aggregator).fit(X, y)
        spent = privacy_spent(pate, delta=1e-5, strict=True)
    # The audit: teachers_ and label_agreement_ were held with a finite
    # epsilon and no warning.
    for attr in ("teachers_", "label_agreement_", "epsilon_data_dependent_"):
        assert not hasattr(pate, attr)
    assert list(spent.uncovered) == []
    assert 0 < spent.epsilon <= 2.0 * (1 + 1e-6)


def test_kept_teachers_are_named_uncovered():
    X, y = _data()
    pate = _pate(aggregator="confident_gnmax", keep_teachers=True).fit(X, y)
    assert len(pate.teachers_) == 10
    assert 0.0 <= pate.label_agreement_ <= 1.0
    assert 0.0 <= pate.epsilon_data_dependent_ <= pate.epsilon_
    with pytest.warns(PrivacyLeakWarning, match="teachers_"):
        spent = privacy_spent(pate, delta=1e-5)
    assert {u.attribute for u in spent.uncovered} == {
        "teachers_",
        "label_agreement_",
        "epsilon_data_dependent_",
    }
    with pytest.raises(UncoveredReleaseError):
        privacy_spent(pate, delta=1e-5, strict=True)
    # A refit without keep_teachers drops what the earlier fit kept.
    pate.set_params(keep_teachers=False).fit(X, y)
    assert not hasattr(pate, "teachers_")
    assert not hasattr(pate, "label_agreement_")


def test_public_fraction_names_the_student():
    X, y = _data()
    y = np.where(y == -1, 0, y)  # no public row: public_fraction moves some
    with pytest.warns(PrivacyLeakWarning, match="public_fraction"):
        pate = _pate(public_fraction=0.2).fit(X, y)
    assert [a for a, _ in _uncovered(pate)] == ["student_"]


def _uncovered(pate):
    from skpriv.base import uncovered_releases

    return uncovered_releases(pate)


# --------------------------------------------------------------------------
# classes: declared (public) or read from the private labels
# --------------------------------------------------------------------------


def test_classes_given_shapes_do_not_depend_on_a_rare_label():
    X, y = _data()
    y = np.where(y == 2, 1, y)  # no private row carries label 2 ...
    X2, y2 = X.copy(), y.copy()
    y2[0] = 2  # ... except one, in the neighbour
    kw = dict(teacher=DecisionTreeClassifier(max_depth=2))
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        a = _pate(**kw).fit(X, y)
        b = _pate(**kw).fit(X2, y2)
    np.testing.assert_array_equal(a.classes_, CLASSES)
    np.testing.assert_array_equal(b.classes_, CLASSES)
    assert a.predict_proba(X).shape == b.predict_proba(X).shape == (len(X), 3)
    assert release_kinds(a)["classes_"][0] == "public"


def test_classes_none_warns_and_is_named_uncovered():
    X, y = _data()
    with pytest.warns(PrivacyLeakWarning, match="classes=None") as record:
        pate = _pate(classes=None).fit(X, y)
    assert any(w.filename == __file__ for w in record)
    with pytest.warns(PrivacyLeakWarning, match="classes_"):
        spent = privacy_spent(pate, delta=1e-5)
    assert [u.attribute for u in spent.uncovered] == ["classes_"]


def test_classes_errors_quote_no_private_label():
    X, y = _data()
    y = y.astype(object)
    y[y == 0] = "cat"
    y[y == 1] = "dog"
    y[y == 2] = "dog"
    y[3] = "patient-4711"
    with pytest.raises(ValueError, match="classes") as info:
        _pate(classes=["cat", "dog"]).fit(X, y)
    assert "patient-4711" not in str(info.value)
    with pytest.raises(ValueError, match="-1"):
        _pate(classes=[-1, 0, 1]).fit(*_data())
    y = np.where(_data()[1] == -1, -1, 5)
    with pytest.raises(ValueError, match="2 classes") as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            _pate(classes=None).fit(X, y)
    assert "5" not in str(info.value)


# --------------------------------------------------------------------------
# The common release check, emulated: neighbours one extreme private row apart
# --------------------------------------------------------------------------


def _same(a, b):
    try:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    except (AssertionError, TypeError, ValueError):
        return False
    return True


@pytest.mark.parametrize(
    "params",
    [
        dict(aggregator="gnmax"),
        dict(aggregator="lnmax", delta=0.0),
        dict(aggregator="confident_gnmax", sigma=3.0, threshold=6.0),
    ],
)
def test_no_undeclared_deterministic_release_between_neighbours(params):
    X, y = _data()
    y = np.where(y == 2, 1, y)
    X2, y2 = X.copy(), y.copy()
    X2[0], y2[0] = 1e3, 2  # an extreme private row with a rare label
    est = _pate(**params, teacher=DecisionTreeClassifier(max_depth=2))
    fits = [
        [clone(est).set_params(random_state=s).fit(*ds) for s in SEEDS]
        for ds in ((X, y), (X2, y2))
    ]
    kinds = release_kinds(fits[0][0])
    for attr in fitted_attributes(fits[0][0]):
        if attr in ("dp_event_", "student_"):
            continue
        values = [[getattr(f, attr) for f in row] for row in fits]
        stable = all(_same(row[0], v) for row in values for v in row[1:])
        if stable and not _same(values[0][0], values[1][0]):
            assert kinds[attr][0] != "dp", attr


# --------------------------------------------------------------------------
# One plan: the recorded event, epsilon_ and the planned event agree
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        dict(aggregator="gnmax"),
        dict(aggregator="gnmax", sigma=20.0, epsilon=1.0),
        dict(aggregator="lnmax"),
        dict(aggregator="lnmax", delta=0.0),
        dict(aggregator="confident_gnmax"),
        # A budget the filter reaches before the pool is exhausted.
        dict(aggregator="confident_gnmax", sigma=4.0, sigma_threshold=8.0),
    ],
)
def test_recorded_and_planned_events_come_from_one_plan(params):
    X, y = _data()
    pate = _pate(**params).fit(X, y)
    n_pool = int(np.sum(y == -1))
    plan = pate._plan(n_pool)
    assert pate.sigma_ == plan["sigma"]
    # What actually ran, built by the plan.
    recorded = pate._plan_event(plan, pate.n_queries_, pate.n_answered_)
    assert pate.dp_event_ == recorded
    delta = pate.delta
    accountant = pate._accountant()
    assert pate.epsilon_ == epsilon_of(pate.dp_event_, delta, accountant=accountant)
    assert pate.epsilon_ <= pate.epsilon * (1 + 1e-9)
    planned = pate._planned_dp_event(len(X))
    spent = epsilon_of(pate.dp_event_, delta, accountant=accountant)
    bound = epsilon_of(planned, delta, accountant=accountant)
    if pate.aggregator == "lnmax" and pate.sigma is None:
        # Calibrated to epsilon at delta for any pool size: equal there (to
        # the calibration's bisection tolerance), both within the budget.
        assert spent == pytest.approx(bound, rel=1e-3)
        assert bound <= pate.epsilon * (1 + 1e-9)
    else:
        # Gaussian aggregators (one Gaussian each: mu**2 orders every delta)
        # and a fixed sigma (more queries cost more): a bound at every delta.
        for d in (delta, 1e-3, 1e-8):
            assert epsilon_of(pate.dp_event_, d) <= epsilon_of(planned, d) * (1 + 1e-9)
    if params.get("sigma") == 4.0:
        assert pate.n_queries_ < n_pool  # the filter stopped the queries
        assert bound <= pate.epsilon * (1 + 1e-9)


def test_confident_planned_event_is_capped_by_the_budget():
    pate = _pate(aggregator="confident_gnmax", sigma=1.0, sigma_threshold=1.0)
    planned = pate._planned_dp_event(10_000)
    assert epsilon_of(planned, 1e-5) == pytest.approx(2.0, rel=1e-6)
    assert math.isfinite(epsilon_of(planned, 1e-5))
