"""Tests of PrivacyUtilityDisplay."""

import math
import subprocess
import sys
import textwrap
import warnings

import dp_accounting as dpa
import matplotlib
import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.validation import check_is_fitted

from skpriv.accounting import privacy_spent
from skpriv.base import PrivacyMixin, privacy_constraints
from skpriv.display import PrivacyUtilityDisplay
from skpriv.exceptions import PrivacyLeakWarning, UncoveredReleaseError
from skpriv.utils._sklearn_compat import validate_data

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


class NoisyCentroid(PrivacyMixin, ClassifierMixin, BaseEstimator):
    """Nearest class centroid, centroids released with the Laplace mechanism."""

    _parameter_constraints = privacy_constraints("epsilon", "random_state")
    _privacy_releases = {"classes_": "public", "centroids_": "dp"}

    def __init__(self, epsilon=1.0, random_state=None):
        self.epsilon = epsilon
        self.random_state = random_state

    def _fit(self, X, y, rng):
        X, y = validate_data(self, X, y)
        X = np.clip(X, 0.0, 1.0)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        d = X.shape[1]
        self.centroids_ = np.stack(
            [
                X[y_idx == k].mean(0)
                + self._noise(rng, 1.0 / max(np.sum(y_idx == k), 1), d)
                for k in range(len(self.classes_))
            ]
        )
        return self

    def _noise(self, rng, row_weight, d):
        return rng.laplace(0, d * row_weight / self.epsilon, d)

    def _planned_dp_event(self, n_samples):
        return dpa.LaplaceDpEvent(1.0 / self.epsilon)

    def predict(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        dist = ((X[:, None, :] - self.centroids_[None]) ** 2).sum(-1)
        return self.classes_[dist.argmin(1)]


class GaussianCentroid(NoisyCentroid):
    """The same with the Gaussian mechanism (classical calibration)."""

    _parameter_constraints = privacy_constraints("epsilon", "delta", "random_state")

    def __init__(self, epsilon=1.0, delta=1e-5, random_state=None):
        self.epsilon = epsilon
        self.delta = delta
        self.random_state = random_state

    def _multiplier(self):
        return math.sqrt(2 * math.log(1.25 / self.delta)) / self.epsilon

    def _noise(self, rng, row_weight, d):
        return rng.normal(0, math.sqrt(d) * row_weight * self._multiplier(), d)

    def _planned_dp_event(self, n_samples):
        return dpa.GaussianDpEvent(self._multiplier())


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_clusters_per_class=1,
        class_sep=1.5,
        random_state=0,
    )
    return (X - X.min(0)) / (X.max(0) - X.min(0)), y


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_from_results_draws_mean_std_and_baseline():
    eps = [10.0, 0.1, 1.0]  # unsorted on purpose: the curve is drawn sorted
    scores = [[0.9, 0.92], [0.5, 0.6], [0.8, 0.84]]
    disp = PrivacyUtilityDisplay.from_results(
        eps, scores, baseline=0.95, name="model", score_name="Accuracy"
    )
    x, mean = disp.line_.get_data()
    np.testing.assert_allclose(x, [0.1, 1.0, 10.0])
    np.testing.assert_allclose(mean, [0.55, 0.82, 0.91])
    assert disp.ax_.get_xscale() == "log"
    assert disp.ax_.get_ylabel() == "Accuracy"
    assert "epsilon" in disp.ax_.get_xlabel()
    assert disp.figure_ is disp.ax_.figure
    assert disp.errorbar_ is not None and disp.fill_between_ is None
    # Error bars span one standard deviation around the mean.
    segments = disp.errorbar_.lines[2][0].get_segments()
    half_widths = [abs(seg[1, 1] - seg[0, 1]) / 2 for seg in segments]
    np.testing.assert_allclose(half_widths, [0.05, 0.02, 0.01], atol=1e-12)
    np.testing.assert_allclose(disp.baseline_line_.get_ydata(), [0.95, 0.95])
    labels = disp.ax_.get_legend_handles_labels()[1]
    assert sorted(labels) == ["model", "non-private baseline"]


