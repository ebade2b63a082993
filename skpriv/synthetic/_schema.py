"""Tables to integer codes and back: column kinds, domains, binning, sampling in bins.

A synthesizer models a table of discrete codes. Each column becomes codes
``0 .. size - 1``: categories (declared, or read from the data) map to their
position; numbers and dates are cut into ``n_bins`` equal-width bins of their
``(low, high)`` bounds (integers with fewer values than ``n_bins`` keep one
code per value) and are sampled back uniformly within their bin. Only the
bounds and categories (public when declared) and the codes enter the model.
"""

import warnings
from dataclasses import dataclass, field
from numbers import Integral, Real

import numpy as np

from ..exceptions import PrivacyLeakWarning
from ..utils._validation import is_missing

__all__ = ["ColumnDomain", "TableSchema"]

#: Column kinds: the dtype family each column is sampled back to.
CATEGORY, BOOL, INT, FLOAT, DATETIME = "category", "bool", "int", "float", "datetime"
_NS_PER_DAY = 86_400 * 10**9


@dataclass
class ColumnDomain:
    """The public (or privately estimated) domain of one column.

    ``categories`` for categorical columns (codes are positions), else the
    bounds ``low`` / ``high`` and the bin ``edges`` (``size = len(edges) - 1``
    bins; for small integer ranges one bin per integer). ``source`` is
    ``"declared"``, ``"data"`` (read from the rows: not covered by the DP
    guarantee) or ``"private"`` (a DP estimate).
    """

    name: object
    kind: str
    source: str
    categories: np.ndarray | None = None
    low: float | None = None
    high: float | None = None
    edges: np.ndarray | None = field(default=None, repr=False)

    @property
    def size(self) -> int:
        if self.categories is not None:
            return len(self.categories)
        return len(self.edges) - 1

    def public_view(self):
        """What users read in ``domain_``: the categories or the bounds."""
        if self.categories is not None:
            return self.categories.tolist()
        if self.kind == DATETIME:
            return (_from_days(self.low), _from_days(self.high))
        if self.kind == INT:
            return (int(self.low), int(self.high))
        return (float(self.low), float(self.high))


def _to_days(values: np.ndarray) -> np.ndarray:
    """Dates as float days since 1970 (exact to the nanosecond up to ~100 days)."""
    ns = values.astype("datetime64[ns]").astype(np.int64)
    return ns / _NS_PER_DAY


def _from_days(days):
    return np.datetime64(int(round(float(days) * _NS_PER_DAY)), "ns")


def _column_kind(values: np.ndarray, pandas_dtype) -> str:
    import pandas as pd

    dt = pandas_dtype if pandas_dtype is not None else values.dtype
    if isinstance(dt, pd.CategoricalDtype):
        return CATEGORY
    if pd.api.types.is_bool_dtype(dt):
        return BOOL
    if pd.api.types.is_datetime64_any_dtype(dt):
        return DATETIME
    if pd.api.types.is_integer_dtype(dt):
        return INT
    if pd.api.types.is_float_dtype(dt):
        return FLOAT
    return CATEGORY


def _is_bounds(spec) -> bool:
    return (
        isinstance(spec, tuple)
        and len(spec) == 2
        and all(
            isinstance(v, (Real, np.datetime64, np.number))
            or type(v).__name__ == "Timestamp"
            for v in spec
        )
        and not any(isinstance(v, (bool, np.bool_)) for v in spec)
    )


def _bounds_value(value, kind):
    if kind == DATETIME:
        return float(_to_days(np.asarray([np.datetime64(value, "ns")]))[0])
    return float(value)


def _bin_edges(low: float, high: float, kind: str, n_bins: int) -> np.ndarray:
    if kind == INT:
        low, high = np.floor(low), np.ceil(high)
        n_values = int(high - low) + 1
        if n_values <= n_bins:
            # One code per integer value: the round trip is exact.
            return np.arange(low, high + 2) - 0.5
    return np.linspace(low, high, n_bins + 1)


