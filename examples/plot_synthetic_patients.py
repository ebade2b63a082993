"""
===========================================
A private synthetic copy of a patient table
===========================================

A hospital wants to share a table of patients with analysts without sharing
any patient. :class:`~skpriv.synthetic.MSTSynthesizer` measures noisy
marginals of the private table (one-way, and the two-way ones of a tree
chosen privately), fits a graphical model to them and samples a new table of
the same columns and types from it, at epsilon 1. Every category and bound is
declared (public), so nothing about the data is read outside the budget.

We check the copy with :func:`~skpriv.synthetic.evaluate` (marginal
distances, and a model trained on the copy then tested on real held-out
patients) and plot the report. The table is generated; fixed seeds make the
page reproducible and are not private.
"""

# %%
# A patient-like table
# --------------------
import numpy as np
import pandas as pd

rng = np.random.default_rng(0)
n = 3000
sex = rng.choice(["F", "M"], n)
age = np.clip(rng.normal(55, 16, n), 18, 95).astype(int)
smoker = rng.random(n) < np.where(sex == "M", 0.3, 0.18)
bmi = np.clip(22 + 0.06 * age + rng.normal(0, 3.5, n), 15, 45)
sbp = np.clip(100 + 0.5 * age + 0.8 * (bmi - 22) + rng.normal(0, 10, n), 85, 200)
diabetic = rng.random(n) < 1 / (1 + np.exp(-(bmi - 30) / 2.5 - (age - 65) / 15))
admitted = pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 366, n), "D")
patients = pd.DataFrame(
    {
        "sex": pd.Categorical(sex),
        "age": age,
        "smoker": smoker,
        "bmi": bmi,
        "sbp": sbp,
        "admitted": admitted,
        "diabetic": diabetic,
    }
)
train, test = patients.iloc[:2000], patients.iloc[2000:].reset_index(drop=True)
train.head()

# %%
# A synthetic copy at epsilon 1
# -----------------------------
# The domain declares each column's categories or bounds; numbers are cut
# into 16 bins of their bounds and sampled back within their bin.
from skpriv.accounting import privacy_spent
from skpriv.synthetic import MSTSynthesizer, evaluate

domain = {
    "sex": ["F", "M"],
    "age": (18, 95),
    "bmi": (15.0, 45.0),
    "sbp": (85.0, 200.0),
    "admitted": (pd.Timestamp("2024-01-01"), pd.Timestamp("2025-01-01")),
}
synth = MSTSynthesizer(epsilon=1.0, domain=domain, n_bins=16, random_state=0)
synth.fit(train)
copy = synth.sample(len(train))
print(privacy_spent(synth).summary())
print("pairs measured:", synth.cliques_)
copy.head()

# %%
# The same types come back.
print(copy.dtypes.equals(train.dtypes))

# %%
# How good is the copy?
# ---------------------
# Total-variation distances of every column and pair of columns, and a
# gradient-boosted model predicting ``diabetic``: trained on the copy and on
# the real rows, both tested on real patients the synthesizer never saw.
report = evaluate(train, copy, target="diabetic", real_test=test)
print(report.summary())

# %%
report.plot()

# %%
# A model trained on the copy
# ---------------------------
# Any scikit-learn model trains on the copy as it would on the real table
# (post-processing of a DP release costs no budget).
from sklearn.ensemble import HistGradientBoostingClassifier

features = ["age", "smoker", "bmi", "sbp"]
model = HistGradientBoostingClassifier(random_state=0)
model.fit(copy[features], copy["diabetic"])
print(f"accuracy on real patients: {model.score(test[features], test['diabetic']):.3f}")
