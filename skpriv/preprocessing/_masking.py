"""``Masker``: column de-identification (redact, replace, partial, hash, ...)."""

import unicodedata
from datetime import datetime
from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ..base import PUBLIC, declared_releases
from ..encryption._key import Key
from ..encryption._tokens import HmacKey, hmac_hex
from ..utils._random import check_random_state
from ..utils._sklearn_compat import Interval, StrOptions, _fit_context
from ..utils._validation import (
    as_object_array,
    column_objects,
    is_missing,
    to_text,
    typed_columns_as_object,
    validate_quietly,
)

__all__ = ["Masker"]

REDACTED = "[REDACTED]"
_STRATEGIES = {"redact", "replace", "partial", "hash", "generalize", "random"}


def _fmt(x: float, digits: int = 6) -> str:
    """Short text of a bin edge: ``digits`` significant digits, and at least
    every digit before the point (1600024750, not 1600020000)."""
    x = float(x)
    if x != 0 and np.isfinite(x):
        digits = max(digits, int(np.floor(np.log10(abs(x)))) + 1)
    return np.format_float_positional(
        x, precision=digits, unique=False, fractional=False, trim="-"
    )


def _fmt_edges(edges) -> list:
    """Texts of distinct edges, distinct too (more digits where needed)."""
    for digits in range(6, 18):
        text = [_fmt(e, digits) for e in edges]
        if len(set(text)) == len(text):
            return text
    return [repr(float(e)) for e in edges]


