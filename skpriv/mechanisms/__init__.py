"""skpriv.mechanisms."""

__all__ = []
