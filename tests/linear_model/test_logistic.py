"""DPLogisticRegression: API, bad input, accounting, sensitivity, noise, audit."""

import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.datasets import load_breast_cancer, load_iris, make_classification
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.accounting import make_accountant, privacy_spent, pure_epsilon
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.linear_model import _mechanisms as mech
from skpriv.utils._sklearn_compat import InvalidParameterError

# False-failure rate of every statistical test below (fixed seeds make them
# deterministic; the rate is what a fresh seed would give).
ALPHA = 1e-6


@pytest.fixture(scope="module")
def cancer():
    X, y = load_breast_cancer(return_X_y=True)
    X = Normalizer().fit_transform(StandardScaler().fit_transform(X))
    return X, y


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    X = Normalizer().fit_transform(StandardScaler().fit_transform(X))
    return X, y


# --------------------------------------------------------------------------
# API
# --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["auto", "gd", "ssp", "output"])
@pytest.mark.parametrize("dataset", ["cancer", "iris"])
def test_fit_predict_shapes(solver, dataset, request):
    X, y = request.getfixturevalue(dataset)
    clf = DPLogisticRegression(
        epsilon=5.0, data_norm=1.0, solver=solver, C=0.1, random_state=0
    ).fit(X, y)
    n_classes = np.unique(y).size
    rows = 1 if n_classes == 2 else n_classes
    assert clf.coef_.shape == (rows, X.shape[1])
    assert clf.intercept_.shape == (rows,)
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(np.exp(clf.predict_log_proba(X)), proba, atol=1e-12)
    np.testing.assert_array_equal(
        clf.predict(X), clf.classes_[np.argmax(proba, axis=1)]
    )
    assert clf.solver_ in {"gd", "ssp", "output"}
    assert clf.data_norm_ == 1.0
    assert clf.n_iter_.shape == (1,)
    assert clf.score(X, y) > 0.8


def test_accuracy_breast_cancer(cancer):
    X, y = cancer
    accs = [
        DPLogisticRegression(epsilon=1.0, data_norm=1.0, random_state=s)
        .fit(X[::2], y[::2])
        .score(X[1::2], y[1::2])
        for s in range(5)
    ]
    assert np.mean(accs) > 0.92


def test_string_labels_and_pickle(iris):
    X, y = iris
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    clf = DPLogisticRegression(epsilon=2.0, data_norm=1.0, random_state=0)
    clf.fit(X, names)
    assert list(clf.classes_) == list(
        names[np.sort(np.unique(y, return_index=True)[1])]
    )
    assert set(clf.predict(X)) <= set(names)
    clone = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(clone.predict_proba(X), clf.predict_proba(X))
    assert clone.score(X, names) == clf.score(X, names)


def test_intercept_is_learned():
    # All signal is in the intercept: 90% of labels are 1 whatever X says.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4000, 3)) * 0.1
    y = (rng.random(4000) < 0.9).astype(int)
    clf = DPLogisticRegression(epsilon=2.0, data_norm=1.0, random_state=0).fit(X, y)
    assert clf.intercept_[0] > 1.0
    no_int = DPLogisticRegression(
        epsilon=2.0, data_norm=1.0, fit_intercept=False, random_state=0
    ).fit(X, y)
    np.testing.assert_array_equal(no_int.intercept_, [0.0])


def test_grid_search_pipeline_counts_every_fit(cancer):
    X, y = load_breast_cancer(return_X_y=True)
    pipe = make_pipeline(
        StandardScaler(),
        Normalizer(),
        DPLogisticRegression(data_norm=1.0, random_state=0),
    )
    grid = {
        "dplogisticregression__epsilon": [0.5, 1.0],
        "dplogisticregression__C": [0.1, 1.0],
    }
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert search.best_score_ > 0.85
    spent = privacy_spent(search, delta=1e-5)
    # 4 candidates x 3 folds + the refit, each at most epsilon=1.
    single = privacy_spent(search.best_estimator_, delta=1e-5).epsilon
    assert single <= 1.0 + 1e-9
    assert spent.epsilon > 3 * single
    assert spent.epsilon < 13 * 1.0


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"delta": 1.0}, "delta"),
        ({"data_norm": 0.0}, "data_norm"),
        ({"data_norm": -2.0}, "data_norm"),
        ({"data_norm": "public"}, "data_norm"),
        ({"C": 0.0}, "C"),
        ({"solver": "lbfgs"}, "solver"),
        ({"max_iter": 0}, "max_iter"),
        ({"delta": 0.0, "solver": "gd"}, "delta"),
    ],
)
def test_bad_params(params, match, cancer):
    X, y = cancer
    clf = DPLogisticRegression(**{"data_norm": 1.0, **params})
    with pytest.raises((ValueError, InvalidParameterError), match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "dp_event_")


