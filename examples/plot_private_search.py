"""
=========================================
Private hyperparameter search by stopping
=========================================

A :class:`~sklearn.model_selection.GridSearchCV` over a DP estimator spends
its budget once per fit and releases exact validation scores.
:class:`~skpriv.model_selection.PrivateGridSearchCV` spends one ``epsilon``
for everything: a random number of trials, each a random candidate scored
with noise, and only the best released. This page compares the test accuracy
of the selected model with the estimator's defaults at the same budget. Fixed
seeds make the page reproducible; they are not private.
"""

# %%
import warnings

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer

from skpriv.accounting import privacy_spent
from skpriv.linear_model import DPLogisticRegression
from skpriv.model_selection import PrivateGridSearchCV

X, y = make_classification(n_samples=4000, n_features=10, random_state=0)
X_train, X_test, y_train, y_test = train_test_split(X, y, random_state=0)


def pipe(**kw):
    return make_pipeline(
        Normalizer(), DPLogisticRegression(data_norm=1.0, classes=[0, 1], **kw)
    )


grid = {
    "dplogisticregression__C": [0.1, 1.0, 10.0],
    "dplogisticregression__solver": ["ssp", "gd"],
}
budgets = [0.5, 1.0, 2.0]
searched, defaults = [], []
for epsilon in budgets:
    search = PrivateGridSearchCV(
        pipe(),
        grid,
        epsilon=epsilon,
        epsilon_param="dplogisticregression__epsilon",
        distribution="geometric",
        random_state=0,
    ).fit(X_train, y_train)
    searched.append(search.score(X_test, y_test))
    default = pipe(epsilon=epsilon, random_state=0).fit(X_train, y_train)
    defaults.append(default.score(X_test, y_test))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing uncovered
        spent = privacy_spent(search, accountant="rdp")
    print(f"epsilon={epsilon}: chose {search.best_params_}, spent {spent.epsilon:.3f}")

# %%
fig, ax = plt.subplots()
ax.plot(budgets, searched, "o-", label="PrivateGridSearchCV (whole search)")
ax.plot(budgets, defaults, "s--", label="DPLogisticRegression defaults")
ax.set_xlabel("total epsilon (delta = 1e-5)")
ax.set_ylabel("test accuracy")
ax.legend()
plt.show()
print(np.round(searched, 3), np.round(defaults, 3))
