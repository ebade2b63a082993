import math
import warnings

import dp_accounting
import numpy as np
import pytest
import sklearn
from sklearn.base import clone, is_classifier
from sklearn.datasets import make_classification, make_regression
from sklearn.linear_model import (
    LogisticRegression,
    Perceptron,
    Ridge,
    SGDClassifier,
    SGDRegressor,
)
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from skpriv.accounting import privacy_spent
from skpriv.federated import (
    FederatedClassifier,
    FederatedRegressor,
    ParameterAdapter,
    register_adapter,
)
from skpriv.federated._adapters import _REGISTRY, LinearPartialFitAdapter
from skpriv.federated._partition import partition_dirichlet, partition_iid


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=3000, n_features=10, n_informative=6, n_classes=3, random_state=0
    )
    return StandardScaler().fit_transform(X), y


# -------------------------------------------------------------- equivalence
def test_one_client_one_round_equals_central_sgd(data):
    X, y = data
    base = SGDClassifier(shuffle=False, random_state=0)
    fed = FederatedClassifier(base, n_rounds=1, random_state=0)
    with pytest.warns(UserWarning, match="one client"):
        fed.fit(X, y, clients=np.zeros(len(y)))
    central = clone(base).partial_fit(X, y, classes=np.unique(y))
    # Equal up to floating-point rounding (the average is g + (local - g)).
    np.testing.assert_allclose(fed.estimator_.coef_, central.coef_, rtol=1e-12)
    np.testing.assert_allclose(
        fed.estimator_.intercept_, central.intercept_, rtol=1e-12
    )
    np.testing.assert_array_equal(fed.predict(X), central.predict(X))


@pytest.mark.parametrize(
    "base", [LogisticRegression(max_iter=200), Ridge(alpha=1.0)], ids=str
)
def test_one_client_one_round_equals_central_fit(data, base):
    X, y = data
    Fed = FederatedClassifier
    if not is_classifier(base):
        Fed = FederatedRegressor
        y = X @ np.arange(X.shape[1]) + 0.5
    fed = Fed(base, n_rounds=1, random_state=0)
    with pytest.warns(UserWarning, match="one client"):
        fed.fit(X, y, clients=np.zeros(len(y)))
    central = clone(base).fit(X, y)
    np.testing.assert_allclose(fed.estimator_.coef_, central.coef_, rtol=1e-6)
    np.testing.assert_allclose(fed.estimator_.intercept_, central.intercept_, atol=1e-8)


def test_iid_fedavg_reaches_central_accuracy(data):
    X, y = data
    central = SGDClassifier(random_state=0, max_iter=20, tol=None).fit(X, y)
    fed = FederatedClassifier(
        SGDClassifier(), n_rounds=20, n_clients=10, random_state=0
    ).fit(X, y)
    assert fed.score(X, y) >= central.score(X, y) - 0.02
    assert fed.n_rounds_ == 20 and len(fed.history_) == 20
    assert fed.history_[-1]["score"] == pytest.approx(fed.score(X, y))
    assert list(fed.classes_) == [0, 1, 2]


def test_regressor_and_fedadam():
    X, y = make_regression(n_samples=1000, n_features=5, noise=1.0, random_state=0)
    y = y / y.std()
    for agg in ("fedavg", "fedadam", "fedyogi"):
        fed = FederatedRegressor(
            SGDRegressor(), n_rounds=20, aggregation=agg, random_state=0
        ).fit(X, y)
        assert fed.score(X, y) > 0.95, agg


def test_mlp_and_labels_missing_from_clients(data):
    X, y = data
    central = LogisticRegression().fit(X, y).score(X, y)
    mlp = FederatedClassifier(
        MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01),
        n_rounds=10,
        local_epochs=2,
        n_clients=4,
        random_state=0,
    ).fit(X, y)
    assert mlp.predict_proba(X).shape == (len(y), 3)
    assert mlp.score(X, y) > central - 0.05
    # Dirichlet(0.3) label skew; LogisticRegression clients that lack classes
    # are padded with zero-weight rows so they fit the full class set.
    fed = FederatedClassifier(
        LogisticRegression(),
        n_rounds=5,
        n_clients=6,
        partition="dirichlet",
        dirichlet_alpha=0.3,
        random_state=0,
    ).fit(X, y)
    assert fed.score(X, y) > central - 0.1
    single = FederatedClassifier(LogisticRegression(), n_rounds=1).fit(
        X, y, clients=y
    )  # each client holds one class only
    assert single.estimator_.coef_.shape == (3, X.shape[1])
    # A round where a class is absent from every sampled client still works.
    clients = y  # client k holds only class k
    fed = FederatedClassifier(
        SGDClassifier(), n_rounds=3, client_fraction=0.5, random_state=1
    ).fit(X, y, clients=clients)
    assert set(np.unique(fed.predict(X))) <= {0, 1, 2}


