"""Private preprocessing and statistics: skpriv against diffprivlib 0.6.6.

Measured in one run, at total epsilon 0.5, 1 and 2:

1. breast_cancer accuracy of ``DP scaler -> Normalizer -> DPLogisticRegression``
   (total budget, delta 1e-5) against the same pipeline with scikit-learn's
   non-private ``StandardScaler`` (the target: within 1.5 points at epsilon
   2) and with diffprivlib's ``StandardScaler``. The scaler gets 10% of
   epsilon (and 1e-6 of delta for skpriv's Gaussian variant); the model the
   rest (basic composition; ``privacy_spent`` reports the tight total, at or
   below the budget). Public bounds: [0, 2**ceil(log2(max))] per feature, the
   range rounded up to a power of two, assumed known from the data's
   definition; ``bounds="private"`` spends part of the scaler's budget on them.
2. digits accuracy of ``DPPCA(10) -> LogisticRegression`` against
   diffprivlib's ``PCA(10)`` (same public ``data_norm`` = 128, the largest
   norm 64 pixels in [0, 16] can have) and a non-private PCA.
3. Error (median absolute over repeats) and time of mean, var and median on
   1,000,000 values against ``diffprivlib.tools``.

Run: ``flock /tmp/skpriv-bench.lock .venv-bench/bin/python benchmarks/preprocessing.py``
(diffprivlib needs scikit-learn < 1.8). Timings are wall-clock on a shared
machine, best of the repeats.
"""

import argparse
import platform
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv import stats
from skpriv.accounting import privacy_spent
from skpriv.decomposition import DPPCA
from skpriv.linear_model import DPLogisticRegression
from skpriv.preprocessing import DPStandardScaler

EPSILONS = (0.5, 1.0, 2.0)
DELTA = 1e-5
SCALER_SHARE = 0.1


def _lr(eps, delta, seed):
    return DPLogisticRegression(
        epsilon=eps, delta=delta, data_norm=1.0, classes=[0, 1], random_state=seed
    )


def breast_cancer_rows(seeds):
    import diffprivlib.models as dpl

    X, y = load_breast_cancer(return_X_y=True)
    bounds = (np.zeros(X.shape[1]), 2.0 ** np.ceil(np.log2(X.max(axis=0))))
    rows = []
    for eps in EPSILONS:
        eps_s = SCALER_SHARE * eps
        acc = {k: [] for k in ("nonpriv", "gauss", "laplace", "private", "dpl")}
        spent = 0.0
        for seed in range(seeds):
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.3, random_state=seed, stratify=y
            )
            pipes = {
                "nonpriv": make_pipeline(
                    StandardScaler(), Normalizer(), _lr(eps, DELTA, seed)
                ),
                "gauss": make_pipeline(
                    DPStandardScaler(eps_s, 1e-6, bounds=bounds, random_state=seed),
                    Normalizer(),
                    _lr(eps - eps_s, DELTA - 1e-6, seed),
                ),
                "laplace": make_pipeline(
                    DPStandardScaler(eps_s, bounds=bounds, random_state=seed),
                    Normalizer(),
                    _lr(eps - eps_s, DELTA, seed),
                ),
                "private": make_pipeline(
                    DPStandardScaler(eps_s, 1e-6, bounds="private", random_state=seed),
                    Normalizer(),
                    _lr(eps - eps_s, DELTA - 1e-6, seed),
                ),
                "dpl": make_pipeline(
                    dpl.StandardScaler(epsilon=eps_s, bounds=bounds, random_state=seed),
                    Normalizer(),
                    _lr(eps - eps_s, DELTA, seed),
                ),
            }
            for key, pipe in pipes.items():
                pipe.fit(Xtr, ytr)
                acc[key].append(pipe.score(Xte, yte))
            spent = max(spent, privacy_spent(pipes["gauss"], delta=DELTA).epsilon)
        rows.append((eps, {k: float(np.mean(v)) for k, v in acc.items()}, spent))
    return rows


