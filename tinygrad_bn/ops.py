"""The primitive operations: each a numpy forward and a backward written in Tensor operations.

Adding an op means adding one class here and one method (or function) in tensor.py that calls
`OpClass.apply(...)`. Backward returns one gradient per input; the engine sums broadcast gradients back
to each input's shape, so binary ops simply return the full-shape gradient.

Each class also declares what the compiler needs (see autograd.Function): `ufunc` for an op that is one
numpy ufunc, `writes_out` for a forward that can write into a given buffer, `is_view` for a forward that
returns a view, `random` for one that draws random numbers. Forward stores no arrays for backward: what
backward needs it computes with ops from the inputs and the output, so a captured tape holds every
value a replay must recompute.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

import numpy as np

from .autograd import STATE, Function, Tensor, op_error, sum_to_shape
from .random import default_generator

Grads = Sequence["Tensor | None"]  # one gradient (or None) per input, in input order
AxisArg = int | tuple | None  # what reductions accept for `axis`


def constant(value: Any, like: Tensor, dtype: Any = None) -> Tensor:
    """A Tensor holding a fixed value (not differentiated) of `like`'s dtype, e.g. the zero of a `where`."""
    return like._result_class._wrap(np.asarray(value, dtype=like.dtype if dtype is None else dtype))


def _out(result: Any, out: np.ndarray | None) -> np.ndarray:
    """`result` as the op's output array: itself, or copied into the given buffer."""
    if out is None:
        return np.asarray(result)
    np.copyto(out, result)
    return out

# ----------------------------------------------------------------------------- elementwise, binary


class Add(Function):
    saves_values = False
    ufunc = np.add

    def backward(self, g: Tensor) -> Grads:
        return g, g


class Sub(Function):
    saves_values = False
    ufunc = np.subtract

    def backward(self, g: Tensor) -> Grads:
        if not self.needs[1]:
            return g, None
        return g, -sum_to_shape(g, self.parents[1].shape)  # reduce a broadcast b first: negate fewer values


class Mul(Function):
    ufunc = np.multiply

    def backward(self, g: Tensor) -> Grads:
        a, b = self.parents
        if a is b:  # x * x: one product, doubled (instead of two products added up)
            return (g * a) * 2, None
        return (g * b if self.needs[0] else None), (g * a if self.needs[1] else None)


class Div(Function):
    saves_output = True
    ufunc = np.true_divide

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
    ufunc = np.power

    def backward(self, g: Tensor) -> Grads:
        a, b = self.parents
        ga = gb = None
        if self.needs[0]:
            # At a == b == 0 the derivative is b * a**0 = b (not b * 0**-1 = nan): select g * b there. Look at
            # the data only when some exponent is 0 (x**2 skips this); a compiled step always selects, since
            # its replays must not depend on this call's data. Elsewhere the values are the same either way.
            if _data_dependent() or not np.all(b.data):
                with np.errstate(divide="ignore", invalid="ignore"):  # 0**-1 where the selection replaces it
                    ga = g * b * a ** (b - 1)
                singular = (a == 0).logical_and(b == 0)
                if _data_dependent() or singular.data.any():
                    ga = Where.apply(singular, g * b, ga)
            else:
                ga = g * b * a ** (b - 1)
        if self.needs[1]:  # out * log(a); PyTorch's 0 where a == 0 and b >= 0 (0**b is flat there, not -inf/nan)
            base = a
            flat = (a == 0).logical_and(b >= 0)
            if _data_dependent() or flat.data.any():  # log(1) = 0 there; no gradient reaches a through it
                base = Where.apply(flat, constant(1, a), a)
            gb = g * self.output() * base.log()
        return ga, gb


def _data_dependent() -> bool:
    """True while a compiled step is captured: backward must not branch on this call's values then."""
    return STATE.tracer is not None


class Maximum(Function):
    """Elementwise maximum; at ties the gradient is split evenly between the two inputs."""

    ufunc = np.maximum

    def backward(self, g: Tensor) -> Grads:
        share_a = TieShare.apply(*self.parents, sense=1)
        return g * share_a, g * (1 - share_a)


class Minimum(Function):
    """Elementwise minimum; at ties the gradient is split evenly between the two inputs."""

    ufunc = np.minimum

    def backward(self, g: Tensor) -> Grads:
        share_a = TieShare.apply(*self.parents, sense=-1)
        return g * share_a, g * (1 - share_a)


