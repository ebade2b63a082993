"""Moved to :mod:`skpriv.testing`; this path keeps old imports working."""

from ..testing._checks import (  # noqa: F401
    _EXPECTED_FAILED_CHECKS,
    _PRIVACY_CHECK_DATA,
    _TEST_INSTANCE_FACTORIES,
    PRIVACY_CHECKS,
    check_leak_warning_bounds_from_data,
    check_no_budget_on_invalid_params,
    check_noise_shrinks_with_epsilon,
    check_params_unchanged_by_fit,
    check_records_dp_event,
    check_release_on_neighbours,
    check_reproducible_with_int_seed,
    expected_failed_checks,
    make_test_instance,
    parametrize_with_checks,
    privacy_checks,
)

__all__ = [
    "expected_failed_checks",
    "make_test_instance",
    "parametrize_with_checks",
    "privacy_checks",
]