def test_bad_data(cancer):
    X, y = cancer
    clf = DPLogisticRegression(data_norm=1.0, random_state=0)
    with pytest.raises(ValueError, match="2 classes"):
        clf.fit(X, np.zeros(len(y)))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clf.fit(X_nan, y)
    X_inf = X.copy()
    X_inf[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        clf.fit(X_inf, y)
    with pytest.raises(ValueError, match="continuous"):
        clf.fit(X, X[:, 0])
    clf.fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])
    with pytest.raises(ValueError, match="not seen during fit"):
        clf.score(X, np.where(y == 1, 7, 0))


def test_data_norm_none_warns_and_private_spends(cancer):
    X, y = cancer
    X = X * 3.0  # row norms are exactly 3
    with pytest.warns(PrivacyLeakWarning, match="data_norm"):
        clf = DPLogisticRegression(random_state=0).fit(X, y)
    assert clf.data_norm_ == pytest.approx(3.0, rel=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        priv = DPLogisticRegression(
            data_norm="private", classes=[0, 1], random_state=0
        ).fit(X, y)
        pure = DPLogisticRegression(
            data_norm="private", classes=[0, 1], delta=0.0, C=0.1, random_state=0
        ).fit(X, y)
    # The 95% quantile (3.0) rounded up to a power of two.
    assert priv.data_norm_ == 4.0
    assert pure.data_norm_ == 4.0
    assert priv.get_params()["data_norm"] == "private"
    assert privacy_spent(priv, delta=1e-5).epsilon == pytest.approx(1.0, rel=1e-3)
    assert privacy_spent(pure, delta=0.0).epsilon == pytest.approx(1.0, rel=1e-9)


# --------------------------------------------------------------------------
# Accounting
# --------------------------------------------------------------------------


@pytest.mark.parametrize("epsilon", [0.1, 1.0, 8.0])
@pytest.mark.parametrize("solver", ["gd", "ssp"])
def test_spent_is_the_budget(epsilon, solver, iris):
    X, y = iris
    clf = DPLogisticRegression(
        epsilon=epsilon, data_norm=1.0, solver=solver, random_state=0
    ).fit(X, y)
    spent = privacy_spent(clf, delta=1e-5).epsilon
    # Never over budget, and no budget wasted.
    assert epsilon * 0.999 <= spent <= epsilon
    # What a search plans for this fit bounds what it recorded.
    accountant = make_accountant("pld")
    accountant.compose(clf._planned_dp_event(len(X)))
    assert accountant.get_epsilon(1e-5) >= spent - 1e-6


@pytest.mark.parametrize("solver, expected", [("auto", "ssp"), ("output", "output")])
def test_pure_dp_spends_epsilon_at_delta_zero(solver, expected, cancer):
    X, y = cancer
    clf = DPLogisticRegression(
        epsilon=0.7, delta=0.0, data_norm=1.0, solver=solver, random_state=0
    )
    clf.fit(X, y)
    assert clf.solver_ == expected
    assert privacy_spent(clf, delta=0.0).epsilon == pytest.approx(0.7, rel=1e-9)
    assert privacy_spent(clf, delta=0.0).epsilon <= 0.7 * (1 + 1e-12)
    planned = pure_epsilon(clf._planned_dp_event(len(X)))
    assert planned == pytest.approx(privacy_spent(clf, delta=0.0).epsilon)


# --------------------------------------------------------------------------
# Sensitivity: neighbouring data sets, adversarial rows at the norm bound
# --------------------------------------------------------------------------


def _neighbours(rng, n=50, d=6, k=3):
    """Data set ``Z``, targets ``Y`` and an adversarial row at the norm bound."""
    row_bound = math.sqrt(1 + mech_intercept() ** 2)
    X = rng.normal(size=(n, d))
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1.0)
    Z = np.c_[X, np.full(n, mech_intercept())]
    extra = rng.normal(size=d)
    extra /= np.linalg.norm(extra)
    z = np.r_[extra, mech_intercept()]
    assert np.linalg.norm(z) == pytest.approx(row_bound)
    y = rng.integers(0, k, size=n)
    Y = np.eye(k)[y]
    y_new = np.eye(k)[rng.integers(0, k)]
    return Z, Y, z, y_new, row_bound


