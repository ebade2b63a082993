"""The epsilon that calibrates the noise: huge budgets are capped."""

__all__ = ["MAX_CALIBRATED_EPSILON", "calibration_epsilon"]

#: Largest epsilon the noise is calibrated to. Above it the noise is already
#: far below the sensitivity (Gaussian at delta=1e-5: 7e-4 of it), while
#: calibrating to larger values overflows (``1 / sigma**2``) or loses the
#: exactness of dp-accounting's search (above about 1e7). Calibrating to less
#: than the budget adds more noise than needed: still within the budget.
MAX_CALIBRATED_EPSILON = 1e6


def calibration_epsilon(epsilon):
    """``min(epsilon, MAX_CALIBRATED_EPSILON)`` (``None`` stays ``None``).

    The recorded DP event describes the noise actually added, so the epsilon
    reported for a fit is then at most ``MAX_CALIBRATED_EPSILON``.
    """
    if epsilon is None:
        return None
    epsilon = float(epsilon)
    return epsilon if epsilon <= MAX_CALIBRATED_EPSILON else MAX_CALIBRATED_EPSILON
