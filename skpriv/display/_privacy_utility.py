"""``PrivacyUtilityDisplay``: utility of a private model across privacy budgets."""

from numbers import Integral, Real

import numpy as np
import sklearn
from sklearn.base import clone, is_classifier, is_regressor
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv, cross_val_score, cross_validate

from ..utils._random import check_random_state, spawn_seeds

__all__ = ["PrivacyUtilityDisplay"]

_STD_STYLES = ("errorbar", "fill_between", None)


def _check_matplotlib(caller: str):
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib: pip install 'skpriv[docs]' or "
            f"pip install matplotlib."
        ) from exc
    return plt


def _check_epsilons(epsilons, name: str = "epsilons") -> np.ndarray:
    try:
        values = np.asarray(epsilons, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"{name} must be a 1-D array of numbers; got {epsilons!r}."
        ) from exc
    if values.ndim != 1 or values.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of privacy budgets; got shape "
            f"{values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be finite and > 0; got {values.tolist()}.")
    if np.unique(values).size != values.size:
        raise ValueError(f"{name} must not repeat a value; got {values.tolist()}.")
    return values


def _check_scores(scores, n_epsilons: int) -> np.ndarray:
    try:
        values = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"scores must be an array of numbers; got {scores!r}.") from exc
    if values.ndim == 1:
        values = values[:, np.newaxis]
    if values.ndim != 2 or values.shape[0] != n_epsilons or values.shape[1] == 0:
        raise ValueError(
            f"scores must have shape (n_epsilons,) or (n_epsilons, n_evaluations) "
            f"with n_epsilons={n_epsilons}; got shape {np.shape(scores)}."
        )
    if not np.all(np.isfinite(values)):
        raise ValueError(
            "scores contains NaN or infinity; a failed fit must not be plotted as "
            "a score."
        )
    return values


