"""``k_anonymity`` and ``l_diversity``: group sizes over quasi-identifiers."""

from dataclasses import dataclass, field
from numbers import Integral

import numpy as np

from ..utils._validation import is_missing

__all__ = ["KAnonymityResult", "LDiversityResult", "k_anonymity", "l_diversity"]


@dataclass(frozen=True)
class KAnonymityResult:
    """What :func:`k_anonymity` found.

    A frozen dataclass returned by :func:`k_anonymity`; each parameter is
    stored as a read-only attribute of the same name.

    Parameters
    ----------
    k : int
        The size of the smallest group: the data set is k-anonymous for this
        k (0 for an empty data set).
    n_groups : int
        Number of distinct combinations of the quasi-identifiers.
    smallest_group : dict
        The quasi-identifier values of a smallest group (column -> value).
    groups_below_k : list of dict
        With a target ``k``: each group smaller than it, as its
        quasi-identifier values plus ``"size"``, smallest first.
    n_rows_below_k : int
        With a target ``k``: rows in those groups (what suppression would
        drop).
    group_sizes : ndarray of shape (n_groups,)
        Every group's size.
    labels : ndarray of shape (n_samples,)
        The group of each row.

    See Also
    --------
    k_anonymity : The audit that returns it.
    LDiversityResult : What :func:`l_diversity` returns.

    Examples
    --------
    >>> from skpriv.audit import k_anonymity
    >>> X = [["30-39", "100**"], ["30-39", "100**"], ["40-49", "200**"]]
    >>> result = k_anonymity(X, [0, 1], k=2)
    >>> result.k, result.n_groups, result.n_rows_below_k
    (1, 2, 1)
    >>> result.group_sizes
    array([2, 1])
    """

    k: int
    n_groups: int
    smallest_group: dict
    groups_below_k: list = field(default_factory=list)
    n_rows_below_k: int = 0
    group_sizes: np.ndarray = field(default=None, repr=False)
    labels: np.ndarray = field(default=None, repr=False)

    def summary(self):
        """Describe the findings in words, one line per finding.

        Returns
        -------
        summary : str
            ``k`` and the number of groups, the smallest group, then how
            many groups (and rows) are below the target ``k`` when one was
            given.
        """
        lines = [
            f"k-anonymity: k = {self.k} (smallest of {self.n_groups} groups).",
            f"Smallest group: {self.smallest_group}.",
        ]
        if self.groups_below_k:
            lines.append(
                f"{len(self.groups_below_k)} groups ({self.n_rows_below_k} rows) "
                f"are below the target k."
            )
        return "\n".join(lines)


@dataclass(frozen=True)
class LDiversityResult:
    """What :func:`l_diversity` found.

    A frozen dataclass returned by :func:`l_diversity`; each parameter is
    stored as a read-only attribute of the same name.

    Parameters
    ----------
    l : int
        The fewest distinct sensitive values in any group: the data set is
        (distinct) l-diverse for this l.
    n_groups : int
        Number of groups of the quasi-identifiers.
    least_diverse_group : dict
        The quasi-identifier values of a least diverse group.
    groups_below_l : list of dict
        With a target ``l``: each group with fewer distinct sensitive values,
        as its quasi-identifier values plus ``"size"`` and ``"n_distinct"``.
    n_distinct : ndarray of shape (n_groups,)
        Distinct sensitive values of every group.
    labels : ndarray of shape (n_samples,)
        The group of each row.

    See Also
    --------
    l_diversity : The audit that returns it.
    KAnonymityResult : What :func:`k_anonymity` returns.

    Examples
    --------
    >>> from skpriv.audit import l_diversity
    >>> X = [["30-39", "flu"], ["30-39", "cold"], ["40-49", "hiv"], ["40-49", "hiv"]]
    >>> result = l_diversity(X, [0], 1, l=2)
    >>> result.l, result.n_groups
    (1, 2)
    >>> result.n_distinct
    array([2, 1])
    """

    l: int  # noqa: E741 - the name of the measure
    n_groups: int
    least_diverse_group: dict
    groups_below_l: list = field(default_factory=list)
    n_distinct: np.ndarray = field(default=None, repr=False)
    labels: np.ndarray = field(default=None, repr=False)

    def summary(self):
        """Describe the findings in words, one line per finding.

        Returns
        -------
        summary : str
            ``l`` and the number of groups, the least diverse group, then how
            many groups are below the target ``l`` when one was given.
        """
        lines = [
            f"l-diversity: l = {self.l} (fewest distinct sensitive values among "
            f"{self.n_groups} groups).",
            f"Least diverse group: {self.least_diverse_group}.",
        ]
        if self.groups_below_l:
            lines.append(f"{len(self.groups_below_l)} groups are below the target l.")
        return "\n".join(lines)


