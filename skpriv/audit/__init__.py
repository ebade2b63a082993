"""Empirical privacy audits: membership inference and canary audits."""

from ._kanonymity import KAnonymityResult, LDiversityResult, k_anonymity, l_diversity
from ._membership import (
    CanaryAuditResult,
    MembershipInferenceResult,
    canary_audit,
    membership_inference,
)
from ._scores import example_scores, one_run_epsilon_lower_bound

__all__ = [
    "CanaryAuditResult",
    "KAnonymityResult",
    "LDiversityResult",
    "MembershipInferenceResult",
    "canary_audit",
    "example_scores",
    "k_anonymity",
    "l_diversity",
    "membership_inference",
    "one_run_epsilon_lower_bound",
]
