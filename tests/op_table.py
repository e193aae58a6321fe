"""The table of ops that drives the generic tests (test_ops.py, test_ops_torch.py).

Each `OpSpec` says how to build the op from Tensors, how to draw its inputs, the same computation in numpy
(the forward reference) and in PyTorch (the parity reference), and whether it is smooth (its second
derivative is checked too). A drawn `Sample` holds the floating input arrays, which are differentiated,
and fixed parameters (axes, indices, masks, scalars) passed to all three functions as keywords.

Input domains keep every input away from the points the op is not differentiable at: positive values
for log, sqrt, fractional powers and denominators; |x| >= margin for abs and relu; values `margin`
apart for max, min, maximum, minimum and the bounds of clip, so a finite difference never crosses a kink.
Shapes stay small (at most 3 dimensions of side at most 4) to keep the suite fast.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_bn as tg
from tinygrad_bn import Tensor
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import strategies as tst

MAX_DIMS = 3
MAX_SIDE = 4
DISTINCT_MARGIN = 0.05  # room for 96 distinct values in [-3, 3]: enough for every drawn shape


@dataclass(frozen=True)
class Sample:
    """One drawn case: the floating inputs (differentiated) and fixed keyword parameters."""

    arrays: tuple
    params: dict = field(default_factory=dict)


@dataclass(frozen=True)
class OpSpec:
    """One table row: an op, its input strategy and its numpy and PyTorch equivalents."""

    name: str
    fn: Callable[..., Tensor]  # (*tensors, **params) -> Tensor
    ref: Callable[..., np.ndarray]  # (*arrays, **params) -> array, the numpy forward
    torch: Callable[..., Any]  # (*torch_tensors, **params) -> torch tensor
    draw: st.SearchStrategy  # -> Sample
    smooth: bool = True  # twice differentiable on the drawn domain: gradgradcheck applies
    keeps_dtype: bool = True  # float32 inputs give a float32 output
    check: dict = field(default_factory=dict)  # gradcheck/gradgradcheck options (eps, atol, rtol)

    def __repr__(self) -> str:
        return self.name


def _torch():
    """PyTorch, imported only when a parity test runs (the suite passes without it)."""
    import torch

    return torch


def _dims(axis: Any, ndim: int) -> Any:
    """A numpy axis argument as PyTorch's dim argument (None means every axis)."""
    return tuple(range(ndim)) if axis is None else axis


# ----------------------------------------------------------------------------- input strategies


def shapes(min_dims: int = 0, max_dims: int = MAX_DIMS, min_side: int = 1, max_side: int = MAX_SIDE):
    """Small array shapes."""
    return tst.shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side)


def one(shape=None, **options: Any) -> st.SearchStrategy:
    """Samples with one input array (of a drawn shape unless `shape` is given)."""
    return tst.arrays(shapes() if shape is None else shape, **options).map(lambda a: Sample((a,)))


def pair(first: dict | None = None, second: dict | None = None, max_dims: int = MAX_DIMS) -> st.SearchStrategy:
    """Samples with two arrays of broadcast-compatible shapes, each with its own array options."""
    return tst.broadcastable_shape_pairs(max_dims=max_dims, max_side=MAX_SIDE).flatmap(
        lambda s: st.tuples(tst.arrays(s[0], **(first or {})), tst.arrays(s[1], **(second or {})))
    ).map(Sample)


@st.composite
def distinct_pair(draw: Any) -> Sample:
    """Two broadcast-compatible arrays whose values are all `DISTINCT_MARGIN` apart (no ties between them)."""
    sa, sb = draw(tst.broadcastable_shape_pairs(max_dims=MAX_DIMS, max_side=3))
    na, nb = int(np.prod(sa)), int(np.prod(sb))
    values = draw(tst.arrays((na + nb,), distinct=True, margin=DISTINCT_MARGIN))
    return Sample((values[:na].reshape(sa), values[na:].reshape(sb)))


