"""DP-SGD pieces independent of skorch: the plan, noise, accounting, batches."""

import math
from functools import lru_cache
from typing import NamedTuple

import dp_accounting as dpa
import numpy as np
import torch
from skorch.dataset import Dataset
from torch.utils._pytree import tree_map
from torch.utils.data import Subset, default_collate

from ..accounting import dpsgd_noise_multiplier, epsilon_of, make_accountant
from ..accounting._calibration import (
    _sampled_gaussian_epsilon,
    subsampled_gaussian_pld,
)
from ..mechanisms import Gaussian, grid_granularity
from ..mechanisms._torch import TorchGaussian

#: Discretization of the PLD accountant of ``skpriv.accounting.make_accountant``.
PLD_INTERVAL = make_accountant("pld")._value_discretization_interval

__all__ = [
    "DPSGDPlan",
    "PoissonBatches",
    "calibrated_noise_multiplier",
    "dp_event_of",
    "noise_mechanism",
    "plan_dpsgd",
    "segments_epsilon",
]


class DPSGDPlan(NamedTuple):
    """What a DP-SGD fit on ``n_train`` rows does and spends (one source)."""

    batch_size: int
    sample_rate: float
    steps_per_epoch: int
    steps: int
    noise_multiplier: float
    event: dpa.DpEvent


def plan_dpsgd(
    n_train, batch_size, max_epochs, epsilon, delta, accountant, noise_multiplier=None
) -> DPSGDPlan:
    """The plan of a DP-SGD fit: the noise a fit adds and the event it records.

    ``fit`` trains with it and ``_planned_dp_event`` returns its ``event``, so
    the two cannot drift. ``noise_multiplier`` (given, or kept by
    ``partial_fit``) is the *accounted* multiplier; ``None`` calibrates it.
    """
    n = int(n_train)
    bs = n if batch_size == -1 else min(int(batch_size), n)
    q = bs / n
    steps_per_epoch = math.ceil(n / bs)
    steps = int(max_epochs) * steps_per_epoch
    if noise_multiplier is None:
        noise_multiplier = calibrated_noise_multiplier(
            float(epsilon), float(delta), q, steps, accountant
        )
    sigma = float(noise_multiplier)
    return DPSGDPlan(
        bs, q, steps_per_epoch, steps, sigma, dp_event_of(((q, sigma, steps),))
    )


def noise_mechanism(noise_multiplier, max_grad_norm, n_dims, device=None):
    """The grid-snapped Gaussian DP-SGD adds to the summed clipped gradients.

    The grid step ``g`` is that of ``noise_multiplier * max_grad_norm``;
    rounding ``n_dims`` coordinates to it adds ``sqrt(n_dims) * g`` to the L2
    sensitivity ``max_grad_norm``, so the noise standard deviation is
    ``noise_multiplier * (max_grad_norm + sqrt(n_dims) * g)``: the recorded
    ``GaussianDpEvent(noise_multiplier)`` holds exactly. ``None`` when
    ``noise_multiplier`` is 0 (no noise: not private, recorded as such).

    On the CPU it is numpy's :class:`~skpriv.mechanisms.Gaussian` (same grid,
    same guarantee; drawn from a ``numpy.random.Generator``), whose float64
    ziggurat normals cost about half of ``torch.randn``'s float64 Box-Muller
    there; elsewhere :class:`~skpriv.mechanisms.TorchGaussian` on the device.
    """
    sigma, clip = float(noise_multiplier), float(max_grad_norm)
    if sigma <= 0:
        return None
    granularity = grid_granularity(sigma * clip)
    std = sigma * (clip + math.sqrt(max(int(n_dims), 1)) * granularity)
    if device is not None and torch.device(device).type == "cpu":
        return Gaussian(std, granularity=granularity)
    return TorchGaussian(std, granularity=granularity)


@lru_cache(maxsize=256)
def calibrated_noise_multiplier(epsilon, delta, sample_rate, steps, accountant):
    """Cached :func:`skpriv.accounting.dpsgd_noise_multiplier` (a pure function)."""
    return dpsgd_noise_multiplier(
        epsilon, delta, sample_rate, steps, accountant=accountant
    )


