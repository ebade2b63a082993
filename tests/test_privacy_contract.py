"""The privacy contract: what privacy_spent covers, and what it names as not covered."""

import pickle
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.compose import ColumnTransformer, make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

from skpriv.accounting import (
    DeclaredPublic,
    PrivacySpent,
    UncoveredRelease,
    epsilon_of,
    privacy_spent,
)
from skpriv.base import fitted_attributes, release_kinds, uncovered_releases
from skpriv.exceptions import PrivacyLeakWarning, UncoveredReleaseError
from skpriv.preprocessing import LaplaceNoise, RandomizedResponse

from .toy import ToyNoisyMean

rng = np.random.default_rng(0)
X = rng.uniform(size=(60, 3))
y = (X[:, 0] > 0.5).astype(int)


def _quiet(obj, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return privacy_spent(obj, **kwargs)


def _named(spent):
    return {(r.part, r.attribute) for r in spent.uncovered}


def _zero_score(est, X, y):
    return 0.0


# -- finding 1: a search releases exact validation scores -----------------


def test_search_scores_are_named_as_not_covered():
    # GridSearchCV over a DP model released exact split scores (0.5 in every
    # run on all-zero X) while privacy_spent reported only the DP fits.
    search = GridSearchCV(
        ToyNoisyMean(random_state=0), {"epsilon": [0.5, 1.0]}, cv=3, scoring=_zero_score
    ).fit(X, y)
    with pytest.warns(PrivacyLeakWarning, match="cv_results_ .exact validation"):
        spent = privacy_spent(search)
    # KFold(3) fold fits are charged for 3 rows each; best: first of a tie.
    assert spent.epsilon == pytest.approx(3 * 3 * 1.5 + 0.5)
    assert _named(spent) == {
        ("GridSearchCV", "cv_results_"),
        ("GridSearchCV", "best_score_"),
        ("GridSearchCV", "best_params_"),
    }
    assert not spent.covered
    with pytest.raises(UncoveredReleaseError, match="best_score_") as info:
        privacy_spent(search, strict=True)
    assert set(info.value.releases) == set(spent.uncovered)


def test_search_releases_of_the_refitted_model_are_named_under_its_path():
    search = GridSearchCV(
        make_pipeline(StandardScaler(), ToyNoisyMean(random_state=0)),
        {"toynoisymean__epsilon": [0.5]},
        cv=2,
        scoring=_zero_score,
    ).fit(X, y)
    spent = _quiet(search)
    assert ("best_estimator_.standardscaler", "*") in _named(spent)


def test_cross_validate_scores_are_named_as_not_covered():
    res = cross_validate(
        ToyNoisyMean(epsilon=0.5, random_state=0),
        X,
        y,
        cv=3,
        return_estimator=True,
        return_train_score=True,
        scoring=_zero_score,
    )
    spent = _quiet(res)
    assert spent.epsilon == pytest.approx(1.5)
    assert _named(spent) == {
        ("cross_validate", "test_score"),
        ("cross_validate", "train_score"),
        ("cross_validate", "estimator"),  # which splitter made the folds: unknown
    }
    # cross_val_score returns bare scores: nothing to account, and the docs say
    # they are exact statistics; privacy_spent refuses them clearly.
    scores = cross_val_score(ToyNoisyMean(), X, y, cv=2, scoring=_zero_score)
    with pytest.raises(TypeError, match="privacy_spent expects"):
        privacy_spent(scores)


# -- finding 11: false alarms, a missed passthrough, declaring public ------


def test_encoder_with_given_categories_is_public_and_auto_is_not():
    Xc = np.array([["a"], ["b"], ["a"]], dtype=object)
    given = make_pipeline(OneHotEncoder(categories=[["a", "b", "c"]])).fit(Xc)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        assert privacy_spent(given) == (0.0, 0.0)
    auto = make_pipeline(OneHotEncoder()).fit(Xc)
    spent = _quiet(auto)
    assert spent.epsilon == np.inf
    assert _named(spent) == {("onehotencoder", "*")}
    # Infrequent categories are learned from counts: not public.
    counted = make_pipeline(OneHotEncoder(categories=[["a", "b"]], min_frequency=2))
    assert _named(_quiet(counted.fit(Xc))) == {("onehotencoder", "*")}


def test_passthrough_beside_a_local_dp_branch_is_named():
    # ColumnTransformer([("age", LaplaceNoise(...), ["age"])],
    # remainder="passthrough") reported 1.0 with no warning although raw
    # columns pass through.
    ct = ColumnTransformer(
        [("age", LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0), [0])],
        remainder="passthrough",
    ).fit(X)
    with pytest.warns(
        PrivacyLeakWarning,
        match="remainder .outputs columns computed from the raw data",
    ):
        spent = privacy_spent(ct)
    assert spent.epsilon == pytest.approx(1.0)
    assert _named(spent) == {("remainder", "*")}
    # An explicit passthrough branch too, and inside a pipeline by step path.
    explicit = make_pipeline(
        make_column_transformer(
            (LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0), [0]),
            ("passthrough", [1, 2]),
        )
    ).fit(X)
    assert ("columntransformer.passthrough", "*") in _named(_quiet(explicit))
    # Every column privatized: covered.
    full = ColumnTransformer(
        [("all", LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0), [0, 1, 2])]
    ).fit(X)
    assert privacy_spent(full, strict=True).covered


