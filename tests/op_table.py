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

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygrad_bn as tg
from tinygrad_bn import Tensor, ops
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
    differentiable: bool = True  # False: a comparison, mask or index (checked for values and dtype only)

    def __post_init__(self) -> None:
        if not self.differentiable and self.smooth:
            raise ValueError(f"op table row {self.name}: a row without gradients cannot be smooth")

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


# ----------------------------------------------------------------------------- convolution and pooling


@st.composite
def conv_operands(draw: Any, nd: int, bias: bool) -> Sample:
    """Input (N, C_in, *spatial), weight (C_out, C_in/groups, *kernel) and maybe a bias, with drawn stride,
    padding (ints, 'valid', or 'same', which pads one side only for an even span), dilation and groups.

    The spatial size is drawn from the smallest the padded kernel fits (one output position: the kernel
    equal to the padded input) to 3 more; strides up to 3 exceed kernels of 1 or 2 (1x1 convolutions
    included), so windows skip values and trailing values go unused."""
    groups = draw(st.sampled_from([1, 2]))
    n, cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.sampled_from([1, 2])) for _ in range(nd))
    mode = draw(st.sampled_from(["ints", "same", "valid"]))
    stride = (1,) * nd if mode == "same" else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    if mode == "ints":
        pads = tuple(draw(st.integers(0, 1)) for _ in range(nd))
        padding: Any = pads if draw(st.booleans()) else pads[0] if len(set(pads)) == 1 else pads
        totals = [2 * p for p in pads]
    else:
        padding = mode
        totals = [s - 1 for s in spans] if mode == "same" else [0] * nd
    spatial = tuple(draw(st.integers(max(s - t, 1), max(s - t, 1) + 3)) for s, t in zip(spans, totals))
    arrays = [draw(tst.arrays((n, groups * cg) + spatial)), draw(tst.arrays((groups * og, cg) + kernel))]
    if bias:
        arrays.append(draw(tst.arrays((groups * og,))))
    return Sample(tuple(arrays), {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups})


