"""The DP-SGD training loop shared by the skorch-based private nets.

skorch's ``NeuralNet`` owns the estimator interface (callbacks, ``module__*``
routing, history, prediction). This mixin replaces the parts of its training
loop that touch the data: the training iterator (Poisson sampling), the train
step (per-sample clipping, Gaussian noise) and the bookkeeping of the privacy
spent (``steps_``, ``epsilon_``, ``dp_event_``).
"""

import inspect
import math
import warnings
from contextlib import contextmanager
from numbers import Integral, Real

import numpy as np
import torch
from opacus.validators import ModuleValidator
from skorch.dataset import get_len, unpack_data
from skorch.net import NeuralNet
from skorch.utils import is_dataset
from torch.nn.parameter import UninitializedParameter
from torch.utils.data import DataLoader

from ..base import DP, PUBLIC, declared_releases, privacy_constraints
from ..exceptions import PrivacyLeakWarning
from ..mechanisms import Gaussian
from ..utils._errors import call_hiding_values
from ..utils._random import check_random_state
from ..utils._sklearn_compat import (
    Interval,
    StrOptions,
    validate_data,
    validate_parameter_constraints,
)
from ..utils._stack import user_stacklevel
from ..utils._validation import check_delta, check_epsilon
from ._callbacks import audit_callbacks, enforce, split_kind
from ._clipping import PerSampleClipper
from ._distributed import data_fingerprint, resolve_distributed
from ._dpsgd import (
    PoissonBatches,
    _fast_tensors,
    dp_event_of,
    noise_mechanism,
    plan_dpsgd,
    segments_epsilon,
)
from ._probe import PROBE_ROWS, check_no_sample_mixing
from ._utils import (
    _batchnorm1d_to_layer_groupnorm,
    _check_finite_tensor,
    _concat,
    _detach,
    _is_array_like,
    _slice,
    _sum_reduction,
)

__all__ = ["DPNeuralNetMixin"]

_DP_PARAMS = (
    "epsilon",
    "delta",
    "max_grad_norm",
    "noise_multiplier",
    "accountant",
    "max_physical_batch_size",
    "fix_module",
    "data_on_device",
    "distributed",
    "random_state",
)

#: Parameters skorch would use to build the training DataLoader; DP-SGD
#: draws its own Poisson batches, so these would silently do nothing.
_FORBIDDEN_ITERATOR_PARAMS = ("sampler", "batch_sampler", "batch_size", "drop_last")


class _Run:
    """Transient state of one ``fit``/``partial_fit`` call (never pickled)."""

    clipper = None
    sampler_gen = None
    batches = None
    finite = None
    noise_gen = None
    noise_rng = None
    mechanism = None
    sample_rate = None
    steps_per_epoch = None
    expected_batch = None
    dist = None