def mech_intercept():
    from skpriv.linear_model._logistic import INTERCEPT_FEATURE

    return INTERCEPT_FEATURE


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("binary", [True, False])
def test_sensitivity_of_every_release(seed, binary):
    rng = np.random.default_rng(seed)
    Z, Y, z, y_new, R = _neighbours(rng, k=2 if binary else 4)
    if binary:
        Y, y_new = Y[:, 1], y_new[1]
    Z2, Y2 = np.r_[Z, z[None]], np.r_[Y, y_new[None]] if not binary else np.r_[Y, y_new]
    D = Z.shape[1]
    # Gram matrix (upper triangle): <= R^2.
    iu = np.triu_indices(D)
    diff = (Z2.T @ Z2)[iu] - (Z.T @ Z)[iu]
    assert np.linalg.norm(diff) <= R**2 + 1e-12
    # Clipped gradient sums at arbitrary weights, including extreme ones.
    G = mech.gradient_bound(R, binary, clipped=True)
    for scale in (0.0, 1.0, 100.0):
        shape = (D,) if binary else (D, Y.shape[1])
        W = rng.normal(size=shape) * scale
        diff = mech._clipped_grad(W, Z2, Y2, binary) - mech._clipped_grad(
            W, Z, Y, binary
        )
        assert np.linalg.norm(diff) <= G + 1e-12
    # Centred-target statistic Z^T t.
    T = (Y - 0.5) if binary else Y - 1.0 / Y.shape[1]
    T2 = (Y2 - 0.5) if binary else Y2 - 1.0 / Y.shape[1]
    K = 2 if binary else Y.shape[1]
    t_norm = 0.5 if binary else math.sqrt((1 - 1 / K) ** 2 + (K - 1) / K**2)
    assert np.linalg.norm(Z2.T @ T2 - Z.T @ T) <= R * t_norm + 1e-12
    # Pure-DP releases (L1): diagonal of Z^T Z and Z^T t.
    d_diag = np.einsum("ij,ij->j", Z2, Z2) - np.einsum("ij,ij->j", Z, Z)
    assert np.abs(d_diag).sum() <= R**2 + 1e-12
    t_l1 = 0.5 if binary else 2 * (1 - 1 / K)
    assert np.abs(Z2.T @ T2 - Z.T @ T).sum() <= math.sqrt(D) * R * t_l1 + 1e-12


@pytest.mark.parametrize("binary", [True, False])
def test_sensitivity_of_the_penalised_minimiser(binary):
    """Output perturbation: the exact minimiser moves by <= C G."""
    from scipy.optimize import minimize

    rng = np.random.default_rng(1)
    worst = 0.0
    for C in (0.1, 1.0, 10.0):
        Z, Y, z, y_new, R = _neighbours(rng, k=2 if binary else 3)
        if binary:
            Y, y_new = Y[:, 1], y_new[1]
        Z2 = np.r_[Z, z[None]]
        Y2 = np.r_[Y, y_new] if binary else np.r_[Y, y_new[None]]
        shape = (Z.shape[1],) if binary else (Z.shape[1], Y.shape[1])

        def solve(Zs, Ys, C=C, shape=shape):
            res = minimize(
                mech._objective,
                np.zeros(int(np.prod(shape))),
                args=(Zs, Ys, binary, C, shape),
                jac=True,
                method="L-BFGS-B",
                options={"gtol": 1e-12, "ftol": 0.0, "maxiter": 5000},
            )
            return res.x

        move = np.linalg.norm(solve(Z2, Y2) - solve(Z, Y))
        bound = C * mech.gradient_bound(R, binary)
        assert move <= bound * (1 + 1e-6)
        worst = max(worst, move / bound)
    assert worst > 0.05  # the bound is not vacuous: the adversarial row moves it


