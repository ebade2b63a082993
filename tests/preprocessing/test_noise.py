import math
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from skpriv.accounting import gaussian_sigma, privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.mechanisms import grid_granularity
from skpriv.preprocessing import GaussianNoise, LaplaceNoise

from ..mechanisms._stats import assert_mean_matches, epsilon_lower_bound

NOISES = [LaplaceNoise, GaussianNoise]


def _X(n=50, d=3, seed=0):
    return np.random.default_rng(seed).uniform(0, 1, size=(n, d))


# ------------------------------------------------------------- calibration


def test_laplace_scale_is_d_times_width_over_epsilon():
    bounds = ([0.0, -1.0, 10.0], [1.0, 1.0, 14.0])
    est = LaplaceNoise(epsilon=0.5, bounds=bounds, random_state=0).fit(_X())
    widths = np.array([1.0, 2.0, 4.0])
    nominal = 3 * widths / 0.5
    gran = np.array([grid_granularity(s) for s in nominal])
    np.testing.assert_allclose(est.granularity_, gran)
    np.testing.assert_allclose(est.scale_, 3 * (widths + gran) / 0.5, rtol=1e-14)
    assert np.all(est.scale_ > nominal)
    assert privacy_spent(est, delta=0.0).epsilon == pytest.approx(0.5, rel=1e-9)
    # Under (epsilon, delta) the three independent releases cost less.
    assert privacy_spent(est, delta=1e-6).epsilon <= 0.5 + 1e-3


def test_gaussian_sigma_is_analytic_on_the_l2_width():
    bounds = ([0.0, 0.0], [3.0, 4.0])
    est = GaussianNoise(epsilon=2.0, delta=1e-6, bounds=bounds).fit(_X(d=2))
    sens = 5.0 + math.sqrt(2) * est.granularity_
    assert est.sigma_ == pytest.approx(gaussian_sigma(2.0, 1e-6, sens), rel=1e-12)
    assert privacy_spent(est, delta=1e-6).epsilon == pytest.approx(2.0, rel=1e-2)


# ------------------------------------------------- statistical (1e-6 each)

M = 400_000


def _laplace_noise_ok(est, expected_scale):
    Xt = est.fit_transform(np.full((M, 2), 0.5))
    for j in range(2):
        # |Laplace(b)| is exponential(b): mean b, sd b.
        assert_mean_matches(
            np.abs(Xt[:, j] - 0.5), expected_scale[j], expected_scale[j], "mean"
        )


def test_laplace_noise_scale_matches_theory():
    est = LaplaceNoise(epsilon=1.0, bounds=([0, 0], [1, 3]), random_state=1)
    _laplace_noise_ok(est, [2.0, 6.0])


def test_laplace_noise_scale_test_has_power():
    # A transformer with 10% too little noise fails.
    est = LaplaceNoise(epsilon=1.0 / 0.9, bounds=([0, 0], [1, 3]), random_state=1)
    with pytest.raises(AssertionError, match="mean"):
        _laplace_noise_ok(est, [2.0, 6.0])


def _gaussian_noise_ok(est, sigma):
    Xt = est.fit_transform(np.zeros((M, 2)))
    sq = (Xt**2).ravel()
    assert_mean_matches(sq, sigma**2, math.sqrt(2) * sigma**2, "variance")


def test_gaussian_noise_sigma_matches_theory():
    sigma = gaussian_sigma(1.0, 1e-5, math.sqrt(2.0))
    _gaussian_noise_ok(GaussianNoise(bounds=(0, 1), random_state=2), sigma)


def test_gaussian_noise_sigma_test_has_power():
    sigma = gaussian_sigma(1.0, 1e-5, math.sqrt(2.0))
    est = GaussianNoise(epsilon=1.0 / 0.9, bounds=(0, 1), random_state=2)
    with pytest.raises(AssertionError, match="variance"):
        _gaussian_noise_ok(est, sigma)


def _loss_lower_bound(est, n=1_000_000):
    # Feature 0 of x = lower vs x = upper (feature 1 fixed); with the budget
    # split over d = 2 features, S = {output_0 <= lower} has likelihood ratio
    # exactly e^(epsilon / 2).
    lo = est.fit_transform(np.zeros((n, 2)))[:, 0] <= 0.0
    hi = est.transform(np.column_stack([np.ones(n), np.zeros(n)]))[:, 0] <= 0.0
    return epsilon_lower_bound(int(lo.sum()), int(hi.sum()), n)


def test_laplace_noise_empirical_privacy_loss():
    est = LaplaceNoise(epsilon=2.0, bounds=(0, 1), random_state=3)
    assert _loss_lower_bound(est) <= 1.0


