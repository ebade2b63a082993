"""skpriv quickstart: every part of skpriv on bundled data, in one table.

Run with ``make demo``. Each row is a pipeline fitted on the training split of
scikit-learn's breast-cancer data; the table shows test accuracy, the privacy
each fit spent on the training data as composed by
:func:`skpriv.accounting.privacy_spent`, and the fit time. Rows whose parts
give no differential-privacy guarantee (masking, encryption, the non-private
reference) say so instead of printing an epsilon. At the end the script saves
a privacy–utility plot of DPLogisticRegression as a PNG.

Fixed seeds make the run reproducible; they are not private.
"""

import importlib.util
import os
import time
import warnings

import numpy as np
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression, SGDClassifier
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import (
    FunctionTransformer,
    KBinsDiscretizer,
    MinMaxScaler,
    Normalizer,
    OneHotEncoder,
    StandardScaler,
)

from skpriv.accounting import collect_dp_events, privacy_spent
from skpriv.audit import membership_inference
from skpriv.encryption import EncryptedEstimator, Key
from skpriv.ensemble import PATEClassifier
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.federated import FederatedClassifier
from skpriv.linear_model import DPLogisticRegression
from skpriv.preprocessing import GaussianNoise, LaplaceNoise, Masker, RandomizedResponse

warnings.filterwarnings("ignore", module="sklearn")
# The scalers below learn their ranges from the training data: fine for a
# demo, not private (see docs/privacy_model.rst). Silence the reminder.
warnings.filterwarnings("ignore", category=PrivacyLeakWarning)

FAST = os.environ.get("SKPRIV_EXAMPLES_FAST") == "1"
DELTA = 1e-5
PLOT_PATH = "quickstart_privacy_utility.png"

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)
n_features = X.shape[1]


def clip01():
    """Clip scaled features into the public bounds [0, 1]."""
    return FunctionTransformer(np.clip, kw_args={"a_min": 0.0, "a_max": 1.0})


#: The label set is public (declared): classifiers do not read it from the data.
CLASSES = [0, 1]


def dp_logistic(epsilon=1.0):
    return make_pipeline(
        StandardScaler(),
        Normalizer(),
        DPLogisticRegression(
            epsilon=epsilon,
            delta=DELTA,
            data_norm=1.0,
            classes=CLASSES,
            random_state=0,
        ),
    )


def pate():
    """PATE: half the training rows are private labels, half a public pool."""
    return make_pipeline(
        StandardScaler(),
        PATEClassifier(
            LogisticRegression(),
            LogisticRegression(),
            n_teachers=25,
            epsilon=2.0,
            delta=DELTA,
            max_queries=30,
            classes=CLASSES,
            random_state=0,
        ),
    )


def pate_labels(y):
    y = y.copy()
    y[np.random.default_rng(0).random(len(y)) < 0.5] = -1  # public, unlabelled
    return y


ROWS = [
    # (label, guarantee, model, how to pass y)
    (
        "LogisticRegression (reference)",
        "none",
        make_pipeline(StandardScaler(), LogisticRegression()),
        None,
    ),
    (
        "Masker(generalize) + LogisticRegression",
        "masking",
        make_pipeline(
            Masker(strategy="generalize", n_bins=4),
            OneHotEncoder(handle_unknown="ignore"),
            LogisticRegression(),
        ),
        None,
    ),
    (
        "LaplaceNoise + LogisticRegression",
        "local DP",
        make_pipeline(
            MinMaxScaler(),
            clip01(),
            LaplaceNoise(epsilon=30.0, bounds=(0.0, 1.0), random_state=0),
            LogisticRegression(),
        ),
        None,
    ),
    (
        "GaussianNoise + LogisticRegression",
        "local DP",
        make_pipeline(
            MinMaxScaler(),
            clip01(),
            GaussianNoise(epsilon=10.0, delta=DELTA, bounds=(0.0, 1.0), random_state=0),
            LogisticRegression(),
        ),
        None,
    ),
    (
        "RandomizedResponse + LogisticRegression",
        "local DP",
        make_pipeline(
            KBinsDiscretizer(n_bins=2, encode="ordinal"),
            RandomizedResponse(
                epsilon=30.0, categories=[[0.0, 1.0]] * n_features, random_state=0
            ),
            OneHotEncoder(),
            LogisticRegression(),
        ),
        None,
    ),
    ("DPLogisticRegression", "central DP", dp_logistic(1.0), None),
    (
        "EncryptedEstimator(DPLogisticRegression)",
        "central DP + at rest",
        None,  # built in main(): the key lives in memory for the demo
        None,
    ),
    ("PATEClassifier (50% public pool)", "central DP", pate(), pate_labels),
    (
        "FederatedClassifier (10 clients)",
        "none",
        make_pipeline(
            StandardScaler(),
            FederatedClassifier(
                SGDClassifier(random_state=0), n_rounds=10, n_clients=10, random_state=0
            ),
        ),
        None,
    ),
    (
        "FederatedClassifier (DP, secure agg.)",
        "client-level DP",
        make_pipeline(
            StandardScaler(),
            Normalizer(),
            FederatedClassifier(
                SGDClassifier(random_state=0),
                n_rounds=10,
                n_clients=50,
                clip_norm=1.0,
                noise_multiplier=1.0,
                secure_aggregation=True,
                classes=CLASSES,
                random_state=0,
            ),
        ),
        None,
    ),
]

