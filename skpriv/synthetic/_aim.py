"""AIMSynthesizer: adaptive, workload-aware marginal selection (McKenna et al. 2022)."""

import itertools
import math
from numbers import Integral, Real

import numpy as np

from ..base import DP, PUBLIC
from ..utils._sklearn_compat import Interval, StrOptions
from ._base import FINAL_ITERS, BaseSynthesizer
from ._measure import exponential_mechanism, gaussian_for, marginal
from ._pgm import MarginalModel, import_mbi, mbi_domain
from ._plan import aim_plan

__all__ = ["AIMSynthesizer"]

#: Mirror-descent iterations of the intermediate models (warm-started).
ROUND_ITERS = 250
#: AIM's first division of the budget: 16 rounds per column (the paper's T).
INITIAL_ROUNDS_PER_COLUMN = 16
#: Rounds per column of ``rounds="auto"`` (rounded up).
AUTO_ROUNDS_PER_COLUMN = 1.5
#: AIM's split of a round between measuring (0.9) and selecting (0.1).
MEASURE_SHARE = 0.9


class AIMSynthesizer(BaseSynthesizer):
    """Differentially private synthetic data by AIM (adaptive and iterative).

    AIM measures every one-way marginal, then round after round picks the
    marginal of the workload (by default every pair of columns) that the
    current model gets most wrong — privately, with the exponential
    mechanism on the model's error against the data, minus the error
    expected from noise alone — measures it with Gaussian noise and refits
    the graphical model with Private-PGM (the ``mbi`` package). When a
    measurement barely moves the model, later rounds get twice the budget
    (annealing); the rounds stop when the zCDP budget is spent. Candidates
    that would grow the model beyond its share of ``max_model_size`` are
    left out. :meth:`sample` draws rows from the final model.

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy budget (> 0) of the whole fit.
    delta : float, default=1e-9
        Privacy parameter in (0, 1); keep it well below ``1 / n_samples``.
    domain : dict, "private" or None, default=None
        Public domain of each column, as in :class:`MSTSynthesizer`.
    n_bins : int, default=32
        Bins per numeric or date column.
    workload : list or None, default=None
        The marginals to preserve: tuples of columns (names for a DataFrame,
        positions for an array), or ``(columns, weight)`` pairs (weights
        finite and > 0; only their ratios matter). ``None``: every pair of
        columns, weight 1. Their subsets are candidates too, except those
        whose own table exceeds ``max_model_size``; an entry names at most
        10 columns.
    max_model_size : float, default=80
        Largest model (in megabytes of float64 tables over the junction
        tree's cliques) a selection may build, reached as the rounds spend
        the budget (AIM's rule).
    rounds : int, "auto" or None, default="auto"
        At most this many selection rounds (each refits the model, which
        costs a JAX compilation when the model grows). ``"auto"``: 1.5 per
        column (rounded up); ``None``: no limit, AIM's rule alone ends the fit (the
        paper's algorithm; often two to three times the rounds, for a few
        percent less error). With a limit, each round spends at least an
        equal share of the budget left over the rounds left, so the whole
        budget is spent either way.
    random_state : None, int or numpy.random.Generator, default=None
        Source of the noise; an int is reproducible, for tests only.
    verbose : int, default=0
        Print progress when > 0.

    Attributes
    ----------
    domain_ : dict
        Each column's categories or ``(low, high)`` bounds.
    column_kinds_ : dict
        Each column's kind.
    cliques_ : list of tuple
        The marginals selected, round by round (DP).
    measurements_ : list of (tuple, ndarray, float)
        Every noisy marginal: columns, noisy counts, noise standard deviation.
    model_ : MarginalModel
        The fitted graphical model, which :meth:`sample` draws from.
    noise_multiplier_ : ndarray of shape (n_features + n_rounds,)
        Gaussian noise multiplier of each measurement: the one-ways, then one
        per round (DP: chosen from earlier rounds' outputs).
    selection_epsilon_ : ndarray of shape (n_rounds,)
        Epsilon of each round's exponential mechanism (DP, likewise).
    rho_ : float
        The zCDP budget the rounds share (public: from epsilon and delta).
    dp_event_ : dp_accounting.DpEvent
        What the fit spent.
    n_features_in_ : int
        Number of columns.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string names.

    See Also
    --------
    MSTSynthesizer : A fixed tree of two-way marginals; faster.
    evaluate : Marginal distances and train-on-synthetic accuracy.

    Notes
    -----
    The paper's algorithm and analysis. The budget is ``rho``-zCDP, the
    largest ``rho`` whose conversion by dp-accounting's RDP accountant is
    ``(epsilon, delta)``-DP; the recorded event is ``ZCDpEvent(rho)``, known
    before the data is seen. The budget is first divided into ``T`` rounds
    (the paper's ``16 d``; under a cap on the rounds, ``min(16 d, rounds +
    d)``): the one-ways and each round's measurement get noise multiplier
    ``sqrt(T / (2 * 0.9 * rho))`` and each selection epsilon
    ``sqrt(8 * 0.1 * rho / T)`` (``epsilon**2 / 8`` zCDP, the exponential
    mechanism's bounded-range analysis). After a round whose measurement
    moved the model's marginal by less than the noise alone would
    (``sqrt(2 / pi) * sigma * cells`` in L1), the noise is halved and the
    selection epsilon doubled; when less than two rounds' budget is left,
    the last round spends all of it. These choices depend on earlier rounds'
    DP outputs only, and the rounds stop before their zCDP costs sum above
    ``rho``: adaptive composition under a zCDP filter is ``rho``-zCDP
    (Feldman & Zrnic 2021). A clique selected again is averaged with its
    earlier measurement (inverse-variance weights), which keeps the model the
    same size. The exponential mechanism is drawn in Gumbel-max form (see
    :mod:`skpriv.synthetic`'s floating-point note).

    References
    ----------
    .. [1] R. McKenna, B. Mullins, D. Sheldon, G. Miklau, "AIM: An Adaptive
       and Iterative Mechanism for Differentially Private Synthetic Data",
       VLDB 2022.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skpriv.synthetic import AIMSynthesizer
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"age": rng.integers(20, 80, 500),
    ...                    "smoker": rng.random(500) < 0.3})
    >>> synth = AIMSynthesizer(epsilon=1.0, domain={"age": (18, 90)},
    ...                        random_state=0).fit(df)
    >>> synth.sample(3).shape
    (3, 2)
    """

    _privacy_releases = {
        **BaseSynthesizer._privacy_releases,
        # Annealing picks them from earlier rounds' DP outputs.
        "noise_multiplier_": DP,
        "selection_epsilon_": DP,
        "rho_": PUBLIC,
    }

    _parameter_constraints = {
        **BaseSynthesizer._parameter_constraints,
        "workload": [list, tuple, None],
        "max_model_size": [Interval(Real, 0, None, closed="neither")],
        "rounds": [
            Interval(Integral, 1, None, closed="left"),
            StrOptions({"auto"}),
            None,
        ],
    }

    def __init__(
        self,
        epsilon=1.0,
        delta=1e-9,
        domain=None,
        n_bins=32,
        workload=None,
        max_model_size=80,
        rounds="auto",
        random_state=None,
        verbose=0,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.domain = domain
        self.n_bins = n_bins
        self.workload = workload
        self.max_model_size = max_model_size
        self.rounds = rounds
        self.random_state = random_state
        self.verbose = verbose

    def _plan(self, n_columns, n_private):
        return aim_plan(int(n_private), float(self.epsilon), float(self.delta))

    def _set_schedule(self, plan):
        one_way, rounds = self._schedule
        self.noise_multiplier_ = np.array(
            one_way + [nm for nm, _ in rounds], dtype=np.float64
        )
        self.selection_epsilon_ = np.array([eps for _, eps in rounds], dtype=np.float64)
        self.rho_ = float(plan.rho)

    def _candidates(self, names, sizes=None):
        """``{clique (positions): weight}``: the workload's downward closure.

        Weights are divided by the largest (scores then never overflow, and
        scaling every weight changes nothing). With ``sizes``, candidates
        whose own table exceeds ``max_model_size`` are left out: no round
        could ever select them, and their exact marginals would not fit.
        """
        d = len(names)
        if self.workload is None:
            workload = [((a, b), 1.0) for a, b in itertools.combinations(range(d), 2)]
            if d == 1:
                workload = [((0,), 1.0)]
        else:
            workload = [_workload_entry(entry, names) for entry in self.workload]
            if not workload:
                raise ValueError(
                    "AIMSynthesizer: workload is empty; name at least one marginal "
                    "(a tuple of columns), or pass workload=None for every pair."
                )
        if not workload:  # no columns: the data checks say so
            return {}
        top = max(w for _, w in workload)
        workload = [(cl, w / top) for cl, w in workload]
        scores = {}
        for clique, _ in workload:
            for r in range(1, len(clique) + 1):
                for sub in itertools.combinations(clique, r):
                    if sizes is not None and _megabytes(sizes, sub) > float(
                        self.max_model_size
                    ):
                        continue
                    scores[sub] = sum(w * len(set(sub) & set(cl)) for cl, w in workload)
        return scores

    def _select_and_measure(self, codes, sizes, plan, rng):
        from mbi import junction_tree

        import_mbi()
        n, d = codes.shape
        candidates = self._candidates(self._current_names, sizes)
        if not candidates:
            raise ValueError(
                f"AIMSynthesizer: no marginal of the workload fits in "
                f"max_model_size={self.max_model_size!r} megabytes; raise it, or "
                f"use fewer bins or narrower workload entries."
            )
        exact = _LazyMarginals(codes, sizes)
        domain = mbi_domain(sizes)
        # The zCDP filter: never spend above rho (a margin for rounding).
        budget = plan.rho * (1.0 - 1e-9)
        cap = (
            math.ceil(AUTO_ROUNDS_PER_COLUMN * d)
            if self.rounds == "auto"
            else self.rounds
        )
        # The first division of the budget: the paper's 16 d rounds; with a
        # cap, the cap plus one round's worth per one-way, so the one-ways are
        # measured as precisely as the rounds the cap will run.
        initial = INITIAL_ROUNDS_PER_COLUMN * d
        if cap is not None:
            initial = min(initial, cap + d)
        nm = math.sqrt(initial / (2.0 * MEASURE_SHARE * budget))
        eps = math.sqrt(8.0 * (1.0 - MEASURE_SHARE) * budget / initial)
        self._log(f"measuring {d} one-way marginals")
        nm0 = nm
        measurements = [self._measure(codes, sizes, (j,), nm, rng) for j in range(d)]
        used = d / (2.0 * nm**2)
        model = self._estimate(sizes, measurements, n, ROUND_ITERS)
        current = MarginalModel.from_mbi(model, d)
        cliques, model_cliques, schedule = [], [(j,) for j in range(d)], []
        t = 0
        while True:
            t += 1
            remaining = budget - used
            share = None
            last = False
            if remaining < 2.0 * _round_cost(nm, eps):
                share, last = remaining, True
            elif cap is not None and remaining / (cap - t + 1) > _round_cost(nm, eps):
                share, last = remaining / (cap - t + 1), t >= cap
            if share is not None:
                nm = math.sqrt(1.0 / (2.0 * MEASURE_SHARE * share))
                eps = math.sqrt(8.0 * (1.0 - MEASURE_SHARE) * share)
            used += _round_cost(nm, eps)
            if used > plan.rho:  # pragma: no cover - the rule above prevents it
                raise RuntimeError("AIMSynthesizer: zCDP filter exceeded")
            schedule.append((nm, eps))
            sigma = gaussian_for(nm).sigma
            # AIM's size rule: the model may grow as the budget is spent.
            limit = self.max_model_size * used / plan.rho
            # Candidates inside a clique of the current junction tree leave
            # the model's size as it is (no need to build a tree for them).
            jtree, _ = junction_tree.make_junction_tree(
                domain, [_names(c) for c in model_cliques]
            )
            free = _downward_closure(
                [tuple(int(a[1:]) for a in node) for node in jtree.nodes]
            )
            allowed = [
                cl
                for cl in candidates
                if cl in free
                or junction_tree.hypothetical_model_size(
                    domain, [_names(c) for c in model_cliques + [cl]]
                )
                <= limit
            ]
            errors, weights = [], []
            for cl in allowed:
                n_cells = exact[cl].size
                bias = math.sqrt(2.0 / math.pi) * sigma * n_cells
                estimate = n * current.marginal(cl)
                errors.append(
                    candidates[cl] * (np.abs(exact[cl] - estimate).sum() - bias)
                )
                weights.append(abs(candidates[cl]))
            sensitivity = max(weights) if max(weights) > 0 else 1.0
            cl = allowed[exponential_mechanism(errors, eps, sensitivity, rng)]
            cliques.append(cl)
            measurements.append(self._measure(codes, sizes, cl, nm, rng))
            if cl not in model_cliques:
                model_cliques.append(cl)
            iters = FINAL_ITERS if last else ROUND_ITERS
            model = self._estimate(sizes, measurements, n, iters, warm_start=model)
            before = n * current.marginal(cl)
            current = MarginalModel.from_mbi(model, d)
            self._log(
                f"round {t}: measured {cl} (noise multiplier {nm:.3g}, "
                f"{100 * used / plan.rho:.0f}% of the budget spent)"
            )
            if last:
                break
            moved = np.abs(n * current.marginal(cl) - before).sum()
            if moved <= math.sqrt(2.0 / math.pi) * sigma * exact[cl].size:
                nm, eps = nm / 2.0, eps * 2.0  # annealing: sharper rounds
        self._schedule = ([nm0] * d, schedule)
        return measurements, model, cliques

    def _fit(self, X, y, rng):
        import pandas as pd

        self._current_names = (
            list(X.columns)
            if isinstance(X, pd.DataFrame)
            else list(range(np.shape(X)[1] if np.ndim(X) == 2 else 0))
        )
        # The workload is checked before anything is measured.
        self._candidates(self._current_names)
        return super()._fit(X, y, rng)


#: Widest workload entry (its downward closure has 2**k candidates).
MAX_WORKLOAD_WIDTH = 10


class _LazyMarginals(dict):
    """Exact marginals, computed the first time a candidate is scored."""

    def __init__(self, codes, sizes):
        super().__init__()
        self._codes, self._sizes = codes, sizes

    def __missing__(self, clique):
        value = self[clique] = marginal(self._codes, self._sizes, clique)
        return value


def _megabytes(sizes, clique):
    """Megabytes of a float64 table over ``clique`` (mbi's model-size unit)."""
    return float(np.prod([float(sizes[j]) for j in clique])) * 8.0 / 2**20


def _round_cost(noise_multiplier, epsilon):
    """zCDP cost of one round: a Gaussian measurement and a selection."""
    return 1.0 / (2.0 * noise_multiplier**2) + epsilon**2 / 8.0


def _names(clique):
    return tuple(f"c{j}" for j in clique)


def _downward_closure(cliques):
    out = set()
    for cl in cliques:
        for r in range(1, len(cl) + 1):
            out.update(itertools.combinations(cl, r))
    return out


def _workload_entry(entry, names):
    """``(positions, weight)`` of one workload entry."""
    if (
        isinstance(entry, tuple)
        and len(entry) == 2
        and isinstance(entry[0], (tuple, list))
        and isinstance(entry[1], Real)
    ):
        columns, weight = entry
    else:
        columns, weight = entry, 1.0
    if isinstance(columns, (str, Integral)):
        columns = (columns,)
    positions = []
    for c in columns:
        if c not in names:
            raise ValueError(
                f"AIMSynthesizer: workload names column {c!r}, which is not in "
                f"the data (columns: {names!r})."
            )
        positions.append(names.index(c))
    if len(set(positions)) != len(positions) or not positions:
        raise ValueError(
            f"AIMSynthesizer: workload entry {entry!r} must name distinct columns."
        )
    if len(positions) > MAX_WORKLOAD_WIDTH:
        raise ValueError(
            f"AIMSynthesizer: a workload entry names {len(positions)} columns; at "
            f"most {MAX_WORKLOAD_WIDTH} (each adds all its subsets as candidates, "
            f"and a marginal that wide rarely fits max_model_size)."
        )
    weight = float(weight)
    if not (math.isfinite(weight) and weight > 0):
        raise ValueError(
            f"AIMSynthesizer: workload weights must be finite and > 0; got "
            f"{weight!r} for {columns!r}."
        )
    return tuple(sorted(positions)), weight
