"""Shared fixtures of the neural-network tests."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("skorch")
pytest.importorskip("opacus")

# Tiny nets: one thread avoids oversubscribing a shared CPU (50x slower).
torch.set_num_threads(1)


@pytest.fixture
def blobs():
    """An easy 3-class problem, 150 rows of 4 features in [0, 1]."""
    rng = np.random.default_rng(0)
    centers = np.array(
        [[0.2, 0.2, 0.8, 0.5], [0.8, 0.2, 0.2, 0.5], [0.5, 0.8, 0.5, 0.2]]
    )
    y = np.repeat([0, 1, 2], 50)
    X = centers[y] + 0.05 * rng.standard_normal((150, 4))
    return X, y


@pytest.fixture
def linear_data():
    rng = np.random.default_rng(1)
    X = rng.uniform(-1, 1, size=(200, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    return X, y
