"""decomposition."""

__all__ = []
