"""Guards the public API: every subpackage's ``__all__`` resolves and is sorted."""

import importlib
import subprocess
import sys

import pytest

from skpriv.utils._discovery import PUBLIC_MODULES

MODULES = [
    "skpriv.accounting",
    "skpriv.exceptions",
    "skpriv.utils",
    "skpriv.utils.estimator_checks",
    "skpriv.testing.strategies",
    *PUBLIC_MODULES,
]


@pytest.mark.parametrize("module_name", MODULES)
def test_all_names_resolve(module_name):
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = PUBLIC_MODULES.get(module_name)
        if extra is None:
            raise
        assert extra in str(exc), "the ImportError must name the extra to install"
        pytest.skip(f"extra {extra!r} not installed")
    names = module.__all__
    assert list(names) == sorted(names), f"{module_name}.__all__ is not sorted"
    for name in names:
        assert hasattr(module, name), f"{module_name}.__all__ lists missing {name}"


def test_import_skpriv_is_light():
    code = (
        "import sys, skpriv, skpriv.accounting, skpriv.preprocessing, "
        "skpriv.linear_model, skpriv.encryption, skpriv.ensemble, skpriv.federated, "
        "skpriv.naive_bayes, skpriv.cluster, skpriv.decomposition, "
        "skpriv.model_selection, skpriv.stats, skpriv.testing;"
        "heavy = [m for m in ('torch', 'skorch', 'opacus', 'flwr', 'matplotlib', "
        "'mbi', 'tenseal', 'hypothesis') "
        "if m in sys.modules]; print(heavy); assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_version():
    import skpriv

    assert skpriv.__version__