@pytest.mark.slow
def test_string_labels_and_reproducible_n_jobs(data):
    X, y = data
    labels = np.array(["a", "b", "c"])[y]
    kw = dict(n_rounds=3, n_clients=4, client_fraction=0.7, random_state=3)
    # Perceptron takes the partial_fit path, which n_jobs parallelizes.
    one = FederatedClassifier(Perceptron(), **kw).fit(X, labels)
    two = FederatedClassifier(Perceptron(), n_jobs=2, **kw).fit(X, labels)
    np.testing.assert_array_equal(one.estimator_.coef_, two.estimator_.coef_)
    # The vectorized SGD engine agrees with itself across n_jobs too.
    sgd = FederatedClassifier(SGDClassifier(), n_jobs=2, **kw).fit(X, labels)
    assert sgd.score(X, labels) > 0.5
    assert set(one.predict(X)) <= {"a", "b", "c"}


def test_partitions():
    rng = np.random.default_rng(0)
    parts = partition_iid(103, 10, rng)
    assert sorted(np.concatenate(parts).tolist()) == list(range(103))
    assert {len(p) for p in parts} <= {10, 11}
    y = np.repeat(np.arange(5), 200)
    parts = partition_dirichlet(y, 20, 0.1, rng)
    assert sorted(np.concatenate(parts).tolist()) == list(range(1000))
    assert min(len(p) for p in parts) >= 1
    # Label skew: with alpha=0.1 most clients are dominated by one class.
    top = [np.bincount(y[p], minlength=5).max() / len(p) for p in parts]
    assert np.median(top) > 0.6
    iid_top = [
        np.bincount(y[p], minlength=5).max() / len(p)
        for p in partition_iid(1000, 20, rng)
    ]
    assert np.median(iid_top) < 0.45


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    "params, match",
    [
        ({"client_fraction": 0.0}, "client_fraction"),
        ({"client_fraction": 1.5}, "client_fraction"),
        ({"clip_norm": 0.0}, "clip_norm"),
        ({"clip_norm": -1.0}, "clip_norm"),
        ({"noise_multiplier": 1.0}, "clip_norm"),
        ({"epsilon": 1.0}, "clip_norm"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"n_clients": 1000}, "n_clients"),
        ({"secure_aggregation": True, "n_clients": 2}, "at least 3 clients"),
        ({"proximal_mu": 0.1}, "proximal_mu"),
        ({"aggregation": "median"}, "aggregation"),
    ],
)
def test_bad_parameters(data, params, match):
    X, y = data
    with pytest.raises(ValueError, match=match):
        FederatedClassifier(**params).fit(X[:500], y[:500])


def test_bad_inputs(data):
    X, y = data
    with pytest.raises(TypeError, match="No federated parameter adapter.*register"):
        FederatedClassifier(KNeighborsClassifier()).fit(X, y)
    with pytest.raises(ValueError, match="2 classes"):
        FederatedClassifier().fit(X, np.zeros(len(y)))
    with pytest.raises(ValueError, match="clients"):
        FederatedClassifier().fit(X, y, clients=np.zeros(5))
    with pytest.raises(ValueError, match="at least 3 clients"):
        FederatedClassifier(secure_aggregation=True).fit(X, y, clients=y % 2)
    with pytest.raises(ValueError, match="NaN"):
        FederatedClassifier().fit(np.where(X > 2, np.nan, X), y)


def test_register_adapter():
    class MySGD(SGDClassifier):
        pass

    X, y = make_classification(n_samples=200, random_state=0)
    with pytest.raises(TypeError, match="ParameterAdapter"):
        register_adapter(MySGD, object())
    calls = []

    class Counting(LinearPartialFitAdapter):
        def local_fit(self, estimator, X, y, **kw):
            calls.append(len(y))
            return super().local_fit(estimator, X, y, **kw)

    register_adapter(MySGD, Counting)
    try:
        FederatedClassifier(MySGD(), n_rounds=2, n_clients=4, random_state=0).fit(X, y)
    finally:
        _REGISTRY.pop(0)
    assert sum(calls) == 2 * 200 and len(calls) == 8
    assert issubclass(Counting, ParameterAdapter)


