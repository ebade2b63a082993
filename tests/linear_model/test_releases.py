"""What a fitted DPLogisticRegression releases (issue 13, finding 6)."""

import warnings

import numpy as np
import pytest
from dp_accounting import GaussianDpEvent, LaplaceDpEvent, SelfComposedDpEvent
from sklearn.base import clone

from skpriv.accounting import epsilon_of, privacy_spent
from skpriv.base import fitted_attributes, release_kinds, uncovered_releases
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.linear_model import _mechanisms as mech

SEEDS = (0, 1, 2)


def _data(n=120, d=4, k=2, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X /= np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1.0)
    y = rng.integers(0, k, size=n)
    return X, y


def _with_extreme_row(X, y, label):
    row = np.zeros(X.shape[1])
    row[0] = 1.0  # at the norm bound
    return np.vstack([X, row]), np.r_[y, label]


def _fit_quietly(est, X, y, seed):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return clone(est).set_params(random_state=seed).fit(X, y)


def _same(a, b):
    try:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    except (AssertionError, TypeError, ValueError):
        return a == b if isinstance(a, str) else False
    return True


def _deterministic_differences(est, data, neighbour):
    """Attributes identical across seeds on each data set, unequal between them.

    The property the common release check tests: such an attribute is no
    DP output, so it must be declared public or uncovered.
    """
    fits = [[_fit_quietly(est, *ds, s) for s in SEEDS] for ds in (data, neighbour)]
    out = []
    for attr in fitted_attributes(fits[0][0]):
        if attr == "dp_event_":
            continue
        values = [[getattr(f, attr, None) for f in row] for row in fits]
        stable = all(_same(row[0], v) for row in values for v in row[1:])
        if stable and not _same(values[0][0], values[1][0]):
            out.append(attr)
    return out, fits[0][0]


# --------------------------------------------------------------------------
# n_iter_ of the exact solver behind "output" is not released
# --------------------------------------------------------------------------


def test_output_solver_n_iter_does_not_depend_on_the_data():
    # The L-BFGS iteration count of solver="output" (10 vs 9 on neighbours in
    # the audit) was released as n_iter_; now n_iter_ counts noisy releases.
    X, y = _data(n=200, d=6)
    est = DPLogisticRegression(
        epsilon=1.0, delta=0.0, data_norm=1.0, C=2.0, solver="output"
    )
    counts = set()
    for label in (0, 1):
        for n in (150, 200):
            Xn, yn = _with_extreme_row(X[:n], y[:n], label)
            for s in SEEDS:
                counts.add(int(_fit_quietly(est, Xn, yn, s).n_iter_[0]))
    assert counts == {1}


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="output", delta=0.0),
        dict(solver="ssp", delta=0.0),
        dict(solver="ssp"),
        dict(solver="gd"),
        dict(solver="auto", data_norm="private"),
    ],
)
def test_no_undeclared_deterministic_release_between_neighbours(params):
    """Emulates the common release check on the solvers and budgets."""
    X, y = _data(n=150, d=5, k=3)
    est = DPLogisticRegression(
        **{"epsilon": 1.0, "data_norm": 1.0, "classes": [0, 1, 2], **params}
    )
    # A rare label (2) carried by the extra row only.
    y = np.where(y == 2, 0, y)
    differing, fitted = _deterministic_differences(
        est, (X, y), _with_extreme_row(X, y, 2)
    )
    kinds = release_kinds(fitted)
    for attr in differing:
        assert attr in kinds and kinds[attr][0] != "dp", attr
    # Public bounds and classes: nothing is released uncovered.
    assert uncovered_releases(fitted) == []


# --------------------------------------------------------------------------
# classes: declared (public) or read from the data (warned, uncovered)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("solver", ["ssp", "gd", "output"])
def test_classes_given_shapes_do_not_depend_on_a_rare_label(solver):
    X, y = _data(n=150)
    X2, y2 = _with_extreme_row(X, y, 2)  # one row carries label 2
    est = DPLogisticRegression(
        data_norm=1.0, classes=[0, 1, 2], solver=solver, random_state=0
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", PrivacyLeakWarning)
        a = clone(est).fit(X, y)
        b = clone(est).fit(X2, y2)
    np.testing.assert_array_equal(a.classes_, [0, 1, 2])
    np.testing.assert_array_equal(a.classes_, b.classes_)
    assert a.coef_.shape == b.coef_.shape == (3, X.shape[1])
    assert a.intercept_.shape == b.intercept_.shape == (3,)
    assert a.predict_proba(X).shape == (len(X), 3)
    assert release_kinds(a)["classes_"][0] == "public"


def test_classes_none_warns_and_is_named_uncovered():
    X, y = _data()
    with pytest.warns(PrivacyLeakWarning, match="classes=None") as record:
        clf = DPLogisticRegression(data_norm=1.0, random_state=0).fit(X, y)
    # The warning points at the caller's line.
    assert any(w.filename == __file__ for w in record)
    with pytest.warns(PrivacyLeakWarning, match="classes_"):
        spent = privacy_spent(clf, delta=1e-5)
    assert [u.attribute for u in spent.uncovered] == ["classes_"]


def test_label_outside_classes_raises_without_quoting_it():
    X, _ = _data(n=40)
    y = np.array(["cat", "dog"] * 19 + ["patient-4711", "dog"])
    with pytest.raises(ValueError, match="classes") as info:
        DPLogisticRegression(data_norm=1.0, classes=["cat", "dog"]).fit(X, y)
    assert "patient-4711" not in str(info.value)
    with pytest.raises(ValueError, match="classes"):
        DPLogisticRegression(data_norm=1.0, classes=[0, 1]).fit(X, y)


def test_one_class_error_quotes_no_label():
    X, _ = _data(n=40)
    y = np.array(["patient-4711"] * 40)
    with pytest.raises(ValueError, match="2 classes") as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PrivacyLeakWarning)
            DPLogisticRegression(data_norm=1.0).fit(X, y)
    assert "patient-4711" not in str(info.value)


