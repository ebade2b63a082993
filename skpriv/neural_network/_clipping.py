"""Per-sample gradient clipping in one backward pass (book-keeping / ghost norms).

For every module that owns trainable parameters a forward hook records its
inputs and output. One ``torch.autograd.grad`` call then returns the gradient
of the summed loss with respect to each recorded output (the "backprops"),
without ever forming the parameters' batch gradients. From activations and
backprops:

- ``nn.Linear`` (and subclasses such as Opacus' ``RNNLinear``): per-sample
  gradient norms in closed form, ``||g_i||^2 ||a_i||^2`` for 2-D inputs, the
  ghost norm ``<a_i a_i^T, g_i g_i^T>`` for sequences (Li et al. 2021), or the
  materialized per-sample gradient when that is cheaper; the clipped sum is
  then one matrix product ``(c * g)^T a`` (book-keeping, Bu et al. 2022).
- every other layer: Opacus' registered per-sample gradient function
  (Embedding, Conv, LayerNorm, GroupNorm, ...), or Opacus' functorch fallback.

The cost is that of one ordinary forward and backward pass plus the norms.
"""

import torch
from opacus.grad_sample.functorch import ft_compute_per_sample_gradient
from opacus.grad_sample.grad_sample_module import GradSampleModule
from torch import nn

__all__ = ["PerSampleClipper"]


def _trainable(module: nn.Module) -> list:
    return [p for p in module.parameters(recurse=False) if p.requires_grad]


