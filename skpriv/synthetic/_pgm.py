"""The graphical model: Private-PGM (``mbi``) estimation, numpy sampling.

``mbi`` (Private-PGM, by MST's and AIM's author; JAX underneath) finds the
graphical model whose marginals best fit the noisy measurements. It is an
optional extra, imported on first use. The fitted model is kept as numpy
conditional tables along a junction tree (:class:`MarginalModel`): sampling
needs neither JAX nor ``mbi``, draws from the synthesizer's own generator
(``mbi``'s sampler uses numpy's global state) and pickles small.
"""

import threading
import warnings
from contextlib import contextmanager

import numpy as np

__all__ = ["MarginalModel", "estimate", "import_mbi", "release_compiled"]


def import_mbi():
    """``mbi``, or an ImportError naming the extra to install."""
    try:
        with warnings.catch_warnings():
            # mbi warns at import that JAX runs in float32: counts here stay
            # far below the 2**24 where float32 stops being exact for them,
            # and changing JAX's global precision would change it for the
            # user's other JAX code.
            warnings.simplefilter("ignore")
            import mbi
            from mbi import estimation  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "skpriv.synthetic needs the Private-PGM package 'mbi' (and JAX): "
            "pip install 'skpriv[synth]'."
        ) from exc
    return mbi


def release_compiled() -> None:
    """Drop the programs JAX compiled for ``mbi``'s jitted functions.

    Every new set of cliques is a new XLA program and JAX keeps each one
    mapped in memory; a fit's programs are of no use to the next fit (other
    cliques, other shapes), and after a few dozen AIM fits in one process the
    mappings reached the kernel's limit (``vm.max_map_count``) and LLVM
    aborted the process. Only ``mbi``'s caches are cleared (the jitted
    functions of its modules and classes), not the user's other JAX code.
    """
    import inspect
    import sys

    for name, module in list(sys.modules.items()):
        if module is None or not (name == "mbi" or name.startswith("mbi.")):
            continue
        for obj in list(vars(module).values()):
            targets = [obj]
            if inspect.isclass(obj) and obj.__module__.startswith("mbi"):
                targets += list(vars(obj).values())
            for target in targets:
                clear = getattr(target, "clear_cache", None)
                if callable(clear) and type(target).__module__.startswith("jax"):
                    clear()


def mbi_domain(sizes):
    mbi = import_mbi()
    return mbi.Domain(tuple(_attr(j) for j in range(len(sizes))), tuple(sizes))


def _attr(j: int) -> str:
    return f"c{j}"


def to_mbi_measurements(measurements):
    """``[(clique, noisy, sigma, weights or None)]`` -> mbi LinearMeasurements."""
    mbi = import_mbi()
    out = []
    for clique, noisy, sigma, weights in measurements:
        kwargs = {}
        if weights is not None:
            kwargs["query"] = mbi.WeightedQuery(np.asarray(weights, dtype=np.float64))
        out.append(
            mbi.LinearMeasurement(
                np.asarray(noisy, dtype=np.float64),
                tuple(_attr(j) for j in clique),
                stddev=float(sigma),
                **kwargs,
            )
        )
    return out


def estimate(sizes, measurements, n_rows, iters, warm_start=None):
    """The mbi model fitting ``measurements`` (mirror descent), total ``n_rows``."""
    mbi = import_mbi()
    import jax

    domain = mbi_domain(sizes)
    # Compiling dominates (each new set of cliques is a new XLA program;
    # running one takes milliseconds): XLA's quick compile while mbi works.
    compiled = None
    with _quick_compile(jax):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                estimator = mbi.estimation.MirrorDescent()
                linear = to_mbi_measurements(measurements)
                # mbi compiles the optimisation loop in a thread of its own
                # while this one sets up (and compiles the first marginals).
                compiled = estimator.precompile(domain, linear)
                return estimator.estimate(
                    domain,
                    linear,
                    known_total=float(n_rows),
                    iters=int(iters),
                    warm_start=warm_start,
                )
        finally:
            if compiled is not None:
                try:
                    compiled.result()  # done with the quick setting in force
                except Exception:  # noqa: BLE001 - estimate compiled it itself
                    pass


