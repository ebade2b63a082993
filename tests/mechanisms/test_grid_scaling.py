"""The grid's scaling: a multiply by the exact inverse is the division, bit for bit."""

import numpy as np
import pytest

from skpriv.mechanisms._grid import _from_grid, _to_grid


@pytest.mark.parametrize("granularity", [2.0**-20, 2.0**-60, 2.0**3, 2.0**-1000])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8, bool])
def test_to_grid_equals_rounded_division(granularity, dtype):
    rng = np.random.default_rng(0)
    top = 37 if dtype is np.float32 else 280  # within the dtype's range
    raw = np.concatenate(
        [
            rng.normal(size=500) * 10.0 ** rng.integers(-300, top, 500),
            [0.0, -0.0, 5e-324, -5e-324, 1.5, 2.5, -2.5, 1e-310],
        ]
    )
    with np.errstate(all="ignore"):
        values = raw.astype(dtype) if dtype is not bool else raw > 0
    with np.errstate(all="ignore"):
        expected = np.rint(np.asarray(values, dtype=np.float64) / granularity)
    if not np.isfinite(expected).all():
        with pytest.raises(ValueError, match="too large"):
            _to_grid(values, granularity)
        return
    got = _to_grid(values, granularity)
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got, expected)
    assert np.array_equal(np.signbit(got), np.signbit(expected))


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_to_grid_refuses_non_finite(bad):
    values = np.arange(10.0)
    values[3] = bad
    with pytest.raises(ValueError, match="NaN or infinity"):
        _to_grid(values, 2.0**-20)


def test_to_grid_tells_overflow_from_non_finite():
    # Finite entries whose sum overflows: not an error at a coarse grid.
    values = np.full(4, 1e308)
    np.testing.assert_array_equal(_to_grid(values, 2.0**0), values)
    with pytest.raises(ValueError, match="too large"):
        _to_grid(values, 2.0**-20)


def test_from_grid_raises_on_overflow():
    with pytest.raises(OverflowError):
        _from_grid(np.array([1.0, 2.0**1000]), 2.0**100)
    np.testing.assert_array_equal(_from_grid(np.array([3.0, -1.0]), 0.5), [1.5, -0.5])


def test_to_grid_takes_one_granularity_per_column():
    values = np.array([[1.3, 2.6], [-0.7, 5.1]], dtype=np.float32)
    grid = np.array([2.0**-3, 2.0**-10])
    expected = np.rint(values.astype(np.float64) / grid)
    np.testing.assert_array_equal(_to_grid(values, grid), expected)
