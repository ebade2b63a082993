"""skpriv.ensemble."""

__all__ = []
