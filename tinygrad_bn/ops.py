"""The primitive operations: each a numpy forward and a backward written in Tensor operations.

Adding an op means adding one class here and one method (or function) in tensor.py that calls
`OpClass.apply(...)`. Backward returns one gradient per input; the engine sums broadcast gradients back
to each input's shape, so binary ops simply return the full-shape gradient.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from . import autograd
from .autograd import Function, op_error, sum_to_shape

if TYPE_CHECKING:
    from .tensor import Tensor

Grads = Sequence["Tensor | None"]  # one gradient (or None) per input, in input order
AxisArg = int | tuple | None  # what reductions accept for `axis`


def constant(value: Any, dtype: Any) -> Tensor:
    """A Tensor holding a fixed value (not differentiated), e.g. the zero of a `where` branch."""
    return autograd._Tensor(np.asarray(value, dtype=dtype))

# ----------------------------------------------------------------------------- elementwise, binary


class Add(Function):
    saves_values = False

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def backward(self, g: Tensor) -> Grads:
        return g, g


class Sub(Function):
    saves_values = False

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a - b

    def backward(self, g: Tensor) -> Grads:
        if not self.needs[1]:
            return g, None
        return g, -sum_to_shape(g, self.parents[1].shape)  # reduce a broadcast b first: negate fewer values


class Mul(Function):
    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a * b

    def backward(self, g: Tensor) -> Grads:
        a, b = self.parents
        if a is b:  # x * x: one product, doubled (instead of two products added up)
            return (g * a) * 2, None
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)


class Div(Function):
    saves_output = True

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a / b

    def backward(self, g: Tensor) -> Grads:
        _, b = self.parents
        ga = g / b if self.needs[0] else None
        gb = None
        if self.needs[1]:  # d(a/b)/db = -out/b
            if b.shape == g.shape:
                gb = -(ga if ga is not None else g / b) * self.output()
            else:  # b is constant along its broadcast axes: sum g * out first, then divide the few values left
                gb = -(sum_to_shape(g * self.output(), b.shape) / b)
        return ga, gb


class Pow(Function):
    saves_output = True

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a**b

    def backward(self, g: Tensor) -> Grads:
        a, b = self.parents
        ga = gb = None
        if self.needs[0]:
            exponent = b - 1  # b * a**(b-1); at a == b == 0 use a**0, so that 0**-1 = inf never meets b = 0
            if not np.all(b.data):  # look at the base only when some exponent is 0 (rare: x**2 skips this)
                singular = (np.asarray(a.data) == 0) & (np.asarray(b.data) == 0)
                if singular.any():
                    exponent = Where.apply(exponent, constant(0, b.dtype), condition=~singular)
            ga = g * b * a**exponent
        if self.needs[1]:  # out * log(a); PyTorch's 0 where a == 0 and b >= 0 (0**b is flat there, not -inf/nan)
            base = a
            flat = (np.asarray(a.data) == 0) & (np.asarray(b.data) >= 0)
            if flat.any():  # log(1) = 0 there, and no gradient reaches a through a branch not taken
                base = Where.apply(a, constant(1, a.dtype), condition=~flat)
            gb = g * self.output() * base.log()
        return ga, gb


class Maximum(Function):
    """Elementwise maximum; at ties the gradient is split evenly between the two inputs."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.share_a = (a > b) + 0.5 * (a == b)
        return np.maximum(a, b)

    def backward(self, g: Tensor) -> Grads:
        share_a = self.share_a.astype(g.dtype, copy=False)
        return g * share_a, g * (1 - share_a)


