"""Bad input never passes silently and never quotes a private value.

A matrix over every public estimator: NaN, inf, empty data, one row, the wrong
width at predict, text in numeric data, sparse input, one class, bad epsilon
and delta. Each either works as documented or raises a clear error (a
ValueError or TypeError) whose message — and every message chained to it —
quotes none of the values the user passed.
"""

import math
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.utils import get_tags

from skpriv.exceptions import PrivacyLeakWarning
from skpriv.utils import all_estimators
from skpriv.utils.estimator_checks import make_test_instance

ESTIMATORS = [make_test_instance(cls) for _, cls in all_estimators()]
IDS = [type(est).__name__ for est in ESTIMATORS]

#: Values no error message may contain.
SECRET_TEXT = "SSN-987-65-4320"
SECRET_NUMBER = 0.987654321


def _chain(exc):
    """Every message in the exception's chain."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return " | ".join(f"{type(e).__name__}: {e}" for e in seen)


def _numeric_input(est) -> bool:
    tags = get_tags(est)
    return not (tags.input_tags.string or tags.input_tags.categorical)


def _data(n=40, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0.1, 0.9, size=(n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)  # within data_norm=1
    y = (np.arange(n) % 2).astype(int)
    return X, y


def _y_for(est, y):
    if is_regressor(est):
        return y.astype(float)
    return y


def _fit(est, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X, _y_for(est, y) if y is not None else None)


def _assert_clean_refusal(est, call, *, secret=(SECRET_TEXT, f"{SECRET_NUMBER}")):
    """``call()`` raises ValueError/TypeError quoting no secret."""
    name = type(est).__name__
    with pytest.raises((ValueError, TypeError)) as info:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            call()
    text = _chain(info.value)
    for value in secret:
        assert value not in text, f"{name} quotes a private value: {text[:500]}"
    for frag in ("0.98765", "98765432"):
        assert frag not in text, f"{name} quotes a private value: {text[:500]}"
    return text


def _plant(X, value):
    X = X.astype(object) if isinstance(value, str) else X.copy()
    X[3, 1] = value
    return X


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
def test_non_finite_values_are_refused(est, bad):
    if not _numeric_input(est) or get_tags(est).input_tags.allow_nan:
        pytest.skip("takes missing values or non-numeric input by design")
    X, y = _data()
    X[0, 0] = SECRET_NUMBER
    _assert_clean_refusal(est, lambda: clone(est).fit(_plant(X, bad), _y_for(est, y)))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_text_in_numeric_data_is_refused_without_quoting_it(est):
    if not _numeric_input(est):
        pytest.skip("takes text by design")
    X, y = _data()
    _assert_clean_refusal(
        est, lambda: clone(est).fit(_plant(X, SECRET_TEXT), _y_for(est, y))
    )


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_one_dimensional_x_is_refused_without_printing_it(est):
    X, y = _data()
    X[:, 0] = SECRET_NUMBER
    _assert_clean_refusal(est, lambda: clone(est).fit(X[:, 0], _y_for(est, y)))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_empty_data_is_refused(est):
    X, y = _data()
    text = _assert_clean_refusal(est, lambda: clone(est).fit(X[:0], _y_for(est, y[:0])))
    assert "sample" in text or "empty" in text or "0 " in text, text[:300]


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_one_class_is_refused_by_classifiers(est):
    if not is_classifier(est):
        pytest.skip("not a classifier")
    X, y = _data()
    text = _assert_clean_refusal(est, lambda: clone(est).fit(X, np.zeros_like(y)))
    assert "class" in text, text[:300]


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_wrong_width_at_predict_is_refused(est):
    if not _numeric_input(est):
        pytest.skip("text input: the sklearn checks cover the width")
    X, y = _data()
    fitted = _fit(clone(est), X, y)
    method = next(
        m for m in ("predict", "transform", "predict_proba") if hasattr(fitted, m)
    )
    wide = np.full((5, X.shape[1] + 1), SECRET_NUMBER)
    text = _assert_clean_refusal(est, lambda: getattr(fitted, method)(wide))
    assert "feature" in text, text[:300]


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_sparse_input_works_or_is_refused_clearly(est):
    if not _numeric_input(est):
        pytest.skip("text input")
    X, y = _data()
    X[0, 0] = SECRET_NUMBER
    try:
        _fit(clone(est), sp.csr_matrix(X), y)
    except (TypeError, ValueError) as exc:
        text = _chain(exc)
        assert "sparse" in text.lower() or "dense" in text.lower(), text[:300]
        assert "0.98765" not in text


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_one_row_works_or_is_refused_clearly(est):
    X, y = _data()
    try:
        _fit(clone(est), X[:1], y[:1])
    except (TypeError, ValueError) as exc:
        assert "0.98765" not in _chain(exc)


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
@pytest.mark.parametrize("bad", [-0.1, 1.0, 1.5, math.nan, math.inf, True])
def test_bad_delta_is_refused_naming_it(est, bad):
    if "delta" not in est.get_params(deep=False):
        pytest.skip("no delta")
    X, y = _data()
    text = _assert_clean_refusal(
        est, lambda: clone(est).set_params(delta=bad).fit(X, _y_for(est, y))
    )
    assert "delta" in text, text[:300]


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_delta_at_least_one_over_n_warns_everywhere(est):
    # One rule everywhere: DPLogisticRegression accepted delta=0.5 silently
    # while the DP nets warned.
    params = est.get_params(deep=False)
    if "delta" not in params:
        pytest.skip("no delta")
    X, y = _data(n=40)
    with pytest.warns(PrivacyLeakWarning, match="delta"):
        clone(est).set_params(delta=0.1).fit(X, _y_for(est, y))