def dp_event_of(segments):
    """The DP event of DP-SGD segments ``((sample_rate, sigma, steps), ...)``."""
    events = []
    for q, sigma, steps in segments:
        if steps <= 0:
            continue
        if sigma <= 0:
            return dpa.NonPrivateDpEvent()
        event = dpa.GaussianDpEvent(sigma)
        if q < 1:
            event = dpa.PoissonSampledDpEvent(q, event)
        events.append(dpa.SelfComposedDpEvent(event, int(steps)))
    if not events:
        return dpa.NoOpDpEvent()
    return events[0] if len(events) == 1 else dpa.ComposedDpEvent(events)


def _step_pld(sample_rate, sigma):
    """PLD of one Poisson-subsampled Gaussian step, as the PLD accountant builds it.

    Building it is the slow part of PLD accounting; it is cached (shared
    with the calibration, which already built it for the calibrated noise),
    so the per-epoch epsilon only pays for ``self_compose``.
    """
    return subsampled_gaussian_pld(sample_rate, sigma, PLD_INTERVAL)


@lru_cache(maxsize=1024)
def segments_epsilon(segments, delta, accountant):
    """Epsilon at ``delta`` of the DP-SGD ``segments`` (tuple of tuples).

    :func:`skpriv.accounting.epsilon_of` of :func:`dp_event_of`, cached. One
    fast path: for ``accountant="pld"`` and Poisson-sampled segments it makes
    the same dp-accounting calls as the PLD accountant behind ``epsilon_of``
    (``from_gaussian_mechanism(sigma, interval, sampling_prob=q)``,
    ``self_compose(steps)``, ``compose``), with the one-step PLD cached so the
    per-epoch epsilon of the history does not rebuild it (about 0.4 s each).
    It agrees with ``epsilon_of`` to float rounding (tested).
    """
    event = dp_event_of(segments)
    live = [s for s in segments if s[2] > 0]
    if (
        accountant == "pld"
        and live
        and all(0 < q < 1 and sigma > 0 for q, sigma, _ in live)
    ):
        if len(live) == 1:  # what the calibration computed (cached there)
            q, sigma, steps = live[0]
            return _sampled_gaussian_epsilon(q, sigma, int(steps), delta, PLD_INTERVAL)
        pld = None
        for q, sigma, steps in live:
            part = _step_pld(q, sigma).self_compose(int(steps))
            pld = part if pld is None else pld.compose(part)
        return float(pld.get_epsilon_for_delta(delta))
    return float(epsilon_of(event, delta, accountant))


def _fast_tensors(dataset):
    """``(X, y)`` tensors of a plain skorch Dataset (or a Subset of one)."""
    indices = None
    if isinstance(dataset, Subset):
        indices, dataset = np.asarray(dataset.indices), dataset.dataset
    if type(dataset) is not Dataset:  # a subclass may transform items
        return None
    X, y = dataset.X, dataset.y
    if not isinstance(X, (np.ndarray, torch.Tensor)):
        return None
    if y is not None and not isinstance(y, (np.ndarray, torch.Tensor)):
        return None
    if isinstance(X, np.ndarray) and X.dtype == object:
        return None
    X = torch.as_tensor(X)
    y = None if y is None else torch.as_tensor(y)
    if indices is not None:
        idx = torch.as_tensor(indices, dtype=torch.long)
        X = X[idx]
        y = None if y is None else y[idx]
    return X, y


def poisson_indices(n, sample_rate, rng):
    """One Poisson sample of ``range(n)`` in O(batch): sorted int64 indices.

    Drawing the batch size ``k ~ Binomial(n, q)`` and then ``k`` distinct
    indices uniformly gives exactly the distribution of independent
    inclusion of each row with probability ``q`` (given its size, a Poisson
    sample is a uniform subset of that size). ``Generator.choice`` without
    replacement uses Floyd's algorithm (O(k)) when ``k`` is small against
    ``n``, so a step costs O(batch), not O(n) as a uniform draw per row.
    """
    k = int(rng.binomial(n, sample_rate))
    if k == 0:
        return np.empty(0, dtype=np.int64)
    if k == n:
        return np.arange(n, dtype=np.int64)
    idx = rng.choice(n, size=k, replace=False, shuffle=False)
    idx.sort()  # locality of the gather; the order within a batch is free
    return idx.astype(np.int64, copy=False)


