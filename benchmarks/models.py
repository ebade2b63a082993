"""DP models beside diffprivlib and scikit-learn: accuracy, R^2, inertia, fit time.

Run: ``flock /tmp/skpriv-bench.lock .venv-bench/bin/python benchmarks/models.py``
(``--quick``: 2 seeds). diffprivlib 0.6.6 imports only with the bench venv's
scikit-learn. For each task and epsilon in 0.5 / 1 / 2 / 5: the mean over 10
seeds (train/test split and noise) of the test metric, for skpriv, diffprivlib
and the non-private scikit-learn model, and the mean fit time. Public bounds
are the data's min and max rounded outward (floor / ceil), as the issue
specifies. Ratios compare skpriv with diffprivlib (metric: skpriv over
diffprivlib, higher is better, for inertia lower is better; time: diffprivlib
over skpriv, above 1 means skpriv is faster).

Tasks: GaussianNB accuracy on breast_cancer and digits; LinearRegression R^2
on diabetes; RandomForestClassifier accuracy on breast_cancer; KMeans test
inertia (``-score``) on make_blobs(5000, 4 features, 5 centers).
"""

import argparse
import datetime
import time
import warnings

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_blobs
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

warnings.filterwarnings("ignore")

EPSILONS = (0.5, 1.0, 2.0, 5.0)


def public_bounds(X):
    lower, upper = np.floor(X.min(axis=0)), np.ceil(X.max(axis=0))
    return lower, np.where(upper > lower, upper, lower + 1)


def timed(make, X, y):
    start = time.perf_counter()
    model = make().fit(X, y) if y is not None else make().fit(X)
    return model, time.perf_counter() - start


def skpriv_models():
    from skpriv.cluster import DPKMeans
    from skpriv.ensemble import DPRandomForestClassifier
    from skpriv.naive_bayes import DPGaussianNB

    try:
        from skpriv.linear_model import DPLinearRegression
    except ImportError:  # written by another engineer: report the gap
        DPLinearRegression = None
    return DPGaussianNB, DPRandomForestClassifier, DPKMeans, DPLinearRegression


def tasks():
    """name, data loader, metric, makers(eps, bounds, classes, seed)."""
    DPGaussianNB, DPForest, DPKMeans, DPLinear = skpriv_models()
    import diffprivlib.models as dpl

    def acc(model, X, y):
        return float(np.mean(model.predict(X) == y))

    def r2(model, X, y):
        return float(r2_score(y, model.predict(X)))

    def inertia(model, X, y):
        d2 = ((X[:, None, :] - model.cluster_centers_[None]) ** 2).sum(axis=2)
        return float(d2.min(axis=1).sum())

    def nb(eps, b, c, s):
        return {
            "skpriv": lambda: DPGaussianNB(
                epsilon=eps, bounds=b, classes=c, random_state=s
            ),
            # diffprivlib's GaussianNB takes no classes (reads them from y).
            "diffprivlib": lambda: dpl.GaussianNB(
                epsilon=eps, bounds=b, random_state=s
            ),
            "sklearn": GaussianNB,
        }

    def rf(eps, b, c, s):
        return {
            "skpriv": lambda: DPForest(
                epsilon=eps, bounds=b, classes=c, random_state=s
            ),
            "diffprivlib": lambda: dpl.RandomForestClassifier(
                epsilon=eps, bounds=b, classes=c, random_state=s
            ),
            "sklearn": lambda: RandomForestClassifier(random_state=s),
        }

    def lr(eps, b, c, s):
        (bx, by) = b
        makers = {
            "diffprivlib": lambda: dpl.LinearRegression(
                epsilon=eps, bounds_X=bx, bounds_y=by, random_state=s
            ),
            "sklearn": LinearRegression,
        }
        if DPLinear is not None:
            makers["skpriv"] = lambda: DPLinear(
                epsilon=eps, bounds_X=bx, bounds_y=by, random_state=s
            )
        return makers

    def km(eps, b, c, s):
        return {
            "skpriv": lambda: DPKMeans(5, epsilon=eps, bounds=b, random_state=s),
            "diffprivlib": lambda: dpl.KMeans(
                n_clusters=5, epsilon=eps, bounds=b, random_state=s
            ),
            "sklearn": lambda: KMeans(5, random_state=s),
        }

    def blobs():
        return make_blobs(5000, n_features=4, centers=5, random_state=0)

    def diabetes():
        X, y = load_diabetes(return_X_y=True)
        return X, y

    return [
        ("GaussianNB breast_cancer acc", lambda: load_breast_cancer(return_X_y=True), acc, nb, "X"),
        ("GaussianNB digits acc", lambda: load_digits(return_X_y=True), acc, nb, "X"),
        ("LinearRegression diabetes R2", diabetes, r2, lr, "Xy"),
        ("RandomForest breast_cancer acc", lambda: load_breast_cancer(return_X_y=True), acc, rf, "X"),
        ("KMeans blobs test inertia", blobs, inertia, km, "cluster"),
    ]  # fmt: skip