@st.composite
def scalar_and_one(draw: Any, scalars: list, **options: Any) -> Sample:
    """One array and a Python scalar parameter `c` drawn from `scalars`."""
    x = draw(tst.arrays(shapes(), **options))
    return Sample((x,), {"c": draw(st.sampled_from(scalars))})


@st.composite
def reduction(draw: Any, distinct: bool = False, with_ddof: bool = False) -> Sample:
    """One array with an axis argument (None, int or tuple) and keepdims, optionally ddof for var.

    Hypothesis favours the first choice of a `sampled_from`, so 2-d inputs and int axes come first (a
    0-d input allows only axis=None). Distinct values (max, min) come with sides >= 2: a real choice.
    """
    ndim = draw(st.sampled_from([2, 1, 3, 0]))
    shape = draw(shapes(min_dims=ndim, max_dims=ndim, min_side=2 if distinct else 1))
    x = draw(tst.arrays(shape, distinct=distinct, margin=DISTINCT_MARGIN if distinct else 0.1))
    kind = draw(st.sampled_from(["int", "tuple", "none"])) if ndim else "none"
    if kind == "int":
        axis = draw(st.integers(-ndim, ndim - 1))
    elif kind == "tuple":
        axis = tuple(draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)))
    else:
        axis = None
    params = {"axis": axis, "keepdims": draw(st.booleans())}
    if with_ddof:
        count = int(np.prod(shape)) // np.zeros(shape).sum(axis=axis).size  # values per reduction
        params["ddof"] = draw(st.sampled_from([0, 1])) if count > 1 else 0
    return Sample((x,), params)


@st.composite
def matmul_operands(draw: Any, kinds: tuple) -> Sample:
    """Two matmul operands of one of `kinds`: v (1-D), m (2-D) or b (batched N-D, batch axes broadcast)."""
    kind = draw(st.sampled_from(kinds))
    n, k, m = (draw(st.integers(1, MAX_SIDE)) for _ in range(3))
    ba, bb = draw(tst.broadcastable_shape_pairs(min_dims=1, max_dims=2, max_side=2))
    left = {"v": (k,), "m": (n, k), "b": ba + (n, k)}[kind[0]]
    right = {"v": (k,), "m": (k, m), "b": bb + (k, m)}[kind[1]]
    return Sample((draw(tst.arrays(left)), draw(tst.arrays(right))))


@st.composite
def linear_operands(draw: Any, bias: bool) -> Sample:
    """Input x (1-D, 2-D or 3-D, ending in `in`), weight (out, in) and, with `bias`, a bias (out,)."""
    n_in, n_out = draw(st.integers(1, MAX_SIDE)), draw(st.integers(1, MAX_SIDE))
    lead = draw(st.sampled_from([(), (draw(st.integers(1, MAX_SIDE)),), (2, draw(st.integers(1, 3)))]))
    arrays = [draw(tst.arrays(lead + (n_in,))), draw(tst.arrays((n_out, n_in)))]
    if bias:
        arrays.append(draw(tst.arrays((n_out,))))
    return Sample(tuple(arrays))


def _linear_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    return x @ w.T + (0 if b is None else b)


@st.composite
def basic_index(draw: Any) -> Sample:
    """An array and a basic index: ints and non-empty slices (positive steps), maybe after an Ellipsis."""
    shape = draw(shapes(min_dims=1))
    count = draw(st.integers(1, len(shape)))
    trailing = draw(st.booleans())  # index the last axes after an Ellipsis: x[..., k]
    keys: list = []
    for n in shape[-count:] if trailing else shape[:count]:
        if draw(st.booleans()):
            i = draw(st.integers(0, n - 1))
            keys.append(i - n if draw(st.booleans()) else i)
        else:
            start = draw(st.integers(0, n - 1))
            stop = draw(st.integers(start + 1, n))
            step = draw(st.sampled_from([None, 1, 2]))
            keys.append(slice(None if start == 0 and draw(st.booleans()) else start,
                              None if stop == n and draw(st.booleans()) else stop, step))
    if trailing:
        keys = [Ellipsis, *keys]
    index = tuple(keys) if len(keys) > 1 or draw(st.booleans()) else keys[0]
    return Sample((draw(tst.arrays(shape)),), {"index": index})


