"""DPKMeans: checks, golden plan, privacy loss, properties."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

import skpriv.cluster._kmeans as kmeans_module
from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.cluster import DPKMeans
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.utils.estimator_checks import parametrize_with_checks
from tests.naive_bayes._loss import loss_lower_bound, record_releases

X_BLOBS, _ = make_blobs(5000, n_features=4, centers=5, random_state=0)
BOUNDS = (np.floor(X_BLOBS.min(0)), np.ceil(X_BLOBS.max(0)))


# labels_ (compute_labels=True) is what scikit-learn's clusterer checks read.
@parametrize_with_checks([DPKMeans(compute_labels=True, random_state=0)])
def test_sklearn_and_privacy_checks(estimator, check):
    check(estimator)


def test_golden_plan():
    plan = DPKMeans(5, epsilon=1.0)._plan(3750, 4)
    # m = (3750 * 0.5 / 10) ** (2 / 6) = 5.72 -> 5 cells per dimension.
    assert plan["grid"] == 5 and plan["n_steps"] == 1
    assert plan["init_eps"] == pytest.approx(0.5)
    assert plan["count_eps"] == pytest.approx(0.5 / 3)  # 1 / (1 + sqrt(4))
    assert plan["sum_eps"] == pytest.approx(0.5 * 2 / 3)
    wide = DPKMeans(5, epsilon=1.0)._plan(3750, 50)  # no grid: sphere start
    assert wide["grid"] == 0 and wide["init_eps"] == 0 and wide["n_steps"] == 5
    for p in (plan, wide):
        assert epsilon_of(DPKMeans._plan_event(p), 0.0) == pytest.approx(1.0)


def test_golden_noise_and_accounting(monkeypatch):
    calls = record_releases(monkeypatch, kmeans_module, "DiscreteLaplace", "Laplace")
    km = DPKMeans(5, epsilon=1.0, bounds=BOUNDS, random_state=0).fit(X_BLOBS)
    (grid, cells), (sizes, counts), (sums, _) = calls
    assert grid.scale == pytest.approx(2.0) and cells.size == 6**4
    assert cells.sum() == counts.sum() == X_BLOBS.shape[0]
    assert sizes.scale == pytest.approx(3 / 0.5)
    assert sums.scale == pytest.approx((2 + 4 * sums.granularity) / (0.5 * 2 / 3))
    spent = privacy_spent(km)
    assert spent.epsilon == pytest.approx(1.0) and not spent.uncovered
    assert km.init_ == "grid" and km.n_iter_ == 1


def test_inertia_close_to_scikit_learn():
    km = DPKMeans(5, epsilon=1.0, bounds=BOUNDS, random_state=0).fit(X_BLOBS)
    ref = KMeans(5, random_state=0).fit(X_BLOBS)
    assert -km.score(X_BLOBS) < 1.5 * ref.inertia_


def _neighbour_releases(monkeypatch):
    # One feature on [0, 1], one cluster, no grid (max_iter forces steps):
    # the added row at x = 1 (z = 1/2) moves the count by 1 and the sum by 1/2.
    calls = record_releases(monkeypatch, kmeans_module, "DiscreteLaplace", "Laplace")
    est = DPKMeans(1, epsilon=1.0, bounds=(0, 1), max_iter=1, random_state=0)
    X = np.full((5, 1), 0.5)
    est.fit(X)
    est.fit(np.vstack([X, [[1.0]]]))
    steps = [c for c in calls if c[1].size == 1 or c[1].shape == (1, 1)]
    assert len(steps) == 4, "start grid is too small for one feature here"
    return steps[:2], steps[2:], est._plan(5, 1)


def test_empirical_privacy_loss_within_each_share(monkeypatch):
    first, second, plan = _neighbour_releases(monkeypatch)
    rng = np.random.default_rng(7)
    for (mech, a), (_, b), key in zip(first, second, ("count_eps", "sum_eps")):
        assert loss_lower_bound(mech, a, b, rng) <= plan[key]


def test_empirical_privacy_loss_test_has_power(monkeypatch):
    first, second, plan = _neighbour_releases(monkeypatch)
    (mech, a), (_, b) = first[1], second[1]
    lb = loss_lower_bound(mech, a, b, np.random.default_rng(7), scale_factor=0.9)
    assert lb > plan["sum_eps"]


def test_labels_only_on_request_and_named():
    km = DPKMeans(3, bounds=BOUNDS, random_state=0).fit(X_BLOBS)
    assert not hasattr(km, "labels_")
    np.testing.assert_array_equal(km.fit_predict(X_BLOBS), km.predict(X_BLOBS))
    km = DPKMeans(3, bounds=BOUNDS, compute_labels=True, random_state=0).fit(X_BLOBS)
    with pytest.warns(PrivacyLeakWarning):
        named = {u.attribute for u in privacy_spent(km).uncovered}
    assert named == {"labels_", "inertia_"}


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": 0}, "epsilon"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"n_clusters": 50}, "n_clusters"),
        ({"max_iter": -1}, "max_iter"),
        ({"bounds": (2, 1)}, "bounds"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            DPKMeans(**{"n_clusters": 2, **params}).fit(np.eye(5))


def test_bad_data():
    with pytest.raises(ValueError, match="NaN|infinity"):
        DPKMeans(2, bounds=(0, 1)).fit([[np.nan], [0.0], [1.0]])


def test_pipeline_and_search():
    pipe = make_pipeline(
        FunctionTransformer(), DPKMeans(5, bounds=BOUNDS, random_state=0)
    )
    assert privacy_spent(pipe.fit(X_BLOBS)).epsilon == pytest.approx(1.0)
    search = GridSearchCV(pipe, {"dpkmeans__epsilon": [0.5, 1.0]}, cv=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        spent = privacy_spent(search.fit(X_BLOBS))
    assert spent.epsilon >= 2 * (0.5 + 1.0) - 1e-9


@settings(max_examples=20, deadline=None)
@given(
    n=st.integers(3, 60),
    d=st.integers(1, 6),
    k=st.integers(1, 3),
    epsilon=st.floats(0.01, 100),
    max_iter=st.one_of(st.none(), st.integers(1, 4)),
    seed=st.integers(0, 2**16),
)
def test_properties(n, d, k, epsilon, max_iter, seed):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-3, 3, (n, d))
    km = DPKMeans(
        k, epsilon=epsilon, bounds=(-1, 2), max_iter=max_iter, random_state=seed
    ).fit(X)
    assert km.cluster_centers_.shape == (k, d)
    assert np.all((km.cluster_centers_ >= -1) & (km.cluster_centers_ <= 2))
    assert set(km.predict(X)) <= set(range(k))
    assert privacy_spent(km).epsilon == pytest.approx(epsilon, rel=1e-9)
