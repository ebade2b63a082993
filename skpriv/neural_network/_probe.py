"""Refuse modules and losses that mix the samples of a batch.

Per-sample clipping bounds one row's influence only if row ``i``'s output,
loss and gradient depend on row ``i`` alone. ``x - x.mean(0)`` in
``forward``, a loss across rows or a buffer updated from the batch (running
statistics) break that silently; Opacus' validator knows BatchNorm only. The
probe runs the module twice, in training mode and with the same random state,
on a small batch and on the same batch with its first row changed, and
refuses when another row's output or per-sample gradient norm, or a buffer,
moves.
"""

import torch
from torch.utils._pytree import tree_flatten, tree_unflatten

from ._utils import _sum_reduction

__all__ = ["check_no_sample_mixing"]

#: Rows of the probe batch.
PROBE_ROWS = 6


def _perturb_first_row(data):
    """A copy of ``data`` (tensor or nest of tensors) with row 0 changed."""
    leaves, spec = tree_flatten(data)
    out = []
    for leaf in leaves:
        if not isinstance(leaf, torch.Tensor) or leaf.dim() == 0 or len(leaf) < 2:
            out.append(leaf)
            continue
        new = leaf.clone()
        if leaf.is_floating_point():
            new[0] = leaf[0] + 0.5 + leaf[0].abs()
        elif not torch.equal(leaf[0], leaf[-1]):
            new[0] = leaf[-1]  # integer codes (token ids, labels): another row's
        else:
            new[0] = leaf[1]
        out.append(new)
    return tree_unflatten(out, spec)


def _rows(out):
    """The batch-indexed tensors of a module output (tensor or nest)."""
    leaves, _ = tree_flatten(out)
    return [t.detach() for t in leaves if isinstance(t, torch.Tensor) and t.dim()]


def _close(a, b):
    scale = 1.0 + float(torch.maximum(a.abs().max(), b.abs().max()))
    return bool(torch.allclose(a.double(), b.double(), rtol=1e-4, atol=1e-5 * scale))


def check_no_sample_mixing(net, Xp, yp, fit_params) -> None:
    """Raise ``ValueError`` if ``net.module_`` (or its loss) mixes rows.

    Parameters
    ----------
    net : DPNeuralNetMixin
        The net, with ``module_``, ``criterion_`` and the run's clipper.
    Xp, yp : tensors (or nests of tensors)
        A probe batch of at least two rows.
    fit_params : dict
        Passed to ``forward``.
    """
    module = net.module_
    clipper = net._dp_run_.clipper
    buffers = {name: b.detach().clone() for name, b in module.named_buffers()}
    devices = [
        d.index for d in {p.device for p in module.parameters()} if d.type == "cuda"
    ]

    def run(X, y):
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(0)  # same dropout masks in both runs
            clipper.active = True
            try:
                y_pred = net.infer(X, **fit_params)
                loss = net.get_loss(y_pred, y, X=X, training=True)
            finally:
                clipper.active = False
            norms = clipper.accumulate(loss, float("inf")).detach()
        for p in module.parameters():
            p.grad = None
        after = {name: b.detach().clone() for name, b in module.named_buffers()}
        with torch.no_grad():  # restore: the probe must leave no trace
            for name, b in module.named_buffers():
                b.copy_(buffers[name])
        return _rows(y_pred), norms, after

    module.train(True)
    with _sum_reduction(net.criterion_):
        out_a, norms_a, buf_a = run(Xp, yp)
        out_b, norms_b, buf_b = run(_perturb_first_row(Xp), _perturb_first_row(yp))
    problems = []
    for a, b in zip(out_a, out_b):
        if a.shape != b.shape or (len(a) > 1 and not _close(a[1:], b[1:])):
            problems.append(
                "the outputs of the other rows change when one row changes "
                "(e.g. x - x.mean(0), a batch-wide softmax or normalization)"
            )
            break
    if not problems and norms_a.numel() > 1 and norms_a.shape == norms_b.shape:
        if not _close(norms_a[1:], norms_b[1:]):
            problems.append(
                "the per-sample gradients of the other rows change when one row "
                "changes (the loss or the backward pass couples rows)"
            )
    moved = [n for n in buf_a if not torch.equal(buf_a[n], buf_b[n])]
    if moved:
        problems.append(
            f"buffers {moved} are updated from the batch in forward (running "
            f"statistics), which releases them without noise"
        )
    if problems:
        raise ValueError(
            f"{type(module).__name__} mixes the samples of a batch: "
            f"{'; '.join(problems)}. DP-SGD clips each sample's gradient, which "
            f"bounds one row's influence only if every row is processed on its "
            f"own. Compute per-row statistics (LayerNorm, GroupNorm) instead."
        )