def digits_rows(seeds):
    import diffprivlib.models as dpl

    X, y = load_digits(return_X_y=True)
    rows = []
    for eps in EPSILONS:
        acc = {"nonpriv": [], "skpriv": [], "dpl": []}
        for seed in range(seeds):
            Xtr, Xte, ytr, yte = train_test_split(
                X, y, test_size=0.3, random_state=seed, stratify=y
            )
            pipes = {
                "nonpriv": PCA(10, random_state=seed),
                "skpriv": DPPCA(10, eps, DELTA, data_norm=128.0, random_state=seed),
                "dpl": dpl.PCA(
                    10, epsilon=eps, data_norm=128.0, bounds=(0, 16), random_state=seed
                ),
            }
            for key, pca in pipes.items():
                clf = make_pipeline(pca, LogisticRegression(max_iter=2000))
                clf.fit(Xtr, ytr)
                acc[key].append(clf.score(Xte, yte))
        rows.append((eps, {k: float(np.mean(v)) for k, v in acc.items()}))
    return rows


def _timed(fn, repeats):
    outs, best = [], np.inf
    for r in range(repeats):
        start = time.perf_counter()
        outs.append(fn(r))
        best = min(best, time.perf_counter() - start)
    return np.array(outs), best


def stats_rows(n_values, repeats):
    import diffprivlib.tools as dpt

    x = np.random.default_rng(0).normal(5.0, 2.0, n_values)
    b = (-5.0, 15.0)
    truth = {"mean": x.mean(), "var": x.var(), "median": np.median(x)}
    ours = {
        "mean": lambda eps: lambda r: stats.mean(x, eps, bounds=b, random_state=r),
        "var": lambda eps: lambda r: stats.var(x, eps, bounds=b, random_state=r),
        "median": lambda eps: (
            lambda r: stats.quantile(x, 0.5, eps, bounds=b, random_state=r)
        ),
    }
    theirs = {
        "mean": lambda eps: lambda r: dpt.mean(x, eps, bounds=b, random_state=r),
        "var": lambda eps: lambda r: dpt.var(x, eps, bounds=b, random_state=r),
        "median": lambda eps: (
            lambda r: dpt.quantile(x, 0.5, eps, bounds=b, random_state=r)
        ),
    }
    rows = []
    for eps in EPSILONS:
        for name in ("mean", "var", "median"):
            a, ta = _timed(ours[name](eps), repeats)
            d, td = _timed(theirs[name](eps), repeats)
            err_a = float(np.median(np.abs(a - truth[name])))
            err_d = float(np.median(np.abs(d - truth[name])))
            rows.append((eps, name, err_a, err_d, ta, td))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--values", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    import diffprivlib

    warnings.simplefilter("ignore")
    print(
        f"# skpriv vs diffprivlib {diffprivlib.__version__} | python "
        f"{platform.python_version()} | {time.strftime('%Y-%m-%d')}"
    )
    print(f"\n## breast_cancer, mean test accuracy over {args.seeds} splits")
    print(
        "| eps | non-private scaler | skpriv Gaussian scaler | skpriv Laplace "
        "scaler | skpriv bounds='private' | diffprivlib scaler | gap to "
        "non-private (pts) | privacy_spent |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for eps, acc, spent in breast_cancer_rows(args.seeds):
        gap = 100 * (acc["nonpriv"] - acc["gauss"])
        print(
            f"| {eps} | {acc['nonpriv']:.3f} | {acc['gauss']:.3f} | "
            f"{acc['laplace']:.3f} | {acc['private']:.3f} | {acc['dpl']:.3f} | "
            f"{gap:+.1f} | {spent:.3f} |"
        )
    print(f"\n## digits, DPPCA(10) -> LogisticRegression, over {args.seeds} splits")
    print(
        "| eps | non-private PCA | skpriv DPPCA | diffprivlib PCA | skpriv - dpl (pts) |"
    )
    print("|---|---|---|---|---|")
    for eps, acc in digits_rows(args.seeds):
        print(
            f"| {eps} | {acc['nonpriv']:.3f} | {acc['skpriv']:.3f} | "
            f"{acc['dpl']:.3f} | {100 * (acc['skpriv'] - acc['dpl']):+.1f} |"
        )
    print(
        f"\n## statistics on {args.values:,} values (N(5, 2), bounds (-5, 15)), "
        f"median |error| over {args.repeats} runs, best time"
    )
    print(
        "| eps | statistic | skpriv error | diffprivlib error | error ratio "
        "(dpl / skpriv) | skpriv ms | diffprivlib ms | speed-up |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for eps, name, ea, ed, ta, td in stats_rows(args.values, args.repeats):
        print(
            f"| {eps} | {name} | {ea:.2e} | {ed:.2e} | {ed / ea:.1f}x | "
            f"{1e3 * ta:.1f} | {1e3 * td:.1f} | {td / ta:.1f}x |"
        )


if __name__ == "__main__":
    main()