class TieShare(Function):
    """The share of a maximum's (sense 1) or minimum's (sense -1) gradient that goes to `a`: 1 where `a`
    wins, 0.5 at ties, 0 where `b` wins, in the inputs' dtype. Not differentiable (piecewise constant)."""

    differentiable = False

    def forward(self, a: np.ndarray, b: np.ndarray, sense: int) -> np.ndarray:
        wins = (a > b) if sense > 0 else (a < b)
        return (wins + 0.5 * (a == b)).astype(np.result_type(a, b))


class Where(Function):
    """`condition ? a : b`; the boolean condition is an input that is not differentiated."""

    def forward(self, condition: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(condition, a, b)

    def backward(self, g: Tensor) -> Grads:
        zero = constant(0, g)
        c = self.parents[0]
        return None, Where.apply(c, g, zero), Where.apply(c, zero, g)


class MatMul(Function):
    """numpy's matmul: 1-D operands are promoted to a row/column and the added axis removed again."""

    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray, b: np.ndarray) -> list[Callable[[], Any]]:
        return [partial(np.matmul, a, b, out=out)]

    def forward(self, a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        if a.ndim == 0 or b.ndim == 0:
            raise op_error(f"matmul: operands must have at least one dimension, got shapes {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
            raise op_error(
                f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied "
                f"({a.shape[-1]} columns against {b.shape[-2 if b.ndim > 1 else 0]} rows)"
            )
        try:
            return np.matmul(a, b, out=out)
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

    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, x: np.ndarray, w: np.ndarray,
              b: np.ndarray | None = None) -> list[Callable[[], Any]] | None:
        if out.dtype != np.result_type(x, w):
            return None
        calls = [partial(np.matmul, x, w.T, out=out)]
        return calls + [partial(np.add, out, b, out=out)] if b is not None else calls

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None,
                out: np.ndarray | None = None) -> np.ndarray:
        if x.ndim == 0 or w.ndim != 2 or x.shape[-1] != w.shape[1]:
            raise op_error(f"linear: input has {x.shape[-1] if x.ndim else 0} features (shape {x.shape}) but the "
                           f"weight expects {w.shape[-1]} (weight shape {w.shape}, (out_features, in_features))")
        if b is not None and np.result_type(x, w) != np.result_type(x, w, b):  # the bias promotes: no buffer
            return _out((x @ w.T) + b, out)
        product = np.matmul(x, w.T, out=out if out is None or out.dtype == np.result_type(x, w) else None)
        if b is not None:
            np.add(product, b, out=product)  # in place: one pass, no second array
        return product if out is None or product is out else _out(product, out)

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
    ufunc = np.negative

    def backward(self, g: Tensor) -> Grads:
        return (-g,)


class Exp(Function):
    saves_output = True
    ufunc = np.exp

    def backward(self, g: Tensor) -> Grads:
        return (g * self.output(),)


class Log(Function):
    ufunc = np.log

    def backward(self, g: Tensor) -> Grads:
        return (g / self.parents[0],)


class Sqrt(Function):
    saves_output = True
    ufunc = np.sqrt

    def backward(self, g: Tensor) -> Grads:
        return (g / (self.output() * 2),)


class Abs(Function):
    """|x|; the gradient at 0 is 0, as in PyTorch."""

    ufunc = np.absolute

    def backward(self, g: Tensor) -> Grads:
        return (g * Sign.apply(self.parents[0]),)


class Sign(Function):
    """-1, 0 or 1 (numpy's sign); its gradient is zero wherever it exists."""

    ufunc = np.sign
    differentiable = False


