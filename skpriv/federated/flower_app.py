"""A Flower app to deploy with ``flwr run``: the fitted model saved where you say.

Point a Flower app's ``pyproject.toml`` at :data:`server_app` and
:data:`client_app` (:func:`write_app` writes one) and run it on a SuperLink
with one SuperNode per data holder::

    flower-superlink --insecure --disable-runtime-dependency-installation
    flower-supernode --insecure --superlink 127.0.0.1:9092 \\
        --port 9094 --node-config 'data-path="/data/site_a.npz"'
    flower-supernode --insecure --superlink 127.0.0.1:9092 \\
        --port 9095 --node-config 'data-path="/data/site_b.npz"'
    flwr run ./app local --run-config 'output="/models/fed.joblib"'

Everything comes from Flower's configuration, nothing from code:

- the **run configuration** (``[tool.flwr.app.config]``, overridden with
  ``flwr run --run-config``), the same for the server and every node:
  ``estimator`` (the unfitted :class:`~skpriv.federated.FederatedClassifier`
  or :class:`~skpriv.federated.FederatedRegressor`: its JSON text, or the
  path of a ``.json`` file or of a joblib pickle), ``output`` (where the
  server saves the fitted estimator), ``n-features``, ``n-clients`` (the
  SuperNodes the server waits for), and optionally ``round-timeout``,
  ``key-env`` (the name of an environment variable of the SuperLink's
  machine holding a :class:`~skpriv.encryption.Key`: the model is then
  written with :func:`skpriv.encryption.dump`), ``param-bound`` and
  ``max-client-rows`` (SecAgg+ bounds) and ``verbose``;
- each SuperNode's **node configuration** (``--node-config``): ``data-path``,
  the node's own rows (a ``.npz`` file with arrays ``X`` and ``y``, or a
  ``.csv`` whose last column, or the column ``label-column``, is the
  target), and optionally ``seed``.

The rounds, the classes (declare them with ``classes=`` on a classifier) and
everything else come from the estimator. The server writes the model only
when every round completed (atomically: a temporary file renamed over
``output``); a failed run writes nothing. Flower's logs are quiet unless
``verbose > 0``. Needs the ``federated`` extra.
"""

import importlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from flwr.client import ClientApp
from flwr.server import ServerApp

from . import flower  # noqa: F401  (raises the extra's ImportError early)
from ._base import BaseFederated
from ._flower_client import make_client
from ._flower_server import (
    _secagg_workflow,
    fitted_estimator,
    make_strategy,
)

__all__ = [
    "client_app",
    "dump_config",
    "load_config",
    "load_node_data",
    "server_app",
    "write_app",
]

#: The run-configuration keys and their defaults (``None``: required).
RUN_CONFIG = {
    "estimator": None,
    "output": None,
    "n-features": None,
    "n-clients": None,
    "round-timeout": 600.0,
    "key-env": "",
    "param-bound": 100.0,
    "max-client-rows": 0,
    "verbose": 0,
}


# ------------------------------------------------------------ configuration
def _public_path(cls):
    """The shortest import path of ``cls`` (``sklearn.linear_model.SGDClassifier``,
    not its private module), so the JSON reads as users write imports."""
    parts = cls.__module__.split(".")
    for i in range(1, len(parts) + 1):
        module = ".".join(parts[:i])
        try:
            if getattr(importlib.import_module(module), cls.__qualname__, None) is cls:
                return f"{module}.{cls.__qualname__}"
        except ImportError:  # pragma: no cover - a parent that does not import
            continue
    return f"{cls.__module__}.{cls.__qualname__}"  # pragma: no cover


def _encode(value):
    """A parameter value as JSON: estimators as ``{"class", "params"}``."""
    from sklearn.base import BaseEstimator

    if isinstance(value, BaseEstimator):
        return {
            "class": _public_path(type(value)),
            "params": {k: _encode(v) for k, v in value.get_params(deep=False).items()},
        }
    if isinstance(value, np.ndarray):
        return [_encode(v) for v in value.tolist()]
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ValueError(
        f"a parameter of type {type(value).__name__} cannot be written as "
        f"JSON; save the configuration with joblib.dump(estimator, "
        f"'config.joblib') and pass its path as the run config's estimator."
    )