def test_from_results_1d_scores_and_styles():
    disp = PrivacyUtilityDisplay.from_results(
        [0.5, 1, 2], [0.6, 0.7, 0.8], std_display_style=None, xscale="linear"
    )
    assert disp.errorbar_ is None and disp.fill_between_ is None
    assert disp.baseline_line_ is None
    assert disp.ax_.get_xscale() == "linear"
    assert disp.ax_.get_legend() is None  # nothing labelled, no empty legend
    disp = PrivacyUtilityDisplay.from_results(
        [0.5, 1, 2],
        [[0.6, 0.7], [0.7, 0.8], [0.8, 0.9]],
        baseline=[0.9, 0.92, 0.94],
        std_display_style="fill_between",
    )
    assert disp.fill_between_ is not None
    assert disp.baseline_line_.get_ydata()[0] == pytest.approx(0.92)


def test_two_displays_share_axes():
    first = PrivacyUtilityDisplay.from_results([1, 2], [0.5, 0.6], name="a")
    second = PrivacyUtilityDisplay.from_results(
        [1, 2], [0.7, 0.8], name="b", ax=first.ax_
    )
    assert second.ax_ is first.ax_
    assert first.ax_.get_legend_handles_labels()[1] == ["a", "b"]


def test_init_then_plot_matches_from_results():
    disp = PrivacyUtilityDisplay(
        epsilons=[1.0, 2.0], scores=[[0.1], [0.2]], estimator_name="m"
    )
    assert not hasattr(disp, "ax_")  # __init__ only stores
    fig, ax = plt.subplots()
    assert disp.plot(ax=ax) is disp
    assert disp.ax_ is ax


def test_from_estimator_scores_grow_with_epsilon(data):
    X, y = data
    disp = PrivacyUtilityDisplay.from_estimator(
        NoisyCentroid(),
        X,
        y,
        epsilons=[0.01, 100.0],
        cv=3,
        n_repeats=4,
        baseline=LogisticRegression(),
        random_state=0,
    )
    assert disp.scores.shape == (2, 3 * 4)
    low, high = disp.scores.mean(axis=1)
    # Noise of scale d / (n_k * eps) ~ 3 at eps=0.01 hides the centroids; at
    # eps=100 they are almost exact.
    assert high > low + 0.1
    assert high > 0.7
    assert disp.baseline.shape == (3,)
    assert disp.score_name == "Accuracy"
    assert disp.estimator_name == "NoisyCentroid"
    # Repeats draw fresh noise: the columns of one fold differ across repeats.
    assert not np.allclose(disp.scores[0, :3], disp.scores[0, 3:6])


def test_from_estimator_reproducible_with_int_seed(data):
    X, y = data
    kw = dict(epsilons=[0.1, 1.0], cv=3, n_repeats=2, random_state=7)
    a = PrivacyUtilityDisplay.from_estimator(NoisyCentroid(), X, y, **kw)
    b = PrivacyUtilityDisplay.from_estimator(NoisyCentroid(), X, y, **kw)
    np.testing.assert_array_equal(a.scores, b.scores)


