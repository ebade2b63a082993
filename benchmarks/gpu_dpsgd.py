"""DP-SGD on one GPU: skpriv against plain torch and Opacus (issue 20).

Run: ``flock /tmp/skpriv-bench.lock .venv/bin/python benchmarks/gpu_dpsgd.py``
(under 5 minutes on one GPU). Two models on generated data: an MLP
784-1024-1024-10 at batch 1024 and a 5-layer CNN with GroupNorm on 3x32x32 at
batch 512. Methods, measured in the same run: (a) plain torch (non-private
SGD), (b) Opacus in each of ``--opacus-modes`` (ghost clipping, hooks, ...),
(c) ``DPNeuralNetClassifier``. Reported: samples per second over the timed
steps (after ``--warmup`` untimed ones, the device synchronized at both ends)
and peak GPU memory (data included: every method keeps it on the device),
with ratios to plain torch.

Opacus is timed on fixed-size batches sliced from tensors on the device (its
Poisson DataLoader, which samples on the host and collates row by row, is
bypassed): that favours Opacus. skpriv runs its whole ``fit`` (Poisson
sampling on the device-held data, clipping, grid-safe noise); its steps are
timed by a callback. ``--cpu`` (or no CUDA) runs a small CPU version in
seconds (smaller widths and batches; no memory column).
"""

import argparse
import platform
import time
import warnings

import torch
from skorch.callbacks import Callback
from torch import nn

warnings.filterwarnings("ignore")


class MLP(nn.Module):
    def __init__(self, n_features_in=784, n_outputs=10, hidden=1024):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(n_features_in, hidden),
            nn.ReLU(),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, X):
        return self.net(X)


class CNN(nn.Module):
    """Four convolutions with GroupNorm and a linear head (5 layers)."""

    def __init__(self, n_outputs=10, width=32, in_channels=3):
        super().__init__()
        w = width

        def block(a, b, pool):
            layers = [nn.Conv2d(a, b, 3, padding=1), nn.GroupNorm(8, b), nn.ReLU()]
            return layers + ([nn.AvgPool2d(2)] if pool else [])

        self.features = nn.Sequential(
            *block(in_channels, w, False),
            *block(w, 2 * w, True),
            *block(2 * w, 4 * w, True),
            *block(4 * w, 4 * w, True),
            nn.AdaptiveAvgPool2d(2),
            nn.Flatten(),
        )
        self.head = nn.Linear(16 * w, n_outputs)

    def forward(self, X):
        return self.head(self.features(X))


def configs(cpu):
    """(name, module factory, input shape, batch, timed steps) per model."""
    if cpu:
        return [
            ("MLP 784-128-128-10", lambda: MLP(hidden=128), (784,), 64, 8),
            ("CNN 5-layer GroupNorm w=8", lambda: CNN(width=8), (3, 16, 16), 32, 4),
        ]
    return [
        ("MLP 784-1024-1024-10", lambda: MLP(), (784,), 1024, 60),
        ("CNN 5-layer GroupNorm w=32", lambda: CNN(), (3, 32, 32), 512, 40),
    ]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_memory(device):
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device):
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return float("nan")


