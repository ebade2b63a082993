"""A quality report for synthetic tables: marginal distances and TSTR accuracy."""

import itertools
from dataclasses import dataclass, field

import numpy as np

__all__ = ["SyntheticQualityReport", "evaluate"]


@dataclass
class SyntheticQualityReport:
    """How close a synthetic table is to the real one.

    Returned by :func:`evaluate`: the total-variation distances between the
    real and synthetic one- and two-column distributions, and how well a
    model trained on the synthetic rows predicts real ones.

    Parameters
    ----------
    one_way : dict
        ``{column: total-variation distance}`` of each column's distribution
        (0: identical, 1: disjoint).
    two_way : dict
        ``{(column, column): total-variation distance}`` of each pair's joint
        distribution.
    tstr : float or None
        Train on synthetic, test on real: the score (accuracy, or R^2 for a
        numeric target) on the real test rows of a model trained on the
        synthetic rows.
    trtr : float or None
        The same model trained on the real rows (the reference), when a
        separate real test set is given.
    target : object or None
        The column predicted.

    See Also
    --------
    evaluate : Builds the report.
    skpriv.synthetic.MSTSynthesizer : A synthesizer to evaluate.

    Examples
    --------
    >>> from skpriv.synthetic import SyntheticQualityReport
    >>> report = SyntheticQualityReport(one_way={"age": 0.1}, two_way={})
    >>> round(report.mean_one_way, 2)
    0.1
    """

    one_way: dict = field(default_factory=dict)
    two_way: dict = field(default_factory=dict)
    tstr: float | None = None
    trtr: float | None = None
    target: object = None

    @property
    def mean_one_way(self) -> float:
        """Average one-way total-variation distance."""
        return float(np.mean(list(self.one_way.values()))) if self.one_way else 0.0

    @property
    def mean_two_way(self) -> float:
        """Average two-way total-variation distance."""
        return float(np.mean(list(self.two_way.values()))) if self.two_way else 0.0

    def summary(self) -> str:
        """The report as a few lines of text.

        Returns
        -------
        text : str
            The mean and largest distances, and the train-on-synthetic score.
        """
        lines = [
            f"1-way TV distance: mean {self.mean_one_way:.3f} "
            f"(max {max(self.one_way.values(), default=0.0):.3f}) over "
            f"{len(self.one_way)} columns",
            f"2-way TV distance: mean {self.mean_two_way:.3f} "
            f"(max {max(self.two_way.values(), default=0.0):.3f}) over "
            f"{len(self.two_way)} pairs",
        ]
        if self.tstr is not None:
            ref = f" (train on real: {self.trtr:.3f})" if self.trtr is not None else ""
            lines.append(
                f"predicting {self.target!r}: train on synthetic, test on real "
                f"{self.tstr:.3f}{ref}"
            )
        return "\n".join(lines)

    def plot(self, ax=None):
        """Plot the report (a ``SyntheticQualityDisplay``, matplotlib).

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure when None.

        Returns
        -------
        display : SyntheticQualityDisplay
            The display, with its ``ax_`` and ``figure_``.
        """
        from ..display._synthetic import SyntheticQualityDisplay

        return SyntheticQualityDisplay(self).plot(ax=ax)


def _as_frame(X, columns=None):
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"tables must be 2-D; got shape {arr.shape}.")
    return pd.DataFrame(arr, columns=columns)


def _discretize(real, synth, n_bins):
    """Both columns as codes on common bins (numbers: bins of the real range)."""
    import pandas as pd

    r, s = real.to_numpy(), synth.to_numpy()
    numeric = (
        pd.api.types.is_numeric_dtype(real.dtype)
        and not pd.api.types.is_bool_dtype(real.dtype)
    ) or pd.api.types.is_datetime64_any_dtype(real.dtype)
    if numeric and pd.Series(r).nunique() > n_bins:
        if pd.api.types.is_datetime64_any_dtype(real.dtype):
            r = r.astype("datetime64[ns]").astype(np.int64).astype(np.float64)
            s = (
                np.asarray(s)
                .astype("datetime64[ns]")
                .astype(np.int64)
                .astype(np.float64)
            )
        r, s = r.astype(np.float64), np.asarray(s, dtype=np.float64)
        edges = np.linspace(r.min(), r.max(), n_bins + 1)[1:-1]
        return np.searchsorted(edges, r), np.searchsorted(edges, s), n_bins
    values = pd.unique(pd.Series(np.concatenate([r, s]).astype(object)))
    lookup = {v: i for i, v in enumerate(values)}
    return (
        np.fromiter((lookup[v] for v in r.astype(object)), np.int64, len(r)),
        np.fromiter((lookup[v] for v in s.astype(object)), np.int64, len(s)),
        len(values),
    )


def _tv(a, b):
    pa, pb = a / max(a.sum(), 1), b / max(b.sum(), 1)
    return float(0.5 * np.abs(pa - pb).sum())


