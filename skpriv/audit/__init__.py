"""Empirical privacy audits: membership inference and canary audits."""

from ._membership import (
    CanaryAuditResult,
    MembershipInferenceResult,
    canary_audit,
    membership_inference,
)
from ._scores import example_scores, one_run_epsilon_lower_bound

__all__ = [
    "CanaryAuditResult",
    "MembershipInferenceResult",
    "canary_audit",
    "example_scores",
    "membership_inference",
    "one_run_epsilon_lower_bound",
]