# Invisible bidirectional formatting controls: kept in a shown part they can
# make the shown characters display in another order ("Trojan Source").
_BIDI_CONTROLS = dict.fromkeys(
    [0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)]
)
_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Whether ``ch`` belongs to the grapheme cluster before it (UAX #29's
    Extend, SpacingMark, ZWJ and Hangul V/T jamo, simplified)."""
    o = ord(ch)
    return (
        unicodedata.category(ch) in ("Mn", "Me", "Mc")
        or o == 0x200D
        or 0xFE00 <= o <= 0xFE0F  # variation selectors
        or 0x1F3FB <= o <= 0x1F3FF  # emoji skin tones
        or 0xE0020 <= o <= 0xE007F  # emoji tag sequences (flags of regions)
        or 0xE0100 <= o <= 0xE01EF
        or 0x1160 <= o <= 0x11FF  # Hangul medial vowels and final consonants
    )


def _graphemes(text: str) -> list:
    """``text`` split into user-perceived characters (grapheme clusters)."""
    out = []
    for ch in text:
        if out and (
            _extends(ch)
            or out[-1].endswith(_ZWJ)  # emoji ZWJ sequences
            or (out[-1] == "\r" and ch == "\n")
            or (
                0x1F1E6 <= ord(ch) <= 0x1F1FF  # the second regional indicator
                and len(out[-1]) == 1
                and 0x1F1E6 <= ord(out[-1]) <= 0x1F1FF
            )
        ):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _local_time(value):
    """A time-zone aware datetime (or ISO text) as its naive local time."""
    if isinstance(value, str) and len(value) > 10:
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed.replace(tzinfo=None) if parsed.tzinfo is not None else value
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def _as_dates(values):
    """Values as datetime64, or None if they are not dates.

    Aware times keep their local date: numpy would convert them to UTC (with
    a warning per call), moving 2020-01-31 23:00 in New York to February.
    """
    if not (isinstance(values, np.ndarray) and values.dtype.kind == "M"):
        values = [_local_time(v) for v in values]
    try:
        dates = np.asarray(values, dtype="datetime64[us]")
    except (ValueError, TypeError, OverflowError):
        return None
    return dates


class Masker(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """De-identify columns: redact, replace, partly mask, pseudonymize, coarsen.

    One transformer for strings and numbers, arrays and DataFrames, meant to
    sit in a ``ColumnTransformer`` next to the columns it protects. Each
    output column corresponds to one input column (same names in
    ``get_feature_names_out``; ``set_output(transform="pandas")`` works).

    Parameters
    ----------
    strategy : {"redact", "replace", "partial", "hash", "generalize", \
            "random"}, default="redact"
        - ``"redact"``: every cell, missing ones included, becomes the fixed
          token ``"[REDACTED]"``.
        - ``"replace"``: every non-missing cell becomes ``fill_value``.
        - ``"partial"``: keep the first ``keep_first`` and last ``keep_last``
          characters of each value's text and replace the others by
          ``mask_char``, one per hidden character (lengths are kept).
          Characters are user-perceived ones (grapheme clusters: an emoji
          joined with ZWJ, a letter with its accents, a flag count as one),
          and invisible bidirectional controls are removed first. Values too
          short to hide anything are masked entirely.
        - ``"hash"``: keyed pseudonyms, the first ``hash_length`` hexadecimal
          characters of HMAC-SHA256 of the value's text under a subkey of
          ``key``. Deterministic under one key (joins and group-bys still
          work), unlinkable across keys and across ``key.derive(purpose)``.
        - ``"generalize"``: numbers become the interval of one of ``n_bins``
          bins learned in fit (or of ``bin_edges``), with optional bottom and
          top coding; dates become their month or year (``date_unit``).
        - ``"random"``: each non-missing cell independently becomes
          ``fill_value`` with probability ``p`` (random masking of training
          data). **Not** a differential privacy guarantee.
    fill_value : str, int, float or None, default=None
        Replacement of ``"replace"`` and ``"random"``. ``None`` makes the cell
        missing (NaN in numeric output, None otherwise).
    keep_first : int, default=0
        ``"partial"``: leading characters kept.
    keep_last : int, default=4
        ``"partial"``: trailing characters kept.
    mask_char : str, default="*"
        ``"partial"``: the one character that replaces hidden characters.
    key : Key, default=None
        ``"hash"``: the secret key (required). Use ``key.derive("purpose")``
        to make pseudonyms of different domains unlinkable.
    hash_length : int, default=16
        ``"hash"``: hexadecimal characters kept (4 bits each), 8 to 64. With
        16 (64 bits) a million distinct values collide with probability
        about 3e-8.
    n_bins : int, default=5
        ``"generalize"``: number of bins learned from the data.
    binning : {"quantile", "uniform"}, default="quantile"
        ``"generalize"``: equal-frequency or equal-width bins.
    bin_edges : array-like of float, default=None
        ``"generalize"``: fixed, increasing bin edges used for every numeric
        column instead of learned ones (then nothing is learned from the
        values). Values below the first edge become ``"< e0"``, above the
        last ``"> e_last"``.
    bottom_code, top_code : float, default=None
        ``"generalize"``: values below ``bottom_code`` become
        ``"< bottom_code"``, values at or above ``top_code`` become
        ``">= top_code"``; bins are learned between them. Not with
        ``bin_edges``, whose first and last edges play this role.
    date_unit : {"month", "year"}, default="month"
        ``"generalize"``: dates (datetime64, ``datetime``, ``Timestamp`` or
        ISO text) are truncated to ``"YYYY-MM"`` or ``"YYYY"``.
    p : float, default=0.5
        ``"random"``: probability that a cell is replaced (0 <= p <= 1).
    random_state : int, numpy.random.Generator or None, default=None
        ``"random"``: source of randomness. ``None`` draws fresh masks from
        the operating system's entropy on every ``transform``; an int draws
        the same masks on every call (for tests and examples).
    n_jobs : int, default=None
        ``"hash"``: worker processes (joblib) for columns of more than
        50,000 values; ``-1`` uses all processors. Workers receive the
        derived hashing subkey in memory.
    normalize : {"NFC", "NFKC"} or None, default="NFC"
        ``"hash"``: Unicode normalization of the text before hashing, so that
        one text typed two ways ("é" as one code point, or "e" followed by a
        combining accent) gets one pseudonym. ``"NFKC"`` also folds
        compatibility forms (full-width letters, ligatures); ``None`` hashes
        the code points as given.

    Attributes
    ----------
    n_features_in_ : int
        Number of columns seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names seen during fit, when ``X`` has string column names.
    column_kinds_ : list of str
        ``"generalize"`` only: ``"numeric"`` or ``"date"`` per column.
    bin_edges_ : list of ndarray or None
        ``"generalize"`` only: the edges of each numeric column (``None`` for
        date columns).

    See Also
    --------
    skpriv.encryption.ColumnEncryptor : Reversible encryption with a key.
    skpriv.preprocessing.RandomizedResponse : Local differential privacy for
        categorical columns, the DP counterpart of ``"random"``.

    Notes
    -----
    **Missing values** (``None``, NaN, NaT, ``pd.NA``) stay missing with every
    strategy except ``"redact"``, which hides missingness too. No strategy
    fails half-way through a column: inputs are checked before any output is
    built.

    **None of these strategies is differentially private.** They remove or
    coarsen identifiers (de-identification), which does not stop linkage
    through the remaining columns. ``"random"`` in particular hides each
    value only with probability ``p`` and leaves the others exact: use
    :class:`~skpriv.preprocessing.RandomizedResponse` or the noise
    transformers for a DP guarantee. ``"generalize"`` learns its bins (and
    ``fit`` sees the values), so the bin edges are quantiles of the private
    data; pass ``bin_edges`` when that matters. Masker records no DP event.

    ``"hash"`` never uses a plain hash: a plain SHA-256 of a 6-digit ID is
    reversed by trying the million candidates in about a second, while the
    HMAC needs the key. Numbers are hashed as their text, so ``42`` and
    ``"42"`` get the same pseudonym; whole floats are written as integers, so
    ``42.0`` gets it too (an integer column turns float when it holds a
    missing value, and must keep its pseudonyms for joins).

    References
    ----------
    .. [1] H. Krawczyk, M. Bellare, R. Canetti, "HMAC: Keyed-Hashing for
       Message Authentication", RFC 2104, 1997.
    .. [2] L. Sweeney, "k-anonymity: a model for protecting privacy",
       International Journal of Uncertainty, Fuzziness and Knowledge-Based
       Systems, 10(5), 2002.

    Examples
    --------
    >>> from skpriv.encryption import Key
    >>> from skpriv.preprocessing import Masker
    >>> X = [["4111111111111111"], ["5500000000000004"]]
    >>> Masker(strategy="partial", keep_last=4).fit_transform(X).ravel().tolist()
    ['************1111', '************0004']
    >>> pseudo = Masker(strategy="hash", key=Key.generate(), hash_length=12)
    >>> [len(v) for v in pseudo.fit_transform(X).ravel()]
    [12, 12]
    >>> Masker(strategy="generalize", bin_edges=[0, 18, 65]).fit_transform(
    ...     [[12], [40], [70]]).ravel().tolist()
    ['[0, 18)', '[18, 65]', '> 65']
    """

    # Masking learns nothing from the values except "generalize"'s learned
    # bins; the column kinds are the columns' types (schema, not values).
    _privacy_releases = {"column_kinds_": PUBLIC, "bin_edges_": PUBLIC}

    _parameter_constraints = {
        "strategy": [StrOptions(_STRATEGIES)],
        "fill_value": [str, Real, None],
        "keep_first": [Interval(Integral, 0, None, closed="left")],
        "keep_last": [Interval(Integral, 0, None, closed="left")],
        "mask_char": [str],
        "key": [Key, None],
        "hash_length": [Interval(Integral, 8, 64, closed="both")],
        "n_bins": [Interval(Integral, 1, None, closed="left")],
        "binning": [StrOptions({"quantile", "uniform"})],
        "bin_edges": ["array-like", None],
        "bottom_code": [Real, None],
        "top_code": [Real, None],
        "date_unit": [StrOptions({"month", "year"})],
        "p": [Interval(Real, 0, 1, closed="both")],
        "random_state": ["random_state", np.random.Generator],
        "n_jobs": [Integral, None],
        "normalize": [StrOptions({"NFC", "NFKC"}), None],
    }

    def __init__(
        self,
        strategy="redact",
        *,
        fill_value=None,
        keep_first=0,
        keep_last=4,
        mask_char="*",
        key=None,
        hash_length=16,
        n_bins=5,
        binning="quantile",
        bin_edges=None,
        bottom_code=None,
        top_code=None,
        date_unit="month",
        p=0.5,
        random_state=None,
        n_jobs=None,
        normalize="NFC",
    ):
        self.strategy = strategy
        self.fill_value = fill_value
        self.keep_first = keep_first
        self.keep_last = keep_last
        self.mask_char = mask_char
        self.key = key
        self.hash_length = hash_length
        self.n_bins = n_bins
        self.binning = binning
        self.bin_edges = bin_edges
        self.bottom_code = bottom_code
        self.top_code = top_code
        self.date_unit = date_unit
        self.p = p
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.normalize = normalize

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.categorical = True
        tags.input_tags.allow_nan = True
        tags.transformer_tags.preserves_dtype = []
        tags.non_deterministic = self.strategy == "random"
        return tags

    def _release_kinds(self):
        """Release kinds: the bin edges are private when read from the data."""
        kinds = dict(declared_releases(type(self)))
        if self.strategy == "generalize" and not self._edges_are_public():
            kinds["bin_edges_"] = (
                "uncovered: bin edges read from the data (quantiles or the "
                "minimum and maximum of the private values)"
            )
        return kinds

    def _edges_are_public(self) -> bool:
        """Whether every bin edge is a function of the parameters alone."""
        if self.bin_edges is not None:
            return True
        # Equal-width bins between given bottom and top codes.
        return (
            self.binning == "uniform"
            and self.bottom_code is not None
            and self.top_code is not None
        )

    # ----------------------------------------------------------------- checks
    def _check_strategy_params(self):
        if self.strategy == "hash":
            if self.key is None:
                raise ValueError(
                    "strategy='hash' needs a secret key: pass key=Key.from_env("
                    "'SKPRIV_KEY') (or another skpriv.encryption.Key). Plain "
                    "unkeyed hashes of identifiers are reversed by enumeration."
                )
            self.key._material("masker/hash")  # resolve env/file keys now
        if self.strategy == "partial" and len(self.mask_char) != 1:
            raise ValueError(
                f"mask_char must be a single character; got {self.mask_char!r}."
            )
        for name in ("bottom_code", "top_code"):
            value = getattr(self, name)
            if value is not None and not np.isfinite(value):
                raise ValueError(f"{name} must be finite; got {value!r}.")
        if (
            self.bottom_code is not None
            and self.top_code is not None
            and self.bottom_code >= self.top_code
        ):
            raise ValueError(
                f"bottom_code ({self.bottom_code}) must be below top_code "
                f"({self.top_code})."
            )
        if self.strategy == "generalize" and self.bin_edges is not None:
            if self.bottom_code is not None or self.top_code is not None:
                # They would be silently ignored: the edges define every bin.
                raise ValueError(
                    "bin_edges fixes every bin: put bottom_code/top_code into "
                    "bin_edges (values below the first edge and above the last "
                    "become '< e0' and '> e_last') and leave them None."
                )
            try:
                edges = np.asarray(self.bin_edges, dtype=float)
            except (TypeError, ValueError):
                edges = np.empty(0)  # reported below, naming bin_edges
            if (
                edges.ndim != 1
                or len(edges) < 2
                or not np.all(np.isfinite(edges))
                or np.any(np.diff(edges) <= 0)
            ):
                raise ValueError(
                    "bin_edges must be at least two finite, strictly increasing "
                    f"numbers; got {self.bin_edges!r}."
                )

    # -------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Check the parameters and learn what ``"generalize"`` needs.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Columns to mask.
        y : None
            Ignored.

        Returns
        -------
        self : Masker
            The fitted masker.
        """
        self._check_strategy_params()
        X = validate_quietly(
            self, self._as_columns(X), dtype=None, ensure_all_finite=False
        )
        for attr in ("column_kinds_", "bin_edges_"):
            self.__dict__.pop(attr, None)
        if self.strategy == "generalize":
            self.column_kinds_, self.bin_edges_ = [], []
            for j in range(X.shape[1]):
                kind, edges = self._learn_column(X[:, j], j)
                self.column_kinds_.append(kind)
                self.bin_edges_.append(edges)
        return self

    def _as_columns(self, X):
        # Nullable Int64 / boolean columns would become floats: 12345678901234567
        # and ...568 the same text, True the text "1". Strategies that write
        # numbers back ("replace", "random") keep them numeric.
        nullable = self.strategy not in ("replace", "random")
        return typed_columns_as_object(X, nullable=nullable)

    def _column_name(self, j):
        names = getattr(self, "feature_names_in_", None)
        return repr(str(names[j])) if names is not None else f"{j}"

    def _numeric(self, values, j):
        try:
            return np.asarray(values, dtype=float)
        except (ValueError, TypeError):
            return None

    def _learn_column(self, col, j):
        values = col[~is_missing(col)]
        if col.dtype.kind != "M":
            numbers = self._numeric(values, j)
            if numbers is not None:
                return "numeric", self._learn_edges(numbers, j)
        if _as_dates(values) is not None:
            return "date", None
        # Name the type, never the value: it is what Masker must hide.
        kinds = sorted({type(v).__name__ for v in values})
        raise ValueError(
            f"strategy='generalize' needs numeric or date columns; column "
            f"{self._column_name(j)} holds other values (of type "
            f"{', '.join(kinds)}; values not shown, to keep them private)."
        )

    def _learn_edges(self, numbers, j):
        if self.bin_edges is not None:
            return np.asarray(self.bin_edges, dtype=float)
        if not np.all(np.isfinite(numbers)):
            raise ValueError(
                f"Column {self._column_name(j)} holds infinite values; "
                f"strategy='generalize' bins finite numbers."
            )
        lo, hi = self.bottom_code, self.top_code
        inside = numbers
        if lo is not None:
            inside = inside[inside >= lo]
        if hi is not None:
            inside = inside[inside < hi]
        if inside.size == 0 and (lo is None or hi is None):
            raise ValueError(
                f"Column {self._column_name(j)} has no values to learn bins "
                f"from (all missing or outside bottom_code/top_code)."
            )
        if self.binning == "uniform" or inside.size == 0:
            start = lo if lo is not None else inside.min()
            stop = hi if hi is not None else inside.max()
            edges = np.linspace(start, stop, self.n_bins + 1)
        else:
            edges = np.quantile(inside, np.linspace(0, 1, self.n_bins + 1))
            if lo is not None:
                edges[0] = lo
            if hi is not None:
                edges[-1] = hi
        edges = np.unique(edges)
        if len(edges) == 1:
            edges = np.repeat(edges, 2)
        return edges

    # -------------------------------------------------------------- transform
    def transform(self, X):
        """Mask every column.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Columns to mask.

        Returns
        -------
        X_masked : ndarray of shape (n_samples, n_features)
            Object array of masked values; float64 when ``"replace"`` or
            ``"random"`` keeps numeric input numeric (numeric or None
            ``fill_value``).
        """
        check_is_fitted(self)
        self._check_strategy_params()
        X = validate_quietly(
            self,
            self._as_columns(X),
            dtype=None,
            ensure_all_finite=False,
            reset=False,
        )
        strategy = self.strategy
        numeric_fill = self.fill_value is None or (
            isinstance(self.fill_value, Real) and not isinstance(self.fill_value, bool)
        )
        if (
            strategy in ("replace", "random")
            and X.dtype.kind in "biuf"
            and numeric_fill
        ):
            return self._mask_numeric(X.astype(np.float64))
        if strategy == "redact":
            return np.full(X.shape, REDACTED, dtype=object)
        fill = self.fill_value
        if strategy == "random":
            replace = check_random_state(self.random_state).random(X.shape) < self.p
        out = np.empty(X.shape, dtype=object)
        for j in range(X.shape[1]):
            col = X[:, j]
            missing = is_missing(col)
            out[:, j] = col if col.dtype == object else col.astype(object)
            keep = ~missing
            if strategy == "random":
                keep &= replace[:, j]
            if not keep.any():
                continue
            values = col[keep]
            if strategy in ("replace", "random"):
                new = [fill] * len(values)
            elif strategy == "partial":
                new = self._partial(to_text(column_objects(values)))
            elif strategy == "hash":
                texts = to_text(column_objects(values))
                if self.normalize is not None:
                    texts = [
                        t if t.isascii() else unicodedata.normalize(self.normalize, t)
                        for t in texts
                    ]
                new = hmac_hex(
                    texts,
                    HmacKey(self.key._material("masker/hash")),
                    self.hash_length,
                    self.n_jobs,
                )
            else:
                new = self._generalize(values, j)
            column = out[:, j]
            column[keep] = new if isinstance(new, np.ndarray) else as_object_array(new)
        return out

    def _mask_numeric(self, X):
        fill = np.nan if self.fill_value is None else float(self.fill_value)
        if self.strategy == "replace":
            return np.where(np.isnan(X), X, fill)
        replace = check_random_state(self.random_state).random(X.shape) < self.p
        return np.where(replace & ~np.isnan(X), fill, X)

    def _partial(self, texts):
        first, last, char = self.keep_first, self.keep_last, self.mask_char
        shown = first + last
        out = []
        for t in texts:
            if not t.isascii():
                # Count user-perceived characters: a joined emoji or an accent
                # is never cut, and bidi controls are dropped.
                t = _graphemes(t.translate(_BIDI_CONTROLS))
            n = len(t)
            if n > shown:
                out.append(
                    "".join(t[:first]) + char * (n - shown) + "".join(t[n - last :])
                )
            else:
                out.append(char * n)
        return out

    def _generalize(self, values, j):
        if self.column_kinds_[j] == "date":
            # The array itself: tolist() of datetime64[ns] gives integers.
            dates = _as_dates(values)
            if dates is None:
                raise ValueError(
                    f"Column {self._column_name(j)} held dates in fit but holds "
                    f"other values now."
                )
            unit = "M" if self.date_unit == "month" else "Y"
            return dates.astype(f"datetime64[{unit}]").astype(str).astype(object)
        numbers = self._numeric(values, j)
        if numbers is None:
            raise ValueError(
                f"Column {self._column_name(j)} held numbers in fit but holds "
                f"other values now."
            )
        edges = self.bin_edges_[j]
        k = len(edges) - 1
        text = _fmt_edges(edges)
        # The last bin is closed unless top coding puts its edge in ">= top".
        closed_top = self.top_code is None or self.bin_edges is not None
        labels = [f"< {text[0]}"]
        labels += [f"[{text[i]}, {text[i + 1]})" for i in range(k)]
        if closed_top:
            labels[-1] = labels[-1][:-1] + "]"
            labels.append(f"> {text[-1]}")
        else:
            labels.append(f">= {text[-1]}")
        # Index 0: below the first edge; i + 1: bin i; k + 1: above.
        idx = np.searchsorted(edges, numbers, side="right")
        if closed_top:
            idx[numbers == edges[-1]] = k
        return np.asarray(labels, dtype=object)[idx]
