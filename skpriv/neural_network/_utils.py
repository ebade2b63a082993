"""Small helpers of the DP-SGD loop: layer replacement, batch slicing."""

import copy
from contextlib import contextmanager

import numpy as np
import scipy.sparse as sp
import torch

__all__ = []


def _batchnorm1d_to_layer_groupnorm(module):
    """A copy of ``module`` with each ``BatchNorm1d(C)`` as ``GroupNorm(1, C)``.

    Opacus' fix makes it ``GroupNorm(min(32, C), C)``: on the ``(n, C)`` inputs
    of an MLP with ``C <= 64`` its groups hold one or two values, normalized
    to a constant, so the layer erases its input. One group normalizes each
    sample over all its features (layer normalization), as sensible on
    ``(n, C, L)`` inputs. The given module (maybe the user's) is not modified.
    """

    def replace(layer):
        if isinstance(layer, torch.nn.BatchNorm1d):
            norm = torch.nn.GroupNorm(
                1, layer.num_features, eps=layer.eps, affine=layer.affine
            )
            if layer.weight is not None:
                norm = norm.to(device=layer.weight.device, dtype=layer.weight.dtype)
            return norm
        for name, child in layer.named_children():
            new = replace(child)
            if new is not child:
                setattr(layer, name, new)
        return layer

    if not any(isinstance(m, torch.nn.BatchNorm1d) for m in module.modules()):
        return module
    return replace(copy.deepcopy(module))


def _slice(data, start, stop):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _slice(v, start, stop) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return type(data)(_slice(v, start, stop) for v in data)
    return data[start:stop]


def _detach(y_pred):
    if isinstance(y_pred, torch.Tensor):
        return y_pred.detach()
    if isinstance(y_pred, (list, tuple)):
        return type(y_pred)(_detach(v) for v in y_pred)
    return y_pred


def _concat(preds):
    if isinstance(preds[0], torch.Tensor):
        return torch.cat(preds)
    if isinstance(preds[0], (list, tuple)):
        return type(preds[0])(_concat(list(parts)) for parts in zip(*preds))
    return preds[-1]


def _is_array_like(X) -> bool:
    if sp.issparse(X):
        return True
    if isinstance(X, (torch.Tensor, dict, torch.utils.data.Dataset)):
        return False
    if isinstance(X, (list, tuple)):
        # skorch reads a list/tuple of arrays as several inputs.
        return not any(isinstance(x, (np.ndarray, torch.Tensor)) for x in X)
    return hasattr(X, "__array__") or hasattr(X, "shape") or isinstance(X, list)


@contextmanager
def _sum_reduction(criterion):
    old = criterion.reduction
    criterion.reduction = "sum"
    try:
        yield
    finally:
        criterion.reduction = old


def _check_finite_tensor(X: torch.Tensor) -> None:
    # Tensors skip sklearn's validation; NaN would poison every weight.
    if X.is_floating_point() and not bool(torch.isfinite(X).all()):
        raise ValueError("Input X contains NaN or infinity.")
