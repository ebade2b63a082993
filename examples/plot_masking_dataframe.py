"""
=============================================================
Masking and pseudonymizing a DataFrame in a ColumnTransformer
=============================================================

:class:`~skpriv.preprocessing.Masker` de-identifies columns of a pandas
DataFrame inside a :class:`~sklearn.compose.ColumnTransformer`: names are
redacted, e-mail addresses become keyed pseudonyms (stable, so joins still
work, but not reversible without the key), phone numbers are partly masked and
ages and dates are generalized to ranges and months.

Masking is *de-identification*, not differential privacy: the plot at the end
shows how generalizing quasi-identifiers (age, postcode, sign-up month) makes
rows less unique, and why that is still no formal guarantee.
"""

# %%
# A customer table
# ----------------
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from skpriv.encryption import Key
from skpriv.preprocessing import Masker

rng = np.random.default_rng(0)
n = 600
first = np.array(["Ana", "Ben", "Chen", "Dara", "Eli", "Fatou", "Gus", "Hana"])
last = np.array(["Kim", "Lopez", "Martin", "Nakamura", "Okafor", "Petrov"])
names = [f"{a} {b}" for a, b in zip(rng.choice(first, n), rng.choice(last, n))]
customers = pd.DataFrame(
    {
        "name": names,
        "email": [
            f"{nm.lower().replace(' ', '.')}{i}@example.org"
            for i, nm in enumerate(names)
        ],
        "phone": [
            f"+44 7{rng.integers(100, 999)} {rng.integers(100000, 999999)}"
            for _ in range(n)
        ],
        "age": rng.integers(18, 90, n),
        "postcode": rng.choice(["AB1", "AB2", "CD3", "EF4", "GH5", "IJ6"], n),
        "signup": pd.Timestamp("2024-01-01")
        + pd.to_timedelta(rng.integers(0, 700, n), unit="D"),
    }
)
# Younger customers churn more.
logit = 1.5 - 0.04 * customers["age"].to_numpy() + rng.normal(0, 0.5, n)
customers["churned"] = (logit > -0.4).astype(int)
customers.head()

# %%
# De-identify with a ColumnTransformer
# ------------------------------------
# The pseudonym key would come from the environment in production
# (``Key.from_env("SKPRIV_KEY")``); a passphrase makes this page reproducible.
# ``key.derive("email")`` gives a subkey, so pseudonyms of e-mail addresses
# cannot be linked to pseudonyms made for another purpose.
key = Key.from_passphrase("gallery example only", salt=b"skpriv-gallery-salt", n=2**14)

deidentify = ColumnTransformer(
    [
        ("name", Masker(strategy="redact"), ["name"]),
        ("email", Masker(strategy="hash", key=key.derive("email")), ["email"]),
        ("phone", Masker(strategy="partial", keep_first=3, keep_last=2), ["phone"]),
        ("age", Masker(strategy="generalize", bin_edges=[30, 45, 60, 75]), ["age"]),
        ("signup", Masker(strategy="generalize", date_unit="month"), ["signup"]),
    ],
    remainder="passthrough",
    verbose_feature_names_out=False,
).set_output(transform="pandas")

masked = deidentify.fit_transform(customers)
masked.head()

# %%
# Pseudonyms are deterministic under one key, so the same e-mail address maps
# to the same token in every table masked with it: joins and group-bys work.
again = deidentify.transform(customers.head(3))
print(again["email"].tolist() == masked["email"].head(3).tolist())
print(masked[["name", "email", "phone", "age", "signup"]].head(3).to_string())

# %%
# Learning on de-identified data
# ------------------------------
# The generalized age is enough for this model; the identifiers carry no
# signal and are dropped.
features = ["age", "postcode"]
model = make_pipeline(
    ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), features)]),
    LogisticRegression(),
)
train, test = train_test_split(masked, random_state=0, stratify=masked["churned"])
model.fit(train[features], train["churned"])
raw_train, raw_test = train_test_split(
    customers, random_state=0, stratify=customers["churned"]
)
raw_model = make_pipeline(
    ColumnTransformer(
        [("cat", OneHotEncoder(handle_unknown="ignore"), ["postcode"])],
        remainder="passthrough",
    ),
    LogisticRegression(max_iter=1000),
).fit(raw_train[features], raw_train["churned"])
print(f"accuracy on masked data: {model.score(test[features], test['churned']):.3f}")
print(
    f"accuracy on raw data:    "
    f"{raw_model.score(raw_test[features], raw_test['churned']):.3f}"
)

# %%
# How unique are the rows?
# ------------------------
# A row that is unique on its quasi-identifiers (age, postcode, sign-up date)
# can be re-identified by anyone who knows those three facts about a person.
# Generalization makes fewer rows unique; it is no formal guarantee (it says
# nothing about attackers with other knowledge). For a guarantee, use the
# differentially private parts of skpriv.
quasi = ["age", "postcode", "signup"]


def unique_fraction(frame):
    sizes = frame.groupby(quasi, observed=True)[quasi[0]].transform("size")
    return float((sizes == 1).mean())


raw_share = unique_fraction(customers.astype({"signup": str}))
masked_share = unique_fraction(masked.astype(str))
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.bar(["raw", "generalized"], [raw_share, masked_share], color=["C3", "C0"])
ax.set_ylabel("rows unique on (age, postcode, sign-up)")
ax.set_ylim(0, 1.15)
for i, share in enumerate([raw_share, masked_share]):
    ax.text(i, share + 0.02, f"{share:.0%}", ha="center")
ax.set_title("Re-identification risk", fontsize=11)
plt.tight_layout()
print(f"unique rows: raw {raw_share:.0%}, generalized {masked_share:.0%}")
