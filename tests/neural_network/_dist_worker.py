"""A worker of the distributed DP-SGD test: ``python _dist_worker.py RANK WORLD PORT OUT``.

Run by tests/neural_network/test_distributed.py (two gloo processes on
loopback); not collected by pytest (no ``test_`` prefix).
"""

import sys
import warnings
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist


def data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, y


def net(random_state, distributed="auto", **kwargs):
    from skpriv.neural_network import DPNeuralNetClassifier
    from skpriv.neural_network._testing import TinyMLP

    params = dict(
        criterion=torch.nn.CrossEntropyLoss,
        noise_multiplier=1.0,
        max_grad_norm=0.5,
        max_epochs=2,
        batch_size=40,
        lr=0.3,
        classes=[0, 1, 2],
        module__hidden=16,
        accountant="rdp",  # cheaper than building a PLD in each worker
        verbose=0,
    )
    params.update(kwargs)
    return DPNeuralNetClassifier(
        TinyMLP, random_state=random_state, distributed=distributed, **params
    )


def state(fitted):
    return {
        "params": {
            k: v.detach().clone() for k, v in fitted.module_.state_dict().items()
        },
        "epsilon": fitted.epsilon_,
        "steps": fitted.steps_,
    }


def main(rank, world, port, out):
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{port}",
        rank=rank,
        world_size=world,
        timeout=timedelta(seconds=60),
    )
    try:
        X, y = data()
        result = {"seeded": state(net(0).fit(X, y))}
        # Each worker would draw its own seeds and module: rank 0's are used.
        result["unseeded"] = state(net(None).fit(X, y))
        result["chunked"] = state(net(0, max_physical_batch_size=7).fit(X, y))
        Xr = X if rank == 0 else X + 1.0  # a worker with other data
        try:
            net(0).fit(Xr, y)
            result["mismatch"] = None
        except ValueError as exc:
            result["mismatch"] = str(exc)
        torch.save(result, out)
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
