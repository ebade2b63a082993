"""stats."""

__all__ = []
