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
from functools import lru_cache, partial
from typing import Any

import numpy as np

from .autograd import STATE, Function, Tensor, TensorT, op_error, sum_to_shape
from .random import default_generator

Grads = Sequence["Tensor | None"]  # one gradient (or None) per input, in input order
AxisArg = int | tuple | None  # what reductions accept for `axis`


def constant(value: Any, like: TensorT, dtype: Any = None) -> TensorT:
    """A Tensor holding a fixed value (not differentiated) of `like`'s dtype, e.g. the zero of a `where`."""
    result: TensorT = like._result_class._wrap(np.asarray(value, dtype=like.dtype if dtype is None else dtype))
    return result


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
        share: np.ndarray = (wins + 0.5 * (a == b)).astype(np.result_type(a, b))
        return share


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
    epilogue: type[Function] = Add  # the bias add: a fused step may compute it in the kernel that follows

    @classmethod
    def lower(cls, out: np.ndarray, x: np.ndarray, w: np.ndarray,
              b: np.ndarray | None = None) -> list[Callable[[], Any]] | None:
        if out.dtype != np.result_type(x, w):
            return None
        calls: list[Callable[[], Any]]
        if _transposed_product_pays(x, w, out):  # (w @ x.T).T: the same numbers, a faster BLAS call here
            product_t = np.empty((w.shape[0], x.shape[0]), out.dtype)
            calls = [partial(np.matmul, w, x.T, out=product_t), partial(np.copyto, out, product_t.T)]
        else:
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


def _transposed_product_pays(x: np.ndarray, w: np.ndarray, out: np.ndarray) -> bool:
    """Whether a compiled Linear computes x @ w.T as (w @ x.T).T, written into a scratch array and copied
    back transposed. For a small batch and wide layers, numpy's OpenBLAS does the transposed product much
    faster (measured: 0.64x the time for 32 x 784 -> 300, 0.71x for 32 x 300 -> 300, copy included), and
    the whole step at W=300, batch 32 in about 5% less time; at W=300 from batch 64 up, and at width 100,
    it is no faster (and the rule leaves those out).
    Used only when it gives the very same numbers: each element is the same sum of the same products, and
    `_transposed_product_is_exact` checks that this BLAS computes it in the same order for these sizes
    (on random arrays of these sizes: hence a weight of at most 2**22 values, 16 MB in float32)."""
    return (x.ndim == 2 and w.ndim == 2 and x.dtype == w.dtype == out.dtype and out.dtype.kind == "f"
            and x.flags.c_contiguous and w.flags.c_contiguous and out.flags.c_contiguous
            and 5 * x.shape[0] <= w.shape[0] and w.size <= 1 << 22
            and _transposed_product_is_exact(x.shape[0], x.shape[1], w.shape[0], out.dtype))