class TableSchema:
    """The columns of a table: names, kinds, original dtypes, domains.

    Built at fit from the data and the ``domain`` parameter; turns the table
    into codes (:meth:`encode`) and codes back into a table of the same type,
    columns and dtypes (:meth:`decode`).
    """

    def __init__(self, X, n_bins: int, owner: str):
        import pandas as pd

        self.owner = owner
        self.n_bins = n_bins
        self.is_frame = isinstance(X, pd.DataFrame)
        if self.is_frame:
            self.names = list(X.columns)
            self.dtypes = list(X.dtypes)
            self.columns = [_frame_column(X.iloc[:, j]) for j in range(X.shape[1])]
            self.array_dtype = None
        else:
            arr = np.asarray(X)
            self.names = list(range(arr.shape[1]))
            self.dtypes = [None] * arr.shape[1]
            self.columns = [arr[:, j] for j in range(arr.shape[1])]
            self.array_dtype = arr.dtype
        self.kinds = [
            _column_kind(col, dt) for col, dt in zip(self.columns, self.dtypes)
        ]
        for name, col in zip(self.names, self.columns):
            if is_missing(col).any():
                raise ValueError(
                    f"{owner}: column {name!r} has missing values (NaN, None or "
                    f"NaT). Synthesizers model complete rows: impute them, or "
                    f"encode missingness as a category (e.g. fillna('missing')), "
                    f"before fit."
                )
            if col.dtype.kind == "f" and not np.all(np.isfinite(col)):
                raise ValueError(
                    f"{owner}: column {name!r} contains inf; Input contains "
                    f"infinity or NaN values are not supported."
                )
        self.domains: list[ColumnDomain] = []

    # ------------------------------------------------------------------
    # Domains
    # ------------------------------------------------------------------

    def domain_specs(self, domain) -> list:
        """Per column: a declared spec, ``"private"`` or ``None`` (from data)."""
        if domain is None or (isinstance(domain, str) and domain == "private"):
            return [domain] * len(self.names)
        if not isinstance(domain, dict):
            raise ValueError(
                f"{self.owner}: domain must be None, 'private' or a dict "
                f"{{column: categories | (low, high) | 'private'}}; got "
                f"{type(domain).__name__}."
            )
        unknown = [k for k in domain if k not in self.names]
        if unknown:
            raise ValueError(
                f"{self.owner}: domain names columns {unknown!r} that are not in "
                f"the data (columns: {self.names!r}); use column names for a "
                f"DataFrame, positions for an array."
            )
        return [domain.get(name) for name in self.names]

    def check_private(self, specs):
        """Refuse ``"private"`` for categorical columns (no public candidates)."""
        for name, kind, spec in zip(self.names, self.kinds, specs):
            if isinstance(spec, str) and spec == "private" and kind == CATEGORY:
                raise ValueError(
                    f"{self.owner}: column {name!r} is categorical and its "
                    f"domain is 'private'; categories cannot be estimated "
                    f"privately without a public list of candidates. Declare "
                    f"them: domain={{{name!r}: [category, ...]}}."
                )

    def resolve(self, specs, private_bounds=None):
        """Set ``self.domains``; ``private_bounds``: ``{j: (low, high)}``.

        Warns (PrivacyLeakWarning) naming every column whose domain is read
        from the data.
        """
        self.domains = []
        from_data = []
        for j, (name, kind, col, spec) in enumerate(
            zip(self.names, self.kinds, self.columns, specs)
        ):
            if kind == BOOL:
                # Both values of a boolean are known without the data.
                dom = ColumnDomain(name, kind, "declared", np.array([False, True]))
            elif isinstance(spec, str) and spec == "private":
                low, high = private_bounds[j]
                dom = self._numeric(name, kind, low, high, "private")
            elif spec is None:
                from_data.append(name)
                dom = self._from_data(name, kind, col)
            elif _is_bounds(spec) and kind in (INT, FLOAT, DATETIME):
                low, high = (_bounds_value(v, kind) for v in spec)
                if not (np.isfinite(low) and np.isfinite(high) and low < high):
                    raise ValueError(
                        f"{self.owner}: domain of column {name!r} must be "
                        f"(low, high) with finite low < high; got {spec!r}."
                    )
                dom = self._numeric(name, kind, low, high, "declared")
            else:
                dom = self._declared_categories(name, kind, spec)
            self.domains.append(dom)
        if from_data:
            warnings.warn(
                f"{self.owner}: the domain of columns {from_data!r} is read from "
                f"the data (categories, or min and max): it is not covered by "
                f"the DP guarantee. Declare it with domain={{column: categories "
                f"| (low, high)}}, or use domain='private' for numeric columns.",
                PrivacyLeakWarning,
                stacklevel=4,
            )
        return self.domains

    def _numeric(self, name, kind, low, high, source):
        edges = _bin_edges(low, high, kind, self.n_bins)
        return ColumnDomain(name, kind, source, None, low, high, edges)

    def _from_data(self, name, kind, col):
        if kind == CATEGORY:
            return ColumnDomain(name, kind, "data", _sorted_unique(col))
        values = _to_days(col) if kind == DATETIME else col.astype(np.float64)
        low, high = float(values.min()), float(values.max())
        if not high > low:
            high = low + 1.0
        return self._numeric(name, kind, low, high, "data")

    def _declared_categories(self, name, kind, spec):
        if isinstance(spec, (str, bytes)) or not hasattr(spec, "__iter__"):
            raise ValueError(
                f"{self.owner}: domain of column {name!r} must be a list of "
                f"categories{', a (low, high) pair' if kind != CATEGORY else ''} "
                f"or 'private'; got {type(spec).__name__}."
            )
        cats = list(spec)
        if not cats:
            raise ValueError(
                f"{self.owner}: domain of column {name!r} lists no category."
            )
        arr = np.empty(len(cats), dtype=object)
        arr[:] = cats
        if len(set(_hashable(c) for c in cats)) != len(cats):
            raise ValueError(
                f"{self.owner}: domain of column {name!r} repeats a category."
            )
        return ColumnDomain(name, kind, "declared", arr)

    # ------------------------------------------------------------------
    # Encoding
    # ------------------------------------------------------------------

    def encode(self) -> np.ndarray:
        """The table as codes, shape ``(n, d)`` (int64). Numbers are clipped."""
        n = len(self.columns[0]) if self.columns else 0
        codes = np.empty((n, len(self.columns)), dtype=np.int64)
        for j, (dom, col) in enumerate(zip(self.domains, self.columns)):
            codes[:, j] = self._encode_column(dom, col)
        return codes

    def _encode_column(self, dom: ColumnDomain, col: np.ndarray) -> np.ndarray:
        if dom.categories is not None:
            lookup = {_hashable(c): i for i, c in enumerate(dom.categories)}
            keys = [_hashable(v) for v in col.tolist()]
            codes = np.fromiter(
                (lookup.get(k, -1) for k in keys), dtype=np.int64, count=len(keys)
            )
            n_unknown = int((codes < 0).sum())
            if n_unknown:
                raise ValueError(
                    f"{self.owner}: column {dom.name!r} holds values outside its "
                    f"declared categories (neither the values nor their count are "
                    f"shown, to keep them private). Add them to domain[{dom.name!r}], or map them "
                    f"to a declared category before fit."
                )
            return codes
        values = _to_days(col) if dom.kind == DATETIME else col.astype(np.float64)
        # Rows outside the public bounds are clipped to them (the house rule).
        values = np.clip(values, dom.low, dom.high)
        codes = np.searchsorted(dom.edges, values, side="right") - 1
        return np.clip(codes, 0, dom.size - 1)

    def decode(self, codes: np.ndarray, rng: np.random.Generator):
        """Codes back to a table of the fitted type, columns and dtypes."""
        import pandas as pd

        cols = [
            self._decode_column(dom, codes[:, j], rng)
            for j, dom in enumerate(self.domains)
        ]
        if self.is_frame:
            data = {}
            for name, dtype, kind, values in zip(
                self.names, self.dtypes, self.kinds, cols
            ):
                data[name] = _as_dtype(values, dtype, kind)
            frame = pd.DataFrame(data, columns=pd.Index(self.names))
            return frame
        out = np.empty((codes.shape[0], len(cols)), dtype=self.array_dtype)
        for j, values in enumerate(cols):
            out[:, j] = values
        return out

    def _decode_column(self, dom, codes, rng):
        if dom.categories is not None:
            return dom.categories[codes]
        lo, hi = dom.edges[codes], dom.edges[codes + 1]
        if dom.kind == INT:
            # Uniform over the integers of the bin (bins hold at least one).
            first = np.ceil(np.maximum(lo, dom.low))
            last = np.floor(np.minimum(hi, dom.high))
            last = np.where(np.isclose(last, hi) & (last > first), last - 1, last)
            last = np.maximum(last, first)
            return first + np.floor(rng.random(codes.size) * (last - first + 1))
        values = lo + rng.random(codes.size) * (hi - lo)
        values = np.clip(values, dom.low, dom.high)
        if dom.kind == DATETIME:
            ns = np.round(values * _NS_PER_DAY).astype(np.int64)
            return ns.astype("datetime64[ns]")
        return values


