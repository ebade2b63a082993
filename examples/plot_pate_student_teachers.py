"""
==========================================
PATE: the student versus its teachers
==========================================

:class:`~skpriv.ensemble.PATEClassifier` trains *teachers* on disjoint
partitions of the private, labelled rows; they vote on rows of a public,
unlabelled pool, the vote counts get Gaussian noise, and a *student* learns
from the noisy labels only. Only the student is kept, and it is differentially
private with respect to the private rows.

Following scikit-learn's semi-supervised convention, public rows are the rows
with ``y == -1``. This example compares, across budgets, the student's test
accuracy with

- one teacher (trained on ``1 / n_teachers`` of the private rows, mean over
  teachers),
- the teachers' noiseless plurality vote (not private),
- a model trained on all private rows (not private).

Fixed seeds make the page reproducible; they are not private.
"""

# %%
# Private rows, a public pool and a test set
# ------------------------------------------
import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.naive_bayes import GaussianNB

from skpriv.accounting import privacy_spent
from skpriv.ensemble import PATEClassifier

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"
EPSILONS = [0.5, 2.0, 8.0] if FAST else [0.25, 0.5, 1.0, 2.0, 4.0, 8.0]

X, y = make_classification(
    n_samples=6000,
    n_features=20,
    n_informative=8,
    n_classes=4,
    n_clusters_per_class=1,
    class_sep=1.2,
    random_state=0,
)
X_rest, X_test, y_rest, y_test = train_test_split(X, y, test_size=1000, random_state=0)
X_private, X_public, y_private, _ = train_test_split(
    X_rest, y_rest, test_size=1000, random_state=0
)
# One array for fit: private rows with their labels, public rows marked -1.
X_fit = np.vstack([X_private, X_public])
y_fit = np.concatenate([y_private, -np.ones(len(X_public), dtype=int)])
print(f"private labelled rows: {len(X_private)}, public pool: {len(X_public)}")

# %%
# The student at several budgets
# ------------------------------
# ``max_queries`` bounds how many public rows the teachers label: fewer
# queries leave more budget (less noise) for each. Many teachers make wide
# vote margins that survive the noise; each learns from only 40 rows, so a
# model that needs little data (Gaussian naive Bayes) makes a good teacher.
n_teachers, n_queries = 100, 100
students, last = [], None
for epsilon in EPSILONS:
    pate = PATEClassifier(
        GaussianNB(),
        LogisticRegression(),
        n_teachers=n_teachers,
        epsilon=epsilon,
        delta=1e-5,
        max_queries=n_queries,
        classes=[0, 1, 2, 3],  # the public label set: classes_ is then covered
        random_state=0,
    ).fit(X_fit, y_fit)
    spent = privacy_spent(pate)
    students.append(pate.score(X_test, y_test))
    print(
        f"epsilon={epsilon:<5g} sigma={pate.sigma_:7.2f} queries={pate.n_queries_} "
        f"spent={spent.epsilon:.2f} student accuracy={students[-1]:.3f}"
    )
    last = pate

# %%
# References that are not private
# -------------------------------
# The teachers and their noiseless vote read the private rows directly;
# they are shown for comparison only and are never released by PATE. A
# fitted PATE keeps them only when asked (``keep_teachers=True``), and then
# ``privacy_spent`` names them as not covered by the guarantee.
last = clone(last).set_params(keep_teachers=True)
last.fit(X_fit, y_fit)
teacher_acc = np.mean([t.score(X_test, y_test) for t in last.teachers_])
votes = np.stack([t.predict(X_test) for t in last.teachers_])
plurality = np.array([np.bincount(v, minlength=4).argmax() for v in votes.T])
ensemble_acc = np.mean(last.classes_[plurality] == y_test)
full_acc = LogisticRegression().fit(X_private, y_private).score(X_test, y_test)
print(
    f"one teacher: {teacher_acc:.3f}, noiseless vote: {ensemble_acc:.3f}, "
    f"all private rows: {full_acc:.3f}"
)

fig, ax = plt.subplots(figsize=(7, 4.5))
ax.plot(EPSILONS, students, "o-", label="PATE student (DP)")
ax.axhline(full_acc, color="black", linestyle="--", label="model on all private rows")
ax.axhline(ensemble_acc, color="C2", linestyle="-.", label="teachers' noiseless vote")
ax.axhline(teacher_acc, color="C3", linestyle=":", label="one teacher")
ax.set_xscale("log")
ax.set_xticks(EPSILONS, labels=[f"{e:g}" for e in EPSILONS])
ax.minorticks_off()
ax.set_xlabel("epsilon (smaller is more private)")
ax.set_ylabel("test accuracy")
ax.set_title(f"PATE: {n_teachers} teachers, {n_queries} queries", fontsize=11)
ax.legend(loc="lower right")
plt.tight_layout()
