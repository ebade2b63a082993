"""Accounting: golden numbers against reference accountants, composition bounds."""

import math

import dp_accounting as dpa
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import BaseEstimator, clone
from sklearn.compose import ColumnTransformer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import FeatureUnion, make_pipeline
from sklearn.preprocessing import StandardScaler

from skpriv.accounting import (
    collect_dp_events,
    dpsgd_noise_multiplier,
    gaussian_epsilon,
    gaussian_sigma,
    laplace_scale,
    make_accountant,
    non_private_parts,
    privacy_spent,
    pure_epsilon,
)
from skpriv.exceptions import PrivacyLeakWarning

from .toy import ToyNoisyMean, ToySubsampledGaussian

#: What a scikit-learn search releases outside the guarantee (finding 1).
SEARCH_RELEASES = {"cv_results_", "best_score_", "best_params_"}
#: Declared label sets keep DP classifiers' classes_ public.
CLASSES = [0, 1, 2]


def _quiet(obj, **kwargs):
    """privacy_spent with its PrivacyLeakWarning silenced (read .uncovered)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return privacy_spent(obj, **kwargs)


def _attrs(spent):
    return {r.attribute for r in spent.uncovered}


def _eps(event, delta, accountant="pld"):
    acc = make_accountant(accountant)
    acc.compose(event)
    return acc.get_epsilon(delta)


# -- golden numbers ---------------------------------------------------------


def test_laplace_golden():
    # Pure DP: Laplace with scale 1/eps is exactly eps-DP at delta = 0.
    assert laplace_scale(2.0, sensitivity=3.0) == pytest.approx(1.5)
    assert pure_epsilon(dpa.LaplaceDpEvent(1 / 0.7)) == pytest.approx(0.7)
    # With delta > 0 the PLD accountant can only report less.
    assert _eps(dpa.LaplaceDpEvent(1.0), 1e-5) <= 1.0 + 1e-3


def test_gaussian_golden():
    # Balle & Wang (2018), analytic Gaussian: sigma(eps=1, delta=1e-5) = 3.7306.
    assert gaussian_sigma(1.0, 1e-5) == pytest.approx(3.7306, abs=1e-3)
    # The classical bound sqrt(2 ln(1.25/delta))/eps = 4.845 is looser.
    assert gaussian_sigma(1.0, 1e-5) < math.sqrt(2 * math.log(1.25 / 1e-5))
    # Valid for epsilon > 1 too (the classical bound is not).
    sigma = gaussian_sigma(5.0, 1e-6, sensitivity=2.0)
    assert gaussian_epsilon(sigma, 1e-6, sensitivity=2.0) == pytest.approx(
        5.0, rel=1e-6
    )
    # The PLD accountant agrees with the closed form.
    assert _eps(dpa.GaussianDpEvent(gaussian_sigma(1.0, 1e-5)), 1e-5) == pytest.approx(
        1.0, abs=2e-3
    )


def test_k_fold_composition_golden():
    # 10 x Gaussian(sigma=10): PLD and RDP against each other and against the
    # exact answer, which is one Gaussian with sigma / sqrt(10).
    event = dpa.SelfComposedDpEvent(dpa.GaussianDpEvent(10.0), 10)
    exact = gaussian_epsilon(10.0 / math.sqrt(10), 1e-5)
    assert _eps(event, 1e-5, "pld") == pytest.approx(exact, rel=1e-2)
    assert exact <= _eps(event, 1e-5, "rdp") <= 1.3 * exact


def test_poisson_subsampled_gaussian_golden():
    # q = 0.01, sigma = 1.1, 10,000 steps, delta = 1e-5: Opacus' RDP accountant
    # gives 5.632 and its PRV accountant 5.203 (Opacus 1.6.0).
    event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(0.01, dpa.GaussianDpEvent(1.1)), 10_000
    )
    assert _eps(event, 1e-5, "rdp") == pytest.approx(5.632, abs=0.01)
    assert _eps(event, 1e-5, "pld") == pytest.approx(5.203, abs=0.03)


def test_poisson_subsampled_gaussian_matches_opacus():
    accountants = pytest.importorskip("opacus.accountants")
    rdp = accountants.RDPAccountant()
    rdp.history = [(0.9, 0.005, 3000)]
    event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(0.005, dpa.GaussianDpEvent(0.9)), 3000
    )
    assert _eps(event, 1e-6, "rdp") == pytest.approx(rdp.get_epsilon(1e-6), rel=1e-3)


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
def test_dpsgd_calibration_hits_target(accountant):
    nm = dpsgd_noise_multiplier(2.0, 1e-5, 0.01, 1000, accountant=accountant)
    event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(0.01, dpa.GaussianDpEvent(nm)), 1000
    )
    eps = _eps(event, 1e-5, accountant)
    assert eps <= 2.0
    assert eps >= 1.98  # tight: at most 1% below the target


@given(
    epsilon=st.floats(0.05, 20.0),
    log_delta=st.floats(-12, -2),
    sensitivity=st.floats(0.01, 100.0),
)
def test_gaussian_calibration_never_overshoots(epsilon, log_delta, sensitivity):
    delta = 10.0**log_delta
    sigma = gaussian_sigma(epsilon, delta, sensitivity)
    assert gaussian_epsilon(sigma, delta, sensitivity) <= epsilon * (1 + 1e-9)


@settings(max_examples=10)
@given(epsilon=st.floats(0.2, 8.0), q=st.floats(0.001, 0.2), steps=st.integers(1, 300))
def test_dpsgd_calibration_never_overshoots(epsilon, q, steps):
    nm = dpsgd_noise_multiplier(epsilon, 1e-5, q, steps, accountant="rdp")
    event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(nm)), steps
    )
    assert _eps(event, 1e-5, "rdp") <= epsilon


# -- validation -------------------------------------------------------------


@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), True, "1"])
def test_calibration_rejects_bad_epsilon(bad):
    with pytest.raises(ValueError, match="epsilon"):
        laplace_scale(bad)
    with pytest.raises(ValueError, match="epsilon"):
        gaussian_sigma(bad, 1e-5)


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, 2.0, float("nan")])
def test_gaussian_rejects_bad_delta(bad):
    with pytest.raises(ValueError, match="delta"):
        gaussian_sigma(1.0, bad)


def test_privacy_spent_rejects_bad_arguments():
    est = ToyNoisyMean(epsilon=1.0, random_state=0).fit(np.zeros((5, 2)))
    with pytest.raises(ValueError, match="accountant"):
        privacy_spent(est, accountant="moments")
    with pytest.raises(ValueError, match="delta"):
        privacy_spent(est, delta=1.0)


# -- walking structures -----------------------------------------------------

X = np.random.default_rng(0).uniform(size=(40, 3))
y = (X[:, 0] > 0.5).astype(int)


def test_single_estimator_pure_and_approx():
    est = ToyNoisyMean(epsilon=0.8, random_state=0).fit(X)
    assert privacy_spent(est).epsilon == pytest.approx(0.8)  # delta=0 default
    assert privacy_spent(est, delta=1e-5).epsilon <= 0.8 + 1e-3


def test_stateless_pipeline_costs_nothing():
    from sklearn.preprocessing import Normalizer

    pipe = make_pipeline(Normalizer()).fit(X)
    assert privacy_spent(pipe) == (0.0, 0.0)
    assert non_private_parts(pipe) == []


def test_non_private_pipeline_is_infinite_and_warns():
    from sklearn.linear_model import LogisticRegression

    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    # Parts are named by their step names, not their class names.
    assert non_private_parts(pipe) == ["standardscaler", "logisticregression"]
    with pytest.warns(PrivacyLeakWarning, match="standardscaler .*; logisticregr"):
        assert privacy_spent(pipe).epsilon == math.inf


def test_steps_after_local_dp_release_are_post_processing():
    import warnings

    from sklearn.compose import make_column_transformer
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression

    from skpriv.preprocessing import LaplaceNoise

    noise = LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)
    pipe = make_pipeline(noise, StandardScaler(), PCA(2)).fit(X)
    assert non_private_parts(pipe) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        assert privacy_spent(pipe).epsilon == pytest.approx(1.0, rel=1e-3)
    # A supervised step after it learned the raw labels: only X was privatized.
    pipe = make_pipeline(noise, StandardScaler(), LogisticRegression()).fit(X, y)
    assert non_private_parts(pipe) == ["logisticregression"]
    spent = _quiet(pipe)
    assert spent.epsilon == pytest.approx(1.0, rel=1e-3)
    assert [r.reason for r in spent.uncovered] == [
        "learned the raw labels y (only the features were privatized)"
    ]
    # A column left in the clear is not privatized: the model is flagged.
    partial = make_column_transformer((noise, [0, 1]), remainder="passthrough")
    pipe = make_pipeline(partial, LogisticRegression()).fit(X, y)
    assert non_private_parts(pipe) == ["logisticregression"]


def test_non_private_part_beside_dp_part_warns_but_counts_dp_only():
    pipe = make_pipeline(StandardScaler(), ToyNoisyMean(epsilon=0.5)).fit(X)
    with pytest.warns(PrivacyLeakWarning, match="standardscaler"):
        assert privacy_spent(pipe).epsilon == pytest.approx(0.5)


def test_pipeline_column_transformer_feature_union_compose():
    ct = ColumnTransformer(
        [
            ("a", ToyNoisyMean(epsilon=0.5, random_state=0), [0]),
            ("b", ToyNoisyMean(epsilon=0.25, random_state=0), [1, 2]),
        ]
    )
    fu = FeatureUnion(
        [("c", ToyNoisyMean(epsilon=1.0, random_state=0)), ("s", StandardScaler())]
    )
    pipe = make_pipeline(ct, fu).fit(X)
    assert len(collect_dp_events(pipe)) == 3
    assert privacy_spent(pipe).epsilon == pytest.approx(1.75)


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
def test_composition_between_max_and_sum(accountant):
    parts = [
        ToySubsampledGaussian(noise_multiplier=nm, random_state=0)
        for nm in (1.0, 2.0, 4.0)
    ]
    pipe = make_pipeline(*parts).fit(X)
    single = [
        privacy_spent(p, delta=1e-5, accountant=accountant).epsilon for p in parts
    ]
    total = privacy_spent(pipe, delta=1e-5, accountant=accountant).epsilon
    assert max(single) <= total <= sum(single) + 1e-6


class _Holder(BaseEstimator):
    """A generic meta-estimator that fits a list of estimators."""

    def __init__(self, estimators=()):
        self.estimators = estimators

    def fit(self, X, y=None):
        from sklearn.base import clone

        self.estimators_ = [clone(e).fit(X, y) for e in self.estimators]
        return self


def test_generic_meta_estimator_is_walked():
    meta = _Holder([ToyNoisyMean(epsilon=0.3), ToyNoisyMean(epsilon=0.2)]).fit(X)
    assert privacy_spent(meta).epsilon == pytest.approx(0.5)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_search_counts_every_fit(n_jobs):
    pipe = make_pipeline(StandardScaler(), ToyNoisyMean(random_state=0))
    grid = {"toynoisymean__epsilon": [0.1, 0.2, 0.4]}
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=n_jobs, scoring=lambda e, X, y: 0.0)
    search.fit(X, y)
    # 3 folds per candidate + the refit of the best (every score ties: first).
    # Adding one row to the data moves up to 3 rows in or out of an unshuffled
    # KFold(3) training fold, so each fold's fit is charged for 3 rows.
    expected = 3 * 3 * (0.1 + 0.2 + 0.4) + search.best_params_["toynoisymean__epsilon"]
    assert privacy_spent(search).epsilon == pytest.approx(expected)


def test_search_with_subsampling_uses_training_fold_size():
    est = ToySubsampledGaussian(noise_multiplier=2.0, batch_size=10, random_state=0)
    search = GridSearchCV(
        est, {"noise_multiplier": [2.0]}, cv=4, scoring=lambda e, X, y: 0.0
    )
    search.fit(X, y)  # 40 rows: training folds of 30 rows -> q = 1/3
    fold_event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(10 / 30, dpa.GaussianDpEvent(2.0)), 5
    )
    refit_event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(10 / 40, dpa.GaussianDpEvent(2.0)), 5
    )
    expected = _eps(
        dpa.ComposedDpEvent([dpa.SelfComposedDpEvent(fold_event, 4), refit_event]), 1e-5
    )
    assert privacy_spent(search, delta=1e-5).epsilon == pytest.approx(
        expected, rel=1e-6
    )
    search_norefit = GridSearchCV(
        est, {"noise_multiplier": [2.0]}, cv=4, refit=False, scoring=lambda e, X, y: 0.0
    ).fit(X, y)
    with pytest.raises(ValueError, match="n_samples"):
        privacy_spent(search_norefit, delta=1e-5)
    assert privacy_spent(search_norefit, delta=1e-5, n_samples=40).epsilon > 0


def test_rdp_accountant_drops_no_convergence_notes(caplog):
    # dp-accounting logs a note for every skipped fractional order; skpriv's
    # RDP accountant silences exactly that note (the bound stays valid).
    import logging

    import dp_accounting
    from dp_accounting.rdp import rdp_privacy_accountant

    from skpriv.accounting import make_accountant

    event = dp_accounting.SelfComposedDpEvent(
        dp_accounting.PoissonSampledDpEvent(0.5, dp_accounting.GaussianDpEvent(2.06)),
        5,
    )
    orders = [1.2, 1.5, 2.0, 8.0]
    with caplog.at_level(logging.WARNING, logger="absl"):
        raw = rdp_privacy_accountant.RdpAccountant(orders).compose(event)
    assert any("failed to converge" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="absl"):
        ours = make_accountant("rdp").compose(event)
        eps = ours.get_epsilon(1e-5)
    assert not any("failed to converge" in r.getMessage() for r in caplog.records)
    assert 0 < eps <= raw.get_epsilon(1e-5)
    assert logging.getLogger("absl").filters == []


def test_estimators_held_twice_by_a_meta_estimator_count_once():
    # VotingClassifier keeps its fitted estimators in estimators_ and in
    # named_estimators_: each fit was counted twice.
    from sklearn.ensemble import VotingClassifier

    from skpriv.linear_model import DPLogisticRegression

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    a = DPLogisticRegression(
        epsilon=1.0, delta=0, data_norm=1.0, classes=CLASSES, random_state=0
    )
    b = DPLogisticRegression(
        epsilon=2.0, delta=0, data_norm=1.0, classes=CLASSES, random_state=0
    )
    vote = VotingClassifier([("a", a), ("b", b)]).fit(Xn, y)
    assert len(collect_dp_events(vote)) == 2
    assert privacy_spent(vote).epsilon == pytest.approx(3.0)


def test_unfitted_objects_raise_and_unfitted_templates_are_ignored():
    # An unfitted estimator was reported as epsilon=inf with a warning that
    # it learned from the data without DP; BaggingClassifier's unfitted
    # estimator_ template triggered the same false warning.
    import warnings

    from sklearn.ensemble import BaggingClassifier
    from sklearn.exceptions import NotFittedError

    from skpriv.linear_model import DPLogisticRegression

    dp = DPLogisticRegression(
        epsilon=1.0, delta=0, data_norm=1.0, classes=CLASSES, random_state=0
    )
    with pytest.raises(NotFittedError):
        privacy_spent(dp)
    with pytest.raises(NotFittedError):
        privacy_spent(make_pipeline(StandardScaler(), dp))
    with pytest.raises(NotFittedError):
        privacy_spent(GridSearchCV(dp, {"epsilon": [1.0]}))
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    bag = BaggingClassifier(
        dp, n_estimators=3, bootstrap=False, max_samples=0.5, random_state=0
    ).fit(Xn, y)
    assert non_private_parts(bag) == []
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        assert privacy_spent(bag).epsilon == pytest.approx(3.0)


def test_cross_validate_results_and_lists_of_fits_compose():
    # cross_validate's dict and lists of fitted estimators raised
    # "TypeError: vars() argument must have __dict__ attribute".
    from sklearn.exceptions import NotFittedError
    from sklearn.model_selection import cross_validate

    est = ToyNoisyMean(epsilon=0.5, random_state=0)
    cv = cross_validate(
        est, X, y, cv=3, return_estimator=True, scoring=lambda e, X, y: 0.0
    )
    # Its scores are exact statistics of the private rows: named, not covered.
    with pytest.warns(PrivacyLeakWarning, match="cross_validate: test_score"):
        spent = privacy_spent(cv)
    assert spent.epsilon == pytest.approx(1.5)
    # The results do not say which splitter made the folds: not covered.
    assert {(r.part, r.attribute) for r in spent.uncovered} == {
        ("cross_validate", "test_score"),
        ("cross_validate", "estimator"),
    }
    assert _quiet(cv, delta=1e-5).epsilon <= 1.5 + 1e-3
    assert len(collect_dp_events(cv)) == 3
    fits = [ToyNoisyMean(epsilon=e, random_state=0).fit(X) for e in (0.25, 0.5)]
    assert privacy_spent(fits).epsilon == pytest.approx(0.75)
    assert privacy_spent(tuple(fits)).epsilon == pytest.approx(0.75)
    leaky = [StandardScaler().fit(X), *fits]
    assert non_private_parts(leaky) == ["estimator[0]"]
    with pytest.warns(PrivacyLeakWarning, match=r"estimator\[0\]"):
        assert privacy_spent(leaky).epsilon == pytest.approx(0.75)
    no_estimators = cross_validate(est, X, y, cv=3, scoring=lambda e, X, y: 0.0)
    with pytest.raises(ValueError, match="return_estimator=True"):
        privacy_spent(no_estimators)
    with pytest.raises(NotFittedError):
        privacy_spent([ToyNoisyMean(epsilon=0.5)])


@pytest.mark.parametrize(
    "call, match",
    [
        # gaussian_epsilon(nan) returned 0.0 (perfect privacy) and a zero
        # sensitivity raised ZeroDivisionError.
        (lambda: gaussian_epsilon(float("nan"), 1e-5), "sigma"),
        (lambda: gaussian_epsilon(-1.0, 1e-5), "sigma"),
        (lambda: gaussian_epsilon(1.0, 1e-5, sensitivity=0.0), "sensitivity"),
        (lambda: gaussian_sigma(1.0, 1e-5, sensitivity="1"), "sensitivity"),
        (lambda: laplace_scale(1.0, sensitivity=None), "sensitivity"),
        # steps=1.7 was silently truncated to 1.
        (lambda: dpsgd_noise_multiplier(1.0, 1e-5, 0.1, 1.7), "steps"),
        (lambda: dpsgd_noise_multiplier(1.0, 1e-5, 0.1, "10"), "steps"),
    ],
)
def test_calibration_rejects_bad_noise_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_gaussian_epsilon_without_noise_is_infinite():
    assert gaussian_epsilon(0.0, 1e-5) == math.inf
    assert dpsgd_noise_multiplier(1.0, 1e-5, 1.0, 2.0) > 0  # integral float


def test_privacy_spent_reads_plain_objects_and_rejects_others():
    # Objects holding a dp_event_ (planned events, custom wrappers) are read
    # as they are; anything else is refused with a message naming the type.
    class Recorded:
        dp_event_ = dpa.LaplaceDpEvent(2.0)

    assert privacy_spent(Recorded()).epsilon == pytest.approx(0.5)
    with pytest.raises(TypeError, match="got str"):
        privacy_spent("model.pkl")


def test_search_over_a_fanning_out_meta_estimator_warns():
    # A search over BaggingClassifier(n_estimators=4) planned one DP fit per
    # fold instead of four and reported the smaller epsilon silently.

    from sklearn.ensemble import BaggingClassifier

    from skpriv.linear_model import DPLogisticRegression

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    est = BaggingClassifier(
        DPLogisticRegression(epsilon=0.5, delta=0, data_norm=1.0, classes=CLASSES),
        n_estimators=4,
        bootstrap=False,
        max_samples=0.5,
        random_state=0,
    )
    search = GridSearchCV(est, {"n_estimators": [4]}, cv=2).fit(Xn, y)
    with pytest.warns(PrivacyLeakWarning, match="recorded 4 DP fits where its"):
        privacy_spent(search)
    # Estimators fitted once per fold plan exactly: no warning.
    plain = GridSearchCV(
        make_pipeline(ToyNoisyMean(epsilon=0.5), ToyNoisyMean(epsilon=0.25)),
        {"toynoisymean-1__epsilon": [0.5]},
        cv=2,
        scoring=lambda e, X, y: 0,
    ).fit(X, y)
    spent = _quiet(plain)
    assert spent.epsilon == pytest.approx(2 * 2 * 0.75 + 0.75)  # KFold(2): 2 rows
    assert _attrs(spent) == SEARCH_RELEASES


def test_bootstrap_resampling_of_private_estimators_warns():
    # BaggingClassifier(bootstrap=True) repeats rows inside one estimator's
    # training set (DPLogisticRegression takes no sample_weight), so a row can
    # cost several times an estimator's epsilon; it was reported silently.
    import warnings

    from sklearn.ensemble import BaggingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import Normalizer

    from skpriv.linear_model import DPLogisticRegression

    dp = DPLogisticRegression(
        epsilon=0.5, delta=0, data_norm=1.0, classes=CLASSES, random_state=0
    )
    bag = make_pipeline(
        Normalizer(), BaggingClassifier(dp, n_estimators=3, random_state=0)
    ).fit(X, y)
    with pytest.warns(PrivacyLeakWarning, match=r"baggingclassifier \(bootstrap"):
        privacy_spent(bag)
    no_bootstrap = make_pipeline(
        Normalizer(),
        BaggingClassifier(
            dp, n_estimators=3, bootstrap=False, max_samples=0.5, random_state=0
        ),
    ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        assert privacy_spent(no_bootstrap).epsilon == pytest.approx(1.5)


def test_default_delta_reads_numpy_deltas_and_searches_without_refit():
    # delta=np.float32(1e-5) and GridSearchCV(refit=False) gave a default
    # delta of 0, so Gaussian fits were reported as epsilon=inf.
    from skpriv.linear_model import DPLogisticRegression

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    est = DPLogisticRegression(
        data_norm=1.0, delta=np.float32(1e-5), classes=CLASSES, random_state=0
    )
    spent = privacy_spent(est.fit(Xn, y))
    assert spent.delta == pytest.approx(1e-5)
    assert spent.epsilon == pytest.approx(1.0, rel=1e-3)
    search = GridSearchCV(
        DPLogisticRegression(data_norm=1.0, classes=CLASSES, random_state=0),
        {"delta": [1e-6, 1e-5]},
        cv=2,
        refit=False,
    ).fit(Xn, y)
    spent = privacy_spent(search)
    assert spent.delta == pytest.approx(1e-5)
    assert spent == privacy_spent(search, delta=1e-5)
    assert math.isfinite(spent.epsilon)


@pytest.mark.parametrize(
    "cv, n_train",
    [
        (4, 30),
        ("repeated", 30),  # n_splits_ = 12 gave training folds of 36 rows
        ("time series", 8),  # K-fold sizes gave 30 rows
        ("shuffle", 20),  # test_size=0.5: K-fold sizes gave 32 rows
    ],
)
def test_search_plans_subsampling_on_the_real_training_fold_size(cv, n_train):
    from sklearn.model_selection import RepeatedKFold, ShuffleSplit, TimeSeriesSplit

    splitter = {
        "repeated": RepeatedKFold(n_splits=4, n_repeats=3, random_state=0),
        "time series": TimeSeriesSplit(4),
        "shuffle": ShuffleSplit(5, test_size=0.5, random_state=0),
    }.get(cv, cv)
    est = ToySubsampledGaussian(noise_multiplier=2.0, batch_size=10, random_state=0)
    search = GridSearchCV(
        est, {"noise_multiplier": [2.0]}, cv=splitter, scoring=lambda e, X, y: 0.0
    ).fit(X, y)
    fold_event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(min(1.0, 10 / n_train), dpa.GaussianDpEvent(2.0)), 5
    )
    refit_event = dpa.SelfComposedDpEvent(
        dpa.PoissonSampledDpEvent(10 / 40, dpa.GaussianDpEvent(2.0)), 5
    )
    expected = _eps(
        dpa.ComposedDpEvent(
            [dpa.SelfComposedDpEvent(fold_event, search.n_splits_), refit_event]
        ),
        1e-5,
    )
    assert privacy_spent(search, delta=1e-5).epsilon == pytest.approx(
        expected, rel=1e-6
    )


def test_search_with_a_group_splitter_warns_only_for_subsampling():

    from sklearn.model_selection import GroupKFold

    groups = np.arange(len(y)) % 4
    sub = ToySubsampledGaussian(noise_multiplier=2.0, batch_size=10, random_state=0)
    search = GridSearchCV(
        sub, {"batch_size": [10]}, cv=GroupKFold(4), scoring=lambda e, X, y: 0.0
    ).fit(X, y, groups=groups)
    with pytest.warns(PrivacyLeakWarning, match="could not run the splitter"):
        privacy_spent(search, delta=1e-5)
    search = GridSearchCV(
        ToyNoisyMean(random_state=0),
        {"epsilon": [0.5]},
        cv=GroupKFold(4),
        scoring=lambda e, X, y: 0.0,
    ).fit(X, y, groups=groups)
    spent = _quiet(search)
    assert spent.epsilon == pytest.approx(5 * 0.5)
    # GroupKFold rebalances groups when one is added to: fold fits unbounded.
    assert _attrs(spent) == SEARCH_RELEASES | {"fits"}


def test_successive_halving_plans_each_iteration_on_its_resources():
    # HalvingGridSearchCV fits early iterations on a few rows (high sampling
    # rates) but they were planned on folds of the whole data set.
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401
    from sklearn.model_selection import HalvingGridSearchCV

    X200 = np.random.default_rng(0).uniform(size=(200, 3))
    y200 = (X200[:, 0] > 0.5).astype(int)
    est = ToySubsampledGaussian(noise_multiplier=2.0, batch_size=10, random_state=0)
    search = HalvingGridSearchCV(
        est,
        {"noise_multiplier": [2.0, 3.0, 4.0, 5.0]},
        cv=2,
        min_resources=20,
        factor=2,
        scoring=lambda e, X, y: float(e.noise_multiplier),
    ).fit(X200, y200)

    def sampled(q, nm):
        return dpa.SelfComposedDpEvent(
            dpa.PoissonSampledDpEvent(min(1.0, q), dpa.GaussianDpEvent(nm)), 5
        )

    folds = [
        dpa.SelfComposedDpEvent(sampled(10 / (n // 2), params["noise_multiplier"]), 2)
        for params, n in zip(
            search.cv_results_["params"], search.cv_results_["n_resources"]
        )
    ]
    refit = sampled(10 / 200, search.best_params_["noise_multiplier"])
    expected = _eps(dpa.ComposedDpEvent([*folds, refit]), 1e-5)
    assert privacy_spent(search, delta=1e-5).epsilon == pytest.approx(
        expected, rel=1e-6
    )


def test_steps_after_a_nested_private_release_are_post_processing():
    # A local-DP transformer inside a nested Pipeline or in every branch of a
    # FeatureUnion privatizes the rows too, but later steps were flagged.
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_union

    from skpriv.preprocessing import LaplaceNoise

    def noise():
        return LaplaceNoise(epsilon=1.0, bounds=(0, 1), random_state=0)

    from sklearn.decomposition import PCA

    nested = make_pipeline(make_pipeline(noise()), StandardScaler(), PCA(2)).fit(X)
    assert non_private_parts(nested) == []
    union = make_pipeline(make_union(noise(), noise()), StandardScaler(), PCA(2)).fit(X)
    assert non_private_parts(union) == []
    assert privacy_spent(union).epsilon == pytest.approx(2.0)
    # A branch in the clear still leaks.
    mixed = make_pipeline(
        make_union(noise(), StandardScaler()), LogisticRegression()
    ).fit(X, y)
    assert non_private_parts(mixed) == [
        "featureunion.standardscaler",
        "logisticregression",
    ]
    clear = make_pipeline(make_union(noise(), "passthrough"), LogisticRegression()).fit(
        X, y
    )
    assert non_private_parts(clear) == ["logisticregression"]


def test_nested_search_is_planned():
    # A search over a search raised "cannot plan a search nested in a
    # search" and suggested reading the inner search alone, which misses
    # every fit of the outer folds.
    from sklearn.model_selection import RandomizedSearchCV, cross_validate

    def score(e, X, y):
        return 0.0

    inner = GridSearchCV(ToyNoisyMean(), {"epsilon": [0.1, 0.2]}, cv=2, scoring=score)
    outer = GridSearchCV(inner, {"cv": [2, 3]}, cv=3, scoring=score).fit(X, y)
    # The outer refit is an inner search fitted for real.
    refit = privacy_spent(outer.best_estimator_).epsilon
    # Inner KFold(2) folds are charged for 2 rows; scores tie: first candidate.
    assert refit == pytest.approx(2 * 2 * 0.3 + 0.1)
    # Each KFold(k) fold is charged for its row shift g (2 for k=2, 3 for k=3):
    # inner cv=2 plans 2 * 2 * 0.3 + 0.3, cv=3 plans 3 * 3 * 0.3 + 0.3, and the
    # outer KFold(3) folds charge those for 3 rows.
    expected = 3 * 3 * ((2 * 2 * 0.3 + 0.3) + (3 * 3 * 0.3 + 0.3)) + refit
    assert privacy_spent(outer).epsilon == pytest.approx(expected)
    # Nested cross-validation: one inner search per outer fold.
    nested_cv = cross_validate(inner, X, y, cv=3, return_estimator=True)
    assert privacy_spent(nested_cv).epsilon == pytest.approx(3 * refit)
    unseeded = RandomizedSearchCV(
        ToyNoisyMean(), {"epsilon": [0.1, 0.2]}, n_iter=2, cv=2, scoring=score
    )
    outer = GridSearchCV(unseeded, {"cv": [2]}, cv=2, scoring=score).fit(X, y)
    with pytest.raises(ValueError, match="integer random_state"):
        privacy_spent(outer)


def test_label_encoders_of_meta_estimators_are_not_flagged():
    # OneVsRestClassifier(DP model) always warned that its LabelBinarizer
    # "learned from the training data without differential privacy".
    import warnings

    from sklearn.ensemble import VotingClassifier
    from sklearn.multiclass import OneVsRestClassifier

    from skpriv.linear_model import DPLogisticRegression

    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    y3 = np.arange(len(y)) % 3
    dp = DPLogisticRegression(
        epsilon=0.5, delta=0, data_norm=1.0, classes=CLASSES, random_state=0
    )
    ovr = OneVsRestClassifier(dp).fit(Xn, y3)
    vote = VotingClassifier([("a", dp), ("b", clone(dp))]).fit(Xn, y3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        assert privacy_spent(ovr).epsilon == pytest.approx(1.5)
        assert privacy_spent(vote).epsilon == pytest.approx(1.0)
    assert non_private_parts(ovr) == non_private_parts(vote) == []
