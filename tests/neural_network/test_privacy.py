"""Accounting, calibration and noise of the DP nets."""

import math

import dp_accounting as dpa
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from opacus.accountants import PRVAccountant, RDPAccountant
from scipy import stats
from skorch.callbacks import Callback

from skpriv.accounting import make_accountant, privacy_spent
from skpriv.exceptions import PrivacyLeakWarning
from skpriv.neural_network import DPNeuralNetClassifier, DPNeuralNetRegressor, _base
from skpriv.neural_network._dpsgd import (
    calibrated_noise_multiplier,
    noise_mechanism,
    segments_epsilon,
)
from skpriv.neural_network._testing import TinyMLP


def _clf(**kw):
    params = dict(
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        batch_size=10,
        lr=0.1,
        verbose=0,
        random_state=0,
        accountant="rdp",
    )
    params.update(kw)
    return DPNeuralNetClassifier(TinyMLP, **params)


@pytest.mark.parametrize("accountant", ["pld", "rdp"])
def test_epsilon_matches_independent_accountants(blobs, accountant):
    X, y = blobs
    net = _clf(noise_multiplier=1.1, accountant=accountant, max_epochs=3).fit(X, y)
    q, steps = 10 / 150, 3 * 15
    assert net.sample_rate_ == q and net.steps_ == steps
    # dp-accounting, composed from scratch: the same number.
    acc = make_accountant(accountant)
    acc.compose(
        dpa.SelfComposedDpEvent(
            dpa.PoissonSampledDpEvent(q, dpa.GaussianDpEvent(1.1)), steps
        )
    )
    assert net.epsilon_ == pytest.approx(acc.get_epsilon(1e-5), rel=1e-9)
    assert privacy_spent(net, delta=1e-5, accountant=accountant).epsilon == (
        pytest.approx(net.epsilon_, rel=1e-9)
    )
    # Opacus' accountants (independent code). RDP is an upper bound of the
    # tight (PLD/PRV) epsilon; PLD and PRV agree within their discretisation.
    rdp = RDPAccountant()
    rdp.history = [(1.1, q, steps)]
    prv = PRVAccountant()
    prv.history = [(1.1, q, steps)]
    eps_rdp, eps_prv = rdp.get_epsilon(1e-5), prv.get_epsilon(1e-5)
    if accountant == "pld":
        assert net.epsilon_ <= eps_rdp
        assert net.epsilon_ == pytest.approx(eps_prv, rel=0.03)
    else:  # different order grids: within a few percent
        assert net.epsilon_ == pytest.approx(eps_rdp, rel=0.05)


@pytest.mark.parametrize(
    "epsilon, batch_size, epochs", [(0.5, 10, 2), (2.0, 30, 3), (8.0, 5, 1)]
)
def test_calibration_never_overshoots_and_is_tight(blobs, epsilon, batch_size, epochs):
    X, y = blobs
    net = _clf(epsilon=epsilon, batch_size=batch_size, max_epochs=epochs).fit(X, y)
    assert net.epsilon_ <= epsilon
    assert net.epsilon_ >= 0.98 * epsilon  # the noise is not wastefully large
    assert net.history[:, "epsilon"][-1] == pytest.approx(net.epsilon_)
    assert np.all(np.diff(net.history[:, "epsilon"]) > 0)


@pytest.mark.slow
def test_pld_calibration(blobs):
    X, y = blobs
    net = _clf(epsilon=1.0, accountant="pld", max_epochs=1).fit(X, y)
    assert 0.98 <= net.epsilon_ <= 1.0
    # PLD is tighter than RDP: less noise for the same target.
    rdp = _clf(epsilon=1.0, accountant="rdp", max_epochs=1).fit(X, y)
    assert net.noise_multiplier_ < rdp.noise_multiplier_


def test_planned_event_equals_recorded_event(blobs):
    X, y = blobs
    net = _clf(epsilon=2.0).fit(X, y)
    assert net._planned_dp_event(len(X)) == net.dp_event_
    assert net.dp_n_samples_ == len(X)
    with pytest.raises(ValueError, match="n_samples"):
        net._planned_dp_event(None)


def test_planned_event_bounds_a_fit_with_a_validation_split(blobs):
    from skorch.dataset import ValidSplit

    X, y = blobs
    net = _clf(noise_multiplier=1.0, train_split=ValidSplit(5))
    with pytest.warns(PrivacyLeakWarning):
        net.fit(X, y)
    planned = privacy_spent_of(net._planned_dp_event(len(X)))
    assert planned >= privacy_spent(net, delta=1e-5, accountant="rdp").epsilon
    with pytest.raises(ValueError, match="train_split"):
        _clf(train_split=lambda ds, y: (ds, None))._planned_dp_event(150)


def privacy_spent_of(event):
    acc = make_accountant("rdp")
    acc.compose(event)
    return acc.get_epsilon(1e-5)


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(
    epsilon=st.floats(0.3, 10.0),
    sample_rate=st.floats(0.01, 1.0),
    steps=st.integers(1, 300),
)
def test_calibration_never_overshoots_property(epsilon, sample_rate, steps):
    sigma = calibrated_noise_multiplier(epsilon, 1e-5, sample_rate, steps, "rdp")
    spent = segments_epsilon(((sample_rate, sigma, steps),), 1e-5, "rdp")
    assert spent <= epsilon
    # ...and is tight: 1% less noise would overshoot.
    assert (
        segments_epsilon(((sample_rate, 0.99 * sigma, steps),), 1e-5, "rdp") > epsilon
    )


