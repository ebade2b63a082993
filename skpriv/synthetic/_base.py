"""What MST and AIM share: the fit template, the domain, sampling, the releases."""

from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..base import DP, PUBLIC, PrivacyMixin, declared_releases, privacy_constraints
from ..utils._random import check_random_state, spawn_seeds
from ..utils._sklearn_compat import Interval, StrOptions
from ..utils._validation import typed_columns_as_object, validate_quietly
from ._measure import marginal, measure
from ._pgm import MarginalModel, estimate, release_compiled
from ._schema import DATETIME, TableSchema

__all__ = ["BaseSynthesizer"]

#: Input metadata scikit-learn's validate_data sets.
_INPUT_ATTRS = ("n_features_in_", "feature_names_in_")
#: Dates are kept within +-100,000 days of 1970 (datetime64[ns] holds +-106,000).
_MAX_DAYS = 100_000.0
#: Most bins per column (a marginal of two such columns is 2**32 cells).
MAX_BINS = 2**16
#: Mirror-descent iterations of the final model (intermediate ones use fewer).
FINAL_ITERS = 1000


class BaseSynthesizer(PrivacyMixin, BaseEstimator):
    """Base class of the marginal-based synthesizers (not public).

    Subclasses implement ``_plan(n_columns, n_private)`` (the one plan) and
    ``_select_and_measure(codes, sizes, plan, rng)``, returning the noisy
    measurements ``[(clique, noisy, sigma, weights)]`` and the mbi model.
    """

    _privacy_releases = {
        # Kinds of domain_ depend on the domain parameter: _release_kinds.
        "domain_": PUBLIC,
        "column_kinds_": PUBLIC,
        "measurements_": DP,
        "cliques_": DP,
        "model_": DP,
        "noise_multiplier_": PUBLIC,
        "selection_epsilon_": PUBLIC,
    }

    _parameter_constraints = {
        **privacy_constraints("epsilon", "delta", "random_state"),
        "domain": [dict, StrOptions({"private"}), None],
        "n_bins": [Interval(Integral, 2, MAX_BINS, closed="both")],
        "verbose": ["verbose"],
    }

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        sources = getattr(self, "_domain_sources", ())
        if "data" in sources:
            kinds["domain_"] = (
                "uncovered: the categories or bounds of the columns not declared "
                "in `domain` are read from the data"
            )
        elif "private" in sources:
            kinds["domain_"] = DP
        return kinds

    # ------------------------------------------------------------------
    # The plan
    # ------------------------------------------------------------------

    def _planned_dp_event(self, n_samples):
        # The event depends on public values only: epsilon, delta, the number
        # of columns and of privately bounded ones (not on n_samples).
        n_columns = getattr(self, "n_features_in_", 2)
        return self._plan(n_columns, getattr(self, "_n_private", 0)).event

    # ------------------------------------------------------------------
    # Fit
    # ------------------------------------------------------------------

    def fit(self, X, y=None):
        """Learn a private model of the table ``X``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The private table. A DataFrame keeps its columns' types
            (categorical, boolean, integer, float, datetime); missing values
            are refused.
        y : None
            Ignored; present for scikit-learn's API.

        Returns
        -------
        self : object
            The fitted synthesizer.
        """
        return super().fit(X, y)

    def _fit(self, X, y, rng):
        owner = type(self).__name__
        if self.delta == 0:
            raise ValueError(
                f"{owner}: delta must be > 0 (the marginals are measured with "
                f"Gaussian noise); try delta=1e-9."
            )
        had = {a: self.__dict__[a] for a in _INPUT_ATTRS if a in self.__dict__}
        try:
            schema, plan, codes = self._prepare(X, owner, rng)
        except Exception:
            # Refused before any noise was drawn: this fit released nothing,
            # so the input metadata validate_data set is taken back.
            for attr in _INPUT_ATTRS:
                self.__dict__.pop(attr, None)
            self.__dict__.update(had)
            raise
        sizes = [dom.size for dom in schema.domains]

        try:
            measurements, model, cliques = self._select_and_measure(
                codes, sizes, plan, rng
            )
            model_tables = MarginalModel.from_mbi(model, len(sizes))
        finally:
            release_compiled()  # this fit's XLA programs serve no later fit
        self._schema = schema
        self._domain_sources = tuple(dom.source for dom in schema.domains)
        self.domain_ = {dom.name: dom.public_view() for dom in schema.domains}
        self.column_kinds_ = dict(zip(schema.names, schema.kinds))
        self.measurements_ = [
            (tuple(schema.names[j] for j in clique), noisy, sigma)
            for clique, noisy, sigma, _ in measurements
        ]
        self.cliques_ = [tuple(schema.names[j] for j in cl) for cl in cliques]
        self.model_ = model_tables
        self._set_schedule(plan)
        self.dp_event_ = plan.event
        # Sampling is post-processing; its stream is derived from the fit's.
        self._sample_rng = np.random.default_rng(spawn_seeds(rng, 1)[0])
        return self

    def _prepare(self, X, owner, rng):
        """Validate, resolve the domain (private bounds spend here), encode."""
        import pandas as pd

        frame = X if isinstance(X, pd.DataFrame) else None
        checked = validate_quietly(
            self, typed_columns_as_object(X, nullable=True), dtype=None, reset=True
        )
        schema = TableSchema(
            frame if frame is not None else checked, self.n_bins, owner
        )
        specs = schema.domain_specs(self.domain)
        private = [j for j, s in enumerate(specs) if isinstance(s, str)]
        private = [j for j in private if schema.kinds[j] not in ("bool",)]
        # Refuse a categorical "private" column before any budget is spent.
        schema.check_private(specs)
        self._n_private = len(private)
        plan = self._plan(len(schema.names), self._n_private)
        bounds = self._private_bounds(schema, private, plan, rng) if private else {}
        schema.resolve(specs, bounds)
        codes = schema.encode()
        # The schema is kept to decode samples: it must not keep the rows.
        schema.columns = None
        return schema, plan, codes

    def _private_bounds(self, schema, private, plan, rng):
        """DP ``(low, high)`` of the numeric columns whose domain is private."""
        from ..stats._quantile import private_bounds

        columns = []
        for j in private:
            col = schema.columns[j]
            if schema.kinds[j] == DATETIME:
                from ._schema import _to_days

                values = _to_days(col)
            else:
                values = col.astype(np.float64)
            columns.append(np.sort(values))
        low, high, _ = private_bounds(columns, plan.bounds_epsilon, 1, rng)
        out = {}
        for j, lo, hi in zip(private, low, high):
            if schema.kinds[j] == DATETIME:
                # Post-processing: keep dates where datetime64[ns] can hold them.
                lo, hi = np.clip([lo, hi], -_MAX_DAYS, _MAX_DAYS)
                hi = max(hi, lo + 1.0)
            out[j] = (float(lo), float(hi))
        return out

    # ------------------------------------------------------------------
    # Helpers for subclasses
    # ------------------------------------------------------------------

    def _set_schedule(self, plan):
        """The noise and selection parameters the fit used (MST: the plan's)."""
        self.noise_multiplier_ = plan.measure if plan.n_measure else plan.one_way
        self.selection_epsilon_ = plan.selection

    def _measure(self, codes, sizes, clique, noise_multiplier, rng):
        noisy, sigma = measure(marginal(codes, sizes, clique), noise_multiplier, rng)
        return (tuple(clique), noisy, sigma, None)

    def _estimate(self, sizes, measurements, n_rows, iters, warm_start=None):
        return estimate(sizes, _merge(measurements), n_rows, iters, warm_start)

    def _log(self, message):
        if self.verbose:
            print(f"[{type(self).__name__}] {message}", flush=True)

    # ------------------------------------------------------------------
    # Sampling
    # ------------------------------------------------------------------

    def sample(self, n_samples, random_state=None):
        """Draw ``n_samples`` synthetic rows.

        Sampling is post-processing of the DP model: it spends no budget.

        Parameters
        ----------
        n_samples : int
            Number of rows (>= 0).
        random_state : None, int or numpy.random.Generator, default=None
            ``None`` continues the synthesizer's own stream (seeded by its
            ``random_state`` at fit: reproducible after a fit with an int
            seed); otherwise this source.

        Returns
        -------
        X : DataFrame or ndarray of shape (n_samples, n_features)
            A table of the type fitted on, with the same columns (names,
            order, dtypes).
        """
        check_is_fitted(self, "model_")
        if (
            not isinstance(n_samples, (Integral, np.integer))
            or isinstance(n_samples, bool)
            or n_samples < 0
        ):
            raise ValueError(
                f"n_samples must be a non-negative integer; got {n_samples!r}."
            )
        rng = (
            self._sample_rng
            if random_state is None
            else check_random_state(random_state)
        )
        codes = self.model_.sample(int(n_samples), rng)
        codes = self._uncompress(codes, rng)
        return self._schema.decode(codes, rng)

    def _uncompress(self, codes, rng):
        return codes

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.target_tags.required = False
        tags.input_tags.allow_nan = False
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        return tags


def _merge(measurements):
    """Repeated measurements of one clique as their inverse-variance average.

    The average is the sufficient statistic of Gaussian measurements of the
    same counts, and keeps the model's structure (and JAX's compiled code)
    the same when a clique is measured again.
    """
    groups = {}
    for clique, noisy, sigma, weights in measurements:
        key = (clique, None if weights is None else np.asarray(weights).tobytes())
        groups.setdefault(key, []).append((clique, noisy, sigma, weights))
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        precision = np.array([1.0 / s**2 for _, _, s, _ in group])
        values = np.stack([np.asarray(y, dtype=np.float64) for _, y, _, _ in group])
        mean = (precision[:, None] * values).sum(axis=0) / precision.sum()
        merged.append((group[0][0], mean, float(precision.sum() ** -0.5), group[0][3]))
    return merged