# --------------------------------------------------------------------------
# Noise: calibrated scale (statistical tests with power checks)
# --------------------------------------------------------------------------


def _ks_gaussian_release(multiplier_used, multiplier_declared, n=4000):
    rng = np.random.default_rng(123)
    values = rng.normal(size=n)
    noisy, event = mech.gaussian_release(values, 2.0, multiplier_used, rng)
    z = (noisy - values) / (2.0 * multiplier_declared)
    return stats.kstest(z, "norm").pvalue, event


def test_gaussian_release_noise_scale():
    p, event = _ks_gaussian_release(3.0, 3.0)
    assert p > ALPHA
    assert event.noise_multiplier == pytest.approx(3.0, rel=1e-3)
    # Power: noise 30% too small is detected at the same level.
    p_bad, _ = _ks_gaussian_release(3.0 * 0.7, 3.0)
    assert p_bad < ALPHA


def _output_noise_pvalue(scale_factor, monkeypatch):
    """KS test of output-perturbation noise against the declared Laplace."""
    X, y = make_classification(n_samples=200, n_features=39, random_state=0)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    base = DPLogisticRegression(
        epsilon=1e9, delta=0.0, data_norm=1.0, C=0.5, tol=1e-6, solver="output"
    )
    exact = base.set_params(random_state=0).fit(X, y).coef_.ravel()
    if scale_factor != 1.0:
        orig = mech.Laplace.from_epsilon.__func__

        def shrunk(cls, epsilon, sensitivity=1.0, *, n_dims=1):
            m = orig(cls, epsilon, sensitivity, n_dims=n_dims)
            return cls(m.scale * scale_factor)

        monkeypatch.setattr(mech.Laplace, "from_epsilon", classmethod(shrunk))
    p_coef = 40
    l2 = (1 + 2 * 1e-6) * 0.5 * mech.gradient_bound(math.sqrt(1 + 0.09), True)
    scale = math.sqrt(p_coef) * l2 / 1.0  # per-coefficient Laplace scale
    z = []
    for s in range(30):
        clf = DPLogisticRegression(
            epsilon=1.0,
            delta=0.0,
            data_norm=1.0,
            C=0.5,
            tol=1e-6,
            solver="output",
            random_state=s,
        ).fit(X, y)
        # coef_ = W / data_norm with data_norm=1: the noise itself.
        z.append((clf.coef_.ravel() - exact) / scale)
    return stats.kstest(np.concatenate(z), "laplace").pvalue


@pytest.mark.slow
def test_output_perturbation_noise_scale(monkeypatch):
    assert _output_noise_pvalue(1.0, monkeypatch) > ALPHA


@pytest.mark.slow
def test_output_perturbation_noise_scale_power(monkeypatch):
    assert _output_noise_pvalue(0.5, monkeypatch) < ALPHA