def _default_model(X, is_classification):
    from sklearn.compose import make_column_selector, make_column_transformer
    from sklearn.ensemble import (
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
    )
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OrdinalEncoder

    encode = make_column_transformer(
        (
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
            make_column_selector(dtype_exclude="number"),
        ),
        remainder="passthrough",
    )
    model = (
        HistGradientBoostingClassifier(random_state=0)
        if is_classification
        else HistGradientBoostingRegressor(random_state=0)
    )
    return make_pipeline(encode, model)


def _numeric_dates(frame):
    import pandas as pd

    frame = frame.copy()
    for c in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[c].dtype):
            frame[c] = frame[c].astype("int64") / 86_400e9
        elif pd.api.types.is_bool_dtype(frame[c].dtype):
            frame[c] = frame[c].astype(np.int64)
    return frame


def evaluate(
    real, synthetic, *, target=None, real_test=None, estimator=None, n_bins=20
):
    """Compare a synthetic table with the real one.

    Reports the total-variation distance of every column's distribution and
    of every pair of columns' joint distribution (numbers in ``n_bins``
    equal-width bins of the real range, categories as they are), and, with a
    ``target``, how well a model trained on the synthetic rows predicts it on
    real rows (train on synthetic, test on real: TSTR).

    The report reads the real data exactly: it is a diagnostic for the data
    owner, not a DP release.

    Parameters
    ----------
    real : DataFrame or array of shape (n_samples, n_features)
        The real table (the one the synthesizer was fitted on, or like it).
    synthetic : DataFrame or array of shape (n_synthetic, n_features)
        The synthetic table, with the same columns.
    target : column name or position, default=None
        Column to predict for TSTR; ``None`` skips it. Categorical, boolean
        or integer targets with at most 20 values are classified (accuracy),
        others regressed (R^2).
    real_test : DataFrame or array, default=None
        Real rows held out from the synthesizer: the model trained on the
        synthetic rows is tested on them, and a model trained on ``real`` is
        the reference (``trtr``). ``None`` tests on ``real`` and reports no
        reference.
    estimator : estimator, default=None
        The model for TSTR; ``None``: gradient-boosted trees with the
        non-numeric columns ordinal-encoded.
    n_bins : int, default=20
        Bins of numeric columns for the marginals.

    Returns
    -------
    report : SyntheticQualityReport
        ``one_way``, ``two_way``, ``tstr``, ``trtr``; ``summary()`` and
        ``plot()``.

    See Also
    --------
    MSTSynthesizer, AIMSynthesizer : The synthesizers.
    skpriv.display.SyntheticQualityDisplay : The plot.

    Examples
    --------
    >>> import pandas as pd
    >>> from skpriv.synthetic import evaluate
    >>> real = pd.DataFrame({"a": [0, 1, 1, 0], "b": ["x", "y", "y", "x"]})
    >>> fake = pd.DataFrame({"a": [0, 1, 0, 0], "b": ["x", "y", "x", "x"]})
    >>> report = evaluate(real, fake)
    >>> report.one_way
    {'a': 0.25, 'b': 0.25}
    >>> report.two_way
    {('a', 'b'): 0.25}
    """
    import pandas as pd
    from sklearn.base import clone

    real = _as_frame(real)
    synthetic = _as_frame(synthetic, columns=real.columns)
    if list(real.columns) != list(synthetic.columns):
        raise ValueError(
            "real and synthetic must have the same columns in the same order; "
            f"got {list(real.columns)!r} and {list(synthetic.columns)!r}."
        )
    codes = {}
    report = SyntheticQualityReport(target=target)
    for c in real.columns:
        r, s, k = _discretize(real[c], synthetic[c], n_bins)
        codes[c] = (r, s, k)
        report.one_way[c] = _tv(
            np.bincount(r, minlength=k), np.bincount(s, minlength=k)
        )
    for a, b in itertools.combinations(real.columns, 2):
        (ra, sa, ka), (rb, sb, kb) = codes[a], codes[b]
        m = ka * kb
        report.two_way[(a, b)] = _tv(
            np.bincount(ra * kb + rb, minlength=m),
            np.bincount(sa * kb + sb, minlength=m),
        )
    if target is None:
        return report
    if target not in real.columns:
        raise ValueError(f"target {target!r} is not a column of the tables.")
    test = real if real_test is None else _as_frame(real_test, columns=real.columns)
    y_real = real[target]
    is_class = (
        not pd.api.types.is_numeric_dtype(y_real.dtype)
        or pd.api.types.is_bool_dtype(y_real.dtype)
        or (pd.api.types.is_integer_dtype(y_real.dtype) and y_real.nunique() <= 20)
    )
    features = [c for c in real.columns if c != target]

    def score(train):
        X = _numeric_dates(train[features])
        y = train[target]
        if is_class:
            y = y.astype(str)
        model = (
            clone(estimator) if estimator is not None else _default_model(X, is_class)
        )
        model.fit(X, y)
        y_test = test[target].astype(str) if is_class else test[target]
        return float(model.score(_numeric_dates(test[features]), y_test))

    if is_class and synthetic[target].nunique() < 2:
        report.tstr = float(
            np.mean(test[target].astype(str) == str(synthetic[target].iloc[0]))
        )
    else:
        report.tstr = score(synthetic)
    if real_test is not None:
        report.trtr = score(real)
    return report
