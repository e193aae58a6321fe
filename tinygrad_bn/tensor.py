"""The Tensor: a numpy array plus what reverse-mode autodiff needs (`requires_grad`, `grad`, the op that made it).

Every method that computes something calls one primitive op from ops.py, or composes several (var, softmax
and batch norm are compositions). Non-Tensor operands (Python scalars, lists, ndarrays) are lifted to
constant Tensors that adopt this Tensor's floating dtype, so `x * 2` stays float32; Python numbers follow
numpy 2's weak-scalar rule for the other dtypes too (an int32 tensor times 2 stays int32).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

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
    key = (dtype.str, type(value), value, math.copysign(1.0, value) if isinstance(value, float) else 0)
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

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None, name: str | None = None):
        self.data = _checked_array(data, dtype, copy=True)
        if requires_grad:
            _check_differentiable(self.data.dtype, "Tensor")
        self._requires_grad = bool(requires_grad)
        self.grad: Tensor | None = None
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
    def shape(self) -> tuple:
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
        return self.data.item()

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

    def __iter__(self):
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
        return self @ other

    # ------------------------------------------------------------------ comparisons (not differentiable)
    def _compare(self, other: Any, op: type) -> Tensor:
        try:
            other = self._lift(other, "compare")
        except OverflowError:  # uint8 == 300: numpy compares with the exact value
            other = Tensor._wrap(np.asarray(other))
        return op.apply(self, other)

    def __lt__(self, other: Any) -> Tensor:
        return self._compare(other, ops.Less)

    def __le__(self, other: Any) -> Tensor:
        return self._compare(other, ops.LessEqual)

    def __gt__(self, other: Any) -> Tensor:
        return self._compare(other, ops.Greater)

    def __ge__(self, other: Any) -> Tensor:
        return self._compare(other, ops.GreaterEqual)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return self._compare(other, ops.Equal)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
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

    def abs(self) -> Tensor:
        return ops.Abs.apply(self)

    def relu(self) -> Tensor:
        return ops.Relu.apply(self)

    def sigmoid(self) -> Tensor:
        return ops.Sigmoid.apply(self)

    def tanh(self) -> Tensor:
        return ops.Tanh.apply(self)

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

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    # ------------------------------------------------------------------ reductions
    def sum(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        return ops.Sum.apply(self, axis=axis, keepdims=keepdims)

    def mean(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        """Mean over `axis` (all axes by default). Empty input gives the empty result PyTorch gives (axis 1
        of a (0, 3) tensor: shape (0,)); a mean over zero values, where PyTorch gives NaN, is an OpError."""
        return ops.Mean.apply(self, axis=axis, keepdims=keepdims)

    def var(self, axis: int | tuple | None = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        """Variance (biased, ddof=0, by default), composed as mean((x - mean(x))**2)."""
        axes = ops._normalize_axis(axis, self.ndim, "var")  # errors name var, not the mean inside it
        n = int(np.prod([self.shape[i] for i in axes]))  # values per reduction
        centered = self - self.mean(axis=axis, keepdims=True)
        squares = centered * centered
        if ddof == 0:
            return squares.mean(axis=axis, keepdims=keepdims)
        if n - ddof <= 0:
            raise op_error(f"var: ddof={ddof} needs more than {ddof} values per reduction, got {n}")
        return squares.sum(axis=axis, keepdims=keepdims) * (1.0 / (n - ddof))

    def std(self, axis: int | tuple | None = None, keepdims: bool = False, ddof: int = 0) -> Tensor:
        return self.var(axis=axis, keepdims=keepdims, ddof=ddof).sqrt()

    def max(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        """Largest value over `axis`; tied maxima share the gradient evenly."""
        return ops.Max.apply(self, axis=axis, keepdims=keepdims)

    def min(self, axis: int | tuple | None = None, keepdims: bool = False) -> Tensor:
        """Smallest value over `axis`; tied minima share the gradient evenly."""
        return ops.Min.apply(self, axis=axis, keepdims=keepdims)

    def argmax(self, axis: int | None = None) -> Tensor:
        """Index of the largest value (an integer tensor, not differentiable)."""
        return ops.ArgExtreme.apply(self, axis=axis, sense=1)

    def argmin(self, axis: int | None = None) -> Tensor:
        """Index of the smallest value (an integer tensor, not differentiable)."""
        return ops.ArgExtreme.apply(self, axis=axis, sense=-1)

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

    def unsqueeze(self, axis: int) -> Tensor:
        """Insert an axis of length 1 at `axis` (negative counts from the end of the result)."""
        ndim = self.ndim + 1
        if not -ndim <= axis < ndim:
            raise op_error(f"unsqueeze: axis {axis} is out of range for a result with {ndim} dimensions")
        axis %= ndim
        return self.reshape(self.shape[:axis] + (1,) + self.shape[axis:])

    def squeeze(self, axis: int | tuple | None = None) -> Tensor:
        """Remove axes of length 1 (all of them, or those named)."""
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


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (numpy.concatenate)."""
    return ops.Concatenate.apply(*_tensors(tensors, "concatenate"), axis=axis)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along a new axis (numpy.stack); all must have the same shape."""
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
    a, b = _pair(a, b)
    return ops.Where.apply(cond, a, b)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Both operands as Tensors; a non-Tensor adopts the other's dtype."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else Tensor(a)
    return like._lift(a), like._lift(b)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise maximum; tied elements share the gradient evenly."""
    a, b = _pair(a, b)
    return ops.Maximum.apply(a, b)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise minimum; tied elements share the gradient evenly."""
    a, b = _pair(a, b)
    return ops.Minimum.apply(a, b)


Tensor._result_class = Tensor  # the class of op outputs (a Parameter's results are plain Tensors)
