"""The Hypothesis strategies keep their promises: bounds, domains, spacing, broadcastability."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import find, given
from hypothesis import strategies as st

from tinygrad_bn import Tensor
from tinygrad_bn.testing import strategies as tst


@given(tst.shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
def test_shapes_respect_bounds(shape):
    assert 1 <= len(shape) <= 3 and all(2 <= n <= 4 for n in shape)


@given(tst.arrays(tst.shapes()))
def test_real_arrays_are_bounded_finite_float64(x):
    assert x.dtype == np.float64 and np.all(np.isfinite(x))
    assert np.all((x >= -3.0) & (x <= 3.0))


@given(tst.arrays(tst.shapes(), dtype=np.float32, low=-1.0, high=0.5))
def test_dtype_and_bounds_are_honoured(x):
    assert x.dtype == np.float32 and np.all((x >= -1.0) & (x <= 0.5))


@given(tst.arrays(tst.shapes(), domain="positive", margin=0.2))
def test_positive_domain(x):
    assert np.all((x >= 0.2) & (x <= 3.0))


@given(tst.arrays(tst.shapes(), avoid_zero=True))
def test_avoid_zero(x):
    assert np.all(np.abs(x) >= 0.1) and np.all(np.abs(x) <= 3.0)


def min_gap(x: np.ndarray) -> float:
    """The smallest distance between two values (inf for fewer than two)."""
    values = np.sort(x.reshape(-1))
    return float(np.min(np.diff(values))) if values.size > 1 else np.inf


@given(tst.arrays(tst.shapes(max_side=3), distinct=True))
def test_distinct_values_are_margin_apart(x):
    assert min_gap(x) >= 0.1
    assert np.all((x >= -3.0) & (x <= 3.0))


@given(tst.arrays(tst.shapes(max_side=3), distinct=True, avoid_zero=True))
def test_distinct_and_avoid_zero(x):
    assert min_gap(x) >= 0.1 and np.all(np.abs(x) >= 0.1)


@given(tst.arrays(tst.shapes(max_dims=2), distinct=True, domain="positive", margin=0.05))
def test_distinct_positive_with_small_margin(x):
    assert min_gap(x) >= 0.05 and np.all((x >= 0.05) & (x <= 3.0))


@given(tst.arrays((40,), distinct=True))
def test_distinct_values_can_use_nearly_the_whole_grid(x):
    """40 values 0.1 apart in [-3, 3] use 40 of the 48 grid points: still fast, still spaced."""
    assert x.shape == (40,) and min_gap(x) >= 0.1 and np.ptp(x) > 4.5


@given(st.data())
def test_too_many_distinct_values_is_a_clear_error(data):
    with pytest.raises(ValueError, match="cannot draw 100 values 0.1 apart"):
        data.draw(tst.arrays((100,), distinct=True))


@given(st.data())
def test_unknown_domain_is_an_error(data):
    with pytest.raises(ValueError, match="domain must be"):
        data.draw(tst.arrays((2,), domain="negative"))


@given(tst.broadcastable_shape_pairs(max_dims=3, max_side=4))
def test_broadcastable_pairs_broadcast(shapes):
    a, b = shapes
    out = np.broadcast_shapes(a, b)
    assert (np.zeros(a) + np.zeros(b)).shape == out
    assert len(a) <= 3 and len(b) <= 3 and all(1 <= n <= 4 for n in a + b)


def test_broadcastable_pairs_include_real_broadcasting():
    """Not only equal shapes: pairs with different ranks and with stretched length-1 axes occur."""
    assert find(tst.broadcastable_shape_pairs(), lambda p: len(p[0]) != len(p[1]))
    stretched = find(tst.broadcastable_shape_pairs(min_dims=2),
                     lambda p: any(x == 1 and y > 1 for x, y in zip(p[0][::-1], p[1][::-1])))
    assert stretched is not None


@given(st.data(), st.integers(0, 3))
def test_axes_are_valid_for_ndim(data, ndim):
    axis = data.draw(tst.axes(ndim))
    if ndim == 0:
        assert axis is None
    if isinstance(axis, tuple):
        assert len(set(axis)) == len(axis) and all(0 <= a < ndim for a in axis)
    elif isinstance(axis, int):
        assert -ndim <= axis < ndim
    assert np.zeros((2,) * ndim).sum(axis=axis).ndim < max(ndim, 1)  # numpy accepts it and reduces


def test_axes_draw_every_kind():
    assert find(tst.axes(3), lambda a: a is None) is None  # find raises if it never draws None
    assert isinstance(find(tst.axes(3), lambda a: isinstance(a, int) and a < 0), int)
    assert len(find(tst.axes(3), lambda a: isinstance(a, tuple) and len(a) > 1)) > 1


@given(tst.tensors(shape=(2, 3), domain="positive"))
def test_tensors(t):
    assert isinstance(t, Tensor) and t.requires_grad and t.dtype == np.float64 and t.shape == (2, 3)
    assert np.all(t.numpy() >= 0.1)


@given(tst.tensors(requires_grad=False, dtype=np.float32))
def test_tensors_options(t):
    assert not t.requires_grad and t.dtype == np.float32 and t.ndim <= 3
