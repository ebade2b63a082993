"""skpriv.federated."""

__all__ = []
