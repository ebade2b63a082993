"""The label set of a private classifier: declared (public) or read from y."""

import warnings

import numpy as np

from ..exceptions import PrivacyLeakWarning

__all__ = ["encode_classes"]


def encode_classes(y, classes, *, owner: str, stacklevel: int = 2):
    """``(classes_, codes, inferred)``: the label set and each label's index.

    With ``classes=None`` the label set is read from ``y`` (sorted), with a
    :class:`~skpriv.exceptions.PrivacyLeakWarning`: a single row carrying a
    rare label shows in ``classes_`` and in the shape of the fitted model, so
    ``classes_`` is then not covered by the DP guarantee. A given ``classes``
    is validated (1-D, no repeats, at least 2 labels) and sorted; a label of
    ``y`` outside it raises a ``ValueError`` that names the parameter and
    quotes no label of ``y`` (they are private).

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Labels of the private rows.
    classes : array-like or None
        The estimator's ``classes`` parameter.
    owner : str
        Name of the estimator, for messages.
    stacklevel : int, default=2
        Passed to :func:`warnings.warn`, counted from the caller.

    Returns
    -------
    classes_ : ndarray of shape (n_classes,)
    codes : ndarray of shape (n_samples,)
        ``classes_[codes] == y``.
    inferred : bool
        Whether ``classes_`` was read from ``y``.
    """
    y = np.asarray(y)
    if classes is None:
        warnings.warn(
            f"{owner}: classes=None reads the label set from the private "
            f"training labels, so classes_ (and the shape of the model) is not "
            f"covered by the differential privacy guarantee: one row with a "
            f"rare label shows in it. Pass classes=[...], the public list of "
            f"labels, to cover it.",
            PrivacyLeakWarning,
            stacklevel=stacklevel + 1,
        )
        classes_, codes = np.unique(y, return_inverse=True)
        if classes_.size < 2:
            raise ValueError(
                f"{owner} needs samples of at least 2 classes in the data; got "
                f"1 class. Pass classes=[...] if the others are only absent "
                f"from this sample."
            )
        return classes_, codes.reshape(-1), True
    given = np.asarray(classes)
    if given.ndim != 1:
        raise ValueError(
            f"{owner}: classes must be a 1-D list of labels; got an array of "
            f"shape {given.shape}."
        )
    classes_ = np.unique(given)
    if classes_.size != given.size:
        raise ValueError(f"{owner}: classes must not repeat a label.")
    if classes_.size < 2:
        raise ValueError(
            f"{owner}: classes must hold at least 2 labels; got {classes_.size}."
        )
    try:
        pos = np.clip(np.searchsorted(classes_, y), 0, classes_.size - 1)
        known = np.asarray(classes_[pos] == y, dtype=bool)
    except TypeError:  # labels of another type than classes (str vs int)
        known = np.zeros(y.shape, dtype=bool)
    if known.shape != y.shape or not known.all():
        # No label of y is quoted: they are private.
        raise ValueError(
            f"{owner}: y holds labels that are not in the classes parameter. "
            f"List every label the training data may hold in classes."
        )
    return classes_, pos.astype(np.intp), False
