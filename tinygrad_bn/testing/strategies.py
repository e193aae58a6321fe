"""Hypothesis strategies for property-based tests of code built on tinygrad_bn (needs `hypothesis`).

Example, a test a user can copy::

    from hypothesis import given
    from tinygrad_bn.testing import gradcheck
    from tinygrad_bn.testing import strategies as tst

    @given(tst.tensors(shape=tst.shapes(max_dims=3), domain="positive"))
    def test_log_gradient(x):
        gradcheck(lambda t: t.log(), [x])

    @given(tst.broadcastable_shape_pairs().flatmap(
        lambda shapes: tst.arrays(shapes[0]).flatmap(lambda a: tst.arrays(shapes[1]).map(lambda b: (a, b)))))
    def test_mul_gradient(pair):
        gradcheck(lambda a, b: a * b, pair)

Values are finite floats in a bounded range. `domain="positive"` keeps them above `margin` (for log,
sqrt, division); `avoid_zero=True` keeps |x| >= margin (abs and relu are not differentiable at 0);
`distinct=True` makes all values at least `margin` apart (max, min and maximum have no ties then).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..tensor import Tensor


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes (tuples of ints), e.g. (), (3,), (2, 4, 1)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def broadcastable_shape_pairs(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Pairs of shapes that broadcast together under numpy's rules, e.g. ((3, 1), (4,))."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=2, min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    ).map(lambda r: r.input_shapes)


@st.composite
def arrays(
    draw: st.DrawFn,
    shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]],
    dtype: npt.DTypeLike = np.float64,
    low: float = -3.0,
    high: float = 3.0,
    domain: str = "real",
    avoid_zero: bool = False,
    distinct: bool = False,
    margin: float = 0.1,
) -> np.ndarray:
    """numpy arrays of bounded finite floats, kept away from the points an op is not differentiable at.

    domain: "real" (values in [low, high]) or "positive" (values in [margin, high]).
    avoid_zero: |x| >= margin. distinct: every pair of values differs by at least `margin`.
    """
    dims = draw(shape) if isinstance(shape, st.SearchStrategy) else shape
    size = math.prod(dims)
    lo = margin if domain == "positive" else low
    if domain not in ("real", "positive"):
        raise ValueError(f"arrays: domain must be 'real' or 'positive', got {domain!r}")
    if distinct:
        # grid points 1.25 * margin apart, each moved up by at most margin / 5: neighbours stay more than
        # `margin` apart, and values stay inside [lo, high] (and, with avoid_zero, outside (-margin, margin))
        grid = np.arange(lo, high - margin / 4, 1.25 * margin)
        if avoid_zero:
            grid = grid[(grid >= margin) | (grid <= -1.25 * margin)]
        if grid.size < size:
            raise ValueError(f"arrays: cannot draw {size} values {margin} apart in [{lo}, {high}]; "
                             "use a smaller shape or margin")
        picks = draw(st.permutations(range(grid.size)))[:size]  # unique picks, even when nearly all are used
        jitter = draw(hnp.arrays(np.float64, size, elements=st.floats(0, margin / 5)))
        values: np.ndarray = grid[np.array(picks, dtype=int)] + jitter
        return values.reshape(dims).astype(dtype)
    if avoid_zero and domain == "real":
        element = st.one_of(st.floats(low, -margin), st.floats(margin, high))
    else:
        element = st.floats(lo, high)
    return draw(hnp.arrays(np.float64, dims, elements=element)).astype(dtype)


@st.composite
def tensors(draw: st.DrawFn, shape: tuple[int, ...] | st.SearchStrategy[tuple[int, ...]] | None = None,
            requires_grad: bool = True, dtype: npt.DTypeLike = np.float64, **array_options: Any) -> Tensor:
    """Tensors whose values come from `arrays(shape, dtype, **array_options)` (shape: any `shapes()`)."""
    data = draw(arrays(shapes() if shape is None else shape, dtype=dtype, **array_options))
    return Tensor(data, requires_grad=requires_grad)


@st.composite
def axes(draw: st.DrawFn, ndim: int) -> int | tuple[int, ...] | None:
    """A reduction axis argument for an `ndim`-dimensional tensor: None, an int or a tuple of ints."""
    if ndim == 0:
        return None
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    return tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
