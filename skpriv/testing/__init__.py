"""Privacy tests for users' own CI: checks, assertions and hypothesis strategies.

``import skpriv.testing`` never imports hypothesis; ``skpriv.testing.strategies``
does, when first used.
"""

from ._checks import (
    expected_failed_checks,
    make_test_instance,
    parametrize_with_checks,
    privacy_checks,
)
from ._dp import DPCheckResult, assert_privacy_spent, check_dp

__all__ = [
    "DPCheckResult",
    "assert_privacy_spent",
    "check_dp",
    "expected_failed_checks",
    "make_test_instance",
    "parametrize_with_checks",
    "privacy_checks",
]
