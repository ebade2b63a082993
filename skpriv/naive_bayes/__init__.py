"""naive_bayes."""

__all__ = []