class PerSampleClipper:
    """Hooks a module; turns a summed loss into clipped summed gradients.

    Parameters
    ----------
    module : torch.nn.Module
        The module being trained. Only modules that own trainable parameters
        directly are hooked.
    """

    def __init__(self, module: nn.Module):
        self.module = module
        self.layers = []
        for name, layer in module.named_modules():
            # A parameter also registered on a sub-module is that sub-module's
            # (Opacus' DPLSTM/DPGRU/DPRNN alias their cells' weights).
            in_children = {
                id(p) for child in layer.children() for p in child.parameters()
            }
            params = [p for p in _trainable(layer) if id(p) not in in_children]
            if not params:
                continue
            child_params = any(
                p.requires_grad
                for child in layer.children()
                for p in child.parameters()
            )
            if (
                child_params
                and not isinstance(layer, nn.Linear)
                and type(layer) not in GradSampleModule.GRAD_SAMPLERS
            ):
                raise ValueError(
                    f"Layer {name!r} ({type(layer).__name__}) owns trainable "
                    f"parameters and also has sub-modules with parameters; "
                    f"per-sample gradients of such layers are not supported. "
                    f"Move its parameters into a sub-module of their own."
                )
            self.layers.append((name, layer, params))
        self.active = False
        self.records = {}
        self._handles = [
            layer.register_forward_hook(self._capture) for _, layer, _ in self.layers
        ]

    # -- hooks -------------------------------------------------------------
    def _capture(self, layer, inputs, output):
        if not (self.active and torch.is_grad_enabled()):
            return
        if not isinstance(output, torch.Tensor):
            raise TypeError(
                f"{type(layer).__name__} returned {type(output).__name__}; "
                f"per-sample clipping needs layers with trainable parameters to "
                f"return one tensor. For recurrent layers use Opacus' DPLSTM, "
                f"DPGRU or DPRNN (opacus.layers)."
            )
        acts = [t.detach() if isinstance(t, torch.Tensor) else t for t in inputs]
        self.records.setdefault(layer, []).append((acts, output, output._version))

    def remove(self) -> None:
        """Remove the hooks and functorch helpers (the module pickles again)."""
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self.records = {}
        for _, layer, _ in self.layers:
            if "ft_compute_sample_grad" in layer.__dict__:
                del layer.ft_compute_sample_grad

    # -- clipping ----------------------------------------------------------
    def accumulate(self, loss: torch.Tensor, max_grad_norm: float) -> torch.Tensor:
        """Add the per-sample-clipped gradient sum of ``loss`` to ``p.grad``.

        ``loss`` must be the *sum* of per-sample losses of the batch recorded
        since the last call. Returns the per-sample gradient norms (before
        clipping).
        """
        records, self.records = self.records, {}
        entries = []
        outputs = []
        for name, layer, params in self.layers:
            calls = records.get(layer, [])
            for _acts, out, version in calls:
                if out._version != version:
                    raise RuntimeError(
                        f"The output of layer {name!r} ({type(layer).__name__}) "
                        f"was modified in place after the layer ran (e.g. "
                        f"ReLU(inplace=True)); per-sample gradients need it "
                        f"intact. Use inplace=False."
                    )
            if calls:
                entries.append((name, layer, params, calls))
                outputs.extend(out for _, out, _ in calls)
        if not outputs:
            return torch.zeros(0)
        backprops = torch.autograd.grad(
            loss, outputs, allow_unused=True, materialize_grads=True
        )
        batch = backprops[0].shape[0] if backprops[0].dim() else 1
        device = backprops[0].device
        sq_norms = torch.zeros(batch, device=device, dtype=torch.float32)
        pending = []
        pos = 0
        for _name, layer, params, calls in entries:
            grads = backprops[pos : pos + len(calls)]
            pos += len(calls)
            if isinstance(layer, nn.Linear):
                item = self._linear_norms(layer, calls, grads, batch)
            else:
                item = self._generic_norms(layer, params, calls, grads)
            sq_norms += item[0]
            pending.append((layer, item))
        norms = sq_norms.sqrt()
        coef = (max_grad_norm / (norms + 1e-6)).clamp(max=1.0)
        for layer, item in pending:
            if isinstance(layer, nn.Linear):
                _, acts, grads = item
                scaled = grads * coef.to(grads.dtype).view(-1, 1, 1)
                flat_g = scaled.reshape(-1, scaled.shape[-1])
                if layer.weight.requires_grad:
                    flat_a = acts.reshape(-1, acts.shape[-1])
                    _add_grad(layer.weight, flat_g.t() @ flat_a)
                if layer.bias is not None and layer.bias.requires_grad:
                    _add_grad(layer.bias, flat_g.sum(0))
            else:
                _, per_sample = item
                for p, gs in per_sample.items():
                    c = coef.to(gs.dtype).view(-1, *([1] * (gs.dim() - 1)))
                    _add_grad(p, (gs * c).sum(0))
        return norms

    @staticmethod
    def _linear_norms(layer, calls, grads, batch):
        # Sequence view: (B, T, features); several calls concatenate along T.
        acts = [
            c[0][0].to(g.dtype).reshape(batch, -1, layer.in_features)
            for c, g in zip(calls, grads)
        ]
        grads = [g.reshape(batch, -1, layer.out_features) for g in grads]
        a = acts[0] if len(acts) == 1 else torch.cat(acts, dim=1)
        g = grads[0] if len(grads) == 1 else torch.cat(grads, dim=1)
        T = a.shape[1]
        sq = torch.zeros(batch, device=g.device, dtype=torch.float32)
        if layer.weight.requires_grad:
            if T == 1:
                sq += (g.square().sum((1, 2)) * a.square().sum((1, 2))).float()
            elif T * (layer.in_features + layer.out_features) < (
                layer.in_features * layer.out_features
            ):
                aa = torch.bmm(a, a.transpose(1, 2))
                gg = torch.bmm(g, g.transpose(1, 2))
                sq += (aa * gg).sum((1, 2)).float()
            else:
                sq += torch.einsum("btp,btd->bpd", g, a).square().sum((1, 2)).float()
        if layer.bias is not None and layer.bias.requires_grad:
            sq += g.sum(1).square().sum(1).float()
        return sq, a, g

    @staticmethod
    def _generic_norms(layer, params, calls, grads):
        sampler = GradSampleModule.GRAD_SAMPLERS.get(type(layer))
        per_sample = {}
        for (acts, _, _), g in zip(calls, grads):
            if sampler is not None:
                got = sampler(layer, acts, g)
            else:
                got = ft_compute_per_sample_gradient(layer, acts, g)
            for p, gs in got.items():
                if not p.requires_grad:
                    continue
                per_sample[p] = gs if p not in per_sample else per_sample[p] + gs
        missing = [p for p in params if p not in per_sample]
        if missing:
            raise ValueError(
                f"No per-sample gradient for {len(missing)} parameter(s) of "
                f"{type(layer).__name__}; this layer is not supported."
            )
        batch = grads[0].shape[0]
        sq = torch.zeros(batch, device=grads[0].device, dtype=torch.float32)
        for gs in per_sample.values():
            sq += gs.reshape(batch, -1).square().sum(1).float()
        return sq, per_sample


def _add_grad(param: torch.Tensor, grad: torch.Tensor) -> None:
    grad = grad.to(param.dtype)
    if param.grad is None:
        param.grad = grad.clone() if grad.data_ptr() == param.data_ptr() else grad
    else:
        param.grad.add_(grad)