def test_from_estimator_pipeline_scoring_and_splitter(data):
    X, y = data
    pipe = make_pipeline(MinMaxScaler(), NoisyCentroid())
    disp = PrivacyUtilityDisplay.from_estimator(
        pipe,
        X,
        y,
        epsilons=[1.0, 10.0],
        param_name="noisycentroid__epsilon",
        cv=KFold(4, shuffle=True, random_state=0),
        scoring="balanced_accuracy",
        n_repeats=1,
        baseline=0.9,
        random_state=0,
    )
    assert disp.scores.shape == (2, 4)
    assert disp.score_name == "Balanced accuracy"
    assert disp.estimator_name == "NoisyCentroid"
    assert "epsilon" in disp.ax_.get_xlabel()
    np.testing.assert_allclose(disp.baseline, [0.9])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"param_name": "C"}, "param_name='C' is not a parameter"),
        ({"epsilons": [-1.0, 1.0]}, "epsilons must be finite and > 0"),
        ({"epsilons": [0.0]}, "epsilons must be finite and > 0"),
        ({"epsilons": [np.nan]}, "epsilons must be finite and > 0"),
        ({"epsilons": []}, "non-empty 1-D"),
        ({"epsilons": [[1.0, 2.0]]}, "non-empty 1-D"),
        ({"epsilons": [1.0, 1.0]}, "must not repeat"),
        ({"n_repeats": 0}, "n_repeats must be an int >= 1"),
        ({"n_repeats": True}, "n_repeats must be an int >= 1"),
        ({"n_repeats": 1.5}, "n_repeats must be an int >= 1"),
        ({"xscale": "symlog"}, "xscale must be"),
        ({"std_display_style": "bars"}, "std_display_style must be"),
    ],
)
def test_from_estimator_bad_input(data, kwargs, match):
    X, y = data
    params = {"epsilons": [1.0], "cv": 2, "n_repeats": 1, "random_state": 0, **kwargs}
    with pytest.raises(ValueError, match=match):
        PrivacyUtilityDisplay.from_estimator(NoisyCentroid(), X, y, **params)


def test_from_estimator_bad_types(data):
    X, y = data
    with pytest.raises(TypeError, match="estimator must be a scikit-learn"):
        PrivacyUtilityDisplay.from_estimator("model", X, y, epsilons=[1.0])
    with pytest.raises(TypeError, match="baseline must be None, a number or an"):
        PrivacyUtilityDisplay.from_estimator(
            NoisyCentroid(), X, y, epsilons=[1.0], baseline="lr"
        )
    with pytest.raises(TypeError, match="epsilons must be a 1-D array"):
        PrivacyUtilityDisplay.from_estimator(NoisyCentroid(), X, y, epsilons=["small"])


@pytest.mark.parametrize(
    "scores, baseline, match",
    [
        ([0.5], None, r"scores must have shape"),
        ([[0.5, 0.6]], None, r"scores must have shape"),
        (np.empty((2, 0)), None, r"scores must have shape"),
        ([0.5, np.nan], None, "NaN or infinity"),
        ([0.5, 0.6], np.inf, "baseline must be a finite number"),
        ([0.5, 0.6], [], "baseline must be a finite number"),
    ],
)
def test_from_results_bad_input(scores, baseline, match):
    with pytest.raises(ValueError, match=match):
        PrivacyUtilityDisplay.from_results([1.0, 2.0], scores, baseline=baseline)


@pytest.mark.parametrize("baseline", [True, "0.9", ["0.9", "x"], {"lr": 0.9}])
def test_from_results_bad_baseline_type(baseline):
    with pytest.raises(TypeError, match="baseline must be None"):
        PrivacyUtilityDisplay.from_results([1.0], [0.5], baseline=baseline)


@pytest.mark.parametrize("param_name", [None, 1.0])
def test_from_results_param_name_must_be_a_string(param_name):
    with pytest.raises(TypeError, match="param_name must be a str"):
        PrivacyUtilityDisplay.from_results([1.0], [0.5], param_name=param_name)


def test_failed_fit_is_raised_not_plotted(data):
    X, y = data
    X = X.copy()
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        PrivacyUtilityDisplay.from_estimator(
            NoisyCentroid(), X, y, epsilons=[1.0], cv=2, n_repeats=1
        )


def test_import_does_not_import_matplotlib():
    code = (
        "import sys, skpriv.display; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported eagerly'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_public_api():
    import skpriv.display

    assert skpriv.display.__all__ == [
        "PrivacyUtilityDisplay",
        "SyntheticQualityDisplay",
    ]


def test_missing_matplotlib_fails_before_any_fit(data, monkeypatch):
    X, y = data
    fitted = []

    class Spy(NoisyCentroid):
        def _fit(self, X, y, rng):
            fitted.append(1)
            return super()._fit(X, y, rng)

    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match="needs matplotlib: pip install"):
        PrivacyUtilityDisplay.from_estimator(Spy(), X, y, epsilons=[1.0], cv=2)
    assert not fitted
    with pytest.raises(ImportError, match="PrivacyUtilityDisplay.plot needs"):
        PrivacyUtilityDisplay(epsilons=[1.0], scores=[0.5]).plot()