# ----------------------------------------------------------------- privacy
def test_updates_are_clipped():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 3))
    y = X @ np.array([1.0, 2.0, -1.0])
    clients = np.repeat(np.arange(4), 100)
    y[clients == 0] *= 1e4  # one client with a huge update
    fed = FederatedRegressor(
        SGDRegressor(learning_rate="constant", eta0=1e-3),
        n_rounds=1,
        clip_norm=0.5,
        random_state=0,
    ).fit(X, y, clients=clients)
    w = np.r_[fed.estimator_.coef_, fed.estimator_.intercept_]
    assert np.linalg.norm(w) <= 0.5 + 1e-12
    assert fed.history_[0]["clipped"] >= 1
    # Without clipping the huge client dominates.
    raw = FederatedRegressor(
        SGDRegressor(learning_rate="constant", eta0=1e-3), n_rounds=1, random_state=0
    ).fit(X, y, clients=clients)
    assert np.linalg.norm(raw.estimator_.coef_) > 100


@pytest.mark.slow
def test_client_level_epsilon_matches_independent_accountant(data):
    X, y = data
    fed = FederatedClassifier(
        n_rounds=8,
        n_clients=50,
        client_fraction=0.2,
        clip_norm=1.0,
        noise_multiplier=1.1,
        delta=1e-5,
        random_state=0,
    ).fit(X, y)
    # dp-accounting's RDP accountant: an independent upper bound close to PLD.
    acc = dp_accounting.rdp.RdpAccountant()
    acc.compose(
        dp_accounting.SelfComposedDpEvent(
            dp_accounting.PoissonSampledDpEvent(
                0.2, dp_accounting.GaussianDpEvent(1.1)
            ),
            8,
        )
    )
    rdp_eps = acc.get_epsilon(1e-5)
    assert fed.epsilon_ <= rdp_eps * 1.001
    assert fed.epsilon_ >= 0.7 * rdp_eps
    # Opacus' PRV accountant (numerical composition like PLD): close agreement.
    from opacus.accountants import PRVAccountant

    prv = PRVAccountant()
    prv.history = [(1.1, 0.2, 8)]
    assert fed.epsilon_ == pytest.approx(prv.get_epsilon(1e-5), rel=0.05)
    assert privacy_spent(fed, delta=1e-5).epsilon == pytest.approx(fed.epsilon_)
    assert "score" not in fed.history_[0]  # exact scores are not private


def test_epsilon_target_calibrates_noise(data):
    X, y = data
    fed = FederatedClassifier(
        n_rounds=5,
        n_clients=30,
        client_fraction=0.5,
        clip_norm=1.0,
        epsilon=3.0,
        random_state=0,
    ).fit(X, y)
    # Calibrated with RDP (never overshoots); PLD reports a slightly lower value.
    assert 2.5 <= fed.epsilon_ <= 3.0
    assert fed.noise_multiplier_ > 0 and fed.noise_multiplier == 0.0
    more = clone(fed).set_params(epsilon=8.0).fit(X, y)
    assert more.noise_multiplier_ < fed.noise_multiplier_


def test_non_private_fit_spends_infinite_epsilon(data):
    X, y = data
    fed = FederatedClassifier(n_rounds=2, random_state=0).fit(X, y)
    assert isinstance(fed.dp_event_, dp_accounting.NonPrivateDpEvent)
    assert not hasattr(fed, "epsilon_")
    assert math.isinf(privacy_spent(fed, delta=1e-5).epsilon)
    assert math.isinf(privacy_spent(fed, delta=1e-5, accountant="rdp").epsilon)
    assert math.isinf(privacy_spent(fed, delta=0.0).epsilon)


def test_dp_noise_scales_with_noise_multiplier(data):
    X, y = data
    spread = []
    for nm in (0.01, 10.0):
        coefs = [
            FederatedClassifier(
                n_rounds=2,
                n_clients=20,
                clip_norm=1.0,
                noise_multiplier=nm,
                random_state=s,
            )
            .fit(X, y)
            .estimator_.coef_
            for s in range(3)
        ]
        spread.append(np.std(np.stack(coefs), axis=0).mean())
    assert spread[1] > 10 * spread[0]


