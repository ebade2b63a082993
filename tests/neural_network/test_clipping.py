"""PerSampleClipper against per-sample gradients computed one row at a time."""

import pytest
import torch
from torch import nn

from skpriv.neural_network._clipping import PerSampleClipper


class Mixed(nn.Module):
    """Linear on 2-D and sequence inputs, Embedding, LayerNorm, Conv1d, reuse."""

    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(11, 6)
        self.conv = nn.Conv1d(6, 6, kernel_size=3, padding=1)
        self.norm = nn.LayerNorm(6)
        self.seq = nn.Linear(6, 5)  # applied to (B, T, 6)
        self.shared = nn.Linear(5, 5)  # applied twice: weight sharing
        self.head = nn.Linear(5, 3)

    def forward(self, tokens):
        h = self.emb(tokens)  # (B, T, 6)
        h = self.conv(h.transpose(1, 2)).transpose(1, 2)
        h = torch.tanh(self.seq(self.norm(h)))  # (B, T, 5)
        h = torch.tanh(self.shared(h)).mean(1)
        h = torch.tanh(self.shared(h))
        return self.head(h)


def _reference(module, X, y, max_norm):
    """Clipped sum and norms, one sample at a time (the definition)."""
    params = [p for p in module.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    norms = []
    for i in range(len(X)):
        loss = nn.functional.cross_entropy(module(X[i : i + 1]), y[i : i + 1])
        grads = torch.autograd.grad(loss, params)
        norm = torch.sqrt(sum(g.square().sum() for g in grads))
        norms.append(norm)
        coef = min(1.0, max_norm / (float(norm) + 1e-6))
        for t, g in zip(total, grads):
            t += coef * g
    return total, torch.stack(norms)


def _clipped(module, X, y, max_norm, chunks=1):
    clipper = PerSampleClipper(module)
    norms = []
    try:
        for Xc, yc in zip(X.chunk(chunks), y.chunk(chunks)):
            clipper.active = True
            loss = nn.functional.cross_entropy(module(Xc), yc, reduction="sum")
            clipper.active = False
            norms.append(clipper.accumulate(loss, max_norm))
    finally:
        clipper.remove()
    return [p.grad for p in module.parameters()], torch.cat(norms)


@pytest.mark.parametrize("max_norm", [0.05, 1.0, 100.0])
@pytest.mark.parametrize("chunks", [1, 3])
def test_clipped_sum_matches_per_sample_definition(max_norm, chunks):
    torch.manual_seed(0)
    module = Mixed().double()
    X = torch.randint(0, 11, (12, 7))
    y = torch.randint(0, 3, (12,))
    ref, ref_norms = _reference(module, X, y, max_norm)
    got, norms = _clipped(module, X, y, max_norm, chunks)
    torch.testing.assert_close(norms, ref_norms.to(norms.dtype), rtol=1e-6, atol=1e-9)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-6, atol=1e-9)


def test_ghost_and_materialized_sequence_norms_agree():
    # T * (d + p) < d * p selects ghost norms; the other branch materializes.
    torch.manual_seed(1)
    for T, d, p in [(2, 30, 30), (20, 3, 3)]:
        layer = nn.Linear(d, p).double()
        X = torch.randn(5, T, d, dtype=torch.float64)
        clipper = PerSampleClipper(layer)
        clipper.active = True
        loss = layer(X).square().sum()
        norms = clipper.accumulate(loss, 1e9)
        clipper.remove()
        ref = []
        for i in range(5):
            gw, gb = torch.autograd.grad(
                layer(X[i]).square().sum(), [layer.weight, layer.bias]
            )
            ref.append(torch.sqrt(gw.square().sum() + gb.square().sum()))
        torch.testing.assert_close(norms, torch.stack(ref).float(), rtol=1e-5, atol=0)


def test_one_huge_row_contributes_at_most_max_grad_norm():
    torch.manual_seed(0)
    layer = nn.Linear(4, 2)
    X = torch.zeros(8, 4)
    X[3] = 1e6  # one row with a huge gradient, the others none
    clipper = PerSampleClipper(layer)
    clipper.active = True
    loss = layer(X).sum()
    clipper.active = False
    norms = clipper.accumulate(loss, 0.5)
    clipper.remove()
    total = torch.sqrt(
        layer.weight.grad.square().sum() + layer.bias.grad.square().sum()
    )
    assert norms[3] > 1e5
    # Seven rows with gradient (bias only) of norm sqrt(2), clipped to 0.5,
    # plus the huge row clipped to 0.5: the sum is at most 8 * 0.5.
    assert total <= 8 * 0.5 + 1e-5
    weight_norm = layer.weight.grad.norm()
    assert weight_norm <= 0.5 + 1e-6  # only the huge row touches the weight


def test_inplace_modified_output_is_refused():
    module = nn.Sequential(nn.Linear(3, 3), nn.ReLU(inplace=True), nn.Linear(3, 1))
    clipper = PerSampleClipper(module)
    clipper.active = True
    loss = module(torch.randn(4, 3)).sum()
    with pytest.raises(RuntimeError, match="inplace=False"):
        clipper.accumulate(loss, 1.0)
    clipper.remove()


def test_remove_leaves_a_picklable_module():
    import pickle

    module = nn.Sequential(nn.Linear(3, 3), nn.GELU(), nn.Linear(3, 1))
    clipper = PerSampleClipper(module)
    clipper.remove()
    assert not module._forward_hooks
    pickle.loads(pickle.dumps(module))


class Recurrent(nn.Module):
    """An Opacus recurrent layer (its cells' weights aliased on the layer)."""

    def __init__(self, layer):
        super().__init__()
        self.rnn = layer(4, 5, batch_first=True)
        self.head = nn.Linear(5, 3)

    def forward(self, X):
        out, _ = self.rnn(X)
        return self.head(out[:, -1])


@pytest.mark.parametrize("layer", ["DPLSTM", "DPGRU", "DPRNN"])
def test_opacus_recurrent_layers_match_per_sample_definition(layer):
    # The layers the clipper's own error message recommends for recurrence.
    from opacus import layers

    torch.manual_seed(2)
    module = Recurrent(getattr(layers, layer)).double()
    X = torch.randn(6, 4, 4, dtype=torch.float64)
    y = torch.randint(0, 3, (6,))
    ref, ref_norms = _reference(module, X, y, 0.5)
    got, norms = _clipped(module, X, y, 0.5)
    # The norms are summed in float32: agreement to float32 precision.
    torch.testing.assert_close(norms, ref_norms.to(norms.dtype), rtol=1e-5, atol=1e-7)
    for g, r in zip(got, ref):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)
