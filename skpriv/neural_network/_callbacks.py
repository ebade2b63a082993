"""Which skorch callbacks read private statistics, and what the history releases.

DP-SGD records no training loss and no batch sizes (both are exact functions
of the private rows). A callback that *acts* on a private statistic (early
stopping, a learning-rate plateau, reloading the best checkpoint) would make
the trained module itself depend on the data without noise: it is refused. A
callback that only *records* one (training-set scores, scores on a validation
split of the private data) is warned about by name, and ``history_`` and
``callbacks_`` are declared not covered by ``epsilon_``.
"""

import functools
import warnings

from skorch.callbacks import (
    BatchScoring,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    Freezer,
    GradientNormClipping,
    Initializer,
    LoadInitState,
    LRScheduler,
    MlflowLogger,
    NeptuneLogger,
    ParamMapper,
    PassthroughScoring,
    PrintLog,
    ProgressBar,
    SacredLogger,
    TrainEndCheckpoint,
    Unfreezer,
    WandbLogger,
)
from skorch.utils import _make_split

from ..exceptions import PrivacyLeakWarning

__all__ = ["CallbackAudit", "audit_callbacks", "split_kind"]

#: Callbacks that read only the history, the parameters or the noisy
#: gradient (GradientNormClipping runs after the noise is added).
_SAFE = (
    EpochTimer,
    PrintLog,
    ProgressBar,
    GradientNormClipping,
    ParamMapper,
    Freezer,
    Unfreezer,
    Initializer,
    LoadInitState,
    TrainEndCheckpoint,
    NeptuneLogger,
    WandbLogger,
    SacredLogger,
    MlflowLogger,
)
try:  # needs tensorboard installed
    from skorch.callbacks import TensorBoard

    _SAFE = (*_SAFE, TensorBoard)
except ImportError:  # pragma: no cover - optional dependency
    pass


def split_kind(train_split) -> str:
    """``"none"``, ``"public"`` (skorch's ``predefined_split``) or ``"private"``.

    A ``predefined_split(dataset)`` validates on a data set the user passes
    in: it is treated as public. Any other split takes its validation rows
    from the private training data.
    """
    if train_split is None:
        return "none"
    if isinstance(train_split, functools.partial) and train_split.func is _make_split:
        return "public"
    return "private"


class CallbackAudit:
    """What the callbacks of a net release; see :func:`audit_callbacks`."""

    def __init__(self):
        self.refused = []  # (name, why): they act on private statistics
        self.leaking = []  # (name, why): they record private statistics
        self.unvetted = []  # names of callbacks skpriv does not know

    def uncovered_reason(self, split: str):
        """The reason ``history_`` is not covered, or None if it is."""
        parts = [f"{name!r} {why}" for name, why in self.leaking]
        if split == "private":
            parts.append("validation scores on rows split from the private data")
        if self.unvetted:
            parts.append(
                f"entries of callbacks skpriv cannot vet ({', '.join(self.unvetted)})"
            )
        return "; ".join(parts) if parts else None


def _scoring_metric(cb, split):
    """``(metric name, is_private)`` of a scoring callback."""
    on_train = bool(getattr(cb, "on_train", False))
    return cb.name, on_train or split == "private"


def audit_callbacks(callbacks, split: str) -> CallbackAudit:
    """Classify ``callbacks`` (skorch's ``callbacks_``: ``(name, cb)`` pairs).

    Parameters
    ----------
    callbacks : list of (str, Callback)
        The initialized callbacks.
    split : {"none", "public", "private"}
        From :func:`split_kind`.

    Returns
    -------
    audit : CallbackAudit
    """
    audit = CallbackAudit()
    private_keys = {"train_loss", "train_batch_size"}
    if split == "private":
        private_keys |= {"valid_loss", "valid_batch_size", "valid_acc"}
    for name, cb in callbacks:
        if isinstance(cb, (EpochScoring, BatchScoring, PassthroughScoring)):
            metric, private = _scoring_metric(cb, split)
            if private:
                private_keys |= {metric, f"{metric}_best"}
            # Scores on a private validation split are named by the
            # train_split warning (and in the uncovered reason).
            on_train = bool(getattr(cb, "on_train", False))
            if on_train and isinstance(cb, (EpochScoring, BatchScoring)):
                audit.leaking.append(
                    (name, f"records {metric!r} scored on the private training rows")
                )
    for name, cb in callbacks:
        if isinstance(cb, (EpochScoring, BatchScoring, PassthroughScoring, *_SAFE)):
            continue
        if isinstance(cb, EarlyStopping):
            if cb.monitor in private_keys:
                audit.refused.append(
                    (name, f"stops training on {cb.monitor!r}, a private statistic")
                )
        elif isinstance(cb, LRScheduler):
            policy = getattr(cb.policy, "__name__", cb.policy)
            if policy == "ReduceLROnPlateau":
                if callable(cb.monitor):
                    audit.refused.append(
                        (
                            name,
                            "sets the learning rate from a callable monitor, "
                            "which skpriv cannot check for private statistics",
                        )
                    )
                elif cb.monitor in private_keys:
                    audit.refused.append(
                        (
                            name,
                            f"sets the learning rate from {cb.monitor!r}, a "
                            f"private statistic",
                        )
                    )
        elif isinstance(cb, Checkpoint):
            monitor = cb.monitor
            private = callable(monitor) or monitor in private_keys
            if private and cb.load_best:
                audit.refused.append(
                    (
                        name,
                        "reloads the parameters of the epoch that was best on "
                        "a private statistic (load_best=True)",
                    )
                )
            elif private:
                audit.leaking.append(
                    (name, "saves at the epochs that are best on a private statistic")
                )
        else:
            audit.unvetted.append(name)
    return audit


def enforce(audit: CallbackAudit, estimator_name: str, stacklevel: int) -> None:
    """Raise for refused callbacks; warn, by name, for leaking ones."""
    if audit.refused:
        lines = "\n".join(f"  - {name!r} {why}" for name, why in audit.refused)
        raise ValueError(
            f"{estimator_name} refuses callbacks that act on statistics of the "
            f"private data, which would make the trained module depend on it "
            f"without noise:\n{lines}\nDP-SGD records no training loss; to stop "
            f"early or schedule on a validation score, validate on public data "
            f"(train_split=skorch.helper.predefined_split(public_dataset)), or "
            f"use a schedule that reads no data (e.g. LRScheduler(policy="
            f"'StepLR'))."
        )
    for name, why in audit.leaking:
        warnings.warn(
            f"callback {name!r} {why}: those history entries are released "
            f"without differential privacy, and privacy_spent lists history_ "
            f"as not covered. Score on public data instead.",
            PrivacyLeakWarning,
            stacklevel=stacklevel,
        )
