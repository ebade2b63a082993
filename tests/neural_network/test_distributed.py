"""Issue 20: distributed DP-SGD on torch.distributed (gloo on loopback)."""

import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset

from skpriv.neural_network import DPNeuralNetClassifier
from skpriv.neural_network._distributed import DistContext, resolve_distributed
from skpriv.neural_network._dpsgd import PoissonBatches

WORKER = Path(__file__).with_name("_dist_worker.py")
ROOT = Path(__file__).resolve().parents[2]


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _launch(world, tmp_path, timeout=240, tries=2):
    """Run ``world`` gloo workers on loopback; their results, one per rank.

    The free port is released before the workers bind it; another process
    taking it meanwhile makes one more try on another port.
    """
    for attempt in range(tries):
        ok, result = _launch_once(world, tmp_path / str(attempt), timeout)
        if ok or "Address already in use" not in result:
            break
    assert ok, result
    return result


def _launch_once(world, tmp_path, timeout):
    tmp_path.mkdir()
    port = _free_port()
    env = {
        **os.environ,
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": str(port),
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    outs = [tmp_path / f"rank{r}.pt" for r in range(world)]
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(r), str(world), str(port), str(out)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for r, out in enumerate(outs)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=timeout)[0].decode(errors="replace"))
    finally:
        for p in procs:  # a hung worker must not outlive the test
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, log in zip(procs, logs):
        if p.returncode != 0:
            return False, log[-3000:]
    return True, [torch.load(out, weights_only=False) for out in outs]


def _assert_same_params(a, b, atol):
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=atol, rtol=0, msg=k)


@pytest.mark.slow
def test_two_gloo_workers_train_the_model_of_one_process(tmp_path):
    sys.path.insert(0, str(WORKER.parent))
    try:
        import _dist_worker as w
    finally:
        sys.path.remove(str(WORKER.parent))
    ranks = _launch(2, tmp_path)
    X, y = w.data()
    single = w.net(0, distributed=False).fit(X, y)
    one = w.state(single)
    for r in ranks:
        # Same sampled batches, noise and accounting as one process; only the
        # order of the float32 sums of the clipped gradients differs.
        _assert_same_params(r["seeded"]["params"], one["params"], atol=1e-5)
        assert r["seeded"]["epsilon"] == one["epsilon"]
        assert r["seeded"]["steps"] == one["steps"]
        _assert_same_params(r["chunked"]["params"], one["params"], atol=1e-5)
        assert "same training data" in r["mismatch"]
    # The replicas agree exactly (one all-reduce result, one noise draw),
    # also when each worker would draw its own seeds (random_state=None).
    for kind in ("seeded", "unseeded"):
        _assert_same_params(ranks[0][kind]["params"], ranks[1][kind]["params"], 0)
    # A different seed gives a different model (the comparison can fail).
    other = w.state(w.net(1, distributed=False).fit(X, y))
    with pytest.raises(AssertionError):
        _assert_same_params(ranks[0]["seeded"]["params"], other["params"], 1e-5)


def test_distributed_true_without_a_process_group_is_a_clear_error():
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    net = DPNeuralNetClassifier(
        torch.nn.Linear,
        module__in_features=3,
        module__out_features=2,
        criterion=torch.nn.CrossEntropyLoss,
        noise_multiplier=1.0,
        max_epochs=1,
        batch_size=5,
        classes=[0, 1],
        distributed=True,
        delta=1e-3,
        verbose=0,
    )
    with pytest.raises(ValueError, match="torchrun"):
        net.fit(X, y)
    with pytest.raises(ValueError, match="distributed"):
        net.set_params(distributed="yes").fit(X, y)


def test_auto_and_false_train_alone_without_a_process_group():
    assert resolve_distributed("auto", "cpu") is None
    assert resolve_distributed(False, "cpu") is None


@pytest.mark.parametrize("world", [1, 2, 3, 5])
def test_shards_partition_the_common_sample(world):
    # Row i holds the value i, so a batch shows which rows it sampled.
    dataset = Dataset(np.arange(50, dtype=np.float32)[:, None], None)

    def batches(shard=None):
        rng = np.random.default_rng(0)
        it = PoissonBatches(dataset, 0.3, 30, rng, "cpu", None, shard=shard)
        return [X[:, 0].numpy().astype(int) for X, _ in it]

    full = batches()
    parts = [
        batches(DistContext(r, world, torch.device("cpu")).shard) for r in range(world)
    ]
    for step, idx in enumerate(full):
        shards = [p[step] for p in parts]
        assert np.array_equal(np.concatenate(shards), idx)
        sizes = [len(s) for s in shards]
        assert max(sizes) - min(sizes) <= 1


def test_data_fingerprint_tells_reordered_or_changed_rows_apart():
    from skpriv.neural_network._distributed import data_fingerprint

    X = torch.arange(12.0).reshape(6, 2)
    y = torch.tensor([0, 1, 0, 1, 1, 0])
    same = data_fingerprint([X.clone(), y.clone()])
    assert data_fingerprint([X, y]) == same
    assert data_fingerprint([X.flip(0), y]) != same  # same sums, other order
    assert data_fingerprint([X, 1 - y]) != same
    assert data_fingerprint([X[:5], y[:5]]) != same
    assert len(data_fingerprint([X, None])) == len(same)