def _conv_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: tuple = (), padding: Any = 0,
              dilation: tuple = (), groups: int = 1) -> np.ndarray:
    """Convolution by its definition, one output position at a time (no im2col, no strides tricks)."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
        pads = [(t // 2, t - t // 2) for t in totals]
    elif padding == "valid":
        pads = [(0, 0)] * nd
    else:
        pads = [(p, p) for p in (padding if isinstance(padding, tuple) else (padding,) * nd)]
    xp = np.pad(x, [(0, 0), (0, 0)] + pads)
    sizes = [(xp.shape[2 + i] - dilation[i] * (kernel[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    cg, og = w.shape[1], w.shape[0] // groups
    out = np.zeros((x.shape[0], w.shape[0], *sizes))
    for position in np.ndindex(*sizes):
        window = xp[(slice(None), slice(None)) + tuple(
            slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k in zip(position, stride, dilation, kernel))]
        for g in range(groups):
            part = window[:, g * cg:(g + 1) * cg].reshape(x.shape[0], -1)
            out[(slice(None), slice(g * og, (g + 1) * og)) + position] = part @ w[g * og:(g + 1) * og].reshape(og, -1).T
    return out + (0 if b is None else b.reshape((-1,) + (1,) * nd))


def _torch_conv(x: Any, w: Any, b: Any = None, stride: tuple = (), padding: Any = 0, dilation: tuple = (),
                groups: int = 1) -> Any:
    fn = _torch().nn.functional.conv1d if x.ndim == 3 else _torch().nn.functional.conv2d
    with warnings.catch_warnings():  # 'same' with an even span: torch warns that it pads a copy (as we do)
        warnings.simplefilter("ignore", UserWarning)
        return fn(x, w, b, stride=stride, padding=padding, dilation=dilation, groups=groups)


@st.composite
def conv_transpose_operands(draw: Any, nd: int) -> Sample:
    """Input (N, C_in, *L), weight (C_in, C_out/groups, *kernel), bias or not, stride, padding, output_padding
    (below max(stride, dilation)), dilation and groups, such that the output is not empty."""
    groups = draw(st.sampled_from([1, 2]))
    n, cg, og = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    dilation = tuple(draw(st.sampled_from([1, 2])) for _ in range(nd))
    spatial = tuple(draw(st.integers(1, 4)) for _ in range(nd))
    output_padding = tuple(draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation))
    full = [(m - 1) * s + d * (k - 1) + 1 + o
            for m, k, s, d, o in zip(spatial, kernel, stride, dilation, output_padding)]
    padding = tuple(draw(st.integers(0, min(1, (f - 1) // 2))) for f in full)
    arrays = [draw(tst.arrays((n, groups * cg) + spatial)), draw(tst.arrays((groups * cg, og) + kernel))]
    if draw(st.booleans()):
        arrays.append(draw(tst.arrays((groups * og,))))
    return Sample(tuple(arrays), {"stride": stride, "padding": padding, "output_padding": output_padding,
                                  "dilation": dilation, "groups": groups})


def _conv_transpose_ref(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: tuple = (),
                        padding: tuple = (), output_padding: tuple = (), dilation: tuple = (), groups: int = 1
                        ) -> np.ndarray:
    """Transposed convolution by its definition: each input value adds its weighted kernel into the output."""
    nd = x.ndim - 2
    kernel = w.shape[2:]
    cg, og = x.shape[1] // groups, w.shape[1]
    full = [(m - 1) * s + d * (k - 1) + 1 + o
            for m, k, s, d, o in zip(x.shape[2:], kernel, stride, dilation, output_padding)]
    out = np.zeros((x.shape[0], og * groups, *full))
    for position in np.ndindex(*x.shape[2:]):
        target = (slice(None), slice(None)) + tuple(
            slice(p * s, p * s + d * (k - 1) + 1, d) for p, s, d, k in zip(position, stride, dilation, kernel))
        for g in range(groups):
            values = x[(slice(None), slice(g * cg, (g + 1) * cg)) + position]  # (N, Cg)
            contribution = np.tensordot(values, w[g * cg:(g + 1) * cg], axes=(1, 0))  # (N, Og, *kernel)
            out[target][:, g * og:(g + 1) * og] += contribution  # out[target] is a view: the add lands in out
    crop = (slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(padding, full))
    return out[crop] + (0 if b is None else b.reshape((-1,) + (1,) * nd))


def _torch_conv_transpose(x: Any, w: Any, b: Any = None, **params: Any) -> Any:
    fn = _torch().nn.functional.conv_transpose1d if x.ndim == 3 else _torch().nn.functional.conv_transpose2d
    return fn(x, w, b, **params)


@st.composite
def pool_operands(draw: Any, nd: int, distinct: bool = False, dilation: bool = False) -> Sample:
    """Input (N, C, *spatial) and a pooling's kernel_size, stride (None: the kernel; or larger than it),
    padding (at most half the kernel), dilation and ceil_mode; values distinct for max pooling (no ties)."""
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.sampled_from([None, "drawn"]))
    stride = None if stride is None else tuple(draw(st.integers(1, 4)) for _ in range(nd))
    padding = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    dil = tuple(draw(st.sampled_from([1, 2])) for _ in range(nd)) if dilation else (1,) * nd
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dil)]
    spatial = tuple(draw(st.integers(max(s - 2 * p, 1), max(s - 2 * p, 1) + 3)) for s, p in zip(spans, padding))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 2))
    x = draw(tst.arrays((n, c) + spatial, distinct=distinct, margin=0.02 if distinct else 0.1))
    params: dict = {"kernel_size": kernel, "stride": stride, "padding": padding, "ceil_mode": draw(st.booleans())}
    if dilation:
        params["dilation"] = dil
    return Sample((x,), params)


def _pool_windows(x: np.ndarray, kernel_size: tuple, stride: tuple | None, padding: tuple, ceil_mode: bool,
                  dilation: tuple | None = None, fill: float = 0.0):
    """PyTorch's pooling windows by their definition: yields (output position, values in the window that lie
    inside the input, number of cells inside input and padding) for every output position."""
    nd = len(kernel_size)
    stride = stride or kernel_size
    dilation = dilation or (1,) * nd
    sizes = []
    for n, k, s, p, d in zip(x.shape[2:], kernel_size, stride, padding, dilation):
        room = n + 2 * p - d * (k - 1) - 1
        size = (room + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (size - 1) * s >= n + p:
            size -= 1
        sizes.append(size)
    for position in np.ndindex(*sizes):
        cells = [[q * s - p + i * d for i in range(k)] for q, s, p, d, k in
                 zip(position, stride, padding, dilation, kernel_size)]
        inside = [[c for c in axis if 0 <= c < n] for axis, n in zip(cells, x.shape[2:])]
        counted = np.prod([len([c for c in axis if c < n + p]) for axis, n, p in zip(cells, x.shape[2:], padding)])
        values = x[(slice(None), slice(None)) + np.ix_(*inside)].reshape(x.shape[:2] + (-1,))
        yield sizes, position, values, counted


def _windows_see_input(sample: Sample) -> bool:
    """False when a dilated window holds only padding (its maximum would be -inf, as in PyTorch)."""
    return all(values.shape[-1] for _, _, values, _ in _pool_windows(sample.arrays[0], **sample.params))


def _max_pool_ref(x: np.ndarray, kernel_size: tuple, stride: tuple | None, padding: tuple, ceil_mode: bool,
                  dilation: tuple | None = None) -> np.ndarray:
    out = None
    for sizes, position, values, _ in _pool_windows(x, kernel_size, stride, padding, ceil_mode, dilation):
        out = np.empty(x.shape[:2] + tuple(sizes)) if out is None else out
        out[(slice(None), slice(None)) + position] = values.max(axis=-1)
    return out


def _avg_pool_ref(x: np.ndarray, kernel_size: tuple, stride: tuple | None, padding: tuple, ceil_mode: bool,
                  count_include_pad: bool = True) -> np.ndarray:
    out = None
    for sizes, position, values, counted in _pool_windows(x, kernel_size, stride, padding, ceil_mode):
        out = np.empty(x.shape[:2] + tuple(sizes)) if out is None else out
        divisor = counted if count_include_pad else values.shape[-1]
        out[(slice(None), slice(None)) + position] = values.sum(axis=-1) / divisor
    return out


def _torch_pool(kind: str, x: Any, **params: Any) -> Any:
    return getattr(_torch().nn.functional, f"{kind}{x.ndim - 2}d")(x, **params)


@st.composite
def avg_pool_operands(draw: Any, nd: int) -> Sample:
    sample = draw(pool_operands(nd))
    return Sample(sample.arrays, {**sample.params, "count_include_pad": draw(st.booleans())})


@st.composite
def adaptive_operands(draw: Any) -> Sample:
    """Input (N, C, H, W) and an output size: 1 (global average pooling), an int, a pair or None for an axis."""
    spatial = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    size = draw(st.sampled_from(["one", "int", "pair", "none"]))
    if size == "one":
        output: Any = 1
    elif size == "int":
        output = draw(st.integers(1, 4))
    elif size == "pair":
        output = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    else:
        output = (None, draw(st.integers(1, 4)))
    return Sample((draw(tst.arrays((draw(st.integers(1, 2)), draw(st.integers(1, 2))) + spatial)),),
                  {"output_size": output})


def _adaptive_ref(x: np.ndarray, output_size: Any) -> np.ndarray:
    sizes = (output_size, output_size) if not isinstance(output_size, tuple) else output_size
    sizes = tuple(n if s is None else s for s, n in zip(sizes, x.shape[2:]))
    out = np.empty(x.shape[:2] + sizes)
    for i, j in np.ndindex(*sizes):
        (h, w), (oh, ow) = x.shape[2:], sizes
        rows = slice(i * h // oh, -(-(i + 1) * h // oh))
        cols = slice(j * w // ow, -(-(j + 1) * w // ow))
        out[:, :, i, j] = x[:, :, rows, cols].mean(axis=(2, 3))
    return out


@st.composite
def paddable(draw: Any, mode: str) -> Sample:
    """An array and F.pad's flat (before, after) counts for its last axes: in constant mode maybe negative (a
    crop, never past the size), in reflect mode below the size, in circular mode at most the size."""
    shape = draw(shapes(min_dims=1))
    axes = draw(st.integers(1, len(shape)))
    counts = []
    for n in reversed(shape[-axes:]):
        for _ in range(2):
            if mode == "constant":
                counts.append(draw(st.integers(-(n // 2), 2)))
            elif mode == "reflect":
                counts.append(draw(st.integers(0, min(n - 1, 2))))
            elif mode == "circular":
                counts.append(draw(st.integers(0, min(n, 2))))
            else:
                counts.append(draw(st.integers(0, 2)))
    params: dict = {"pad": tuple(counts), "mode": mode}
    if mode == "constant":
        params["value"] = draw(st.sampled_from([0.0, -1.5]))
    return Sample((draw(tst.arrays(shape)),), params)


def _pad_ref(x: np.ndarray, pad: tuple, mode: str, value: float = 0.0) -> np.ndarray:
    """np.pad in numpy's names ('edge' for replicate, 'wrap' for circular), negative constant counts cropping."""
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])
    crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape, widths))
    widths = [(max(lo, 0), max(hi, 0)) for lo, hi in widths]
    numpy_mode = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}[mode]
    options = {"constant_values": value} if mode == "constant" else {}
    return np.pad(x[crop], widths, mode=numpy_mode, **options)