def _check_baseline(baseline):
    if baseline is None:
        return None
    message = (
        f"baseline must be None, a number or an array of scores; got {baseline!r}."
    )
    if isinstance(baseline, (bool, str, bytes)):
        raise TypeError(message)
    try:
        values = np.atleast_1d(np.asarray(baseline, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(message) from exc
    if values.ndim != 1 or values.size == 0 or not np.all(np.isfinite(values)):
        raise ValueError(
            f"baseline must be a finite number or a non-empty 1-D array of scores; "
            f"got {baseline!r}."
        )
    return values


def _score_name(scoring, estimator=None) -> str:
    if scoring is None:
        if estimator is not None and is_classifier(estimator):
            return "Accuracy"
        if estimator is not None and is_regressor(estimator):
            return "R²"
        return "Score"
    name = getattr(scoring, "__name__", None) if callable(scoring) else scoring
    if not isinstance(name, str):
        return "Score"
    if name.startswith("neg_"):
        name = "negative " + name[4:]
    return name.replace("_", " ").capitalize()


def _estimator_name(estimator) -> str:
    final = estimator
    while hasattr(final, "steps"):
        final = final.steps[-1][1]
    return type(final).__name__


def _routing_enabled() -> bool:
    return bool(sklearn.get_config().get("enable_metadata_routing", False))


def _seed_keys(estimator) -> list:
    """Every ``random_state`` parameter of ``estimator`` and its parts."""
    return [
        key
        for key in estimator.get_params(deep=True)
        if key == "random_state" or key.endswith("__random_state")
    ]


class PrivacyUtilityDisplay:
    """Privacy–utility curve: a model's score across privacy budgets.

    Shows what a privacy guarantee costs in utility: the mean score (with the
    spread over folds and repeated noise draws) at each value of the privacy
    parameter, and, as a horizontal line, a non-private baseline. It follows
    scikit-learn's Display API: build it with :meth:`from_estimator` (which
    cross-validates the estimator at every budget) or :meth:`from_results`
    (numbers computed elsewhere), then call :meth:`plot`. matplotlib is
    imported only when plotting. All parameters are stored as attributes.

    Parameters
    ----------
    epsilons : array-like of shape (n_epsilons,)
        Values of the privacy parameter (usually ``epsilon``), all > 0.
    scores : array-like of shape (n_epsilons, n_evaluations)
        Scores at each budget: one column per fold and repeated noise draw.
        A 1-D array gives one score per budget (no error bars).
    baseline : float, array-like of shape (n_baseline_scores,) or None, \
            default=None
        Score of a non-private reference model, or its scores over folds
        (drawn as a line with a band of one standard deviation).
    param_name : str, default="epsilon"
        Name of the privacy parameter, used as the x-axis label.
    score_name : str, default="Score"
        Name of the score, used as the y-axis label.
    estimator_name : str or None, default=None
        Legend label of the curve.

    Attributes
    ----------
    ax_ : matplotlib Axes
        Axes with the curve, set by :meth:`plot`.
    figure_ : matplotlib Figure
        Figure containing the curve, set by :meth:`plot`.
    line_ : matplotlib Line2D
        The line of mean scores.
    errorbar_ : matplotlib ErrorbarContainer or None
        The error bars when ``std_display_style="errorbar"``.
    fill_between_ : matplotlib PolyCollection or None
        The band when ``std_display_style="fill_between"``.
    baseline_line_ : matplotlib Line2D or None
        The horizontal baseline, if a baseline was given.
    estimators_ : list of lists of fitted estimators
        Only for a display made by :meth:`from_estimator`: ``estimators_[i][j]``
        is the model fitted at ``epsilons[i]`` whose test score is
        ``scores[i, j]``. They are kept so that
        :func:`~skpriv.accounting.privacy_spent` can account for every fit.

    See Also
    --------
    skpriv.accounting.privacy_spent : Privacy a fitted model spent.
    sklearn.model_selection.ValidationCurveDisplay : The same plot for any
        hyper-parameter, without a baseline.

    Notes
    -----
    Error bars show one standard deviation of the scores at each budget,
    across cross-validation folds and ``n_repeats`` fresh noise draws, so they
    include the randomness of the private mechanism, not only the data split.
    The x-axis is logarithmic by default, since budgets usually span orders of
    magnitude; the privacy guarantee weakens from left to right.

    Drawing the curve on private data spends privacy: every fit made by
    :meth:`from_estimator` trained on it, and their costs compose.
    ``privacy_spent(display)`` composes all of them (``n_epsilons x n_splits
    x n_repeats`` fits) and lists the scores, and a baseline estimator's
    scores, as not covered: they are exact statistics of the private test
    rows. A display made from numbers computed elsewhere (:meth:`from_results`
    or the constructor) knows no fits; ``privacy_spent`` refuses it.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skpriv.display import PrivacyUtilityDisplay
    >>> display = PrivacyUtilityDisplay.from_results(
    ...     [0.1, 1.0, 10.0],
    ...     [[0.56, 0.60], [0.80, 0.84], [0.90, 0.91]],
    ...     baseline=0.92,
    ...     score_name="Accuracy",
    ...     name="my private model",
    ... )
    >>> display.scores.mean(axis=1).round(2).tolist()
    [0.58, 0.82, 0.9]
    >>> display.baseline_line_ is not None
    True
    """

    def __init__(
        self,
        *,
        epsilons,
        scores,
        baseline=None,
        param_name="epsilon",
        score_name="Score",
        estimator_name=None,
    ):
        self.epsilons = epsilons
        self.scores = scores
        self.baseline = baseline
        self.param_name = param_name
        self.score_name = score_name
        self.estimator_name = estimator_name

    def _privacy_children(self):
        """Every fit :meth:`from_estimator` made, for ``privacy_spent``.

        They all trained on the same private data, so their costs compose.
        """
        fits = getattr(self, "estimators_", None)
        if fits is None:
            raise ValueError(
                f"This {type(self).__name__} was made from scores computed "
                f"elsewhere (from_results or its constructor) and holds no "
                f"fitted estimators, so privacy_spent cannot know what they "
                f"cost; call privacy_spent on the fitted objects that produced "
                f"the scores, or build the display with from_estimator."
            )
        param = str(self.param_name).rsplit("__", 1)[-1]
        return [
            (f"{param}={float(value):g}[{j}]", est)
            for value, row in zip(np.ravel(self.epsilons), fits)
            for j, est in enumerate(row)
        ]

    def _privacy_uncovered(self):
        """The scores: exact statistics of the private test rows."""
        from ..accounting import UncoveredRelease

        part = type(self).__name__
        out = [
            UncoveredRelease(
                part,
                "scores",
                "exact scores of the private test folds, computed without "
                "noise; the curve plots them",
            )
        ]
        if getattr(self, "_baseline_from_data", False):
            out.append(
                UncoveredRelease(
                    part,
                    "baseline",
                    "scores of the non-private baseline estimator, fitted and "
                    "scored on the private rows without noise",
                )
            )
        return out

    def plot(
        self,
        ax=None,
        *,
        name=None,
        xscale="log",
        std_display_style="errorbar",
        line_kw=None,
        baseline_kw=None,
    ):
        """Plot the curve.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; a new figure is made if ``None``. Pass the axes of
            another display to compare models on one plot.
        name : str, default=None
            Legend label of the curve; defaults to ``estimator_name``.
        xscale : {"log", "linear"}, default="log"
            Scale of the privacy-parameter axis.
        std_display_style : {"errorbar", "fill_between"} or None, \
                default="errorbar"
            How to draw one standard deviation of the scores.
        line_kw : dict, default=None
            Keyword arguments for the curve (``errorbar`` or ``plot``).
        baseline_kw : dict, default=None
            Keyword arguments for the baseline's ``axhline``.

        Returns
        -------
        display : PrivacyUtilityDisplay
            The display, with ``ax_``, ``figure_`` and the artists set.
        """
        epsilons = _check_epsilons(self.epsilons)
        scores = _check_scores(self.scores, epsilons.size)
        baseline = _check_baseline(self.baseline)
        if not isinstance(self.param_name, str):
            raise TypeError(
                f"param_name must be a str (the x-axis label); got {self.param_name!r}."
            )
        if xscale not in ("log", "linear"):
            raise ValueError(f"xscale must be 'log' or 'linear'; got {xscale!r}.")
        if std_display_style not in _STD_STYLES:
            raise ValueError(
                f"std_display_style must be 'errorbar', 'fill_between' or None; "
                f"got {std_display_style!r}."
            )
        plt = _check_matplotlib(f"{type(self).__name__}.plot")
        if ax is None:
            _, ax = plt.subplots()

        order = np.argsort(epsilons)
        x, scores = epsilons[order], scores[order]
        mean, std = scores.mean(axis=1), scores.std(axis=1)
        label = name if name is not None else self.estimator_name
        line_kw = {"marker": "o", **(line_kw or {})}
        if label is not None:
            line_kw.setdefault("label", label)

        self.errorbar_ = self.fill_between_ = None
        if std_display_style == "errorbar":
            line_kw.setdefault("capsize", 3)
            self.errorbar_ = ax.errorbar(x, mean, yerr=std, **line_kw)
            self.line_ = self.errorbar_.lines[0]
        else:
            (self.line_,) = ax.plot(x, mean, **line_kw)
            if std_display_style == "fill_between":
                self.fill_between_ = ax.fill_between(
                    x, mean - std, mean + std, alpha=0.25, color=self.line_.get_color()
                )

        self.baseline_line_ = None
        if baseline is not None:
            kw = {
                "color": "black",
                "linestyle": "--",
                "label": "non-private baseline",
                **(baseline_kw or {}),
            }
            base_mean = float(baseline.mean())
            self.baseline_line_ = ax.axhline(base_mean, **kw)
            if baseline.size > 1 and baseline.std() > 0:
                ax.axhspan(
                    base_mean - baseline.std(),
                    base_mean + baseline.std(),
                    color=self.baseline_line_.get_color(),
                    alpha=0.1,
                )

        ax.set_xscale(xscale)
        if xscale == "log":
            # Budgets read better as 0.1, 1, 10 than as 10^-1, 10^0, 10^1.
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        param = self.param_name.rsplit("__", 1)[-1]
        ax.set_xlabel(f"{param} (smaller is more private)")
        ax.set_ylabel(self.score_name)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
        self.ax_ = ax
        self.figure_ = ax.figure
        return self

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        epsilons,
        param_name="epsilon",
        groups=None,
        cv=None,
        scoring=None,
        n_repeats=3,
        baseline=None,
        n_jobs=None,
        random_state=None,
        params=None,
        name=None,
        score_name=None,
        ax=None,
        xscale="log",
        std_display_style="errorbar",
        line_kw=None,
        baseline_kw=None,
    ):
        """Cross-validate ``estimator`` at every budget and plot the curve.

        For each repeat, the estimator is cloned with fresh seeds in every
        ``random_state`` parameter (its own and its steps'), and
        :func:`sklearn.model_selection.cross_validate` scores it at each
        value of ``param_name`` on the same cross-validation splits. The
        fitted estimators are kept in ``estimators_``, so that
        ``privacy_spent(display)`` composes what every fit spent.

        Parameters
        ----------
        estimator : estimator instance
            The private estimator or pipeline to evaluate (not fitted).
        X : array-like of shape (n_samples, n_features)
            Data.
        y : array-like of shape (n_samples,)
            Targets.
        epsilons : array-like of shape (n_epsilons,)
            Values of ``param_name`` to evaluate, all > 0.
        param_name : str, default="epsilon"
            The privacy parameter; use ``"<step>__epsilon"`` inside a pipeline.
        groups : array-like of shape (n_samples,), default=None
            Group labels for a group splitter.
        cv : int, cross-validation generator or iterable, default=None
            Cross-validation strategy, as in scikit-learn (``None``: 5 folds,
            stratified for classifiers).
        scoring : str, callable or None, default=None
            Scorer, as in scikit-learn; ``None`` uses the estimator's ``score``.
        n_repeats : int, default=3
            Times each budget is evaluated with fresh noise.
        baseline : estimator instance, float or None, default=None
            A non-private reference: an estimator is cross-validated on the same
            splits; a number is drawn as is.
        n_jobs : int, default=None
            Parallel jobs over budgets and folds (joblib).
        random_state : int, numpy.random.Generator or None, default=None
            Seeds the repeats' estimators. ``None`` draws fresh entropy; an int
            makes the curve reproducible (a fixed seed is for examples and
            tests, not for privacy).
        params : dict, default=None
            Parameters routed to the estimator's ``fit`` (and the scorer and
            splitter), as in :func:`~sklearn.model_selection.validation_curve`.
        name : str, default=None
            Legend label; defaults to the final estimator's class name.
        score_name : str, default=None
            Label of the y-axis; inferred from ``scoring`` when ``None``.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        xscale : {"log", "linear"}, default="log"
            Scale of the privacy-parameter axis.
        std_display_style : {"errorbar", "fill_between"} or None, \
                default="errorbar"
            How to draw one standard deviation of the scores.
        line_kw : dict, default=None
            Keyword arguments for the curve.
        baseline_kw : dict, default=None
            Keyword arguments for the baseline line.

        Returns
        -------
        display : PrivacyUtilityDisplay
            The display, already plotted, with the fitted estimators in
            ``estimators_``.
        """
        # Fail before the (long) cross-validation when plotting cannot work.
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        if not hasattr(estimator, "fit") or not hasattr(estimator, "get_params"):
            raise TypeError(
                f"estimator must be a scikit-learn estimator; got {estimator!r}."
            )
        valid = estimator.get_params(deep=True)
        if not isinstance(param_name, str) or param_name not in valid:
            raise ValueError(
                f"param_name={param_name!r} is not a parameter of "
                f"{type(estimator).__name__}; in a pipeline use "
                f"'<step>__epsilon'. Valid parameters include: "
                f"{sorted(k for k in valid if 'epsilon' in k) or sorted(valid)[:10]}."
            )
        epsilons = _check_epsilons(epsilons)
        if (
            isinstance(n_repeats, bool)
            or not isinstance(n_repeats, Integral)
            or n_repeats < 1
        ):
            raise ValueError(f"n_repeats must be an int >= 1; got {n_repeats!r}.")
        if baseline is not None and not (
            hasattr(baseline, "fit")
            or (isinstance(baseline, Real) and not isinstance(baseline, bool))
        ):
            raise TypeError(
                f"baseline must be None, a number or an estimator; got {baseline!r}."
            )
        cv = check_cv(cv, y, classifier=is_classifier(estimator))
        # One scorer, as validation_curve uses: a list of metrics is refused.
        scorer = check_scoring(estimator, scoring=scoring)
        rng = check_random_state(random_state)
        seed_keys = _seed_keys(estimator)
        # Without metadata routing the folds are drawn once per repeat, so
        # that every budget (and the baseline) is scored on the same ones;
        # with it, the splitter's metadata comes through ``params`` and
        # scikit-learn routes it at each call.
        routed = _routing_enabled()

        columns, fits = [], [[] for _ in epsilons]
        first_splits = None
        for seed in spawn_seeds(rng, n_repeats):
            est = clone(estimator)
            if seed_keys:
                est.set_params(**dict.fromkeys(seed_keys, seed))
            splits = cv if routed else list(cv.split(X, y, groups))
            if first_splits is None:
                first_splits = splits
            test_scores = []
            for i, value in enumerate(epsilons):
                # cross_validate keeps the fitted estimators (validation_curve
                # discards them): privacy_spent(display) needs every fit.
                result = cross_validate(
                    clone(est).set_params(**{param_name: float(value)}),
                    X,
                    y,
                    groups=groups if routed else None,
                    cv=splits,
                    scoring=scorer,
                    n_jobs=n_jobs,
                    error_score="raise",
                    params=params,
                    return_estimator=True,
                )
                test_scores.append(result["test_score"])
                fits[i].extend(result["estimator"])
            columns.append(np.asarray(test_scores, dtype=np.float64))
        scores = np.concatenate(columns, axis=1)

        baseline_from_data = baseline is not None and hasattr(baseline, "fit")
        if baseline_from_data:
            baseline = cross_val_score(
                clone(baseline),
                X,
                y,
                groups=groups if routed else None,
                cv=first_splits,
                scoring=scoring,
                n_jobs=n_jobs,
                error_score="raise",
                params=params,
            )
        display = cls(
            epsilons=epsilons,
            scores=scores,
            baseline=baseline,
            param_name=param_name,
            score_name=(
                score_name
                if score_name is not None
                else _score_name(scoring, estimator)
            ),
            estimator_name=name if name is not None else _estimator_name(estimator),
        )
        display.estimators_ = fits
        display._baseline_from_data = baseline_from_data
        return display.plot(
            ax=ax,
            xscale=xscale,
            std_display_style=std_display_style,
            line_kw=line_kw,
            baseline_kw=baseline_kw,
        )

    @classmethod
    def from_results(
        cls,
        epsilons,
        scores,
        *,
        baseline=None,
        param_name="epsilon",
        score_name="Score",
        name=None,
        ax=None,
        xscale="log",
        std_display_style="errorbar",
        line_kw=None,
        baseline_kw=None,
    ):
        """Plot privacy–utility numbers computed elsewhere.

        Parameters
        ----------
        epsilons : array-like of shape (n_epsilons,)
            Values of the privacy parameter, all > 0.
        scores : array-like of shape (n_epsilons,) or (n_epsilons, n_evaluations)
            Score at each budget, or several scores per budget (error bars).
        baseline : float, array-like or None, default=None
            Non-private score, or its scores over folds.
        param_name : str, default="epsilon"
            Name of the privacy parameter (x-axis label).
        score_name : str, default="Score"
            Name of the score (y-axis label).
        name : str, default=None
            Legend label of the curve.
        ax : matplotlib Axes, default=None
            Axes to draw on.
        xscale : {"log", "linear"}, default="log"
            Scale of the privacy-parameter axis.
        std_display_style : {"errorbar", "fill_between"} or None, \
                default="errorbar"
            How to draw one standard deviation of the scores.
        line_kw : dict, default=None
            Keyword arguments for the curve.
        baseline_kw : dict, default=None
            Keyword arguments for the baseline line.

        Returns
        -------
        display : PrivacyUtilityDisplay
            The display, already plotted.
        """
        epsilons = _check_epsilons(epsilons)
        display = cls(
            epsilons=epsilons,
            scores=_check_scores(scores, epsilons.size),
            baseline=_check_baseline(baseline),
            param_name=param_name,
            score_name=score_name,
            estimator_name=name,
        )
        return display.plot(
            ax=ax,
            xscale=xscale,
            std_display_style=std_display_style,
            line_kw=line_kw,
            baseline_kw=baseline_kw,
        )