def test_laplace_noise_privacy_loss_test_has_power():
    class Broken(LaplaceNoise):
        def _calibrate(self, mechs, event):
            super()._calibrate(mechs, event)
            self.scale_ = self.scale_ * 0.9  # 10% too little noise

    est = Broken(epsilon=2.0, bounds=(0, 1), random_state=3)
    assert _loss_lower_bound(est) > 1.0


# ------------------------------------------------------------- behaviour


@pytest.mark.parametrize("cls", NOISES)
def test_bounds_none_warns_and_is_not_written_back(cls):
    X = _X() * 4 - 1
    est = cls(random_state=0)
    with pytest.warns(PrivacyLeakWarning, match="bounds"):
        est.fit(X)
    assert est.bounds is None
    np.testing.assert_allclose(est.bounds_[0], X.min(0))
    np.testing.assert_allclose(est.bounds_[1], X.max(0))


@pytest.mark.parametrize("cls", NOISES)
def test_values_outside_bounds_are_clipped_not_rejected(cls):
    est = cls(epsilon=1e9, bounds=(0, 1), random_state=0)
    Xt = est.fit(_X()).transform(np.array([[-1e6, 0.5, 1e6]]))
    np.testing.assert_allclose(Xt, [[0.0, 0.5, 1.0]], atol=1e-3)


@pytest.mark.parametrize("cls", NOISES)
def test_clip_output(cls):
    est = cls(epsilon=0.1, bounds=(0, 1), clip_output=True, random_state=0)
    Xt = est.fit_transform(_X(500))
    assert Xt.min() >= 0.0 and Xt.max() <= 1.0
    assert np.any(Xt == 0.0) and np.any(Xt == 1.0)
    raw = clone(est).set_params(clip_output=False).fit_transform(_X(500))
    assert raw.min() < 0.0 and raw.max() > 1.0  # unbiased by default


@pytest.mark.parametrize("cls", NOISES)
def test_fresh_noise_per_call_reproducible_per_fit(cls):
    X = _X()
    est = cls(bounds=(0, 1), random_state=0).fit(X)
    first, second = est.transform(X), est.transform(X)
    assert not np.array_equal(first, second)
    again = clone(est).fit(X)
    np.testing.assert_array_equal(again.transform(X), first)
    np.testing.assert_array_equal(again.transform(X), second)
    unseeded = [cls(bounds=(0, 1)).fit(X).transform(X) for _ in range(2)]
    assert not np.array_equal(*unseeded)


@pytest.mark.parametrize("cls", NOISES)
def test_pickle_continues_the_stream(cls):
    X = _X()
    est = cls(bounds=(0, 1), random_state=0).fit(X)
    est.transform(X)
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.transform(X), est.transform(X))


@pytest.mark.parametrize("cls", NOISES)
def test_unseeded_copies_draw_independent_noise(cls):
    # Copies loaded from one pickle (workers, model servers, restarts) used
    # to replay the same noise: the difference of two releases then gave the
    # difference of the data exactly, and the file held the noise to come.
    A, B = _X(seed=1), _X(seed=2)
    blob = pickle.dumps(cls(bounds=(0, 1)).fit(A))
    assert b"PCG64" not in blob
    first, second = pickle.loads(blob), pickle.loads(blob)
    diff = first.transform(A) - second.transform(B)
    assert not np.allclose(diff, A - B, atol=1e-3)


@pytest.mark.parametrize("cls", NOISES)
def test_outputs_on_the_grid(cls):
    est = cls(bounds=(0, 1), random_state=0).fit(_X())
    Xt = est.transform(_X(seed=1))
    steps = Xt / est.granularity_
    np.testing.assert_array_equal(steps, np.rint(steps))


@pytest.mark.parametrize("cls", NOISES)
def test_pandas_output_and_feature_names(cls):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame(_X(), columns=["a", "b", "c"])
    est = cls(bounds=(0, 1), random_state=0).set_output(transform="pandas")
    out = est.fit_transform(df)
    assert list(out.columns) == ["a", "b", "c"]
    assert list(est.get_feature_names_out()) == ["a", "b", "c"]


def test_column_transformer_and_privacy_spent():
    X = _X(d=4)
    ct = ColumnTransformer(
        [
            ("lap", LaplaceNoise(epsilon=0.5, bounds=(0, 1), random_state=0), [0, 1]),
            ("gau", GaussianNoise(epsilon=1.0, bounds=(0, 1), random_state=0), [2, 3]),
        ]
    ).fit(X)
    assert ct.transform(X).shape == (50, 4)
    eps = privacy_spent(ct, delta=1e-5).epsilon
    assert 1.0 < eps < 1.5 + 1e-3


