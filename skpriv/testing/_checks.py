"""scikit-learn's estimator checks plus skpriv's privacy checks.

``parametrize_with_checks(estimators)`` runs every scikit-learn check (with
the expected failures of :func:`expected_failed_checks` marked ``xfail``) and
the privacy checks below:

- ``check_no_budget_on_invalid_params``: an invalid ``epsilon`` fails before
  any work and records no DP event;
- ``check_leak_warning_bounds_from_data``: ``bounds=None`` / ``data_norm=None``
  raise :class:`~skpriv.exceptions.PrivacyLeakWarning`;
- ``check_reproducible_with_int_seed``: an int ``random_state`` reproduces;
- ``check_noise_shrinks_with_epsilon``: outputs vary less across seeds at a
  large epsilon than at a small one;
- ``check_params_unchanged_by_fit``: fit never rewrites a parameter;
- ``check_records_dp_event``: a fit records a ``dp_event_`` whose epsilon,
  composed by :func:`~skpriv.accounting.privacy_spent`, is positive;
- ``check_release_on_neighbours``: fitted on neighbouring data sets (one
  extreme row apart) under several seeds, no fitted attribute differs
  deterministically between them unless its class declares it public or
  not covered.
"""

import warnings
from functools import partial

import numpy as np
import sklearn
from dp_accounting import DpEvent
from joblib import hash as joblib_hash
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import estimator_checks_generator
from sklearn.utils.fixes import parse_version

from ..encryption import Key
from ..exceptions import PrivacyLeakWarning

__all__ = [
    "expected_failed_checks",
    "make_test_instance",
    "parametrize_with_checks",
    "privacy_checks",
]

# --------------------------------------------------------------------------
# One table per concern. Each part adds its own entries in its own block.
# --------------------------------------------------------------------------

#: How to build an instance for the checks: class name -> factory(cls).
_TEST_INSTANCE_FACTORIES = {
    # -- preprocessing (noise, masking) --
    # "random" is the strategy with randomness and numeric output on numeric X
    # (the others map numbers to text; tests/preprocessing/test_masking.py
    # runs the sklearn checks on the other strategies).
    "Masker": lambda cls: cls(strategy="random", p=0.3, fill_value=0.0),
    # -- encryption --
    # In-memory keys: pickle round-trips resolve within the test process.
    "ColumnEncryptor": lambda cls: cls(Key.generate()),
    "EncryptedEstimator": lambda cls: cls(LogisticRegression(), Key.generate()),
    # -- linear_model --
    # check_regressors_train asks R^2 > 0.5 on 200 rows x 10 features with
    # bounds read from the data: reached at epsilon 30, not at 10.
    "DPLinearRegression": lambda cls: cls(epsilon=100.0),
    # -- neural_network --
    # A tiny MLP whose widths come from the data (n_features_in / n_outputs),
    # full-batch steps (sample rate 1: the Gaussian composes in closed form,
    # so calibrating for each data size the checks use is instant; Poisson
    # sampling is tested in tests/neural_network), one torch thread (the
    # checks fit hundreds of tiny nets; oversubscribing a shared CPU costs
    # 50x) and a budget at which the checks' easy problems are learnt.
    "DPNeuralNetClassifier": lambda cls: _dp_net_instance(cls),
    "DPNeuralNetRegressor": lambda cls: _dp_net_instance(cls),
    # -- ensemble --
    "PATEClassifier": lambda cls: cls(n_teachers=3, public_fraction=0.3, epsilon=1e3),
    # -- cluster --
    # labels_ (compute_labels=True) is what scikit-learn's clusterer checks read.
    "DPKMeans": lambda cls: cls(compute_labels=True),
    # -- synthetic --
    # Small domains keep the many check fits quick.
    "MSTSynthesizer": lambda cls: cls(n_bins=4),
    "AIMSynthesizer": lambda cls: cls(n_bins=4, rounds=2),
    # -- model_selection --
    # A small grid of a DP model, a budget at which the checks' easy problems
    # are learnt, half the rows for validation and about two trials (a
    # geometric count never draws zero trials).
    "PrivateGridSearchCV": lambda cls: cls(
        _dp_logistic(),
        {"C": [0.5, 2.0]},
        epsilon=50.0,
        validation_fraction=0.5,
        distribution="geometric",
        mean_trials=2,
    ),
    "PrivateRandomizedSearchCV": lambda cls: cls(
        _dp_logistic(),
        {"C": [0.5, 2.0]},
        n_iter=2,
        epsilon=50.0,
        validation_fraction=0.5,
        distribution="geometric",
        mean_trials=2,
    ),
    # -- federated --
    # Client-level DP on, so the privacy checks see a finite epsilon; 3 clients
    # x 10 rounds keep the checks fast and check_classifiers_train's 0.83 bar.
    "FederatedClassifier": lambda cls: cls(
        n_rounds=10, n_clients=3, clip_norm=1.0, noise_multiplier=1.0
    ),
    # The regressor runs without noise (its privacy checks switch DP on via
    # epsilon): DP noise on 3 clients fails check_regressors_train's R^2 bar.
    "FederatedRegressor": lambda cls: cls(n_rounds=5, n_clients=3, clip_norm=10.0),
}

