"""``Microaggregator``: k-anonymity by MDAV microaggregation."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from ..base import PUBLIC
from ..utils._random import check_random_state
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context
from ..utils._validation import is_missing, typed_columns_as_object, validate_quietly

__all__ = ["Microaggregator", "mdav"]


def _k_smallest(d: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` smallest values (``k`` argmin passes beat a
    partition of the whole array for the small ``k`` used in practice)."""
    if k > 32:
        return np.argpartition(d, k - 1)[:k]
    d = d.copy()
    out = np.empty(k, dtype=np.intp)
    for i in range(k):
        out[i] = j = int(np.argmin(d))
        d[j] = np.inf
    return out


def mdav(Z, k):
    """Group the rows of ``Z`` by MDAV; every group has between k and 2k - 1 rows.

    Maximum Distance to Average Vector (Domingo-Ferrer and Mateo-Sanz, 2002):
    while at least ``3k`` rows remain, take the row ``r`` farthest from the
    centroid of the remaining rows and the row ``s`` farthest from ``r``, and
    make groups of ``r`` and its ``k - 1`` nearest rows, then of ``s`` and
    its ``k - 1`` nearest remaining rows. With ``2k`` to ``3k - 1`` rows
    left, one more group forms around the row farthest from the centroid and
    the rest is the last group; fewer than ``2k`` form one group.

    Parameters
    ----------
    Z : array-like of shape (n_samples, n_features)
        Numeric rows (already scaled: distances are Euclidean).
    k : int
        Smallest group size; ``n_samples >= k``.

    Returns
    -------
    labels : ndarray of shape (n_samples,)
        The group of each row, numbered in the order the groups were formed.
    """
    Z = np.asarray(Z)
    n = Z.shape[0]
    if n < k:
        raise ValueError(f"MDAV needs at least k={k} rows; got {n}.")
    # Feature-major float32: each distance pass is one gemv over contiguous
    # rows (10x faster than over a row-major block); exact ties aside,
    # float32 picks the same rows.
    W = np.array(Z.T, dtype=np.float32, order="C")
    sq = np.einsum("ji,ji->i", W, W)
    # Squared norms with the grouped rows at +inf (for nearest) or -inf (for
    # farthest): grouped rows stay in place until the next compaction.
    near, far = sq.copy(), sq.copy()
    index = np.arange(n)
    labels = np.empty(n, dtype=np.intp)
    total = W.sum(axis=1, dtype=np.float64)
    state = {"m": n, "dead": 0, "group": 0}

    def group(pos):
        nonlocal W, near, far, index, total
        labels[index[pos]] = state["group"]
        state["group"] += 1
        near[pos], far[pos] = np.inf, -np.inf
        total = total - W[:, pos].sum(axis=1, dtype=np.float64)
        state["m"] -= len(pos)
        state["dead"] += len(pos)
        if state["dead"] > state["m"] // 3 and state["m"] > 1000:
            keep = np.isfinite(near)  # drop grouped rows: passes stay short
            W = np.ascontiguousarray(W[:, keep])
            near, far, index = near[keep], far[keep], index[keep]
            state["dead"] = 0

    def farthest_from_centroid():
        c = (total / state["m"]).astype(np.float32)
        return int(np.argmax(far - 2 * (c @ W)))

    # One BLAS thread: these gemvs are too small to share, and on a loaded
    # machine OpenBLAS threads spin-wait (20x slower measured).
    with threadpool_limits(limits=1, user_api="blas"):
        while state["m"] >= 3 * k:
            r = farthest_from_centroid()
            v = W[:, r].copy() @ W  # |x - x_r|^2 = sq - 2 v + const
            s = int(np.argmax(far - 2 * v))
            x_s = W[:, s].copy()
            group(_k_smallest(near - 2 * v, k))
            group(_k_smallest(near - 2 * (x_s @ W), k))
        if state["m"] >= 2 * k:
            r = farthest_from_centroid()
            group(_k_smallest(near - 2 * (W[:, r].copy() @ W), k))
        if state["m"] > 0:
            group(np.flatnonzero(np.isfinite(near)))
    return labels


