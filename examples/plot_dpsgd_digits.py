"""
======================================================
DP-SGD on digits: epsilon spent and accuracy per epoch
======================================================

:class:`~skpriv.neural_network.DPNeuralNetClassifier` trains a torch network
with DP-SGD: every step samples rows with probability ``batch_size /
n_samples`` (Poisson sampling), clips each row's gradient and adds Gaussian
noise to their sum. The noise multiplier is calibrated so that *all* epochs
together spend at most the target ``epsilon``; the accountant records after
every epoch how much has been spent so far.

This example trains the same small network on scikit-learn's digits for two
budgets and without privacy, and plots the epsilon spent and the test accuracy
after each epoch. Test accuracy is measured on held-out rows that play the
part of *public* data: they are not in the private training set, and they are
given to the net as its validation set through skorch's ``predefined_split``,
so the per-epoch scores are DP outputs (a function of the noisy model and
public rows) and ``privacy_spent`` covers the whole history. The class labels
are declared (``classes=``), so ``classes_`` is public too. The example needs
the ``torch`` extra. Fixed seeds make the page reproducible; they are not
private.
"""

# %%
# Data and network
# ----------------
import logging
import os

import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from skpriv.accounting import privacy_spent
from skpriv.neural_network import DPNeuralNetClassifier

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"
EPOCHS = 3 if FAST else 8
torch.manual_seed(0)  # the non-private net's initial weights
torch.set_num_threads(1)
logging.getLogger().setLevel(logging.ERROR)

X, y = load_digits(return_X_y=True)
X = (X / 16.0).astype(np.float32)  # pixel values have the public range [0, 16]
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)


class MLP(torch.nn.Module):
    """64 pixels -> 64 hidden units -> 10 digits (logits)."""

    def __init__(self, n_features_in=64, n_outputs=10):
        super().__init__()
        self.layers = torch.nn.Sequential(
            torch.nn.Linear(n_features_in, 64),
            torch.nn.Tanh(),
            torch.nn.Linear(64, n_outputs),
        )

    def forward(self, X):
        return self.layers(X)


# The held-out rows, declared public: skorch scores the net on them after
# every epoch (``valid_acc`` in the history).
public_valid = Dataset(X_test, y_test)

# %%
# Training
# --------
# ``epsilon`` is the budget of the whole run: the noise multiplier
# (``noise_multiplier_``) is chosen so that ``max_epochs`` epochs spend it.
# The default accountant (privacy-loss distributions, "pld") is the
# tightest: it finds the smallest noise multiplier for the budget.
common = dict(
    criterion=torch.nn.CrossEntropyLoss,
    max_epochs=EPOCHS,
    batch_size=128,
    lr=1.0,
    train_split=predefined_split(public_valid),
    verbose=0,
)
histories = {}
for epsilon in (1.0, 8.0):
    net = DPNeuralNetClassifier(
        MLP,
        epsilon=epsilon,
        delta=1e-5,
        max_grad_norm=1.0,
        classes=np.arange(10),  # the labels are public: declare them
        random_state=0,
        **common,
    )
    net.fit(X_train, y_train)
    histories[f"DP-SGD, epsilon={epsilon:g}"] = net.history
    spent = privacy_spent(net, strict=True)  # raises if anything is uncovered
    print(
        f"epsilon={epsilon:g}: noise multiplier {net.noise_multiplier_:.2f}, "
        f"{net.steps_} steps, spent {spent[0]:.2f} (nothing uncovered), "
        f"test accuracy {net.score(X_test, y_test):.3f}"
    )

plain = NeuralNetClassifier(MLP, **common).fit(X_train, y_train)
histories["non-private SGD"] = plain.history
print(f"non-private: test accuracy {plain.score(X_test, y_test):.3f}")

# %%
# Epsilon spent and accuracy per epoch
# ------------------------------------
# Epsilon grows sub-linearly with the epochs (privacy amplification by
# sampling, composed by the accountant) and reaches the target at
# the last epoch. Stopping early spends less, but the noise was calibrated for
# the full run.
fig, (ax_eps, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
for label, history in histories.items():
    epochs = history[:, "epoch"]
    ax_acc.plot(epochs, history[:, "valid_acc"], "o-", label=label)
    if label.startswith("DP"):
        ax_eps.plot(epochs, history[:, "epsilon"], "o-", label=label)
ax_eps.set_xlabel("epoch")
ax_eps.set_ylabel("epsilon spent so far (delta = 1e-5)")
ax_eps.set_title("Privacy spent", fontsize=11)
ax_eps.legend()
ax_acc.set_xlabel("epoch")
ax_acc.set_ylabel("test accuracy")
ax_acc.set_title("Utility", fontsize=11)
ax_acc.set_ylim(0, 1)
ax_acc.legend()
plt.tight_layout()
