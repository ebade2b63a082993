"""Private hyperparameter search: test accuracy of the selected model.

Run: ``flock /tmp/skpriv-bench.lock python benchmarks/model_selection.py``
(``--quick``: fewer seeds, make_classification at 20,000 rows). At total
epsilon 1, 2, 4 (delta 1e-5), on breast_cancer, digits and
make_classification(100_000), best model's test accuracy (mean over seeds,
75/25 split; StandardScaler fitted on the training rows and treated as
public preprocessing for every method alike) for

(a) PrivateGridSearchCV over a 12-candidate grid of DPLogisticRegression
    (C in {0.01, 0.1, 1, 10} x solver in {ssp, gd, output}), defaults;
(b) GridSearchCV over the same grid, 5 StableKFold folds, each of the
    12 * 5 + 1 fits at epsilon / 61 (what users do today, accounted by
    sequential composition);
(c) DPLogisticRegression with default parameters at the full budget;
(d) the non-private GridSearchCV over LogisticRegression (same C grid).
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer, load_digits, make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import PrivateGridSearchCV, StableKFold

warnings.filterwarnings("ignore")
GRID = {
    "dplogisticregression__C": [0.01, 0.1, 1.0, 10.0],
    "dplogisticregression__solver": ["ssp", "gd", "output"],
}


def datasets(quick):
    X, y = load_breast_cancer(return_X_y=True)
    yield "breast_cancer", X, y
    X, y = load_digits(return_X_y=True)
    yield "digits", X, y
    n = 20_000 if quick else 100_000
    X, y = make_classification(
        n_samples=n, n_features=20, n_informative=10, random_state=0
    )
    yield f"make_classification({n})", X, y


def dp_pipe(classes, **kw):
    return make_pipeline(
        Normalizer(), DPLogisticRegression(data_norm=1.0, classes=classes, **kw)
    )


def run(name, X, y, eps, seed):
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=0.25, random_state=seed)
    scaler = StandardScaler().fit(X_tr)  # public preprocessing, same for all
    X_tr, X_te = scaler.transform(X_tr), scaler.transform(X_te)
    classes = np.unique(y)
    out = {}
    search = PrivateGridSearchCV(
        dp_pipe(classes),
        GRID,
        epsilon=eps,
        epsilon_param="dplogisticregression__epsilon",
        random_state=seed,
    ).fit(X_tr, y_tr)
    out["a"] = search.score(X_te, y_te)
    n_fits = len(GRID["dplogisticregression__C"]) * 3 * 5 + 1
    naive = GridSearchCV(
        dp_pipe(classes, epsilon=eps / n_fits, random_state=seed),
        GRID,
        cv=StableKFold(5, random_state=seed),
    ).fit(X_tr, y_tr)
    out["b"] = naive.score(X_te, y_te)
    out["c"] = (
        dp_pipe(classes, epsilon=eps, random_state=seed)
        .fit(X_tr, y_tr)
        .score(X_te, y_te)
    )
    plain = GridSearchCV(
        LogisticRegression(max_iter=1000), {"C": GRID["dplogisticregression__C"]}
    ).fit(X_tr, y_tr)
    out["d"] = plain.score(X_te, y_te)
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    seeds = range(2 if args.quick else args.seeds)
    print(
        "| data | epsilon | (a) private search | (b) split GridSearchCV | "
        "(c) DP defaults | (d) non-private | a - b | a - c | seconds |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, X, y in datasets(args.quick):
        for eps in (1.0, 2.0, 4.0):
            start = time.perf_counter()
            rows = [run(name, X, y, eps, s) for s in seeds]
            m = {k: float(np.mean([r[k] for r in rows])) for k in "abcd"}
            print(
                f"| {name} | {eps:g} | {m['a']:.3f} | {m['b']:.3f} | {m['c']:.3f} "
                f"| {m['d']:.3f} | {m['a'] - m['b']:+.3f} | {m['a'] - m['c']:+.3f} "
                f"| {time.perf_counter() - start:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