def data_fits_on_device(nbytes, device, fraction=0.5):
    """Whether ``nbytes`` fit in ``fraction`` of ``device``'s free memory."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return nbytes <= fraction * free
    return True  # other accelerators: as before, keep the data there


class PoissonBatches:
    """Iterable of Poisson-sampled batches: each row joins each batch w.p. q.

    The number of batches is fixed in advance (``steps``), batch sizes vary,
    and empty batches are yielded too (they still take a noisy step and are
    counted by the accountant). Each batch costs O(batch) to sample
    (:func:`poisson_indices`); the indices are drawn on the host, which never
    waits for the device, and copied to it without blocking.

    Parameters
    ----------
    dataset : torch Dataset
        Training data. Plain skorch ``Dataset``\\ s holding arrays or tensors are
        indexed in bulk; others item by item.
    sample_rate : float
        Probability q of each row to join a batch.
    steps : int
        Batches per pass.
    generator : numpy.random.Generator
        Source of the sampling randomness.
    device : str or torch.device
        Where the batches go.
    dtype : torch.dtype or None
        Floating dtype of the module; floating inputs are converted to it.
    data_on_device : {"auto", True, False}, default="auto"
        Keep the bulk-indexed tensors on ``device`` and gather batches there
        (``"auto"``: when they fit in half the device's free memory), or keep
        them on the host and copy each batch.
    shard : callable or None, default=None
        Distributed DP-SGD: maps the sampled (global) indices to this
        worker's part of them. The sample itself is drawn in full, so
        workers sharing ``generator``'s seed draw the same one.
    """

    def __init__(
        self,
        dataset,
        sample_rate,
        steps,
        generator,
        device,
        dtype,
        data_on_device="auto",
        shard=None,
    ):
        self.dataset = dataset
        self.shard = shard
        self.sample_rate = float(sample_rate)
        self.steps = int(steps)
        self.generator = generator
        self.n = len(dataset)
        self.device = torch.device(device if device is not None else "cpu")
        fast = _fast_tensors(dataset)
        self.on_device = False
        if fast is not None:
            X, y = fast
            if dtype is not None and X.is_floating_point() and X.dtype != dtype:
                X = X.to(dtype)
            nbytes = X.numel() * X.element_size()
            if y is not None:
                nbytes += y.numel() * y.element_size()
            if data_on_device == "auto":
                data_on_device = data_fits_on_device(nbytes, self.device)
            self.on_device = bool(data_on_device) or self.device.type == "cpu"
            if self.on_device:
                fast = (X.to(self.device), None if y is None else y.to(self.device))
            else:
                fast = (X, y)
        self.fast = fast

    def __len__(self):
        return self.steps

    def _indices(self):
        idx = poisson_indices(self.n, self.sample_rate, self.generator)
        return idx if self.shard is None else self.shard(idx)

    def __iter__(self):
        for _ in range(self.steps):
            idx = self._indices()
            if self.fast is not None:
                yield self._gather(torch.from_numpy(idx))
            else:
                yield self._collate(idx.tolist())

    def _gather(self, idx):
        X, y = self.fast
        if self.on_device:
            idx = idx.to(self.device, non_blocking=True)
            return X[idx], (None if y is None else y[idx])
        Xb, yb = X[idx], (None if y is None else y[idx])
        pin = self.device.type == "cuda"
        Xb = Xb.pin_memory().to(self.device, non_blocking=True) if pin else Xb
        if yb is not None and pin:
            yb = yb.pin_memory().to(self.device, non_blocking=True)
        return Xb, yb

    def _collate(self, idx):
        if idx:
            return default_collate([self.dataset[i] for i in idx])
        # An empty batch: collate one row and keep zero rows of it.
        one = default_collate([self.dataset[0]])
        return tree_map(lambda t: t[:0] if isinstance(t, torch.Tensor) else t, one)
