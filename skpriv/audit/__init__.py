"""skpriv.audit."""

__all__ = []