_MISSING = object()  # missing cells (None, NaN, NaT, pd.NA) form one value


def _columns(X, names, what):
    """The columns named in ``names`` (labels of a DataFrame, or positions)."""
    if isinstance(names, (str, Integral)):
        names = [names]
    names = list(names)
    if not names:
        raise ValueError(f"{what} must name at least one column.")
    if hasattr(X, "iloc"):
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(
                f"{what} names columns {missing} that X does not have; its "
                f"columns are {list(X.columns)[:20]}."
            )
        return names, [X[c].to_numpy(dtype=object) for c in names]
    arr = np.asarray(X, dtype=object)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-dimensional; got {arr.ndim} dimension(s).")
    for c in names:
        if not isinstance(c, Integral) or not -arr.shape[1] <= c < arr.shape[1]:
            raise ValueError(
                f"{what} must be column positions (0 to {arr.shape[1] - 1}) for "
                f"an array X, or column names with a DataFrame; got {c!r}."
            )
    return names, [arr[:, c] for c in names]


def _codes(values: np.ndarray):
    """Integer codes of a column (missing cells share one code), and uniques."""
    missing = is_missing(values)
    values = values.copy()
    values[missing] = _MISSING
    lookup = {}
    codes = np.fromiter(
        (lookup.setdefault(v, len(lookup)) for v in values.tolist()),
        dtype=np.intp,
        count=len(values),
    )
    uniques = list(lookup)
    return codes, [None if v is _MISSING else v for v in uniques]


def _groups(X, quasi_identifiers):
    names, cols = _columns(X, quasi_identifiers, "quasi_identifiers")
    coded = [_codes(c) for c in cols]
    if len(cols[0]) == 0:
        return names, coded, np.empty(0, np.intp), np.empty((0, len(names)), np.intp)
    matrix = np.stack([c for c, _ in coded], axis=1)
    keys, labels = np.unique(matrix, axis=0, return_inverse=True)
    return names, coded, labels.ravel(), keys


def _describe(names, coded, key):
    return {name: coded[i][1][key[i]] for i, name in enumerate(names)}


def _check_target(value, name):
    if value is None:
        return None
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int or None; got {value!r}.")
    return int(value)


def k_anonymity(X, quasi_identifiers, *, k=None):
    """How k-anonymous ``X`` is on ``quasi_identifiers``: the smallest group.

    Rows sharing every quasi-identifier value form a group; ``X`` is
    k-anonymous for the size of its smallest group [1]_. Missing cells count
    as one value.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The data, for instance the output of
        :class:`~skpriv.preprocessing.Microaggregator`.
    quasi_identifiers : list of str or int
        Columns an attacker could link to other data (age, zip code, sex...):
        column names of a DataFrame, or positions.
    k : int, default=None
        A target: the groups smaller than it are listed in
        ``groups_below_k``.

    Returns
    -------
    result : KAnonymityResult
        ``k`` (smallest group size), ``smallest_group``, ``groups_below_k``
        and every group's size.

    See Also
    --------
    l_diversity : Distinct sensitive values per group.
    skpriv.preprocessing.Microaggregator : Makes data k-anonymous.

    Notes
    -----
    k-anonymity is a property of one release, not differential privacy: see
    :class:`~skpriv.preprocessing.Microaggregator` for what it does not
    protect against.

    References
    ----------
    .. [1] L. Sweeney, "k-anonymity: a model for protecting privacy",
       International Journal of Uncertainty, Fuzziness and Knowledge-Based
       Systems 10(5), 2002.

    Examples
    --------
    >>> from skpriv.audit import k_anonymity
    >>> X = [["30-39", "100**"], ["30-39", "100**"], ["40-49", "200**"]]
    >>> result = k_anonymity(X, [0, 1], k=2)
    >>> result.k, result.smallest_group
    (1, {0: '40-49', 1: '200**'})
    >>> result.groups_below_k
    [{0: '40-49', 1: '200**', 'size': 1}]
    """
    target = _check_target(k, "k")
    names, coded, labels, keys = _groups(X, quasi_identifiers)
    sizes = np.bincount(labels, minlength=len(keys))
    if len(sizes) == 0:
        return KAnonymityResult(0, 0, {}, [], 0, sizes, labels)
    order = np.argsort(sizes, kind="stable")
    below = []
    n_below = 0
    if target is not None:
        for g in order[sizes[order] < target]:
            below.append({**_describe(names, coded, keys[g]), "size": int(sizes[g])})
            n_below += int(sizes[g])
    return KAnonymityResult(
        k=int(sizes[order[0]]),
        n_groups=len(sizes),
        smallest_group=_describe(names, coded, keys[order[0]]),
        groups_below_k=below,
        n_rows_below_k=n_below,
        group_sizes=sizes,
        labels=labels,
    )


