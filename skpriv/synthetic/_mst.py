"""MSTSynthesizer: the maximum-spanning-tree mechanism (McKenna et al. 2021)."""

import numpy as np

from ..base import DP
from ._base import FINAL_ITERS, BaseSynthesizer
from ._measure import marginal, noisy_max
from ._plan import mst_plan

__all__ = ["MSTSynthesizer"]


class MSTSynthesizer(BaseSynthesizer):
    """Differentially private synthetic data by MST (winner of NIST 2018).

    MST measures every one-way marginal, privately chooses the pairs of
    columns that form a maximum spanning tree of the dependence left
    unexplained by the one-ways, measures those two-way marginals, and fits a
    graphical model to all the noisy marginals with Private-PGM (the ``mbi``
    package). :meth:`sample` draws rows from that model: they keep the
    one-way and tree-edge two-way statistics of the data, and nothing about
    any individual row beyond what ``(epsilon, delta)`` allows.

    Numbers and dates are cut into ``n_bins`` bins of their bounds and
    sampled back uniformly within their bin.

    Parameters
    ----------
    epsilon : float, default=1.0
        Privacy budget (> 0) of the whole fit.
    delta : float, default=1e-9
        Privacy parameter in (0, 1); the marginals get Gaussian noise. Keep it
        well below ``1 / n_samples``.
    domain : dict, "private" or None, default=None
        The public domain of each column: ``{column: [categories]}`` or
        ``{column: (low, high)}`` for numbers and dates (or ``"private"``).
        Keys are column names for a DataFrame, positions for an array.
        Columns left out are read from the data: the fit warns
        (:class:`~skpriv.exceptions.PrivacyLeakWarning`) and
        ``privacy_spent`` names ``domain_`` as not covered. ``"private"``
        (for all columns, or per numeric column) estimates the bounds with
        DP quantiles, spending 10% of epsilon (see Notes). Booleans need
        nothing. Values outside declared bounds are clipped; values outside
        declared categories raise ``ValueError``.
    n_bins : int, default=32
        Bins per numeric or date column (integers with fewer values keep one
        code per value).
    random_state : None, int or numpy.random.Generator, default=None
        Source of the noise. ``None`` (the private default) draws from the
        OS; an int is reproducible, for tests only.
    verbose : int, default=0
        Print progress when > 0.

    Attributes
    ----------
    domain_ : dict
        Each column's categories or ``(low, high)`` bounds.
    column_kinds_ : dict
        Each column's kind: ``"category"``, ``"bool"``, ``"int"``,
        ``"float"`` or ``"datetime"``.
    supports_ : dict
        Per column, the codes (positions in its categories or bins) whose
        noisy count cleared three noise standard deviations; the others are
        merged into one code and sampled back uniformly (DP: chosen from the
        noisy one-ways, as in MST).
    cliques_ : list of tuple
        The two-way marginals chosen for the tree (DP).
    measurements_ : list of (tuple, ndarray, float)
        Every noisy marginal: columns, noisy counts, noise standard deviation.
    model_ : MarginalModel
        The fitted graphical model (conditional tables), which :meth:`sample`
        draws from.
    noise_multiplier_, selection_epsilon_ : float
        Gaussian noise multiplier of each two-way measurement and epsilon of
        each edge selection (public: from the plan).
    dp_event_ : dp_accounting.DpEvent
        What the fit spent; ``privacy_spent`` composes it.
    n_features_in_ : int
        Number of columns.
    feature_names_in_ : ndarray of str
        Column names, when fitted on a DataFrame with string names.

    See Also
    --------
    AIMSynthesizer : Workload-adaptive selection; better on wider workloads.
    evaluate : Marginal distances and train-on-synthetic accuracy.

    Notes
    -----
    Budget: in zCDP terms, a third each to the one-ways, the ``d - 1`` edge
    selections and the ``d - 1`` two-ways (MST's split), scaled so that the
    PLD accountant's epsilon of the recorded event at ``delta`` is
    ``epsilon`` (:func:`skpriv.accounting.epsilon_of`). With
    ``domain="private"``, 10% of epsilon goes first to the bounds (two
    exponential-mechanism quantiles per column on a public log-spaced grid),
    the rest to MST. Edge selections are report-noisy-max with grid Laplace
    noise (floating-point safe; see :mod:`skpriv.synthetic`), accounted as
    pure DP, which is looser than the bounded-range analysis of the paper:
    each selection gets half the paper's epsilon for the same share.

    The row count ``n`` is public (skpriv's privacy model) and is the model's
    total.

    References
    ----------
    .. [1] R. McKenna, G. Miklau, D. Sheldon, "Winning the NIST Contest: A
       scalable and general approach to differentially private synthetic
       data", Journal of Privacy and Confidentiality 11(3), 2021.
    .. [2] R. McKenna, D. Sheldon, G. Miklau, "Graphical-model based
       estimation and inference for differential privacy", ICML 2019.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from skpriv.synthetic import MSTSynthesizer
    >>> rng = np.random.default_rng(0)
    >>> df = pd.DataFrame({"age": rng.integers(20, 80, 500),
    ...                    "smoker": rng.random(500) < 0.3})
    >>> synth = MSTSynthesizer(epsilon=1.0, domain={"age": (18, 90)},
    ...                        random_state=0).fit(df)
    >>> fake = synth.sample(5)
    >>> list(fake.columns), [str(t) for t in fake.dtypes]
    (['age', 'smoker'], ['int64', 'bool'])
    """

    _privacy_releases = {"supports_": DP}

    def __init__(
        self,
        epsilon=1.0,
        delta=1e-9,
        domain=None,
        n_bins=32,
        random_state=None,
        verbose=0,
    ):
        self.epsilon = epsilon
        self.delta = delta
        self.domain = domain
        self.n_bins = n_bins
        self.random_state = random_state
        self.verbose = verbose

    def _plan(self, n_columns, n_private):
        return mst_plan(
            int(n_columns), int(n_private), float(self.epsilon), float(self.delta)
        )

    def _select_and_measure(self, codes, sizes, plan, rng):
        n, d = codes.shape
        self._log(f"measuring {d} one-way marginals")
        one_way = [
            self._measure(codes, sizes, (j,), plan.one_way, rng) for j in range(d)
        ]
        codes, csizes, one_way = self._compress(codes, sizes, one_way)
        cliques = self._select(codes, csizes, one_way, plan, rng) if d > 1 else []
        self._log(f"measuring {len(cliques)} two-way marginals")
        two_way = [
            self._measure(codes, csizes, cl, plan.measure, rng) for cl in cliques
        ]
        measurements = one_way + two_way
        self._log("estimating the graphical model (Private-PGM)")
        model = self._estimate(csizes, measurements, n, FINAL_ITERS)
        return measurements, model, cliques

    def _compress(self, codes, sizes, one_way):
        """Merge each column's codes whose noisy count is below 3 sigma (MST)."""
        codes = codes.copy()
        csizes, supports, measured = [], {}, []
        self._support = []
        for j, (clique, noisy, sigma, _) in enumerate(one_way):
            keep = noisy >= 3.0 * sigma
            kept, merged = np.flatnonzero(keep), np.flatnonzero(~keep)
            self._support.append((kept, merged))
            supports[j] = kept
            if merged.size == 0:
                csizes.append(sizes[j])
                measured.append((clique, noisy, sigma, None))
                continue
            mapping = np.full(sizes[j], kept.size, dtype=np.int64)
            mapping[kept] = np.arange(kept.size)
            codes[:, j] = mapping[codes[:, j]]
            csizes.append(kept.size + 1)
            # The merged cell is the sum of k noisy counts (std sigma sqrt(k)):
            # scaled by 1 / sqrt(k) it has std sigma like the others.
            scale = 1.0 / np.sqrt(merged.size)
            values = np.append(noisy[kept], noisy[merged].sum() * scale)
            weights = np.ones(kept.size + 1)
            weights[-1] = scale
            measured.append((clique, values, sigma, weights))
        self._compressed_sizes = csizes
        return codes, csizes, measured

    def _select(self, codes, sizes, one_way, plan, rng):
        """Kruskal's tree, each edge chosen by report noisy max (MST)."""
        n, d = codes.shape
        # With one-way measurements only, the model is the product of the
        # one-way estimates: each is the noisy counts projected onto the
        # simplex of total n (the least-squares fit Private-PGM would find).
        probs = [
            _one_way_estimate(noisy, weights, n) for _, noisy, _, weights in one_way
        ]
        candidates = [(a, b) for a in range(d) for b in range(a + 1, d)]
        scores = {}
        for a, b in candidates:
            exact = marginal(codes, sizes, (a, b))
            model = n * np.outer(probs[a], probs[b]).ravel()
            scores[(a, b)] = float(np.abs(exact - model).sum())
        parent = list(range(d))

        def root(i):
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        chosen = []
        for _ in range(d - 1):
            candidates = [e for e in candidates if root(e[0]) != root(e[1])]
            pick = noisy_max([scores[e] for e in candidates], plan.selection, 1.0, rng)
            a, b = candidates[pick]
            parent[root(a)] = root(b)
            chosen.append((a, b))
        return chosen

    def _fit(self, X, y, rng):
        super()._fit(X, y, rng)
        self.supports_ = {
            name: kept.tolist()
            for name, (kept, _) in zip(self._schema.names, self._support)
        }
        return self

    def _uncompress(self, codes, rng):
        out = codes.copy()
        for j, (kept, merged) in enumerate(self._support):
            if merged.size == 0:
                continue
            col = codes[:, j]
            other = col == kept.size
            values = np.empty(col.shape, dtype=np.int64)
            values[~other] = kept[col[~other]]
            # The merged codes are drawn uniformly (MST does the same).
            values[other] = merged[rng.integers(0, merged.size, other.sum())]
            out[:, j] = values
        return out


def _one_way_estimate(noisy, weights, n):
    """Probabilities: the noisy counts (merged cell unscaled), projected on the simplex."""
    values = np.asarray(noisy, dtype=np.float64).copy()
    if weights is not None:
        values = values / np.asarray(weights)
    return _simplex(values, float(n)) / float(n)


def _simplex(v, total):
    """Euclidean projection of ``v`` onto ``{x >= 0, sum x = total}``."""
    u = np.sort(v)[::-1]
    css = np.cumsum(u) - total
    idx = np.arange(1, v.size + 1)
    cond = u - css / idx > 0
    rho = idx[cond][-1] if cond.any() else v.size
    theta = css[rho - 1] / rho
    return np.maximum(v - theta, 0.0)
