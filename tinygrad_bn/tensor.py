"""The Tensor: a numpy array plus what reverse-mode autodiff needs (`requires_grad`, `grad`, the op that made it).

Every method that computes something calls one primitive op from ops.py, or composes several (var, softmax
and batch norm are compositions). Non-Tensor operands (Python scalars, lists, ndarrays) are lifted to
constant Tensors that adopt this Tensor's floating dtype, so `x * 2` stays float32; Python numbers follow
numpy 2's weak-scalar rule for the other dtypes too (an int32 tensor times 2 stays int32).
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar, NamedTuple, overload

import numpy as np

from . import autograd, ops
from .autograd import backpropagate, op_error

_FLOAT_KINDS = "f"
DEFAULT_FLOAT = np.float32


def _checked_array(data: Any, dtype: Any, copy: bool) -> np.ndarray:
    """Array for a new Tensor: lists and Python floats become float32, numpy input keeps its dtype."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        arr = np.array(data, dtype=dtype, copy=True if copy else None)
    elif isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, copy=True if copy else None)
    else:
        arr = np.array(data)
        if arr.dtype.kind == "f":
            arr = arr.astype(DEFAULT_FLOAT)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"Tensor: unsupported data of dtype {arr.dtype}; use numbers (bool, int or float)")
    return arr


def _check_differentiable(dtype: np.dtype, where: str) -> None:
    """Raise TypeError unless `dtype` is floating: gradients of integer or boolean tensors do not exist."""
    if dtype.kind not in _FLOAT_KINDS:
        raise TypeError(
            f"{where}: only floating-point tensors can require gradients, got dtype {dtype}; "
            "convert with dtype=np.float32 (or float64) first"
        )


_UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide, "pow": np.power,
           "maximum": np.maximum, "minimum": np.minimum}


def _weak_scalar_dtype(dtype: np.dtype, value: bool | int | float, op: str) -> np.dtype:
    """The dtype numpy 2 gives the Python number `value` next to an array of `dtype` in `op` (NEP 50).

    Asks the op's ufunc, because the loop decides: uint8 / 300 runs in float64 (no overflow), uint8 + 300
    in uint8 (an OverflowError). Ops without a ufunc use np.result_type, numpy's general rule.
    """
    ufunc = _UFUNCS.get(op)
    if ufunc is not None and not isinstance(value, bool):  # resolve_dtypes takes int and float, not bool
        try:
            return ufunc.resolve_dtypes((dtype, type(value), None))[1]
        except TypeError:  # no loop for these dtypes (numpy raises when the op runs) or numpy < 2
            pass
    return np.result_type(dtype, value)


_CONSTANTS: dict[tuple, Tensor] = {}  # lifted Python numbers, by (dtype, type, value, sign): made once


def _constant(value: bool | int | float, dtype: np.dtype) -> Tensor:
    """The read-only constant Tensor of a Python number in a floating dtype, cached: `x * 2` in a step runs
    every call, and building the same 0-d array each time is a measurable part of a small step."""
    # keyed by the dtype object (hashing it is cheaper than building its name); a zero's sign is part of
    # its key, since -0.0 == 0.0 (and hashes equal) but `1 / x` tells them apart
    key = (dtype, type(value), value) if value else (dtype, type(value), value, math.copysign(1.0, value))
    t = _CONSTANTS.get(key)
    if t is None:
        array = np.asarray(value, dtype=dtype)
        array.flags.writeable = False
        t = Tensor._wrap(array)
        if value == value and len(_CONSTANTS) < 4096:  # NaN never equals a key: not cached
            _CONSTANTS[key] = t
    return t


