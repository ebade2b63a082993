"""k-ary randomized response over integer codes, and its frequency estimator."""

import math
from numbers import Integral

import dp_accounting
import numpy as np

from ..utils._validation import check_epsilon
from ._grid import _check_rng

__all__ = ["KaryRandomizedResponse"]


class KaryRandomizedResponse:
    """The k-ary randomized response mechanism (Warner 1965; Kairouz et al. 2016).

    Each code in ``[0, n_categories)`` is kept with probability
    ``e^epsilon / (e^epsilon + k - 1)`` and otherwise replaced by one of the
    other ``k - 1`` codes, uniformly; this is ``epsilon``-DP for one value. It
    equals dp-accounting's ``RandomizedResponseDpEvent`` with
    ``noise_parameter = k / (e^epsilon + k - 1)`` (replace by a uniform draw
    over all ``k`` codes with that probability).

    Parameters
    ----------
    epsilon : float
        Privacy budget of one randomized value (> 0).
    n_categories : int
        Number of categories ``k`` (>= 1; with one category nothing is
        random).

    Attributes
    ----------
    keep_probability : float
        ``e^epsilon / (e^epsilon + k - 1)``.
    noise_parameter : float
        ``k / (e^epsilon + k - 1)``, dp-accounting's parametrisation.

    See Also
    --------
    skpriv.preprocessing.RandomizedResponse : The transformer for columns of
        categories.

    Notes
    -----
    Outputs are integer codes, so no floating-point artefact applies; the
    keep decision compares a 53-bit uniform with ``keep_probability``, which
    moves that probability by at most ``2**-53``. Vectorized: one uniform and
    one integer draw per value.

    References
    ----------
    .. [1] S. Warner, "Randomized response: a survey technique for eliminating
       evasive answer bias", JASA 1965.
    .. [2] P. Kairouz, K. Bonawitz, D. Ramage, "Discrete distribution
       estimation under local privacy", ICML 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.mechanisms import KaryRandomizedResponse
    >>> rr = KaryRandomizedResponse(epsilon=2.0, n_categories=3)
    >>> round(rr.keep_probability, 3)
    0.787
    >>> codes = rr.randomise(np.array([0, 1, 2, 2]), np.random.default_rng(0))
    >>> codes.shape
    (4,)
    """

    def __init__(self, epsilon, n_categories):
        self.epsilon = check_epsilon(epsilon)
        if (
            not isinstance(n_categories, (Integral, np.integer))
            or isinstance(n_categories, (bool, np.bool_))
            or n_categories < 1
        ):
            raise ValueError(
                f"n_categories must be a positive integer; got {n_categories!r}."
            )
        self.n_categories = int(n_categories)
        k = self.n_categories
        # exp(-epsilon) keeps large epsilon finite: e/(e+k-1) = 1/(1+(k-1)e^-eps).
        self.keep_probability = 1.0 / (1.0 + (k - 1) * math.exp(-self.epsilon))
        self.noise_parameter = k * math.exp(-self.epsilon) * self.keep_probability

    def dp_event(self):
        """The ``dp_accounting`` event of one randomized value.

        Returns
        -------
        event : dp_accounting.RandomizedResponseDpEvent or NoOpDpEvent
            ``NoOpDpEvent`` when there is a single category.
        """
        if self.n_categories == 1:
            return dp_accounting.NoOpDpEvent()
        return dp_accounting.RandomizedResponseDpEvent(
            noise_parameter=self.noise_parameter, num_buckets=self.n_categories
        )

    def randomise(self, codes, rng) -> np.ndarray:
        """Randomize integer codes in ``[0, n_categories)``.

        Parameters
        ----------
        codes : array-like of int
            True codes.
        rng : numpy.random.Generator
            Source of randomness.

        Returns
        -------
        randomized : ndarray of int64
            Randomized codes, same shape as ``codes``.
        """
        codes = self._check_codes(codes)
        rng = _check_rng(rng)
        k = self.n_categories
        if k == 1:
            return codes.copy()
        # A uniform draw among the k - 1 other codes: skip over the true one.
        other = rng.integers(0, k - 1, size=codes.shape, dtype=np.int64)
        other += other >= codes
        keep = rng.random(codes.shape) < self.keep_probability
        return np.where(keep, codes, other)

    def estimate_frequencies(self, codes, *, normalize=False):
        """Unbiased estimate of the true category counts from randomized codes.

        With ``p`` the keep probability and ``q = (1 - p) / (k - 1)``, a
        randomized count ``c_j`` has expectation ``q n + (p - q) n_j``, so
        ``(c_j - q n) / (p - q)`` is unbiased for the true count ``n_j``. It
        can be negative; clip and renormalize if you need a distribution.

        Parameters
        ----------
        codes : array-like of int
            Randomized codes (any shape; all are pooled).
        normalize : bool, default=False
            Return frequencies (estimated counts divided by the number of
            codes) instead of counts.

        Returns
        -------
        estimate : ndarray of float64 of shape (n_categories,)
            Estimated count (or frequency) of each category.
        """
        codes = self._check_codes(codes).ravel()
        k = self.n_categories
        n = codes.size
        counts = np.bincount(codes, minlength=k).astype(np.float64)
        if k == 1:
            estimate = counts
        else:
            p = self.keep_probability
            q = (1.0 - p) / (k - 1)
            estimate = (counts - q * n) / (p - q)
        if normalize:
            return estimate / n if n else estimate
        return estimate

    def _check_codes(self, codes) -> np.ndarray:
        codes = np.asarray(codes)
        if codes.dtype.kind not in "iub":
            if codes.dtype.kind == "f" and np.all(codes == np.floor(codes)):
                codes = codes.astype(np.int64)
            else:
                raise ValueError(
                    f"codes must be integers in [0, {self.n_categories}); got an "
                    f"array of dtype {codes.dtype}."
                )
        codes = codes.astype(np.int64, copy=False)
        if codes.size and (codes.min() < 0 or codes.max() >= self.n_categories):
            raise ValueError(
                f"codes must lie in [0, n_categories={self.n_categories}); got "
                f"values in [{codes.min()}, {codes.max()}]."
            )
        return codes

    def __repr__(self):
        return (
            f"KaryRandomizedResponse(epsilon={self.epsilon!r}, "
            f"n_categories={self.n_categories!r})"
        )
