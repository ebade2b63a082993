"""
=======================================================
Federated learning: iid vs non-iid, with and without DP
=======================================================

:class:`~skpriv.federated.FederatedClassifier` trains by federated averaging:
each round, a random subset of clients trains the global model on its own
rows, and the server averages their updates. Raw rows never leave a client.

This example simulates 40 clients and compares how fast the global model
converges when clients hold

- *iid* data (rows dealt at random), or
- *non-iid* data (a Dirichlet label skew with ``alpha=0.1``: most clients
  see mostly one class),

with and without client-level differential privacy (DP-FedAvg: each client's
update is clipped and Gaussian noise is added to their sum). Test accuracy is
measured on held-out rows after a given number of rounds.

Secure aggregation (``secure_aggregation=True``) would hide each update from
the server but changes neither the model nor the guarantee: it is not DP.
Fixed seeds make the page reproducible; they are not private.
"""

# %%
# Data and clients
# ----------------
import logging
import os

import matplotlib.pyplot as plt
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from skpriv.federated import FederatedClassifier

# dp-accounting logs the Rényi orders it skips; the bound stays valid.
logging.getLogger("absl").setLevel(logging.ERROR)

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"
ROUNDS = [1, 4] if FAST else [1, 4, 8, 15]

X, y = make_classification(
    n_samples=6000,
    n_features=20,
    n_informative=10,
    n_classes=3,
    n_clusters_per_class=1,
    random_state=0,
)
X = StandardScaler().fit_transform(X)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=1000, random_state=0
)

# %%
# Four federations
# ----------------
# ``client_fraction=0.5``: each client joins a round with probability 0.5
# (Poisson sampling, which the privacy accounting assumes). Each client runs
# one epoch of SGD with a small step per round. With DP, updates are clipped
# to norm 0.5 and the sum gets noise of standard deviation
# ``noise_multiplier * clip_norm``.
settings = {
    "iid": dict(partition="iid"),
    "non-iid": dict(partition="dirichlet", dirichlet_alpha=0.1),
    "iid + DP": dict(partition="iid", clip_norm=0.5, noise_multiplier=0.8),
    "non-iid + DP": dict(
        partition="dirichlet", dirichlet_alpha=0.1, clip_norm=0.5, noise_multiplier=0.8
    ),
}
accuracy = {name: [] for name in settings}
epsilon = {name: [] for name in settings}
for name, kwargs in settings.items():
    for n_rounds in ROUNDS:
        fed = FederatedClassifier(
            SGDClassifier(
                loss="log_loss",
                learning_rate="constant",
                eta0=0.001,
                alpha=0.0,
                random_state=0,
            ),
            n_rounds=n_rounds,
            n_clients=40,
            client_fraction=0.5,
            random_state=0,
            **kwargs,
        ).fit(X_train, y_train)
        accuracy[name].append(fed.score(X_test, y_test))
        epsilon[name].append(getattr(fed, "epsilon_", float("nan")))
    print(
        f"{name:<14} accuracy after {ROUNDS[-1]} rounds: {accuracy[name][-1]:.3f}"
        + (f", client-level epsilon {epsilon[name][-1]:.1f}" if "DP" in name else "")
    )

# %%
# Convergence and privacy spent
# -----------------------------
# Non-iid clients pull the global model in different directions, so it
# converges more slowly; DP noise slows it further. The client-level epsilon
# grows with every round: a whole client's data is protected, which needs
# many clients per round to be affordable (with 40 clients it is large).
fig, (ax_acc, ax_eps) = plt.subplots(1, 2, figsize=(10, 4))
for name in settings:
    style = "--" if "DP" in name else "-"
    ax_acc.plot(ROUNDS, accuracy[name], "o" + style, label=name)
    if "DP" in name:
        ax_eps.plot(ROUNDS, epsilon[name], "o" + style, label=name)
ax_acc.set_xlabel("rounds")
ax_acc.set_ylabel("test accuracy")
ax_acc.set_title("Convergence", fontsize=11)
ax_acc.legend()
ax_eps.set_xlabel("rounds")
ax_eps.set_ylabel("client-level epsilon (delta = 1e-5)")
ax_eps.set_title("Privacy spent", fontsize=11)
ax_eps.legend()
plt.tight_layout()