def test_declared_public_step_is_not_flagged_and_keeps_its_reason():
    step = DeclaredPublic(
        KBinsDiscretizer(n_bins=3, encode="ordinal", strategy="uniform"),
        reason="the value range is public",
    )
    pipe = make_pipeline(step, ToyNoisyMean(epsilon=0.5, random_state=0)).fit(X)
    spent = privacy_spent(pipe, strict=True)
    assert spent.epsilon == pytest.approx(0.5)
    assert pipe[0].reason_ == "the value range is public"
    np.testing.assert_array_equal(
        pipe[0].transform(X), clone(step.estimator).fit(X).transform(X)
    )
    # The declaration survives clone and a search's set_params.
    assert clone(step).get_params()["reason"] == "the value range is public"
    for bad in ("", "   ", None):
        with pytest.raises(ValueError, match="reason"):
            DeclaredPublic(StandardScaler(), reason=bad).fit(X)


def test_frozen_estimator_fitted_elsewhere_is_public():
    frozen_mod = pytest.importorskip("sklearn.frozen")
    scaler = StandardScaler().fit(rng.uniform(size=(20, 3)))  # "public" data
    pipe = make_pipeline(
        frozen_mod.FrozenEstimator(scaler),
        LaplaceNoise(epsilon=1.0, bounds=(-3, 3), random_state=0),
    ).fit(X)
    assert privacy_spent(pipe, strict=True).epsilon == pytest.approx(1.0)


# -- declarations ------------------------------------------------------------


def test_bounds_and_categories_read_from_data_are_named():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        noise = LaplaceNoise(epsilon=1.0, random_state=0).fit(X)
        rr = RandomizedResponse(epsilon=1.0, random_state=0).fit(y.reshape(-1, 1))
    assert {a for a, _ in uncovered_releases(noise)} == {
        "bounds_",
        "scale_",
        "granularity_",
    }
    assert {a for a, _ in uncovered_releases(rr)} == {
        "categories_",
        "keep_probability_",
    }
    given = LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0).fit(X)
    assert uncovered_releases(given) == []
    assert privacy_spent(given, strict=True).epsilon == pytest.approx(1.0)


def test_undeclared_attributes_count_as_uncovered():
    est = ToyNoisyMean(epsilon=1.0, random_state=0).fit(X)
    est.secret_count_ = 59  # a fitted attribute its class does not declare
    assert uncovered_releases(est) == [("secret_count_", "not declared by its class")]
    assert ("ToyNoisyMean", "secret_count_") in _named(_quiet(est))


def test_malformed_declaration_is_refused():
    class Bad(ToyNoisyMean):
        _privacy_releases = {"mean_": "uncovered"}  # no reason

    with pytest.raises(ValueError, match="uncovered: <reason>"):
        release_kinds(Bad())


def test_every_public_class_declares_every_fitted_attribute():
    from skpriv.utils import all_estimators
    from skpriv.utils.estimator_checks import make_test_instance

    for name, cls in all_estimators():
        assert release_kinds(make_test_instance(cls)) is not None, name


# -- PrivacySpent ------------------------------------------------------------


