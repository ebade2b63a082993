"""RandomizedResponse: k-ary randomized response on categorical columns."""

import math
import warnings
from collections import Counter

import dp_accounting
import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import PrivacyMixin, declared_releases, privacy_constraints
from ..exceptions import PrivacyLeakWarning
from ..mechanisms import KaryRandomizedResponse
from ..mechanisms._grid import _check_rng
from ..utils._docstrings import PARAM_DOCS, inject_docstring
from ..utils._sklearn_compat import StrOptions
from ..utils._validation import (
    is_missing,
    typed_columns_as_object,
    validate_quietly,
)
from ._noise import _FreshNoiseAfterUnpickling

__all__ = ["RandomizedResponse"]


def _sorted_unique(values: np.ndarray, j: int, what: str) -> np.ndarray:
    try:
        return np.unique(values)
    except TypeError as exc:
        raise ValueError(
            f"RandomizedResponse: {what} of column {j} mix types that cannot be "
            f"compared (e.g. strings and numbers); convert the column to one "
            f"type, e.g. with astype(str)."
        ) from exc


def _encode(column: np.ndarray, categories: np.ndarray):
    """Codes of ``column`` in sorted ``categories``, and a mask of unknowns."""
    codes = np.searchsorted(categories, column)
    codes = np.minimum(codes, categories.size - 1)
    known = categories[codes] == column
    return codes.astype(np.int64), ~np.asarray(known, dtype=bool)


