"""DPNeuralNetClassifier / DPNeuralNetRegressor as scikit-learn and skorch estimators."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback
from torch import nn

from skpriv.accounting import privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.neural_network import DPNeuralNetClassifier, DPNeuralNetRegressor
from skpriv.neural_network._testing import TinyMLP


def _clf(**kw):
    params = dict(
        criterion=nn.CrossEntropyLoss,
        max_epochs=3,
        batch_size=15,
        lr=0.5,
        epsilon=8.0,
        delta=1e-3,
        verbose=0,
        random_state=0,
        accountant="rdp",
    )
    params.update(kw)
    return DPNeuralNetClassifier(TinyMLP, **params)


def test_learns_with_string_labels(blobs):
    X, y = blobs
    labels = np.array(["cat", "dog", "eel"])[y]
    net = _clf(max_epochs=10).fit(X, labels)
    assert list(net.classes_) == ["cat", "dog", "eel"]
    pred = net.predict(X)
    assert pred.dtype.kind == "U" and set(pred) <= {"cat", "dog", "eel"}
    assert np.mean(pred == labels) > 0.8
    assert net.predict_proba(X).shape == (150, 3)


def test_classes_parameter_and_unknown_labels(blobs):
    X, y = blobs
    net = _clf(classes=[0, 1, 2, 3], max_epochs=1).fit(X, y)
    assert net.predict_proba(X).shape == (150, 4)
    with pytest.raises(ValueError, match="not among classes"):
        _clf(classes=[0, 1], max_epochs=1).fit(X, y)


@pytest.mark.parametrize(
    "classes, match",
    [([], "at least 2 classes"), ([0], "at least 2 classes"), ([0, 1, 1, 2], "repeat")],
)
def test_bad_classes_parameter(blobs, classes, match):
    X, y = blobs
    with pytest.raises(ValueError, match=match):
        _clf(classes=classes, max_epochs=1).fit(X, np.zeros_like(y))


def test_partial_fit_classes_argument(blobs):
    # As in scikit-learn: the first call names every class, even those its
    # batch lacks; later calls may repeat them, not change them.
    X, y = blobs
    net = _clf(max_epochs=1)
    net.partial_fit(X[:100], y[:100], classes=[0, 1, 2])
    assert list(net.classes_) == [0, 1, 2] and net.predict_proba(X).shape[1] == 3
    net.partial_fit(X[100:], y[100:], classes=[2, 1, 0])
    with pytest.raises(ValueError, match="not the same as on the first call"):
        net.partial_fit(X, y, classes=[0, 1, 2, 3])
    with pytest.raises(ValueError, match="classes parameter"):
        _clf(classes=[0, 1, 2]).partial_fit(X, y, classes=[0, 1])
    with pytest.raises(ValueError, match="at least 2 classes in classes"):
        _clf().partial_fit(X[:50], y[:50], classes=[0])
    with pytest.raises(ValueError, match="at least 2 classes in y"):
        _clf().fit(X[:50], y[:50])


def test_regressor_1d_and_2d_targets(linear_data):
    X, y = linear_data
    kw = dict(
        epsilon=8.0, delta=1e-3, max_epochs=10, batch_size=20, lr=0.2, accountant="rdp"
    )
    net = DPNeuralNetRegressor(TinyMLP, verbose=0, random_state=0, **kw).fit(X, y)
    assert net.predict(X).shape == (200,)
    assert net.score(X, y) > 0.5
    Y = np.c_[y, -y]
    net2 = DPNeuralNetRegressor(TinyMLP, verbose=0, random_state=0, **kw).fit(X, Y)
    assert net2.predict(X).shape == (200, 2) and net2.n_outputs_ == 2


def test_regressor_refuses_targets_beyond_float32(linear_data):
    # Finite in float64, infinite in float32: NaN weights and predictions.
    X, y = linear_data
    net = DPNeuralNetRegressor(TinyMLP, delta=1e-3, max_epochs=1, verbose=0)
    with pytest.raises(ValueError, match="y has values too large for float32"):
        net.fit(X, y * 1e300)
    y_nan = torch.as_tensor(np.where(np.arange(len(y)) == 0, np.nan, y))
    with pytest.raises(ValueError, match="y contains NaN"):
        net.fit(torch.as_tensor(X, dtype=torch.float32), y_nan)


def test_grid_search_over_epsilon_and_lr_in_pipeline(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), _clf(max_epochs=2))
    grid = {
        "dpneuralnetclassifier__epsilon": [1.0, 8.0],
        "dpneuralnetclassifier__lr": [0.1, 0.5],
    }
    search = GridSearchCV(pipe, grid, cv=2).fit(X, y)
    assert search.best_score_ > 0.5
    spent = privacy_spent(search, delta=1e-3, accountant="rdp")
    best = privacy_spent(search.best_estimator_, delta=1e-3, accountant="rdp")
    # Every candidate fit on every split plus the refit is counted.
    assert spent.epsilon > best.epsilon > 0
    assert best.epsilon <= search.best_params_["dpneuralnetclassifier__epsilon"]


def test_clone_set_params_and_fresh_privacy_engine(blobs):
    X, y = blobs
    net = _clf().fit(X, y)
    fresh = clone(net)
    assert not hasattr(fresh, "epsilon_") and fresh.get_params()["epsilon"] == 8.0
    fresh.set_params(epsilon=2.0, lr=0.1).fit(X, y)
    assert fresh.epsilon_ <= 2.0 and fresh.steps_ == net.steps_
    # Refitting the same object starts from a fresh ledger and module.
    first = [p.detach().clone() for p in net.module_.parameters()]
    net.fit(X, y)
    assert net.steps_ == fresh.steps_
    for a, b in zip(first, net.module_.parameters()):
        torch.testing.assert_close(a, b.detach())  # same seed, same result


def test_pickle_and_state_dict_have_no_opacus_prefix(blobs, tmp_path):
    X, y = blobs
    net = _clf().fit(X, y)
    keys = list(net.module_.state_dict())
    assert keys and not any(k.startswith("_module") for k in keys)
    assert not net.module_._forward_hooks
    loaded = pickle.loads(pickle.dumps(net))
    np.testing.assert_allclose(loaded.predict_proba(X), net.predict_proba(X))
    assert loaded.epsilon_ == net.epsilon_ and loaded.dp_event_ == net.dp_event_
    # skorch's save/load of parameters round-trips into a fresh net.
    path = tmp_path / "params.pt"
    net.save_params(f_params=path)
    other = _clf(module__n_features_in=4, module__n_outputs=3).initialize()
    other.load_params(f_params=path)
    other.classes_inferred_ = net.classes_
    other.n_features_in_ = 4
    np.testing.assert_allclose(other.predict_proba(X), net.predict_proba(X))
    # The unpickled net keeps training, accounting cumulatively.
    steps = loaded.steps_
    loaded.partial_fit(X, y)
    assert loaded.steps_ == 2 * steps and loaded.epsilon_ > net.epsilon_


def test_reproducible_and_seed_dependent(blobs):
    X, y = blobs
    a = _clf().fit(X, y).predict_proba(X)
    b = _clf().fit(X, y).predict_proba(X)
    c = _clf(random_state=1).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_float64_and_int_inputs_are_converted(blobs):
    X, y = blobs
    net = _clf(max_epochs=1).fit(X.astype(np.float64), y)
    assert net.predict(X.astype(np.float64)).shape == (150,)
    assert net.predict((X * 10).astype(int)).shape == (150,)
    # Tensors go to skorch as they are.
    proba = net.predict_proba(torch.as_tensor(X, dtype=torch.float32))
    assert proba.shape == (150, 3)


def test_float64_beyond_float32_range_is_refused(blobs):
    # Finite in float64, infinite once cast to the module's float32.
    X, y = blobs
    with pytest.raises(ValueError, match="float32"):
        _clf(max_epochs=1).fit(X * 1e300, y)
    net = _clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="float32"):
        net.predict(X * 1e300)


def test_float64_tensors_predict_like_they_fit(blobs):
    # fit converts floating tensors to the module's dtype; predict must too.
    X, y = blobs
    Xt = torch.as_tensor(X, dtype=torch.float64)
    net = _clf(max_epochs=1, module__n_features_in=4).fit(Xt, y)
    np.testing.assert_allclose(net.predict_proba(Xt), net.predict_proba(X))
    with pytest.raises(Exception, match="not initialized"):
        _clf().predict(Xt)


def test_2d_tensor_input_sizes_the_module(blobs):
    # The module's n_features_in comes from a 2-D tensor as from an array.
    X, y = blobs
    Xt = torch.as_tensor(X, dtype=torch.float32)
    net = _clf(max_epochs=1).fit(Xt, torch.as_tensor(y))
    assert net.n_features_in_ == 4 and net.module_.hidden.in_features == 4
    assert net.predict(Xt).shape == net.predict(X).shape == (150,)
    with pytest.raises(ValueError, match="X has 3 features"):
        net.predict(Xt[:, :3])
    with pytest.raises(ValueError, match="X has 3 features"):
        net.partial_fit(Xt[:, :3], y)
    # A refit on another kind of input forgets what the last one set.
    net.fit(pd.DataFrame(X, columns=list("abcd")), y)
    net.fit(Xt, y)
    assert not hasattr(net, "feature_names_in_")


def test_nan_in_tensor_input_is_refused(blobs):
    # One NaN row makes the clipped gradient sum, hence every weight, NaN.
    X, y = blobs
    Xt = torch.as_tensor(X, dtype=torch.float32)
    Xt[0, 0] = float("nan")
    with pytest.raises(ValueError, match="X contains NaN"):
        _clf(max_epochs=1).fit(Xt, y)
    net = _clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="X contains NaN"):
        net.predict(Xt)


class _CNN(nn.Module):
    def __init__(self, n_outputs=3):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 2)
        self.out = nn.Linear(2, n_outputs)

    def forward(self, X):
        return self.out(torch.tanh(self.conv(X)).flatten(1))


def test_image_arrays_are_accepted_like_skorch(blobs):
    # "Any form skorch accepts": a (n, channels, height, width) numpy array.
    X, y = blobs
    images = X.reshape(-1, 1, 2, 2)
    net = _clf(max_epochs=10).set_params(module=_CNN).fit(images, y)
    assert net.n_features_in_ == 1 and net.score(images, y) > 0.8
    with pytest.raises(ValueError, match="NaN"):
        net.predict(np.full_like(images, np.nan))


def test_history_and_epoch_log_show_epsilon(blobs, capsys):
    X, y = blobs
    net = _clf(verbose=1).fit(X, y)
    eps = net.history[:, "epsilon"]
    assert len(eps) == 3 and eps[-1] == pytest.approx(net.epsilon_)
    assert "epsilon" in capsys.readouterr().out


def test_skorch_callbacks_still_work(blobs):
    X, y = blobs
    seen = []

    class Count(Callback):
        def on_grad_computed(self, net, named_parameters, **kw):
            seen.append(1)

    net = _clf(callbacks=[Count()]).fit(X, y)
    assert len(seen) == net.steps_


@pytest.mark.parametrize(
    "params, match",
    [
        ({"epsilon": 0.0}, "epsilon"),
        ({"epsilon": -1.0}, "epsilon"),
        ({"epsilon": float("nan")}, "epsilon"),
        ({"delta": 0.0}, "delta"),
        ({"delta": 1.0}, "delta"),
        ({"max_grad_norm": 0.0}, "max_grad_norm"),
        ({"noise_multiplier": -1.0}, "noise_multiplier"),
        ({"accountant": "prv"}, "accountant"),
        ({"batch_size": 0}, "batch_size"),
        ({"max_physical_batch_size": 0}, "max_physical_batch_size"),
        ({"iterator_train__sampler": object()}, "iterator_train__sampler"),
        ({"iterator_train__shuffle": False}, "shuffle"),
    ],
)
def test_bad_parameters_fail_before_training(blobs, params, match):
    X, y = blobs
    net = _clf(**params)
    with pytest.raises(ValueError, match=match):
        net.fit(X, y)
    assert not hasattr(net, "dp_event_")


def test_batch_size_larger_than_n_is_clipped_with_warning(blobs):
    X, y = blobs
    with pytest.warns(UserWarning, match="clipped"):
        net = _clf(batch_size=1000, max_epochs=1).fit(X, y)
    assert net.sample_rate_ == 1.0


def test_delta_not_below_one_over_n_warns(blobs):
    X, y = blobs
    with pytest.warns(PrivacyLeakWarning, match="delta"):
        _clf(delta=0.1, max_epochs=1).fit(X, y)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_warnings_point_at_the_callers_line(blobs, method):
    from skorch.dataset import ValidSplit

    X, y = blobs
    net = _clf(max_epochs=1, batch_size=500, delta=0.1, train_split=ValidSplit(5))
    with pytest.warns(Warning) as record:
        getattr(net, method)(X, y)
    # train_split, batch_size clipped, delta >= 1/n, classes read from y.
    assert len(record) == 4
    assert {w.filename for w in record} == {__file__}


def test_train_split_is_off_by_default_and_warns_when_set(blobs):
    from skorch.dataset import ValidSplit

    X, y = blobs
    net = _clf(max_epochs=1).fit(X, y)
    assert "valid_loss" not in net.history[-1]
    with pytest.warns(PrivacyLeakWarning, match="train_split"):
        net = _clf(max_epochs=1, train_split=ValidSplit(5)).fit(X, y)
    assert net.sample_rate_ == pytest.approx(15 / 120)  # from the training part


def test_nan_and_sparse_inputs_are_refused(blobs):
    import scipy.sparse as sp

    X, y = blobs
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _clf().fit(Xn, y)
    with pytest.raises(TypeError, match="(?i)sparse"):
        _clf().fit(sp.csr_matrix(X), y)


class _WithBatchNorm(nn.Module):
    def __init__(self, n_features_in=4, n_outputs=3):
        super().__init__()
        self.linear = nn.Linear(n_features_in, 8)
        self.norm = nn.BatchNorm1d(8)
        self.out = nn.Linear(8, n_outputs)

    def forward(self, X):
        return self.out(torch.relu(self.norm(self.linear(X))))


def test_batchnorm_is_refused_with_the_fix_named(blobs):
    X, y = blobs
    net = _clf(max_epochs=1).set_params(module=_WithBatchNorm)
    with pytest.raises(ValueError, match="GroupNorm"):
        net.fit(X, y)
    fixed = _clf(max_epochs=1, fix_module=True).set_params(module=_WithBatchNorm)
    fixed.fit(X, y)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in fixed.module_.modules())


def test_fixed_batchnorm1d_still_learns(blobs):
    # Opacus swaps BatchNorm1d(8) for GroupNorm(8, 8): on (n, 8) inputs each
    # group is one value, normalized to 0, and the net outputs a constant.
    X, y = blobs
    net = _clf(max_epochs=10, fix_module=True).set_params(module=_WithBatchNorm)
    net.fit(X, y)
    norm = net.module_.norm
    assert isinstance(norm, nn.GroupNorm) and norm.num_groups == 1
    assert net.score(X, y) > 0.8
    seq = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8, eps=1e-3), nn.Linear(8, 3))
    nested = DPNeuralNetClassifier(seq, fix_module=True).initialize().module_
    assert isinstance(nested[1], nn.GroupNorm)
    assert (nested[1].num_groups, nested[1].eps) == (1, 1e-3)
    assert isinstance(seq[1], nn.BatchNorm1d)  # the user's module is unchanged


class _WithGRU(nn.Module):
    def __init__(self, n_outputs=3):
        super().__init__()
        self.rnn = nn.GRU(1, 8, batch_first=True)
        self.out = nn.Linear(8, n_outputs)

    def forward(self, X):
        return self.out(self.rnn(X.unsqueeze(-1))[0][:, -1])


def test_recurrent_layer_is_refused_then_fixed(blobs):
    # The error names what is wrong (not BatchNorm) and the working fix.
    X, y = blobs
    with pytest.raises(ValueError, match="fix_module=True") as info:
        _clf(max_epochs=1).set_params(module=_WithGRU).fit(X, y)
    assert "GRU" in str(info.value) and "BatchNorm mixes" not in str(info.value)
    net = _clf(max_epochs=1, fix_module=True).set_params(module=_WithGRU).fit(X, y)
    assert type(net.module_.rnn).__name__ == "DPGRU"


def test_inplace_activation_is_refused(blobs):
    class Inplace(nn.Module):
        def __init__(self, n_features_in=4, n_outputs=3):
            super().__init__()
            self.seq = nn.Sequential(
                nn.Linear(n_features_in, 8), nn.ReLU(inplace=True), nn.Linear(8, 3)
            )

        def forward(self, X):
            return self.seq(X)

    X, y = blobs
    with pytest.raises(RuntimeError, match="inplace=False"):
        _clf(max_epochs=1).set_params(module=Inplace).fit(X, y)


def test_lazy_modules_are_materialized(blobs):
    class Lazy(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq = nn.Sequential(nn.LazyLinear(8), nn.Tanh(), nn.LazyLinear(3))

        def forward(self, X):
            return self.seq(X)

    X, y = blobs
    net = _clf(max_epochs=2).set_params(module=Lazy).fit(X, y)
    assert net.module_.seq[0].weight.shape == (8, 4)
    assert net.steps_ == 2 * 10


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_fails_clearly(blobs):
    X, y = blobs
    with pytest.raises(ValueError, match="CUDA is not available"):
        _clf(device="cuda").fit(X, y)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_trains_end_to_end(blobs):
    X, y = blobs
    net = _clf(device="cuda", max_epochs=5).fit(X, y)
    assert all(p.device.type == "cuda" for p in net.module_.parameters())
    assert np.mean(net.predict(X) == y) > 0.8
    cpu = _clf(max_epochs=5).fit(X, y)
    assert net.epsilon_ == cpu.epsilon_


def test_import_error_names_the_extra():
    code = (
        "import sys; sys.modules['opacus'] = None\n"
        "try:\n    import skpriv.neural_network\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "pip install skpriv[torch]" in out


def test_importing_skpriv_does_not_import_torch():
    code = "import sys, skpriv, skpriv.accounting; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "False"


def test_warm_start_refit_checks_features_and_classes(blobs, linear_data):
    # A warm refit continues training the same module: data it cannot take
    # must be refused by name, not reach the module (or silently relabel it).
    X, y = blobs
    net = _clf(max_epochs=1, warm_start=True).fit(X, y)
    with pytest.raises(ValueError, match="X has 3 features"):
        net.fit(X[:, :3], y)
    with pytest.raises(ValueError, match="not among classes"):
        net.fit(X, y + 5)
    assert list(net.classes_) == [0, 1, 2]
    net.fit(X, y)  # the same data still continues
    assert net.steps_ == 2 * 10
    Xr, yr = linear_data
    reg = DPNeuralNetRegressor(
        TinyMLP, max_epochs=1, batch_size=20, delta=1e-3, verbose=0, warm_start=True
    ).fit(Xr, yr)
    with pytest.raises(ValueError, match="2 target"):
        reg.fit(Xr, np.c_[yr, yr])