class Tensor:
    """An n-dimensional array that records the operations applied to it, for reverse-mode autodiff.

    `Tensor(data, requires_grad=False, dtype=None)`: floating data from lists and Python numbers becomes
    float32, numpy arrays keep their dtype (float64 stays float64, for gradient checks). Only floating
    tensors can require gradients; integer and boolean tensors serve as labels and masks.
    """

    __slots__ = ("data", "grad", "_requires_grad", "_ctx", "_retains_grad", "name", "__weakref__")
    __array_ufunc__ = None  # make `ndarray + Tensor` call Tensor.__radd__ instead of numpy broadcasting
    __hash__ = object.__hash__  # == is elementwise, so hash by identity
    data: np.ndarray
    grad: Tensor | None
    _requires_grad: bool
    _ctx: autograd.Function | None  # the recorded op that made this tensor (None for a leaf)
    _retains_grad: bool
    name: str | None
    _result_class: ClassVar[type[Tensor]]  # the class of op outputs, set below the class

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = _checked_array(data, dtype, copy=True)
        if requires_grad:
            _check_differentiable(self.data.dtype, "Tensor")
        self._requires_grad = bool(requires_grad)
        self.grad = None
        self._ctx = None
        self._retains_grad = False
        self.name = name

    @classmethod
    def _wrap(cls, data: np.ndarray) -> Tensor:
        """A constant Tensor around `data` without copying or checking (internal fast path)."""
        t = object.__new__(cls)
        t.data, t.grad, t._requires_grad, t._ctx, t._retains_grad, t.name = data, None, False, None, False, None
        return t

    @property
    def requires_grad(self) -> bool:
        """Whether ops on this tensor are recorded so gradients can flow back to it."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        """Set on a leaf, as in PyTorch; only floating tensors may require grad (an integer .grad is meaningless)."""
        if flag:
            _check_differentiable(self.data.dtype, "requires_grad")
        elif self._ctx is not None:
            raise RuntimeError("requires_grad: only leaf tensors can stop requiring grad; use detach()")
        self._requires_grad = bool(flag)

    def _lift(self, other: Any, op: str = "combine") -> Tensor:
        """A non-Tensor operand as a constant Tensor.

        Python numbers are weak (numpy 2's NEP 50): they take this tensor's dtype when their kind fits it
        (int32 * 2 stays int32, float16 * 0.5 float16), else numpy's default (int32 * 0.5 is float64).
        Arrays and numpy scalars adopt a floating tensor's dtype and otherwise promote as numpy does.
        """
        if isinstance(other, Tensor):
            return other
        dtype = self.data.dtype
        if isinstance(other, (bool, int, float)) and not isinstance(other, np.generic):
            if dtype.kind in _FLOAT_KINDS:
                return _constant(other, dtype)
            try:  # an int out of the range of the dtype numpy picks raises, as in numpy 2
                return Tensor._wrap(np.asarray(other, dtype=_weak_scalar_dtype(dtype, other, op)))
            except OverflowError:
                raise OverflowError(
                    f"{op}: Python integer {other} is out of range for a tensor of dtype {dtype} (shape "
                    f"{self.shape}); as in numpy 2 the tensor's dtype decides, so convert it first, "
                    "e.g. t.astype(np.int64)"
                ) from None
        arr = np.asarray(other)
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"cannot combine a Tensor with {type(other).__name__} of dtype {arr.dtype}")
        if dtype.kind in _FLOAT_KINDS and arr.dtype != dtype:  # converted by an op, so a compiled step sees it
            return ops.Cast.apply(Tensor._wrap(arr), dtype=dtype)
        return Tensor._wrap(arr)

    # ------------------------------------------------------------------ attributes and helpers
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        """True for tensors not made by a recorded op (inputs, parameters, constants)."""
        return self._ctx is None

    @property
    def grad_fn(self) -> autograd.Function | None:
        """The recorded op that produced this tensor, or None for a leaf."""
        return self._ctx

    def numpy(self) -> np.ndarray:
        """The values as a numpy array (shares memory with the tensor)."""
        if autograd.STATE.tracer is not None:
            autograd.STATE.tracer.value_read("Tensor.numpy()")
        return np.asarray(self.data)

    def item(self) -> float | int | bool:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item: only one-element tensors can be converted, this one has shape {self.shape}")
        if autograd.STATE.tracer is not None:
            autograd.STATE.tracer.value_read("Tensor.item() (or float(), int())")
        value: float | int | bool = self.data.item()
        return value

    def detach(self) -> Tensor:
        """The same values, cut from the graph (no gradient flows through)."""
        return Tensor._wrap(self.data)

    def retain_grad(self) -> Tensor:
        """Keep `.grad` on this non-leaf tensor after backward (leaves always keep it)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        self._retains_grad = True
        return self

    def requires_grad_(self, flag: bool = True) -> Tensor:
        """Set requires_grad in place (only on leaves), as in PyTorch; returns self."""
        if self._ctx is not None and not flag:
            raise RuntimeError("requires_grad_: only leaf tensors can stop requiring grad; use detach()")
        if flag:
            _check_differentiable(self.data.dtype, "requires_grad_")
        self._requires_grad = bool(flag)
        return self

    def zero_grad(self) -> None:
        """Forget the accumulated gradient."""
        self.grad = None

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self.data), precision=4, separator=", ", threshold=20, edgeitems=2)
        if self._ctx is not None:
            tail = f", grad_fn={self._ctx.name}"
        elif self.requires_grad:
            tail = ", requires_grad=True"
        else:
            tail = ""
        name = f", name={self.name!r}" if self.name else ""
        return f"Tensor({body}, shape={self.shape}, dtype={self.dtype}{tail}{name})"

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a zero-dimensional tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise ValueError(f"bool: the truth value of a tensor of shape {self.shape} is ambiguous; "
                             "only one-element tensors can be used as conditions")
        if autograd.STATE.tracer is not None:
            autograd.STATE.tracer.value_read("A Python `if` on a tensor (bool())")
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    # ------------------------------------------------------------------ autodiff
    def backward(
        self, gradient: Any = None, retain_graph: bool | None = None, create_graph: bool = False
    ) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's `.grad` (and retained non-leaves').

        A single-element tensor is seeded with 1; otherwise pass `gradient` of self's shape. Without
        `retain_graph`, the values saved for backward are freed; `create_graph=True` records the
        backward pass so the gradients can be differentiated again.
        """
        seeds = autograd._seeds((self,), None if gradient is None else (gradient,), "backward")
        if retain_graph is None:
            retain_graph = create_graph
        backpropagate((self,), seeds, retain_graph, create_graph)

    # ------------------------------------------------------------------ arithmetic
    def __add__(self, other: Any) -> Tensor:
        return ops.Add.apply(self, self._lift(other, "add"))

    def __radd__(self, other: Any) -> Tensor:
        return ops.Add.apply(self._lift(other, "add"), self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self, self._lift(other, "sub"))

    def __rsub__(self, other: Any) -> Tensor:
        return ops.Sub.apply(self._lift(other, "sub"), self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, self._lift(other, "mul"))

    def __rmul__(self, other: Any) -> Tensor:
        return ops.Mul.apply(self._lift(other, "mul"), self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self, self._lift(other, "div"))

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.Div.apply(self._lift(other, "div"), self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self, self._lift(other, "pow"))

    def __rpow__(self, other: Any) -> Tensor:
        return ops.Pow.apply(self._lift(other, "pow"), self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self, self._lift(other, "matmul"))

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.MatMul.apply(self._lift(other, "matmul"), self)

    def __neg__(self) -> Tensor:
        return ops.Neg.apply(self)

    def __pos__(self) -> Tensor:
        return self

    def matmul(self, other: Any) -> Tensor:
        """Matrix product with numpy's rules (1-D, 2-D and batched N-D operands)."""
        return ops.MatMul.apply(self, self._lift(other, "matmul"))

    def __floordiv__(self, other: Any) -> Tensor:
        """a // b, rounded down (Python's and numpy's floor division); no gradient."""
        return ops.FloorDivide.apply(self, self._lift(other, "floor_divide"))

    def __rfloordiv__(self, other: Any) -> Tensor:
        return ops.FloorDivide.apply(self._lift(other, "floor_divide"), self)

    def __mod__(self, other: Any) -> Tensor:
        """a % b with the sign of b (Python's and PyTorch's remainder); no gradient."""
        return ops.Remainder.apply(self, self._lift(other, "remainder"))

    def __rmod__(self, other: Any) -> Tensor:
        return ops.Remainder.apply(self._lift(other, "remainder"), self)

    # PyTorch's method spellings of the operators
    def add(self, other: Any, alpha: float = 1) -> Tensor:
        """self + alpha * other."""
        return ops.Add.apply(self, self._lift(other if alpha == 1 else other * alpha, "add"))

    def sub(self, other: Any, alpha: float = 1) -> Tensor:
        """self - alpha * other."""
        return ops.Sub.apply(self, self._lift(other if alpha == 1 else other * alpha, "sub"))

    def mul(self, other: Any) -> Tensor:
        return ops.Mul.apply(self, self._lift(other, "mul"))

    def div(self, other: Any, rounding_mode: str | None = None) -> Tensor:
        """self / other; rounding_mode 'floor' rounds the quotient down (self // other), 'trunc' toward zero
        (both without gradient, as in PyTorch)."""
        if rounding_mode is None:
            return ops.Div.apply(self, self._lift(other, "div"))
        divisor = self._lift(other, "floor_divide")  # an int stays an int next to an int tensor
        if rounding_mode == "floor":
            return self // divisor
        if rounding_mode == "trunc":
            if self.dtype.kind in _FLOAT_KINDS or divisor.dtype.kind in _FLOAT_KINDS:
                return (self / divisor).trunc()
            down = self // divisor
            inexact = (self % divisor != 0).logical_and((self < 0) != (divisor < 0))
            return where(inexact, down + 1, down)
        raise ValueError(f"div: rounding_mode must be None, 'floor' or 'trunc', got {rounding_mode!r}")

    def pow(self, exponent: Any) -> Tensor:
        return ops.Pow.apply(self, self._lift(exponent, "pow"))

    def neg(self) -> Tensor:
        return -self

    def where(self, condition: Any, other: Any) -> Tensor:
        """PyTorch's x.where(condition, y): x where condition holds, else y."""
        return where(condition, self, other)

    # ------------------------------------------------------------------ comparisons (not differentiable)
    def _compare(self, other: Any, op: type[autograd.Function]) -> Tensor:
        try:
            operand = self._lift(other, "compare")
        except OverflowError:  # uint8 == 300: numpy compares with the exact value
            operand = Tensor._wrap(np.asarray(other))
        return op.apply(self, operand)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, ops.Less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, ops.LessEqual)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, ops.Greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, ops.GreaterEqual)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]  # elementwise: a Tensor, not a bool
        return self._compare(other, ops.Equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]  # elementwise: a Tensor, not a bool
        return self._compare(other, ops.NotEqual)

    def logical_and(self, other: Any) -> Tensor:
        """Elementwise `and` of truth values (a boolean tensor)."""
        return ops.LogicalAnd.apply(self, self._lift(other, "compare"))

    def logical_or(self, other: Any) -> Tensor:
        """Elementwise `or` of truth values (a boolean tensor)."""
        return ops.LogicalOr.apply(self, self._lift(other, "compare"))

    def logical_not(self) -> Tensor:
        """Elementwise `not` (a boolean tensor)."""
        return ops.LogicalNot.apply(self)

    # ------------------------------------------------------------------ elementwise functions
    def exp(self) -> Tensor:
        return ops.Exp.apply(self)

    def log(self) -> Tensor:
        """Natural logarithm (NaN and a numpy warning for negative input, as in numpy)."""
        return ops.Log.apply(self)

    def sqrt(self) -> Tensor:
        return ops.Sqrt.apply(self)

    def log1p(self) -> Tensor:
        """log(1 + x), accurate for tiny x."""
        return ops.Log1p.apply(self)

    def expm1(self) -> Tensor:
        """exp(x) - 1, accurate for tiny x."""
        return ops.Expm1.apply(self)

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

    def sin(self) -> Tensor:
        return ops.Sin.apply(self)

    def cos(self) -> Tensor:
        return ops.Cos.apply(self)

    def erf(self) -> Tensor:
        """The error function, 2/sqrt(pi) * integral of exp(-t^2) from 0 to x."""
        return ops.Erf.apply(self)

    def log2(self) -> Tensor:
        """Base-2 logarithm: log(x) / log(2)."""
        return self.log() * (1.0 / math.log(2.0))

    def log10(self) -> Tensor:
        """Base-10 logarithm: log(x) / log(10)."""
        return self.log() * (1.0 / math.log(10.0))

    def reciprocal(self) -> Tensor:
        """1 / x."""
        return 1.0 / self if self.dtype.kind in _FLOAT_KINDS else 1.0 / self.astype(DEFAULT_FLOAT)

    def rsqrt(self) -> Tensor:
        """1 / sqrt(x)."""
        return self.sqrt().reciprocal()

    def sign(self) -> Tensor:
        """-1, 0 or 1; its gradient is zero (as in PyTorch)."""
        return ops.Sign.apply(self)

    def floor(self) -> Tensor:
        """Round down to an integer value; zero gradient."""
        return ops.Floor.apply(self)

    def ceil(self) -> Tensor:
        """Round up to an integer value; zero gradient."""
        return ops.Ceil.apply(self)

    def round(self, decimals: int = 0) -> Tensor:
        """Round to the nearest integer (halves to even, as numpy and PyTorch), or to `decimals` digits; zero
        gradient."""
        if decimals == 0:
            return ops.Round.apply(self)
        scale = 10.0**decimals
        return ops.Round.apply(self * scale) / scale

    def trunc(self) -> Tensor:
        """Round toward zero; zero gradient."""
        return where(self < 0, self.ceil(), self.floor())

    def isnan(self) -> Tensor:
        """Where the value is NaN (a boolean tensor): x != x."""
        return self != self

    def isinf(self) -> Tensor:
        """Where the value is +inf or -inf (a boolean tensor)."""
        return self.abs() == np.inf

    def isfinite(self) -> Tensor:
        """Where the value is neither NaN nor infinite (a boolean tensor)."""
        return (self.abs() < np.inf) if self.dtype.kind in _FLOAT_KINDS else self == self

    def maximum(self, other: Any) -> Tensor:
        return ops.Maximum.apply(self, self._lift(other, "maximum"))

    def minimum(self, other: Any) -> Tensor:
        return ops.Minimum.apply(self, self._lift(other, "minimum"))

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:  # noqa: A002
        """Clamp values into [min, max]; either bound may be None."""
        if min is None and max is None:
            raise op_error("clip: give at least one of min and max")
        return ops.Clip.apply(self, low=min, high=max)

    def astype(self, dtype: Any) -> Tensor:
        """The tensor converted to `dtype` (differentiable between floating dtypes)."""
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if dtype.kind not in _FLOAT_KINDS:  # integer/boolean results are not differentiable
            return ops.Convert.apply(self, dtype=dtype)
        return ops.Cast.apply(self, dtype=dtype)

    def clone(self) -> Tensor:
        """A copy of the values made by an op, so the gradient flows through it (unlike `detach`)."""
        if self.dtype.kind in _FLOAT_KINDS:
            return ops.Cast.apply(self, dtype=self.dtype)
        return ops.Convert.apply(self, dtype=self.dtype)

    def tolist(self) -> Any:
        """The values as (nested) Python lists of numbers."""
        if autograd.STATE.tracer is not None:
            autograd.STATE.tracer.value_read("Tensor.tolist()")
        return self.data.tolist()

    def dim(self) -> int:
        """The number of dimensions (PyTorch's name for ndim)."""
        return self.ndim

    def numel(self) -> int:
        """The number of elements (PyTorch's name for size)."""
        return self.size

    # ------------------------------------------------------------------ reductions
    # Each takes numpy's axis=/keepdims= and PyTorch's dim=/keepdim= (keywords): x.sum(1), x.sum(axis=1) and
    # x.sum(dim=1) are the same. Where PyTorch's spelling means something else (max/min with dim= return values
    # and indices; var/std with dim= are unbiased by default), the spelling decides.
    def sum(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
            keepdim: bool | None = None) -> Tensor:
        return ops.Sum.apply(self, axis=_axis(axis, dim, "sum"), keepdims=_keep(keepdims, keepdim))

    def mean(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
             keepdim: bool | None = None) -> Tensor:
        """Mean over `axis` (all axes by default). Empty input gives the empty result PyTorch gives (axis 1
        of a (0, 3) tensor: shape (0,)); a mean over zero values, where PyTorch gives NaN, is an OpError."""
        return ops.Mean.apply(self, axis=_axis(axis, dim, "mean"), keepdims=_keep(keepdims, keepdim))

    def var(self, axis: int | tuple | None = None, keepdims: bool = False, ddof: int | None = None, *,
            dim: int | tuple | None = None, keepdim: bool | None = None, correction: int | None = None,
            unbiased: bool | None = None) -> Tensor:
        """Variance, composed as mean((x - mean(x))**2). Divides by n - ddof: numpy's default ddof=0 (biased);
        PyTorch's `correction=`/`unbiased=` are accepted, and with `dim=` the default is PyTorch's (unbiased)."""
        ddof = _ddof(ddof, correction, unbiased, dim is not None)
        axis, keepdims = _axis(axis, dim, "var"), _keep(keepdims, keepdim)
        axes = ops._normalize_axis(axis, self.ndim, "var")  # errors name var, not the mean inside it
        n = int(np.prod([self.shape[i] for i in axes]))  # values per reduction
        centered = self - self.mean(axis=axis, keepdims=True)
        squares = centered * centered
        if ddof == 0:
            return squares.mean(axis=axis, keepdims=keepdims)
        if n - ddof <= 0:
            raise op_error(f"var: ddof={ddof} needs more than {ddof} values per reduction, got {n}")
        return squares.sum(axis=axis, keepdims=keepdims) * (1.0 / (n - ddof))

    def std(self, axis: int | tuple | None = None, keepdims: bool = False, ddof: int | None = None, *,
            dim: int | tuple | None = None, keepdim: bool | None = None, correction: int | None = None,
            unbiased: bool | None = None) -> Tensor:
        """Standard deviation: sqrt(var) with var's arguments and defaults."""
        return self.var(axis, keepdims, ddof, dim=dim, keepdim=keepdim, correction=correction,
                        unbiased=unbiased).sqrt()

    @overload
    def max(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: None = None,
            keepdim: bool | None = None) -> Tensor: ...
    @overload
    def max(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int,
            keepdim: bool | None = None) -> ValuesIndices: ...

    def max(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor | ValuesIndices:
        """Largest value over `axis`; tied maxima share the gradient evenly. With PyTorch's `dim=`, PyTorch's
        result: a (values, indices) pair."""
        keep = _keep(keepdims, keepdim)
        values = ops.Max.apply(self, axis=_axis(axis, dim, "max"), keepdims=keep)
        return values if dim is None else ValuesIndices(values, self.argmax(dim=dim, keepdim=keep))

    @overload
    def min(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: None = None,
            keepdim: bool | None = None) -> Tensor: ...
    @overload
    def min(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int,
            keepdim: bool | None = None) -> ValuesIndices: ...

    def min(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | None = None,
            keepdim: bool | None = None) -> Tensor | ValuesIndices:
        """Smallest value over `axis`; tied minima share the gradient evenly. With PyTorch's `dim=`, PyTorch's
        result: a (values, indices) pair."""
        keep = _keep(keepdims, keepdim)
        values = ops.Min.apply(self, axis=_axis(axis, dim, "min"), keepdims=keep)
        return values if dim is None else ValuesIndices(values, self.argmin(dim=dim, keepdim=keep))

    def argmax(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) largest value (an integer tensor, not differentiable)."""
        return self._arg_extreme(_axis(axis, dim, "argmax"), _keep(keepdims, keepdim), 1)

    def argmin(self, axis: int | None = None, keepdims: bool = False, *, dim: int | None = None,
               keepdim: bool | None = None) -> Tensor:
        """Index of the (first) smallest value (an integer tensor, not differentiable)."""
        return self._arg_extreme(_axis(axis, dim, "argmin"), _keep(keepdims, keepdim), -1)

    def _arg_extreme(self, axis: int | None, keepdims: bool, sense: int) -> Tensor:
        index = ops.ArgExtreme.apply(self, axis=axis, sense=sense)
        if not keepdims:
            return index
        if axis is None:
            return index.reshape((1,) * self.ndim)
        return index.unsqueeze(ops._normalize_axis(axis, self.ndim, "argmax")[0] if self.ndim else 0)

    def prod(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
             keepdim: bool | None = None) -> Tensor:
        """Product over `axis` (all axes by default), composed as pairwise products of halves: no division, so
        zeros need no special case and every derivative (of any order) is exact. The empty product is 1."""
        axis, keepdims = _axis(axis, dim, "prod"), _keep(keepdims, keepdim)
        axes = ops._normalize_axis(axis, self.ndim, "prod")
        rest = [i for i in range(self.ndim) if i not in axes]
        kept = tuple(1 if i in axes else n for i, n in enumerate(self.shape))
        out_shape = kept if keepdims else tuple(self.shape[i] for i in rest)
        x = self.transpose(tuple(rest) + axes) if axes != tuple(range(self.ndim - len(axes), self.ndim)) else self
        x = x.reshape(tuple(self.shape[i] for i in rest) + (-1,))  # the reduced values along the last axis
        if x.shape[-1] == 0:  # the empty product
            return Tensor._wrap(np.ones(out_shape, dtype=self.dtype))
        while x.shape[-1] > 1:
            n = x.shape[-1]
            half = x[..., 0:n - n % 2:2] * x[..., 1:n:2]
            x = half if n % 2 == 0 else concatenate([half, x[..., n - 1:n]], axis=-1)
        return x.reshape(out_shape)

    def cumsum(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Running sum along `axis` (numpy: None runs over the flattened tensor)."""
        axis = _axis(axis, dim, "cumsum")
        if axis is None:
            return ops.Cumsum.apply(self.reshape(-1), axis=0)
        return ops.Cumsum.apply(self, axis=axis)

    def logsumexp(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
                  keepdim: bool | None = None) -> Tensor:
        """log(sum(exp(x))) over `axis`, stable: the (constant) maximum is subtracted before exp and added back
        (an all -inf slice gives -inf, as in PyTorch)."""
        axis, keepdims = _axis(axis, dim, "logsumexp"), _keep(keepdims, keepdim)
        if self.size == 0:
            return self.exp().sum(axis=axis, keepdims=keepdims).log()
        shift = self.max(axis=axis, keepdims=True).detach()
        shift = where(shift.abs() == np.inf, 0.0, shift)  # an all -inf (or +inf) slice: shift by nothing
        total = (self - shift).exp().sum(axis=axis, keepdims=True).log() + shift
        if keepdims:
            return total
        axes = ops._normalize_axis(axis, self.ndim, "logsumexp")
        return total.reshape(tuple(n for i, n in enumerate(total.shape) if i not in axes))

    def any(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
            keepdim: bool | None = None) -> Tensor:
        """Whether any value is nonzero (True), over `axis`: a boolean tensor."""
        return (self != 0).sum(axis=_axis(axis, dim, "any"), keepdims=_keep(keepdims, keepdim)) > 0

    def all(self, axis: int | tuple | None = None, keepdims: bool = False, *, dim: int | tuple | None = None,
            keepdim: bool | None = None) -> Tensor:
        """Whether every value is nonzero (True), over `axis`: a boolean tensor."""
        return (self == 0).sum(axis=_axis(axis, dim, "all"), keepdims=_keep(keepdims, keepdim)) == 0

    # ------------------------------------------------------------------ shape
    def reshape(self, *shape: Any) -> Tensor:
        """`x.reshape(2, 3)` or `x.reshape((2, 3))`; one dimension may be -1."""
        shape = tuple(shape[0]) if len(shape) == 1 and isinstance(shape[0], (tuple, list)) else shape
        if shape == self.shape:
            return self
        return ops.Reshape.apply(self, shape=shape)

    def transpose(self, *axes: Any) -> Tensor:
        """Reverse the axes, or permute them as given (numpy's semantics)."""
        if len(axes) == 1 and axes[0] is None:  # numpy's x.transpose(None): reverse the axes
            axes = ()
        axes = tuple(axes[0]) if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        return ops.Transpose.apply(self, axes=axes or None)

    @property
    def T(self) -> Tensor:
        return self.transpose()

    @property
    def mT(self) -> Tensor:
        """The last two axes swapped: each matrix of a batch transposed (torch's `mT`)."""
        return self.transpose() if self.ndim == 2 else self.swapaxes(-1, -2)

    def swapaxes(self, axis1: int, axis2: int) -> Tensor:
        """Exchange two axes (numpy.swapaxes)."""
        a, b = (ops._normalize_axis(axis, self.ndim, "swapaxes")[0] if self.ndim else 0 for axis in (axis1, axis2))
        perm = list(range(self.ndim))
        if perm:
            perm[a], perm[b] = perm[b], perm[a]
        return self.transpose(tuple(perm))

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        shape = tuple(shape)
        return self if shape == self.shape else ops.BroadcastTo.apply(self, shape=shape)

    def permute(self, *dims: Any) -> Tensor:
        """Reorder the axes (PyTorch's name; `x.permute(2, 0, 1)` or `x.permute((2, 0, 1))`)."""
        dims = tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], (tuple, list)) else dims
        if len(dims) != self.ndim:
            raise op_error(f"permute: expected {self.ndim} axes for shape {self.shape}, got {dims}")
        return self.transpose(dims)

    def view(self, *shape: Any) -> Tensor:
        """PyTorch's view: the same values in another shape (here always `reshape`)."""
        return self.reshape(*shape)

    def expand(self, *sizes: Any) -> Tensor:
        """Broadcast to `sizes` (PyTorch's expand): -1 keeps an axis, new axes may be added in front."""
        sizes = tuple(sizes[0]) if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)) else sizes
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise op_error(f"expand: {len(sizes)} sizes {sizes} are fewer than the {self.ndim} axes of {self.shape}")
        shape = tuple(self.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
        if any(n < 0 for n in shape):
            raise op_error(f"expand: -1 is allowed only for existing axes, got {sizes} for shape {self.shape}")
        return self.broadcast_to(shape)

    def split(self, split_size_or_sections: int | Sequence[int], dim: int = 0) -> tuple[Tensor, ...]:
        """Pieces along `dim` (PyTorch's split): of `split_size` each (the last may be smaller), or of the
        given sizes, which must add up to the axis's length."""
        axis = ops._normalize_axis(dim, self.ndim, "split")[0]
        n = self.shape[axis]
        if isinstance(split_size_or_sections, (int, np.integer)):
            size = int(split_size_or_sections)
            if size <= 0:
                raise op_error(f"split: split_size must be positive, got {size}")
            sizes = [min(size, n - start) for start in range(0, n, size)] or [0]
        else:
            sizes = [int(k) for k in split_size_or_sections]
            if sum(sizes) != n or min(sizes, default=0) < 0:
                raise op_error(f"split: sizes {sizes} must be >= 0 and add up to {n} (axis {dim} of {self.shape})")
        lead = (slice(None),) * axis
        bounds = np.cumsum([0] + sizes)
        return tuple(self[lead + (slice(int(lo), int(hi)),)] for lo, hi in zip(bounds[:-1], bounds[1:]))

    def chunk(self, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:
        """At most `chunks` pieces of equal size ceil(n / chunks) along `dim` (PyTorch's chunk)."""
        if chunks <= 0:
            raise op_error(f"chunk: chunks must be positive, got {chunks}")
        n = self.shape[ops._normalize_axis(dim, self.ndim, "chunk")[0]]
        return self.split(max(-(-n // chunks), 1), dim)

    def gather(self, dim: int, index: Any) -> Tensor:
        """PyTorch's gather: out[i][j][k] = self[index[i][j][k]][j][k] for dim 0 (likewise for other axes);
        index has self's number of axes and sizes no larger than self's outside `dim`. The gradient adds up
        where an index repeats."""
        index = index if isinstance(index, Tensor) else Tensor(np.asarray(index))
        if index.dtype.kind not in "iu":
            raise op_error(f"gather: index must hold integers, got {index.dtype}")
        if index.ndim != self.ndim:
            raise op_error(f"gather: index {index.shape} must have as many axes as the input {self.shape}")
        axis = ops._normalize_axis(dim, self.ndim, "gather")[0] if self.ndim else 0
        if any(m > n for i, (m, n) in enumerate(zip(index.shape, self.shape)) if i != axis):
            raise op_error(f"gather: index {index.shape} is larger than the input {self.shape} outside axis {dim}")
        grids = np.indices(index.shape, sparse=True)  # a constant of the shapes: the other axes' positions
        keys = tuple(index if i == axis else Tensor._wrap(g) for i, g in enumerate(grids))
        return self[keys]

    def masked_fill(self, mask: Any, value: Any) -> Tensor:
        """`value` where `mask` is True, else self (the gradient reaches self where the mask is False)."""
        return where(mask, value, self)

    def __setitem__(self, index: Any, value: Any) -> None:
        """In-place assignment, as PyTorch allows it: under `no_grad` (initializers, manual edits of weights)
        or on tensors that no recorded computation depends on. A compiled step refuses such writes."""
        value_requires = isinstance(value, Tensor) and value.requires_grad
        if autograd.STATE.grad_enabled and (self._requires_grad or value_requires):
            raise RuntimeError(f"setitem: in-place assignment into a tensor that requires grad (shape {self.shape}) "
                               "would bypass autograd; do it inside `with tinygrad_bn.no_grad():`")
        if not self.data.flags.writeable:
            raise RuntimeError(f"setitem: this tensor's memory is read-only (a broadcast view or a constant, "
                               f"shape {self.shape}); assign into a copy (x.clone()) instead")
        self.data[ops._unwrap_index(index)] = value.data if isinstance(value, Tensor) else value

    def unsqueeze(self, axis: int | None = None, *, dim: int | None = None) -> Tensor:
        """Insert an axis of length 1 at `axis` (negative counts from the end of the result)."""
        axis = _axis(axis, dim, "unsqueeze")
        if axis is None:
            raise TypeError("unsqueeze: give the position of the new axis (axis= or dim=)")
        ndim = self.ndim + 1
        if not -ndim <= axis < ndim:
            raise op_error(f"unsqueeze: axis {axis} is out of range for a result with {ndim} dimensions")
        axis %= ndim
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, axis: int | tuple | None = None, *, dim: int | tuple | None = None) -> Tensor:
        """Remove axes of length 1 (all of them, or those named)."""
        axis = _axis(axis, dim, "squeeze")
        if axis is None:
            axes = tuple(i for i, n in enumerate(self.shape) if n == 1)
        else:
            axes = ops._normalize_axis(axis, self.ndim, "squeeze")
            bad = [a for a in axes if self.shape[a] != 1]
            if bad:
                raise op_error(f"squeeze: axis {bad[0]} of shape {self.shape} has length {self.shape[bad[0]]}, not 1")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> Tensor:
        """Merge axes start_dim..end_dim into one (all axes by default), as torch.flatten."""
        if self.ndim == 0:
            return self.reshape(1)
        start, end = (ops._normalize_axis(d, self.ndim, "flatten")[0] for d in (start_dim, end_dim))
        if start > end:
            raise op_error(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for shape {self.shape}")
        return self.reshape(self.shape[:start] + (-1,) + self.shape[end + 1 :])

    def __getitem__(self, index: Any) -> Tensor:
        return ops.GetItem.apply(self, index=ops._unwrap_index(index))

    # ------------------------------------------------------------------ PyTorch's dtype conversions
    # Last in the class: from their definition on, these names hide the builtins float, int and bool in the
    # class body, where the annotations of the methods above use them.
    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def long(self) -> Tensor:
        return self.astype(np.int64)

    def int(self) -> Tensor:
        return self.astype(np.int32)

    def bool(self) -> Tensor:
        return self.astype(np.bool_)


class ValuesIndices(NamedTuple):
    """What `max`/`min` return when called with PyTorch's `dim=`: the values and their indices."""

    values: Tensor
    indices: Tensor


def _axis(axis: Any, dim: Any, op: str) -> Any:
    """The axis argument from numpy's `axis` or PyTorch's `dim` (not both)."""
    if dim is None:
        return axis
    if axis is not None:
        raise TypeError(f"{op}: give axis (numpy's name) or dim (PyTorch's name), not both")
    return tuple(dim) if isinstance(dim, list) else dim


def _keep(keepdims: bool, keepdim: bool | None) -> bool:
    return bool(keepdims if keepdim is None else keepdim)


def _ddof(ddof: int | None, correction: int | None, unbiased: bool | None, torch_spelling: bool) -> int:
    """The variance's divisor correction from numpy's ddof or PyTorch's correction/unbiased (one of them)."""
    given = [v for v in (ddof, correction, unbiased) if v is not None]
    if len(given) > 1:
        raise TypeError("var: give one of ddof, correction and unbiased")
    if ddof is not None:
        return int(ddof)
    if correction is not None:
        return int(correction)
    if unbiased is not None:
        return 1 if unbiased else 0
    return 1 if torch_spelling else 0


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Same as `Tensor(...)`, spelled like `torch.tensor`."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _tensors(items: Sequence[Any], op: str) -> list[Tensor]:
    items = list(items)
    if not items:
        raise op_error(f"{op}: needs at least one tensor")
    first = next((t for t in items if isinstance(t, Tensor)), None)
    if first is None:
        first = Tensor(items[0])
    return [first._lift(t) for t in items]


def concatenate(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along an existing axis (numpy.concatenate)."""
    return ops.Concatenate.apply(*_tensors(tensors, "concatenate"), axis=_axis(None if dim is not None else axis,
                                                                                dim, "concatenate"))


def cat(tensors: Sequence[Any], dim: int = 0) -> Tensor:
    """PyTorch's name for concatenate."""
    return concatenate(tensors, axis=dim)


def stack(tensors: Sequence[Any], axis: int = 0, *, dim: int | None = None) -> Tensor:
    """Join tensors along a new axis (numpy.stack); all must have the same shape."""
    axis = axis if dim is None else dim
    items = _tensors(tensors, "stack")
    shapes = {t.shape for t in items}
    if len(shapes) > 1:
        raise op_error(f"stack: all tensors must have the same shape, got {sorted(shapes)}")
    return concatenate([t.unsqueeze(axis) for t in items], axis=axis)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Elementwise `a if condition else b`; the condition is not differentiated."""
    if isinstance(condition, Tensor):
        cond = condition if condition.dtype == np.bool_ else condition.astype(np.bool_)
    else:
        cond = Tensor._wrap(np.asarray(condition, dtype=bool))
    x, y = _pair(a, b)
    return ops.Where.apply(cond, x, y)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a non-Tensor adopts the other's dtype."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return like._lift(a), like._lift(b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; tied elements share the gradient evenly."""
    x, y = _pair(a, b)
    return ops.Maximum.apply(x, y)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; tied elements share the gradient evenly."""
    x, y = _pair(a, b)
    return ops.Minimum.apply(x, y)


# ----------------------------------------------------------------------------- creation
# PyTorch's creation functions: float32 unless dtype= says otherwise (full and arange follow their fill
# value / arguments: ints give int64), a leaf that requires grad with requires_grad=True.


def _size(size: tuple, op: str) -> tuple[int, ...]:
    """`zeros(2, 3)`, `zeros((2, 3))` and `zeros([2, 3])` alike."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 0 for n in size):
        raise ValueError(f"{op}: sizes must be non-negative ints, got {size}")
    return tuple(int(n) for n in size)


def _leaf(array: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._wrap(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def zeros(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros of the given size (float32 by default)."""
    return _leaf(np.zeros(_size(size, "zeros"), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def ones(*size: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones of the given size (float32 by default)."""
    return _leaf(np.ones(_size(size, "ones"), dtype=dtype or DEFAULT_FLOAT), requires_grad)


def _fill_dtype(value: Any) -> np.dtype:
    """PyTorch's dtype for a fill value: bool, int64 for ints, float32 for floats."""
    if isinstance(value, (bool, np.bool_)):
        return np.dtype(np.bool_)
    if isinstance(value, (int, np.integer)):
        return np.dtype(np.int64)
    return np.dtype(DEFAULT_FLOAT)


def full(size: Any, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """A tensor of `size` filled with `fill_value` (dtype from the value unless given)."""
    size = _size((size,) if isinstance(size, (int, np.integer)) else tuple(size), "full")
    return _leaf(np.full(size, fill_value, dtype=dtype or _fill_dtype(fill_value)), requires_grad)


def arange(start: float, end: float | None = None, step: float = 1, dtype: Any = None,
           requires_grad: bool = False) -> Tensor:
    """Values from `start` (0 if only one bound is given) up to, not including, `end`, `step` apart; int64 when
    every argument is an int, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must not be 0")
    if dtype is None:
        integral = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (start, end, step))
        dtype = np.int64 if integral else DEFAULT_FLOAT
    return _leaf(np.arange(start, end, step).astype(dtype), requires_grad)


def eye(n: int, m: int | None = None, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """The n x m identity matrix (m = n by default)."""
    return _leaf(np.eye(n, m, dtype=dtype or DEFAULT_FLOAT), requires_grad)


def _random(size: tuple, dtype: Any, distribution: str, generator: np.random.Generator | None,
            requires_grad: bool, like: Tensor | None = None) -> Tensor:
    """Random numbers by the Random op (so a compiled step draws again at every replay)."""
    dtype = np.dtype(dtype or (like.dtype if like is not None else DEFAULT_FLOAT))
    if dtype.kind not in _FLOAT_KINDS:
        raise TypeError(f"rand/randn: random values need a floating dtype, got {dtype}")
    source = like if like is not None and like.dtype == dtype else Tensor._wrap(np.zeros((), dtype=dtype))
    out = ops.Random.apply(source, shape=size, distribution=distribution, rng=generator)
    if requires_grad:
        out.requires_grad_(True)
    return out


def rand(*size: Any, dtype: Any = None, requires_grad: bool = False,
         generator: np.random.Generator | None = None) -> Tensor:
    """Uniform random values in [0, 1), from the project's generator (`manual_seed`) or `generator`."""
    return _random(_size(size, "rand"), dtype, "uniform", generator, requires_grad)


def randn(*size: Any, dtype: Any = None, requires_grad: bool = False,
          generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal random values, from the project's generator (`manual_seed`) or `generator`."""
    return _random(_size(size, "randn"), dtype, "normal", generator, requires_grad)


def zeros_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Zeros of t's shape and (unless given) dtype."""
    return zeros(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t: Tensor, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """Ones of t's shape and (unless given) dtype."""
    return ones(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def full_like(t: Tensor, fill_value: Any, dtype: Any = None, requires_grad: bool = False) -> Tensor:
    """`fill_value` in t's shape and (unless given) dtype."""
    return full(t.shape, fill_value, dtype=dtype or t.dtype, requires_grad=requires_grad)


def rand_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
              generator: np.random.Generator | None = None) -> Tensor:
    """Uniform random values in [0, 1) in t's shape and (unless given) dtype."""
    return _random(t.shape, dtype, "uniform", generator, requires_grad, like=t)


def randn_like(t: Tensor, dtype: Any = None, requires_grad: bool = False,
               generator: np.random.Generator | None = None) -> Tensor:
    """Standard normal random values in t's shape and (unless given) dtype."""
    return _random(t.shape, dtype, "normal", generator, requires_grad, like=t)


Tensor._result_class = Tensor  # the class of op outputs (a Parameter's results are plain Tensors)