def test_many_features_use_the_diagonal_of_the_gram(monkeypatch, cancer):
    X, y = cancer
    monkeypatch.setattr(mech, "MAX_GRAM_FEATURES", 10)
    evals, evecs, trace, _ = mech.noisy_gram(
        np.c_[X, np.full(len(X), 0.3)],
        np.random.default_rng(0),
        row_bound=math.sqrt(1.09),
        noise_multiplier=1.0,
    )
    assert evecs is None and evals.shape == (X.shape[1] + 1,)
    assert np.all(evals > 0)
    clf = DPLogisticRegression(epsilon=2.0, data_norm=1.0, random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.85
    assert privacy_spent(clf, delta=1e-5).epsilon <= 2.0
    # Sensitivity of the diagonal: ||z||_4^2 <= ||z||_2^2 <= R^2.
    z = np.r_[X[0], 0.3]
    assert np.linalg.norm(z**2) <= z @ z + 1e-12


def test_output_solver_with_delta_stays_within_epsilon(cancer):
    X, y = cancer
    clf = DPLogisticRegression(
        solver="output", delta=1e-5, data_norm="private", C=0.1, random_state=0
    ).fit(X, y)
    assert clf.solver_ == "output"
    assert privacy_spent(clf, delta=0.0).epsilon == pytest.approx(1.0, rel=1e-9)
    assert privacy_spent(clf, delta=1e-5).epsilon <= 1.0


@pytest.mark.parametrize("binary", [True, False])
def test_newton_hessian_matches_finite_differences(binary):
    rng = np.random.default_rng(0)
    Z = rng.normal(size=(30, 4))
    K = 2 if binary else 3
    Y = (
        rng.integers(0, 2, 30).astype(float)
        if binary
        else np.eye(K)[rng.integers(0, K, 30)]
    )
    shape = (4,) if binary else (4, K)
    w = rng.normal(size=int(np.prod(shape)))
    H = mech._hessian(w, Z, binary, 0.7, shape)
    eps = 1e-6
    for i in range(w.size):
        e = np.zeros_like(w)
        e[i] = eps
        g_plus = mech._objective(w + e, Z, Y, binary, 0.7, shape)[1]
        g_minus = mech._objective(w - e, Z, Y, binary, 0.7, shape)[1]
        np.testing.assert_allclose(H[:, i], (g_plus - g_minus) / (2 * eps), atol=1e-6)


@settings(max_examples=12, deadline=None)
@given(
    epsilon=st.floats(0.05, 20.0),
    delta=st.sampled_from([0.0, 1e-8, 1e-5, 1e-3]),
    data_norm=st.sampled_from([1.0, "private"]),
    solver=st.sampled_from(["auto", "gd", "ssp", "output"]),
)
def test_planned_cost_never_overshoots(epsilon, delta, data_norm, solver):
    """What a fit plans to spend is at most its budget (hypothesis property)."""
    clf = DPLogisticRegression(
        epsilon=epsilon, delta=delta, data_norm=data_norm, solver=solver
    )
    if delta == 0 and solver in ("gd", "ssp"):
        return
    event = clf._planned_dp_event(100)
    if delta == 0 or solver == "output":
        assert pure_epsilon(event) <= epsilon * (1 + 1e-12)
        return
    accountant = make_accountant("pld")
    accountant.compose(event)
    assert accountant.get_epsilon(delta) <= epsilon


def test_pandas_feature_names(cancer):
    pd = pytest.importorskip("pandas")
    X, y = cancer
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    clf = DPLogisticRegression(data_norm=1.0, random_state=0).fit(frame, y)
    assert list(clf.feature_names_in_) == list(frame.columns)
    with pytest.warns(UserWarning, match="feature names"):
        np.testing.assert_array_equal(clf.predict(frame), clf.predict(X))


def test_sample_weight_is_refused_clearly(cancer):
    # fit(X, y, sample_weight=w) failed with "_fit() got an unexpected
    # keyword argument", naming a private method.
    X, y = cancer
    clf = DPLogisticRegression(data_norm=1.0, random_state=0)
    with pytest.raises(TypeError, match=r"DPLogisticRegression.fit .*sample_weight"):
        clf.fit(X, y, sample_weight=np.ones(len(y)))
    assert not hasattr(clf, "dp_event_")


def test_all_zero_rows_fit_without_runtime_warnings(cancer):
    # A row of zeros (e.g. an empty one-hot or bag-of-words row) raised
    # "RuntimeWarning: overflow encountered in divide" at every fit.
    X, y = cancer
    X = X.copy()
    X[:5] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # Any data_norm above 1 overflows max_norm / tiny.
        clf = DPLogisticRegression(data_norm=10.0, random_state=0).fit(X, y)
    assert np.all(np.isfinite(clf.coef_))
