"""
=====================================================
DP naive Bayes, random forest and k-means by epsilon
=====================================================

Three pure epsilon-DP models fitted with public bounds (here the data's range
rounded outward, which a data owner would state from the schema), beside their
non-private scikit-learn counterparts:

- :class:`~skpriv.naive_bayes.DPGaussianNB` and
  :class:`~skpriv.ensemble.DPRandomForestClassifier` on breast cancer (test
  accuracy),
- :class:`~skpriv.cluster.DPKMeans` on blobs (test inertia, lower is better).

Each fit costs exactly its epsilon, which ``privacy_spent`` confirms. Fixed
seeds make the page reproducible; they are not private.
"""

# %%
# Data, public bounds and budgets
# -------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, make_blobs
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from skpriv.accounting import privacy_spent
from skpriv.cluster import DPKMeans
from skpriv.ensemble import DPRandomForestClassifier
from skpriv.naive_bayes import DPGaussianNB

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"
epsilons = [0.5, 1, 2, 5] if FAST else [0.25, 0.5, 1, 2, 5, 10]
seeds = range(2 if FAST else 5)


def public_bounds(X):
    return np.floor(X.min(axis=0)), np.ceil(X.max(axis=0))


X, y = load_breast_cancer(return_X_y=True)
bounds = public_bounds(X)
Xb, _ = make_blobs(5000, n_features=4, centers=5, random_state=0)
bounds_b = public_bounds(Xb)

# %%
# Fit at each budget
# ------------------
scores = {"DPGaussianNB": [], "DPRandomForestClassifier": [], "DPKMeans": []}
for eps in epsilons:
    nb, rf, km = [], [], []
    for seed in seeds:
        Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=seed)
        common = dict(epsilon=eps, bounds=bounds, classes=[0, 1], random_state=seed)
        nb.append(DPGaussianNB(**common).fit(Xtr, ytr).score(Xte, yte))
        rf.append(DPRandomForestClassifier(**common).fit(Xtr, ytr).score(Xte, yte))
        Btr, Bte = train_test_split(Xb, random_state=seed)
        model = DPKMeans(5, epsilon=eps, bounds=bounds_b, random_state=seed)
        km.append(-model.fit(Btr).score(Bte))
    scores["DPGaussianNB"].append(np.mean(nb))
    scores["DPRandomForestClassifier"].append(np.mean(rf))
    scores["DPKMeans"].append(np.mean(km))

print("privacy_spent of the last k-means fit:", privacy_spent(model))
Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
Btr, Bte = train_test_split(Xb, random_state=0)
baseline = {
    "DPGaussianNB": GaussianNB().fit(Xtr, ytr).score(Xte, yte),
    "DPRandomForestClassifier": RandomForestClassifier(random_state=0)
    .fit(Xtr, ytr)
    .score(Xte, yte),
    "DPKMeans": -KMeans(5, random_state=0).fit(Btr).score(Bte),
}

# %%
# Utility against epsilon
# -----------------------
fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
for ax, (name, values) in zip(axes, scores.items()):
    ax.plot(epsilons, values, "o-", label=name)
    ax.axhline(baseline[name], color="gray", linestyle="--", label="non-private")
    ax.set_xscale("log")
    ax.set_xlabel("epsilon")
    ax.set_ylabel("test inertia" if name == "DPKMeans" else "test accuracy")
    ax.legend(fontsize="small")
fig.tight_layout()
plt.show()