def test_grid_search_over_epsilon_counts_every_fit():
    rng = np.random.default_rng(0)
    X = rng.uniform(0, 1, (120, 2))
    y = (X[:, 0] > 0.5).astype(int)
    pipe = make_pipeline(
        LaplaceNoise(bounds=(0, 1), random_state=0), LogisticRegression()
    )
    search = GridSearchCV(pipe, {"laplacenoise__epsilon": [0.5, 1.0]}, cv=3).fit(X, y)
    best = search.best_params_["laplacenoise__epsilon"]
    # 3 splits per candidate plus the refit, each one epsilon-DP release.
    spent = privacy_spent(search, delta=0.0).epsilon
    assert spent == pytest.approx(3 * 0.5 + 3 * 1.0 + best, rel=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("cls", NOISES)
def test_dtypes(cls, dtype):
    X = (np.arange(12).reshape(4, 3) % 3).astype(dtype)
    Xt = cls(bounds=(0, 2), random_state=0).fit(X).transform(X)
    expected = np.float32 if dtype == np.float32 else np.float64
    assert Xt.dtype == expected


# ------------------------------------------------------------ bad input


@pytest.mark.parametrize("cls", NOISES)
@pytest.mark.parametrize("bad", [0.0, -1.0, np.nan, np.inf, True, "1"])
def test_bad_epsilon(cls, bad):
    with pytest.raises((ValueError, TypeError), match="epsilon"):
        cls(epsilon=bad, bounds=(0, 1)).fit(_X())


@pytest.mark.parametrize("bad", [0.0, 1.0, -0.1, np.nan, 2.0])
def test_bad_delta(bad):
    with pytest.raises(ValueError, match="delta"):
        GaussianNoise(delta=bad, bounds=(0, 1)).fit(_X())


@pytest.mark.parametrize("cls", NOISES)
@pytest.mark.parametrize(
    "bounds, match",
    [
        ((1, 0), "lower must be strictly less"),
        ((0, 0), "lower must be strictly less"),
        (([0, 0], [1, 1]), r"shape \(3,\)"),
        ((0, 1, 2), "tuple"),
        ((0, np.inf), "finite"),
        (("a", 1), "numeric"),
    ],
)
def test_bad_bounds(cls, bounds, match):
    with pytest.raises(ValueError, match=match):
        cls(bounds=bounds).fit(_X())


@pytest.mark.parametrize("cls", NOISES)
def test_extreme_bounds_and_epsilon_name_the_parameter(cls):
    # Used to fail inside the mechanism ("sensitivity must be a positive
    # finite number; got inf", with an overflow RuntimeWarning).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="bounds"):
            cls(bounds=(-1e308, 1e308)).fit(_X())
    with pytest.raises(ValueError, match="epsilon"):
        cls(epsilon=1e-300, bounds=(0, 1e307)).fit(_X())
    # Wide but representable bounds work: the L2 width is a finite float.
    est = cls(bounds=(0, 1e200), random_state=0).fit(_X())
    assert np.isfinite(est.transform(_X())).all()


@pytest.mark.parametrize("cls", NOISES)
def test_text_in_X_is_not_echoed(cls):
    # numpy's "could not convert string to float: 'alice@example.com'" put a
    # private value into the error (and the logs).
    X = np.array([["alice@example.com", 1.0]], dtype=object)
    with pytest.raises(ValueError, match="must be numeric") as info:
        cls(bounds=(0, 1)).fit(X)
    assert "alice" not in str(info.value) and info.value.__context__ is None
    est = cls(bounds=(0, 1)).fit([[0.0, 1.0]])
    with pytest.raises(ValueError, match="must be numeric") as info:
        est.transform(X)
    assert "alice" not in str(info.value)


@pytest.mark.parametrize("cls", NOISES)
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_X(cls, bad):
    X = _X()
    est = cls(bounds=(0, 1)).fit(X)
    X[0, 0] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        est.transform(X)
    with pytest.raises(ValueError, match="NaN|infinity"):
        cls(bounds=(0, 1)).fit(X)


@pytest.mark.parametrize("cls", NOISES)
def test_secret_free_repr(cls):
    assert "random_state=0" in repr(cls(random_state=0))


# ------------------------------------------------------------ hypothesis


@given(
    X=hnp.arrays(
        dtype=st.sampled_from([np.float32, np.float64]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=6),
        elements=st.floats(-1e3, 1e3, width=32),
    ),
    low=st.floats(-100, 100),
    width=st.floats(1e-3, 100),
    eps=st.floats(1e-2, 1e3),
    gaussian=st.booleans(),
    clip=st.booleans(),
)
def test_properties(X, low, width, eps, gaussian, clip):
    cls = GaussianNoise if gaussian else LaplaceNoise
    est = cls(epsilon=eps, bounds=(low, low + width), clip_output=clip, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        Xt = est.fit_transform(X)
    assert Xt.shape == X.shape
    assert Xt.dtype == X.dtype
    assert np.isfinite(Xt).all()
    if clip:
        lo, hi = est.bounds_
        assert np.all(Xt >= X.dtype.type(lo)) and np.all(Xt <= X.dtype.type(hi))
