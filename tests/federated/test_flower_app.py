"""The deployable Flower app (issue 14): configuration, node data, and a real
SuperLink with two SuperNodes on loopback driven by ``flwr run``."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import SGDClassifier
from sklearn.preprocessing import StandardScaler

pytest.importorskip("flwr")

from skpriv.federated import (  # noqa: E402
    FederatedClassifier,
    FederatedRegressor,
    flower_app,
)


def test_config_round_trips_through_json(tmp_path):
    fed = FederatedClassifier(
        SGDClassifier(alpha=1e-3, learning_rate="constant", eta0=0.05),
        n_rounds=4,
        clip_norm=1.0,
        noise_multiplier=0.5,
        n_clients=20,
        classes=np.array([0, 1, 2]),
        random_state=3,
    )
    text = flower_app.dump_config(fed)
    assert "sklearn.linear_model.SGDClassifier" in text  # the public path
    back = flower_app.load_config(text)
    params, expected = back.get_params(), fed.get_params()
    assert type(back) is FederatedClassifier
    assert params["classes"] == [0, 1, 2]
    for key in ("n_rounds", "estimator__alpha", "estimator__eta0", "random_state"):
        assert params[key] == expected[key]
    (tmp_path / "fed.json").write_text(text)
    assert flower_app.load_config(tmp_path / "fed.json").n_clients == 20
    import joblib

    joblib.dump(FederatedRegressor(n_rounds=2), tmp_path / "fed.joblib")
    assert flower_app.load_config(tmp_path / "fed.joblib").n_rounds == 2


def test_config_errors_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="neither JSON nor an existing file"):
        flower_app.load_config(tmp_path / "missing.json")
    with pytest.raises(ValueError, match="not valid JSON"):
        flower_app.load_config("{not json")
    with pytest.raises(ValueError, match="not a scikit-learn estimator"):
        flower_app.load_config('{"class": "os.path", "params": {}}')
    with pytest.raises(ValueError, match="cannot import"):
        flower_app.load_config('{"class": "nowhere.Thing", "params": {}}')
    with pytest.raises(ValueError, match="FederatedClassifier or"):
        flower_app.load_config(
            '{"class": "sklearn.linear_model.SGDClassifier", "params": {}}'
        )
    with pytest.raises(ValueError, match="JSON"):
        flower_app.dump_config(
            FederatedClassifier(random_state=np.random.default_rng())
        )
    with pytest.raises(ValueError, match="classes="):
        flower_app.write_app(tmp_path, FederatedClassifier(), n_features=3, n_clients=2)
    with pytest.raises(ValueError, match="max_client_rows"):
        flower_app.write_app(
            tmp_path,
            FederatedRegressor(secure_aggregation=True),
            n_features=3,
            n_clients=3,
        )


def test_node_data_from_npz_and_csv(tmp_path):
    X = np.arange(12.0).reshape(4, 3)
    np.savez(tmp_path / "a.npz", X=X, y=np.array([0, 1, 0, 1]))
    Xa, ya = flower_app.load_node_data(tmp_path / "a.npz")
    np.testing.assert_array_equal(Xa, X)
    assert ya.tolist() == [0, 1, 0, 1]
    (tmp_path / "b.csv").write_text("y,f1,f2\ncat,1,2\ndog,3,4\n")
    Xb, yb = flower_app.load_node_data(tmp_path / "b.csv", label_column="y")
    assert Xb.tolist() == [[1, 2], [3, 4]] and yb.tolist() == ["cat", "dog"]
    (tmp_path / "c.csv").write_text("1.5,2,0.25\n3,4,0.5\n")
    Xc, yc = flower_app.load_node_data(tmp_path / "c.csv")
    assert Xc.shape == (2, 2) and yc.tolist() == [0.25, 0.5]
    (tmp_path / "d.csv").write_text("a,b\nsecret-value,1\n")
    with pytest.raises(ValueError, match="non-numeric") as info:
        flower_app.load_node_data(tmp_path / "d.csv")
    assert "secret" not in str(info.value)
    np.savez(tmp_path / "e.npz", features=X)
    with pytest.raises(ValueError, match="X and y"):
        flower_app.load_node_data(tmp_path / "e.npz")
    (tmp_path / "f.txt").write_text("1")
    with pytest.raises(ValueError, match=".npz or .csv"):
        flower_app.load_node_data(tmp_path / "f.txt")
    with pytest.raises(ValueError, match="not a file"):
        flower_app.load_node_data(tmp_path / "nothing.npz")


class _Context:
    def __init__(self, run_config, node_config=None):
        self.run_config = run_config
        self.node_config = node_config or {}


def test_client_fn_reads_node_and_run_config(tmp_path):
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    np.savez(tmp_path / "rows.npz", X=X, y=y)
    fed = FederatedClassifier(n_rounds=2, classes=[0, 1], random_state=0)
    run = {
        "estimator": flower_app.dump_config(fed),
        "output": str(tmp_path / "m.joblib"),
        "n-features": 4,
        "n-clients": 2,
    }
    node = {"data-path": str(tmp_path / "rows.npz"), "seed": 1}
    client = flower_app._client_fn(_Context(run, node))
    from flwr.client import Client

    assert isinstance(client, Client)
    with pytest.raises(ValueError, match="data-path"):
        flower_app._client_fn(_Context(run, {}))
    with pytest.raises(ValueError, match="n-features=5"):
        flower_app._client_fn(_Context({**run, "n-features": 5}, node))
    with pytest.raises(ValueError, match="lacks n-clients"):
        flower_app._server_main(
            None, _Context({k: run[k] for k in run if k != "n-clients"})
        )


def _free_ports(k):
    socks = [socket.socket() for _ in range(k)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _descendants(pid):
    """Every live descendant of ``pid`` (Linux /proc), to stop what Flower
    started in sessions of their own (SuperExec, ServerApp, ClientApps)."""
    children = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _stop(procs):
    pids = []
    for proc in procs:
        pids += [proc.pid, *_descendants(proc.pid)]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    for pid in pids:  # only processes this test started, by id
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for proc in procs:
        proc.wait(timeout=10)


def _wait_port(port, deadline):
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.2)
    return False


def _tail(path, n=3000):
    try:
        return Path(path).read_text(errors="replace")[-n:]
    except OSError:
        return ""


@pytest.mark.slow
def test_superlink_and_two_supernodes_with_flwr_run(tmp_path):
    bindir = Path(sys.executable).parent
    tools = {t: bindir / t for t in ("flower-superlink", "flower-supernode", "flwr")}
    missing = [t for t, p in tools.items() if not p.exists()]
    if missing:
        pytest.skip(f"Flower's command line tools are not installed: {missing}")
    X, y = make_classification(
        n_samples=600, n_features=6, n_informative=4, n_classes=3, random_state=0
    )
    X = StandardScaler().fit_transform(X)
    clients = np.arange(len(y)) % 2
    for k in range(2):
        np.savez(tmp_path / f"node{k}.npz", X=X[clients == k], y=y[clients == k])
    # Seed-free local training (no shuffling, constant step), so the real
    # deployment and the in-process fit must agree up to float rounding.
    fed = FederatedClassifier(
        SGDClassifier(learning_rate="constant", eta0=0.01, shuffle=False),
        n_rounds=2,
        classes=[0, 1, 2],
        random_state=0,
    )
    output = tmp_path / "out" / "model.joblib"
    flower_app.write_app(
        tmp_path / "app", fed, n_features=6, n_clients=2, output="unused.joblib"
    )
    link, node0, node1 = _free_ports(3)
    home = tmp_path / "flwr"
    home.mkdir()
    (home / "config.toml").write_text(
        '[superlink]\ndefault = "local"\n\n[superlink.local]\n'
        f'address = "127.0.0.1:{link}"\ninsecure = true\n'
    )
    env = {
        **os.environ,
        "FLWR_HOME": str(home),
        "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    logs = {name: tmp_path / f"{name}.log" for name in ("link", "node0", "node1")}

    def start(name, *args):
        with open(logs[name], "w") as log:
            return subprocess.Popen(
                [str(a) for a in args],
                env=env,
                cwd=tmp_path,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a process group to stop as one
            )

    procs = []
    deadline = time.monotonic() + 120
    try:
        procs.append(
            start(
                "link",
                tools["flower-superlink"],
                "--insecure",
                "--disable-runtime-dependency-installation",
                "--host",
                "127.0.0.1",
                "--port",
                link,
            )
        )
        assert _wait_port(link, deadline), _tail(logs["link"])
        for k, port in enumerate((node0, node1)):
            procs.append(
                start(
                    f"node{k}",
                    tools["flower-supernode"],
                    "--insecure",
                    "--superlink",
                    f"127.0.0.1:{link}",
                    "--port",
                    port,
                    "--node-config",
                    f'data-path="{tmp_path / f"node{k}.npz"}" seed={k}',
                )
            )
        submitted = subprocess.run(
            [
                tools["flwr"],
                "run",
                tmp_path / "app",
                "local",
                "--run-config",
                f'output="{output}"',
                "--format",
                "json",
            ],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert submitted.returncode == 0, submitted.stdout + submitted.stderr
        assert json.loads(submitted.stdout)["success"]
        while not output.exists() and time.monotonic() < deadline:
            if any(p.poll() is not None for p in procs):
                break
            time.sleep(0.5)
    finally:
        _stop(procs)
    assert output.exists(), "\n".join(_tail(p) for p in logs.values())
    import joblib

    deployed = joblib.load(output)
    local = fed.fit(X, y, clients=clients)
    assert deployed.n_rounds_ == 2 and len(deployed.history_) == 2
    np.testing.assert_allclose(
        deployed.estimator_.coef_, local.estimator_.coef_, rtol=1e-6, atol=1e-8
    )
    assert np.mean(deployed.predict(X) == local.predict(X)) >= 0.99
    assert not list(output.parent.glob(".*.tmp"))  # written atomically
    for pid in [p.pid for p in procs]:
        assert not _descendants(pid)


def test_the_model_is_saved_encrypted_when_a_key_is_configured(tmp_path, monkeypatch):
    from skpriv.encryption import Key, load

    key = Key.generate()
    text = key.export()
    monkeypatch.setenv("FED_KEY", text if isinstance(text, str) else text.decode())
    X, y = make_classification(
        n_samples=40, n_features=3, n_informative=2, n_redundant=0, random_state=0
    )
    fed = FederatedClassifier(n_rounds=1, classes=[0, 1], random_state=0)
    fed.fit(X, y, clients=np.arange(40) % 2)
    out = tmp_path / "sub" / "model.skpriv"
    flower_app._save(fed, out, "FED_KEY")
    back = load(
        out,
        Key.from_env("FED_KEY"),
        trusted=["skpriv.federated._adapters.LinearPartialFitAdapter"],
    )
    np.testing.assert_array_equal(back.predict(X), fed.predict(X))
    flower_app._save(fed, tmp_path / "plain.joblib", "")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain.joblib", "sub"]
