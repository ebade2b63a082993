"""DP synthetic data: MST and AIM beside an independent-marginals baseline and the real data.

Run: ``flock /tmp/skpriv-bench.lock .venv/bin/python benchmarks/synthetic.py``
(``--quick``: breast_cancer at epsilon 1 only; ``--data mixed --epsilons 1 4``
picks data sets and budgets; ``--no-timing`` skips the 50k timing). Needs the
``synth`` extra (``mbi``). No other maintained DP synthesizer installs beside
current scikit-learn and torch (SmartNoise pins opacus < 0.15), so the peers
are measured here in the same run: an independent-marginals synthesizer at the
same epsilon (every one-way marginal with Gaussian noise, analytic
calibration, sampled column by column) and the real data.

Data sets (declared domains: categories and bounds are public):

- ``breast_cancer``: the 10 "mean" features, each cut into 8 quantile bins
  (integer codes), and the diagnosis (2 classes); 569 rows.
- ``digits``: the 12 pixels of largest variance, cut into 4 levels (0-3),
  and the digit (10 classes); 1797 rows.
- ``mixed``: generated, 14 columns plus a target, 50,000 rows: categorical,
  integer, float, boolean and date columns along a chain of known
  dependences (each column a noisy function of the previous ones).

For each data set and epsilon in 0.5 / 1 / 4 (delta 1e-9): 70/30 train/test
split; the mean 2-way total-variation distance between the synthetic and the
real training rows (``skpriv.synthetic.evaluate``; as many synthetic rows as
training rows, drawn by controlled rounding, the baseline's too; the "real"
line is the held-out test rows against the training rows, the distance two
samples of one distribution have), and train-on-synthetic /
test-on-real accuracy (gradient-boosted trees) next to train-on-real. Ratios:
AIM's and MST's 2-way error over the independent baseline's (target for AIM
at epsilon 1: <= 0.70), TSTR minus TRTR in points (target at epsilon 4:
>= -5). Last, fit time of MST and AIM on the mixed table at 50,000 rows x 15
columns (target: under a minute on 2 cores; the machine is shared, times are
as measured).
"""

import argparse
import datetime
import time
import warnings

import numpy as np
import pandas as pd
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.model_selection import train_test_split

from skpriv.accounting import gaussian_sigma
from skpriv.mechanisms import Gaussian
from skpriv.synthetic import AIMSynthesizer, MSTSynthesizer, evaluate
from skpriv.synthetic._pgm import _rounded_draws
from skpriv.synthetic._schema import TableSchema

warnings.filterwarnings("ignore")

EPSILONS = (0.5, 1.0, 4.0)
DELTA = 1e-9


class IndependentMarginals:
    """Baseline: every one-way marginal, one Gaussian release, columns independent."""

    def __init__(self, epsilon, delta, domain, n_bins=32, random_state=0):
        self.epsilon, self.delta, self.domain = epsilon, delta, domain
        self.n_bins, self.random_state = n_bins, random_state

    def fit(self, X):
        rng = np.random.default_rng(self.random_state)
        schema = TableSchema(X, self.n_bins, "IndependentMarginals")
        schema.resolve(schema.domain_specs(self.domain))
        codes = schema.encode()
        d = codes.shape[1]
        # One row changes one cell of each of the d marginals: L2 sqrt(d).
        mech = Gaussian(gaussian_sigma(self.epsilon, self.delta, np.sqrt(d) * 1.001))
        self.probs_ = []
        for j, dom in enumerate(schema.domains):
            counts = np.bincount(codes[:, j], minlength=dom.size).astype(float)
            noisy = np.clip(mech.randomise(counts, rng), 0, None)
            p = (
                noisy / noisy.sum()
                if noisy.sum() > 0
                else np.full(dom.size, 1 / dom.size)
            )
            self.probs_.append(p)
        self._schema, self._rng = schema, rng
        return self

    def sample(self, n):
        # The synthesizers' controlled rounding, column by column (fair: the
        # baseline's marginals then match its noisy one-ways as closely).
        groups = np.zeros(n, dtype=np.int64)
        codes = np.stack(
            [_rounded_draws(groups, p[None, :], self._rng) for p in self.probs_], axis=1
        )
        return self._schema.decode(codes, self._rng)


def breast_cancer():
    data = load_breast_cancer(as_frame=True)
    X = data.data.iloc[:, :10]
    frame = pd.DataFrame(
        {c: pd.qcut(X[c], 8, labels=False, duplicates="drop").astype(int) for c in X}
    )
    frame["diagnosis"] = data.target.astype(int)
    domain = {c: (0, 7) for c in X.columns}
    domain["diagnosis"] = [0, 1]
    return "breast_cancer", frame, domain, "diagnosis"


