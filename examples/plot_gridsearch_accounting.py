"""
==================================================
Accounting for a GridSearchCV with privacy_spent
==================================================

Hyper-parameter searches are where privacy budgets quietly run out: a
:class:`~sklearn.model_selection.GridSearchCV` fits every candidate on every
fold, and each of those fits reads the private data. This example tunes a
:class:`~skpriv.linear_model.DPLogisticRegression` pipeline and asks
:func:`~skpriv.accounting.privacy_spent` what the whole search cost, compared
with what the refitted model alone cost and with naive (basic) composition.

Fixed seeds make the page reproducible; they are not private.
"""

# %%
# A search over epsilon and C
# ---------------------------
import os
import warnings

import matplotlib.pyplot as plt
from sklearn.datasets import load_breast_cancer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.accounting import privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import StableKFold

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"

X, y = load_breast_cancer(return_X_y=True)
pipe = make_pipeline(
    StandardScaler(),
    Normalizer(),
    DPLogisticRegression(data_norm=1.0, delta=1e-5, classes=[0, 1], random_state=0),
)
grid = {
    "dplogisticregression__epsilon": [0.25, 0.5],
    "dplogisticregression__C": [0.3, 1.0, 3.0],
}
# StableKFold puts each row in a fold by its own values, so adding one row to
# the data changes no other row's fold: every fit on a fold is a fit on a
# neighbouring data set. (scikit-learn's KFold moves rows between folds; its
# fits are charged for the rows that move, or named as not covered.)
cv = StableKFold(3, random_state=0)
search = GridSearchCV(pipe, grid, cv=cv, n_jobs=1).fit(X, y)
print("best parameters:", search.best_params_)
print(f"best cross-validated accuracy: {search.best_score_:.3f}")

# %%
# What it cost
# ------------
# ``privacy_spent`` counts ``6 candidates x 3 folds + 1 refit = 19`` fits and
# composes them with Google's dp-accounting (privacy-loss distributions by
# default, Rényi DP on request). Fits on different folds overlap in rows, so
# they compose like fits on the same data.
#
# The epsilon covers the fits, not everything the search releases:
# scikit-learn scores the candidates exactly on private validation rows
# (``cv_results_``, ``best_score_``, and the choice ``best_params_``), and
# StandardScaler learns its means without DP. ``privacy_spent`` names them;
# the summary lists them once, so the warnings are silenced after it.
delta = 1e-5
pld = privacy_spent(search, delta=delta)
print(pld.summary())
warnings.simplefilter("ignore", PrivacyLeakWarning)
refit_only = privacy_spent(search.best_estimator_, delta=delta)
rdp = privacy_spent(search, delta=delta, accountant="rdp")
n_fits = len(search.cv_results_["params"]) * search.n_splits_ + 1
basic = (
    sum(p["dplogisticregression__epsilon"] for p in search.cv_results_["params"])
    * search.n_splits_
    + search.best_params_["dplogisticregression__epsilon"]
)
print(f"fits made by the search:         {n_fits}")
print(f"refitted model alone:            epsilon = {refit_only.epsilon:.2f}")
print(f"whole search, PLD accountant:    epsilon = {pld.epsilon:.2f}")
print(f"whole search, RDP accountant:    epsilon = {rdp.epsilon:.2f}")
print(f"basic composition (sum of eps):  epsilon = {basic:.2f}")

# %%
# The same numbers with ``n_jobs=2``: the fits happen in worker processes and
# their estimators are thrown away, so ``privacy_spent`` plans each
# candidate's cost from its parameters and the size of the training folds.
parallel = GridSearchCV(pipe, grid, cv=cv, n_jobs=2).fit(X, y)
print(
    f"n_jobs=2, PLD accountant:        epsilon = {privacy_spent(parallel, delta=delta).epsilon:.2f}"
)

# %%
# The budget grows with the grid
# ------------------------------
# Each extra value of ``C`` adds ``n_splits`` fits. Tight composition grows
# much more slowly than the sum of epsilons, but it still grows: tune on
# public or synthetic data when you can, or keep grids small.
sizes, spent = [], []
for n_c in (1, 3) if FAST else (1, 2, 3, 4, 5):
    small = {
        "dplogisticregression__epsilon": [0.25],
        "dplogisticregression__C": [0.1 * 2**k for k in range(n_c)],
    }
    fitted = GridSearchCV(pipe, small, cv=cv).fit(X, y)
    sizes.append(n_c)
    spent.append(privacy_spent(fitted, delta=delta).epsilon)

fig, ax = plt.subplots(figsize=(6, 4))
ax.plot(sizes, spent, "o-", label="privacy_spent (PLD)")
ax.plot(sizes, [0.25 * (3 * k + 1) for k in sizes], "s--", label="sum of epsilons")
ax.axhline(0.25, color="black", linestyle=":", label="refitted model alone")
ax.set_xlabel("candidates in the grid (3 folds each, epsilon = 0.25 per fit)")
ax.set_ylabel(f"epsilon spent (delta = {delta:g})")
ax.set_title("What a GridSearchCV spends", fontsize=11)
ax.legend()
plt.tight_layout()