def test_privacy_spent_unpacks_pickles_and_breaks_down_by_part():
    pipe = make_pipeline(
        LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0),
        LaplaceNoise(epsilon=0.5, bounds=(0, 1), random_state=0),
    ).fit(X)
    spent = privacy_spent(pipe)
    epsilon, delta = spent
    assert (epsilon, delta) == pytest.approx((1.5, 0.0))
    assert len(spent) == 2
    assert spent.parts == pytest.approx({"laplacenoise-1": 1.0, "laplacenoise-2": 0.5})
    again = pickle.loads(pickle.dumps(spent))
    assert again == spent and again.uncovered == spent.uncovered
    assert again.parts == spent.parts
    assert "covers everything" in spent.summary()
    leaky = _quiet(make_pipeline(StandardScaler(), clone(pipe[0])).fit(X))
    assert "standardscaler" in leaky.summary()
    assert str(leaky.uncovered[0]) == (
        "standardscaler (learned from the data without differential privacy)"
    )
    assert isinstance(leaky.uncovered[0], UncoveredRelease)


def test_strict_mode_passes_silently_when_everything_is_covered():
    est = ToyNoisyMean(epsilon=0.5, random_state=0).fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert privacy_spent(est, strict=True) == PrivacySpent(0.5, 0.0)


def test_non_private_model_after_partial_privatization_is_flagged_by_step():
    partial = make_column_transformer(
        (LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0), [0]),
        remainder="passthrough",
    )
    pipe = make_pipeline(partial, LogisticRegression()).fit(X, y)
    named = _named(_quiet(pipe))
    assert ("logisticregression", "*") in named
    assert ("columntransformer.remainder", "*") in named


# -- one epsilon function -----------------------------------------------------


def test_epsilon_of_is_the_one_conversion():
    import dp_accounting as dpa

    lap = dpa.SelfComposedDpEvent(dpa.LaplaceDpEvent(0.5), 3)
    assert epsilon_of(lap, 0.0) == pytest.approx(6.0)
    # Never above the pure-DP epsilon, at any delta, with either accountant.
    for accountant in ("pld", "rdp"):
        assert epsilon_of(lap, 1e-6, accountant) <= 6.0 + 1e-9
    gauss = dpa.GaussianDpEvent(3.730631634944469)
    assert epsilon_of(gauss, 1e-5) == pytest.approx(1.0, abs=1e-4)
    assert epsilon_of(dpa.NonPrivateDpEvent(), 1e-5) == np.inf
    assert epsilon_of(dpa.NoOpDpEvent(), 1e-5) == 0.0
    with pytest.raises(ValueError, match="accountant"):
        epsilon_of(gauss, 1e-5, "moments")


def test_fitted_attributes_lists_trailing_underscore_names_only():
    est = ToyNoisyMean(epsilon=0.5, random_state=0).fit(X)
    assert fitted_attributes(est) == [
        "dp_event_",
        "dp_n_samples_",
        "mean_",
        "n_features_in_",
    ]


def test_epsilon_of_huge_pure_epsilon_is_instant_and_bounded():
    # privacy_spent of a model calibrated at epsilon=1e6 built a PLD table of
    # 2e10 points (30 GB) for its Laplace part.
    import time

    import dp_accounting as dpa

    event = dpa.ComposedDpEvent([dpa.LaplaceDpEvent(1e-6), dpa.GaussianDpEvent(1.0)])
    start = time.perf_counter()
    eps = epsilon_of(event, 1e-5)
    assert time.perf_counter() - start < 5.0
    assert 1e6 <= eps <= 1e6 + 10


def test_a_failed_first_fit_records_nothing_and_a_failed_refit_keeps_its_cost():
    # The template deleted dp_event_ before fitting: a refit that raised left
    # the first fit's noisy attributes with no event (epsilon 0, "covered").
    est = LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError):
        clone(est).fit(bad)
    fresh = clone(est)
    with pytest.raises(ValueError):
        fresh.fit(bad)
    assert not hasattr(fresh, "dp_event_")
    est.fit(X)
    with pytest.raises(ValueError):
        est.fit(bad)
    spent = privacy_spent(est, strict=True)
    assert spent.epsilon >= 1.0


def test_warnings_point_at_the_users_line_through_pipelines():
    # Hand-counted stack levels broke whenever a helper frame was added.
    from skpriv.preprocessing import GaussianNoise

    with pytest.warns(PrivacyLeakWarning, match="delta") as record:
        make_pipeline(GaussianNoise(delta=0.5, bounds=(0, 1))).fit(X)
    assert record[0].filename == __file__
