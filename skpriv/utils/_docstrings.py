"""Shared parameter descriptions, injected into docstrings (not pasted)."""

__all__ = ["PARAM_DOCS", "inject_docstring"]

PARAM_DOCS = {
    "epsilon": """epsilon : float, default=1.0
        Privacy budget of the release (epsilon > 0, finite). Smaller is more
        private and noisier.""",
    "delta": """delta : float, default=1e-5
        Probability with which the epsilon guarantee may fail
        (0 <= delta < 1). Choose it well below ``1 / n_samples``.""",
    "bounds": """bounds : tuple of (lower, upper) or None, default=None
        Public bounds of every feature: scalars or arrays of length
        ``n_features``. Values outside are clipped. ``None`` learns them from
        the training data and raises :class:`~skpriv.exceptions.PrivacyLeakWarning`,
        because data-derived bounds are not covered by the guarantee.""",
    "data_norm": """data_norm : float, "private" or None, default=None
        Maximum L2 norm of a row; rows are clipped to it before learning.
        ``None`` takes the largest norm in the data and warns
        (:class:`~skpriv.exceptions.PrivacyLeakWarning`); ``"private"`` spends
        a stated share of epsilon to estimate it privately.""",
    "random_state": """random_state : int, numpy.random.Generator or None, default=None
        Source of randomness. ``None`` (the private default) draws from the
        operating system's entropy. An int makes results reproducible, which
        is for tests and examples only: a known seed removes the privacy.""",
}


def inject_docstring(**fragments):
    """Class decorator filling ``{name}`` placeholders of the docstring.

    ``inject_docstring(epsilon=PARAM_DOCS["epsilon"])`` replaces the text
    ``{epsilon}`` in the decorated object's docstring.
    """

    def decorate(obj):
        if obj.__doc__:
            doc = obj.__doc__
            for key, value in fragments.items():
                doc = doc.replace("{" + key + "}", value)
            obj.__doc__ = doc
        return obj

    return decorate