def test_from_estimator_dataframe_and_groups(data):
    pd = pytest.importorskip("pandas")
    from sklearn.model_selection import GroupKFold

    X, y = data
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    groups = np.arange(len(y)) % 4
    disp = PrivacyUtilityDisplay.from_estimator(
        NoisyCentroid(),
        frame,
        y,
        epsilons=[1.0, 10.0],
        groups=groups,
        cv=GroupKFold(n_splits=4),
        n_repeats=2,
        random_state=0,
    )
    assert disp.scores.shape == (2, 8)
    assert np.all((disp.scores >= 0) & (disp.scores <= 1))


@pytest.mark.slow
def test_user_guide_snippets_run_as_written():
    # A reader copies the code blocks of the guide page, in order.
    import re
    from pathlib import Path

    page = Path(__file__).parents[2] / "docs" / "user_guide" / "display.rst"
    blocks = re.findall(
        r"\.\. code-block:: python\n\n((?:(?:   .*)?\n)+)", page.read_text()
    )
    assert len(blocks) == 3
    namespace = {}
    for block in blocks:
        exec(textwrap.dedent(block), namespace)
    assert isinstance(namespace["display"], PrivacyUtilityDisplay)
    assert len(namespace["ax"].get_legend_handles_labels()[1]) == 2
    spent = namespace["spent"]
    assert len(spent.parts) == 5 * 5 * 3
    assert spent.epsilon < 5 * 3 * sum([0.1, 0.3, 1, 3, 10])
    attributes = {(r.attribute, r.part.rsplit(".", 1)[-1]) for r in spent.uncovered}
    assert {("scores", "PrivacyUtilityDisplay"), ("*", "standardscaler")} <= attributes


# ------------------------------------------------- privacy_spent(display)


