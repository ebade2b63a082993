"""skpriv.preprocessing."""

__all__ = []