class Relu(Function):
    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray) -> list[Callable[[], Any]]:
        return [partial(np.maximum, a, 0, out=out)]

    def forward(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.maximum(a, 0, out=out)

    def backward(self, g: Tensor) -> Grads:
        return (ReluGrad.apply(g, self.parents[0]),)


class ReluGrad(Function):
    """g where x > 0, else 0: ReLU's backward as one op, multiplying by the boolean mask directly (no float
    copy of it). Linear in g, so its own backward is ReluGrad again (x's gradient is zero a.e.)."""

    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, g: np.ndarray, x: np.ndarray) -> list[Callable[[], Any]]:
        mask = np.empty(x.shape, bool)  # the boolean temporary of forward, allocated once
        return [partial(np.greater, x, 0, out=mask), partial(np.multiply, g, mask, out=out)]

    def forward(self, g: np.ndarray, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        return np.multiply(g, x > 0, out=out)

    def backward(self, gg: Tensor) -> Grads:
        return ReluGrad.apply(gg, self.parents[1]), None


class Sigmoid(Function):
    saves_output = True
    writes_out = True

    def forward(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        with np.errstate(over="ignore"):  # exp(-a) overflows to inf for a < -88 (float32): 1 / inf = 0
            out = np.asarray(np.negative(a, out=out))  # 0-d: an array, not a scalar
            np.exp(out, out=out)
            np.add(out, 1, out=out)
            return np.true_divide(1, out, out=out)

    def backward(self, g: Tensor) -> Grads:
        return (SigmoidGrad.apply(g, self.output()),)


class SigmoidGrad(Function):
    """g * s * (1 - s) from sigmoid's output s: one op instead of three (its backward is Tensor ops)."""

    writes_out = True

    def forward(self, g: np.ndarray, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.asarray(np.subtract(1, s, out=out))  # 0-d: an array, not a scalar
        np.multiply(s, out, out=out)
        return np.multiply(g, out, out=out)

    def backward(self, gg: Tensor) -> Grads:
        g, s = self.parents
        return gg * (s * (1 - s)), gg * g * (1 - 2 * s)


class Tanh(Function):
    saves_output = True
    ufunc = np.tanh

    def backward(self, g: Tensor) -> Grads:
        return (TanhGrad.apply(g, self.output()),)


class TanhGrad(Function):
    """g * (1 - t * t) from tanh's output t: one op instead of three (its backward is Tensor ops)."""

    writes_out = True

    def forward(self, g: np.ndarray, t: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.asarray(np.multiply(t, t, out=out))  # 0-d: an array, not a scalar
        np.subtract(1, out, out=out)
        return np.multiply(g, out, out=out)

    def backward(self, gg: Tensor) -> Grads:
        g, t = self.parents
        return gg * (1 - t * t), gg * g * t * -2


class Clip(Function):
    """Clamp into [low, high]; the gradient passes where low <= x <= high, as in PyTorch."""

    writes_out = True

    def forward(self, a: np.ndarray, low: float | None, high: float | None,
                out: np.ndarray | None = None) -> np.ndarray:
        return np.clip(a, low, high, out=out)

    def backward(self, g: Tensor) -> Grads:
        low, high = self.params["low"], self.params["high"]
        return (ClipGrad.apply(g, self.parents[0], low=low, high=high),)


class ClipGrad(Function):
    """g where low <= x <= high, else 0: Clip's backward; linear in g, so its backward is ClipGrad again."""

    def forward(self, g: np.ndarray, x: np.ndarray, low: float | None, high: float | None) -> np.ndarray:
        inside = (x >= (-np.inf if low is None else low)) & (x <= (np.inf if high is None else high))
        return g * inside

    def backward(self, gg: Tensor) -> Grads:
        return ClipGrad.apply(gg, self.parents[1], **self.params), None


class Cast(Function):
    """A floating tensor converted to another floating dtype (the gradient converts back)."""

    saves_values = False
    writes_out = True

    def forward(self, a: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
        self.in_dtype = a.dtype
        return a.astype(dtype) if out is None else _out(a, out)

    def backward(self, g: Tensor) -> Grads:
        return (g.astype(self.in_dtype),)


class Convert(Function):
    """A conversion to an integer or boolean dtype (labels, masks, counts): not differentiable."""

    differentiable = False
    writes_out = True

    def forward(self, a: np.ndarray, dtype: np.dtype, out: np.ndarray | None = None) -> np.ndarray:
        return a.astype(dtype) if out is None else _out(a, out)


def _comparison(name: str, ufunc: np.ufunc, doc: str) -> type:
    return type(name, (Function,), {"ufunc": ufunc, "differentiable": False, "__doc__": doc})


Less = _comparison("Less", np.less, "a < b, elementwise (a boolean tensor, not differentiable).")
LessEqual = _comparison("LessEqual", np.less_equal, "a <= b, elementwise (not differentiable).")
Greater = _comparison("Greater", np.greater, "a > b, elementwise (not differentiable).")
GreaterEqual = _comparison("GreaterEqual", np.greater_equal, "a >= b, elementwise (not differentiable).")
Equal = _comparison("Equal", np.equal, "a == b, elementwise (not differentiable).")
NotEqual = _comparison("NotEqual", np.not_equal, "a != b, elementwise (not differentiable).")
LogicalAnd = _comparison("LogicalAnd", np.logical_and, "a and b, elementwise (not differentiable).")
LogicalOr = _comparison("LogicalOr", np.logical_or, "a or b, elementwise (not differentiable).")
LogicalNot = _comparison("LogicalNot", np.logical_not, "not a, elementwise (not differentiable).")


class ArgExtreme(Function):
    """The index of the largest (sense 1) or smallest (sense -1) value along an axis: not differentiable."""

    differentiable = False

    def forward(self, a: np.ndarray, axis: int | None, sense: int) -> np.ndarray:
        return np.asarray(a.argmax(axis=axis) if sense > 0 else a.argmin(axis=axis))


class DropoutMask(Function):
    """The scaled keep-mask of inverted dropout for an input like `x`: 1/(1-p) with probability 1-p, else 0,
    in x's dtype. Draws from `rng`, or from the project's generator at call time (so a compiled step draws
    fresh masks at every replay, exactly as eager calls would, and `manual_seed` is respected)."""

    differentiable = False
    random = True

    def forward(self, x: np.ndarray, p: float, rng: np.random.Generator | None) -> np.ndarray:
        keep = (rng or default_generator()).random(x.shape) >= p
        return (keep / (1.0 - p)).astype(x.dtype)


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
    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray, axis: AxisArg, keepdims: bool) -> list[Callable[[], Any]] | None:
        if a.dtype.kind != "f":
            return None
        return [partial(np.add.reduce, a, axis=_normalize_axis(axis, a.ndim, "sum"), keepdims=keepdims, out=out)]

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool, out: np.ndarray | None = None) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, "sum")
        self.in_shape = a.shape
        return np.asarray(a.sum(axis=self.axes, keepdims=keepdims, out=out))

    def backward(self, g: Tensor) -> Grads:
        return (Expand.apply(g, kept=_kept_shape(self.in_shape, self.axes), shape=self.in_shape),)


class Mean(Function):
    """Mean over axes. An empty input gives an empty result when that is what the result is (axis 1 of a
    (0, 3) tensor: shape (0,)); a mean over zero values (axis 0 there) is an OpError, not a silent NaN."""

    saves_values = False
    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray, axis: AxisArg, keepdims: bool) -> list[Callable[[], Any]] | None:
        if a.dtype.kind != "f":
            return None
        axes = _normalize_axis(axis, a.ndim, "mean")
        count = math.prod([a.shape[i] for i in axes])
        return [partial(np.add.reduce, a, axis=axes, keepdims=keepdims, out=out),
                partial(np.true_divide, out, count, out=out)]

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool, out: np.ndarray | None = None) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, "mean")
        self.in_shape = a.shape
        self.count = math.prod([a.shape[i] for i in self.axes])
        if self.count == 0 and math.prod([n for i, n in enumerate(a.shape) if i not in self.axes]):
            raise op_error(f"mean: axes {self.axes} of the input of shape {a.shape} hold no values to average; "
                           "the mean of nothing is undefined (numpy would give NaN)")
        if a.dtype.kind != "f":  # integers: numpy's float64 mean
            return _out(np.add.reduce(a, axis=self.axes, keepdims=keepdims) / self.count, out)
        total = np.add.reduce(a, axis=self.axes, keepdims=keepdims, out=out)  # np.mean's work, less overhead
        total = np.asarray(total)
        return np.true_divide(total, self.count, out=total)

    def backward(self, g: Tensor) -> Grads:  # count 0: g is empty
        return (Expand.apply(g * (1.0 / max(self.count, 1)), kept=_kept_shape(self.in_shape, self.axes),
                             shape=self.in_shape),)


