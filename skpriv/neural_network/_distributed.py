"""Distributed DP-SGD on ``torch.distributed``: one logical step over workers.

Every worker holds the same training data and draws the same Poisson sample
(its generator is seeded by rank 0); each clips the per-sample gradients of
its own contiguous shard of the sampled rows, one all-reduce sums the clipped
gradients, and every worker adds the *same* grid-snapped noise (drawn from a
generator seeded by rank 0), so noise is added once and the replicas stay
identical. The sample rate, the noise and the number of steps are those of
one process: the accounting does not change.
"""

from typing import NamedTuple

import numpy as np
import torch

__all__ = ["DistContext", "resolve_distributed"]


class DistContext:
    """The process group a fit runs on: rank, world size, collective device."""

    def __init__(self, rank: int, world_size: int, device: torch.device):
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.device = device

    def shard(self, indices: np.ndarray) -> np.ndarray:
        """This worker's contiguous part of the (sorted) sampled indices."""
        return np.array_split(indices, self.world_size)[self.rank]

    # -- collectives (all take the default process group) ---------------------
    def broadcast_ints(self, values) -> list:
        """Rank 0's ``values`` (int64) on every worker."""
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.int64, device=self.device)
        dist.broadcast(t, src=0)
        return [int(v) for v in t.cpu().tolist()]

    def same_everywhere(self, values) -> bool:
        """Whether every worker passed the same float64 ``values``."""
        import torch.distributed as dist

        t = torch.tensor(list(values), dtype=torch.float64, device=self.device)
        lo, hi = t.clone(), t.clone()
        dist.all_reduce(lo, op=dist.ReduceOp.MIN)
        dist.all_reduce(hi, op=dist.ReduceOp.MAX)
        # NaN never equals itself: compare with the NaNs masked.
        return bool(torch.equal(lo.nan_to_num(0.5), hi.nan_to_num(0.5)))

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every worker (as DDP does)."""
        import torch.distributed as dist

        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)

    def all_reduce_sum(self, tensors) -> None:
        """Sum ``tensors`` over the workers in place, one collective per dtype."""
        import torch.distributed as dist

        by_dtype = {}
        for t in tensors:
            by_dtype.setdefault(t.dtype, []).append(t)
        for group in by_dtype.values():
            flat = torch.cat([t.reshape(-1) for t in group])
            dist.all_reduce(flat, op=dist.ReduceOp.SUM)
            pos = 0
            for t in group:
                t.copy_(flat[pos : pos + t.numel()].view_as(t))
                pos += t.numel()


class _Group(NamedTuple):
    rank: int
    world_size: int
    backend: str


def _current_group():
    """The initialized default process group, or None."""
    try:
        import torch.distributed as dist
    except ImportError:  # pragma: no cover - torch built without it
        return None
    if not (dist.is_available() and dist.is_initialized()):
        return None
    return _Group(dist.get_rank(), dist.get_world_size(), str(dist.get_backend()))


def resolve_distributed(distributed, param_device) -> DistContext | None:
    """The context of a fit with ``distributed`` (``"auto"``, True or False).

    ``"auto"`` trains across the workers of an initialized default process
    group with more than one worker (as launched by ``torchrun``); ``True``
    requires one; ``False`` trains on this process alone.
    """
    if distributed is False:
        return None
    group = _current_group()
    if group is None:
        if distributed is True:
            raise ValueError(
                "distributed=True needs an initialized torch.distributed process "
                "group: launch the script with torchrun (e.g. torchrun "
                "--nproc_per_node=2 train.py) and call "
                "torch.distributed.init_process_group() before fit, or pass "
                "distributed='auto' (or False) to train on this process alone."
            )
        return None
    if group.world_size < 2 and distributed == "auto":
        return None
    device = torch.device(param_device)
    if group.backend == "nccl" and device.type != "cuda":
        raise ValueError(
            f"The process group uses the nccl backend, which needs CUDA tensors, "
            f"but the module is on {device}. Pass device=f'cuda:{{local_rank}}' "
            f"(each worker on its own GPU), or init the group with "
            f"backend='gloo' to train on CPUs."
        )
    if group.backend != "nccl":
        device = torch.device("cpu")  # gloo: CPU tensors everywhere
    return DistContext(group.rank, group.world_size, device)


def data_fingerprint(tensors) -> list:
    """Order-sensitive float64 sums of ``tensors`` (None entries count as 0).

    Workers compare them to detect different training data (a different
    ``X`` per worker would break the common Poisson sample the accounting
    assumes); they never leave the workers' process group.
    """
    out = []
    for t in tensors:
        if t is None:
            out += [0.0, 0.0, 0.0]
            continue
        flat = t.detach().reshape(len(t), -1).to(torch.float64)
        rows = flat.sum(1)
        weights = torch.cos(
            torch.arange(len(rows), dtype=torch.float64, device=rows.device)
        )
        out += [float(len(t)), float(rows.sum()), float((rows * weights).sum())]
    return out
