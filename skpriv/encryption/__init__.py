"""skpriv.encryption."""

__all__ = []