@st.composite
def take_repeated(draw: Any) -> Sample:
    """An array and an integer index array along axis 0 that repeats an index (gradients add up)."""
    shape = draw(shapes(min_dims=1))
    n = shape[0]
    idx = draw(st.lists(st.integers(-n, n - 1), min_size=1, max_size=5))
    return Sample((draw(tst.arrays(shape)),), {"idx": np.array(idx + [idx[0]])})


@st.composite
def rows_and_labels(draw: Any) -> Sample:
    """Logits (n, classes) and integer labels, for x[np.arange(n), labels] (labels repeat freely)."""
    n, classes = draw(st.integers(1, 6)), draw(st.integers(1, MAX_SIDE))
    labels = np.array(draw(st.lists(st.integers(0, classes - 1), min_size=n, max_size=n)))
    return Sample((draw(tst.arrays((n, classes))),), {"labels": labels})


@st.composite
def masked(draw: Any) -> Sample:
    """An array and a boolean mask of its shape."""
    shape = draw(shapes(min_dims=1))
    mask = draw(hnp.arrays(np.bool_, shape))
    return Sample((draw(tst.arrays(shape)),), {"mask": mask})


@st.composite
def joinable(draw: Any, stack: bool = False) -> Sample:
    """1-3 arrays to concatenate (shapes equal except along `axis`) or stack (equal shapes)."""
    count = draw(st.integers(1, 3))
    base = draw(shapes(min_dims=0 if stack else 1, max_dims=2 if stack else MAX_DIMS))
    ndim = len(base) + (1 if stack else 0)
    axis = draw(st.integers(-ndim, ndim - 1))
    if stack:
        arrays = [draw(tst.arrays(base)) for _ in range(count)]
    else:
        arrays = []
        for _ in range(count):
            shape = list(base)
            shape[axis] = draw(st.integers(1, 3))
            arrays.append(draw(tst.arrays(tuple(shape))))
    return Sample(tuple(arrays), {"axis": axis})


@st.composite
def reshaped(draw: Any) -> Sample:
    """An array and a target shape of the same size (maybe with a -1)."""
    shape = draw(shapes())
    size = int(np.prod(shape))
    targets = [(size,), (-1,), (1, size), (size, 1), tuple(reversed(shape)), shape + (1,), (1,) + shape]
    if len(shape) >= 2:
        targets += [shape[:-2] + (shape[-2] * shape[-1],), shape[:-1] + (-1,)]
    return Sample((draw(tst.arrays(shape)),), {"shape": draw(st.sampled_from(targets))})


@st.composite
def permuted(draw: Any) -> Sample:
    """An array and an axes permutation (or None: reverse the axes)."""
    shape = draw(shapes())
    axes = draw(st.none() | st.permutations(range(len(shape))).map(tuple))
    return Sample((draw(tst.arrays(shape)),), {"axes": axes})


@st.composite
def swapped(draw: Any) -> Sample:
    """An array and two of its axes (maybe negative)."""
    shape = draw(shapes(min_dims=1))
    ndim = len(shape)
    a1, a2 = draw(st.integers(-ndim, ndim - 1)), draw(st.integers(-ndim, ndim - 1))
    return Sample((draw(tst.arrays(shape)),), {"a1": a1, "a2": a2})


@st.composite
def squeezable(draw: Any) -> Sample:
    """An array with some length-1 axes and a squeeze argument (None, one such axis, or a tuple)."""
    shape = draw(shapes(max_side=2))
    ones = [i for i, n in enumerate(shape) if n == 1]
    options: list = [None]
    if ones:  # the named forms first: Hypothesis favours the first choice
        options = [draw(st.sampled_from(ones)) - (len(shape) if draw(st.booleans()) else 0), tuple(ones), None]
    return Sample((draw(tst.arrays(shape)),), {"axis": draw(st.sampled_from(options))})