def test_secure_aggregation_equals_plain_fedavg(data):
    X, y = data
    kw = dict(n_rounds=3, n_clients=8, random_state=0)
    plain = FederatedClassifier(SGDClassifier(), **kw).fit(X, y)
    secure = FederatedClassifier(SGDClassifier(), secure_aggregation=True, **kw).fit(
        X, y
    )
    # Fixed point with 24 fractional bits: per-round error <= 8 * 2**-25.
    np.testing.assert_allclose(
        secure.estimator_.coef_, plain.estimator_.coef_, atol=1e-5
    )
    # Client sampling: a different subset of clients each round (each keeps
    # its long-term key by id); same result as without secure aggregation.
    kw_sampled = dict(kw, client_fraction=0.6)
    plain = FederatedClassifier(SGDClassifier(), **kw_sampled).fit(X, y)
    secure = FederatedClassifier(
        SGDClassifier(), secure_aggregation=True, **kw_sampled
    ).fit(X, y)
    assert [h["n_clients"] for h in secure.history_] == [
        h["n_clients"] for h in plain.history_
    ]
    np.testing.assert_allclose(
        secure.estimator_.coef_, plain.estimator_.coef_, atol=1e-5
    )
    dp = FederatedClassifier(
        SGDClassifier(),
        secure_aggregation=True,
        clip_norm=1.0,
        noise_multiplier=0.5,
        **kw,
    ).fit(X, y)
    assert math.isfinite(dp.epsilon_)


# ------------------------------------------------------------- sklearn glue
def test_pipeline_routes_clients(data):
    X, y = data
    clients = np.arange(len(y)) % 7
    with sklearn.config_context(enable_metadata_routing=True):
        fed = FederatedClassifier(n_rounds=3, random_state=0).set_fit_request(
            clients=True
        )
        pipe = make_pipeline(StandardScaler(), fed).fit(X, y, clients=clients)
        assert pipe[-1].n_clients_ == 7
        np.testing.assert_array_equal(pipe[-1].client_ids_, np.arange(7))


def test_grid_search_with_group_kfold_on_clients(data):
    X, y = data
    clients = np.arange(len(y)) % 6
    with sklearn.config_context(enable_metadata_routing=True):
        fed = FederatedClassifier(n_rounds=2, random_state=0).set_fit_request(
            clients=True
        )
        search = GridSearchCV(
            fed, {"local_epochs": [1, 2]}, cv=GroupKFold(n_splits=3)
        ).fit(X, y, groups=clients, clients=clients)
    # Each training fold holds the rows of 4 of the 6 clients.
    assert search.best_estimator_.n_clients_ == 6
    assert len(search.cv_results_["params"]) == 2
    assert math.isinf(privacy_spent(search, delta=1e-5).epsilon)


def test_verbose_prints_rounds(data, capsys):
    X, y = data
    FederatedClassifier(n_rounds=2, verbose=1, random_state=0).fit(X, y)
    out = capsys.readouterr().out
    assert "round 1/2" in out and "round 2/2" in out


def test_no_warning_with_many_clients(data):
    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        FederatedClassifier(n_rounds=1, random_state=0).fit(X, y)