def _decode(value):
    from sklearn.base import BaseEstimator

    if isinstance(value, dict):
        if set(value) != {"class", "params"}:
            raise ValueError(
                "an estimator in the configuration must be written as "
                '{"class": "module.Class", "params": {...}}.'
            )
        module, _, name = str(value["class"]).rpartition(".")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(
                f"cannot import the estimator class {value['class']!r} of the "
                f"configuration; install the package that provides it on every "
                f"node."
            ) from None
        if not (isinstance(cls, type) and issubclass(cls, BaseEstimator)):
            raise ValueError(
                f"{value['class']!r} in the configuration is not a scikit-learn "
                f"estimator class."
            )
        return cls(**{k: _decode(v) for k, v in value["params"].items()})
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def dump_config(estimator):
    """The JSON text of an unfitted federated estimator's configuration.

    Estimators (the federated one and its inner estimator) are written as
    ``{"class": "module.Class", "params": {...}}`` with their public import
    path; parameters must be JSON values (numbers, strings, lists, None).
    The text goes into the app's run configuration (:func:`write_app`).

    Parameters
    ----------
    estimator : FederatedClassifier or FederatedRegressor
        The configuration (its parameters, inner estimator included; any
        fitted state is ignored).

    Returns
    -------
    text : str
        JSON that :func:`load_config` turns back into an equal configuration.

    See Also
    --------
    load_config : The configuration back from the text.
    write_app : A Flower app whose run configuration holds it.

    Examples
    --------
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower_app import dump_config, load_config
    >>> fed = FederatedClassifier(SGDClassifier(alpha=1e-3), n_rounds=3,
    ...                           classes=[0, 1])
    >>> load_config(dump_config(fed)).get_params()["estimator__alpha"]
    0.001
    """
    if not isinstance(estimator, BaseFederated):
        raise TypeError(
            f"estimator must be a FederatedClassifier or FederatedRegressor; "
            f"got {type(estimator).__name__}."
        )
    return json.dumps(_encode(estimator), sort_keys=True)


def load_config(source):
    """An unfitted federated estimator from its JSON text or a saved file.

    The server and every node call it on the run configuration's
    ``estimator``; only scikit-learn estimator classes are built from JSON.

    Parameters
    ----------
    source : str or path-like
        JSON text (as from :func:`dump_config`), the path of a ``.json`` file
        holding it, or the path of a joblib pickle of the estimator (a pickle
        runs code when loaded: load only your own).

    Returns
    -------
    estimator : FederatedClassifier or FederatedRegressor
        The configuration, validated.

    See Also
    --------
    dump_config : Write the JSON text.

    Examples
    --------
    >>> from skpriv.federated.flower_app import load_config
    >>> text = ('{"class": "skpriv.federated.FederatedRegressor", '
    ...         '"params": {"n_rounds": 2}}')
    >>> load_config(text).n_rounds
    2
    """
    text = str(source).strip()
    if not text.startswith("{"):
        path = Path(text).expanduser()
        if not path.is_file():
            raise ValueError(
                f"the run config's estimator is neither JSON nor an existing "
                f"file: {str(path)!r} (relative paths are read from "
                f"{os.getcwd()!r})."
            )
        if path.suffix.lower() == ".json":
            text = path.read_text(encoding="utf-8")
        else:
            import joblib

            estimator = joblib.load(path)
            text = None
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"the estimator configuration is not valid JSON ({exc.msg} at "
                f"line {exc.lineno}); write it with dump_config."
            ) from None
        estimator = _decode(data)
    if not isinstance(estimator, BaseFederated):
        raise ValueError(
            f"the estimator configuration must be a FederatedClassifier or "
            f"FederatedRegressor; got {type(estimator).__name__}."
        )
    estimator._validate_params()
    return estimator