class Expand(Function):
    """A reduction's result spread back over the reduced axes: reshape to `kept` (the reduced axes as
    length 1), then broadcast to `shape`. One op (a view) for Sum's and Mean's backward."""

    saves_values = False
    is_view = True

    def forward(self, g: np.ndarray, kept: tuple, shape: tuple) -> np.ndarray:
        return np.broadcast_to(g.reshape(kept), shape)

    def backward(self, gg: Tensor) -> Grads:
        g = self.parents[0]
        kept = self.params["kept"]
        return (sum_to_shape(gg, kept).reshape(g.shape),)


class _Extreme(Function):
    """max/min over axes; the gradient is shared evenly among tied extremes (like torch.amax).

    Empty input is fine when the reduced axes are not empty (max(axis=0) of (2, 0) has shape (0,)); an
    axis of length 0 has no extreme, which is an OpError (as in numpy and PyTorch).
    """

    reduce = staticmethod(np.max)
    saves_output = True
    writes_out = True

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool, out: np.ndarray | None = None) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, type(self).__name__.lower())
        if a.size == 0 and any(a.shape[i] == 0 for i in self.axes):
            raise op_error(f"{type(self).__name__.lower()}: axes {self.axes} of the input of shape {a.shape} "
                           "include one of length 0, which has no extreme value")
        self.kept_shape = tuple(1 if i in self.axes else n for i, n in enumerate(a.shape))
        return np.asarray(self.reduce(a, axis=self.axes, keepdims=keepdims, out=out))

    def backward(self, g: Tensor) -> Grads:
        share = ExtremeShare.apply(self.parents[0], self.output().reshape(self.kept_shape), axes=self.axes)
        return (g.reshape(self.kept_shape) * share,)


