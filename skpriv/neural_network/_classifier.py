"""DPNeuralNetClassifier: skorch's NeuralNetClassifier trained with DP-SGD."""

import warnings

import numpy as np
import torch
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import column_or_1d
from skorch import NeuralNetClassifier

from ..base import PUBLIC
from ..exceptions import PrivacyLeakWarning
from ..utils._stack import user_stacklevel
from ._base import DPNeuralNetMixin
from ._docs import (
    DP_NET_ATTRIBUTES,
    DP_NET_NOTES,
    DP_NET_PARAMS,
    DP_NET_REFERENCES,
    DP_NET_TAIL,
)

__all__ = ["DPNeuralNetClassifier"]


class DPNeuralNetClassifier(DPNeuralNetMixin, NeuralNetClassifier):
    """Differentially private neural network classifier (skorch + DP-SGD).

    A subclass of skorch's :class:`skorch.NeuralNetClassifier` whose training
    loop is DP-SGD: Poisson-sampled batches, per-sample gradient clipping and
    Gaussian noise, with the privacy spent accounted per step. Everything
    else from skorch keeps working: callbacks, ``module__*`` routing,
    ``predict_proba``, history, ``warm_start``, ``partial_fit``. Labels may be
    any values (strings included); they are encoded internally.

    Parameters
    ----------
    {params}

    classes : array-like or None, default=None
        All class labels (public). ``None`` takes those present in ``y``
        with a :class:`~skpriv.exceptions.PrivacyLeakWarning`: the label
        set of the private data is then released in ``classes_`` without
        differential privacy (a rare label reveals its row).

    {tail}

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels: ``classes`` (or ``partial_fit``'s), else read from
        ``y`` (not covered by ``epsilon_``; ``privacy_spent`` names it).

    {attributes}

    See Also
    --------
    DPNeuralNetRegressor : The regressor.
    skpriv.linear_model.DPLogisticRegression : A private linear classifier.
    skorch.NeuralNetClassifier : The non-private skorch classifier.

    Notes
    -----
    {notes}

    The default criterion is skorch's (``NLLLoss``): the module returns
    probabilities (e.g. ends with ``Softmax``). With ``CrossEntropyLoss`` it
    returns logits and ``predict_proba`` applies the softmax.

    References
    ----------
    {references}

    Examples
    --------
    >>> import torch
    >>> from sklearn.datasets import load_iris
    >>> from skpriv.neural_network import DPNeuralNetClassifier
    >>> class MLP(torch.nn.Module):
    ...     def __init__(self, n_features_in, n_outputs):
    ...         super().__init__()
    ...         self.layers = torch.nn.Sequential(
    ...             torch.nn.Linear(n_features_in, 16), torch.nn.ReLU(),
    ...             torch.nn.Linear(16, n_outputs))
    ...     def forward(self, X):
    ...         return self.layers(X)
    >>> X, y = load_iris(return_X_y=True)
    >>> net = DPNeuralNetClassifier(
    ...     MLP, criterion=torch.nn.CrossEntropyLoss, epsilon=8.0, delta=1e-3,
    ...     max_epochs=20, batch_size=32, lr=0.5, verbose=0, random_state=0,
    ... ).fit(X, y)
    >>> net.epsilon_ <= 8.0
    True
    >>> net.predict(X[:3]).shape
    (3,)
    """

    def __init__(
        self,
        module,
        *,
        criterion=torch.nn.NLLLoss,
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
        classes=None,
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
            classes=classes,
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

    _privacy_releases = {"classes_": PUBLIC, "classes_inferred_": PUBLIC}
    _y_classes = True  # n_outputs comes from the classes

    def _release_kinds(self):
        kinds = super()._release_kinds()
        if getattr(self, "_classes_from_data", False):
            reason = "uncovered: label set read from the data"
            kinds["classes_"] = kinds["classes_inferred_"] = reason
        return kinds

    def _encode_target(self, y, reset, classes=None):
        if isinstance(y, torch.Tensor):
            y = y.detach().cpu().numpy()
        y = column_or_1d(np.asarray(y), warn=True)
        # ``classes`` of partial_fit, as in scikit-learn: all the labels,
        # given on the first call (later calls may only repeat them).
        given = None if classes is None else np.unique(np.asarray(classes))
        if (
            given is not None
            and not reset
            and not np.array_equal(given, np.unique(np.asarray(self.classes_)))
        ):
            raise ValueError(
                f"classes={given.tolist()} is not the same as on the first call "
                f"to partial_fit: {np.asarray(self.classes_).tolist()}."
            )
        if reset:
            check_classification_targets(y)
            if self.classes is not None:
                classes = np.asarray(self.classes)
                source = "the classes parameter"
                if len(np.unique(classes)) != len(classes):
                    raise ValueError(
                        f"The classes parameter must not repeat a label; got "
                        f"{classes.tolist()}."
                    )
                if given is not None and not np.array_equal(given, np.unique(classes)):
                    raise ValueError(
                        f"partial_fit got classes={given.tolist()}, but the "
                        f"classes parameter is {classes.tolist()}."
                    )
            else:
                classes = given if given is not None else np.unique(y)
                source = "y" if given is None else "classes"
            if len(classes) < 2:
                raise ValueError(
                    f"The classifier needs at least 2 classes in {source}; "
                    f"got {len(classes)} class{'es' * (len(classes) != 1)}: "
                    f"{classes.tolist()}."
                )
            self._classes_from_data = self.classes is None and given is None
            if self._classes_from_data:
                warnings.warn(
                    "classes=None: the class labels are read from y and "
                    "released in classes_ without differential privacy (a "
                    "label held by one row reveals it). Pass classes=[...] "
                    "to declare them.",
                    PrivacyLeakWarning,
                    stacklevel=user_stacklevel(),
                )
            if self.classes is None:
                self.classes_inferred_ = classes
        classes = np.asarray(self.classes_)
        order = np.argsort(classes, kind="stable")
        pos = np.searchsorted(classes[order], y)
        pos = np.clip(pos, 0, len(classes) - 1)
        codes = order[pos]
        unknown = classes[codes] != y
        if np.any(unknown):
            raise ValueError(
                f"y contains labels not among classes {classes.tolist()}: "
                f"{np.unique(y[unknown]).tolist()}."
            )
        return codes.astype(np.int64)

    def _inferred_n_outputs(self):
        try:
            return len(self.classes_)
        except AttributeError:
            return None

    def predict_proba(self, X):
        """Class probabilities, columns in the order of ``classes_``.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Input data.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities (the module output passed through
            ``predict_nonlinearity``).
        """
        return super().predict_proba(self._predict_input(X))

    def predict(self, X):
        """Most probable class label of each sample.

        Parameters
        ----------
        X : array-like, tensor, dict or Dataset
            Input data.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return np.asarray(self.classes_)[np.argmax(proba, axis=1)]


DPNeuralNetClassifier.__doc__ = DPNeuralNetClassifier.__doc__.format(
    params=DP_NET_PARAMS.format(criterion="torch.nn.NLLLoss"),
    attributes=DP_NET_ATTRIBUTES,
    notes=DP_NET_NOTES,
    references=DP_NET_REFERENCES,
    tail=DP_NET_TAIL,
)
