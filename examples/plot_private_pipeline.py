"""
=====================================================
A fully private pipeline: DP scaling, then DP model
=====================================================

A ``StandardScaler`` fitted on private rows publishes their exact means and
variances. :class:`~skpriv.preprocessing.DPStandardScaler` learns them with
differential privacy, so the whole pipeline ``scaler -> Normalizer ->
DPLogisticRegression`` is covered by one epsilon. A
:class:`~skpriv.accounting.PrivacyBudget` caps the total: the pipelines are
fitted through it, and the one that would exceed it is refused before it is
fitted. Fixed seeds make the page reproducible; they are not private.
"""

# %%
# Public bounds and the budget
# ----------------------------
# The bounds are the features' ranges rounded up to a power of two, assumed
# known from the data's definition (not read from the private rows).
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.accounting import PrivacyBudget, privacy_spent
from skpriv.exceptions import BudgetExceededError
from skpriv.linear_model import DPLogisticRegression
from skpriv.preprocessing import DPStandardScaler

X, y = load_breast_cancer(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=0, stratify=y)
bounds = (np.zeros(X.shape[1]), 2.0 ** np.ceil(np.log2(X.max(axis=0))))


def private_pipeline(epsilon, seed):
    # 10% of the budget to the scaler (Gaussian, all 30 features at once).
    return make_pipeline(
        DPStandardScaler(0.1 * epsilon, 1e-6, bounds=bounds, random_state=seed),
        Normalizer(),
        DPLogisticRegression(
            epsilon=0.9 * epsilon,
            delta=9e-6,
            data_norm=1.0,
            classes=[0, 1],
            random_state=seed,
        ),
    )


# %%
# Accuracy against the pipeline with a non-private scaler
# -------------------------------------------------------
epsilons = [0.25, 0.5, 1.0, 2.0, 4.0]
private, public = [], []
for eps in epsilons:
    private.append(
        np.mean(
            [private_pipeline(eps, s).fit(Xtr, ytr).score(Xte, yte) for s in range(3)]
        )
    )
    public.append(
        np.mean(
            [
                make_pipeline(
                    StandardScaler(),
                    Normalizer(),
                    DPLogisticRegression(
                        epsilon=eps, data_norm=1.0, classes=[0, 1], random_state=s
                    ),
                )
                .fit(Xtr, ytr)
                .score(Xte, yte)
                for s in range(3)
            ]
        )
    )

fig, ax = plt.subplots()
ax.plot(epsilons, private, "o-", label="DPStandardScaler (fully private)")
ax.plot(epsilons, public, "s--", label="StandardScaler (scaler not covered)")
ax.set_xscale("log")
ax.set_xlabel("total epsilon (delta = 1e-5)")
ax.set_ylabel("test accuracy")
ax.legend()

# %%
# What one pipeline spent, and a budget that refuses the next
# -----------------------------------------------------------
budget = PrivacyBudget(epsilon=2.5, delta=1e-5)
budget.fit(private_pipeline(2.0, 0), Xtr, ytr)
try:
    budget.fit(private_pipeline(2.0, 1), Xtr, ytr)
except BudgetExceededError as exc:
    print("refused:", exc)
print(budget.report())
print(privacy_spent(private_pipeline(2.0, 0).fit(Xtr, ytr), strict=True))