@pytest.mark.parametrize(
    "est, target, atol",
    [
        (SGDClassifier(shuffle=False), "multi", 1e-10),
        (
            SGDClassifier(
                shuffle=False, loss="log_loss", learning_rate="invscaling", eta0=0.01
            ),
            "multi",
            1e-10,
        ),
        # A margin exactly at a branch point can flip after rounding: looser.
        (SGDClassifier(shuffle=False, loss="modified_huber"), "binary", 1e-4),
        (
            SGDClassifier(shuffle=False, loss="squared_hinge", penalty=None),
            "binary",
            1e-10,
        ),
        (SGDRegressor(shuffle=False), "reg", 1e-10),
        (SGDRegressor(shuffle=False, loss="huber", penalty=None), "reg", 1e-10),
    ],
    ids=str,
)
@pytest.mark.parametrize("engine", ["choice", "native", "vectorized"])
def test_vectorized_sgd_matches_partial_fit(est, target, atol, engine, monkeypatch):
    from skpriv.federated import _fastsgd
    from skpriv.federated._adapters import get_adapter
    from skpriv.federated._base import _train_clients

    if engine == "native":
        if not _fastsgd._native_ok():
            pytest.skip(
                "scikit-learn's compiled SGD differs here (the probe refuses it)"
            )
        monkeypatch.setattr(_fastsgd, "_train_vectorized", _fastsgd._train_native)
    elif engine == "vectorized":
        monkeypatch.setattr(_fastsgd, "_train_native", _fastsgd._train_vectorized)

    X, y = make_classification(
        n_samples=700, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    classes = np.unique(y)
    if target == "binary":
        y, classes = y % 2, np.array([0, 1])
    elif target == "reg":
        y, classes = X @ np.arange(6) / 6, None
    adapter = get_adapter(est)
    glob = adapter.initialize(clone(est), 6, classes, np.random.default_rng(0))
    glob.coef_ = glob.coef_ + 0.1
    glob.t_ = 5.0
    jobs = [(X[i::7], y[i::7], i) for i in range(7)]  # unequal client sizes
    slow = _train_clients(adapter, glob, jobs, classes, 2, 0.0)
    fast = adapter.train_many(glob, jobs, classes, 2, 0.0)
    for (ws, aux_s, _), (wf, aux_f, _) in zip(slow, fast):
        np.testing.assert_allclose(wf, ws, atol=atol)
        assert aux_s["t_"] == aux_f["t_"]
    # Configurations outside the engine fall back to partial_fit.
    assert (
        adapter.train_many(clone(glob).set_params(penalty="l1"), jobs, classes, 1, 0.0)
        is None
    )


def test_fast_sgd_picks_the_cheaper_engine(monkeypatch):
    # Issue 20: 4 clients x 4,000 rows took 0.4 s a round in the vectorized
    # engine (one Python step per row); few large clients go through
    # scikit-learn's compiled SGD, many small ones through the vectorized one.
    from skpriv.federated import _fastsgd

    if not _fastsgd._native_ok():
        pytest.skip("scikit-learn's compiled SGD differs here (the probe refuses it)")

    calls = []
    for name in ("_train_native", "_train_vectorized"):
        real = getattr(_fastsgd, name)

        def spy(*args, _real=real, _name=name):
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(_fastsgd, name, spy)
    rng = np.random.default_rng(0)
    est = SGDClassifier().partial_fit(np.zeros((3, 20)), [0, 1, 2], classes=[0, 1, 2])
    big = [(rng.normal(size=(4000, 20)), rng.integers(0, 3, 4000), i) for i in range(4)]
    small = [(rng.normal(size=(8, 20)), rng.integers(0, 3, 8), i) for i in range(300)]
    _fastsgd.train_many(est, big, np.arange(3), 1)
    _fastsgd.train_many(est, small, np.arange(3), 1)
    assert calls == ["_train_native", "_train_vectorized"]


def test_native_probe_rejects_a_changed_sgd(monkeypatch):
    # A private scikit-learn function that no longer behaves as partial_fit
    # (here: the learning rate ignored) is not used.
    from skpriv.federated import _fastsgd

    real = _fastsgd._native_parts()
    assert real is not None

    def broken(**kw):
        return real[0](**{**kw, "eta0": kw["eta0"] * 1.1, "learning_rate": 1})

    monkeypatch.setattr(_fastsgd, "_NATIVE", {"parts": (broken, *real[1:])})
    assert not _fastsgd._native_ok()


def test_flower_module_names_the_extra_when_flwr_is_missing():
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['flwr'] = None\n"
        "try:\n"
        "    import skpriv.federated.flower\n"
        "except ImportError as exc:\n"
        "    assert 'skpriv[federated]' in str(exc), exc\n"
        "else:\n"
        "    raise SystemExit('no ImportError')\n"
        "import skpriv.federated  # the core package never needs flwr\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_dp_noise_has_the_stated_scale():
    """Global update = N(0, (nm * C / (q K))^2) per coordinate when clients
    send zero updates. Two-sided chi-square test of the sample variance over
    4000 coordinates at a false-failure rate of 1e-6; power check: the same
    test rejects noise mis-scaled by 10%."""
    from scipy import stats
    from sklearn.base import BaseEstimator, RegressorMixin

    from skpriv.federated._adapters import LinearWarmStartAdapter

    class Frozen(RegressorMixin, BaseEstimator):
        def fit(self, X, y):
            self.coef_ = np.zeros(X.shape[1])
            self.intercept_ = 0.0
            return self

        def predict(self, X):
            return X @ self.coef_ + self.intercept_

    class NoTraining(LinearWarmStartAdapter):
        def local_fit(self, estimator, X, y, **kw):
            return {}  # a client whose update is exactly zero

    register_adapter(Frozen, NoTraining)
    try:
        d, K, nm, C = 4000, 20, 2.0, 0.5
        X = np.zeros((K * 2, d))
        fed = FederatedRegressor(
            Frozen(),
            n_rounds=1,
            n_clients=K,
            clip_norm=C,
            noise_multiplier=nm,
            random_state=0,
        ).fit(X, np.zeros(len(X)))
    finally:
        _REGISTRY.pop(0)
    w = np.r_[fed.estimator_.coef_, fed.estimator_.intercept_]
    n = w.size

    def consistent(sigma):
        stat = np.sum(w**2) / sigma**2  # chi-square with n degrees of freedom
        lo, hi = stats.chi2.ppf([0.5e-6, 1 - 0.5e-6], n)
        return lo < stat < hi

    sigma = nm * C / K  # client_fraction = 1: denominator q K = K
    assert consistent(sigma)
    assert not consistent(1.1 * sigma) and not consistent(sigma / 1.1)