def run(n_seeds):
    rows = []
    for name, load, metric, makers, kind in tasks():
        X, y = load()
        classes = np.unique(y) if kind == "X" else None
        if kind == "Xy":
            lo_y, hi_y = np.floor(y.min()), np.ceil(y.max())
            bounds = (public_bounds(X), (float(lo_y), float(hi_y)))
        else:
            bounds = public_bounds(X)
        for eps in EPSILONS:
            scores, times = {}, {}
            for seed in range(n_seeds):
                Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=seed)
                for lib, make in makers(eps, bounds, classes, seed).items():
                    fit_y = None if kind == "cluster" else ytr
                    model, seconds = timed(make, Xtr, fit_y)
                    scores.setdefault(lib, []).append(metric(model, Xte, yte))
                    times.setdefault(lib, []).append(seconds)
            rows.append(
                (name, eps)
                + tuple(
                    (np.mean(scores[k]), np.mean(times[k])) if k in scores else None
                    for k in ("skpriv", "diffprivlib", "sklearn")
                )
            )
            print_row(rows[-1])
    return rows


def fmt(v):
    return f"{v:10.4g}" if abs(v) < 1e5 else f"{v:10.3e}"


def print_row(row):
    name, eps, ours, theirs, base = row
    if ours is None:
        ratio, speed, ours_s, ours_t = (
            "       n/a",
            "      n/a",
            "   missing",
            "       n/a",
        )
    else:
        if "inertia" in name:
            ratio = f"{theirs[0] / ours[0]:10.3g}"  # lower is better
        elif theirs[0] > 0 and ours[0] > 0:
            ratio = f"{ours[0] / theirs[0]:10.3g}"
        else:  # a ratio of R^2 values at or below 0 means nothing
            ratio = "         -"
        speed = f"{theirs[1] / ours[1]:9.3g}"
        ours_s, ours_t = fmt(ours[0]), f"{ours[1] * 1e3:10.2f}"
    print(
        f"{name:32s} {eps:4.1f} {ours_s} {fmt(theirs[0])} {fmt(base[0])} {ratio} "
        f"{ours_t} {theirs[1] * 1e3:10.2f} {base[1] * 1e3:10.2f} {speed}",
        flush=True,
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds")
    args = parser.parse_args()
    n_seeds = 2 if args.quick else 10
    import diffprivlib
    import sklearn

    print(
        f"# {datetime.date.today()} seeds={n_seeds} diffprivlib="
        f"{diffprivlib.__version__} scikit-learn={sklearn.__version__} "
        f"(shared machine: times as measured)"
    )
    print(
        f"{'task':32s} {'eps':>4s} {'skpriv':>10s} {'diffpriv':>10s} "
        f"{'sklearn':>10s} {'better x':>10s} {'skpriv ms':>10s} "
        f"{'dpl ms':>10s} {'sk ms':>10s} {'faster x':>9s}"
    )
    run(n_seeds)
    print(
        "# better x: skpriv / diffprivlib metric (inertia: diffprivlib / skpriv); "
        "faster x: diffprivlib fit time / skpriv fit time."
    )


if __name__ == "__main__":
    main()
