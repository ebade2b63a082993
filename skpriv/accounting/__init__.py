"""Privacy accounting: compose what fitted objects spent; calibrate noise."""

from ._calibration import (
    dpsgd_noise_multiplier,
    gaussian_epsilon,
    gaussian_sigma,
    laplace_scale,
)
from ._spent import (
    PrivacySpent,
    collect_dp_events,
    make_accountant,
    non_private_parts,
    privacy_spent,
    pure_epsilon,
)

__all__ = [
    "PrivacySpent",
    "collect_dp_events",
    "dpsgd_noise_multiplier",
    "gaussian_epsilon",
    "gaussian_sigma",
    "laplace_scale",
    "make_accountant",
    "non_private_parts",
    "privacy_spent",
    "pure_epsilon",
]