def test_classes_given_fits_data_holding_one_of_them():
    # Raising here would reveal that a label is absent from the private rows.
    X, _ = _data(n=60)
    clf = DPLogisticRegression(data_norm=1.0, classes=[0, 1], random_state=0)
    clf.fit(X, np.zeros(60, dtype=int))
    assert clf.coef_.shape == (1, X.shape[1])
    np.testing.assert_array_equal(clf.classes_, [0, 1])


@pytest.mark.parametrize(
    "classes, match",
    [([0, 0, 1], "repeat"), ([1], "at least 2"), ([[0, 1]], "1-D")],
)
def test_bad_classes_parameter(classes, match):
    X, y = _data(n=40)
    with pytest.raises(ValueError, match=match):
        DPLogisticRegression(data_norm=1.0, classes=classes).fit(X, y)


def test_classes_kind_is_fixed_at_fit_time():
    X, y = _data()
    with pytest.warns(PrivacyLeakWarning):
        clf = DPLogisticRegression(data_norm=1.0, random_state=0).fit(X, y)
    clf.set_params(classes=[0, 1])  # after fit: classes_ was still inferred
    assert release_kinds(clf)["classes_"][0] == "uncovered"


def test_data_norm_from_data_names_what_it_scales():
    X, y = _data()
    with pytest.warns(PrivacyLeakWarning):
        clf = DPLogisticRegression(classes=[0, 1], random_state=0).fit(X, y)
    names = {a for a, _ in uncovered_releases(clf)}
    assert names == {"data_norm_", "coef_", "intercept_"}


# --------------------------------------------------------------------------
# One plan: the noise added is the event recorded and the event planned
# --------------------------------------------------------------------------


def _flatten(event):
    if isinstance(event, SelfComposedDpEvent):
        return _flatten(event.event) * event.count
    if hasattr(event, "events"):
        return [e for inner in event.events for e in _flatten(inner)]
    return [event]


@pytest.mark.parametrize(
    "params",
    [
        dict(solver="gd", max_iter=7),
        dict(solver="gd", max_iter=50, tol=0.5),  # stops early
        dict(solver="ssp", data_norm="private"),
        dict(solver="auto"),
        dict(solver="ssp", delta=0.0, data_norm="private"),
        dict(solver="output", delta=0.0),
    ],
)
def test_recorded_event_is_the_noise_added(params, monkeypatch):
    gaussian, laplace = [], []
    release = mech.gaussian_release

    def recording_release(values, sensitivity, noise_multiplier, rng):
        gaussian.append(noise_multiplier)
        return release(values, sensitivity, noise_multiplier, rng)

    from_epsilon = mech.Laplace.from_epsilon.__func__

    def recording_from_epsilon(cls, epsilon, sensitivity=1.0, *, n_dims=1):
        laplace.append(epsilon)
        return from_epsilon(cls, epsilon, sensitivity, n_dims=n_dims)

    monkeypatch.setattr(mech, "gaussian_release", recording_release)
    monkeypatch.setattr(
        mech.Laplace, "from_epsilon", classmethod(recording_from_epsilon)
    )
    X, y = _data(n=300, d=5, k=3)
    X *= 2.0
    clf = DPLogisticRegression(
        **{"data_norm": 2.0, "classes": [0, 1, 2], "random_state": 0, **params}
    ).fit(X, y)
    recorded = _flatten(clf.dp_event_)
    assert sorted(
        e.noise_multiplier for e in recorded if isinstance(e, GaussianDpEvent)
    ) == pytest.approx(sorted(gaussian), rel=1e-12)
    assert sorted(
        1.0 / e.noise_multiplier for e in recorded if isinstance(e, LaplaceDpEvent)
    ) == pytest.approx(sorted(laplace), rel=1e-12)
    # The plan a search uses bounds the fit, with equality without early stop.
    delta = clf.delta
    planned = epsilon_of(clf._planned_dp_event(len(X)), delta)
    spent = epsilon_of(clf.dp_event_, delta)
    assert spent <= planned * (1 + 1e-9) <= clf.epsilon * (1 + 1e-9)
    if clf.solver_ != "gd" or clf.n_iter_[0] == clf.max_iter:
        assert spent == pytest.approx(planned, rel=1e-6)
    else:
        assert spent < planned
