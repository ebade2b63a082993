"""Randomness: one helper turns ``random_state`` into a numpy Generator."""

from numbers import Integral

import numpy as np

__all__ = ["check_random_state", "spawn_seeds"]


def check_random_state(seed) -> np.random.Generator:
    """Turn ``seed`` into a :class:`numpy.random.Generator`.

    Every skpriv estimator draws its noise from the generator this returns for
    its ``random_state``. Unlike scikit-learn's helper of the same name, it
    returns a new-style ``Generator`` rather than a ``RandomState``.

    Parameters
    ----------
    seed : None, int, numpy.random.Generator or numpy.random.RandomState
        ``None`` draws fresh entropy from the operating system (the private
        default). An int gives a reproducible stream: use it for tests and
        examples only, since anyone who knows the seed can subtract the noise.
        A ``Generator`` is returned as is; a legacy ``RandomState`` seeds a new
        ``Generator`` from its stream.

    Returns
    -------
    rng : numpy.random.Generator
        The generator to draw from.

    See Also
    --------
    sklearn.utils.check_random_state : The scikit-learn helper, which returns
        a ``RandomState``.

    Examples
    --------
    >>> from skpriv.utils import check_random_state
    >>> rng = check_random_state(0)
    >>> rng.integers(10, size=3)
    array([8, 6, 5])
    >>> check_random_state(rng) is rng
    True
    """
    if seed is None:
        return np.random.default_rng()
    if isinstance(seed, np.random.Generator):
        return seed
    if isinstance(seed, (Integral, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed))
    if isinstance(seed, np.random.RandomState):
        return np.random.default_rng(seed.randint(0, 2**32 - 1, size=4))
    raise ValueError(
        f"random_state must be None, an int, a numpy Generator or RandomState; "
        f"got {seed!r}."
    )


def spawn_seeds(rng: np.random.Generator, n: int) -> list[int]:
    """Draw ``n`` independent integer seeds for child estimators or workers."""
    return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]