class DPNeuralNetMixin:
    """DP-SGD for skorch nets; put it left of ``NeuralNetClassifier`` etc."""

    #: What a fit releases (see skpriv.base). The module and the optimizer's
    #: state are functions of the noisy gradients; the rest is parameters,
    #: the row count n (public) and skorch's bookkeeping. ``history_`` and
    #: ``callbacks_`` depend on the callbacks: see ``_release_kinds``.
    _privacy_releases = {
        "module_": DP,
        "optimizer_": DP,
        "criterion_": PUBLIC,
        "history_": PUBLIC,
        "callbacks_": PUBLIC,
        "noise_multiplier_": PUBLIC,
        "epsilon_": PUBLIC,
        "sample_rate_": PUBLIC,
        "steps_": PUBLIC,
        "dp_segments_": PUBLIC,
        "initialized_": PUBLIC,
        "init_context_": PUBLIC,
        "prefixes_": PUBLIC,
        "cuda_dependent_attributes_": PUBLIC,
        "virtual_params_": PUBLIC,
    }

    def _release_kinds(self):
        kinds = dict(declared_releases(type(self)))
        split = split_kind(self.train_split)
        callbacks = getattr(self, "callbacks_", None) or []
        reason = audit_callbacks(callbacks, split).uncovered_reason(split)
        if reason is not None:
            kinds["history_"] = kinds["callbacks_"] = f"uncovered: {reason}"
        elif split == "public":
            # Scores of the DP module on the user's public validation set.
            kinds["history_"] = kinds["callbacks_"] = DP
        return kinds

    @property
    def _default_callbacks(self):
        # skorch's train_loss is the exact mean loss of the private batch.
        return [
            (name, cb)
            for name, cb in super()._default_callbacks
            if name != "train_loss"
        ]

    _dp_parameter_constraints = {
        **privacy_constraints("epsilon", "random_state"),
        "delta": [Interval(Real, 0, 1, closed="neither")],
        "max_grad_norm": [Interval(Real, 0, None, closed="neither")],
        "noise_multiplier": [Interval(Real, 0, None, closed="left"), None],
        "accountant": [StrOptions({"pld", "rdp"})],
        "max_physical_batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "fix_module": ["boolean"],
        "data_on_device": ["boolean", StrOptions({"auto"})],
        "distributed": ["boolean", StrOptions({"auto"})],
    }

    # -- validation --------------------------------------------------------
    def _dp_validate_params(self) -> None:
        params = {name: getattr(self, name) for name in _DP_PARAMS}
        validate_parameter_constraints(
            self._dp_parameter_constraints, params, caller_name=type(self).__name__
        )
        check_epsilon(self.epsilon)
        check_delta(self.delta, allow_zero=False)
        if not (isinstance(self.max_epochs, Integral) and self.max_epochs >= 1):
            raise ValueError(
                f"max_epochs must be an int >= 1; got {self.max_epochs!r}."
            )
        bs = self.batch_size
        if not (isinstance(bs, Integral) and not isinstance(bs, bool)) or (
            bs < 1 and bs != -1
        ):
            raise ValueError(
                f"batch_size must be a positive int (the expected Poisson batch "
                f"size) or -1 for full batches; got {bs!r}."
            )
        device = self.device
        if (
            device is not None
            and torch.device(device).type == "cuda"
            and not torch.cuda.is_available()
        ):
            raise ValueError(
                f"device={device!r} was requested but CUDA is not available on "
                f"this machine (torch {torch.__version__}). Use device='cpu', or "
                f"install a CUDA build of torch on a machine with a GPU."
            )
        if self.iterator_train is not DataLoader:
            raise ValueError(
                "iterator_train cannot be replaced: DP-SGD draws its own "
                "Poisson-sampled batches, which the privacy accounting relies on. "
                "Leave iterator_train at its default."
            )
        it_params = self.get_params_for("iterator_train")
        for key in _FORBIDDEN_ITERATOR_PARAMS:
            if key in it_params:
                raise ValueError(
                    f"iterator_train__{key} is not supported: DP-SGD forms "
                    f"batches by Poisson sampling (each row joins each batch "
                    f"with probability batch_size / n_samples), which the "
                    f"privacy accounting relies on. Set batch_size instead."
                )
        if it_params.get("shuffle", True) is not True:
            raise ValueError(
                "iterator_train__shuffle=False cannot be honoured: DP-SGD batches "
                "are Poisson samples, drawn at random. Remove the parameter."
            )

    def _get_param_names(self):
        # skorch lists every public attribute; its private bookkeeping
        # (``_params_to_validate``, ...) is no parameter.
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    # -- data --------------------------------------------------------------
    def _dp_prepare(self, X, y, reset, classes=None):
        """Validate array-like data (sklearn-style) and convert dtypes."""
        if _is_array_like(X):
            if y is None:
                X = validate_data(self, X, reset=reset, dtype="numeric", allow_nd=True)
            else:
                X, y = validate_data(
                    self,
                    X,
                    y,
                    reset=reset,
                    dtype="numeric",
                    allow_nd=True,  # images (n, channels, h, w), as skorch
                    multi_output=True,
                    y_numeric=self._y_numeric,
                )
            # Torch modules compute in float32; ints and float64 are converted
            # (pass a tensor to keep integer inputs such as token ids).
            X = self._cast_input(X)
        elif isinstance(X, torch.Tensor):
            _check_finite_tensor(X)
            if reset:
                # Size the module from a 2-D tensor as from an array (other
                # shapes, e.g. images, have no n_features_in_).
                for attr in ("n_features_in_", "feature_names_in_"):
                    self.__dict__.pop(attr, None)
                if X.ndim == 2:
                    self.n_features_in_ = int(X.shape[1])
            else:
                self._check_tensor_features(X)
        if y is not None:
            y = self._encode_target(y, reset=reset, classes=classes)
        return X, y

    _y_numeric = False

    def _encode_target(self, y, reset, classes=None):  # pragma: no cover
        return y

    def _input_dtype(self):
        dtype = self._module_dtype() if hasattr(self, "module_") else None
        if dtype is None:
            return np.float32
        return torch.empty(0, dtype=dtype).numpy().dtype

    def _cast_input(self, X):
        dtype = self._input_dtype()
        with np.errstate(over="ignore"):
            X_cast = X.astype(dtype, copy=False)
        if X_cast is not X and not np.isfinite(X_cast).all():
            raise ValueError(
                f"X has values too large for {np.dtype(dtype).name}, the dtype "
                f"of the module's parameters (largest magnitude "
                f"{np.abs(X).max():.3g}); rescale the features."
            )
        return X_cast

    def _check_tensor_features(self, X):
        n_features = getattr(self, "n_features_in_", None)
        if X.ndim == 2 and n_features is not None and X.shape[1] != n_features:
            raise ValueError(
                f"X has {X.shape[1]} features, but {type(self).__name__} is "
                f"expecting {n_features} features as input."
            )

    def _predict_input(self, X):
        if _is_array_like(X):
            self.check_is_fitted()
            X = validate_data(self, X, reset=False, dtype="numeric", allow_nd=True)
            X = self._cast_input(X)
        elif isinstance(X, torch.Tensor):
            _check_finite_tensor(X)
            self._check_tensor_features(X)
            # As in training (PoissonBatches): floating tensors take the
            # module's dtype.
            dtype = self._module_dtype() if hasattr(self, "module_") else None
            if X.is_floating_point() and dtype is not None and X.dtype != dtype:
                X = X.to(dtype)
        return X

    def check_data(self, X, y):
        """Require ``y`` unless ``X`` is a Dataset.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Training data.
        y : array-like or None
            Targets.
        """
        if y is None and not is_dataset(X):
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y "
                f"is None (or pass a torch Dataset yielding (X, y) as X)."
            )

    def _module_dtype(self):
        for p in self.module_.parameters():
            if not isinstance(p, UninitializedParameter) and p.is_floating_point():
                return p.dtype
        return None

    # -- initialization ----------------------------------------------------
    def _inferred_module_kwargs(self) -> dict:
        """Fill ``n_features_in`` / ``n_outputs`` of the module from the data."""
        module = self.module
        if not inspect.isclass(module):
            return {}
        try:
            sig = inspect.signature(module.__init__)
        except (TypeError, ValueError):
            return {}
        given = self.get_params_for("module")
        found = {}
        if "n_features_in" in sig.parameters and "n_features_in" not in given:
            if hasattr(self, "n_features_in_"):
                found["n_features_in"] = int(self.n_features_in_)
        if "n_outputs" in sig.parameters and "n_outputs" not in given:
            n_out = self._inferred_n_outputs()
            if n_out is not None:
                found["n_outputs"] = int(n_out)
        return found

    def _inferred_n_outputs(self):  # pragma: no cover - per subclass
        return None

    def _seed(self, purpose: int) -> int:
        """A seed for torch, derived from ``random_state`` and the steps so far."""
        rs = self.random_state
        if rs is None or isinstance(rs, np.random.Generator):
            rng = check_random_state(rs)
        else:
            base = check_random_state(rs).integers(0, 2**62)
            rng = np.random.default_rng(
                [int(base), purpose, getattr(self, "steps_", 0)]
            )
        return int(rng.integers(0, 2**62))

    @contextmanager
    def _seeded_torch(self, purpose):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self._seed(purpose))
            yield

    def initialize_module(self):
        """Build the module, seeded by ``random_state``.

        ``n_features_in`` / ``n_outputs`` are filled from the data when the
        module's constructor takes them; ``fix_module=True`` replaces layers
        that break per-sample privacy.

        Returns
        -------
        self : object
            The net, with ``module_`` set.
        """
        kwargs = {**self.get_params_for("module"), **self._inferred_module_kwargs()}
        self._check_module_arguments(kwargs)
        with self._seeded_torch(1):
            module = self.initialized_instance(self.module, kwargs)
        if self.fix_module:
            module = ModuleValidator.fix(_batchnorm1d_to_layer_groupnorm(module))
        self.module_ = module
        return self

    def _check_module_arguments(self, kwargs):
        """A clear error when the module needs a width the data did not give."""
        module = self.module
        if not inspect.isclass(module):
            return
        try:
            sig = inspect.signature(module.__init__)
        except (TypeError, ValueError):
            return
        where = {
            "n_features_in": "the width of a 2-D X (X here is not a 2-D array "
            "or tensor)",
            "n_outputs": "y (the classes, or the target columns)",
        }
        for name, source in where.items():
            param = sig.parameters.get(name)
            if (
                param is not None
                and param.default is inspect.Parameter.empty
                and name not in kwargs
            ):
                extra = (
                    " or classes=[...]"
                    if name == "n_outputs" and self._y_classes
                    else ""
                )
                raise ValueError(
                    f"module {module.__name__} requires {name!r}, which "
                    f"{type(self).__name__} infers from {source}; it could not "
                    f"be inferred here. Pass module__{name}=<int>{extra}."
                )

    _y_classes = False

    def initialize(self):
        """Initialize the net and start a fresh privacy ledger.

        Returns
        -------
        self : object
            The initialized net (``steps_ == 0``).
        """
        self._dp_reset()
        super().initialize()
        return self

    def _dp_reset(self):
        self.steps_ = 0
        self.dp_segments_ = []
        for attr in ("noise_multiplier_", "epsilon_", "sample_rate_", "dp_event_"):
            self.__dict__.pop(attr, None)

    def _materialize_lazy(self, dataset):
        params = list(self.module_.parameters())
        if not any(isinstance(p, UninitializedParameter) for p in params):
            return
        batch = PoissonBatches(dataset, 1.0, 1, None, self.device, None, False)
        if batch.fast is not None:
            Xi = batch.fast[0][:1]
        else:
            Xi = unpack_data(batch._collate([0]))[0]
        with self._seeded_torch(2), torch.no_grad():
            self.module_.train(False)
            self.infer(Xi)
        self.initialize_optimizer()

    def _check_module(self):
        self.module_.train(True)
        errors = ModuleValidator.validate(self.module_, strict=False)
        if errors:
            lines = "\n".join(f"  - {e}" for e in errors)
            hint = ""
            if "BatchNorm" in lines:
                hint = (
                    "BatchNorm mixes the samples of a batch: replace it with "
                    "GroupNorm or LayerNorm, or "
                )
            raise ValueError(
                f"The module cannot be trained with per-sample differential "
                f"privacy:\n{lines}\n{hint or 'Replace these layers, or '}pass "
                f"fix_module=True to let Opacus' ModuleValidator.fix do it "
                f"(BatchNorm -> GroupNorm, LSTM/GRU/RNN -> DPLSTM/DPGRU/DPRNN, "
                f"MultiheadAttention -> DPMultiheadAttention)."
            )
        if not hasattr(self.criterion_, "reduction"):
            raise ValueError(
                f"criterion {type(self.criterion_).__name__} has no 'reduction' "
                f"attribute; DP-SGD needs the per-sample losses summed "
                f"(reduction='sum'), which it sets during each step."
            )

    # -- the training loop -------------------------------------------------
    def fit(self, X, y=None, **fit_params):
        """Initialize and train the module with DP-SGD.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Training data in any form skorch accepts; array-likes are
            validated and converted, integers included, to the module's
            floating dtype (float32). Pass a tensor to keep integer inputs,
            such as the token ids of an ``nn.Embedding``.
        y : array-like, default=None
            Targets.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
            The fitted net.
        """
        self._dp_validate_params()
        # A warm refit continues the same module: its features and classes
        # (or targets) must match those it was built for.
        warm = bool(self.warm_start and self.initialized_)
        # Validation errors never quote the private values (one error path
        # for every skpriv estimator: utils._errors).
        call_hiding_values(self.check_data, X, y)  # before the module is built
        X, y = call_hiding_values(self._dp_prepare, X, y, reset=not warm)
        self.__dict__.pop("dp_event_", None)
        if not warm:
            self.initialize()
        return self._dp_train(X, y, "fit", fit_params)

    def partial_fit(self, X, y=None, classes=None, **fit_params):
        """Train for ``max_epochs`` more epochs, accounting cumulatively.

        With ``noise_multiplier=None`` the noise is calibrated on the first
        call so that *one* call of ``max_epochs`` epochs spends ``epsilon``;
        later calls reuse it, so every call spends more and ``epsilon_``
        (the total so far) grows beyond ``epsilon``.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Training data.
        y : array-like, default=None
            Targets.
        classes : array-like, default=None
            Classifier only: all the class labels, as in scikit-learn's
            ``partial_fit``; needed on the first call when its ``y`` lacks
            some (or set the ``classes`` parameter). Ignored by the regressor.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : object
            The net.
        """
        self._dp_validate_params()
        call_hiding_values(self.check_data, X, y)  # before the module is built
        X, y = call_hiding_values(
            self._dp_prepare, X, y, reset=not self.initialized_, classes=classes
        )
        if not self.initialized_:
            self.initialize()
        return self._dp_train(X, y, "partial_fit", fit_params)

    def _dp_train(self, X, y, routing, fit_params):
        if not hasattr(self, "steps_"):
            self._dp_reset()
        # Warnings point at the caller: caller -> fit -> _dp_train -> enforce.
        split = split_kind(self.train_split)
        enforce(audit_callbacks(self.callbacks_, split), type(self).__name__, 4)
        try:
            NeuralNet.partial_fit(self, X, y, _routing_method=routing, **fit_params)
        finally:
            run = self.__dict__.pop("_dp_run_", None)
            if run is not None and run.clipper is not None:
                run.clipper.remove()
        self.dp_n_samples_ = int(get_len(X)) if X is not None else None
        self._dp_record()
        return self

    def _dp_record(self):
        segments = tuple(tuple(s) for s in self.dp_segments_)
        self.dp_event_ = dp_event_of(segments)
        self.epsilon_ = segments_epsilon(segments, float(self.delta), self.accountant)

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split as skorch does, then set up DP-SGD on the training part.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Input data.
        y : array-like or None, default=None
            Targets.
        **fit_params : dict
            Passed to ``train_split``.

        Returns
        -------
        dataset_train : torch Dataset
            The rows DP-SGD trains on (its size sets the sample rate).
        dataset_valid : torch Dataset or None
            The validation rows (None by default).
        """
        # Warnings point at the caller of fit/partial_fit: caller -> fit ->
        # _dp_train -> NeuralNet.partial_fit -> fit_loop -> here (-> _dp_setup).
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        if dataset_valid is not None and split_kind(self.train_split) == "private":
            warnings.warn(
                "train_split is set: the validation rows are not used for "
                "training, but the scores computed on them each epoch are "
                "released without differential privacy (privacy_spent lists "
                "history_ as not covered). Use train_split=None, or "
                "skorch.helper.predefined_split(public_dataset) to validate on "
                "public data.",
                PrivacyLeakWarning,
                stacklevel=user_stacklevel(),
            )
        self._dp_setup(dataset_train, fit_params)
        return dataset_train, dataset_valid

    def _dp_setup(self, dataset, fit_params=None):
        n = len(dataset)
        if n < 1:
            raise ValueError("Cannot train on an empty data set (n_samples=0).")
        bs = n if self.batch_size == -1 else int(self.batch_size)
        if bs > n:
            warnings.warn(
                f"batch_size={bs} is larger than the number of training samples "
                f"n_samples={n}; it is clipped to {n} (every step then uses all "
                f"rows, sample rate 1), as scikit-learn's MLP does.",
                UserWarning,
                stacklevel=user_stacklevel(),
            )
            bs = n
        if self.delta >= 1.0 / n:
            warnings.warn(
                f"delta={self.delta} is not below 1 / n_samples = {1.0 / n:.3g}: "
                f"a mechanism that publishes one random row in the clear meets "
                f"such a guarantee. Choose delta well below 1 / n_samples.",
                PrivacyLeakWarning,
                stacklevel=user_stacklevel(),
            )
        with self._first_forward(dataset):
            self._materialize_lazy(dataset)
        self._check_module()
        sigma = self.noise_multiplier
        if sigma is None:
            sigma = getattr(self, "noise_multiplier_", None)  # partial_fit
        plan = self._plan(n, sigma)
        self.noise_multiplier_ = plan.noise_multiplier
        self.sample_rate_ = plan.sample_rate
        run = _Run()
        run.sample_rate = plan.sample_rate
        run.steps_per_epoch = plan.steps_per_epoch
        run.expected_batch = plan.batch_size
        device = self._param_device()
        seeds = [self._seed(3), self._seed(4)]
        run.dist = resolve_distributed(self.distributed, device)
        if run.dist is not None:
            # One Poisson sample and one noise draw for all workers: rank 0's
            # seeds (random_state=None draws different ones per worker) and
            # rank 0's initial module, on data every worker must share.
            self._check_same_data(run.dist, dataset)
            seeds = run.dist.broadcast_ints(seeds)
            run.dist.broadcast_module(self.module_)
        run.sampler_gen = np.random.default_rng(seeds[0])
        run.noise_gen = torch.Generator(device=device).manual_seed(seeds[1])
        run.noise_rng = np.random.default_rng(seeds[1])  # numpy noise on CPU
        n_dims = sum(p.numel() for p in self.module_.parameters() if p.requires_grad)
        run.mechanism = noise_mechanism(
            plan.noise_multiplier, float(self.max_grad_norm), n_dims, device=device
        )
        run.clipper = PerSampleClipper(self.module_)
        old = self.__dict__.get("_dp_run_")
        if old is not None and old.clipper is not None:
            old.clipper.remove()
        self._dp_run_ = run
        with self._first_forward(dataset):
            self._probe_sample_mixing(dataset, fit_params or {})

    def _check_same_data(self, dist, dataset):
        fast = _fast_tensors(dataset)  # where they are: no copy
        prints = [float(len(dataset)), float(self.batch_size)]
        # Six numbers either way, so that every worker's collective matches.
        prints += data_fingerprint(fast) if fast is not None else [-1.0] * 6
        if not dist.same_everywhere(prints):
            raise ValueError(
                f"Distributed DP-SGD (world size {dist.world_size}) needs every "
                f"worker to call fit with the same training data and batch_size: "
                f"the workers draw one common Poisson sample of all rows and each "
                f"processes its share of it, but the workers' data differ. Pass "
                f"the full X and y on every worker, or distributed=False to "
                f"train each worker on its own."
            )

    @contextmanager
    def _first_forward(self, dataset):
        """Name X's shape when the module fails on the first rows it sees.

        Torch's own message (``mat1 and mat2 shapes cannot be multiplied``)
        names neither the parameter nor the fix. Only shapes are quoted.
        """
        try:
            yield
        except (RuntimeError, IndexError) as exc:
            text = str(exc)
            if not any(w in text for w in ("shape", "size", "dimension", "dim ")):
                raise
            fast = PoissonBatches(dataset, 1.0, 1, None, "cpu", None, False).fast
            shape = tuple(fast[0].shape) if fast is not None else None
            got = (
                f"X of shape {shape} ({len(shape)}-D)"
                if shape is not None
                else "the rows of X"
            )
            hint = ""
            if shape is not None and len(shape) > 2:
                hint = (
                    f" A module built from n_features_in (here "
                    f"{shape[1]}, the second dimension) expects 2-D X: pass "
                    f"X.reshape(len(X), -1), or a module that accepts "
                    f"{len(shape)}-D input."
                )
            raise ValueError(
                f"The module {type(self.module_).__name__} could not process "
                f"{got}: {type(exc).__name__}: {text.splitlines()[0]}.{hint} "
                f"Check that X has the shape the module expects (module__* "
                f"parameters set its sizes)."
            ) from None

    def _probe_sample_mixing(self, dataset, fit_params):
        k = min(len(dataset), PROBE_ROWS)
        if k < 2:
            return
        batch = PoissonBatches(
            dataset, 1.0, 1, None, self.device, self._module_dtype(), False
        )
        # Rows spread over the data set (sorted data: several labels).
        idx = np.linspace(0, len(dataset) - 1, k).round().astype(int).tolist()
        if batch.fast is not None:
            Xp, yp = (None if t is None else t[idx] for t in batch.fast)
        else:
            Xp, yp = unpack_data(batch._collate(idx))
        check_no_sample_mixing(self, Xp, yp, fit_params)

    def _param_device(self):
        for p in self.module_.parameters():
            return p.device
        return torch.device("cpu")

    def get_iterator(self, dataset, training=False):
        """Poisson-sampled batches for training; skorch's loader otherwise.

        Parameters
        ----------
        dataset : torch Dataset
            The data.
        training : bool, default=False
            Whether the batches are for a training epoch.

        Returns
        -------
        iterator : iterable
            ``ceil(n / batch_size)`` Poisson batches (training), else a
            ``DataLoader``.
        """
        if not training:
            return super().get_iterator(dataset, training=False)
        run = self._dp_run_
        # Built once per fit: the data move to the device once, not per epoch.
        if run.batches is None or run.batches.dataset is not dataset:
            run.batches = PoissonBatches(
                dataset,
                run.sample_rate,
                run.steps_per_epoch,
                run.sampler_gen,
                self.device,
                self._module_dtype(),
                self.data_on_device,
                shard=None if run.dist is None else run.dist.shard,
            )
        return run.batches

    def train_step(self, batch, **fit_params):
        """One DP-SGD step: clip per-sample gradients, add noise, step.

        The batch (a Poisson sample, possibly empty) is processed in chunks of
        at most ``max_physical_batch_size`` rows; noise is added once per
        logical batch, and only logical batches count as steps.

        Parameters
        ----------
        batch : tuple
            ``(X, y)`` of the Poisson batch.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        step : dict
            ``{"loss": mean loss over the batch, "y_pred": module output}``.
        """
        run = self._dp_run_
        self._set_training(True)
        self._zero_grad_optimizer(set_to_none=True)
        Xi, yi = unpack_data(batch)
        n_batch = get_len(Xi) if Xi is not None else 0
        chunk = self.max_physical_batch_size or max(n_batch, 1)
        loss_total = 0.0
        preds = []
        clipper = run.clipper
        for start in range(0, n_batch, chunk):
            Xc = _slice(Xi, start, start + chunk) if chunk < n_batch else Xi
            yc = _slice(yi, start, start + chunk) if chunk < n_batch else yi
            clipper.active = True
            try:
                y_pred = self.infer(Xc, **fit_params)
                with _sum_reduction(self.criterion_):
                    loss = self.get_loss(y_pred, yc, X=Xc, training=True)
            finally:
                clipper.active = False
            clipper.accumulate(loss, float(self.max_grad_norm))
            loss_total += float(loss.detach())
            preds.append(_detach(y_pred))
        self._add_noise(run)
        self.notify(
            "on_grad_computed",
            named_parameters=list(self.get_all_learnable_params()),
            batch=batch,
            training=True,
        )
        self._step_optimizer(None)
        self._count_step(run)
        if not preds:  # an empty Poisson batch: noise only
            y_pred = torch.empty(0)
        else:
            y_pred = preds[0] if len(preds) == 1 else _concat(preds)
        return {
            "loss": torch.tensor(loss_total / max(n_batch, 1)),
            "y_pred": y_pred,
        }

    def _add_noise(self, run):
        # The grid-snapped Gaussian (skpriv.mechanisms.TorchGaussian): the
        # noisy sum is a multiple of the grid step, so its low-order bits
        # carry nothing; casting it to the parameter dtype is post-processing.
        # On an accelerator the finiteness check stays on the device (no host
        # synchronisation per step) and is read at the end of the epoch,
        # before anything computed from these steps is released.
        # Distributed: the workers' clipped sums are added first (one
        # all-reduce), then every worker adds the same noise to the same sum.
        mech = run.mechanism
        on_cpu = self._param_device().type == "cpu"
        params = [p for p in self.module_.parameters() if p.requires_grad]
        for p in params:
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        if run.dist is not None:
            run.dist.all_reduce_sum([p.grad for p in params])
        for p in params:
            if isinstance(mech, Gaussian):  # numpy's, for CPU tensors
                try:
                    noisy = mech.randomise(p.grad.detach().numpy(), run.noise_rng)
                except ValueError:  # NaN or infinity in the clipped sum
                    run.finite = torch.tensor(False)
                    self._check_finite_steps(run)
                p.grad.copy_(torch.from_numpy(noisy))
            elif mech is not None:
                if not on_cpu:
                    finite = torch.isfinite(p.grad).all()
                    run.finite = finite if run.finite is None else run.finite & finite
                p.grad.copy_(mech.randomise(p.grad, run.noise_gen, check_finite=on_cpu))
            p.grad.div_(run.expected_batch)

    def _check_finite_steps(self, run):
        if run.finite is not None and not bool(run.finite):
            raise ValueError(
                "The clipped gradients contained NaN or infinity (a non-finite "
                "loss or module output); differential privacy needs finite, "
                "bounded values. Check the inputs and the learning rate."
            )

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One epoch, as skorch's, without recording private batch statistics.

        Training batches record neither their loss nor their size (both exact
        functions of the private rows); validation is skorch's.

        Parameters
        ----------
        iterator : iterable or None
            Batches.
        training : bool
            Whether this is a training epoch.
        prefix : str
            History prefix.
        step_fn : callable
            Step function.
        **fit_params : dict
            Passed to ``step_fn``.

        Returns
        -------
        None
            Nothing: what an epoch releases goes to ``history_`` through the
            callbacks, as in skorch's loop.
        """
        if not training:
            return super().run_single_epoch(
                iterator, training, prefix, step_fn, **fit_params
            )
        if iterator is None:
            return None
        batch_count = 0
        for batch in iterator:
            self.notify("on_batch_begin", batch=batch, training=training)
            step = step_fn(batch, **fit_params)
            self.notify("on_batch_end", batch=batch, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)
        return None

    def _count_step(self, run):
        self.steps_ += 1
        key = [run.sample_rate, float(self.noise_multiplier_)]
        if self.dp_segments_ and self.dp_segments_[-1][:2] == key:
            self.dp_segments_[-1][2] += 1
        else:
            self.dp_segments_.append([*key, 1])

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        """Record the epsilon spent so far in the history (and epoch log).

        Parameters
        ----------
        net : DPNeuralNetMixin
            This net (skorch's callback protocol).
        dataset_train : torch Dataset, default=None
            Training data.
        dataset_valid : torch Dataset, default=None
            Validation data.
        **kwargs : dict
            Other callback arguments.
        """
        run = self.__dict__.get("_dp_run_")
        if run is not None:
            self._check_finite_steps(run)
        segments = tuple(tuple(s) for s in self.dp_segments_)
        self.history.record(
            "epsilon", segments_epsilon(segments, float(self.delta), self.accountant)
        )
        super().on_epoch_end(
            net, dataset_train=dataset_train, dataset_valid=dataset_valid, **kwargs
        )

    # -- accounting --------------------------------------------------------
    def _planned_dp_event(self, n_samples):
        """The DP event of a ``fit`` on ``n_samples`` rows with these parameters."""
        if n_samples is None:
            raise ValueError(
                f"{type(self).__name__} needs n_samples to plan its privacy cost "
                f"(its sampling rate is batch_size / n_samples); pass "
                f"privacy_spent(..., n_samples=len(X))."
            )
        return self._plan(self._planned_n_train(int(n_samples))).event

    def _plan(self, n_train, noise_multiplier=None):
        """The one plan of a fit on ``n_train`` rows: noise, steps and event."""
        if noise_multiplier is None:
            noise_multiplier = self.noise_multiplier
        return plan_dpsgd(
            n_train,
            self.batch_size,
            self.max_epochs,
            self.epsilon,
            self.delta,
            self.accountant,
            noise_multiplier,
        )

    def _planned_n_train(self, n):
        """Training rows of a fit on ``n`` rows (a lower bound: q is an upper bound)."""
        split = self.train_split
        if split is None:
            return n
        cv = getattr(split, "cv", None)
        if isinstance(cv, Real) and not isinstance(cv, bool) and 0 < cv < 1:
            return max(1, math.floor(n * (1 - cv)))
        if isinstance(cv, Integral) and cv > 1:
            return max(1, n - math.ceil(n / cv))
        raise ValueError(
            f"Cannot plan the privacy cost with train_split={split!r}: its "
            f"training-set size is unknown. Use train_split=None or skorch's "
            f"ValidSplit with a numeric cv."
        )

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_dp_run_", None)
        return state