def _torch_pad(x: Any, pad: tuple, mode: str, value: float = 0.0) -> Any:
    """torch's F.pad; its reflect/replicate/circular modes want (N, C, *padded axes): the other axes are merged."""
    functional = _torch().nn.functional
    if mode == "constant":
        return functional.pad(x, pad, mode="constant", value=value)
    axes = len(pad) // 2
    lead = tuple(x.shape[:x.ndim - axes])
    y = functional.pad(x.reshape((1, math.prod(lead)) + tuple(x.shape[x.ndim - axes:])), pad, mode=mode)
    return y.reshape(lead + tuple(y.shape[2:]))


# ----------------------------------------------------------------------------- everyday ops


@st.composite
def away_from_jumps(draw: Any, offset: float = 0.0, margin: float = 0.05) -> Sample:
    """One array whose values stay `margin` away from k + offset for every integer k (the jumps of floor and
    ceil at offset 0, of round at 0.5): a finite difference never crosses one."""
    x = draw(tst.arrays(shapes()))
    frac = (x - offset) - np.floor(x - offset)
    x = np.where(frac < margin, x + 2 * margin, np.where(frac > 1 - margin, x - 2 * margin, x))
    return Sample((x,))


@st.composite
def with_specials(draw: Any) -> Sample:
    """One array in which some values are NaN, +inf or -inf (for isnan, isinf, isfinite)."""
    x = draw(tst.arrays(shapes(min_dims=1)))
    special = draw(hnp.arrays(np.int8, x.shape, elements=st.integers(0, 3)))
    return Sample((np.select([special == 1, special == 2, special == 3], [np.nan, np.inf, -np.inf], x),))


@st.composite
def hardtanh_operands(draw: Any) -> Sample:
    """An array and bounds min_val < max_val, every value DISTINCT_MARGIN away from both."""
    shape = draw(shapes())
    size = int(np.prod(shape))
    values = draw(tst.arrays((size + 2,), distinct=True, margin=DISTINCT_MARGIN))
    low, high = sorted(values[size:].tolist())
    return Sample((values[:size].reshape(shape),), {"min_val": low, "max_val": high})


@st.composite
def axis_of(draw: Any, min_dims: int = 1, allow_none: bool = False) -> Sample:
    """One array and one of its axes (negative allowed; None too with allow_none)."""
    shape = draw(shapes(min_dims=min_dims))
    axes = st.integers(-len(shape), len(shape) - 1) if shape else st.sampled_from([0, -1])
    axis = draw(st.one_of(st.none(), axes) if allow_none else axes)
    return Sample((draw(tst.arrays(shape)),), {"axis": axis})


@st.composite
def boolean_reduction(draw: Any) -> Sample:
    """An array with zeros among its values, an axis argument and keepdims (for any and all)."""
    sample = draw(reduction())
    x = sample.arrays[0]
    zeros = draw(hnp.arrays(np.bool_, x.shape))
    return Sample((np.where(zeros, 0.0, x),), sample.params)


@st.composite
def gather_operands(draw: Any) -> Sample:
    """An array, an axis and an index array of the array's rank, no larger outside the axis (repeats allowed)."""
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    index_shape = tuple(draw(st.integers(1, 4)) if i == dim % len(shape) else draw(st.integers(1, n))
                        for i, n in enumerate(shape))
    index = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(0, shape[dim] - 1)))
    return Sample((draw(tst.arrays(shape)),), {"dim": dim, "index": index})


@st.composite
def split_operands(draw: Any) -> Sample:
    """An array, an axis, a split size or a list of sizes adding up to the axis, and which piece to return."""
    shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    n = shape[dim]
    if draw(st.booleans()):
        sizes: Any = draw(st.integers(1, n + 1))
        pieces = -(-n // sizes)
    else:
        cuts = sorted(draw(st.lists(st.integers(0, n), max_size=2)))
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, n])]
        pieces = len(sizes)
    return Sample((draw(tst.arrays(shape)),), {"sizes": sizes, "dim": dim, "piece": draw(st.integers(0, pieces - 1))})


def _split_ref(x: np.ndarray, sizes: Any, dim: int, piece: int) -> np.ndarray:
    n = x.shape[dim]
    lengths = [min(sizes, n - s) for s in range(0, n, sizes)] if isinstance(sizes, int) else sizes
    bounds = np.cumsum([0] + lengths)
    return np.take(x, np.arange(bounds[piece], bounds[piece + 1]), axis=dim)


