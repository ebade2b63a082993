"""Values per second to noise a 1,000,000-value float64 array.

skpriv's floating-point-safe samplers (power-of-two grid, vectorized) against
numpy's unsafe ``Generator.laplace`` / ``normal`` (the speed limit),
diffprivlib's mechanisms applied per value (its ``randomise(value)`` API) and
OpenDP's vectorized measurements, all calibrated to epsilon = 1 (Gaussian:
delta = 1e-5) at sensitivity 1, measured in the same run.

Run: ``flock /tmp/skpriv-bench.lock .venv-bench/bin/python benchmarks/noise.py``
(diffprivlib needs scikit-learn < 1.8, hence the bench environment). The slow
peers are timed on a prefix of the array (``--peer-values``) and reported as
values per second.
"""

import argparse
import platform
import time
import warnings

import numpy as np

from skpriv.accounting import gaussian_sigma
from skpriv.mechanisms import Gaussian, Laplace
from skpriv.preprocessing import GaussianNoise, LaplaceNoise

EPSILON, DELTA = 1.0, 1e-5


def best_rate(fn, n_values, repeats):
    """Values per second of the fastest of ``repeats`` runs of ``fn()``."""
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return n_values / best


def interleaved_rates(fns, n_values, repeats):
    """Best rate of each function, timed round-robin so load hits all alike."""
    best = dict.fromkeys(fns, np.inf)
    for _ in range(repeats):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[key] = min(best[key], time.perf_counter() - start)
    return {key: n_values / t for key, t in best.items()}


def vectorized_rows(x, scale, sigma, repeats):
    """numpy's unsafe samplers and skpriv's safe ones, timed together."""
    rng = np.random.default_rng(0)
    n = x.size
    lap = Laplace.from_epsilon(EPSILON, 1.0)
    gau = Gaussian.from_epsilon(EPSILON, DELTA, 1.0)
    X2 = x.reshape(-1, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lap_t = LaplaceNoise(epsilon=EPSILON, bounds=(0, 1), random_state=0).fit(X2)
        gau_t = GaussianNoise(epsilon=EPSILON, bounds=(0, 1), random_state=0).fit(X2)
    fns = {
        ("Laplace", "numpy Generator.laplace (unsafe)"): lambda: (
            x + rng.laplace(0.0, scale, n)
        ),
        ("Laplace", "skpriv Laplace.randomise (safe)"): lambda: lap.randomise(x, rng),
        ("Laplace", "skpriv LaplaceNoise.transform (clip + safe)"): lambda: (
            lap_t.transform(X2)
        ),
        ("Gaussian", "numpy Generator.normal (unsafe)"): lambda: (
            x + rng.normal(0.0, sigma, n)
        ),
        ("Gaussian", "skpriv Gaussian.randomise (safe)"): lambda: gau.randomise(x, rng),
        ("Gaussian", "skpriv GaussianNoise.transform (clip + safe)"): lambda: (
            gau_t.transform(X2)
        ),
    }
    return interleaved_rates(fns, n, repeats)


def diffprivlib_rows(x, n_values):
    try:
        from diffprivlib.mechanisms import GaussianAnalytic
        from diffprivlib.mechanisms import Laplace as DPLLaplace
    except ImportError as exc:  # pragma: no cover - optional peer
        print(f"diffprivlib not available ({exc}); skipped")
        return {}
    values = x[:n_values].tolist()
    lap = DPLLaplace(epsilon=EPSILON, sensitivity=1.0, random_state=0)
    gau = GaussianAnalytic(
        epsilon=EPSILON, delta=DELTA, sensitivity=1.0, random_state=0
    )
    return {
        ("Laplace", "diffprivlib Laplace.randomise per value"): best_rate(
            lambda: [lap.randomise(v) for v in values], n_values, 1
        ),
        ("Gaussian", "diffprivlib GaussianAnalytic.randomise per value"): best_rate(
            lambda: [gau.randomise(v) for v in values], n_values, 1
        ),
    }


def opendp_rows(x, scale, sigma, n_values):
    try:
        import opendp.prelude as dp
    except ImportError as exc:  # pragma: no cover - optional peer
        print(f"opendp not available ({exc}); skipped")
        return {}
    dp.enable_features("contrib")
    values = x[:n_values].tolist()
    rows = {}
    for k, label in ((None, "exact, default k"), (-20, "k=-20, like skpriv's grid")):
        kwargs = {} if k is None else {"k": k}
        size = {} if k is None else {"size": n_values}
        atom = dp.atom_domain(T=float, nan=False)
        lap = (
            dp.vector_domain(atom, **size),
            dp.l1_distance(T=float),
        ) >> dp.m.then_laplace(scale=scale, **kwargs)
        gau = (
            dp.vector_domain(atom, **size),
            dp.l2_distance(T=float),
        ) >> dp.m.then_gaussian(scale=sigma, **kwargs)
        rows[("Laplace", f"OpenDP make_laplace ({label})")] = best_rate(
            lambda m=lap: m(values), n_values, 1
        )
        rows[("Gaussian", f"OpenDP make_gaussian ({label})")] = best_rate(
            lambda m=gau: m(values), n_values, 1
        )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-values", type=int, default=1_000_000)
    parser.add_argument("--peer-values", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=25)
    args = parser.parse_args()

    x = np.random.default_rng(42).uniform(0.0, 1.0, args.n_values)
    lap = Laplace.from_epsilon(EPSILON, 1.0)
    scale = lap.scale
    sigma = gaussian_sigma(EPSILON, DELTA, 1.0)

    rates = {}
    rates.update(vectorized_rows(x, scale, sigma, args.repeats))
    rates.update(diffprivlib_rows(x, args.peer_values))
    rates.update(opendp_rows(x, scale, sigma, args.peer_values))

    print(
        f"# {args.n_values:,} float64 values (peers per value / OpenDP: first "
        f"{args.peer_values:,}); epsilon={EPSILON}, delta={DELTA} (Gaussian); "
        f"{platform.processor() or platform.machine()}, numpy {np.__version__}"
    )
    print()
    print("| noise | implementation | M values/s | skpriv safe / this |")
    print("|---|---|---:|---:|")
    for kind in ("Laplace", "Gaussian"):
        ours = rates[(kind, f"skpriv {kind}.randomise (safe)")]
        for (k, name), rate in rates.items():
            if k != kind:
                continue
            print(f"| {kind} | {name} | {rate / 1e6:.4g} | {ours / rate:.3g}x |")
    print()
    for kind in ("Laplace", "Gaussian"):
        ours = rates[(kind, f"skpriv {kind}.randomise (safe)")]
        np_rate = rates[
            (
                kind,
                f"numpy Generator.{'laplace' if kind == 'Laplace' else 'normal'} (unsafe)",
            )
        ]
        dpl = [
            r
            for (k, n), r in rates.items()
            if k == kind and n.startswith("diffprivlib")
        ]
        odp = [r for (k, n), r in rates.items() if k == kind and n.startswith("OpenDP")]
        line = f"{kind}: skpriv/numpy = {ours / np_rate:.2f} (target >= 0.3)"
        if dpl:
            line += f"; skpriv/diffprivlib = {ours / dpl[0]:.0f}x (target >= 100x)"
        if odp:
            line += f"; skpriv/OpenDP (fastest) = {ours / max(odp):.0f}x (target > 1x)"
        print(line)


if __name__ == "__main__":
    main()