def _run_config(context):
    config = dict(context.run_config)
    missing = [k for k, v in RUN_CONFIG.items() if v is None and k not in config]
    if missing:
        raise ValueError(
            f"the Flower run config lacks {', '.join(missing)}; add them under "
            f"[tool.flwr.app.config] in the app's pyproject.toml (write_app "
            f"writes them) or pass --run-config to flwr run."
        )
    return {k: config.get(k, default) for k, default in RUN_CONFIG.items()}


def _positive_int(config, key, minimum=1):
    value = config[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(
            f"run config {key} must be an integer >= {minimum}; got {value!r}."
        )
    return value


def _classes(estimator):
    classes = getattr(estimator, "classes", None)
    if "classes" not in estimator.get_params(deep=False):
        return None  # a regressor
    if classes is None:
        raise ValueError(
            "a FederatedClassifier deployed on Flower needs its labels declared "
            "(public): set classes= on the configuration, e.g. "
            "FederatedClassifier(..., classes=[0, 1])."
        )
    return np.unique(np.asarray(classes))


def _quiet(verbose):
    from flwr.common.logger import FLOWER_LOGGER

    if not verbose:
        # Flower logs some 140 lines a run at INFO; verbose > 0 shows them.
        FLOWER_LOGGER.setLevel(logging.WARNING)


# --------------------------------------------------------------- node data
def load_node_data(path, label_column=None):
    """A node's rows from a ``.npz`` or ``.csv`` file.

    The client app reads the SuperNode's ``data-path`` (and
    ``label-column``) with it. Errors name the file, never a value in it.

    Parameters
    ----------
    path : str or path-like
        ``.npz`` with arrays ``X`` (2-d) and ``y``; or ``.csv`` with one row
        per sample, an optional header, and the target in the last column
        (or in the column named ``label_column``).
    label_column : str, default=None
        With a ``.csv`` file that has a header: the name of the target
        column.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
        The features, as floats.
    y : ndarray of shape (n_samples,)
        Integer or float targets when every value is a number, else strings.

    See Also
    --------
    write_app : The app whose nodes read their rows with it.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from skpriv.federated.flower_app import load_node_data
    >>> path = os.path.join(tempfile.mkdtemp(), "rows.csv")
    >>> with open(path, "w") as f:
    ...     _ = f.write("a,b,label\\n0.5,1.0,1\\n-0.5,2.0,0\\n")
    >>> X, y = load_node_data(path)
    >>> X.shape, y.tolist()
    ((2, 2), [1, 0])
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(
            f"node config data-path {str(path)!r} is not a file on this SuperNode."
        )
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as data:
            if "X" not in data or "y" not in data:
                raise ValueError(
                    f"{path.name} must hold arrays named X and y (np.savez(path, "
                    f"X=X, y=y)); it holds {sorted(data.files)}."
                )
            return np.asarray(data["X"], dtype=np.float64), np.asarray(data["y"])
    if suffix != ".csv":
        raise ValueError(f"data-path must be a .npz or .csv file; got {path.name!r}.")
    import csv

    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f) if r]
    if not rows:
        raise ValueError(f"{path.name} holds no rows.")
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    target = len(rows[0]) - 1 if rows else 0
    if label_column is not None:
        if header is None or label_column not in header:
            raise ValueError(
                f"label-column {label_column!r} is not in the header of {path.name}."
            )
        target = header.index(label_column)
    if not rows or any(len(r) != len(rows[0]) for r in rows):
        raise ValueError(
            f"{path.name} must have rows of equal length (and at least one)."
        )
    table = np.array(rows, dtype=object)
    features = [j for j in range(table.shape[1]) if j != target]
    try:
        X = table[:, features].astype(np.float64)
    except ValueError:
        # The value is not quoted: it is the node's private data.
        raise ValueError(
            f"{path.name} has a non-numeric feature value; encode the features "
            f"as numbers."
        ) from None
    raw = table[:, target].astype(str)
    try:
        y = raw.astype(np.float64)
        if np.all(y == np.round(y)):
            y = y.astype(np.int64)
    except ValueError:
        y = raw
    return X, y


# -------------------------------------------------------------------- apps
def _save(fitted, output, key_env):
    output = Path(output).expanduser()
    output.parent.mkdir(parents=True, exist_ok=True)
    if key_env:
        from ..encryption import Key, dump

        dump(fitted, output, Key.from_env(key_env))
        return
    import joblib

    # Atomic: a reader never sees half a model.
    tmp = output.with_name(f".{output.name}.{os.getpid()}.tmp")
    try:
        joblib.dump(fitted, tmp)
        os.replace(tmp, output)
    finally:
        if tmp.exists():
            tmp.unlink()


def _server_main(grid, context):
    from flwr.server import LegacyContext, ServerConfig

    config = _run_config(context)
    _quiet(config["verbose"])
    estimator = load_config(config["estimator"])
    n_features = _positive_int(config, "n-features")
    n_clients = _positive_int(config, "n-clients")
    if not str(config["output"]).strip():
        raise ValueError(
            "run config output is empty: pass --run-config 'output=\"/path/model.joblib\"'."
        )
    timeout = config["round-timeout"]
    timeout = None if timeout is None or float(timeout) <= 0 else float(timeout)
    strategy = make_strategy(
        estimator,
        n_features=n_features,
        n_clients=n_clients,
        classes=_classes(estimator),
        round_timeout=timeout,
        _secagg_ok=True,
        # Under DP the denominator is the declared population when there is
        # one, else the number of nodes the run waits for (both public).
        _public_clients=(
            None
            if estimator.n_clients is None and estimator.client_ids is None
            else estimator._n_clients()
        ),
    )
    server_config = ServerConfig(
        num_rounds=int(estimator.n_rounds), round_timeout=timeout
    )
    legacy = LegacyContext(context=context, config=server_config, strategy=strategy)
    if estimator.secure_aggregation:
        rows = _positive_int(config, "max-client-rows")
        workflow = _secagg_workflow(
            n_clients, timeout, float(config["param-bound"]), rows
        )
    else:
        from flwr.server.workflow import DefaultWorkflow

        workflow = DefaultWorkflow()
    workflow(grid, legacy)
    # Raises FederationFailedError (and writes nothing) when a round failed.
    fitted = fitted_estimator(strategy)
    _save(fitted, config["output"], config["key-env"])


def _client_fn(context):
    config = _run_config(context)
    _quiet(config["verbose"])
    estimator = load_config(config["estimator"])
    node = dict(context.node_config)
    if "data-path" not in node:
        raise ValueError(
            "this SuperNode has no data-path in its node config: start it with "
            "--node-config 'data-path=\"/path/rows.npz\"'."
        )
    X, y = load_node_data(node["data-path"], node.get("label-column"))
    if X.shape[1] != _positive_int(config, "n-features"):
        raise ValueError(
            f"this node's data has {X.shape[1]} features; the run config says "
            f"n-features={config['n-features']}."
        )
    bounds = {}
    if estimator.secure_aggregation:
        bounds = dict(
            param_bound=float(config["param-bound"]),
            max_client_rows=_positive_int(config, "max-client-rows"),
        )
    seed = node.get("seed")
    return make_client(
        estimator,
        X,
        y,
        classes=_classes(estimator),
        seed=None if seed is None else int(seed),
        **bounds,
    )


def _secure_mod(msg, context, call_next):
    """SecAgg+ on the client when its configuration asks for it.

    The node decides from its own run config, never from the message: a
    node configured for secure aggregation refuses a plain training round
    (which would send its update unmasked).
    """
    from flwr.app.message_type import MessageType
    from flwr.client.mod import secaggplus_mod
    from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS

    estimator = load_config(_run_config(context)["estimator"])
    if not estimator.secure_aggregation:
        return call_next(msg, context)
    if (
        msg.metadata.message_type == MessageType.TRAIN
        and RECORD_KEY_CONFIGS not in msg.content.config_records
    ):
        raise ValueError(
            "this node is configured for secure aggregation, but the server "
            "sent a plain training round; refusing to send an unmasked update."
        )
    return secaggplus_mod(msg, context, call_next)


#: Flower ``ServerApp``: runs the configured rounds and saves the model.
#: Reference it as ``skpriv.federated.flower_app:server_app``.
server_app = ServerApp()
server_app.main()(_server_main)

#: Flower ``ClientApp``: trains on the node's ``data-path`` rows.
#: Reference it as ``skpriv.federated.flower_app:client_app``.
client_app = ClientApp(client_fn=_client_fn, mods=[_secure_mod])


# ----------------------------------------------------------------- recipe
_PYPROJECT = """\
# A Flower app running skpriv's federated estimator (written by
# skpriv.federated.flower_app.write_app). Run it with `flwr run`.
[project]
name = "{name}"
version = "1.0.0"
description = "skpriv federated estimator on Flower"
license = "BSD-3-Clause"
dependencies = []

[tool.flwr.app]
publisher = "skpriv"

[tool.flwr.app.components]
serverapp = "skpriv.federated.flower_app:server_app"
clientapp = "skpriv.federated.flower_app:client_app"

[tool.flwr.app.config]
{config}
"""


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value))  # a TOML basic string


def write_app(
    directory,
    estimator,
    *,
    n_features,
    n_clients,
    output="model.joblib",
    round_timeout=600.0,
    key_env="",
    param_bound=100.0,
    max_client_rows=0,
    name="skpriv-federation",
):
    """Write a Flower app (``pyproject.toml``) that runs ``estimator``.

    The app's components are :data:`server_app` and :data:`client_app`; its
    run configuration holds the estimator's JSON configuration and the
    other settings (any of them can be overridden with ``flwr run
    --run-config``). Run it with ``flwr run DIRECTORY``.

    Parameters
    ----------
    directory : str or path-like
        Where to write ``pyproject.toml`` (created if missing).
    estimator : FederatedClassifier or FederatedRegressor
        The unfitted configuration; a classifier declares ``classes``.
    n_features : int
        Number of features of every node's data (public).
    n_clients : int
        Number of SuperNodes the server waits for each round.
    output : str, default="model.joblib"
        Where the server saves the fitted estimator (on the SuperLink's
        machine; a relative path is read from the directory the SuperLink
        was started in).
    round_timeout : float, default=600.0
        Seconds a round waits for its nodes (0: a day).
    key_env : str, default=""
        Name of an environment variable of the SuperLink's machine holding a
        :class:`~skpriv.encryption.Key` (base64): the model is then written
        encrypted with :func:`skpriv.encryption.dump`. Empty: joblib.
    param_bound : float, default=100.0
        With ``secure_aggregation=True``: SecAgg+'s parameter bound.
    max_client_rows : int, default=0
        With ``secure_aggregation=True``: the public bound on any node's rows
        (required then).
    name : str, default="skpriv-federation"
        The Flower app's project name.

    Returns
    -------
    path : pathlib.Path
        The ``pyproject.toml`` written.

    See Also
    --------
    dump_config : The estimator's JSON held in the run configuration.
    skpriv.federated.flower.make_server_app : A ``ServerApp`` built in code.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn.linear_model import SGDClassifier
    >>> from skpriv.federated import FederatedClassifier
    >>> from skpriv.federated.flower_app import write_app
    >>> fed = FederatedClassifier(SGDClassifier(), n_rounds=3, classes=[0, 1])
    >>> path = write_app(tempfile.mkdtemp(), fed, n_features=4, n_clients=2)
    >>> path.name
    'pyproject.toml'
    """
    text = dump_config(estimator)
    _classes(estimator)  # a classifier must declare its labels
    if estimator.secure_aggregation and int(max_client_rows) < 1:
        raise ValueError(
            "secure_aggregation=True needs max_client_rows, a public bound on "
            "any node's number of rows; pass e.g. max_client_rows=10_000."
        )
    config = {
        "estimator": text,
        "output": str(output),
        "n-features": int(n_features),
        "n-clients": int(n_clients),
        "round-timeout": float(round_timeout),
        "key-env": str(key_env),
        "param-bound": float(param_bound),
        "max-client-rows": int(max_client_rows),
        "verbose": int(estimator.verbose),
    }
    lines = "\n".join(f"{k} = {_toml_value(v)}" for k, v in config.items())
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "pyproject.toml"
    path.write_text(_PYPROJECT.format(name=name, config=lines), encoding="utf-8")
    return path