#: Expected failures: class name -> {check name: specific reason}.
_EXPECTED_FAILED_CHECKS = {
    # -- preprocessing (noise, masking) --
    # -- encryption --
    "ColumnEncryptor": {
        check: (
            "compares outputs with assert_allclose, which cannot subtract the "
            "str tokens ColumnEncryptor outputs; tests/encryption/test_column.py "
            "checks the same property with exact equality of the tokens"
        )
        for check in (
            "check_estimators_pickle",
            "check_fit_idempotent",
            "check_methods_sample_order_invariance",
            "check_methods_subset_invariance",
            "check_pipeline_consistency",
            "check_transformer_data_not_an_array",
            "check_transformer_general",
        )
    },
    # -- linear_model --
    # -- neural_network --
    "DPNeuralNetClassifier": {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet.__init__ sets history_, initialized_ and "
            "virtual_params_; the nets subclass skorch to keep its whole API"
        ),
    },
    "DPNeuralNetRegressor": {
        "check_no_attributes_set_in_init": (
            "skorch's NeuralNet.__init__ sets history_, initialized_ and "
            "virtual_params_; the nets subclass skorch to keep its whole API"
        ),
        "check_regressors_no_decision_function": (
            "skorch's NeuralNetRegressor has predict_proba (the raw module "
            "output), which skorch users rely on"
        ),
    },
    # -- ensemble --
    "PATEClassifier": {
        "check_classifiers_classes": (
            "y == -1 marks the public unlabelled rows (scikit-learn's "
            "semi-supervised convention), so the check's class labels {-1, 1} "
            "leave a single private class."
        ),
    },
    "Microaggregator": {
        "check_methods_subset_invariance": (
            "each transform groups the rows it is given (k-anonymity of that "
            "batch); one row cannot form a group of k"
        ),
        "check_methods_sample_order_invariance": (
            "groups depend on which near-equidistant rows MDAV meets first "
            "(ties in float distances), so reordered rows can group "
            "differently; tests/preprocessing/test_microaggregation.py checks "
            "order invariance on data without ties"
        ),
    },
    # -- model_selection --
    **{
        name: {
            "check_noise_shrinks_with_epsilon": (
                "at epsilon=0.05 every trial's DPLogisticRegression shrinks to "
                "near-zero coefficients (probabilities near 0.5, little spread "
                "across seeds), while at 1000 the seeds select different "
                "candidates on different splits"
            ),
            "check_estimators_nan_inf": (
                "the search splits the rows before the estimator validates "
                "them; on the check's 10 rows a trial's training part can hold "
                "one class, whose error comes first (scikit-learn's searches do "
                "not validate either)"
            ),
        }
        for name in ("PrivateGridSearchCV", "PrivateRandomizedSearchCV")
    },
    # -- federated --
}

#: Data for the privacy checks when the default (numeric X in [0, 1], binary
#: or continuous y) does not fit: class name -> callable(rng) -> (X, y).
_PRIVACY_CHECK_DATA = {
    # -- ensemble --
    # A third of the rows are public (y == -1), the rest private.
    "PATEClassifier": lambda rng: (
        (
            d := make_classification(
                n_samples=300,
                n_features=4,
                n_informative=3,
                n_redundant=0,
                random_state=0,
            )
        )[0],
        np.where(np.arange(300) % 3 == 0, -1, d[1]),
    ),
}


def _dp_net_instance(cls):
    import torch

    from ..neural_network._testing import TinyMLP

    torch.set_num_threads(1)
    classifier = cls.__name__.endswith("Classifier")
    criterion = torch.nn.CrossEntropyLoss if classifier else torch.nn.MSELoss
    return cls(
        TinyMLP,
        criterion=criterion,
        epsilon=50.0,
        delta=1e-3,
        max_epochs=30,
        batch_size=-1,
        lr=0.5,
        max_grad_norm=5.0,
        accountant="rdp",
        verbose=0,
    )


