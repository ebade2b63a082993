"""
================================================
Auditing: membership inference and canary audits
================================================

A differential-privacy guarantee is a proof about an algorithm; a bug in an
implementation breaks it silently. :mod:`skpriv.audit` looks for empirical
evidence of leakage:

- :func:`~skpriv.audit.membership_inference` attacks a fitted model with the
  loss-threshold attack (is this row in the training set?) and turns its
  success into an empirical lower bound on epsilon;
- :func:`~skpriv.audit.canary_audit` inserts *canaries* (rows designed to be
  memorized), each with probability 1/2, trains once, and guesses which were
  included: the number of correct guesses gives a rigorous lower bound.

A lower bound far above the claimed epsilon would reveal a bug; a low bound
is *not* a proof of privacy. Fixed seeds make the page reproducible; they are
not private.
"""

# %%
# An overfitting model leaks membership
# -------------------------------------
# A non-private model with little regularization, trained on few rows, fits
# its training rows much better than new rows: the attack sees the
# difference.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from skpriv.audit import canary_audit, membership_inference
from skpriv.linear_model import DPLogisticRegression

X, y = make_classification(
    n_samples=400, n_features=150, n_informative=5, flip_y=0.2, random_state=0
)
X_in, y_in, X_out, y_out = X[:200], y[:200], X[200:], y[200:]

models = {
    "LogisticRegression (C=1e4)": LogisticRegression(C=1e4, max_iter=5000),
    "DPLogisticRegression (epsilon=1)": make_pipeline(
        Normalizer(),
        DPLogisticRegression(
            epsilon=1.0, data_norm=1.0, classes=[0, 1], random_state=0
        ),
    ),
}
results = {}
for name, model in models.items():
    model.fit(X_in, y_in)
    results[name] = membership_inference(
        model, X_in, y_in, X_out, y_out, random_state=0
    )
    r = results[name]
    print(
        f"{name:<34} train acc {model.score(X_in, y_in):.2f}, "
        f"test acc {model.score(X_out, y_out):.2f}, attack AUC {r.auc:.2f}, "
        f"epsilon lower bound {r.epsilon_lower_bound:.2f}"
    )

# %%
# A canary audit of DPLogisticRegression
# --------------------------------------
# Each canary has a feature of its own and a random label, the easiest rows
# to memorize. Without privacy the model learns their labels and the auditor
# guesses their inclusion well; with DP its guesses stay close to chance.
rng = np.random.default_rng(0)
n_canaries = 200
X_base = np.c_[X_in[:, :5], np.zeros((len(X_in), n_canaries))]
X_canaries = np.c_[np.zeros((n_canaries, 5)), np.eye(n_canaries)]
y_canaries = rng.integers(0, 2, n_canaries)
canary_models = {
    "LogisticRegression (C=100)": LogisticRegression(C=100.0, max_iter=5000),
    "DPLogisticRegression (epsilon=1)": DPLogisticRegression(
        epsilon=1.0, data_norm=1.0, classes=[0, 1], random_state=0
    ),
}
bounds = {}
for name, model in canary_models.items():
    audit = canary_audit(
        model, X_base, y_in, X_canaries, y_canaries, score="margin", random_state=0
    )
    bounds[name] = audit.epsilon_lower_bound
    print(
        f"{name:<34} {audit.n_correct}/{audit.n_guesses} correct guesses, "
        f"epsilon >= {audit.epsilon_lower_bound:.2f} (95% confidence)"
    )

# %%
# Summary
# -------
# The non-private model's canary bound is capped by the number of guesses
# (every guess was right): more canaries give larger bounds. The DP model's
# bounds stay at or below its claimed epsilon, as they must.
fig, (ax_mi, ax_canary) = plt.subplots(1, 2, figsize=(10, 3.8))
names = list(results)
ax_mi.bar(range(2), [results[n].auc for n in names], color=["C3", "C0"])
ax_mi.axhline(0.5, color="black", linestyle="--", label="chance")
ax_mi.set_xticks(range(2), labels=[n.split(" (")[0] for n in names], fontsize=8)
ax_mi.set_ylabel("membership-inference AUC")
ax_mi.set_ylim(0.4, 1.0)
ax_mi.set_title("Loss-threshold attack", fontsize=11)
ax_mi.legend()
names = list(bounds)
ax_canary.bar(range(2), [bounds[n] for n in names], color=["C3", "C0"])
ax_canary.axhline(
    1.0, color="black", linestyle=":", label="claimed epsilon of the DP model"
)
ax_canary.set_xticks(range(2), labels=[n.split(" (")[0] for n in names], fontsize=8)
ax_canary.set_ylabel("epsilon lower bound (95%)")
ax_canary.set_title("One-run canary audit", fontsize=11)
ax_canary.legend(fontsize=8)
plt.tight_layout()