@st.composite
def unsqueezable(draw: Any) -> Sample:
    """An array and a position for a new axis, from -(ndim + 1) to ndim."""
    shape = draw(shapes())
    return Sample((draw(tst.arrays(shape)),), {"axis": draw(st.integers(-len(shape) - 1, len(shape)))})


@st.composite
def broadcastable_to(draw: Any) -> Sample:
    """An array and a larger shape it broadcasts to."""
    sa, sb = draw(tst.broadcastable_shape_pairs(max_dims=MAX_DIMS, max_side=MAX_SIDE))
    return Sample((draw(tst.arrays(sa)),), {"shape": np.broadcast_shapes(sa, sb)})


@st.composite
def flattenable(draw: Any) -> Sample:
    """An array and a start_dim <= end_dim range (end maybe negative)."""
    shape = draw(shapes(min_dims=1))
    ndim = len(shape)
    start = draw(st.integers(0, ndim - 1))
    end = draw(st.integers(start, ndim - 1))
    return Sample((draw(tst.arrays(shape)),), {"start": start, "end": end - ndim if draw(st.booleans()) else end})


@st.composite
def where_operands(draw: Any) -> Sample:
    """A boolean condition and two branches, all three mutually broadcastable."""
    sc, sa, sb = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=MAX_DIMS, max_side=MAX_SIDE)
                      .map(lambda r: r.input_shapes))
    cond = draw(hnp.arrays(np.bool_, sc))
    return Sample((draw(tst.arrays(sa)), draw(tst.arrays(sb))), {"cond": cond})


@st.composite
def clippable(draw: Any) -> Sample:
    """An array and clip bounds (either may be None), every value `DISTINCT_MARGIN` away from the bounds."""
    shape = draw(shapes())
    size = int(np.prod(shape))
    values = draw(tst.arrays((size + 2,), distinct=True, margin=DISTINCT_MARGIN))
    low, high = sorted(values[size:].tolist())
    which = draw(st.sampled_from(["both", "low", "high"]))
    return Sample((values[:size].reshape(shape),),
                  {"low": None if which == "high" else low, "high": None if which == "low" else high})


# ----------------------------------------------------------------------------- the table


def _t(x: Any) -> Any:
    """A numpy index array as a torch tensor."""
    return _torch().as_tensor(x)


def _unary(name: str, method: str, np_fn: Callable, smooth: bool = True, **options: Any) -> OpSpec:
    """A unary op called as a Tensor method and torch method of the same name."""
    return OpSpec(name, lambda x: getattr(x, method)(), np_fn, lambda x: getattr(x, method)(),
                  one(**options), smooth=smooth)


