"""Privacy tests for users' own CI: checks, assertions and hypothesis strategies.

Names are imported on first use: pytest loads this package's plugin in every
session (``pytest11`` entry point), and ``import skpriv.testing`` must stay
light; ``skpriv.testing.strategies`` imports hypothesis when first used.
"""

import importlib

#: Public name -> private module defining it.
_LAZY = {
    "DPCheckResult": "._dp",
    "assert_privacy_spent": "._dp",
    "check_dp": "._dp",
    "expected_failed_checks": "._checks",
    "make_test_instance": "._checks",
    "parametrize_with_checks": "._checks",
    "privacy_checks": "._checks",
    "strategies": ".strategies",
}

# ``strategies`` is a submodule (``from skpriv.testing import strategies``),
# left out of ``__all__`` so that walking the public names (estimator
# discovery, the API docs) never needs hypothesis.
__all__ = sorted(name for name in _LAZY if name != "strategies")


def __getattr__(name):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name], __name__)
    value = module if name == "strategies" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
