"""The one plan of a federated fit: its noise, its denominator, its DP event.

``FederatedPlan`` is built from public parameters only (``BaseFederated._plan``)
and is read by both the fit (in-process and on Flower) and search planning
(``_planned_dp_event``), so the noise added and the event recorded cannot
drift apart.
"""

import math
from typing import NamedTuple

import dp_accounting
import numpy as np

from ..mechanisms import Gaussian, grid_granularity
from ..mechanisms._grid import _to_grid
from ._aggregation import clip_updates

__all__ = ["FederatedPlan"]

# Clip a hair below clip_norm: the float norm of a rescaled vector can exceed
# its target by a few ulps, and the sensitivity must hold exactly.
_CLIP_SAFETY = 1.0 - 2.0**-30


class FederatedPlan(NamedTuple):
    """Client-level DP-FedAvg with Poisson client sampling, from public inputs.

    Attributes
    ----------
    noise_multiplier : float
        Noise standard deviation over ``clip_norm`` (0: no client-level DP).
    clip_norm : float or None
        Bound on one client's update (L2).
    client_fraction : float
        Poisson sampling rate of clients per round.
    n_rounds : int
        Rounds planned.
    n_clients : int
        The public number of clients (simulated, or declared with
        ``n_clients``) that fixes the denominator.
    """

    noise_multiplier: float
    clip_norm: float | None
    client_fraction: float
    n_rounds: int
    n_clients: int

    @property
    def dp(self) -> bool:
        return self.noise_multiplier > 0

    @property
    def denominator(self) -> float:
        """Expected clients per round, ``client_fraction * n_clients`` (public).

        The fixed-denominator estimator of McMahan et al. (2018): dividing the
        noisy sum by it keeps one client's influence at ``clip_norm /
        denominator`` whatever the true number of clients.
        """
        return self.client_fraction * self.n_clients

    def round_event(self):
        """One round: a Gaussian on the sum, Poisson-sampled clients."""
        event = dp_accounting.GaussianDpEvent(self.noise_multiplier)
        if self.client_fraction < 1:
            event = dp_accounting.PoissonSampledDpEvent(self.client_fraction, event)
        return event

    def client_event(self, n_rounds=None):
        """Client-level event of ``n_rounds`` rounds (default: all planned)."""
        if not self.dp:
            return dp_accounting.NonPrivateDpEvent()
        rounds = self.n_rounds if n_rounds is None else int(n_rounds)
        if rounds == 0:
            return dp_accounting.NoOpDpEvent()
        return dp_accounting.SelfComposedDpEvent(self.round_event(), rounds)

    def mechanism(self, size: int) -> Gaussian:
        """The grid Gaussian for a sum of ``size``-dimensional clipped updates.

        Its grid step is fixed from ``noise_multiplier * clip_norm`` and its
        sigma covers the rounding: ``sigma = noise_multiplier * (clip_norm +
        sqrt(size) * granularity)``, so the recorded
        ``GaussianDpEvent(noise_multiplier)`` holds at the effective
        sensitivity whatever the model size.
        """
        granularity = grid_granularity(self.noise_multiplier * self.clip_norm)
        effective = self.clip_norm + math.sqrt(size) * granularity
        sigma = self.noise_multiplier * effective * (1.0 + 1e-12)
        mech = Gaussian(sigma, granularity=granularity)
        assert (
            mech.dp_event(self.clip_norm, n_dims=size).noise_multiplier
            >= self.noise_multiplier
        )
        return mech

    def clip_to_grid(self, updates: np.ndarray, granularity: float):
        """Clip each row to ``clip_norm`` and round it to the noise grid.

        Returns the grid-valued updates (exact multiples of ``granularity``,
        so their sum is exact) and the norms before clipping.
        """
        clipped, norms = clip_updates(updates, self.clip_norm * _CLIP_SAFETY)
        return _to_grid(clipped, granularity, "client updates") * granularity, norms

    def noisy_mean(self, grid_sum: np.ndarray, mech: Gaussian, rng) -> np.ndarray:
        """The DP release of a round: noised grid sum over the fixed denominator."""
        return mech.randomise(grid_sum, rng) / self.denominator