if importlib.util.find_spec("torch") is not None:
    import torch

    from skpriv.neural_network import DPNeuralNetClassifier

    class MLP(torch.nn.Module):
        """A small two-layer network."""

        def __init__(self, n_features_in, n_outputs):
            super().__init__()
            self.layers = torch.nn.Sequential(
                torch.nn.Linear(n_features_in, 32),
                torch.nn.ReLU(),
                torch.nn.Linear(32, n_outputs),
            )

        def forward(self, X):
            return self.layers(X)

    torch.set_num_threads(1)
    ROWS.insert(
        6,
        (
            "DPNeuralNetClassifier (DP-SGD)",
            "central DP",
            make_pipeline(
                StandardScaler(),
                Normalizer(),
                FunctionTransformer(np.float32),
                DPNeuralNetClassifier(
                    MLP,
                    criterion=torch.nn.CrossEntropyLoss,
                    epsilon=3.0,
                    delta=DELTA,
                    max_epochs=3 if FAST else 8,
                    batch_size=64,
                    lr=0.5,
                    verbose=0,
                    classes=CLASSES,
                    random_state=0,
                ),
            ),
            None,
        ),
    )


def spent(model):
    """(epsilon, delta) as text and what the epsilon does not cover."""
    # The uncovered releases are read from the result and printed below the
    # table, instead of a PrivacyLeakWarning per model.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        result = privacy_spent(model, delta=DELTA)
        if not collect_dp_events(model):
            return "not DP", "-", result.uncovered
        # Pure DP is reported at delta=0; approximate DP at DELTA.
        pure = privacy_spent(model, delta=0.0)
    if np.isfinite(pure.epsilon):
        result = pure
    if not np.isfinite(result.epsilon):
        return "not DP", "-", result.uncovered
    eps, delta = result
    return f"{eps:.3g}", f"{delta:.0e}" if delta else "0", result.uncovered


def privacy_utility_plot(path):
    """Accuracy of DPLogisticRegression across epsilons, saved as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from skpriv.display import PrivacyUtilityDisplay

    fig, ax = plt.subplots(figsize=(6.5, 4))
    PrivacyUtilityDisplay.from_estimator(
        dp_logistic(),
        X_train,
        y_train,
        epsilons=[0.1, 1.0, 10.0] if FAST else [0.03, 0.1, 0.3, 1.0, 3.0, 10.0],
        param_name="dplogisticregression__epsilon",
        cv=3,
        n_repeats=1 if FAST else 2,
        baseline=make_pipeline(StandardScaler(), LogisticRegression()),
        random_state=0,
        ax=ax,
        name="DPLogisticRegression",
    )
    ax.set_title("breast cancer: cross-validated accuracy vs epsilon", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return os.path.abspath(path)


def main():
    key = Key.generate()
    header = (
        f"{'model':<42} {'guarantee':<20} {'accuracy':>8} {'epsilon':>8} "
        f"{'delta':>6} {'covers':>7} {'fit s':>6}"
    )
    print(header)
    print("-" * len(header))
    fitted, not_covered = {}, {}
    for label, guarantee, model, labels in ROWS:
        if model is None:
            model = EncryptedEstimator(dp_logistic(1.0), key)
        y_fit = labels(y_train) if labels is not None else y_train
        start = time.perf_counter()
        model.fit(X_train, y_fit)
        seconds = time.perf_counter() - start
        acc = model.score(X_test, y_test)
        eps, delta, uncovered = spent(model)
        fitted[label] = model
        covers = "all" if not uncovered else f"not {len(uncovered)}"
        if uncovered:
            not_covered[label] = uncovered
        print(
            f"{label:<42} {guarantee:<20} {acc:>8.3f} {eps:>8} {delta:>6} "
            f"{covers:>7} {seconds:>6.2f}"
        )
    print()
    print(
        "epsilon, delta: privacy spent on the training rows (privacy_spent, PLD "
        "accountant);\nlocal DP rows: per row and per transform call. "
        "'not DP': no differential-privacy guarantee.\ncovers: 'all' when "
        "epsilon covers everything the fitted model releases; otherwise the "
        "number of releases it does not cover, listed here:"
    )
    for label, uncovered in not_covered.items():
        print(f"  {label}:")
        for release in uncovered:
            print(f"    - {release}")
    print()
    for label in ("LogisticRegression (reference)", "DPLogisticRegression"):
        audit = membership_inference(
            fitted[label], X_train, y_train, X_test, y_test, random_state=0
        )
        print(
            f"audit {label}: membership-inference AUC {audit.auc:.3f}, "
            f"empirical epsilon lower bound {audit.epsilon_lower_bound:.2f}"
        )
    path = privacy_utility_plot(PLOT_PATH)
    print(f"privacy-utility plot saved to {path}")


if __name__ == "__main__":
    main()