def _reversed_axes(x: Any) -> tuple:
    """The permutation that reverses a tensor's axes (numpy's default transpose)."""
    return tuple(reversed(range(x.ndim)))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function in numpy."""
    return 1.0 / (1.0 + np.exp(-x))


POSITIVE = {"domain": "positive"}
# a**b spans orders of magnitude near a = 0.1; finite differences of such a sum lose the small terms
POW_BASE = {"domain": "positive", "margin": 0.5, "high": 2.0}

OPS: list[OpSpec] = [
    # elementwise binary, broadcasting
    OpSpec("add", lambda a, b: a + b, np.add, lambda a, b: a + b, pair()),
    OpSpec("sub", lambda a, b: a - b, np.subtract, lambda a, b: a - b, pair()),
    OpSpec("mul", lambda a, b: a * b, np.multiply, lambda a, b: a * b, pair()),
    OpSpec("div", lambda a, b: a / b, np.divide, lambda a, b: a / b, pair(second=POSITIVE)),
    OpSpec("pow_tensor", lambda a, b: a**b, np.power, lambda a, b: a**b,
           pair(first=POW_BASE, second={"low": -2.0, "high": 2.0})),
    OpSpec("maximum", tg.maximum, np.maximum, lambda a, b: _torch().maximum(a, b), distinct_pair(), smooth=False),
    OpSpec("minimum", lambda a, b: a.minimum(b), np.minimum, lambda a, b: _torch().minimum(a, b),
           distinct_pair(), smooth=False),
    OpSpec("where", lambda a, b, cond: tg.where(cond, a, b), lambda a, b, cond: np.where(cond, a, b),
           lambda a, b, cond: _torch().where(_t(cond), a, b), where_operands()),
    # scalars on either side
    OpSpec("pow_scalar", lambda x, c: x**c, lambda x, c: x**c, lambda x, c: x**c,
           scalar_and_one([0.5, -1.5, 2.5, 1 / 3], domain="positive", margin=0.25)),
    OpSpec("pow_int", lambda x, c: x**c, lambda x, c: x**c, lambda x, c: x**c, scalar_and_one([2, 3])),
    OpSpec("rpow", lambda x, c: c**x, lambda x, c: c**x, lambda x, c: c**x, scalar_and_one([0.5, 2.0, 3.0])),
    OpSpec("radd", lambda x, c: c + x, lambda x, c: c + x, lambda x, c: c + x, scalar_and_one([-1.5, 2])),
    OpSpec("rsub", lambda x, c: c - x, lambda x, c: c - x, lambda x, c: c - x, scalar_and_one([-1.5, 2])),
    OpSpec("rmul", lambda x, c: c * x, lambda x, c: c * x, lambda x, c: c * x, scalar_and_one([-1.5, 2])),
    OpSpec("rtruediv", lambda x, c: c / x, lambda x, c: c / x, lambda x, c: c / x,
           scalar_and_one([-1.5, 2], **POSITIVE)),
    # elementwise unary
    OpSpec("neg", lambda x: -x, np.negative, lambda x: -x, one()),
    _unary("exp", "exp", np.exp),
    _unary("log", "log", np.log, **POSITIVE),
    _unary("sqrt", "sqrt", np.sqrt, **POSITIVE),
    _unary("abs", "abs", np.abs, smooth=False, avoid_zero=True),
    _unary("relu", "relu", lambda x: np.maximum(x, 0), smooth=False, avoid_zero=True),
    _unary("sigmoid", "sigmoid", _sigmoid),
    _unary("tanh", "tanh", np.tanh),
    OpSpec("clip", lambda x, low, high: x.clip(low, high), lambda x, low, high: np.clip(x, low, high),
           lambda x, low, high: x.clamp(low, high), clippable(), smooth=False),
    # float64 -> float32 -> float64: a float32 round trip needs a larger finite-difference step
    OpSpec("astype", lambda x: x.astype(np.float32).astype(np.float64),
           lambda x: x.astype(np.float32).astype(np.float64), lambda x: x.float().double(), one(),
           keeps_dtype=False, check={"eps": 1e-2, "atol": 1e-5}),
    # matrix product
    OpSpec("matmul_1d", lambda a, b: a @ b, np.matmul, lambda a, b: a @ b, matmul_operands(("vv", "vm", "mv"))),
    OpSpec("matmul_2d", lambda a, b: a.matmul(b), np.matmul, lambda a, b: a @ b, matmul_operands(("mm",))),
    OpSpec("matmul_batched", lambda a, b: a @ b, np.matmul, lambda a, b: a @ b,
           matmul_operands(("bb", "vb", "bv", "bm", "mb"))),
    OpSpec("linear", lambda x, w, b: F.linear(x, w, b), _linear_ref,
           lambda x, w, b: _torch().nn.functional.linear(x, w, b), linear_operands(bias=True)),
    OpSpec("linear_no_bias", lambda x, w: F.linear(x, w), _linear_ref,
           lambda x, w: _torch().nn.functional.linear(x, w), linear_operands(bias=False)),
    # reductions
    OpSpec("sum", lambda x, axis, keepdims: x.sum(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.sum(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: x.sum(dim=_dims(axis, x.ndim), keepdim=keepdims), reduction()),
    OpSpec("mean", lambda x, axis, keepdims: x.mean(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.mean(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: x.mean(dim=_dims(axis, x.ndim), keepdim=keepdims), reduction()),
    OpSpec("var", lambda x, axis, keepdims, ddof: x.var(axis=axis, keepdims=keepdims, ddof=ddof),
           lambda x, axis, keepdims, ddof: np.var(x, axis=axis, keepdims=keepdims, ddof=ddof),
           lambda x, axis, keepdims, ddof: x.var(dim=_dims(axis, x.ndim), keepdim=keepdims, correction=ddof),
           reduction(with_ddof=True)),
    OpSpec("max", lambda x, axis, keepdims: x.max(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.max(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: x.amax(dim=_dims(axis, x.ndim), keepdim=keepdims),
           reduction(distinct=True), smooth=False),
    OpSpec("min", lambda x, axis, keepdims: x.min(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.min(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: x.amin(dim=_dims(axis, x.ndim), keepdim=keepdims),
           reduction(distinct=True), smooth=False),
    # indexing
    OpSpec("getitem_basic", lambda x, index: x[index], lambda x, index: x[index], lambda x, index: x[index],
           basic_index()),
    OpSpec("getitem_reversed", lambda x: x[::-1], lambda x: x[::-1], lambda x: x.flip(0), one(shapes(min_dims=1))),
    OpSpec("getitem_repeated", lambda x, idx: x[idx], lambda x, idx: x[idx], lambda x, idx: x[_t(idx)],
           take_repeated()),
    OpSpec("getitem_labels", lambda x, labels: x[np.arange(x.shape[0]), Tensor(labels)],
           lambda x, labels: x[np.arange(x.shape[0]), labels],
           lambda x, labels: x[_torch().arange(x.shape[0]), _t(labels)], rows_and_labels()),
    OpSpec("getitem_mask", lambda x, mask: x[mask], lambda x, mask: x[mask], lambda x, mask: x[_t(mask)], masked()),
    # joining
    OpSpec("concatenate", lambda *xs, axis: tg.concatenate(xs, axis=axis),
           lambda *xs, axis: np.concatenate(xs, axis=axis), lambda *xs, axis: _torch().cat(xs, dim=axis),
           joinable()),
    OpSpec("stack", lambda *xs, axis: tg.stack(xs, axis=axis), lambda *xs, axis: np.stack(xs, axis=axis),
           lambda *xs, axis: _torch().stack(xs, dim=axis), joinable(stack=True)),
    # shape and movement
    OpSpec("reshape", lambda x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape),
           lambda x, shape: x.reshape(shape), reshaped()),
    OpSpec("transpose", lambda x, axes: x.transpose(axes), lambda x, axes: x.transpose(axes),
           lambda x, axes: x.permute(axes if axes is not None else _reversed_axes(x)), permuted()),
    OpSpec("T", lambda x: x.T, lambda x: x.T, lambda x: x.permute(_reversed_axes(x)), one()),
    OpSpec("swapaxes", lambda x, a1, a2: x.swapaxes(a1, a2), lambda x, a1, a2: np.swapaxes(x, a1, a2),
           lambda x, a1, a2: x.swapaxes(a1, a2), swapped()),
    OpSpec("squeeze", lambda x, axis: x.squeeze(axis), lambda x, axis: np.squeeze(x, axis),
           lambda x, axis: x.squeeze() if axis is None else x.squeeze(axis), squeezable()),
    OpSpec("unsqueeze", lambda x, axis: x.unsqueeze(axis), lambda x, axis: np.expand_dims(x, axis),
           lambda x, axis: x.unsqueeze(axis), unsqueezable()),
    OpSpec("broadcast_to", lambda x, shape: x.broadcast_to(shape), lambda x, shape: np.broadcast_to(x, shape),
           lambda x, shape: x.broadcast_to(shape), broadcastable_to()),
    OpSpec("flatten", lambda x, start, end: x.flatten(start, end),
           lambda x, start, end: x.reshape(x.shape[:start] + (-1,) + x.shape[end % x.ndim + 1:]),
           lambda x, start, end: x.flatten(start, end), flattenable()),
]

OPS_BY_NAME = {op.name: op for op in OPS}
