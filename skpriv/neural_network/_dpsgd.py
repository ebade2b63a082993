"""DP-SGD pieces independent of skorch: Poisson batches, accounting, calibration."""

import math
from functools import lru_cache

import dp_accounting as dpa
import numpy as np
import torch
from dp_accounting.pld.privacy_loss_distribution import (
    from_gaussian_mechanism,
)
from skorch.dataset import Dataset
from torch.utils._pytree import tree_map
from torch.utils.data import Subset, default_collate

from ..accounting import dpsgd_noise_multiplier, make_accountant

#: Discretization of the PLD accountant of ``skpriv.accounting.make_accountant``.
PLD_INTERVAL = make_accountant("pld")._value_discretization_interval

__all__ = [
    "PoissonBatches",
    "calibrated_noise_multiplier",
    "dp_event_of",
    "epsilon_of",
]


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


@lru_cache(maxsize=64)
def _step_pld(sample_rate, sigma):
    """PLD of one Poisson-subsampled Gaussian step, as the PLD accountant builds it.

    Building it is the slow part of PLD accounting; caching it makes the
    per-epoch epsilon cheap (only ``self_compose`` remains).
    """
    return from_gaussian_mechanism(
        standard_deviation=sigma,
        value_discretization_interval=PLD_INTERVAL,
        sampling_prob=sample_rate,
    )


@lru_cache(maxsize=1024)
def epsilon_of(segments, delta, accountant):
    """Epsilon at ``delta`` of the DP-SGD ``segments`` (tuple of tuples).

    Equal to composing :func:`dp_event_of` with
    ``skpriv.accounting.make_accountant(accountant)``.
    """
    event = dp_event_of(segments)
    if isinstance(event, dpa.NoOpDpEvent):
        return 0.0
    if isinstance(event, dpa.NonPrivateDpEvent):
        return math.inf
    if accountant == "pld" and all(q < 1 for q, _, _ in segments):
        pld = None
        for q, sigma, steps in segments:
            if steps <= 0:
                continue
            part = _step_pld(q, sigma).self_compose(int(steps))
            pld = part if pld is None else pld.compose(part)
        return float(pld.get_epsilon_for_delta(delta))
    acc = make_accountant(accountant)
    acc.compose(event)
    return float(acc.get_epsilon(delta))


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


class PoissonBatches:
    """Iterable of Poisson-sampled batches: each row joins each batch w.p. q.

    The number of batches is fixed in advance (``steps``), batch sizes vary,
    and empty batches are yielded too (they still take a noisy step and are
    counted by the accountant).

    Parameters
    ----------
    dataset : torch Dataset
        Training data. Plain skorch ``Dataset``\\ s holding arrays or tensors are
        indexed in bulk; others item by item.
    sample_rate : float
        Probability q of each row to join a batch.
    steps : int
        Batches per pass.
    generator : torch.Generator
        CPU generator for the sampling masks.
    device : str or torch.device
        Where the bulk-indexed tensors live.
    dtype : torch.dtype or None
        Floating dtype of the module; floating inputs are converted to it.
    """

    def __init__(self, dataset, sample_rate, steps, generator, device, dtype):
        self.dataset = dataset
        self.sample_rate = float(sample_rate)
        self.steps = int(steps)
        self.generator = generator
        self.n = len(dataset)
        fast = _fast_tensors(dataset)
        if fast is not None:
            X, y = fast
            if dtype is not None and X.is_floating_point() and X.dtype != dtype:
                X = X.to(dtype)
            device = device if device is not None else "cpu"
            fast = (X.to(device), None if y is None else y.to(device))
        self.fast = fast

    def __len__(self):
        return self.steps

    def _indices(self):
        mask = torch.rand(self.n, generator=self.generator) < self.sample_rate
        return mask.nonzero().squeeze(1)

    def __iter__(self):
        for _ in range(self.steps):
            idx = self._indices()
            if self.fast is not None:
                X, y = self.fast
                idx = idx.to(X.device)
                yield X[idx], (None if y is None else y[idx])
            else:
                yield self._collate(idx.tolist())

    def _collate(self, idx):
        if idx:
            return default_collate([self.dataset[i] for i in idx])
        # An empty batch: collate one row and keep zero rows of it.
        one = default_collate([self.dataset[0]])
        return tree_map(lambda t: t[:0] if isinstance(t, torch.Tensor) else t, one)
