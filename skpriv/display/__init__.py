"""skpriv.display."""

__all__ = []