@lru_cache(maxsize=256)
def _transposed_product_is_exact(batch: int, features_in: int, features_out: int, dtype: np.dtype) -> bool:
    """(w @ x.T).T == x @ w.T bit for bit on random data of these sizes (the summation order of the BLAS
    kernels numpy calls for each: any difference in it shows on random values)."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, features_in)).astype(dtype)
    w = rng.standard_normal((features_out, features_in)).astype(dtype)
    return bool(np.array_equal(np.matmul(w, x.T).T, np.matmul(x, w.T)))


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


class Log1p(Function):
    """log(1 + x), accurate for tiny x (where 1 + x rounds away x's digits)."""

    ufunc = np.log1p

    def backward(self, g: Tensor) -> Grads:
        return (g / (self.parents[0] + 1.0),)


class Expm1(Function):
    """exp(x) - 1, accurate for tiny x."""

    saves_output = True
    ufunc = np.expm1

    def backward(self, g: Tensor) -> Grads:
        return (g * (self.output() + 1.0),)


class Sqrt(Function):
    saves_output = True
    ufunc = np.sqrt

    def backward(self, g: Tensor) -> Grads:
        return (g / (self.output() * 2),)


class Abs(Function):
    """|x|; the gradient at 0 is 0, as in PyTorch."""

    ufunc = np.absolute

    def backward(self, g: Tensor) -> Grads:
        return (g * Sign.apply(self.parents[0].detach()),)  # a constant mask: no graph through it


class _PiecewiseConstant(Function):
    """An op that is constant between jumps (sign, floor, ceil, round): its gradient is zero, as in PyTorch
    (the output requires grad and passes back zeros, rather than no gradient at all)."""

    saves_values = False

    def backward(self, g: Tensor) -> Grads:
        return (constant(0, g).broadcast_to(self.parents[0].shape),)


class Sign(_PiecewiseConstant):
    """-1, 0 or 1 (numpy's sign); zero gradient."""

    ufunc = np.sign


class Floor(_PiecewiseConstant):
    """The largest integer <= x (as a float); zero gradient."""

    ufunc = np.floor


class Ceil(_PiecewiseConstant):
    """The smallest integer >= x (as a float); zero gradient."""

    ufunc = np.ceil


class Round(_PiecewiseConstant):
    """The nearest integer, halves to even (numpy's rint, PyTorch's round); zero gradient."""

    ufunc = np.rint


class Sin(Function):
    ufunc = np.sin

    def backward(self, g: Tensor) -> Grads:
        return (g * Cos.apply(self.parents[0]),)


class Cos(Function):
    ufunc = np.cos

    def backward(self, g: Tensor) -> Grads:
        return (-(g * Sin.apply(self.parents[0])),)


class Erf(Function):
    """The error function (for the exact GELU): scipy's erf when scipy is installed, else math.erf per element
    (both accurate to the last bits). Its derivative 2/sqrt(pi) exp(-x^2) is Tensor ops."""

    def forward(self, a: np.ndarray) -> np.ndarray:
        return _erf()(a)

    def backward(self, g: Tensor) -> Grads:
        x = self.parents[0]
        return (g * ((x * x) * -1.0).exp() * (2.0 / math.sqrt(math.pi)),)


def _erf() -> Callable[[np.ndarray], np.ndarray]:
    """A vectorized erf keeping the input's floating dtype (found once)."""
    global _ERF
    if _ERF is None:
        try:
            from scipy.special import erf as scipy_erf
        except ImportError:
            slow = np.frompyfunc(math.erf, 1, 1)

            def scalar_erf(a: np.ndarray) -> np.ndarray:  # asarray: for a 0-d input, frompyfunc gives a float
                return np.asarray(slow(a.astype(np.float64)), dtype=a.dtype if a.dtype.kind == "f" else np.float64)

            _ERF = scalar_erf
        else:
            _ERF = scipy_erf
    return _ERF


_ERF: Callable[[np.ndarray], np.ndarray] | None = None


class FloorDivide(Function):
    """a // b (Python's floor division, numpy's floor_divide): not differentiable, as the issue asks."""

    ufunc = np.floor_divide
    differentiable = False


class Remainder(Function):
    """a % b with the sign of b (Python's and PyTorch's remainder): not differentiable."""

    ufunc = np.remainder
    differentiable = False


@lru_cache(maxsize=16)
def _zeros(shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A read-only array of zeros, shared by every ReLU of this shape and dtype (see Relu)."""
    zeros = np.zeros(shape, dtype)
    zeros.flags.writeable = False
    return zeros


def _relu_zero(a: np.ndarray) -> np.ndarray | int:
    """What ReLU compares `a` with: the shared zeros of its shape for floats, else the number 0."""
    return _zeros(a.shape, a.dtype) if a.dtype.kind == "f" else 0


class Relu(Function):
    """max(a, 0). For floats the zero is an array of a's shape: numpy's maximum runs its vectorized loop only
    for two arrays of one shape, and against a scalar takes 2-3x as long (numpy 2.4); same values either way."""

    writes_out = True
    elementwise = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray) -> list[Callable[[], Any]]:
        return [partial(np.maximum, a, _relu_zero(a), out=out)]

    def forward(self, a: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        result: np.ndarray = np.maximum(a, _relu_zero(a), out=out)
        return result

    def backward(self, g: Tensor) -> Grads:
        return (ReluGrad.apply(g, self.parents[0]),)


class ReluGrad(Function):
    """g where x > 0, else 0: ReLU's backward as one op, multiplying by the boolean mask directly (no float
    copy of it). Linear in g, so its own backward is ReluGrad again (x's gradient is zero a.e.)."""

    writes_out = True
    elementwise = True

    @classmethod
    def lower(cls, out: np.ndarray, g: np.ndarray, x: np.ndarray) -> list[Callable[[], Any]]:
        mask = np.empty(x.shape, bool)  # the boolean temporary of forward, allocated once
        return [partial(np.greater, x, 0, out=mask), partial(np.multiply, g, mask, out=out)]

    def forward(self, g: np.ndarray, x: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        result: np.ndarray = np.multiply(g, x > 0, out=out)
        return result

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
            np.true_divide(1, out, out=out)
            return out

    def backward(self, g: Tensor) -> Grads:
        return (SigmoidGrad.apply(g, self.output()),)


class SigmoidGrad(Function):
    """g * s * (1 - s) from sigmoid's output s: one op instead of three (its backward is Tensor ops)."""

    writes_out = True

    def forward(self, g: np.ndarray, s: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        out = np.asarray(np.subtract(1, s, out=out))  # 0-d: an array, not a scalar
        np.multiply(s, out, out=out)
        np.multiply(g, out, out=out)
        return out

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
        np.multiply(g, out, out=out)
        return out

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
        if out is None:
            return a.astype(dtype)
        np.copyto(out, a, casting="unsafe")  # astype's conversion (float to int truncates), into the buffer
        return out


def _comparison(name: str, ufunc: np.ufunc, doc: str) -> type[Function]:
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


class Random(Function):
    """Random numbers of `shape` in the dtype of `like` (whose values are not read): uniform in [0, 1) or
    standard normal. Draws from `rng`, or from the project's generator at call time, so `manual_seed` is
    respected and a compiled step draws fresh numbers at every replay. Not differentiable."""

    differentiable = False
    random = True

    def forward(self, like: np.ndarray, shape: tuple, distribution: str,
                rng: np.random.Generator | None = None) -> np.ndarray:
        generator = rng or default_generator()
        dtype = like.dtype if like.dtype.kind == "f" else np.dtype(np.float32)
        native = dtype if dtype in (np.float32, np.float64) else np.float64  # numpy draws these two directly
        if distribution == "uniform":
            values = generator.random(shape, dtype=native)
        elif distribution == "normal":
            values = generator.standard_normal(shape, dtype=native)
        else:
            raise op_error(f"random: distribution must be 'uniform' or 'normal', got {distribution!r}")
        return values.astype(dtype, copy=False)


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


def _hashable_axis(axis: AxisArg) -> bool:
    """Whether an axis argument can key a cache (a list, say, cannot: it is worked out afresh)."""
    return axis is None or isinstance(axis, (int, tuple))


def _normalize_axis(axis: AxisArg, ndim: int, op: str) -> tuple:
    """Axis argument (None, int or tuple) as a sorted tuple of non-negative ints, checked against ndim."""
    return (_cached_check_axis if _hashable_axis(axis) else _check_axis)(axis, ndim, op)


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


_cached_check_axis = lru_cache(maxsize=4096)(_check_axis)  # reductions repeat the same few arguments every step


@lru_cache(maxsize=4096)  # a reduction's backward asks this in every step, for the same few shapes
def _kept_shape(shape: tuple, axes: tuple) -> tuple:
    """`shape` with the reduced `axes` kept as length 1."""
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
        # what a.sum() calls, without numpy's Python wrapper in between (numpy's stubs: see Mean.forward)
        return np.asarray(np.add.reduce(a, self.axes, None, out, keepdims))  # type: ignore[call-overload]

    def backward(self, g: Tensor) -> Grads:
        return (Expand.apply(g, kept=_kept_shape(self.in_shape, self.axes), shape=self.in_shape),)


def _mean_plan(axis: AxisArg, shape: tuple) -> tuple[tuple, int]:
    """The normalized axes of a mean over `axis` of an input of `shape`, and how many values each mean takes."""
    axes = _normalize_axis(axis, len(shape), "mean")
    return axes, math.prod([shape[i] for i in axes])


_cached_mean_plan = lru_cache(maxsize=4096)(_mean_plan)  # the same few (axis, shape) pairs recur every step


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
        self.axes, self.count = (_cached_mean_plan if _hashable_axis(axis) else _mean_plan)(axis, a.shape)
        self.in_shape = a.shape
        if self.count == 0 and math.prod([n for i, n in enumerate(a.shape) if i not in self.axes]):
            raise op_error(f"mean: axes {self.axes} of the input of shape {a.shape} hold no values to average; "
                           "the mean of nothing is undefined (numpy would give NaN)")
        # (the type ignores: numpy's stubs of ufunc.reduce have no overload for a bool `keepdims` with an
        # optional `out`, which numpy accepts)
        if a.dtype.kind != "f":  # integers: numpy's float64 mean
            sums = np.add.reduce(a, axis=self.axes, keepdims=keepdims)  # type: ignore[call-overload]  # numpy's stubs
            return _out(sums / self.count, out)
        # np.mean's work, less overhead:
        total = np.asarray(np.add.reduce(a, self.axes, None, out, keepdims))  # type: ignore[call-overload]  # numpy's stubs
        np.true_divide(total, self.count, total)
        return total

    def backward(self, g: Tensor) -> Grads:  # count 0: g is empty
        return (Expand.apply(g * (1.0 / max(self.count, 1)), kept=_kept_shape(self.in_shape, self.axes),
                             shape=self.in_shape),)


@lru_cache(maxsize=4096)  # the few layouts a training step repeats: their checks are made once
def _view_strides(a_shape: tuple, a_strides: tuple, contiguous: bool, shape: tuple) -> tuple | None:
    """The strides of the broadcast view of a C-contiguous array of `a_shape` and `a_strides` as `shape`, or
    None where `_broadcast_view` leaves it to numpy (not contiguous, empty, or shapes that do not broadcast)."""
    lead = len(shape) - len(a_shape)
    if (lead < 0 or 0 in a_shape or 0 in shape or not contiguous
            or any(n != 1 and n != m for n, m in zip(a_shape, shape[lead:]))):
        return None
    return (0,) * lead + tuple(0 if n == 1 else st for n, st in zip(a_shape, a_strides))


def _broadcast_view(a: np.ndarray, shape: tuple) -> np.ndarray:
    """`np.broadcast_to(a, shape)`: the same read-only view (stride 0 along the stretched axes), made directly
    over a's memory for a contiguous `a`, about 7x faster than broadcast_to on a small array (backward
    spreads a reduction's gradient this way once per reduction, in every step)."""
    strides = _view_strides(a.shape, a.strides, a.flags.c_contiguous, shape)
    if strides is None:  # numpy's own path, and its error for shapes that do not broadcast
        return np.broadcast_to(a, shape)
    view: np.ndarray = np.ndarray(shape, a.dtype, a, 0, strides)
    view.flags.writeable = False
    return view


class Expand(Function):
    """A reduction's result spread back over the reduced axes: reshape to `kept` (the reduced axes as
    length 1), then broadcast to `shape`. One op (a view) for Sum's and Mean's backward."""

    saves_values = False
    is_view = True

    def forward(self, g: np.ndarray, kept: tuple, shape: tuple) -> np.ndarray:
        return _broadcast_view(g.reshape(kept), shape)

    def backward(self, gg: Tensor) -> Grads:
        g = self.parents[0]
        kept = self.params["kept"]
        return (sum_to_shape(gg, kept).reshape(g.shape),)


class Cumsum(Function):
    """Running sum along an axis. Backward: the running sum of the gradient from the other end."""

    saves_values = False
    writes_out = True

    def forward(self, a: np.ndarray, axis: int, out: np.ndarray | None = None) -> np.ndarray:
        if a.ndim == 0:
            if axis not in (0, -1):
                raise op_error(f"cumsum: axis {axis} is out of range for a tensor with 0 dimensions")
            return _out(a, out) if out is not None else np.array(a)
        axis = _normalize_axis(axis, a.ndim, "cumsum")[0]
        return np.cumsum(a, axis=axis, out=out)

    def backward(self, g: Tensor) -> Grads:
        if g.ndim == 0:
            return (g,)
        axis = _normalize_axis(self.params["axis"], g.ndim, "cumsum")[0]
        flip = (slice(None),) * axis + (slice(None, None, -1),)
        return (Cumsum.apply(g[flip], axis=axis)[flip],)


class _Extreme(Function):
    """max/min over axes; the gradient is shared evenly among tied extremes (like torch.amax).

    Empty input is fine when the reduced axes are not empty (max(axis=0) of (2, 0) has shape (0,)); an
    axis of length 0 has no extreme, which is an OpError (as in numpy and PyTorch).
    """

    reduce = staticmethod(np.max)
    reduce_ufunc: np.ufunc = np.maximum  # what `reduce` calls: its `.reduce` is the compiled form
    saves_output = True
    writes_out = True

    @classmethod
    def lower(cls, out: np.ndarray, a: np.ndarray, axis: AxisArg, keepdims: bool) -> list[Callable[[], Any]] | None:
        if a.dtype.kind not in "fiu" or a.size == 0:
            return None
        axes = _normalize_axis(axis, a.ndim, cls.__name__.lower())
        return [partial(cls.reduce_ufunc.reduce, a, axis=axes, keepdims=keepdims, out=out)]

    def forward(self, a: np.ndarray, axis: AxisArg, keepdims: bool, out: np.ndarray | None = None) -> np.ndarray:
        self.axes = _normalize_axis(axis, a.ndim, type(self).__name__.lower())
        if a.size == 0 and any(a.shape[i] == 0 for i in self.axes):
            raise op_error(f"{type(self).__name__.lower()}: axes {self.axes} of the input of shape {a.shape} "
                           "include one of length 0, which has no extreme value")
        self.kept_shape = tuple(1 if i in self.axes else n for i, n in enumerate(a.shape))
        # (the type ignore: numpy's stubs of np.max/np.min have no overload for a bool `keepdims` with an
        # optional `out`, which numpy accepts)
        reduced = self.reduce(a, axis=self.axes, keepdims=keepdims, out=out)  # type: ignore[arg-type]  # numpy's stubs
        return np.asarray(reduced)

    def backward(self, g: Tensor) -> Grads:
        share = ExtremeShare.apply(self.parents[0], self.output().reshape(self.kept_shape), axes=self.axes)
        return (g.reshape(self.kept_shape) * share,)


class ExtremeShare(Function):
    """Where `a` equals its extreme `kept` (kept dims), 1 / (number of ties), else 0, in a's dtype: how a
    max/min shares its gradient. Not differentiable (piecewise constant)."""

    differentiable = False

    def forward(self, a: np.ndarray, kept: np.ndarray, axes: tuple) -> np.ndarray:
        hits = a == kept
        share: np.ndarray = (hits / hits.sum(axis=axes, keepdims=True)).astype(a.dtype)
        return share


class Max(_Extreme):
    reduce = staticmethod(np.max)
    reduce_ufunc = np.maximum


class Min(_Extreme):
    reduce = staticmethod(np.min)
    reduce_ufunc = np.minimum


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

    def forward(self, a: np.ndarray, axes: tuple[int, ...] | None) -> np.ndarray:
        if axes is not None and sorted(int(x) % max(a.ndim, 1) for x in axes) != list(range(a.ndim)):
            raise op_error(f"transpose: axes {tuple(axes)} are not a permutation of the {a.ndim} axes of {a.shape}")
        self.axes = axes
        view: np.ndarray = a.transpose(axes)
        return view

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
            return _broadcast_view(a, tuple(shape))
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

    def forward(self, a: np.ndarray, index: Any, unique: bool = False) -> np.ndarray:
        self.index = index
        self.in_shape = a.shape
        self.unique = unique  # the caller knows an index array repeats no position (max pooling's windows)
        result: np.ndarray | np.generic = a[index]  # apply adds the op name and the shape to numpy's IndexError
        if type(result) is not np.ndarray:  # a single element: index with `...` too, for a 0-d view
            result = a[(*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)]
        return result

    def backward(self, g: Tensor) -> Grads:
        extra = {"unique": True} if self.unique else {}
        return (IndexAdd.apply(g, index=self.index, shape=self.in_shape, **extra),)


class IndexAdd(Function):
    """The adjoint of indexing: a zero tensor of `shape` with `g` added at `index` (repeats add up). With
    `unique` (the caller's promise that an index array repeats no position) a plain assignment does it."""

    saves_values = False
    writes_out = True

    def forward(self, g: np.ndarray, index: Any, shape: tuple, unique: bool = False,
                out: np.ndarray | None = None) -> np.ndarray:
        self.index = index
        self.unique = unique
        if out is None:
            out = np.zeros(shape, dtype=g.dtype)
        else:
            out.fill(0)
        if _is_advanced(index) and not unique:
            np.add.at(out, index, g)
        else:
            out[index] = g
        return out

    def backward(self, gg: Tensor) -> Grads:
        extra = {"unique": True} if self.unique else {}
        return (GetItem.apply(gg, index=self.index, **extra),)


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


# ----------------------------------------------------------------------------- convolution and pooling
#
# Layouts are PyTorch's: input (N, C, *spatial), weight (C_out, C_in / groups, *kernel), output
# (N, C_out, *out_spatial), for 1 or 2 spatial dimensions (3 works too). The primitives take padded
# input: padding is a separate op (Pad), so the input gradient's crop is Pad's backward (a view).


def _conv_name(nd: int) -> str:
    return f"conv{nd}d"


def _out_size(size: int, kernel: int, stride: int, dilation: int) -> int:
    """Number of windows of a (dilated) kernel along an axis of `size` values at `stride` (no padding)."""
    return (size - dilation * (kernel - 1) - 1) // stride + 1


def _windows(x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
    """The sliding windows of x over its last len(kernel) axes, as a view: (*lead, *out_spatial, *kernel)."""
    nd = len(kernel)
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    view = np.lib.stride_tricks.sliding_window_view(x, spans, axis=tuple(range(x.ndim - nd, x.ndim)))
    lead = (slice(None),) * (x.ndim - nd)
    return view[lead + tuple(slice(None, None, s) for s in stride) + tuple(slice(None, None, d) for d in dilation)]


def _check_conv(name: str, x_shape: tuple, w_shape: tuple, stride: tuple, dilation: tuple, groups: int) -> tuple:
    """Validate a convolution's shapes (OpError naming the op and the shapes); returns the output's spatial
    shape."""
    nd = len(stride)
    if len(x_shape) != nd + 2 or len(w_shape) != nd + 2:
        raise op_error(f"{name}: expected input (N, C_in, {nd} spatial) and weight (C_out, C_in/groups, {nd} kernel) "
                       f"with {nd + 2} dimensions each, got input {x_shape} and weight {w_shape}")
    if len(dilation) != nd or min(stride + dilation, default=1) < 1 or groups < 1:
        raise op_error(f"{name}: stride {stride} and dilation {dilation} must be {nd} positive integers and groups "
                       f"({groups}) positive (input {x_shape}, weight {w_shape})")
    channels, out_channels = x_shape[1], w_shape[0]
    if channels % groups or out_channels % groups:
        raise op_error(f"{name}: groups={groups} must divide the input channels ({channels}) and the output "
                       f"channels ({out_channels}) (input {x_shape}, weight {w_shape})")
    if w_shape[1] * groups != channels:
        raise op_error(f"{name}: the input has {channels} channels but the weight {w_shape} expects "
                       f"{w_shape[1] * groups} (C_in/groups = {w_shape[1]}, groups = {groups}; input {x_shape})")
    kernel = w_shape[2:]
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    if min(kernel, default=1) < 1 or any(s > n for s, n in zip(spans, x_shape[2:])):
        raise op_error(f"{name}: the kernel {kernel} (dilation {dilation}, so it spans {spans}) is larger than the "
                       f"padded input's spatial size {x_shape[2:]} (input {x_shape}, weight {w_shape})")
    return tuple(_out_size(n, k, s, d) for n, k, s, d in zip(x_shape[2:], kernel, stride, dilation))


class Conv(Function):
    """Cross-correlation of padded input x (N, C_in, *spatial) with weight (C_out, C_in/groups, *kernel), as
    PyTorch's conv1d/conv2d without padding and bias (F.conv2d adds those with Pad and a broadcast add).

    Forward is im2col: the strided windows of x (a view) copied once into (N, groups, C_in/groups * K, L)
    and multiplied by the weight in one batched matmul (benchmarks/bench_conv.py measures it against
    np.einsum); when there are fewer windows than kernel elements (the weight gradient's convolution), one
    matmul per window instead. Backward: the input gradient is the transposed convolution (ConvTranspose) of the output
    gradient; the weight gradient is again a convolution, of x with the output gradient as its kernel
    (stride and dilation exchanged), so gradients of any order are convolutions.
    """

    writes_out = True

    def forward(self, x: np.ndarray, w: np.ndarray, stride: tuple, dilation: tuple, groups: int,
                out: np.ndarray | None = None) -> np.ndarray:
        return Conv.convolve(x, w, stride, dilation, groups, out)

    @staticmethod
    def convolve(x: np.ndarray, w: np.ndarray, stride: tuple, dilation: tuple, groups: int,
                 out: np.ndarray | None = None) -> np.ndarray:
        """The forward computation, on its own (ConvTranspose's forward uses it too)."""
        nd = len(stride)
        spatial = _check_conv(_conv_name(nd), x.shape, w.shape, stride, dilation, groups)
        n, channels = x.shape[:2]
        out_channels, kernel = w.shape[0], w.shape[2:]
        cg, og = channels // groups, out_channels // groups
        k, l = math.prod(kernel), math.prod(spatial)
        dtype = np.result_type(x, w)
        if out is None or not out.flags.c_contiguous or out.dtype != dtype:
            result = np.empty((n, out_channels) + spatial, dtype=dtype)
        else:
            result = out
        wg = w.reshape(groups, og, cg * k)
        if l <= k:  # few windows of a large kernel (the weight gradient's convolution): one product per window
            wt = wg.transpose(0, 2, 1)
            for position in np.ndindex(*spatial):
                slab = x[(slice(None), slice(None)) + tuple(
                    slice(p * s, p * s + d * (m - 1) + 1, d) for p, s, d, m in zip(position, stride, dilation, kernel))]
                part = np.matmul(slab.reshape(n, groups, cg * k).transpose(1, 0, 2), wt)  # (G, N, Og)
                result[(slice(None), slice(None)) + position] = part.transpose(1, 0, 2).reshape(n, out_channels)
        else:  # im2col: the windows (a view) copied once, then one batched matmul
            win = _windows(x, kernel, stride, dilation).reshape((n, groups, cg) + spatial + kernel)
            order = (0, 1, 2) + tuple(range(3 + nd, 3 + 2 * nd)) + tuple(range(3, 3 + nd))  # (N, G, Cg, *k, *L)
            cols = win.transpose(order).reshape(n, groups, cg * k, l)
            if groups == 1:  # one weight matrix against the stack of column matrices
                np.matmul(wg[0], cols[:, 0], out=result.reshape(n, og, l))
            else:
                np.matmul(wg, cols, out=result.reshape(n, groups, og, l))
        return result if out is None or result is out else _out(result, out)

    def backward(self, g: Tensor) -> Grads:
        x, w = self.parents
        stride, dilation, groups = self.params["stride"], self.params["dilation"], self.params["groups"]
        gx = gw = None
        if self.needs[0]:
            gx = ConvTranspose.apply(g, w, stride=stride, dilation=dilation, groups=groups, size=x.shape[2:])
        if self.needs[1]:
            gw = conv_weight_grad(x, g, w.shape, stride, dilation, groups)
        return gx, gw


def conv_weight_grad(x: Tensor, g: Tensor, w_shape: tuple, stride: tuple, dilation: tuple, groups: int) -> Tensor:
    """d<g, conv(x, w)>/dw as a convolution: x with batch and channels exchanged (per group) is convolved with g
    (as the kernel, batch as its input channels), stride and dilation exchanged, then cropped to the kernel.

    gw[o, c, a] = sum_{n, i} g[n, o, i] * x[n, c, i * stride + a * dilation]: a convolution over n and i.
    """
    nd = len(stride)
    n, channels = x.shape[:2]
    out_channels = g.shape[1]
    cg, og = channels // groups, out_channels // groups
    space = tuple(range(3, 3 + nd))
    xt = x.reshape((n, groups, cg) + x.shape[2:]).transpose((2, 1, 0) + space).reshape((cg, groups * n) + x.shape[2:])
    gt = g.reshape((n, groups, og) + g.shape[2:]).transpose((1, 2, 0) + space).reshape((out_channels, n) + g.shape[2:])
    r = Conv.apply(xt, gt, stride=dilation, dilation=stride, groups=groups)  # (Cg, C_out, *>= kernel)
    kernel = tuple(w_shape[2:])
    if r.shape[2:] != kernel:  # windows past the last one the forward used: cropped
        r = r[(slice(None), slice(None)) + tuple(slice(0, k) for k in kernel)]
    return r.swapaxes(0, 1)


class ConvTranspose(Function):
    """The transposed convolution: the adjoint of Conv in its input, g (N, C_out, *L) -> (N, C_in, *size) for
    the weight (C_out, C_in/groups, *kernel). It is Conv's input gradient and PyTorch's conv_transpose.

    Forward: with stride 1, the full convolution of g with the flipped kernel (Conv's im2col); otherwise one
    batched matmul (weight^T @ g) gives every window's contribution, added into the output at each kernel
    offset (col2im, one strided add per kernel element). Backward: the gradient of g is the
    convolution of the incoming gradient with the same weight, and the weight's is Conv's weight gradient
    with the roles of input and output gradient taken by the incoming gradient and g.
    """

    writes_out = True

    def forward(self, g: np.ndarray, w: np.ndarray, stride: tuple, dilation: tuple, groups: int, size: tuple,
                out: np.ndarray | None = None) -> np.ndarray:
        nd = len(stride)
        size = tuple(size)
        name = f"conv_transpose{nd}d"
        if g.ndim != nd + 2 or w.ndim != nd + 2 or len(size) != nd:
            raise op_error(f"{name}: expected input (N, C_out, {nd} spatial), weight (C_out, C_in/groups, "
                           f"{nd} kernel) and {nd} output sizes, got {g.shape}, {w.shape} and {size}")
        n, out_channels = g.shape[:2]
        if w.shape[0] != out_channels:
            raise op_error(f"{name}: the input has {out_channels} channels but the weight {w.shape} has "
                           f"{w.shape[0]} output channels (input {g.shape})")
        channels = w.shape[1] * groups
        spatial = _check_conv(name, (n, channels) + size, w.shape, stride, dilation, groups)
        if any(a < b for a, b in zip(spatial, g.shape[2:])):
            raise op_error(f"{name}: an output of spatial size {size} has only windows {spatial} for kernel "
                           f"{w.shape[2:]}, stride {stride}, dilation {dilation}; the input {g.shape} needs "
                           f"{g.shape[2:]}")
        spatial = g.shape[2:]  # an output larger than its windows need (output_padding) ends in zeros
        kernel = w.shape[2:]
        cg, og = w.shape[1], out_channels // groups
        k, l = math.prod(kernel), math.prod(spatial)
        if all(s == 1 for s in stride) and l > k:  # a full convolution with the flipped kernel (im2col, faster)
            spans = [d * (m - 1) for m, d in zip(kernel, dilation)]
            extra = [n - (m + s) for n, m, s in zip(size, spatial, spans)]  # output_padding past the windows
            padded = np.pad(g, ((0, 0), (0, 0)) + tuple((s, s + e) for s, e in zip(spans, extra)))
            flipped = w.reshape((groups, og, cg) + kernel).swapaxes(1, 2).reshape((channels, og) + kernel)
            flipped = flipped[(slice(None), slice(None)) + (slice(None, None, -1),) * nd]
            return Conv.convolve(padded, flipped, stride=stride, dilation=dilation, groups=groups, out=out)
        wt = w.reshape(groups, og, cg * k).transpose(0, 2, 1)
        cols = np.matmul(wt, g.reshape(n, groups, og, l)).reshape((n, channels) + kernel + spatial)
        dtype = cols.dtype
        if out is None or out.dtype != dtype:
            result = np.zeros((n, channels) + size, dtype=dtype)
        else:
            result = out
            result.fill(0)
        lead = (slice(None), slice(None))
        for offset in np.ndindex(*kernel):
            target = tuple(slice(a * d, a * d + s * (m - 1) + 1, s)
                           for a, d, s, m in zip(offset, dilation, stride, spatial))
            result[lead + target] += cols[lead + offset]
        return result if out is None or result is out else _out(result, out)

    def backward(self, gy: Tensor) -> Grads:
        g, w = self.parents
        stride, dilation, groups = self.params["stride"], self.params["dilation"], self.params["groups"]
        gg = gw = None
        if self.needs[0]:
            gg = Conv.apply(gy, w, stride=stride, dilation=dilation, groups=groups)
            if gg.shape != g.shape:  # windows of the zeros an output_padding added: no input fed them
                gg = gg[(slice(None), slice(None)) + tuple(slice(0, n) for n in g.shape[2:])]
        if self.needs[1]:
            gw = conv_weight_grad(gy, g, w.shape, stride, dilation, groups)
        return gg, gw


class Pad(Function):
    """Constant padding: `pads` holds (before, after) counts (>= 0) for every axis, as np.pad. Backward: the
    interior of the gradient (a view)."""

    saves_values = False
    writes_out = True

    def forward(self, x: np.ndarray, pads: tuple, value: float, out: np.ndarray | None = None) -> np.ndarray:
        if len(pads) != x.ndim or any(lo < 0 or hi < 0 for lo, hi in pads):
            raise op_error(f"pad: expected a non-negative (before, after) pair for each of the {x.ndim} axes of "
                           f"{x.shape}, got {pads}")
        shape = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape, pads))
        if out is None:
            out = np.empty(shape, dtype=x.dtype)
        out.fill(value)
        out[tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape, pads))] = x
        return out

    def backward(self, g: Tensor) -> Grads:
        pads = self.params["pads"]
        return (g[tuple(slice(lo, g.shape[i] - hi) for i, (lo, hi) in enumerate(pads))],)


class PoolArgmax(Function):
    """For each window of max pooling, the flat index (into x.reshape(-1)) of its largest value: max_pool is x
    gathered at these indices, so its gradient is an IndexAdd there. Ties: the first maximum of the window
    in row-major order wins (PyTorch's CPU rule); NaN counts as the maximum (the last NaN, as there). Not
    differentiable.

    One strided view of x per kernel element, compared with the best so far (no copy of the windows), then
    each window's start plus the winning element's offset."""

    differentiable = False

    def forward(self, x: np.ndarray, kernel: tuple, stride: tuple, dilation: tuple) -> np.ndarray:
        nd = len(kernel)
        name = f"max_pool{nd}d"
        if x.ndim != nd + 2:
            raise op_error(f"{name}: expected input (N, C, {nd} spatial), got {x.shape}")
        spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        if any(s > n for s, n in zip(spans, x.shape[2:])):
            raise op_error(f"{name}: the window {kernel} (dilation {dilation}, so it spans {spans}) is larger than "
                           f"the padded input's spatial size {x.shape[2:]} (input {x.shape})")
        spatial = tuple(_out_size(n, k, s, d) for n, k, s, d in zip(x.shape[2:], kernel, stride, dilation))
        lead = (slice(None), slice(None))
        small = np.int8 if math.prod(kernel) < 128 else np.int32
        best: np.ndarray | None = None
        winner: np.ndarray | None = None
        for k, offset in enumerate(np.ndindex(*kernel)):
            view = x[lead + tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                                  for o, d, s, m in zip(offset, dilation, stride, spatial))]
            if best is None or winner is None:  # the first element of the windows
                best, winner = np.array(view), np.zeros(view.shape, dtype=small)
                continue
            better = view > best  # strictly: the first maximum stays
            if x.dtype.kind == "f":  # NaN wins, the window's last NaN, as in PyTorch's kernel
                better |= np.isnan(view)
            np.maximum(best, view, out=best)  # NaN propagates, so a NaN best stays NaN
            step = np.subtract(winner, small(k), dtype=small)  # winner -= better * (winner - k): k where better
            np.multiply(step, better, out=step)
            np.subtract(winner, step, out=winner)
        assert winner is not None, f"{name}: empty kernel {kernel}"  # max_pool checks the sizes are positive
        strides = np.array([int(np.prod(x.shape[3 + axis:])) for axis in range(nd)])
        offsets = (np.array(list(np.ndindex(*kernel))) * np.array(dilation)) @ strides  # each element's offset
        flat_index: np.ndarray = _window_starts(x.shape, stride, spatial) + np.take(offsets, winner)
        return flat_index


def _window_starts(shape: tuple, stride: tuple, spatial: tuple) -> np.ndarray:
    """The flat index of each pooling window's first element in an array of `shape` (a constant of the shapes,
    cached)."""
    key = (shape, stride, spatial)
    starts = _WINDOW_STARTS.get(key)
    if starts is None:
        nd = len(stride)
        starts = np.arange(shape[0] * shape[1]).reshape(shape[:2] + (1,) * nd)
        for axis in range(nd):
            step = (np.arange(spatial[axis]) * stride[axis]).reshape((-1,) + (1,) * (nd - 1 - axis))
            starts = starts * shape[2 + axis] + step
        starts.flags.writeable = False
        if len(_WINDOW_STARTS) < 256:
            _WINDOW_STARTS[key] = starts
    return starts


_WINDOW_STARTS: dict[tuple, np.ndarray] = {}