def l_diversity(X, quasi_identifiers, sensitive, *, l=None):  # noqa: E741
    """How l-diverse ``X`` is: the fewest distinct sensitive values in a group.

    Groups are the rows sharing every quasi-identifier value (as in
    :func:`k_anonymity`); a group whose rows all share one sensitive value
    reveals it for everyone in the group (the homogeneity attack on
    k-anonymity). ``X`` is (distinct) l-diverse [1]_ for the fewest distinct
    sensitive values of any group.

    Parameters
    ----------
    X : array-like or DataFrame of shape (n_samples, n_features)
        The data.
    quasi_identifiers : list of str or int
        Column names (DataFrame) or positions.
    sensitive : str or int
        The sensitive column (diagnosis, salary...).
    l : int, default=None
        A target: groups with fewer distinct sensitive values are listed in
        ``groups_below_l``.

    Returns
    -------
    result : LDiversityResult
        ``l``, ``least_diverse_group``, ``groups_below_l`` and every group's
        number of distinct sensitive values.

    See Also
    --------
    k_anonymity : Group sizes.

    References
    ----------
    .. [1] A. Machanavajjhala, D. Kifer, J. Gehrke, M. Venkitasubramaniam,
       "l-diversity: privacy beyond k-anonymity", ACM Transactions on
       Knowledge Discovery from Data 1(1), 2007.

    Examples
    --------
    >>> from skpriv.audit import l_diversity
    >>> X = [["30-39", "flu"], ["30-39", "cold"], ["40-49", "hiv"], ["40-49", "hiv"]]
    >>> result = l_diversity(X, [0], 1, l=2)
    >>> result.l, result.least_diverse_group
    (1, {0: '40-49'})
    """
    target = _check_target(l, "l")
    names, coded, labels, keys = _groups(X, quasi_identifiers)
    if not isinstance(sensitive, (str, Integral)):
        raise ValueError("sensitive must be one column name or position.")
    _, (values,) = _columns(X, [sensitive], "sensitive")
    if sensitive in names:
        raise ValueError("sensitive must not be one of the quasi_identifiers.")
    n_groups = len(keys)
    if n_groups == 0:
        return LDiversityResult(0, 0, {}, [], np.empty(0, np.intp), labels)
    codes, _ = _codes(values)
    pairs = np.unique(labels * (int(codes.max()) + 1) + codes)
    n_distinct = np.bincount(pairs // (int(codes.max()) + 1), minlength=n_groups)
    sizes = np.bincount(labels, minlength=n_groups)
    order = np.lexsort((sizes, n_distinct))
    below = []
    if target is not None:
        for g in order[n_distinct[order] < target]:
            below.append(
                {
                    **_describe(names, coded, keys[g]),
                    "size": int(sizes[g]),
                    "n_distinct": int(n_distinct[g]),
                }
            )
    return LDiversityResult(
        l=int(n_distinct[order[0]]),
        n_groups=n_groups,
        least_diverse_group=_describe(names, coded, keys[order[0]]),
        groups_below_l=below,
        n_distinct=n_distinct,
        labels=labels,
    )
