"""DPNeuralNetRegressor: skorch's NeuralNetRegressor trained with DP-SGD."""

import numpy as np
import torch
from skorch import NeuralNetRegressor

from ..base import PUBLIC
from ._base import DPNeuralNetMixin
from ._docs import (
    DP_NET_ATTRIBUTES,
    DP_NET_NOTES,
    DP_NET_PARAMS,
    DP_NET_REFERENCES,
    DP_NET_TAIL,
)

__all__ = ["DPNeuralNetRegressor"]


class DPNeuralNetRegressor(DPNeuralNetMixin, NeuralNetRegressor):
    """Differentially private neural network regressor (skorch + DP-SGD).

    A subclass of skorch's :class:`skorch.NeuralNetRegressor` whose training
    loop is DP-SGD: Poisson-sampled batches, per-sample gradient clipping and
    Gaussian noise, with the privacy spent accounted per step. A 1-D ``y`` is
    accepted (the module then has one output and ``predict`` returns 1-D
    predictions); floating inputs and targets are converted to float32.

    Parameters
    ----------
    {params}

    {tail}

    Attributes
    ----------
    n_outputs_ : int
        Number of targets.

    {attributes}

    See Also
    --------
    DPNeuralNetClassifier : The classifier.
    skorch.NeuralNetRegressor : The non-private skorch regressor.

    Notes
    -----
    {notes}

    References
    ----------
    {references}

    Examples
    --------
    >>> import numpy as np
    >>> import torch
    >>> from skpriv.neural_network import DPNeuralNetRegressor
    >>> class Linear(torch.nn.Module):
    ...     def __init__(self, n_features_in, n_outputs):
    ...         super().__init__()
    ...         self.linear = torch.nn.Linear(n_features_in, n_outputs)
    ...     def forward(self, X):
    ...         return self.linear(X)
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, size=(500, 3))
    >>> y = X @ np.array([1.0, -2.0, 0.5])
    >>> net = DPNeuralNetRegressor(
    ...     Linear, epsilon=4.0, delta=1e-4, max_epochs=20, batch_size=50,
    ...     lr=0.2, verbose=0, random_state=0,
    ... ).fit(X, y)
    >>> net.predict(X[:2]).shape
    (2,)
    >>> net.epsilon_ <= 4.0
    True
    """

    _y_numeric = True

    #: The number of targets and y's dimensionality are public metadata.
    _privacy_releases = {"n_outputs_": PUBLIC, "target_ndim_": PUBLIC}

    def __init__(
        self,
        module,
        *,
        criterion=torch.nn.MSELoss,
        optimizer=torch.optim.SGD,
        lr=0.01,
        max_epochs=10,
        batch_size=128,
        epsilon=1.0,
        delta=1e-5,
        max_grad_norm=1.0,
        noise_multiplier=None,
        accountant="pld",
        max_physical_batch_size=None,
        fix_module=False,
        data_on_device="auto",
        distributed="auto",
        random_state=None,
        train_split=None,
        device="cpu",
        **kwargs,
    ):
        super().__init__(
            module,
            criterion=criterion,
            optimizer=optimizer,
            lr=lr,
            max_epochs=max_epochs,
            batch_size=batch_size,
            train_split=train_split,
            device=device,
            **kwargs,
        )
        self.epsilon = epsilon
        self.delta = delta
        self.max_grad_norm = max_grad_norm
        self.noise_multiplier = noise_multiplier
        self.accountant = accountant
        self.max_physical_batch_size = max_physical_batch_size
        self.fix_module = fix_module
        self.data_on_device = data_on_device
        self.distributed = distributed
        self.random_state = random_state

    check_data = DPNeuralNetMixin.check_data

    def _encode_target(self, y, reset, classes=None):
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = np.asarray(y)
        if y.dtype.kind not in "fiub":
            raise ValueError(f"y must be numeric for regression; got dtype {y.dtype}.")
        if y.ndim not in (1, 2):
            raise ValueError(f"y must be 1-D or 2-D; got shape {y.shape}.")
        n_outputs = 1 if y.ndim == 1 else y.shape[1]
        if reset:
            self.n_outputs_ = n_outputs
            self.target_ndim_ = y.ndim
        elif n_outputs != self.n_outputs_:
            raise ValueError(
                f"y has {n_outputs} target(s) but the net was fitted on "
                f"{self.n_outputs_}."
            )
        y = y.reshape(len(y), -1)
        with np.errstate(over="ignore"):
            y32 = y.astype(np.float32)
        if not np.isfinite(y32).all():
            if not np.isfinite(y).all():  # tensors skip sklearn's validation
                raise ValueError("Input y contains NaN or infinity.")
            raise ValueError(
                f"y has values too large for float32, the dtype of the "
                f"targets (largest magnitude {np.abs(y).max():.3g}); rescale "
                f"them (e.g. with TransformedTargetRegressor)."
            )
        return y32

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _inferred_n_outputs(self):
        return getattr(self, "n_outputs_", None)

    def predict_proba(self, X):
        """The module's output (skorch's name for it); see :meth:`predict`.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Input data.

        Returns
        -------
        output : ndarray of shape (n_samples, n_outputs)
            The module's output.
        """
        return super().predict_proba(self._predict_input(X))

    def predict(self, X):
        """Predicted targets (1-D when the net was fitted on a 1-D ``y``).

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,) or (n_samples, n_outputs)
            Predictions, as float64.
        """
        # float64 like every scikit-learn regressor (the module's output,
        # from predict_proba, keeps its own dtype).
        out = np.asarray(self.predict_proba(X), dtype=np.float64)
        if (
            getattr(self, "target_ndim_", 2) == 1
            and out.ndim == 2
            and out.shape[1] == 1
        ):
            out = out.ravel()
        return out


DPNeuralNetRegressor.__doc__ = DPNeuralNetRegressor.__doc__.format(
    params=DP_NET_PARAMS.format(criterion="torch.nn.MSELoss"),
    attributes=DP_NET_ATTRIBUTES,
    notes=DP_NET_NOTES,
    references=DP_NET_REFERENCES,
    tail=DP_NET_TAIL,
)
