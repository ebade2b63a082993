"""Differentially private statistics, vectorized over features.

Each function clips to public bounds (or spends part of epsilon on private
ones), adds noise from the floating-point-safe samplers of
:mod:`skpriv.mechanisms` (or draws from the exponential mechanism on a public
grid) and can charge a :class:`~skpriv.accounting.PrivacyBudget` before it
releases anything.
"""

from ._functions import count, histogram, mean, quantile, std, sum, var

__all__ = ["count", "histogram", "mean", "quantile", "std", "sum", "var"]