_QUICK_LOCK = threading.Lock()
_QUICK_STATE = {"depth": 0, "saved": False}


@contextmanager
def _quick_compile(jax):
    """``jax_disable_most_optimizations`` on while any estimate runs.

    A global JAX flag: the user's value is saved by the first estimate to
    start and put back by the last to finish, also when fits run in threads.
    """
    with _QUICK_LOCK:
        if _QUICK_STATE["depth"] == 0:
            _QUICK_STATE["saved"] = jax.config.read("jax_disable_most_optimizations")
            jax.config.update("jax_disable_most_optimizations", True)
        _QUICK_STATE["depth"] += 1
    try:
        yield
    finally:
        with _QUICK_LOCK:
            _QUICK_STATE["depth"] -= 1
            if _QUICK_STATE["depth"] == 0:
                jax.config.update(
                    "jax_disable_most_optimizations", _QUICK_STATE["saved"]
                )


class MarginalModel:
    """A fitted graphical model as conditional tables, sampled with numpy.

    Columns are drawn one after the other along the junction tree's
    elimination order; each given the already drawn columns it shares a
    clique with (its parents), from the model's conditional distribution.

    Parameters
    ----------
    sizes : sequence of int
        Codes per column.
    steps : list of (int, tuple of int, ndarray)
        ``(column, parents, cdf)``: ``cdf`` has shape ``(prod of parent
        sizes, size)``, the conditional CDF of the column given each parent
        configuration (flattened in C order).
    """

    def __init__(self, sizes, steps):
        self.sizes = tuple(int(s) for s in sizes)
        self.steps = steps

    @classmethod
    def from_mbi(cls, model, n_columns):
        """Conditional tables of an ``mbi`` model, along its junction tree."""
        import_mbi()
        sizes = [int(model.domain[_attr(j)]) for j in range(n_columns)]
        from mbi import junction_tree, marginal_oracles

        jtree, order = junction_tree.make_junction_tree(
            model.domain, [tuple(cl) for cl in model.cliques]
        )
        nodes = list(jtree.nodes)
        factors = _numpy_factors(model.potentials)
        marginals = None
        index = {_attr(j): j for j in range(len(sizes))}
        cliques = [set(cl) for cl in nodes]
        steps, used = [], set()
        for attr in order[::-1]:
            related = set().union(*[cl for cl in cliques if attr in cl] or [set()])
            parents = tuple(sorted(used & related, key=lambda a: index[a]))
            attrs = parents + (attr,)
            table = _joint(factors, [index[a] for a in attrs], sizes)
            if table is None:  # under/overflow in numpy: mbi's stable pass
                if marginals is None:
                    marginals = marginal_oracles.message_passing_stable(
                        model.potentials.expand(nodes), float(model.total)
                    )
                table = np.asarray(
                    marginals.project(attrs).transpose(attrs).datavector(flatten=False),
                    dtype=np.float64,
                )
            table = np.clip(table, 0.0, None).reshape(-1, sizes[index[attr]])
            steps.append(
                (index[attr], tuple(index[a] for a in parents), _conditional_cdf(table))
            )
            used.add(attr)
        return cls(sizes, steps)

    def sample(self, n_samples: int, rng) -> np.ndarray:
        """``n_samples`` rows of codes, shape ``(n_samples, n_columns)``.

        Controlled rounding, as Private-PGM samples: the rows that share a
        configuration of a column's parents (``m`` of them) get the column's
        codes in counts ``floor(m p)``, the leftover rows going to codes
        drawn without replacement in proportion to the fractional parts,
        then shuffled. Each count is within one of its expected value, so
        the copy's marginals match the model's far more closely than
        independent draws would (whose error shrinks only as ``1 / sqrt m``).
        """
        codes = np.zeros((n_samples, len(self.sizes)), dtype=np.int64)
        for col, parents, cdf in self.steps:
            if parents:
                shape = tuple(self.sizes[p] for p in parents)
                rows = np.ravel_multi_index(tuple(codes[:, p] for p in parents), shape)
            else:
                rows = np.zeros(n_samples, dtype=np.int64)
            # The CDF's last entry is set to 1: a difference may be -1e-16.
            probs = np.clip(np.diff(cdf, axis=1, prepend=0.0), 0.0, None)
            codes[:, col] = _rounded_draws(rows, probs, rng)
        return codes

    def marginal(self, clique) -> np.ndarray:
        """Exact probabilities of the marginal on ``clique`` (flattened, C order).

        Variable elimination in numpy over the conditional tables (einsum
        picks the order). AIM scores every candidate each round with it:
        ``mbi``'s own variable elimination compiles one JAX program per
        query, thousands per fit, which exhausted memory on wide tables.
        """
        from opt_einsum import contract

        # Only the clique's ancestors matter: every other table sums to one.
        parents_of = {col: parents for col, parents, _ in self.steps}
        needed, todo = set(), list(clique)
        while todo:
            col = todo.pop()
            if col not in needed:
                needed.add(col)
                todo.extend(parents_of[col])
        operands = []
        for col, parents, cdf in self.steps:
            if col in needed:
                probs = np.diff(cdf, axis=1, prepend=0.0)
                shape = tuple(self.sizes[p] for p in parents) + (self.sizes[col],)
                operands += [probs.reshape(shape), [*parents, col]]
        out = contract(*operands, list(clique), optimize="greedy")
        return np.asarray(out, dtype=np.float64).ravel()