def _factorize(values: np.ndarray, categories=None):
    """Integer codes of ``values`` and the sorted categories (by text)."""
    if categories is None:
        uniques = list(dict.fromkeys(values.tolist()))
        try:
            uniques.sort()
        except TypeError:  # mixed types: a stable, type-aware order
            uniques.sort(key=lambda v: (type(v).__name__, str(v)))
        categories = uniques
    lookup = {v: i for i, v in enumerate(categories)}
    codes = np.fromiter(
        (lookup.get(v, -1) for v in values.tolist()), dtype=np.intp, count=len(values)
    )
    return codes, categories


def _group_mode(codes: np.ndarray, labels: np.ndarray, n_groups: int) -> np.ndarray:
    """The most frequent code of each group (the smallest code on ties)."""
    width = int(codes.max()) + 2
    keys, counts = np.unique(labels * width + (codes + 1), return_counts=True)
    group, code = keys // width, keys % width - 1
    # Per group, the largest count first, then the smallest code.
    order = np.lexsort((code, -counts, group))
    first = np.ones(len(order), dtype=bool)
    first[1:] = group[order][1:] != group[order][:-1]
    mode = np.empty(n_groups, dtype=np.intp)
    mode[group[order][first]] = code[order][first]
    return mode


class Microaggregator(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Make rows k-anonymous by microaggregation: each takes its group's centroid.

    ``transform`` partitions the rows it is given into groups of at least
    ``k`` similar rows with MDAV [1]_ and replaces each row's quasi-identifier
    columns (``columns``) by its group's centroid (numeric columns) or most
    frequent value (categorical columns). The output is k-anonymous on those
    columns: every combination of their values is shared by at least ``k``
    rows. Other columns pass through unchanged.

    **k-anonymity is not differential privacy.** See the Notes.

    Parameters
    ----------
    k : int, default=5
        Smallest group size (at least 2). Groups have ``k`` to ``2k - 1``
        rows.
    columns : list of str or int, default=None
        The quasi-identifier columns (names of a DataFrame's columns, or
        positions). ``None`` uses every column.
    method : {"mdav"}, default="mdav"
        The grouping algorithm: Maximum Distance to Average Vector.
    random_state : int, numpy.random.Generator or None, default=None
        Shuffles the rows before grouping, which decides ties between
        equidistant rows. An int makes the output reproducible.

    Attributes
    ----------
    columns_ : ndarray of shape (n_quasi_identifiers,)
        Positions of the quasi-identifier columns.
    numeric_ : ndarray of shape (n_quasi_identifiers,), dtype=bool
        Whether each quasi-identifier column is numeric (centroid) or
        categorical (mode).
    mean_ : ndarray of shape (n_quasi_identifiers,)
        Mean of each numeric quasi-identifier (NaN for categorical ones).
    scale_ : ndarray of shape (n_quasi_identifiers,)
        Standard deviation of each numeric quasi-identifier (1 where it is 0
        or the column is categorical); distances are computed on
        ``(x - mean_) / scale_``.
    categories_ : list
        For each quasi-identifier, the sorted categories seen in ``fit``
        (None for numeric ones).
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when ``X`` has string column names.

    See Also
    --------
    skpriv.audit.k_anonymity : Measure the k a data set achieves.
    skpriv.audit.l_diversity : Distinct sensitive values per group.
    skpriv.synthetic.MSTSynthesizer : Differentially private synthetic data.
    skpriv.preprocessing.LaplaceNoise : Local differential privacy per row.

    Notes
    -----
    Distances use numeric columns standardized with ``mean_`` and ``scale_``
    and categorical columns one-hot encoded with weight :math:`1/\\sqrt{2}`, so
    that a different category counts as much as one standard deviation.
    ``fit`` learns only these statistics; every ``transform`` call groups the
    rows of its own ``X`` (at least ``k`` rows), so rows of different calls
    are never grouped together. Missing values in the quasi-identifiers are
    refused (impute them first); other columns may hold anything.

    **What k-anonymity does not protect against.** It hides which of ``k``
    rows is a person's only under the assumption that an attacker knows no
    more than the quasi-identifiers. It does not stop attribute disclosure
    when a group shares its sensitive value (the homogeneity attack; measure
    it with :func:`~skpriv.audit.l_diversity`), inference from background
    knowledge, linking several releases of the same people, or membership
    inference, and the centroids themselves are exact functions of the
    private rows. Nothing here is differentially private and
    :func:`~skpriv.accounting.privacy_spent` names ``mean_``, ``scale_`` and
    ``categories_`` as not covered. For a formal guarantee, use DP synthetic
    data (``skpriv.synthetic``), local-DP noise (``skpriv.preprocessing``) or
    DP models.

    MDAV costs :math:`O(n^2 d / k)`: about 10 s for 100,000 rows of 10
    columns on one core.

    References
    ----------
    .. [1] J. Domingo-Ferrer, J. M. Mateo-Sanz, "Practical data-oriented
       microaggregation for statistical disclosure control", IEEE
       Transactions on Knowledge and Data Engineering 14(1), 2002.
    .. [2] L. Sweeney, "k-anonymity: a model for protecting privacy",
       International Journal of Uncertainty, Fuzziness and Knowledge-Based
       Systems 10(5), 2002.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import Microaggregator
    >>> X = np.array([[20.0, 1], [22.0, 1], [40.0, 2], [42.0, 2], [44.0, 2]])
    >>> Microaggregator(k=2, random_state=0).fit_transform(X)
    array([[21.,  1.],
           [21.,  1.],
           [42.,  2.],
           [42.,  2.],
           [42.,  2.]])
    """

    # Statistics of the private rows, exact: k-anonymity is not DP.
    _privacy_releases = {
        "columns_": PUBLIC,  # from the ``columns`` parameter and the column names
        "numeric_": PUBLIC,  # from the columns' dtypes (public metadata)
        "mean_": "uncovered: exact means of the quasi-identifier columns",
        "scale_": "uncovered: exact standard deviations of the quasi-identifier columns",
        "categories_": "uncovered: the categories present in the training data",
    }

    _parameter_constraints = {
        "k": [Interval(Integral, 2, None, closed="left")],
        "columns": [list, tuple, np.ndarray, None],
        "method": [StrOptions({"mdav"})],
        "random_state": ["random_state"],
    }

    def __init__(self, k=5, *, columns=None, method="mdav", random_state=None):
        self.k = k
        self.columns = columns
        self.method = method
        self.random_state = random_state

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = []
        return tags

    def _validate(self, X, reset):
        frame = X if hasattr(X, "iloc") else None
        arr = validate_quietly(
            self,
            typed_columns_as_object(X, nullable=True),
            dtype=None,
            ensure_all_finite=False,
            reset=reset,
        )
        return arr, frame

    def _column_positions(self, frame):
        if self.columns is None:
            return np.arange(self.n_features_in_)
        names = getattr(self, "feature_names_in_", None)
        out = []
        for c in self.columns:
            if isinstance(c, (Integral, np.integer)) and not isinstance(c, bool):
                if not 0 <= c < self.n_features_in_:
                    raise ValueError(
                        f"columns holds position {c}, but X has "
                        f"{self.n_features_in_} columns."
                    )
                out.append(int(c))
            elif isinstance(c, str) and names is not None and c in names:
                out.append(int(np.flatnonzero(names == c)[0]))
            else:
                raise ValueError(
                    f"columns holds {c!r}, which is neither a column position "
                    f"nor a column name of X; give names with a DataFrame."
                )
        if len(set(out)) != len(out) or not out:
            raise ValueError("columns must name distinct columns, at least one.")
        return np.array(out, dtype=np.intp)

    @staticmethod
    def _is_numeric(col: np.ndarray, frame_col) -> bool:
        if frame_col is not None:
            import pandas as pd

            dtype = frame_col.dtype
            return pd.api.types.is_numeric_dtype(dtype) and not (
                pd.api.types.is_bool_dtype(dtype)
            )
        if col.dtype != object:
            return np.issubdtype(col.dtype, np.number)
        return all(
            isinstance(v, (Real, np.number)) and not isinstance(v, (bool, np.bool_))
            for v in col.tolist()
        )

    def _check_missing(self, arr, positions):
        for j in positions:
            if is_missing(arr[:, j]).any():
                name = self._name(j)
                raise ValueError(
                    f"Microaggregator cannot group rows with missing values (NaN, "
                    f"None) in "
                    f"the quasi-identifier column {name}; impute them first "
                    f"(for instance with sklearn.impute.SimpleImputer)."
                )

    def _finite(self, col, j):
        values = col.astype(np.float64)
        if not np.isfinite(values).all():
            raise ValueError(
                f"The quasi-identifier column {self._name(j)} holds infinite "
                f"values (inf); Microaggregator needs finite numbers."
            )
        return values

    def _name(self, j):
        names = getattr(self, "feature_names_in_", None)
        return repr(str(names[j])) if names is not None else str(j)

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn which columns are numeric and how to scale them.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data; may mix numeric and categorical columns (DataFrames).
        y : None
            Ignored.

        Returns
        -------
        self : Microaggregator
            The fitted transformer.
        """
        for attr in ("feature_names_in_",):
            self.__dict__.pop(attr, None)
        arr, frame = self._validate(X, reset=True)
        self.columns_ = self._column_positions(frame)
        self._check_missing(arr, self.columns_)
        numeric, means, scales, cats = [], [], [], []
        for j in self.columns_:
            col = arr[:, j]
            frame_col = frame.iloc[:, j] if frame is not None else None
            is_num = self._is_numeric(col, frame_col)
            numeric.append(is_num)
            if is_num:
                values = self._finite(col, j)
                std = values.std()
                means.append(values.mean())
                scales.append(std if std > 0 else 1.0)
                cats.append(None)
            else:
                means.append(np.nan)
                scales.append(1.0)
                cats.append(_factorize(col)[1])
        self.numeric_ = np.array(numeric, dtype=bool)
        self.mean_ = np.array(means, dtype=np.float64)
        self.scale_ = np.array(scales, dtype=np.float64)
        self.categories_ = cats
        return self

    def transform(self, X):
        """Replace each group's quasi-identifiers by its centroid or mode.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            At least ``k`` rows; grouped among themselves.

        Returns
        -------
        X_new : ndarray or DataFrame of shape (n_samples, n_features)
            A DataFrame when ``X`` is one (its columns and index kept);
            otherwise a float array when every column is numeric, else an
            object array.
        """
        check_is_fitted(self)
        arr, frame = self._validate(X, reset=False)
        n = arr.shape[0]
        if n < self.k:
            raise ValueError(
                f"Microaggregator needs at least k={self.k} rows to form a "
                f"group; X has {n}. Transform larger batches or lower k."
            )
        self._check_missing(arr, self.columns_)
        codes = {}
        blocks = []
        for i, j in enumerate(self.columns_):
            if self.numeric_[i]:
                values = self._finite(arr[:, j], j)
                blocks.append(((values - self.mean_[i]) / self.scale_[i])[:, None])
            else:
                c, _ = _factorize(arr[:, j], self.categories_[i])
                codes[i] = c
                width = len(self.categories_[i])
                onehot = np.zeros((n, width), dtype=np.float64)
                known = c >= 0
                onehot[np.flatnonzero(known), c[known]] = 1 / np.sqrt(2)
                blocks.append(onehot)
        Z = np.hstack(blocks)
        # The shuffle decides ties; groups map back to the original rows.
        order = check_random_state(self.random_state).permutation(n)
        labels = np.empty(n, dtype=np.intp)
        labels[order] = mdav(Z[order], self.k)
        return self._aggregate(arr, frame, labels, codes)

    def _aggregate(self, arr, frame, labels, codes):
        n_groups = int(labels.max()) + 1
        sizes = np.bincount(labels, minlength=n_groups)
        new = {}
        for i, j in enumerate(self.columns_):
            if self.numeric_[i]:
                values = arr[:, j].astype(np.float64)
                means = np.bincount(labels, weights=values, minlength=n_groups) / sizes
                new[j] = means[labels]
            else:
                c = codes[i]
                if (c < 0).any():  # categories unseen in fit get their own codes
                    extra, cats = _factorize(arr[c < 0, j])
                    c = c.copy()
                    c[c < 0] = extra + len(self.categories_[i])
                    cats = list(self.categories_[i]) + list(cats)
                else:
                    cats = self.categories_[i]
                mode = _group_mode(c, labels, n_groups)
                table = np.empty(len(cats), dtype=object)
                table[:] = cats
                new[j] = table[mode[labels]]
        if frame is not None:
            out = frame.copy()
            for j, values in new.items():
                name = out.columns[j]
                if self.numeric_[list(self.columns_).index(j)]:
                    out[name] = values
                else:  # keep the column's dtype (category, string, bool)
                    out[name] = np.asarray(values, dtype=object)
                    out[name] = out[name].astype(frame[name].dtype)
            return out
        if arr.dtype != object:
            out = arr.astype(np.float64)
        elif len(new) == arr.shape[1] and self.numeric_.all():
            out = np.empty(arr.shape, dtype=np.float64)
        else:
            out = arr.copy()
        for j, values in new.items():
            out[:, j] = values
        return out