def _dp_logistic():
    from ..linear_model import DPLogisticRegression

    return DPLogisticRegression()


#: Estimators hit by a scikit-learn 1.6 check bug (see expected_failed_checks).
_SKLEARN_16_INT_X_BUG = {
    "AIMSynthesizer",
    "MSTSynthesizer",
    "Microaggregator",
    "RandomizedResponse",
}


def make_test_instance(cls):
    """An instance of the estimator class ``cls`` set up for the generic checks.

    ``cls`` is a skpriv estimator class (a type, not an instance). Classes
    whose defaults cannot be fitted as they are get the parameters the checks
    need: nets get a small default module, encryptors a key, PATE and the
    federated estimators small settings. Every randomized estimator gets
    ``random_state=0`` (reproducible, as the checks need; a fixed seed is not
    private).

    Returns
    -------
    estimator : estimator instance
        An unfitted instance of ``cls``, ready for
        :func:`parametrize_with_checks`.

    See Also
    --------
    parametrize_with_checks : Run the checks on the instances.
    skpriv.utils.all_estimators : Every public skpriv estimator class.

    Examples
    --------
    >>> from skpriv.preprocessing import Masker
    >>> from skpriv.testing import make_test_instance
    >>> make_test_instance(Masker)
    Masker(fill_value=0.0, p=0.3, random_state=0, strategy='random')
    """
    factory = _TEST_INSTANCE_FACTORIES.get(cls.__name__)
    if factory is not None:
        est = factory(cls)
    else:
        try:
            est = cls()
        except TypeError as exc:
            raise TypeError(
                f"make_test_instance builds classes it does not know with their "
                f"defaults, and {cls.__name__}() failed ({exc}); pass an instance "
                f"to parametrize_with_checks instead of the class."
            ) from None
    if "random_state" in est.get_params(deep=False):
        est.set_params(random_state=0)
    return est


#: PATEClassifier() with its privacy-safe default (public_fraction=None) needs
#: rows with y == -1, which the checks' data does not have.
_PATE_REASON = (
    "PATEClassifier() needs public rows (y == -1) or public_fraction; the "
    "check's data has none, so fit raises ValueError (the privacy-safe default)"
)
_PATE_NEEDS_PUBLIC_ROWS = (
    "check_classifier_data_not_an_array",
    "check_classifiers_classes",
    "check_classifiers_train",
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_estimator_sparse_tag",
    "check_estimators_dtypes",
    "check_estimators_fit_returns_self",
    "check_estimators_nan_inf",
    "check_estimators_overwrite_params",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_predict1d",
    "check_fit_check_is_fitted",
    "check_fit_idempotent",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_readonly_memmap_input",
    "check_supervised_y_2d",
)


def expected_failed_checks(estimator):
    """The scikit-learn checks ``estimator`` is expected to fail, with reasons.

    Each entry is a check whose assumption does not hold for a deliberate
    design choice of the estimator (for instance, outputs that are strings, or
    skorch's API), with the reason and, where it exists, the test that checks
    the same property another way. Estimators with no expected failure get an
    empty dict.

    Parameters
    ----------
    estimator : estimator instance
        The skpriv estimator the checks run on; only its class is used.

    Returns
    -------
    failures : dict
        ``{check name: reason}``, the form scikit-learn's
        ``parametrize_with_checks(expected_failed_checks=...)`` takes.

    See Also
    --------
    parametrize_with_checks : Marks these checks ``xfail``.
    sklearn.utils.estimator_checks.parametrize_with_checks : The
        scikit-learn decorator, which takes this dict.

    Examples
    --------
    >>> from skpriv.ensemble import PATEClassifier
    >>> from skpriv.testing import expected_failed_checks
    >>> "check_classifiers_classes" in expected_failed_checks(PATEClassifier())
    True
    """
    failures = dict(_EXPECTED_FAILED_CHECKS.get(type(estimator).__name__, {}))
    if (
        type(estimator).__name__ == "PATEClassifier"
        and estimator.get_params().get("public_fraction") is None
    ):
        failures.update(dict.fromkeys(_PATE_NEEDS_PUBLIC_ROWS, _PATE_REASON))
    # scikit-learn 1.6's check_positive_only_tag_during_fit makes an integer X
    # for categorical estimators and subtracts a float mean from it in place
    # (fixed in 1.7); only estimators that keep integer input as is hit it.
    if type(estimator).__name__ in _SKLEARN_16_INT_X_BUG and parse_version(
        sklearn.__version__
    ) < parse_version("1.7"):
        failures["check_positive_only_tag_during_fit"] = (
            "scikit-learn 1.6's check subtracts a float mean in place from the "
            "integer X it makes for categorical estimators (a bug fixed in 1.7)"
        )
    return failures