def _frame_column(series) -> np.ndarray:
    import pandas as pd

    if isinstance(series.dtype, pd.DatetimeTZDtype):
        # Dates with a time zone are modelled in UTC and converted back.
        series = series.dt.tz_convert("UTC").dt.tz_localize(None)
    if isinstance(series.dtype, pd.CategoricalDtype):
        return series.astype(object).to_numpy()
    return series.to_numpy()


def _hashable(value):
    if isinstance(value, np.generic):
        return value.item()
    return value


def _sorted_unique(col: np.ndarray) -> np.ndarray:
    import pandas as pd

    uniques = list(pd.unique(pd.Series(col, dtype=object)))
    try:
        uniques = sorted(uniques)
    except TypeError:  # mixed types: order by their text
        uniques = sorted(uniques, key=lambda v: (type(v).__name__, str(v)))
    arr = np.empty(len(uniques), dtype=object)
    arr[:] = uniques
    return arr


def _as_dtype(values, dtype, kind):
    """``values`` as a column of the fitted pandas ``dtype``."""
    import pandas as pd

    if isinstance(dtype, pd.CategoricalDtype):
        cats = _category_list(dtype, values)
        return pd.Categorical(values, categories=cats, ordered=dtype.ordered)
    series = pd.Series(values)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return series.dt.tz_localize("UTC").dt.tz_convert(dtype.tz)
    return series.astype(dtype)


def _category_list(dtype, values):
    known = list(dtype.categories)
    extra = [v for v in dict.fromkeys(values.tolist()) if v not in set(known)]
    return known + extra


def check_n_bins(n_bins, owner):
    if (
        not isinstance(n_bins, (Integral, np.integer))
        or isinstance(n_bins, bool)
        or n_bins < 2
    ):
        raise ValueError(f"{owner}: n_bins must be an integer >= 2; got {n_bins!r}.")