def _spent(display, **kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        spent = privacy_spent(display, **kwargs)
    messages = [str(w.message) for w in caught if w.category is PrivacyLeakWarning]
    return spent, messages


def test_privacy_spent_composes_every_fit_laplace(data):
    # privacy_spent(display) raised TypeError: the display kept no fits.
    X, y = data
    epsilons, n_splits, n_repeats = [0.5, 2.0], 3, 2
    disp = PrivacyUtilityDisplay.from_estimator(
        NoisyCentroid(),
        X,
        y,
        epsilons=epsilons,
        cv=n_splits,
        n_repeats=n_repeats,
        random_state=0,
    )
    assert [len(row) for row in disp.estimators_] == [n_splits * n_repeats] * 2
    spent, messages = _spent(disp)
    # Pure DP composes by adding: every fit trained on the same private data.
    assert spent == (n_splits * n_repeats * sum(epsilons), 0.0)
    # At delta > 0, against dp-accounting's PLD accountant on the same fits.
    acc = dpa.pld.PLDAccountant(value_discretization_interval=1e-4)
    for eps in epsilons:
        acc.compose(dpa.LaplaceDpEvent(1.0 / eps), n_splits * n_repeats)
    expected = acc.get_epsilon(1e-6)
    assert expected < n_splits * n_repeats * sum(epsilons)
    assert _spent(disp, delta=1e-6)[0].epsilon == pytest.approx(expected, 1e-3)
    assert len(spent.parts) == 2 * n_splits * n_repeats
    assert spent.parts["epsilon=0.5[5]"] == pytest.approx(0.5)
    # The scores are exact statistics of the private test folds.
    assert [(r.part, r.attribute) for r in spent.uncovered] == [
        ("PrivacyUtilityDisplay", "scores")
    ]
    assert len(messages) == 1
    assert "PrivacyUtilityDisplay" in messages[0] and "scores" in messages[0]
    with pytest.raises(UncoveredReleaseError, match="scores"):
        privacy_spent(disp, strict=True)


def test_privacy_spent_composes_every_fit_gaussian(data):
    X, y = data
    epsilons, delta = [1.0, 4.0], 1e-5
    disp = PrivacyUtilityDisplay.from_estimator(
        GaussianCentroid(delta=delta),
        X,
        y,
        epsilons=epsilons,
        cv=2,
        n_repeats=2,
        baseline=LogisticRegression(),
        random_state=0,
    )
    spent, _ = _spent(disp, delta=1e-4)
    acc = dpa.pld.PLDAccountant(value_discretization_interval=1e-3)
    for row in disp.estimators_:
        for est in row:
            acc.compose(est.dp_event_)
    assert spent.epsilon == pytest.approx(acc.get_epsilon(1e-4), rel=1e-2)
    # Four fits per budget (two folds, two repeats), composed by hand too.
    by_hand = dpa.pld.PLDAccountant(value_discretization_interval=1e-3)
    for eps in epsilons:
        by_hand.compose(GaussianCentroid(eps, delta)._planned_dp_event(100), 4)
    assert spent.epsilon == pytest.approx(by_hand.get_epsilon(1e-4), rel=1e-2)
    attrs = {r.attribute for r in spent.uncovered}
    assert attrs == {"scores", "baseline"}


def test_privacy_spent_default_delta_adds_the_fits(data):
    X, y = data
    disp = PrivacyUtilityDisplay.from_estimator(
        GaussianCentroid(delta=1e-6),
        X,
        y,
        epsilons=[1.0],
        cv=2,
        n_repeats=3,
        random_state=0,
    )
    spent, _ = _spent(disp)
    assert spent.delta == pytest.approx(6e-6)


def test_estimators_are_the_fits_behind_the_scores(data):
    X, y = data
    cv = KFold(3, shuffle=True, random_state=1)
    disp = PrivacyUtilityDisplay.from_estimator(
        NoisyCentroid(), X, y, epsilons=[0.3, 3.0], cv=cv, n_repeats=2, random_state=0
    )
    folds = list(cv.split(X, y))
    for i, row in enumerate(disp.estimators_):
        for j, est in enumerate(row):
            train, test = folds[j % len(folds)]
            assert est.epsilon == [0.3, 3.0][i]
            assert est.dp_n_samples_ == len(train)
            assert est.score(X[test], y[test]) == disp.scores[i, j]


def test_unseeded_shuffled_folds_are_shared_by_every_budget(data):
    # The folds are drawn once per repeat, as validation_curve did.
    X, y = data
    disp = PrivacyUtilityDisplay.from_estimator(
        make_pipeline(MinMaxScaler(), NoisyCentroid()),
        X,
        y,
        epsilons=[0.3, 3.0],
        param_name="noisycentroid__epsilon",
        cv=KFold(4, shuffle=True),
        n_repeats=1,
        random_state=0,
    )
    low, high = disp.estimators_
    for a, b in zip(low, high):
        # MinMaxScaler learns each training fold's range: same folds, same range.
        np.testing.assert_array_equal(a[0].data_min_, b[0].data_min_)


def test_privacy_spent_names_non_private_steps_of_each_fit(data):
    X, y = data
    disp = PrivacyUtilityDisplay.from_estimator(
        make_pipeline(MinMaxScaler(), NoisyCentroid()),
        X,
        y,
        epsilons=[1.0],
        param_name="noisycentroid__epsilon",
        cv=2,
        n_repeats=1,
        random_state=0,
    )
    spent, _ = _spent(disp)
    assert spent.epsilon == pytest.approx(2.0)
    parts = {r.part for r in spent.uncovered if r.attribute == "*"}
    assert parts == {"epsilon=1[0].minmaxscaler", "epsilon=1[1].minmaxscaler"}


def test_privacy_spent_refuses_a_display_without_fits():
    disp = PrivacyUtilityDisplay.from_results([1.0, 2.0], [0.5, 0.6])
    with pytest.raises(ValueError, match="holds no fitted estimators"):
        privacy_spent(disp)
