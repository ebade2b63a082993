"""
==================================================
Local differential privacy with noise transformers
==================================================

:class:`~skpriv.preprocessing.LaplaceNoise`,
:class:`~skpriv.preprocessing.GaussianNoise` and
:class:`~skpriv.preprocessing.RandomizedResponse` release data with *local*
differential privacy: every output row is a noisy copy of one input row, so
the data can be shared without trusting whoever receives it. The price is
noise on every row.

This example releases a numeric column and a categorical column at several
budgets and shows that aggregates are still accurate: the noisy mean is
unbiased, and :meth:`~skpriv.preprocessing.RandomizedResponse.estimate_frequencies`
recovers category shares from randomized answers.

Fixed seeds make the page reproducible; they are not private.
"""

# %%
# A survey
# --------
import matplotlib.pyplot as plt
import numpy as np

from skpriv.preprocessing import GaussianNoise, LaplaceNoise, RandomizedResponse

rng = np.random.default_rng(0)
n = 5000
hours = np.clip(rng.normal(38, 8, n), 0, 80).reshape(-1, 1)  # weekly hours
answers = rng.choice(["never", "sometimes", "often"], p=[0.6, 0.3, 0.1], size=n)
answers = answers.reshape(-1, 1).astype(object)

# %%
# Noisy numbers
# -------------
# The bounds ``[0, 80]`` are public (a week has no more working hours than
# that in this survey). Each row gets noise calibrated to them; every
# ``transform`` call is a new release that spends ``epsilon`` again.
epsilons = [0.5, 1.0, 2.0, 4.0, 8.0]
released = {}
for eps in epsilons:
    laplace = LaplaceNoise(epsilon=eps, bounds=(0.0, 80.0), random_state=0)
    gauss = GaussianNoise(epsilon=eps, delta=1e-5, bounds=(0.0, 80.0), random_state=0)
    released[eps] = (laplace.fit_transform(hours), gauss.fit_transform(hours))
    print(
        f"epsilon={eps:<4g} true mean {hours.mean():.2f}  Laplace {released[eps][0].mean():.2f}"
        f"  Gaussian {released[eps][1].mean():.2f}  (one row's Laplace scale "
        f"{laplace.scale_[0]:.0f} hours)"
    )

# %%
# Randomized response
# -------------------
# Each answer is kept with probability ``e^eps / (e^eps + k - 1)`` and
# otherwise replaced by another category. Any single answer is deniable, yet
# the shares of the whole survey can be estimated without bias.
categories = [["never", "often", "sometimes"]]
true_share = {c: float(np.mean(answers[:, 0] == c)) for c in categories[0]}
estimates = {}
for eps in epsilons:
    rr = RandomizedResponse(epsilon=eps, categories=categories, random_state=0)
    noisy = rr.fit_transform(answers)
    estimates[eps] = rr.estimate_frequencies(noisy)[0] / n  # counts -> shares
    kept = np.mean(noisy[:, 0] == answers[:, 0])
    print(
        f"epsilon={eps:<4g} answers kept: {kept:.0%}, estimated shares:",
        np.round(estimates[eps], 3),
    )
print("true shares:", {k: round(v, 3) for k, v in true_share.items()})

# %%
# Error of the aggregates
# -----------------------
# Left: one released row is very noisy, but the mean of 5,000 rows is close.
# Right: the estimated share of "often" converges to the truth as epsilon
# grows; at small epsilon the estimate is unbiased but has a large variance.
fig, (ax_num, ax_cat) = plt.subplots(1, 2, figsize=(10, 4))
ax_num.plot(
    epsilons,
    [abs(released[e][0].mean() - hours.mean()) for e in epsilons],
    "o-",
    label="LaplaceNoise: |mean error|",
)
ax_num.plot(
    epsilons,
    [abs(released[e][1].mean() - hours.mean()) for e in epsilons],
    "s-",
    label="GaussianNoise: |mean error|",
)
ax_num.plot(
    epsilons,
    [np.std(released[e][0] - hours) for e in epsilons],
    "o--",
    color="C0",
    alpha=0.5,
    label="LaplaceNoise: noise per row (std)",
)
ax_num.set_xscale("log")
ax_num.set_yscale("log")
ax_num.set_xticks(epsilons, labels=[f"{e:g}" for e in epsilons], minor=False)
ax_num.xaxis.set_minor_locator(plt.NullLocator())
ax_num.set_xlabel("epsilon per row")
ax_num.set_ylabel("hours")
ax_num.set_title("Numeric column", fontsize=11)
ax_num.legend(fontsize=8)

often = categories[0].index("often")
ax_cat.plot(
    epsilons,
    [estimates[e][often] for e in epsilons],
    "o-",
    label="estimated share of 'often'",
)
ax_cat.axhline(true_share["often"], color="black", linestyle="--", label="true share")
ax_cat.set_xscale("log")
ax_cat.set_xticks(epsilons, labels=[f"{e:g}" for e in epsilons], minor=False)
ax_cat.xaxis.set_minor_locator(plt.NullLocator())
ax_cat.set_xlabel("epsilon per row")
ax_cat.set_ylabel("share")
ax_cat.set_title("Categorical column (randomized response)", fontsize=11)
ax_cat.legend(fontsize=8)
plt.tight_layout()