# --------------------------------------------------------------------------
# Privacy checks
# --------------------------------------------------------------------------


def _default_data(estimator, rng):
    name = type(estimator).__name__
    if name in _PRIVACY_CHECK_DATA:
        return _PRIVACY_CHECK_DATA[name](rng)
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    X = (X - X.min(0)) / (X.max(0) - X.min(0))
    if is_regressor(estimator):
        y = X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.standard_normal(len(X))
    return X, y


def _output(estimator, X):
    if hasattr(estimator, "sample") and not hasattr(estimator, "predict"):
        # Synthesizers release rows through sample().
        return np.asarray(estimator.sample(len(X), random_state=0), dtype=np.float64)
    for method in ("transform", "predict_proba", "decision_function", "predict"):
        if hasattr(estimator, method):
            out = getattr(estimator, method)(X)
            if method == "predict" and is_classifier(estimator):
                continue
            return np.asarray(out, dtype=np.float64)
    return np.asarray(estimator.predict(X))


def _fit(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return estimator.fit(X, y)


def check_no_budget_on_invalid_params(name, estimator):
    """An invalid epsilon fails at fit, names ``epsilon`` and records nothing."""
    if "epsilon" not in estimator.get_params(deep=False):
        return
    X, y = _default_data(estimator, np.random.default_rng(0))
    for bad in (-1.0, 0.0, float("nan"), float("inf")):
        est = clone(estimator).set_params(epsilon=bad)
        try:
            est.fit(X, y)
        except ValueError as exc:  # InvalidParameterError is a ValueError
            assert "epsilon" in str(exc), f"{name}: error does not name epsilon: {exc}"
        else:
            raise AssertionError(f"{name}: fit accepted epsilon={bad!r}")
        assert not hasattr(est, "dp_event_"), f"{name}: budget recorded on invalid fit"


def check_leak_warning_bounds_from_data(name, estimator):
    """Bounds or norms read from the data raise ``PrivacyLeakWarning``."""
    params = estimator.get_params(deep=False)
    for param in ("bounds", "data_norm"):
        if param not in params:
            continue
        X, y = _default_data(estimator, np.random.default_rng(0))
        est = clone(estimator).set_params(**{param: None})
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            est.fit(X, y)
        assert any(issubclass(w.category, PrivacyLeakWarning) for w in record), (
            f"{name}: {param}=None did not raise PrivacyLeakWarning"
        )


def check_reproducible_with_int_seed(name, estimator):
    """Two fits (and outputs) with ``random_state=0`` are identical."""
    if "random_state" not in estimator.get_params(deep=False):
        return
    X, y = _default_data(estimator, np.random.default_rng(0))
    outs = []
    for _ in range(2):
        est = _fit(clone(estimator).set_params(random_state=0), X, y)
        outs.append(_output(est, X))
    np.testing.assert_array_equal(outs[0], outs[1], err_msg=f"{name}: not reproducible")


def check_noise_shrinks_with_epsilon(name, estimator):
    """Across seeds, outputs disagree less at a large epsilon than a small one."""
    params = estimator.get_params(deep=False)
    if "epsilon" not in params or "random_state" not in params:
        return
    X, y = _default_data(estimator, np.random.default_rng(0))

    def spread(epsilon):
        outs = [
            _output(
                _fit(
                    clone(estimator).set_params(epsilon=epsilon, random_state=s), X, y
                ),
                X,
            )
            for s in range(4)
        ]
        return float(np.mean(np.std(np.stack(outs), axis=0)))

    small, large = spread(0.05), spread(1000.0)
    assert large < small, (
        f"{name}: output spread across seeds at epsilon=1000 ({large:.4g}) is not "
        f"below the spread at epsilon=0.05 ({small:.4g})"
    )


def check_params_unchanged_by_fit(name, estimator):
    """``fit`` leaves every parameter exactly as given."""
    X, y = _default_data(estimator, np.random.default_rng(0))
    est = clone(estimator)
    before = {k: joblib_hash(v) for k, v in est.get_params(deep=False).items()}
    _fit(est, X, y)
    after = {k: joblib_hash(v) for k, v in est.get_params(deep=False).items()}
    changed = [k for k in before if before[k] != after[k]]
    assert not changed, f"{name}: fit rewrote parameters {changed}"


def check_records_dp_event(name, estimator):
    """A fit records a ``dp_event_`` that costs a positive epsilon."""
    from ..accounting import privacy_spent
    from ..base import PrivacyMixin

    # Only objects that spend budget must record it; masking and encryption
    # parts (not PrivacyMixin, no epsilon) are not DP and record nothing.
    if not isinstance(estimator, PrivacyMixin) and "epsilon" not in (
        estimator.get_params(deep=False)
    ):
        return
    X, y = _default_data(estimator, np.random.default_rng(0))
    est = _fit(clone(estimator), X, y)
    assert isinstance(getattr(est, "dp_event_", None), DpEvent), (
        f"{name}: no dp_event_ recorded by fit"
    )
    spent = privacy_spent(est, delta=1e-5)
    assert spent.epsilon > 0, f"{name}: recorded event costs nothing"


def _fingerprint(value) -> str:
    """A stable digest of a fitted attribute's value (``repr`` as a fallback)."""
    try:
        return joblib_hash(value)
    except Exception:  # objects joblib cannot pickle (locks, generators)
        return repr(value)


def _neighbour(X, y, estimator):
    """``(X, y)`` with one extreme row added (far outside [0, 1] if numeric)."""
    X = np.asarray(X) if not hasattr(X, "iloc") else X
    if hasattr(X, "iloc"):  # a DataFrame: repeat its last row
        import pandas as pd

        X2 = pd.concat([X, X.iloc[[-1]]], ignore_index=True)
    elif np.issubdtype(X.dtype, np.number):
        X2 = np.vstack([X, np.full((1,) + X.shape[1:], 10.0, dtype=X.dtype)])
    else:
        X2 = np.concatenate([X, X[-1:]])
    if y is None:
        return X2, None
    y = np.asarray(y)
    if is_classifier(estimator):
        extra = y[:1]  # an existing label: the label set is not under test
    elif np.issubdtype(y.dtype, np.number):
        extra = np.full((1,) + y.shape[1:], 10.0 * (np.abs(y).max() + 1), y.dtype)
    else:
        extra = y[-1:]
    return X2, np.concatenate([y, extra])


#: Seeds each neighbouring data set is fitted under.
_NEIGHBOUR_SEEDS = (0, 1, 2)


def check_release_on_neighbours(name, estimator):
    """No fitted attribute differs deterministically between neighbours unless declared.

    Fits ``estimator`` on a data set and on the same data set with one extreme
    row added, under several integer seeds. An attribute that takes one value
    for every seed on each data set but different values on the two is a
    deterministic function of the private rows: its class must declare it
    ``"public"`` (for instance the row count, which the privacy model treats
    as public) or ``"uncovered: ..."`` (named by ``privacy_spent``). Declared
    DP outputs and undeclared attributes that do so fail the check.
    """
    from ..base import DP, UNCOVERED, fitted_attributes, release_kinds

    kinds = release_kinds(estimator)
    assert kinds is not None, (
        f"{name}: declares no releases (_privacy_releases); every skpriv class "
        f"must say what each fitted attribute is"
    )
    X, y = _default_data(estimator, np.random.default_rng(0))
    X2, y2 = _neighbour(X, y, estimator)
    seeded = "random_state" in estimator.get_params(deep=False)
    seeds = _NEIGHBOUR_SEEDS if seeded else (None,)
    prints = []
    for data in ((X, y), (X2, y2)):
        per_seed = []
        for seed in seeds:
            est = clone(estimator)
            if seeded:
                est.set_params(random_state=seed)
            _fit(est, *data)
            per_seed.append(
                {a: _fingerprint(getattr(est, a)) for a in fitted_attributes(est)}
            )
        prints.append(per_seed)
    kinds = release_kinds(est)  # kinds may depend on fitted parameters
    leaks = []
    for attr in sorted(set(prints[0][0]) | set(prints[1][0])):
        values = [[p.get(attr) for p in per_seed] for per_seed in prints]
        deterministic = all(len(set(v)) == 1 for v in values)
        if deterministic and values[0][0] != values[1][0]:
            kind = kinds.get(attr, (UNCOVERED, "undeclared"))
            if kind[0] == DP or attr not in kinds:
                leaks.append(attr)
    assert not leaks, (
        f"{name}: fitted attributes {leaks} differ deterministically between "
        f"neighbouring data sets (one row apart) but are declared DP output or "
        f"not declared; declare them 'public' or 'uncovered: <reason>', or "
        f"derive them from the noisy releases"
    )


PRIVACY_CHECKS = (
    check_no_budget_on_invalid_params,
    check_leak_warning_bounds_from_data,
    check_reproducible_with_int_seed,
    check_noise_shrinks_with_epsilon,
    check_params_unchanged_by_fit,
    check_records_dp_event,
    check_release_on_neighbours,
)


def privacy_checks(estimator):
    """Yield ``(estimator, check)`` pairs of the privacy checks.

    The privacy checks test what scikit-learn's checks cannot: that an invalid
    ``epsilon`` fails before spending budget, that bounds read from the data
    raise :class:`~skpriv.exceptions.PrivacyLeakWarning`, that an int seed
    reproduces, that noise shrinks as epsilon grows, that ``fit`` leaves the
    parameters unchanged and that a fit records a ``dp_event_`` of positive
    epsilon.

    Parameters
    ----------
    estimator : estimator instance
        The skpriv estimator to check, for instance from
        :func:`make_test_instance`.

    Yields
    ------
    estimator : estimator instance
        The same ``estimator``.
    check : callable
        A check with the estimator's name bound; call ``check(estimator)``.

    See Also
    --------
    parametrize_with_checks : These checks after scikit-learn's.

    Examples
    --------
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> from skpriv.testing import make_test_instance
    >>> from skpriv.testing import privacy_checks
    >>> estimator = make_test_instance(LaplaceNoise)
    >>> for est, check in privacy_checks(estimator):
    ...     print(check.func.__name__)
    check_no_budget_on_invalid_params
    check_leak_warning_bounds_from_data
    check_reproducible_with_int_seed
    check_noise_shrinks_with_epsilon
    check_params_unchanged_by_fit
    check_records_dp_event
    check_release_on_neighbours
    """
    name = type(estimator).__name__
    for check in PRIVACY_CHECKS:
        yield estimator, partial(check, name)


def _check_id(obj):
    if hasattr(obj, "get_params"):
        return type(obj).__name__
    if isinstance(obj, partial):
        return obj.func.__name__
    return getattr(obj, "__name__", str(obj))


def parametrize_with_checks(estimators):
    """Pytest decorator running scikit-learn's checks and the privacy checks.

    For each estimator it parametrizes the test with every check of
    scikit-learn's ``estimator_checks_generator`` (legacy checks included),
    then with skpriv's :func:`privacy_checks`. Test ids name the estimator
    class and the check.

    Parameters
    ----------
    estimators : list of estimator instances or classes
        The estimators to check, for instance built by
        :func:`make_test_instance`; a class is built by it (a class it does
        not know gets its default parameters and ``random_state=0``).

    Returns
    -------
    decorator : pytest.mark.parametrize
        Parametrizes ``(estimator, check)``; expected failures from
        :func:`expected_failed_checks` are marked ``xfail`` with their reason.

    See Also
    --------
    make_test_instance : Build an instance of a class for the checks.
    privacy_checks : The privacy checks alone.
    sklearn.utils.estimator_checks.parametrize_with_checks : The
        scikit-learn checks alone.

    Examples
    --------
    >>> from skpriv.preprocessing import LaplaceNoise
    >>> from skpriv.testing import (
    ...     make_test_instance,
    ...     parametrize_with_checks,
    ... )
    >>> @parametrize_with_checks([make_test_instance(LaplaceNoise)])
    ... def test_skpriv_compatible_estimator(estimator, check):
    ...     check(estimator)
    """
    import pytest

    # Classes are accepted too: a user's class is built with its defaults.
    estimators = [
        make_test_instance(e) if isinstance(e, type) else e for e in estimators
    ]

    def gen():
        for est in estimators:
            failures = expected_failed_checks(est)
            yield from estimator_checks_generator(
                est, legacy=True, expected_failed_checks=failures, mark="xfail"
            )
            # The privacy checks honour the same table.
            for est_, check in privacy_checks(est):
                reason = failures.get(check.func.__name__)
                if reason is None:
                    yield est_, check
                else:
                    yield pytest.param(
                        est_, check, marks=pytest.mark.xfail(reason=reason)
                    )

    return pytest.mark.parametrize("estimator, check", list(gen()), ids=_check_id)
