"""Privacy accounting: compose what fitted objects spent; calibrate noise.

- ``_accountants``: dp-accounting's accountants and ``epsilon_of``, the one
  function from a DP event to epsilon;
- ``_walk``: the one walk over fitted objects and what each part releases;
- ``_planning``: the events of a search's fits, planned from parameters;
- ``_spent``: ``privacy_spent`` and ``PrivacySpent``;
- ``_calibration``: from epsilon to noise;
- ``_budget``: ``PrivacyBudget``, a privacy filter.
"""

from ._accountants import epsilon_of, make_accountant, pure_epsilon
from ._budget import PrivacyBudget
from ._calibration import (
    dpsgd_noise_multiplier,
    gaussian_epsilon,
    gaussian_sigma,
    laplace_scale,
)
from ._planning import collect_dp_events
from ._public import DeclaredPublic
from ._spent import PrivacySpent, non_private_parts, privacy_spent
from ._walk import UncoveredRelease

__all__ = [
    "DeclaredPublic",
    "PrivacyBudget",
    "PrivacySpent",
    "UncoveredRelease",
    "collect_dp_events",
    "dpsgd_noise_multiplier",
    "epsilon_of",
    "gaussian_epsilon",
    "gaussian_sigma",
    "laplace_scale",
    "make_accountant",
    "non_private_parts",
    "privacy_spent",
    "pure_epsilon",
]