@inject_docstring(
    epsilon=PARAM_DOCS["epsilon"].replace(
        "of the release", "of one row per ``transform`` call"
    ),
    random_state=PARAM_DOCS["random_state"],
)
class RandomizedResponse(
    _FreshNoiseAfterUnpickling,
    PrivacyMixin,
    OneToOneFeatureMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Randomize categorical columns by k-ary randomized response (local DP).

    Each value is kept with probability ``e^eps_j / (e^eps_j + k_j - 1)`` and
    otherwise replaced by one of the other ``k_j - 1`` categories of its
    column, uniformly, where ``k_j`` is the number of categories of column
    ``j`` and ``eps_j = epsilon / n_features`` (the budget is split equally
    over the columns). Works on strings, objects, integers, booleans and
    floats; the output has the input's categories. Each ``transform`` call is
    a fresh release. Use :meth:`estimate_frequencies` to recover unbiased
    category counts from randomized data.

    Parameters
    ----------
    {epsilon}
    categories : "auto" or list of array-like, default="auto"
        Categories of each column. ``"auto"`` learns them from the training
        data and raises :class:`~skpriv.exceptions.PrivacyLeakWarning`: the
        set of values present is not protected. Pass the public list of
        possible values of every column (``categories[j]`` for column ``j``)
        to avoid this.
    handle_unknown : {{"error", "random"}}, default="error"
        What ``transform`` does with a value outside ``categories_``:
        ``"error"`` raises a ``ValueError`` (which does not print the value);
        ``"random"`` releases a uniformly random category, which is still
        ``eps_j``-DP for that value.
    {random_state}

    Attributes
    ----------
    categories_ : list of ndarray
        Sorted categories of each column.
    keep_probability_ : ndarray of shape (n_features,)
        Probability that each column's value is released unchanged.
    dp_event_ : dp_accounting.DpEvent
        One release of one row: the per-column randomized-response events,
        composed.
    dp_n_samples_ : int
        Number of rows seen in ``fit``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen in ``fit``, when ``X`` has string column names.

    See Also
    --------
    skpriv.mechanisms.KaryRandomizedResponse : The mechanism, with its
        frequency estimator.
    LaplaceNoise : Local DP for numeric features.

    Notes
    -----
    Randomized response with ``k`` categories and keep probability
    ``e^eps / (e^eps + k - 1)`` is dp-accounting's
    ``RandomizedResponseDpEvent(noise_parameter=k / (e^eps + k - 1),
    num_buckets=k)``; ``dp_event_`` composes one per column. Missing values
    are rejected: impute them (or encode them as a category) first.

    References
    ----------
    .. [1] S. Warner, "Randomized response: a survey technique for eliminating
       evasive answer bias", JASA 1965.
    .. [2] P. Kairouz, K. Bonawitz, D. Ramage, "Discrete distribution
       estimation under local privacy", ICML 2016.

    Examples
    --------
    >>> import numpy as np
    >>> from skpriv.preprocessing import RandomizedResponse
    >>> X = np.array([["red", "yes"], ["blue", "no"], ["red", "no"]], dtype=object)
    >>> rr = RandomizedResponse(
    ...     epsilon=4.0,
    ...     categories=[["blue", "green", "red"], ["no", "yes"]],
    ...     random_state=0,
    ... )
    >>> rr.fit_transform(X).shape
    (3, 2)
    >>> rr.keep_probability_.round(3)
    array([0.787, 0.881])
    """

    # Its output is a local-DP release: what later pipeline steps learn from it
    # is post-processing (read by skpriv.accounting's walk).
    _releases_private_output = True

    # Functions of the categories and epsilon: public when categories are given.
    _privacy_releases = {"categories_": "public", "keep_probability_": "public"}

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        if isinstance(self.categories, str):
            why = "uncovered: the categories occurring in the data (categories='auto')"
            kinds.update({attr: why for attr in kinds})
        return kinds

    _parameter_constraints = {
        **privacy_constraints("epsilon", "random_state"),
        "categories": [StrOptions({"auto"}), list],
        "handle_unknown": [StrOptions({"error", "random"})],
    }

    def __init__(
        self, epsilon=1.0, categories="auto", handle_unknown="error", random_state=None
    ):
        self.epsilon = epsilon
        self.categories = categories
        self.handle_unknown = handle_unknown
        self.random_state = random_state

    def _validate_X(self, X, reset):
        # Missing values are found here, not by validate_data's finiteness
        # check, which crashes on pd.NA ("boolean value of NA is ambiguous").
        X = validate_quietly(
            self,
            typed_columns_as_object(X),
            reset=reset,
            dtype=None,
            ensure_all_finite=False,
        )
        _check_no_missing(X)
        return X

    def _fit(self, X, y, rng):
        X = self._validate_X(X, reset=True)
        d = X.shape[1]
        if isinstance(self.categories, str):
            warnings.warn(
                "categories='auto': the categories are taken from the training "
                "data, which leaks which values occur outside the differential "
                "privacy guarantee. Pass the public categories of every column "
                "as categories=[...] to avoid this.",
                PrivacyLeakWarning,
                stacklevel=3,
            )
            categories = [_sorted_unique(X[:, j], j, "values") for j in range(d)]
        else:
            if len(self.categories) != d:
                raise ValueError(
                    f"categories must have one entry per column: got "
                    f"{len(self.categories)} for n_features={d}."
                )
            categories = []
            for j, given in enumerate(self.categories):
                given = np.asarray(given)
                if given.ndim != 1 or given.size == 0:
                    raise ValueError(
                        f"categories[{j}] must be a non-empty 1-d list of values; "
                        f"got shape {given.shape}."
                    )
                cats = _sorted_unique(given, j, "categories")
                if cats.size != given.size:
                    raise ValueError(f"categories[{j}] contains duplicate values.")
                categories.append(cats)
        self.categories_ = categories
        self._mechanisms, self.dp_event_ = self._plan([c.size for c in categories])
        self.keep_probability_ = np.array(
            [m.keep_probability for m in self._mechanisms]
        )
        if self.handle_unknown == "error" and not isinstance(self.categories, str):
            # Training values outside the given categories are an error too.
            self._codes(X, "error")
        self._rng = rng
        return self

    def _plan(self, sizes):
        """The mechanisms for columns of these category counts, and their event."""
        mechanisms = [
            KaryRandomizedResponse(self.epsilon / len(sizes), k) for k in sizes
        ]
        return mechanisms, self._event_for(mechanisms)

    @staticmethod
    def _event_for(mechanisms):
        counts = Counter(m.n_categories for m in mechanisms)
        events = []
        for k, count in sorted(counts.items()):
            event = next(m for m in mechanisms if m.n_categories == k).dp_event()
            events.append(
                event if count == 1 else dp_accounting.SelfComposedDpEvent(event, count)
            )
        return events[0] if len(events) == 1 else dp_accounting.ComposedDpEvent(events)

    def _planned_dp_event(self, n_samples):
        # The plan fit uses, when the category counts are known.
        if hasattr(self, "categories_"):
            return self._plan([c.size for c in self.categories_])[1]
        if not isinstance(self.categories, str):
            return self._plan([len(set(map(repr, c))) for c in self.categories])[1]
        # Unfitted with categories='auto', the columns and their categories
        # are unknown: binary randomized response at epsilon dominates every
        # pure epsilon-DP mechanism.
        return dp_accounting.RandomizedResponseDpEvent(
            noise_parameter=2.0 / (math.exp(self.epsilon) + 1.0), num_buckets=2
        )

    def _codes(self, X, handle_unknown):
        codes = np.empty(X.shape, dtype=np.int64)
        unknown = np.zeros(X.shape, dtype=bool)
        for j, cats in enumerate(self.categories_):
            try:
                codes[:, j], unknown[:, j] = _encode(X[:, j], cats)
            except TypeError as exc:
                raise ValueError(
                    f"RandomizedResponse: column {j} holds values that cannot be "
                    f"compared with categories_[{j}] (dtype {cats.dtype})."
                ) from exc
            if handle_unknown == "error" and unknown[:, j].any():
                raise ValueError(
                    f"X has {int(unknown[:, j].sum())} value(s) in column {j} "
                    f"that are not in categories_[{j}] (values not shown, to keep "
                    f"them private). Pass every possible value with "
                    f"categories=[...] or set handle_unknown='random'."
                )
        return codes, unknown

    def transform(self, X):
        """Randomize every value (a fresh release per call).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Categorical data, without missing values.

        Returns
        -------
        X_random : ndarray of shape (n_samples, n_features)
            Randomized categories, of the categories' dtype (object when
            columns mix strings and numbers).
        """
        check_is_fitted(self, "categories_")
        X = self._validate_X(X, reset=False)
        codes, unknown = self._codes(X, self.handle_unknown)
        rng = _check_rng(self._rng)
        out_codes = np.empty_like(codes)
        for j, mech in enumerate(self._mechanisms):
            out_codes[:, j] = mech.randomise(codes[:, j], rng)
        if unknown.any():
            sizes = np.array([cats.size for cats in self.categories_])
            uniform = (rng.random(X.shape) * sizes).astype(np.int64)
            out_codes = np.where(unknown, np.minimum(uniform, sizes - 1), out_codes)
        return self._decode(out_codes)

    def _decode(self, codes):
        cat_dtypes = [cats.dtype for cats in self.categories_]
        if all(dt.kind in "biuf" for dt in cat_dtypes):
            dtype = np.result_type(*cat_dtypes)
        elif all(dt.kind == "U" for dt in cat_dtypes):
            dtype = np.result_type(*cat_dtypes)
        else:
            dtype = object
        out = np.empty(codes.shape, dtype=dtype)
        for j, cats in enumerate(self.categories_):
            out[:, j] = cats[codes[:, j]]
        return out

    def estimate_frequencies(self, X, *, normalize=False):
        """Unbiased estimates of the true category counts from randomized ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Output of :meth:`transform` (one release).
        normalize : bool, default=False
            Return estimated frequencies instead of counts.

        Returns
        -------
        estimates : list of ndarray
            ``estimates[j][i]`` estimates the number (or share) of rows whose
            true value in column ``j`` is ``categories_[j][i]``. Unbiased, so
            entries can be negative; clip and renormalize for a distribution.
        """
        check_is_fitted(self, "categories_")
        X = self._validate_X(X, reset=False)
        codes, _ = self._codes(X, "error")
        return [
            mech.estimate_frequencies(codes[:, j], normalize=normalize)
            for j, mech in enumerate(self._mechanisms)
        ]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


def _check_no_missing(X: np.ndarray) -> None:
    for j in range(X.shape[1]):
        if is_missing(X[:, j]).any():
            raise ValueError(
                f"RandomizedResponse does not accept missing values (None, NaN, "
                f"pd.NA, NaT), found in column {j}; impute them or encode them "
                f"as a category first."
            )
    if X.dtype.kind == "f" and not np.isfinite(X).all():
        raise ValueError("RandomizedResponse does not accept infinite values.")