def digits():
    data = load_digits(as_frame=True)
    X = data.data
    cols = X.var().sort_values(ascending=False).index[:12]
    frame = (X[cols] // 4.25).astype(int).clip(0, 3)
    frame["digit"] = data.target.astype(int)
    domain = {c: (0, 3) for c in cols}
    domain["digit"] = list(range(10))
    return "digits", frame, domain, "digit"


def mixed(n=50_000, seed=0):
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east", "west"], n, p=[0.4, 0.3, 0.2, 0.1])
    age = np.clip(rng.normal(50, 15, n) + 5 * (region == "north"), 18, 95).astype(int)
    income = np.clip(20_000 + 800 * age + rng.normal(0, 10_000, n), 0, 200_000)
    owner = rng.random(n) < 1 / (1 + np.exp(-(income - 60_000) / 15_000))
    visits = rng.poisson(1 + age / 30)
    bmi = 22 + 0.05 * age + rng.normal(0, 3, n)
    smoker = rng.random(n) < np.where(region == "south", 0.35, 0.15)
    chol = 160 + 0.6 * age + 15 * smoker + rng.normal(0, 20, n)
    sbp = 100 + 0.5 * age + 0.8 * (bmi - 22) + rng.normal(0, 10, n)
    diabetic = rng.random(n) < 1 / (1 + np.exp(-(bmi - 30) / 3 - (age - 60) / 20))
    plan = np.where(
        income > 80_000, "gold", np.where(income > 40_000, "silver", "basic")
    )
    first = pd.Timestamp("2022-01-01") + pd.to_timedelta(
        rng.integers(0, 730, n) - (age - 50), unit="D"
    )
    steps = np.clip(9000 - 60 * age - 800 * smoker + rng.normal(0, 1500, n), 0, 20_000)
    sleep = np.clip(7.5 - 0.01 * age + rng.normal(0, 1, n), 3, 11)
    risk_score = (age > 60).astype(int) + smoker + diabetic + (sbp > 140) + (chol > 240)
    high_risk = risk_score >= 2
    frame = pd.DataFrame(
        {
            "region": pd.Categorical(region),
            "age": age,
            "income": income,
            "owner": owner,
            "visits": np.clip(visits, 0, 10),
            "bmi": bmi,
            "smoker": smoker,
            "cholesterol": chol,
            "sbp": sbp,
            "diabetic": diabetic,
            "plan": plan.astype(object),
            "first_visit": first,
            "steps": steps,
            "sleep": sleep,
            "high_risk": high_risk,
        }
    )
    domain = {
        "region": ["north", "south", "east", "west"],
        "age": (18, 95),
        "income": (0.0, 200_000.0),
        "visits": (0, 10),
        "bmi": (10.0, 50.0),
        "cholesterol": (100.0, 350.0),
        "sbp": (80.0, 200.0),
        "plan": ["basic", "silver", "gold"],
        "first_visit": (pd.Timestamp("2021-11-01"), pd.Timestamp("2024-03-01")),
        "steps": (0.0, 20_000.0),
        "sleep": (3.0, 11.0),
    }
    return "mixed", frame, domain, "high_risk"


def run(datasets, epsilons, n_bins=16):
    rows = []
    for name, frame, domain, target in datasets:
        train, test = train_test_split(frame, test_size=0.3, random_state=0)
        train, test = train.reset_index(drop=True), test.reset_index(drop=True)
        real = evaluate(train, test, target=target, real_test=test)
        ref = evaluate(train, train, target=target, real_test=test)
        rows.append(
            (
                name,
                "-",
                "real (test vs train)",
                real.mean_two_way,
                ref.trtr,
                ref.trtr,
                0.0,
            )
        )
        for eps in epsilons:
            params = dict(
                epsilon=eps, delta=DELTA, domain=domain, n_bins=n_bins, random_state=0
            )
            for label, cls in (
                ("independent", None),
                ("MST", MSTSynthesizer),
                ("AIM", AIMSynthesizer),
            ):
                start = time.perf_counter()
                if cls is None:
                    synth = IndependentMarginals(eps, DELTA, domain, n_bins)
                else:
                    synth = cls(**params)
                synth.fit(train)
                fit_s = time.perf_counter() - start
                rep = evaluate(
                    train, synth.sample(len(train)), target=target, real_test=test
                )
                rows.append(
                    (name, eps, label, rep.mean_two_way, rep.tstr, rep.trtr, fit_s)
                )
                print(
                    f"  {name} eps={eps} {label}: 2-way {rep.mean_two_way:.3f} "
                    f"TSTR {rep.tstr:.3f} ({fit_s:.1f} s)",
                    flush=True,
                )
    return rows


def table(rows):
    print(
        f"\n{'data':14} {'eps':>4} {'method':22} {'2-way TV':>9} {'TSTR':>6} "
        f"{'TRTR':>6} {'fit s':>7} {'TV/indep':>9} {'TSTR-TRTR':>10}"
    )
    base = {(r[0], r[1]): r[3] for r in rows if r[2] == "independent"}
    for data, eps, method, tv, tstr, trtr, fit_s in rows:
        ratio = tv / base[(data, eps)] if (data, eps) in base else float("nan")
        gap = 100 * (tstr - trtr)
        print(
            f"{data:14} {eps!s:>4} {method:22} {tv:9.3f} {tstr:6.3f} {trtr:6.3f} "
            f"{fit_s:7.1f} {ratio:9.2f} {gap:+10.1f}"
        )


def timing():
    _, frame, domain, _ = mixed(50_000, seed=1)
    print("\nfit time on 50,000 rows x 15 columns, epsilon 1 (shared 2-core machine):")
    for cls in (MSTSynthesizer, AIMSynthesizer):
        start = time.perf_counter()
        cls(epsilon=1.0, delta=DELTA, domain=domain, n_bins=16, random_state=0).fit(
            frame
        )
        print(f"  {cls.__name__}: {time.perf_counter() - start:.1f} s", flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--data",
        nargs="+",
        default=["breast_cancer", "digits", "mixed"],
        choices=["breast_cancer", "digits", "mixed"],
    )
    parser.add_argument("--epsilons", nargs="+", type=float, default=EPSILONS)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    print(f"benchmarks/synthetic.py, {datetime.date.today()}, delta={DELTA}")
    if args.quick:
        rows = run([breast_cancer()], (1.0,))
        table(rows)
        return
    makers = {"breast_cancer": breast_cancer, "digits": digits, "mixed": mixed}
    rows = run([makers[name]() for name in args.data], args.epsilons)
    table(rows)
    if not args.no_timing:
        timing()


if __name__ == "__main__":
    main()
