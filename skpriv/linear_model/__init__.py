"""skpriv.linear_model."""

__all__ = []