def test_partial_fit_accounts_cumulatively(blobs):
    X, y = blobs
    net = _clf(noise_multiplier=1.0)
    net.partial_fit(X, y)
    eps1, steps1 = net.epsilon_, net.steps_
    net.partial_fit(X, y)
    assert net.steps_ == 2 * steps1
    assert net.epsilon_ > eps1
    one = _clf(noise_multiplier=1.0, max_epochs=4).fit(X, y)
    assert net.epsilon_ == pytest.approx(one.epsilon_, rel=1e-9)
    # A fresh fit starts a fresh ledger.
    net.fit(X, y)
    assert net.steps_ == steps1 and net.epsilon_ == pytest.approx(eps1)


def test_empty_batches_take_noisy_steps_and_count(blobs):
    X, y = blobs
    idx = np.r_[0:20, 50:70]
    X, y = X[idx], y[idx]
    sizes = []

    class Sizes(Callback):
        def on_batch_end(self, net, batch=None, training=None, **kw):
            sizes.append(len(batch[0]))

    net = _clf(batch_size=1, noise_multiplier=1.0, max_epochs=1, callbacks=[Sizes()])
    net.fit(X, y)
    assert net.steps_ == 40 == len(sizes) == net.history[-1, "train_batch_count"]
    assert 0 in sizes  # P(no empty batch in 40) = (1 - 0.975**40)**40 < 1e-6


def test_virtual_steps_give_the_same_update(blobs):
    X, y = blobs
    a = _clf(noise_multiplier=1.0, batch_size=50).fit(X, y)
    b = _clf(noise_multiplier=1.0, batch_size=50, max_physical_batch_size=7).fit(X, y)
    assert a.steps_ == b.steps_ and a.epsilon_ == b.epsilon_
    for pa, pb in zip(a.module_.parameters(), b.module_.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-5, atol=1e-6)


class _ZeroGrad(torch.nn.Module):
    """A linear layer whose output the loss ignores: every gradient is zero."""

    def __init__(self, n_features_in=1, n_outputs=1):
        super().__init__()
        self.linear = torch.nn.Linear(n_features_in, 40)

    def forward(self, X):
        return self.linear(X)[:, :1] * 0.0


def _noise_statistic(noise_multiplier, max_grad_norm=2.0, lr=0.5, batch_size=20):
    """||theta_T - theta_0||^2 / (T sigma^2 C^2 lr^2 / B^2): chi-square(d)."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(200, 25))
    y = np.zeros(200)
    net = DPNeuralNetRegressor(
        _ZeroGrad,
        noise_multiplier=noise_multiplier,
        max_grad_norm=max_grad_norm,
        lr=lr,
        batch_size=batch_size,
        max_epochs=2,
        verbose=0,
        random_state=0,
        accountant="rdp",
        module__n_features_in=25,
    ).fit(X, y)
    start = DPNeuralNetRegressor(
        _ZeroGrad, random_state=0, verbose=0, module__n_features_in=25
    ).initialize()  # same seed: same initial weights
    theta0 = torch.cat([p.detach().flatten() for p in start.module_.parameters()])
    theta = torch.cat([p.detach().flatten() for p in net.module_.parameters()])
    d, steps = theta.numel(), net.steps_
    scale = steps * (noise_multiplier * max_grad_norm * lr / batch_size) ** 2
    return float(((theta - theta0) ** 2).sum()) / scale, d


def test_noise_has_the_calibrated_magnitude(monkeypatch):
    # Zero gradients: the update is lr * noise / B per step, so the squared
    # distance travelled over T steps is T d sigma^2 C^2 lr^2 / B^2 in
    # expectation and chi-square(d) distributed after scaling. Two-sided
    # test at false-failure rate 1e-6.
    lo, hi = None, None

    def check(stat, d):
        nonlocal lo, hi
        lo, hi = stats.chi2.ppf(0.5e-6, d), stats.chi2.isf(0.5e-6, d)
        return lo <= stat <= hi

    stat, d = _noise_statistic(1.3)
    assert check(stat, d), (stat, lo, hi)

    # Power: the same test fails on a mechanism whose noise is 25% too large.
    def too_noisy(noise_multiplier, max_grad_norm, n_dims, **kwargs):
        return noise_mechanism(1.25 * noise_multiplier, max_grad_norm, n_dims, **kwargs)

    monkeypatch.setattr(_base, "noise_mechanism", too_noisy)
    stat, d = _noise_statistic(1.3)
    assert not check(stat, d)


def test_zero_noise_is_reported_as_not_private(linear_data):
    X, y = linear_data
    net = DPNeuralNetRegressor(TinyMLP, noise_multiplier=0.0, max_epochs=1, verbose=0)
    net.fit(X, y)
    assert math.isinf(net.epsilon_)
    assert isinstance(net.dp_event_, dpa.NonPrivateDpEvent)


def test_one_huge_row_moves_weights_at_most_lr_c_over_b():
    # Full batch (q = 1), no noise, one SGD step: the update is the clipped
    # sum / B, and only the huge row has a gradient on the weights.
    X = np.zeros((10, 3))
    X[4] = 1e6
    y = np.zeros(10)

    class Lin(torch.nn.Module):
        def __init__(self, n_features_in=3, n_outputs=1):
            super().__init__()
            self.linear = torch.nn.Linear(n_features_in, n_outputs, bias=False)
            torch.nn.init.constant_(self.linear.weight, 1.0)

        def forward(self, X):
            return self.linear(X)

    net = DPNeuralNetRegressor(
        Lin,
        noise_multiplier=0.0,
        batch_size=-1,
        max_epochs=1,
        lr=1.0,
        max_grad_norm=0.3,
        verbose=0,
    ).fit(X, y)
    moved = float((net.module_.linear.weight.detach() - 1.0).norm())
    assert moved == pytest.approx(0.3 / 10, rel=1e-4)