class Minimum(Function):
    """Elementwise minimum; at ties the gradient is split evenly between the two inputs."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        self.share_a = (a < b) + 0.5 * (a == b)
        return np.minimum(a, b)

    def backward(self, g: Tensor) -> Grads:
        share_a = self.share_a.astype(g.dtype, copy=False)
        return g * share_a, g * (1 - share_a)


class Where(Function):
    """`condition ? a : b` with a fixed boolean condition (not differentiated)."""

    def forward(self, a: np.ndarray, b: np.ndarray, condition: np.ndarray) -> np.ndarray:
        self.condition = condition
        return np.where(condition, a, b)

    def backward(self, g: Tensor) -> Grads:
        zero = constant(0, g.dtype)
        c = self.condition
        return Where.apply(g, zero, condition=c), Where.apply(zero, g, condition=c)


class MatMul(Function):
    """numpy's matmul: 1-D operands are promoted to a row/column and the added axis removed again."""

    def forward(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise op_error(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise op_error(
                f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                f"({a.shape[-1]} columns against {b.shape[-2 if b.ndim > 1 else 0]} rows)"
            )
        try:
            return a @ b
        except ValueError:
            raise op_error(f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast") from None

    def backward(self, g: Tensor) -> Grads:
        a, b = self.parents
        a2 = a if a.ndim > 1 else a.reshape(1, -1)  # the row/column numpy promoted the operand to
        b2 = b if b.ndim > 1 else b.reshape(-1, 1)
        if b.ndim == 1:  # give g back the axes numpy dropped from the product
            g = g.unsqueeze(-1)
        if a.ndim == 1:
            g = g.unsqueeze(-2)
        ga = gb = None
        if self.needs[0]:
            ga = sum_to_shape(g @ b2.mT, a2.shape).reshape(a.shape)
        if self.needs[1]:
            gb = sum_to_shape(a2.mT @ g, b2.shape).reshape(b.shape)
        return ga, gb


class Linear(Function):
    """x @ w.T (+ b) in one op, w of shape (out, in): the affine layer (PyTorch's addmm).

    One op instead of transpose, matmul and add, because small networks spend their time per op;
    its backward is still Tensor operations (gradients of gradients work).
    """

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise op_error(f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but the "
                           f"weight expects {w.shape[-1]} (weight shape {w.shape}, (out_features, in_features))")
        out = x @ w.T
        if b is not None:
            out = out + b if out.dtype != b.dtype else out.__iadd__(b)  # in place unless dtypes promote
        return out

    def backward(self, g: Tensor) -> Grads:
        x, w = self.parents[0], self.parents[1]
        gx = g @ w if self.needs[0] else None
        gw = gb = None
        if self.needs[1]:
            g2 = g if g.ndim == 2 else g.reshape(-1, w.shape[0])
            x2 = x if x.ndim == 2 else x.reshape(-1, w.shape[1])
            gw = g2.T @ x2
        if len(self.parents) == 3 and self.needs[2]:
            gb = g.sum(axis=tuple(range(g.ndim - 1))) if g.ndim > 1 else g
        return gx, gw, gb


# ----------------------------------------------------------------------------- elementwise, unary


class Neg(Function):
    saves_values = False

    def forward(self, a: np.ndarray) -> np.ndarray:
        return -a

    def backward(self, g: Tensor) -> Grads:
        return (-g,)


class Exp(Function):
    saves_output = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.exp(a)

    def backward(self, g: Tensor) -> Grads:
        return (g * self.output(),)


class Log(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.log(a)

    def backward(self, g: Tensor) -> Grads:
        return (g / self.parents[0],)


class Sqrt(Function):
    saves_output = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.sqrt(a)

    def backward(self, g: Tensor) -> Grads:
        return (g / (self.output() * 2),)


class Abs(Function):
    """|x|; the gradient at 0 is 0, as in PyTorch."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        self.sign = np.sign(a)
        return np.abs(a)

    def backward(self, g: Tensor) -> Grads:
        return (g * self.sign,)


class Relu(Function):
    def forward(self, a: np.ndarray) -> np.ndarray:
        self.mask = a > 0
        return np.maximum(a, 0)

    def backward(self, g: Tensor) -> Grads:
        return (g * self.mask,)


class Sigmoid(Function):
    saves_output = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):  # exp(-a) overflows to inf for a < -88 (float32): 1 / inf = 0
            return 1 / (1 + np.exp(-a))

    def backward(self, g: Tensor) -> Grads:
        return (SigmoidGrad.apply(g, self.output()),)


class SigmoidGrad(Function):
    """g * s * (1 - s) from sigmoid's output s: one op instead of three (its backward is Tensor ops)."""

    def forward(self, g: np.ndarray, s: np.ndarray) -> np.ndarray:
        return g * (s * (1 - s))

    def backward(self, gg: Tensor) -> Grads:
        g, s = self.parents
        return gg * (s * (1 - s)), gg * g * (1 - 2 * s)


class Tanh(Function):
    saves_output = True

    def forward(self, a: np.ndarray) -> np.ndarray:
        return np.tanh(a)

    def backward(self, g: Tensor) -> Grads:
        return (TanhGrad.apply(g, self.output()),)


class TanhGrad(Function):
    """g * (1 - t * t) from tanh's output t: one op instead of three (its backward is Tensor ops)."""

    def forward(self, g: np.ndarray, t: np.ndarray) -> np.ndarray:
        return g * (1 - t * t)

    def backward(self, gg: Tensor) -> Grads:
        g, t = self.parents
        return gg * (1 - t * t), gg * g * t * -2


class Clip(Function):
    """Clamp into [low, high]; the gradient passes where low <= x <= high, as in PyTorch."""

    def forward(self, a: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        self.inside = (a >= (-np.inf if low is None else low)) & (a <= (np.inf if high is None else high))
        return np.clip(a, low, high)

    def backward(self, g: Tensor) -> Grads:
        return (g * self.inside,)


class Cast(Function):
    saves_values = False

    def forward(self, a: np.ndarray, dtype: np.dtype) -> np.ndarray:
        self.in_dtype = a.dtype
        return a.astype(dtype)

    def backward(self, g: Tensor) -> Grads:
        return (g.astype(self.in_dtype),)


# ----------------------------------------------------------------------------- reductions


_AXES: dict = {}  # (axis, ndim) -> normalized axes: reductions run with the same few arguments over and over


def _normalize_axis(axis: AxisArg, ndim: int, op: str) -> tuple:
    """Axis argument (None, int or tuple) as a sorted tuple of non-negative ints, checked against ndim."""
    key = (axis, ndim) if axis is None or isinstance(axis, (int, tuple)) else None
    axes = _AXES.get(key) if key is not None else None
    if axes is None:
        axes = _check_axis(axis, ndim, op)
        if key is not None:
            _AXES[key] = axes
    return axes


def _check_axis(axis: AxisArg, ndim: int, op: str) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not -max(ndim, 1) <= ax < max(ndim, 1):  # a 0-d tensor accepts axis 0 and -1, as in PyTorch
            raise op_error(f"{op}: axis {ax} is out of range for a tensor with {ndim} dimensions")
        out.append(int(ax) % max(ndim, 1))
    if len(set(out)) != len(out):
        raise op_error(f"{op}: repeated axis in {axis}")
    return tuple(sorted(out)) if ndim else ()  # reducing a 0-d tensor over its (only) axis changes nothing


def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    saves_values = False

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, "sum")
        self.in_shape = a.shape
        return np.asarray(a.sum(axis=self.axes, keepdims=keepdims))

    def backward(self, g: Tensor) -> Grads:
        if g.ndim:  # a full reduction's scalar broadcasts as it is; otherwise put the summed axes back
            g = g.reshape(_kept_shape(self.in_shape, self.axes))
        return (g.broadcast_to(self.in_shape),)


class Mean(Function):
    """Mean over axes. An empty input gives an empty result when that is what the result is (axis 1 of a
    (0, 3) tensor: shape (0,)); a mean over zero values (axis 0 there) is an OpError, not a silent NaN."""

    saves_values = False

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, "mean")
        self.in_shape = a.shape
        self.count = math.prod([a.shape[i] for i in self.axes])
        if self.count == 0 and math.prod([n for i, n in enumerate(a.shape) if i not in self.axes]):
            raise op_error(f"mean: axes {self.axes} of the input of shape {a.shape} hold no values to average; "
                           "the mean of nothing is undefined (numpy would give NaN)")
        total = np.add.reduce(a, axis=self.axes, keepdims=keepdims)  # np.mean's work, without its overhead
        return np.asarray(total / self.count, dtype=total.dtype if a.dtype.kind == "f" else None)

    def backward(self, g: Tensor) -> Grads:
        if g.ndim:  # as in Sum.backward
            g = g.reshape(_kept_shape(self.in_shape, self.axes))
        return ((g * (1.0 / max(self.count, 1))).broadcast_to(self.in_shape),)  # count 0: g is empty


class _Extreme(Function):
    """max/min over axes; the gradient is shared evenly among tied extremes (like torch.amax).

    Empty input is fine when the reduced axes are not empty (max(axis=0) of (2, 0) has shape (0,)); an
    axis of length 0 has no extreme, which is an OpError (as in numpy and PyTorch).
    """

    reduce = staticmethod(np.max)

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, type(self).__name__.lower())
        if a.size == 0 and any(a.shape[i] == 0 for i in self.axes):
            raise op_error(f"{type(self).__name__.lower()}: axes {self.axes} of the input of shape {a.shape} "
                           "include one of length 0, which has no extreme value")
        kept = self.reduce(a, axis=self.axes, keepdims=True)
        hits = a == kept
        self.share = hits / hits.sum(axis=self.axes, keepdims=True)
        self.kept_shape = kept.shape
        return kept if keepdims else kept.reshape([n for i, n in enumerate(a.shape) if i not in self.axes])

    def backward(self, g: Tensor) -> Grads:
        return (g.reshape(self.kept_shape) * self.share.astype(g.dtype, copy=False),)


class Max(_Extreme):
    reduce = staticmethod(np.max)


class Min(_Extreme):
    reduce = staticmethod(np.min)


# ----------------------------------------------------------------------------- shape and movement


class Reshape(Function):
    saves_values = False

    def forward(self, a: np.ndarray, shape: tuple) -> np.ndarray:
        self.in_shape = a.shape
        try:
            return a.reshape(shape)
        except ValueError:
            raise op_error(f"reshape: cannot reshape a tensor of shape {a.shape} ({a.size} elements) "
                           f"into shape {tuple(shape)}") from None

    def backward(self, g: Tensor) -> Grads:
        return (g.reshape(self.in_shape),)


class Transpose(Function):
    saves_values = False

    def forward(self, a: np.ndarray, axes: tuple | None) -> np.ndarray:
        if axes is not None and sorted(int(x) % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
            raise op_error(f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes of {a.shape}")
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g: Tensor) -> Grads:
        if self.axes is None:
            return (g.transpose(),)
        inverse = np.argsort([int(x) % g.ndim for x in self.axes])
        return (g.transpose(tuple(int(i) for i in inverse)),)


class BroadcastTo(Function):
    saves_values = False

    def forward(self, a: np.ndarray, shape: tuple) -> np.ndarray:
        self.in_shape = a.shape
        try:
            return np.broadcast_to(a, shape)
        except ValueError:
            raise op_error(f"broadcast_to: cannot broadcast shape {a.shape} to {tuple(shape)}") from None

    def backward(self, g: Tensor) -> Grads:
        return (sum_to_shape(g, self.in_shape),)


def _unwrap_index(index: Any) -> Any:
    """Index keys may hold Tensors (e.g. labels); numpy wants arrays."""
    if isinstance(index, tuple):
        return tuple(i.data if hasattr(i, "_ctx") else i for i in index)
    return index.data if hasattr(index, "_ctx") else index


def _is_advanced(index: Any) -> bool:
    keys = index if isinstance(index, tuple) else (index,)
    return any(isinstance(k, (list, np.ndarray)) for k in keys)


class GetItem(Function):
    saves_values = False

    def forward(self, a: np.ndarray, index: Any) -> np.ndarray:
        self.index = index
        self.in_shape = a.shape
        return a[index]  # Function.apply adds the op name and the shape to numpy's IndexError

    def backward(self, g: Tensor) -> Grads:
        return (IndexAdd.apply(g, index=self.index, shape=self.in_shape),)


class IndexAdd(Function):
    """The adjoint of indexing: a zero tensor of `shape` with `g` added at `index` (repeats add up)."""

    saves_values = False

    def forward(self, g: np.ndarray, index: Any, shape: tuple) -> np.ndarray:
        self.index = index
        out = np.zeros(shape, dtype=g.dtype)
        if _is_advanced(index):
            np.add.at(out, index, g)
        else:
            out[index] = g
        return out

    def backward(self, gg: Tensor) -> Grads:
        return (GetItem.apply(gg, index=self.index),)


class Concatenate(Function):
    saves_values = False

    def forward(self, *arrays: np.ndarray, axis: int) -> np.ndarray:
        if not arrays:
            raise op_error("concatenate: needs at least one tensor")
        ndim = arrays[0].ndim
        if ndim == 0:
            raise op_error("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
        if not -ndim <= axis < ndim:
            raise op_error(f"concatenate: axis {axis} is out of range for tensors with {ndim} dimensions")
        self.axis = axis % ndim
        try:
            out = np.concatenate(arrays, axis=axis)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise op_error(f"concatenate: shapes {shapes} do not match outside axis {axis}") from None
        self.bounds = np.cumsum([0] + [a.shape[self.axis] for a in arrays])
        return out

    def backward(self, g: Tensor) -> Grads:
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(self.bounds[:-1], self.bounds[1:]))