@st.composite
def expand_operands(draw: Any) -> Sample:
    """An array and PyTorch expand sizes: -1 for kept axes, larger sizes for axes of length 1, new axes in front."""
    shape = draw(shapes(max_side=3))
    sizes = [draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 2)))]
    for n in shape:
        sizes.append(draw(st.integers(1, 3)) if n == 1 and draw(st.booleans()) else draw(st.sampled_from([-1, n])))
    return Sample((draw(tst.arrays(shape)),), {"sizes": tuple(sizes)})


def _expand_ref(x: np.ndarray, sizes: tuple) -> np.ndarray:
    lead = len(sizes) - x.ndim
    return np.broadcast_to(x, tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(sizes)))


@st.composite
def labels_of(draw: Any) -> Sample:
    """Integer labels (a parameter) for one_hot, with a number of classes at least the largest + 1; the
    drawn array only fixes the labels' shape."""
    x = draw(tst.arrays(shapes(min_dims=1, max_dims=2)))
    classes = draw(st.integers(1, 4))
    labels = draw(hnp.arrays(np.int64, x.shape, elements=st.integers(0, classes - 1)))
    return Sample((x,), {"labels": labels, "num_classes": classes + draw(st.integers(0, 1))})


@st.composite
def class_scores(draw: Any, probabilities: bool = False) -> Sample:
    """Scores (N, C) or (N, C, d1[, d2]) with integer labels (some equal to ignore_index) or probabilities, and
    PyTorch's options: class weights, ignore_index, label smoothing (for cross_entropy), reduction."""
    n, classes = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    extra = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    lead = (n,) + extra
    scores = draw(tst.arrays((n, classes) + extra))
    params: dict = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        params["weight"] = draw(tst.arrays((classes,), domain="positive", margin=0.2))
    if probabilities:
        target = draw(tst.arrays((n, classes) + extra, domain="positive"))
        return Sample((scores, target / target.sum(axis=1, keepdims=True)), params)
    labels = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, classes - 1)))
    if draw(st.booleans()):
        ignore = draw(st.sampled_from([-100, 0])) if classes > 1 else -100
        mask = draw(hnp.arrays(np.bool_, lead))
        labels = np.where(mask, ignore, labels)
        labels.flat[0] = 1 if ignore == 0 else 0  # at least one label counts (a mean of none is an error)
        params["ignore_index"] = ignore
    params["target"] = labels
    return Sample((scores,), params)


def _log_softmax_ref(x: np.ndarray) -> np.ndarray:
    shifted = x - x.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _nll_ref(log_probs: np.ndarray, target: np.ndarray, weight: np.ndarray | None = None,
             ignore_index: int = -100, reduction: str = "mean", label_smoothing: float = 0.0) -> np.ndarray:
    """PyTorch's nll_loss / label smoothing, written out: per position -w[t] log p[t], ignored positions 0."""
    classes = log_probs.shape[1]
    w = np.ones(classes) if weight is None else weight
    picked = np.take_along_axis(log_probs, np.where(target == ignore_index, 0, target)[:, None], axis=1)[:, 0]
    kept = target != ignore_index
    wt = np.where(kept, w[np.where(kept, target, 0)], 0.0)
    losses = -picked * wt
    smooth = np.where(kept, -(log_probs * w.reshape((1, -1) + (1,) * (log_probs.ndim - 2))).sum(axis=1), 0.0)
    eps = label_smoothing
    if reduction == "none":
        return (1 - eps) * losses + eps / classes * smooth
    if reduction == "sum":
        return (1 - eps) * losses.sum() + eps / classes * smooth.sum()
    return (1 - eps) * losses.sum() / wt.sum() + eps / classes * smooth.sum() / wt.sum()


def _gather_ref(x: np.ndarray, dim: int, index: np.ndarray) -> np.ndarray:
    """torch.gather in numpy: the index may be smaller than x outside `dim` (x's leading part is used)."""
    axis = dim % x.ndim
    part = x[tuple(slice(None) if i == axis else slice(0, m) for i, m in enumerate(index.shape))]
    return np.take_along_axis(part, index, axis=axis)


