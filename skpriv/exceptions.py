"""Warnings and errors raised by skpriv."""

__all__ = [
    "BudgetExceededError",
    "DecryptionError",
    "PrivacyLeakWarning",
    "UncoveredReleaseError",
]


class PrivacyLeakWarning(UserWarning):
    """Warning that a computation reveals information outside the DP guarantee.

    Raised, for instance, when ``bounds=None`` or ``data_norm=None`` makes an
    estimator read its bounds from the private data itself: the resulting
    model is then *not* covered by the stated differential privacy guarantee.
    Pass public bounds (or ``"private"`` where supported) to silence it.
    """


class BudgetExceededError(ValueError):
    """The requested operation would spend more privacy budget than allowed."""


class DecryptionError(ValueError):
    """Ciphertext could not be authenticated: wrong key, tampered or truncated.

    Nothing is deserialized or returned when this is raised.
    """


class UncoveredReleaseError(ValueError):
    """A fitted object releases something its reported epsilon does not cover.

    Raised by ``privacy_spent(obj, strict=True)``; ``releases`` lists each
    uncovered release (part, attribute, reason).
    """

    def __init__(self, message, releases=()):
        super().__init__(message)
        self.releases = tuple(releases)