def make_data(shape, n, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, *shape, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    return X.to(device), y.to(device)


def timed_loop(step, X, y, bs, warmup, steps, device):
    """Samples/s of ``step(xb, yb)`` over ``steps`` batches after ``warmup``."""
    perm = torch.randperm(len(X), device=device)
    for k in range(warmup + steps):
        if k == warmup:
            sync(device)
            start = time.perf_counter()
        idx = perm[(k * bs) % len(X) :][:bs]
        step(X[idx], y[idx])
    sync(device)
    return steps * bs / (time.perf_counter() - start)


def plain_torch(factory, X, y, bs, warmup, steps, device):
    torch.manual_seed(0)
    model = factory().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        opt.step()

    return timed_loop(step, X, y, bs, warmup, steps, device)


def opacus(factory, X, y, bs, warmup, steps, device, mode):
    from opacus import PrivacyEngine
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    model = factory().to(device)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    criterion = nn.CrossEntropyLoss()
    # Never iterated: it only tells Opacus the batch size.
    loader = DataLoader(TensorDataset(X[:bs].cpu(), y[:bs].cpu()), batch_size=bs)
    out = PrivacyEngine().make_private(
        module=model,
        optimizer=opt,
        data_loader=loader,
        criterion=criterion,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        poisson_sampling=False,
        grad_sample_mode=mode,
    )
    if mode.startswith("ghost"):
        model, opt, criterion, _ = out
    else:
        model, opt, _ = out

    def step(xb, yb):
        opt.zero_grad(set_to_none=True)
        criterion(model(xb), yb).backward()
        opt.step()

    return timed_loop(step, X, y, bs, warmup, steps, device)


class StepTimer(Callback):
    """Times training batches ``warmup + 1`` to ``total``, device synchronized.

    The clock stops at the last batch, before the epoch's accounting.
    """

    def __init__(self, warmup, total, device):
        self.warmup = warmup
        self.total = total
        self.device = device

    def on_epoch_begin(self, net, **kwargs):
        self.k, self.rows, self.start = 0, 0, None

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        self.k += 1
        if self.k == self.warmup:
            sync(self.device)
            self.start = time.perf_counter()
        elif self.k > self.warmup:
            self.rows += len(batch[0])
        if self.k == self.total:
            sync(self.device)
            self.rate = self.rows / (time.perf_counter() - self.start)


def skpriv_net(factory, X, y, bs, warmup, steps, device):
    from skpriv.neural_network import DPNeuralNetClassifier

    timer = StepTimer(warmup, warmup + steps, device)
    n = len(X)
    net = DPNeuralNetClassifier(
        factory,
        criterion=nn.CrossEntropyLoss,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        max_epochs=1,
        batch_size=bs,
        lr=0.05,
        classes=list(range(10)),
        delta=min(1e-5, 0.1 / n),
        callbacks=[("timer", timer)],
        device=str(device),
        distributed=False,
        verbose=0,
        random_state=0,
    )
    start = time.perf_counter()
    net.fit(X, y)  # tensors on the device: the fit keeps them there
    skpriv_net.fit_seconds = time.perf_counter() - start
    return timer.rate


def run(cpu, warmup, modes, only):
    device = torch.device("cpu" if cpu else "cuda")
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        where = f"{name}, torch {torch.__version__}, CUDA {torch.version.cuda}"
    else:
        where = f"CPU ({platform.machine()}), {torch.get_num_threads()} threads"
    import opacus as _opacus

    print(f"{time.strftime('%Y-%m-%d')}: {where}, Opacus {_opacus.__version__}")
    for name, factory, shape, bs, steps in configs(cpu):
        if only and not any(o.lower() in name.lower() for o in only):
            continue
        # One epoch of skpriv covers warmup + steps expected batches.
        n = bs * (warmup + steps)
        X, y = make_data(shape, n, device)
        methods = [("(a) plain torch", lambda: plain_torch)]
        methods += [(f"(b) Opacus {m}", lambda m=m: _mode(opacus, m)) for m in modes]
        methods += [("(c) skpriv DPNeuralNetClassifier", lambda: skpriv_net)]
        rows = []
        for label, get in methods:
            reset_memory(device)
            try:
                rate = get()(factory, X, y, bs, warmup, steps, device)
            except Exception as exc:  # a mode may not support this model or torch
                print(f"  {label}: {type(exc).__name__}: {str(exc)[:200]}")
                continue
            rows.append((label, rate, peak_memory(device)))
        base_rate, base_mem = rows[0][1], rows[0][2]
        opacus_rates = [r for label, r, _ in rows if "Opacus" in label]
        best_opacus = max(opacus_rates) if opacus_rates else float("nan")
        print(
            f"\n{name}, batch {bs}, {steps} timed steps after {warmup}, "
            f"n={n} generated rows, noise multiplier 1, C=1"
        )
        print(
            f"{'method':36s} {'samples/s':>11s} {'x torch':>8s} "
            f"{'x best Opacus':>14s} {'peak MiB':>9s} {'x torch mem':>12s}"
        )
        for label, rate, mem in rows:
            print(
                f"{label:36s} {rate:11.0f} {rate / base_rate:8.2f} "
                f"{rate / best_opacus:14.2f} {mem:9.0f} {mem / base_mem:12.2f}"
            )
        print(
            f"(skpriv's whole fit, setup and accounting included: "
            f"{getattr(skpriv_net, 'fit_seconds', float('nan')):.2f} s)"
        )
        del X, y


def _mode(fn, mode):
    def bound(*args):
        return fn(*args, mode)

    return bound


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", action="store_true", help="small CPU version")
    parser.add_argument("--warmup", type=int, default=None)
    parser.add_argument(
        "--opacus-modes",
        default="ghost,hooks",
        help="comma-separated grad_sample_mode values of Opacus",
    )
    parser.add_argument("--only", default="", help="model names to run (mlp, cnn)")
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    cpu = args.cpu or not torch.cuda.is_available()
    if args.threads:
        torch.set_num_threads(args.threads)
    warmup = args.warmup if args.warmup is not None else (2 if cpu else 5)
    modes = [m for m in args.opacus_modes.split(",") if m]
    only = [o for o in args.only.split(",") if o]
    run(cpu, warmup, modes, only)


if __name__ == "__main__":
    main()
