"""skpriv quickstart: every part of skpriv on bundled data, in one table.

Run with ``make demo``. Each row is a pipeline fitted on the training split of
scikit-learn's breast-cancer data; the table shows test accuracy and the
privacy each fit spent on the training data, as composed by
:func:`skpriv.accounting.privacy_spent`. Fixed seeds make the run
reproducible; they are not private.
"""

import time
import warnings

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer, StandardScaler

from skpriv.accounting import privacy_spent

warnings.filterwarnings("ignore", module="sklearn")

X, y = load_breast_cancer(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.3, random_state=0, stratify=y
)

ROWS = [
    (
        "non-private LogisticRegression",
        make_pipeline(StandardScaler(), Normalizer(), LogisticRegression()),
    ),
]


def main():
    print(f"{'model':<45} {'accuracy':>9} {'epsilon':>9} {'delta':>8} {'fit s':>7}")
    for label, model in ROWS:
        start = time.perf_counter()
        model.fit(X_train, y_train)
        seconds = time.perf_counter() - start
        eps, delta = privacy_spent(model, delta=1e-5)
        acc = model.score(X_test, y_test)
        print(f"{label:<45} {acc:>9.3f} {eps:>9.3g} {delta:>8.0e} {seconds:>7.2f}")


if __name__ == "__main__":
    main()
