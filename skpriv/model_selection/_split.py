"""A cross-validation splitter stable under adding a row, and fold stability."""

import hashlib
from numbers import Integral

import numpy as np
from scipy import sparse
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import indexable
from sklearn.utils.validation import _num_samples

from ..utils._random import check_random_state

__all__ = ["StableKFold"]


class StableKFold(BaseCrossValidator):
    """K-fold cross-validation where a row's fold depends only on that row.

    Each row goes to the fold given by a keyed hash of its bytes, with a key
    drawn at every call of :meth:`split`. Adding or removing one row of the
    data therefore changes the training set of every fold by that row alone,
    so each fit of a search or of ``cross_validate`` sees a neighbouring data
    set and its DP guarantee holds as stated. Scikit-learn's ``KFold`` cuts
    the rows into contiguous blocks: one added row shifts the block
    boundaries and moves up to two other rows between folds (any number when
    shuffled), so :func:`~skpriv.accounting.privacy_spent` charges each fold
    fit of a ``KFold`` search for three rows (group privacy) and names
    shuffled and stratified splitters as not covered.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds, at least 2.
    random_state : int, numpy.random.Generator or None, default=None
        Source of the hash key. ``None`` draws a fresh key from the operating
        system at every :meth:`split`; an int gives the same folds at every
        call (for tests and reproducible examples).

    See Also
    --------
    sklearn.model_selection.KFold : Contiguous folds of equal size.

    Notes
    -----
    Fold sizes are random (each row picks one of ``n_splits`` folds uniformly,
    independently of the other rows), so they differ by a few rows from
    ``n / n_splits``. Identical rows share a fold. :meth:`split` raises a
    ``ValueError`` if a fold is empty, which with ``n`` rows happens with
    probability below ``n_splits * (1 - 1 / n_splits) ** n``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.model_selection import cross_validate
    >>> from skpriv.model_selection import StableKFold
    >>> X = np.arange(40.0).reshape(20, 2)
    >>> y = X.sum(axis=1)
    >>> cv = StableKFold(n_splits=3, random_state=0)
    >>> cv.get_n_splits()
    3
    >>> results = cross_validate(Ridge(), X, y, cv=cv)
    >>> len(results["test_score"])
    3
    """

    # Read by skpriv.accounting: adding one row changes a training set by that
    # row alone, and the test folds partition the rows.
    _privacy_fold_shift = 1

    def __init__(self, n_splits=5, random_state=None):
        self.n_splits = n_splits
        self.random_state = random_state

    def _check_n_splits(self):
        if (
            not isinstance(self.n_splits, Integral)
            or isinstance(self.n_splits, bool)
            or self.n_splits < 2
        ):
            raise ValueError(
                f"n_splits must be an integer of at least 2; got {self.n_splits!r}."
            )

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits (``n_splits``).

        Parameters
        ----------
        X : object, default=None
            Ignored; for scikit-learn's splitter API.
        y : object, default=None
            Ignored; for scikit-learn's splitter API.
        groups : object, default=None
            Ignored; for scikit-learn's splitter API.

        Returns
        -------
        n_splits : int
            The number of folds.
        """
        self._check_n_splits()
        return int(self.n_splits)

    def fold_of_rows(self, X):
        """The fold of every row of ``X``, from one freshly drawn key.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            The rows; a row's fold depends on its values only.

        Returns
        -------
        folds : ndarray of shape (n_samples,)
            Fold index of each row, in ``range(n_splits)``.
        """
        self._check_n_splits()
        key = check_random_state(self.random_state).bytes(32)
        digests = np.fromiter(
            (
                int.from_bytes(
                    hashlib.blake2b(row, key=key, digest_size=8).digest(), "little"
                )
                for row in _row_bytes(X)
            ),
            dtype=np.uint64,
            count=_num_samples(X),
        )
        return (digests % np.uint64(self.n_splits)).astype(np.intp)

    def split(self, X, y=None, groups=None):
        """Generate indices to split data into training and test set.

        Parameters
        ----------
        X : array-like or sparse matrix of shape (n_samples, n_features)
            Training data; each row's fold is a keyed hash of its values.
        y : array-like of shape (n_samples,), default=None
            Ignored (accepted for compatibility).
        groups : array-like of shape (n_samples,), default=None
            Ignored (accepted for compatibility).

        Yields
        ------
        train : ndarray
            The training set indices for that split.
        test : ndarray
            The testing set indices for that split.
        """
        X, y, groups = indexable(X, y, groups)
        n_samples = _num_samples(X)
        folds = self.fold_of_rows(X)
        counts = np.bincount(folds, minlength=self.n_splits)
        if (counts == 0).any() or (counts == n_samples).any():
            raise ValueError(
                f"StableKFold(n_splits={self.n_splits}) left a fold empty on "
                f"{n_samples} rows (rows are assigned to folds at random); use "
                f"fewer splits or more rows."
            )
        indices = np.arange(n_samples)
        for fold in range(self.n_splits):
            in_test = folds == fold
            yield indices[~in_test], indices[in_test]

    def _iter_test_indices(self, X=None, y=None, groups=None):
        folds = self.fold_of_rows(X)
        for fold in range(self.n_splits):
            yield np.flatnonzero(folds == fold)


def _row_bytes(X):
    """The bytes of each row of ``X``: a function of that row's values only."""
    if hasattr(X, "iloc"):
        if all(getattr(d, "kind", "O") in "biuf" for d in getattr(X, "dtypes", [])):
            # Plain numeric columns: the same numbers as an ndarray's.
            X = X.to_numpy(dtype=np.float64)
        else:  # mixed or extension dtypes: values by repr
            for row in X.itertuples(index=False, name=None):
                yield repr(row).encode()
            return
    if sparse.issparse(X):
        X = sparse.csr_array(X)
        X.sum_duplicates()
        X.sort_indices()
        for i in range(X.shape[0]):
            lo, hi = X.indptr[i], X.indptr[i + 1]
            # Explicit zeros do not change a row's values: drop them.
            data, cols = X.data[lo:hi], X.indices[lo:hi]
            keep = data != 0
            yield cols[keep].astype(np.int64).tobytes() + data[keep].tobytes()
        return
    X = np.asarray(X)
    if X.ndim == 1:
        X = X.reshape(-1, 1)
    if X.dtype.kind in "biu":
        # The same numbers hash the same whatever container or integer type.
        X = X.astype(np.float64)
    if X.dtype.kind in "biufc":
        X = np.ascontiguousarray(X)
        # -0.0 and 0.0 are the same value; so are NaNs whatever their payload.
        if X.dtype.kind in "fc":
            X = np.where(np.isnan(X), np.nan, X + 0.0)
        for row in X.reshape(X.shape[0], -1):
            yield row.tobytes()
        return
    for row in X.reshape(X.shape[0], -1):
        yield repr(row.tolist()).encode()
