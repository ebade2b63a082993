"""skpriv.neural_network."""

__all__ = []
