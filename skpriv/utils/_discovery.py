"""Discovery of skpriv's public estimators."""

import importlib
import inspect

from sklearn.base import BaseEstimator

__all__ = ["PUBLIC_MODULES", "all_estimators"]

#: Public subpackages and the extra each needs (None: core install).
PUBLIC_MODULES = {
    "skpriv.preprocessing": None,
    "skpriv.encryption": None,
    "skpriv.linear_model": None,
    "skpriv.naive_bayes": None,
    "skpriv.cluster": None,
    "skpriv.decomposition": None,
    "skpriv.ensemble": None,
    "skpriv.model_selection": None,
    "skpriv.stats": None,
    "skpriv.federated": None,
    "skpriv.audit": None,
    "skpriv.testing": None,
    "skpriv.synthetic": "synth",
    "skpriv.neural_network": "torch",
}


def all_estimators():
    """Every public skpriv estimator, as sorted ``(name, class)`` pairs.

    The estimators are the classes deriving from scikit-learn's
    ``BaseEstimator`` listed in the ``__all__`` of skpriv's public
    subpackages. Subpackages whose optional extra is not installed are
    skipped.

    Returns
    -------
    estimators : list of (str, type)
        ``(class name, class)`` pairs, sorted by name.

    See Also
    --------
    sklearn.utils.discovery.all_estimators : The same for scikit-learn.
    skpriv.testing.parametrize_with_checks : Run the checks on
        estimators.

    Examples
    --------
    >>> from skpriv.utils import all_estimators
    >>> estimators = dict(all_estimators())
    >>> estimators["LaplaceNoise"].__name__
    'LaplaceNoise'
    >>> "DPLogisticRegression" in estimators
    True
    """
    found = {}
    for module_name, extra in PUBLIC_MODULES.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            if extra is None:
                raise
            continue
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if (
                inspect.isclass(obj)
                and issubclass(obj, BaseEstimator)
                and not inspect.isabstract(obj)
                and not name.startswith("_")
            ):
                found[name] = obj
    return sorted(found.items())