class ExtremeShare(Function):
    """Where `a` equals its extreme `kept` (kept dims), 1 / (number of ties), else 0, in a's dtype: how a
    max/min shares its gradient. Not differentiable (piecewise constant)."""

    differentiable = False

    def forward(self, a: np.ndarray, kept: np.ndarray, axes: tuple) -> np.ndarray:
        hits = a == kept
        return (hits / hits.sum(axis=axes, keepdims=True)).astype(a.dtype)


class Max(_Extreme):
    reduce = staticmethod(np.max)


class Min(_Extreme):
    reduce = staticmethod(np.min)


# ----------------------------------------------------------------------------- shape and movement


class Reshape(Function):
    saves_values = False
    is_view = True

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
    is_view = True

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
    is_view = True

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
    """a[index]: basic indexing is a view (compiled: made once); advanced indexing copies."""

    saves_values = False
    is_view = True  # the compiler checks that the result shares memory with `a`, else treats it as a copy

    def forward(self, a: np.ndarray, index: Any) -> np.ndarray:
        self.index = index
        self.in_shape = a.shape
        result = a[index]  # Function.apply adds the op name and the shape to numpy's IndexError
        if type(result) is not np.ndarray:  # a single element: index with `...` too, for a 0-d view
            result = a[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
        return result

    def backward(self, g: Tensor) -> Grads:
        return (IndexAdd.apply(g, index=self.index, shape=self.in_shape),)


class IndexAdd(Function):
    """The adjoint of indexing: a zero tensor of `shape` with `g` added at `index` (repeats add up)."""

    saves_values = False
    writes_out = True

    def forward(self, g: np.ndarray, index: Any, shape: tuple, out: np.ndarray | None = None) -> np.ndarray:
        self.index = index
        if out is None:
            out = np.zeros(shape, dtype=g.dtype)
        else:
            out.fill(0)
        if _is_advanced(index):
            np.add.at(out, index, g)
        else:
            out[index] = g
        return out

    def backward(self, gg: Tensor) -> Grads:
        return (GetItem.apply(gg, index=self.index),)


class Concatenate(Function):
    saves_values = False
    writes_out = True

    def forward(self, *arrays: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
        if not arrays:
            raise op_error("concatenate: needs at least one tensor")
        ndim = arrays[0].ndim
        if ndim == 0:
            raise op_error("concatenate: zero-dimensional tensors cannot be concatenated; use stack")
        if not -ndim <= axis < ndim:
            raise op_error(f"concatenate: axis {axis} is out of range for tensors with {ndim} dimensions")
        self.axis = axis % ndim
        try:
            out = np.concatenate(arrays, axis=axis, out=out)
        except ValueError:
            shapes = ", ".join(str(a.shape) for a in arrays)
            raise op_error(f"concatenate: shapes {shapes} do not match outside axis {axis}") from None
        self.bounds = [int(b) for b in np.cumsum([0] + [a.shape[self.axis] for a in arrays])]
        return out

    def backward(self, g: Tensor) -> Grads:
        lead = (slice(None),) * self.axis
        return tuple(g[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(self.bounds[:-1], self.bounds[1:]))
