"""Empirical privacy loss of an estimator's own noisy releases.

``record_releases`` wraps the mechanism classes an estimator module uses, so
a fit records each release: the mechanism (its actual noise scale) and the
exact statistic it was applied to. Fitting neighbouring data sets gives the
two statistics of each release; ``loss_lower_bound`` then draws the release
``M`` times on each (fast: the mechanism is vectorized) and returns a
``1 - 1e-6`` lower confidence bound on the privacy loss of the worst-case
event ``{output <= smaller value}`` of the one coordinate that differs.
"""

import numpy as np

from tests.mechanisms._stats import epsilon_lower_bound

M = 2_000_000


def record_releases(monkeypatch, module, *names):
    """Record ``(mechanism, values)`` of every ``randomise`` call in ``module``."""
    calls = []
    for name in names:
        base = getattr(module, name)

        class Recording(base):
            def randomise(self, values, rng):
                calls.append((self, np.array(values, copy=True)))
                return super().randomise(values, rng)

        Recording.__name__ = base.__name__
        monkeypatch.setattr(module, name, Recording)
    return calls


def loss_lower_bound(mech, values_a, values_b, rng, scale_factor=1.0):
    """Lower bound on the loss of the release between two neighbouring inputs.

    ``scale_factor < 1`` draws from a deliberately mis-scaled copy of the
    mechanism (the power check).
    """
    diff = np.flatnonzero(np.ravel(values_a) != np.ravel(values_b))
    assert diff.size == 1, "the neighbours must differ in one coordinate here"
    a = float(np.ravel(values_a)[diff[0]])
    b = float(np.ravel(values_b)[diff[0]])
    lo, hi = min(a, b), max(a, b)
    if scale_factor != 1.0:
        kwargs = {}
        if hasattr(mech, "granularity"):
            kwargs["granularity"] = mech.granularity
        mech = type(mech).__mro__[1](mech.scale * scale_factor, **kwargs)
    dtype = np.int64 if not hasattr(mech, "granularity") else np.float64
    out_lo = mech.randomise(np.full(M, lo, dtype=dtype), rng)
    hits_lo = int(np.count_nonzero(out_lo <= lo))
    out_hi = mech.randomise(np.full(M, hi, dtype=dtype), rng)
    hits_hi = int(np.count_nonzero(out_hi <= lo))
    return epsilon_lower_bound(hits_lo, hits_hi, M)