def _ce_prob_ref(x: np.ndarray, p: np.ndarray, weight: np.ndarray | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> np.ndarray:
    classes = x.shape[1]
    p = p * (1 - label_smoothing) + label_smoothing / classes
    w = np.ones(classes) if weight is None else weight
    losses = -(p * _log_softmax_ref(x) * w.reshape((1, -1) + (1,) * (x.ndim - 2))).sum(axis=1)
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


@st.composite
def binary_operands(draw: Any, logits: bool) -> Sample:
    """Probabilities in (0, 1) (or logits) and targets in [0, 1] of one shape, maybe element weights and (for
    logits) a pos_weight along the last axis, and a reduction."""
    shape = draw(shapes(min_dims=1))
    x = draw(tst.arrays(shape)) if logits else draw(tst.arrays(shape, low=0.05, high=0.95))
    t = draw(tst.arrays(shape, low=0.0, high=1.0))
    params: dict = {"reduction": draw(st.sampled_from(["mean", "sum", "none"]))}
    if draw(st.booleans()):
        params["weight"] = draw(tst.arrays(shape, domain="positive"))
    if logits and draw(st.booleans()):
        params["pos_weight"] = draw(tst.arrays(shape[-1:], domain="positive"))
    return Sample((x, t), params)


def _bce_ref(p: np.ndarray, t: np.ndarray, weight: np.ndarray | None = None, reduction: str = "mean") -> np.ndarray:
    loss = -(t * np.log(p) + (1 - t) * np.log(1 - p)) * (1 if weight is None else weight)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _torch_bce(p: Any, t: Any, weight: np.ndarray | None = None, reduction: str = "mean") -> Any:
    """binary_cross_entropy as PyTorch's own ops compose it (clamped logs). torch's fused kernel agrees to first
    order (tests/nn/test_nn_losses.py), but its second derivatives are ~1e-11 to 1e-10 off (measured against
    the formula in 40-digit arithmetic), beyond the table's 1e-10."""
    loss = -(t * p.log().clamp(min=-100) + (1 - t) * (1 - p).log().clamp(min=-100))
    if weight is not None:
        loss = loss * _torch().as_tensor(weight).to(p.dtype)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _bce_logits_ref(x: np.ndarray, t: np.ndarray, weight: np.ndarray | None = None, reduction: str = "mean",
                    pos_weight: np.ndarray | None = None) -> np.ndarray:
    pw = 1 if pos_weight is None else pos_weight
    loss = ((1 - t) * x + (1 + (pw - 1) * t) * np.logaddexp(0, -x)) * (1 if weight is None else weight)
    return {"none": loss, "sum": loss.sum(), "mean": loss.mean()}[reduction]


def _tensor_params(params: dict, like: Any) -> dict:
    """Array parameters (weights) as torch tensors of `like`'s dtype."""
    return {k: _torch().as_tensor(v).to(like.dtype) if isinstance(v, np.ndarray) else v for k, v in params.items()}


def _gelu_ref(x: np.ndarray, approximate: str) -> np.ndarray:
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


def _seeded(fn: Callable) -> Callable:
    """A random op's row: the project's generator seeded inside the computation (a compiled step reseeds at
    each replay), so values are reproducible; the numpy reference draws from a generator of the same seed."""
    def run(x: Any, seed: int) -> Any:
        tg.manual_seed(seed)
        return fn(x)

    return run


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


def _comparison(name: str, fn: Callable) -> OpSpec:
    """A comparison of two broadcast arrays; the second often copies values of the first, so ties occur."""
    return OpSpec(name, fn, fn, fn, tie_pair(), smooth=False, differentiable=False)


@st.composite
def tie_pair(draw: Any) -> Sample:
    """Two broadcast-compatible arrays where b may repeat values of a (comparisons must get equality right)."""
    sample = draw(pair())
    a, b = sample.arrays
    if draw(st.booleans()) and b.size and a.size:
        b = np.where(draw(hnp.arrays(np.bool_, b.shape)), np.resize(a, b.shape), b)
    return Sample((a, b))


@st.composite
def arg_reduction(draw: Any) -> Sample:
    """An array of distinct values (argmax has one answer) and an axis (None: the flat index)."""
    shape = draw(shapes(min_dims=1))
    axis = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1)))
    return Sample((draw(tst.arrays(shape, distinct=True, margin=DISTINCT_MARGIN)),), {"axis": axis})


def _lse(x: np.ndarray, axis: Any, keepdims: bool = True) -> np.ndarray:
    """log(sum(exp(x))) over axis, stable, in numpy."""
    top = np.max(x, axis=axis, keepdims=True)
    out = np.log(np.exp(x - top).sum(axis=axis, keepdims=True)) + top
    return out if keepdims else np.squeeze(out, axis=tuple(range(x.ndim)) if axis is None else axis)


def _cumsum_ref(x: np.ndarray, axis: int) -> np.ndarray:
    return np.cumsum(x, axis=axis) if x.ndim else x.copy()


def _torch_prod(x: Any, axis: Any, keepdims: bool) -> Any:
    """torch.prod reduces one dim at a time."""
    axes = tuple(range(x.ndim)) if axis is None else (axis,) if isinstance(axis, int) else axis
    for a in sorted((a % max(x.ndim, 1) for a in axes), reverse=True):
        x = x.prod(dim=a, keepdim=keepdims) if x.ndim else x
    return x