def _rounded_draws(rows, probs, rng) -> np.ndarray:
    """One code per row: controlled rounding within each group of ``rows``."""
    n = rows.size
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    k = probs.shape[1]
    order = np.argsort(rows, kind="stable")
    keys, starts, counts = np.unique(rows[order], return_index=True, return_counts=True)
    for key, start, m in zip(keys, starts, counts):
        expected = m * probs[key]
        whole = np.floor(expected).astype(np.int64)
        frac = expected - whole
        extra = int(m - whole.sum())
        positive = np.flatnonzero(frac > 0)
        if extra > 0:
            take = min(extra, positive.size)
            if take:
                picked = rng.choice(
                    positive,
                    take,
                    replace=False,
                    p=frac[positive] / frac[positive].sum(),
                )
                whole[picked] += 1
            if extra > take:  # rounding left rows over: plain draws
                p = probs[key] / probs[key].sum()
                whole += np.bincount(rng.choice(k, extra - take, p=p), minlength=k)
        values = np.repeat(np.arange(k), whole)[:m]
        rng.shuffle(values)
        out[order[start : start + m]] = values
    return out


def _numpy_factors(potentials):
    """``[(positions, table)]``: each log-potential as ``exp(theta - max theta)``."""
    out = []
    for clique in potentials.cliques:
        theta = np.asarray(potentials[clique].values, dtype=np.float64)
        positions = [int(a[1:]) for a in potentials[clique].domain.attributes]
        out.append((positions, np.exp(theta - theta.max())))
    return out


def _joint(factors, positions, sizes):
    """Unnormalised joint of ``positions`` (in that axis order), or None.

    Variable elimination in numpy (opt_einsum picks the order) over the
    model's exponentiated potentials; ``None`` when the result under- or
    overflowed, for the caller to use mbi's log-space message passing.
    """
    from opt_einsum import contract

    operands, seen = [], set()
    for pos, table in factors:
        operands += [table, pos]
        seen.update(pos)
    for p in positions:
        if p not in seen:  # a column no potential touches: uniform
            operands += [np.ones(sizes[p]), [p]]
    with np.errstate(all="ignore"):
        out = contract(*operands, list(positions), optimize="greedy")
    out = np.asarray(out, dtype=np.float64)
    total = out.sum()
    # Below 1e-200 (every factor peaks at 1) entries may have been rounded
    # in the subnormal range, or lost to underflow: mbi's log space instead.
    if not np.isfinite(total) or total < 1e-200 or not np.isfinite(out).all():
        return None
    return out / total


def _conditional_cdf(table: np.ndarray) -> np.ndarray:
    """Row-normalised CDFs; rows with no mass become uniform."""
    totals = table.sum(axis=1, keepdims=True)
    k = table.shape[1]
    probs = np.divide(table, totals, out=np.full_like(table, 1.0 / k), where=totals > 0)
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    return cdf
