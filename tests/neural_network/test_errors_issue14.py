"""Issue 14: clear errors of the DP nets (y=None, X of the wrong rank), one warning."""

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from skpriv.exceptions import PrivacyLeakWarning
from skpriv.neural_network import DPNeuralNetClassifier, DPNeuralNetRegressor
from skpriv.neural_network._testing import TinyMLP


class StrictMLP(nn.Module):
    """Widths without defaults: the net must infer them or say it cannot."""

    def __init__(self, n_features_in, n_outputs):
        super().__init__()
        self.lin = nn.Linear(n_features_in, n_outputs)

    def forward(self, X):
        return self.lin(X)


def _net(cls, module=StrictMLP, **kw):
    params = dict(
        epsilon=1.0,
        max_epochs=1,
        batch_size=10,
        verbose=0,
        accountant="rdp",
        random_state=0,
    )
    params.update(kw)
    return cls(module, **params)


@pytest.mark.parametrize("cls", [DPNeuralNetClassifier, DPNeuralNetRegressor])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_y_none_names_y(cls, method):
    # Was: TypeError "StrictMLP.__init__() missing ... 'n_outputs'".
    X = np.random.default_rng(0).random((40, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="requires y to be passed"):
        getattr(_net(cls), method)(X)


@pytest.mark.parametrize("cls", [DPNeuralNetClassifier, DPNeuralNetRegressor])
def test_dataset_without_widths_names_the_module_parameter(cls):
    X = torch.rand(40, 4)
    y = torch.zeros(40, dtype=torch.long)
    data = torch.utils.data.TensorDataset(X, y)
    with pytest.raises(ValueError, match="module__n_features_in"):
        _net(cls).fit(data, None)


@pytest.mark.parametrize("cls", [DPNeuralNetClassifier, DPNeuralNetRegressor])
def test_3d_x_for_a_2d_module_names_x_and_the_fix(cls):
    # Was: RuntimeError "mat1 and mat2 shapes cannot be multiplied".
    rng = np.random.default_rng(0)
    X = rng.random((40, 2, 4)).astype(np.float32)
    y = np.arange(40) % 2
    if cls is DPNeuralNetRegressor:
        y = y.astype(np.float32)
    net = _net(
        cls, module=TinyMLP, **({"classes": [0, 1]} if y.dtype.kind == "i" else {})
    )
    with pytest.raises(ValueError, match=r"X of shape \(40, 2, 4\).*reshape"):
        net.fit(X, y)


def test_delta_warning_once_at_the_callers_line(blobs):
    X, y = blobs
    net = _net(DPNeuralNetClassifier, module=TinyMLP, delta=0.1, classes=[0, 1, 2])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net.fit(X, y)
    delta = [w for w in record if "delta" in str(w.message)]
    assert len(delta) == 1
    assert issubclass(delta[0].category, PrivacyLeakWarning)
    assert delta[0].filename == __file__
