"""TorchGaussian: the grid-snapped Gaussian for torch tensors (DP-SGD's noise)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from skpriv.mechanisms import Gaussian, TorchGaussian, grid_granularity  # noqa: E402

from ._stats import ALPHA, assert_mean_matches, clopper_pearson  # noqa: E402

N = 1_000_000
M = 2_000_000


def _gen(seed):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.int64])
def test_outputs_are_multiples_of_the_step(dtype):
    mech = TorchGaussian(0.37)
    assert mech.granularity == grid_granularity(0.37)
    values = (torch.rand(10_000, generator=_gen(0), dtype=torch.float64) * 7 - 3).to(
        dtype
    )
    out = mech.randomise(values, _gen(1))
    assert out.dtype == torch.float64 and out.shape == values.shape
    steps = out / mech.granularity
    assert torch.equal(steps, steps.round())
    assert torch.equal(
        mech.sample((5, 3), _gen(2)) / mech.granularity % 1,
        torch.zeros(5, 3, dtype=torch.float64),
    )


def test_low_order_bits_do_not_depend_on_the_input():
    # The floating-point attack: x + noise and x' + noise take different sets
    # of values. On the grid, the set of outputs is the same for all inputs.
    mech = TorchGaussian(1.0)
    a = mech.randomise(torch.full((20_000,), 0.1), _gen(3))
    b = mech.randomise(torch.full((20_000,), 0.3), _gen(3))
    for out in (a, b):
        assert torch.equal(out / mech.granularity % 1, torch.zeros_like(out))


def test_matches_the_numpy_mechanism_and_its_grid():
    sigma = 2.5
    assert TorchGaussian(sigma).granularity == Gaussian(sigma).granularity
    mech = TorchGaussian(sigma, granularity=2.0**-10)
    assert mech.granularity == 2.0**-10
    assert mech.effective_sensitivity(1.0, n_dims=100) == pytest.approx(
        1.0 + 10 * 2.0**-10
    )


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_rejects_non_finite(bad):
    with pytest.raises(ValueError, match="NaN or infinity"):
        TorchGaussian(1.0).randomise(torch.tensor([0.0, bad]), _gen(0))


def test_rejects_bad_parameters():
    with pytest.raises(ValueError, match="sigma"):
        TorchGaussian(0.0)
    with pytest.raises(ValueError, match="power of two"):
        TorchGaussian(1.0, granularity=0.3)
    with pytest.raises(TypeError, match="torch.Tensor"):
        TorchGaussian(1.0).randomise(np.zeros(3), _gen(0))


def test_generator_makes_it_reproducible():
    mech = TorchGaussian(1.0)
    x = torch.linspace(-1, 1, 100)
    assert torch.equal(mech.randomise(x, _gen(5)), mech.randomise(x, _gen(5)))
    assert not torch.equal(mech.randomise(x, _gen(5)), mech.randomise(x, _gen(6)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_tensor_device():
    mech = TorchGaussian(0.8)
    gen = torch.Generator(device="cuda").manual_seed(0)
    x = torch.rand(100_000, device="cuda")
    out = mech.randomise(x, gen)
    assert out.device.type == "cuda"
    assert torch.equal(out / mech.granularity % 1, torch.zeros_like(out))
    noise = out - mech.randomise(x, torch.Generator(device="cuda").manual_seed(0))
    assert float(noise.abs().max()) == 0.0
    _variance_ok(lambda: mech.sample((N,), gen, device="cuda").cpu(), 0.8)


# ------------------------------------------------ statistical: scale


def _variance_ok(draw, sigma):
    noise = draw().numpy()
    # noise**2 has mean sigma**2 and sd sqrt(2) sigma**2 (grid rounding adds
    # granularity**2 / 12, about 1e-13 sigma**2).
    assert_mean_matches(noise**2, sigma**2, math.sqrt(2) * sigma**2, "Gaussian var")
    assert_mean_matches(noise, 0.0, sigma, "Gaussian mean")


def test_sigma_matches_theory():
    _variance_ok(lambda: TorchGaussian(0.7).sample((N,), _gen(7)), 0.7)


def test_sigma_test_has_power():
    with pytest.raises(AssertionError, match="var"):
        _variance_ok(lambda: TorchGaussian(0.7 * 0.9).sample((N,), _gen(7)), 0.7)


# ----------------------------------- statistical: empirical privacy loss


def _hockey_stick_lower_bound(mech, epsilon, sens, sigma_nominal, gen):
    # x = 0 vs x = sens: S = {y <= t} attains the hockey-stick divergence
    # P_0(S) - e^epsilon P_1(S) = delta for the calibrated sigma.
    t = (sens**2 - 2 * sigma_nominal**2 * epsilon) / (2 * sens)
    hits_0 = int((mech.randomise(torch.zeros(M), gen) <= t).sum())
    hits_1 = int((mech.randomise(torch.full((M,), sens), gen) <= t).sum())
    lo_0, _ = clopper_pearson(hits_0, M, ALPHA)
    _, hi_1 = clopper_pearson(hits_1, M, ALPHA)
    return lo_0 - math.exp(epsilon) * hi_1


def test_empirical_privacy_loss_within_delta():
    eps, delta, sens = 1.0, 0.05, 1.0
    ref = Gaussian.from_epsilon(eps, delta, sensitivity=sens)
    mech = TorchGaussian(ref.sigma, granularity=ref.granularity)
    assert _hockey_stick_lower_bound(mech, eps, sens, ref.sigma, _gen(8)) <= delta


def test_privacy_loss_test_has_power():
    eps, delta, sens = 1.0, 0.05, 1.0
    ref = Gaussian.from_epsilon(eps, delta, sensitivity=sens)
    broken = TorchGaussian(ref.sigma * 0.9, granularity=ref.granularity)
    assert _hockey_stick_lower_bound(broken, eps, sens, ref.sigma, _gen(8)) > delta


# ------------------------- the float64 Box-Muller normal behind the noise


def _normal_ks_ok(draw):
    from scipy import stats

    z = draw().numpy()
    p = stats.kstest(z, "norm").pvalue
    assert p >= ALPHA, f"not standard normal (KS p={p:.3g})"


def test_standard_normal_float64_is_standard_normal():
    from skpriv.mechanisms._torch import standard_normal_float64

    out = standard_normal_float64((3, 5), _gen(11), "cpu")
    assert out.shape == (3, 5) and out.dtype == torch.float64
    assert standard_normal_float64((7,), _gen(12), "cpu").shape == (7,)  # odd
    _normal_ks_ok(lambda: standard_normal_float64((200_001,), _gen(13), "cpu"))


def test_standard_normal_ks_has_power():
    from skpriv.mechanisms._torch import standard_normal_float64

    with pytest.raises(AssertionError, match="not standard normal"):
        _normal_ks_ok(
            lambda: standard_normal_float64((200_001,), _gen(14), "cpu") * 1.05
        )