def _torch_bool_reduce(x: Any, name: str, axis: Any, keepdims: bool) -> Any:
    b = x != 0
    if axis is None:
        out = getattr(b, name)()
        return out.reshape((1,) * x.ndim) if keepdims else out
    return getattr(b, name)(dim=axis, keepdim=keepdims)


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
    # comparisons, logic, indices and integer casts: values and dtypes only (no gradient)
    *[_comparison(name, fn) for name, fn in (("lt", lambda a, b: a < b), ("le", lambda a, b: a <= b),
                                             ("gt", lambda a, b: a > b), ("ge", lambda a, b: a >= b),
                                             ("eq", lambda a, b: a == b), ("ne", lambda a, b: a != b))],
    OpSpec("logical_and", lambda a, b: (a > 0).logical_and(b > 0), lambda a, b: (a > 0) & (b > 0),
           lambda a, b: (a > 0).logical_and(b > 0), pair(), smooth=False, differentiable=False),
    OpSpec("logical_or", lambda a, b: (a > 0).logical_or(b > 0), lambda a, b: (a > 0) | (b > 0),
           lambda a, b: (a > 0).logical_or(b > 0), pair(), smooth=False, differentiable=False),
    OpSpec("logical_not", lambda x: (x > 0).logical_not(), lambda x: ~(x > 0), lambda x: (x > 0).logical_not(),
           one(), smooth=False, differentiable=False),
    OpSpec("argmax", lambda x, axis: x.argmax(axis=axis), lambda x, axis: np.argmax(x, axis=axis),
           lambda x, axis: x.argmax(dim=axis), arg_reduction(), smooth=False, differentiable=False),
    OpSpec("argmin", lambda x, axis: x.argmin(axis=axis), lambda x, axis: np.argmin(x, axis=axis),
           lambda x, axis: x.argmin(dim=axis), arg_reduction(), smooth=False, differentiable=False),
    OpSpec("astype_int", lambda x: x.astype(np.int64), lambda x: x.astype(np.int64),
           lambda x: x.to(_torch().int64), one(), smooth=False, differentiable=False),
    OpSpec("astype_bool", lambda x: x.astype(np.bool_), lambda x: x.astype(np.bool_), lambda x: x.bool(),
           one(), smooth=False, differentiable=False),
    # a random op: with p = 0 its mask is all ones whatever the generator draws, so the generic checks (and
    # the compiled replay) see fixed values; the drawn masks' statistics are tested in tests/nn
    OpSpec("dropout_mask_p0", lambda x: x * ops.DropoutMask.apply(x, p=0.0, rng=None), lambda x: x * 1.0,
           lambda x: x * 1.0, one()),
    # everyday elementwise ops
    _unary("sin", "sin", np.sin),
    _unary("cos", "cos", np.cos),
    OpSpec("erf", lambda x: x.erf(), lambda x: np.vectorize(math.erf)(x), lambda x: x.erf(), one()),
    _unary("log1p", "log1p", np.log1p, **POSITIVE),
    _unary("expm1", "expm1", np.expm1),
    _unary("log2", "log2", np.log2, **POSITIVE),
    _unary("log10", "log10", np.log10, **POSITIVE),
    _unary("rsqrt", "rsqrt", lambda x: 1 / np.sqrt(x), **POSITIVE),
    _unary("reciprocal", "reciprocal", lambda x: 1 / x, domain="real", avoid_zero=True, margin=0.3),
    OpSpec("sign", lambda x: x.sign(), np.sign, lambda x: x.sign(), one(avoid_zero=True), smooth=False),
    OpSpec("floor", lambda x: x.floor(), np.floor, lambda x: x.floor(), away_from_jumps(), smooth=False),
    OpSpec("ceil", lambda x: x.ceil(), np.ceil, lambda x: x.ceil(), away_from_jumps(), smooth=False),
    OpSpec("round", lambda x: x.round(), np.round, lambda x: x.round(), away_from_jumps(0.5), smooth=False),
    OpSpec("round_decimals", lambda x: x.round(1), lambda x: np.round(x, 1), lambda x: x.round(decimals=1),
           away_from_jumps(0.5).map(lambda s: Sample((s.arrays[0] / 10,))), smooth=False),
    OpSpec("trunc", lambda x: x.trunc(), np.trunc, lambda x: x.trunc(), away_from_jumps(), smooth=False),
    OpSpec("isnan", lambda x: x.isnan(), np.isnan, lambda x: x.isnan(), with_specials(), smooth=False,
           differentiable=False),
    OpSpec("isinf", lambda x: x.isinf(), np.isinf, lambda x: x.isinf(), with_specials(), smooth=False,
           differentiable=False),
    OpSpec("isfinite", lambda x: x.isfinite(), np.isfinite, lambda x: x.isfinite(), with_specials(), smooth=False,
           differentiable=False),
    OpSpec("floordiv", lambda a, b: a // b, np.floor_divide, lambda a, b: a // b,
           pair(second={"avoid_zero": True, "margin": 0.3}), smooth=False, differentiable=False),
    OpSpec("mod", lambda a, b: a % b, np.remainder, lambda a, b: a % b,
           pair(second={"avoid_zero": True, "margin": 0.3}), smooth=False, differentiable=False),
    OpSpec("add_alpha", lambda a, b: a.add(b, alpha=-2.5), lambda a, b: a - 2.5 * b,
           lambda a, b: a.add(b, alpha=-2.5), pair()),
    OpSpec("sub_alpha", lambda a, b: a.sub(b, alpha=0.5), lambda a, b: a - 0.5 * b,
           lambda a, b: a.sub(b, alpha=0.5), pair()),
    OpSpec("div_trunc", lambda a, b: a.div(b, rounding_mode="trunc"), lambda a, b: np.trunc(a / b),
           lambda a, b: a.div(b, rounding_mode="trunc"),
           pair(second={"avoid_zero": True, "margin": 0.3}).filter(
               lambda s: np.all(np.abs(np.asarray(s.arrays[0] / s.arrays[1]) % 1 - 0.5) < 0.45)), smooth=False),
    OpSpec("where_method", lambda a, b, cond: a.where(cond, b), lambda a, b, cond: np.where(cond, a, b),
           lambda a, b, cond: a.where(_t(cond), b), where_operands()),
    OpSpec("clone", lambda x: x.clone(), lambda x: x.copy(), lambda x: x.clone(), one()),
    # activations
    OpSpec("leaky_relu", lambda x: F.leaky_relu(x, 0.2), lambda x: np.where(x > 0, x, 0.2 * x),
           lambda x: _torch().nn.functional.leaky_relu(x, 0.2), one(avoid_zero=True), smooth=False),
    OpSpec("elu", lambda x: F.elu(x, 0.7), lambda x: np.where(x > 0, x, 0.7 * np.expm1(np.minimum(x, 0))),
           lambda x: _torch().nn.functional.elu(x, 0.7), one(avoid_zero=True), smooth=False),
    OpSpec("gelu", lambda x: F.gelu(x), lambda x: _gelu_ref(x, "none"), lambda x: _torch().nn.functional.gelu(x),
           one()),
    OpSpec("gelu_tanh", lambda x: F.gelu(x, approximate="tanh"), lambda x: _gelu_ref(x, "tanh"),
           lambda x: _torch().nn.functional.gelu(x, approximate="tanh"), one()),
    OpSpec("silu", lambda x: F.silu(x), lambda x: x / (1 + np.exp(-x)), lambda x: _torch().nn.functional.silu(x),
           one()),
    OpSpec("softplus", lambda x, beta: F.softplus(x, beta), lambda x, beta: np.logaddexp(0, beta * x) / beta,
           lambda x, beta: _torch().nn.functional.softplus(x, beta), scalar_and_one([1.0, 2.0, 0.5]).map(
               lambda s: Sample(s.arrays, {"beta": s.params["c"]}))),
    OpSpec("softplus_threshold", lambda x: F.softplus(x * 10, threshold=15),
           lambda x: np.where(x * 10 > 15, x * 10, np.logaddexp(0, x * 10)),
           lambda x: _torch().nn.functional.softplus(x * 10, threshold=15),
           one(avoid_zero=True).filter(lambda s: np.all(np.abs(s.arrays[0] * 10 - 15) > 0.5)), smooth=False),
    OpSpec("hardtanh", lambda x, **p: F.hardtanh(x, **p), lambda x, min_val, max_val: np.clip(x, min_val, max_val),
           lambda x, **p: _torch().nn.functional.hardtanh(x, **p), hardtanh_operands(), smooth=False),
    OpSpec("softmax_dim", lambda x, axis: F.softmax(x, dim=axis), lambda x, axis: np.exp(x - _lse(x, axis)),
           lambda x, axis: _torch().softmax(x, dim=axis), axis_of()),
    # reductions
    OpSpec("prod", lambda x, axis, keepdims: x.prod(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.prod(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: _torch_prod(x, axis, keepdims), reduction()),
    OpSpec("logsumexp", lambda x, axis, keepdims: x.logsumexp(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: _lse(x, axis, keepdims),
           lambda x, axis, keepdims: x.logsumexp(dim=_dims(axis, x.ndim), keepdim=keepdims), reduction()),
    OpSpec("cumsum", lambda x, axis: x.cumsum(dim=axis), lambda x, axis: _cumsum_ref(x, axis),
           lambda x, axis: x.cumsum(dim=axis), axis_of(min_dims=0)),
    OpSpec("cumsum_flat", lambda x: x.cumsum(), lambda x: np.cumsum(x), lambda x: x.reshape(-1).cumsum(0), one()),
    OpSpec("any", lambda x, axis, keepdims: x.any(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.any(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: _torch_bool_reduce(x, "any", axis, keepdims), boolean_reduction(),
           smooth=False, differentiable=False),
    OpSpec("all", lambda x, axis, keepdims: x.all(axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: np.all(x, axis=axis, keepdims=keepdims),
           lambda x, axis, keepdims: _torch_bool_reduce(x, "all", axis, keepdims), boolean_reduction(),
           smooth=False, differentiable=False),
    OpSpec("sum_dim", lambda x, axis: x.sum(dim=axis, keepdim=True), lambda x, axis: x.sum(axis=axis, keepdims=True),
           lambda x, axis: x.sum(dim=axis, keepdim=True), axis_of()),
    OpSpec("var_dim", lambda x, axis: x.var(dim=axis), lambda x, axis: np.var(x, axis=axis, ddof=1),
           lambda x, axis: x.var(dim=axis), axis_of().filter(
               lambda s: s.arrays[0].shape[s.params["axis"]] > 1)),
    OpSpec("argmax_keepdim", lambda x, axis: x.argmax(dim=axis, keepdim=True),
           lambda x, axis: np.argmax(x, axis=axis, keepdims=True), lambda x, axis: x.argmax(dim=axis, keepdim=True),
           arg_reduction().filter(lambda s: s.params["axis"] is not None), smooth=False, differentiable=False),
    # shape and indexing
    OpSpec("permute", lambda x, axes: x.permute(*axes), lambda x, axes: x.transpose(axes),
           lambda x, axes: x.permute(axes), permuted().filter(lambda s: s.params["axes"] is not None)),
    OpSpec("view", lambda x, shape: x.view(shape), lambda x, shape: x.reshape(shape),
           lambda x, shape: x.view(shape), reshaped()),
    OpSpec("expand", lambda x, sizes: x.expand(*sizes), _expand_ref, lambda x, sizes: x.expand(sizes),
           expand_operands()),
    OpSpec("cat", lambda *xs, axis: tg.cat(xs, dim=axis), lambda *xs, axis: np.concatenate(xs, axis=axis),
           lambda *xs, axis: _torch().cat(xs, dim=axis), joinable()),
    OpSpec("gather", lambda x, dim, index: x.gather(dim, Tensor(index)), _gather_ref,
           lambda x, dim, index: _torch().gather(x, dim, _t(index)), gather_operands()),
    OpSpec("masked_fill", lambda x, mask: x.masked_fill(Tensor(mask), -2.0), lambda x, mask: np.where(mask, -2.0, x),
           lambda x, mask: x.masked_fill(_t(mask), -2.0), masked()),
    OpSpec("split", lambda x, sizes, dim, piece: x.split(sizes, dim)[piece], _split_ref,
           lambda x, sizes, dim, piece: x.split(sizes, dim)[piece], split_operands()),
    OpSpec("chunk", lambda x, axis: x.chunk(2, axis)[-1], lambda x, axis: _split_ref(
        x, -(-x.shape[axis] // 2), axis, len(range(0, x.shape[axis], -(-x.shape[axis] // 2))) - 1),
           lambda x, axis: x.chunk(2, axis)[-1], axis_of()),
    OpSpec("one_hot", lambda x, labels, num_classes: F.one_hot(Tensor(labels), num_classes),
           lambda x, labels, num_classes: np.eye(num_classes, dtype=np.int64)[labels],
           lambda x, labels, num_classes: _torch().nn.functional.one_hot(_t(labels), num_classes), labels_of(),
           smooth=False, differentiable=False),
    # losses
    OpSpec("cross_entropy", lambda x, target, **p: F.cross_entropy(x, Tensor(target), **p),
           lambda x, target, **p: _nll_ref(_log_softmax_ref(x), target, **p),
           lambda x, target, **p: _torch().nn.functional.cross_entropy(x, _t(target), **_tensor_params(p, x)),
           class_scores()),
    OpSpec("cross_entropy_smoothing", lambda x, target, **p: F.cross_entropy(x, target, label_smoothing=0.2, **p),
           lambda x, target, **p: _nll_ref(_log_softmax_ref(x), target, label_smoothing=0.2, **p),
           lambda x, target, **p: _torch().nn.functional.cross_entropy(x, _t(target), label_smoothing=0.2,
                                                                       **_tensor_params(p, x)), class_scores()),
    OpSpec("cross_entropy_probs", lambda x, p, **o: F.cross_entropy(x, p, label_smoothing=0.1, **o),
           lambda x, p, **o: _ce_prob_ref(x, p, label_smoothing=0.1, **o),
           lambda x, p, **o: _torch().nn.functional.cross_entropy(x, p, label_smoothing=0.1, **_tensor_params(o, x)),
           class_scores(probabilities=True)),
    OpSpec("nll_loss", lambda x, target, **p: F.nll_loss(x, Tensor(target), **p),
           lambda x, target, **p: _nll_ref(x, target, **p),
           lambda x, target, **p: _torch().nn.functional.nll_loss(x, _t(target), **_tensor_params(p, x)),
           class_scores()),
    OpSpec("binary_cross_entropy", lambda p, t, **o: F.binary_cross_entropy(p, t, **o), _bce_ref,
           _torch_bce,
           binary_operands(logits=False)),
    OpSpec("binary_cross_entropy_with_logits", lambda x, t, **o: F.binary_cross_entropy_with_logits(x, t, **o),
           _bce_logits_ref,
           lambda x, t, **o: _torch().nn.functional.binary_cross_entropy_with_logits(x, t, **_tensor_params(o, x)),
           binary_operands(logits=True)),
    # creation (values and dtypes; the drawn array gives the shape and dtype)
    OpSpec("zeros_like", lambda x: tg.zeros_like(x), np.zeros_like, lambda x: _torch().zeros_like(x), one(),
           smooth=False, differentiable=False),
    OpSpec("ones_like", lambda x: tg.ones_like(x), np.ones_like, lambda x: _torch().ones_like(x), one(),
           smooth=False, differentiable=False),
    OpSpec("full_like", lambda x: tg.full_like(x, -1.5), lambda x: np.full_like(x, -1.5),
           lambda x: _torch().full_like(x, -1.5), one(), smooth=False, differentiable=False),
    OpSpec("zeros", lambda x: tg.zeros(*x.shape, dtype=x.dtype), lambda x: np.zeros(x.shape, x.dtype),
           lambda x: _torch().zeros(x.shape, dtype=x.dtype), one(), smooth=False, differentiable=False),
    OpSpec("ones", lambda x: tg.ones(x.shape, dtype=x.dtype), lambda x: np.ones(x.shape, x.dtype),
           lambda x: _torch().ones(x.shape, dtype=x.dtype), one(), smooth=False, differentiable=False),
    OpSpec("full", lambda x: tg.full(x.shape, 2.5, dtype=x.dtype), lambda x: np.full(x.shape, 2.5, x.dtype),
           lambda x: _torch().full(x.shape, 2.5, dtype=x.dtype), one(), smooth=False, differentiable=False),
    OpSpec("eye", lambda x: tg.eye(*x.shape, dtype=x.dtype), lambda x: np.eye(*x.shape, dtype=x.dtype),
           lambda x: _torch().eye(*x.shape, dtype=x.dtype), one(shapes(min_dims=2, max_dims=2)), smooth=False,
           differentiable=False),
    OpSpec("arange", lambda x: tg.arange(x.size, dtype=x.dtype), lambda x: np.arange(x.size, dtype=x.dtype),
           lambda x: _torch().arange(x.numel(), dtype=x.dtype), one(), smooth=False, differentiable=False),
    OpSpec("rand_like", _seeded(tg.rand_like), lambda x, seed: np.random.default_rng(seed).random(x.shape, x.dtype),
           lambda x, seed: _torch().from_numpy(np.random.default_rng(seed).random(tuple(x.shape))),
           one().map(lambda s: Sample(s.arrays, {"seed": 3})), smooth=False, differentiable=False),
    OpSpec("randn_like", _seeded(tg.randn_like),
           lambda x, seed: np.random.default_rng(seed).standard_normal(x.shape, x.dtype),
           lambda x, seed: _torch().from_numpy(np.random.default_rng(seed).standard_normal(tuple(x.shape))),
           one().map(lambda s: Sample(s.arrays, {"seed": 4})), smooth=False, differentiable=False),
    # convolution and pooling (N, C, *spatial); shapes kept small: the Jacobian tests build full Jacobians
    OpSpec("conv2d", lambda x, w, b, **p: F.conv2d(x, w, b, **p), _conv_ref, _torch_conv,
           conv_operands(2, bias=True)),
    OpSpec("conv2d_no_bias", lambda x, w, **p: F.conv2d(x, w, **p), _conv_ref, _torch_conv,
           conv_operands(2, bias=False)),
    OpSpec("conv1d", lambda x, w, b, **p: F.conv1d(x, w, b, **p), _conv_ref, _torch_conv,
           conv_operands(1, bias=True)),
    OpSpec("conv_transpose2d", lambda x, w, *b, **p: F.conv_transpose2d(x, w, *b, **p), _conv_transpose_ref,
           _torch_conv_transpose, conv_transpose_operands(2)),
    OpSpec("conv_transpose1d", lambda x, w, *b, **p: F.conv_transpose1d(x, w, *b, **p), _conv_transpose_ref,
           _torch_conv_transpose, conv_transpose_operands(1)),
    OpSpec("max_pool2d", lambda x, **p: F.max_pool2d(x, **p), _max_pool_ref,
           lambda x, **p: _torch_pool("max_pool", x, **p),
           pool_operands(2, distinct=True, dilation=True).filter(_windows_see_input), smooth=False),
    OpSpec("max_pool1d", lambda x, **p: F.max_pool1d(x, **p), _max_pool_ref,
           lambda x, **p: _torch_pool("max_pool", x, **p),
           pool_operands(1, distinct=True, dilation=True).filter(_windows_see_input), smooth=False),
    OpSpec("avg_pool2d", lambda x, **p: F.avg_pool2d(x, **p), _avg_pool_ref,
           lambda x, **p: _torch_pool("avg_pool", x, **p), avg_pool_operands(2)),
    OpSpec("avg_pool1d", lambda x, **p: F.avg_pool1d(x, **p), _avg_pool_ref,
           lambda x, **p: _torch_pool("avg_pool", x, **p), avg_pool_operands(1)),
    OpSpec("adaptive_avg_pool2d", lambda x, output_size: F.adaptive_avg_pool2d(x, output_size), _adaptive_ref,
           lambda x, output_size: _torch().nn.functional.adaptive_avg_pool2d(x, output_size), adaptive_operands()),
    *[OpSpec(f"pad_{mode}", lambda x, **p: F.pad(x, **p), _pad_ref, _torch_pad, paddable(mode))
      for mode in ("constant", "reflect", "replicate", "circular")],
]

OPS_BY_NAME = {op.name: op for op in OPS}
