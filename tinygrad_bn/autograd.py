"""Reverse-mode automatic differentiation: grad mode, the `Function` base class and the backward pass.

A `Function` is one primitive operation. Its `forward` works on numpy arrays; its `backward` receives the
output's gradient as a Tensor and returns the inputs' gradients as Tensors, built from Tensor operations.
Because backward is itself made of recorded operations, running it with grad mode on (`create_graph=True`)
records the gradient computation as a graph that can be differentiated again.

The engine's files import one way, bottom to top: autograd <- ops <- tensor. This module and ops.py are
written against `Tensor`, the Protocol below (what they use of a tensor), which tensor.Tensor provides
(mypy checks that at every op call); `Function.apply` makes its outputs of `inputs[0]._result_class`
(tensor.Tensor, also for a Parameter's results) and is typed to return the type it is given.
"""
from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Concatenate, ParamSpec, Protocol, TypeVar

import numpy as np

if TYPE_CHECKING:
    from types import CodeType


class Tensor(Protocol):
    """What the engine's lower layers (this module and ops.py) use of a tensor; tensor.Tensor provides it.

    They are written against this description instead of importing tensor.py, so the engine's files
    import one way, bottom to top (autograd <- ops <- tensor), for the type checker too. mypy checks that
    tensor.Tensor matches it wherever a tensor is passed to an op.
    """

    data: np.ndarray
    grad: Any  # tensor.Tensor | None: a settable attribute of a protocol must match exactly (invariance)
    name: str | None
    _requires_grad: bool
    _retains_grad: bool
    _ctx: Function | None
    _result_class: ClassVar[type[Any]]

    @property
    def requires_grad(self) -> bool: ...
    @property
    def shape(self) -> tuple[int, ...]: ...
    @property
    def ndim(self) -> int: ...
    @property
    def size(self) -> int: ...
    @property
    def dtype(self) -> np.dtype: ...
    @property
    def T(self) -> Tensor: ...
    @property
    def mT(self) -> Tensor: ...
    def reshape(self, *shape: Any) -> Tensor: ...
    def transpose(self, *axes: Any) -> Tensor: ...
    def swapaxes(self, axis1: int, axis2: int) -> Tensor: ...
    def broadcast_to(self, shape: Any) -> Tensor: ...
    def unsqueeze(self, axis: int) -> Tensor: ...
    def astype(self, dtype: Any) -> Tensor: ...
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor: ...
    def log(self) -> Tensor: ...
    def exp(self) -> Tensor: ...
    def sqrt(self) -> Tensor: ...
    def logical_and(self, other: Any) -> Tensor: ...
    def __getitem__(self, index: Any) -> Tensor: ...
    def __add__(self, other: Any) -> Tensor: ...
    def __radd__(self, other: Any) -> Tensor: ...
    def __sub__(self, other: Any) -> Tensor: ...
    def __rsub__(self, other: Any) -> Tensor: ...
    def __mul__(self, other: Any) -> Tensor: ...
    def __rmul__(self, other: Any) -> Tensor: ...
    def __truediv__(self, other: Any) -> Tensor: ...
    def __pow__(self, other: Any) -> Tensor: ...
    def __matmul__(self, other: Any) -> Tensor: ...
    def __neg__(self) -> Tensor: ...
    def __eq__(self, other: Any) -> Tensor: ...  # type: ignore[override]  # elementwise: a Tensor, not a bool
    def __ge__(self, other: Any) -> Tensor: ...
    def detach(self) -> Tensor: ...


TensorT = TypeVar("TensorT", bound=Tensor)  # an op's result has its inputs' tensor type (tensor.Tensor)


class Monitor(Protocol):
    """What `STATE.monitor` holds (debug.py's anomaly detection and profiler): it runs each op's forward and
    backward in the engine's place, and is told when a backward pass begins and ends."""

    def forward(self, cls: type[Function], inputs: tuple[TensorT, ...], params: dict[str, Any]) -> TensorT: ...
    def backward(self, ctx: Function, grad: Tensor) -> Sequence[Tensor | None]: ...
    def begin_backward(self) -> None: ...
    def end_backward(self) -> None: ...


class _State:
    """Process-wide autograd state: whether ops are recorded, and the module whose forward is running."""

    grad_enabled: bool = True
    scope: Any = None  # set by nn.Module.__call__ so that graph drawings can group ops by module
    trace: bool = False  # set by viz.trace(): record ops even when no input requires grad
    tracer: Any = None  # set by the compiler while it captures a step (compiler/tape.py's Tracer)
    monitor: Monitor | None = None  # set by debug.detect_anomaly()/profile(): sees every op's forward and backward


STATE = _State()


def _is_tensor(value: Any) -> bool:
    """True for a Tensor (or subclass): every Tensor class carries `_result_class`, the class of op outputs."""
    return hasattr(type(value), "_result_class")


class _GradMode(contextlib.ContextDecorator):
    """Shared body of no_grad/enable_grad: set grad mode on entry, restore the previous mode on exit."""

    mode: bool

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> _GradMode:
        self._previous.append(STATE.grad_enabled)
        STATE.grad_enabled = self.mode
        return self

    def __exit__(self, *exc: object) -> None:
        STATE.grad_enabled = self._previous.pop()


class no_grad(_GradMode):
    """Context manager and decorator: record nothing, so nothing is kept alive for backward."""

    mode = False


class enable_grad(_GradMode):
    """Context manager and decorator: record operations again, e.g. inside a `no_grad` block."""

    mode = True


def is_grad_enabled() -> bool:
    """True when new operations are recorded for backward."""
    return STATE.grad_enabled


class OpError(ValueError):
    """Bad input to an op: a ValueError whose message names the op and the shapes involved."""


class TrainingDivergedError(RuntimeError):
    """A value that must stay finite (a loss, a batch's statistics) became NaN or infinite."""


KernelT = TypeVar("KernelT", bound=Callable[..., Any])
FUSED_FORMS: dict[Callable[..., Any], str] = {}  # numpy kernel -> numba source of the same computation


def fused_form(source: str) -> Callable[[KernelT], KernelT]:
    """Decorator for a numpy kernel of `update_in_place` or a check: `source` (Python defining `kernel`,
    compilable by numba) takes the same arguments and makes the same operations in the same dtypes,
    without numpy's cost per call on small arrays. Fused compiled steps call it instead (compiler/fuse.py);
    declared here, beside the kernel, so the layers that define kernels need not import the compiler."""

    def declare(kernel: KernelT) -> KernelT:
        FUSED_FORMS[kernel] = source
        return kernel

    return declare


def check_finite(tensor: Tensor, what: str | Callable[[], str]) -> None:
    """Raise `TrainingDivergedError` naming `what` when `tensor` holds NaN or inf.

    The one place where a training step looks at its own values: batch norm calls it before updating its
    running statistics and the training step on the loss, so a NaN never reaches saved state. `what` may
    be a function, called only on failure, when building the name costs time on every step.
    """
    tracer = STATE.tracer
    if tracer is not None:  # a compiled step makes the same check at every replay
        tracer.record_check("check_finite", _all_finite, [tensor], TrainingDivergedError,
                            _divergence_message(what() if callable(what) else what))
    if not np.isfinite(tensor.data).all():
        raise TrainingDivergedError(_divergence_message(what() if callable(what) else what))


@fused_form("""
def kernel(array):
    for value in array.flat:
        if not np.isfinite(value):
            return False
    return True
""")
def _all_finite(array: np.ndarray) -> bool:
    return bool(np.isfinite(array).all())


def _divergence_message(what: str) -> str:
    return (f"training diverged: {what} is not finite. Try a smaller learning rate, batch normalization, "
            "or a different initialization.")


def update_in_place(name: str, kernel: Callable[..., None], target: Tensor, *inputs: Tensor, **params: Any) -> None:
    """Update the persistent tensor `target` (a buffer such as BN's running mean) with a numpy kernel:
    `kernel(target.data, *[t.data for t in inputs], **params)` writes into `target.data`.

    The one way to change a tensor outside the graph inside a step; a compiled step records it and makes
    the same update at every replay (a raw numpy write would be missed, and is refused at capture).
    """
    tracer = STATE.tracer
    if tracer is not None:
        tracer.record_inplace(name, kernel, target, list(inputs), params)
    kernel(target.data, *[t.data for t in inputs], **params)


_Self = TypeVar("_Self")  # replayed keeps the decorated method's signature
_P = ParamSpec("_P")
_R = TypeVar("_R")


def replayed(method: Callable[Concatenate[_Self, _P], _R]) -> Callable[Concatenate[_Self, _P], _R]:
    """Decorator for a method that changes state outside the graph (an optimizer's `step`, `zero_grad`).

    Run eagerly, nothing changes. While a compiled step is captured, the call is recorded (not its
    insides) and made again at every replay, so it reads its hyperparameters (a scheduled learning rate)
    and its state (moments, step counts) afresh each time. The object may list the tensors the method
    writes in `replay_writes()`; other writes to persistent tensors during capture are refused.
    """

    @functools.wraps(method)
    def wrapper(self: _Self, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        tracer = STATE.tracer
        if tracer is None:
            return method(self, *args, **kwargs)
        writes = self.replay_writes() if hasattr(self, "replay_writes") else ()
        tracer.record_call(f"{type(self).__name__}.{method.__name__}",
                           functools.partial(method, self, *args, **kwargs), writes)
        STATE.tracer = None  # its insides run eagerly, unrecorded
        try:
            return method(self, *args, **kwargs)
        finally:
            STATE.tracer = tracer

    return wrapper


def op_error(message: str) -> ValueError:
    """Build the error an op raises for bad input (its message names the op and the shapes)."""
    return OpError(message)


_GRAPH_FIELDS = frozenset({"parents", "needs", "params", "scope"})  # what a released op keeps (set by apply)


class Function:
    """One primitive op. Subclasses define `forward(*arrays, **params) -> array` and `backward(grad)`.

    `backward` returns one gradient (a Tensor, or None for "no gradient") per input, in input order; it
    may read `self.parents` (the input Tensors), `self.needs` (which inputs want a gradient), values the
    forward stored on `self`, and `self.output()` when the class sets `saves_output`. The engine reduces
    each gradient to its input's shape and dtype, so ops need not undo broadcasting themselves.
    """

    saves_values = True  # backward reads stored values: a released graph cannot be walked again
    saves_output = False  # backward uses the output tensor (kept as a weak reference, no cycle)
    released = False
    # What the compiler (compiler/plan.py) needs, declared with the op so eager and compiled runs share code:
    ufunc: np.ufunc | None = None  # the op is this ufunc: forward is ufunc(*arrays); compiled, ufunc(..., out=buffer)
    writes_out = False  # forward(..., out=buffer) writes its result into a given buffer (reductions, matmul)
    is_view = False  # forward returns a view of its first input (reshape, transpose, ...): made once, compiled
    random = False  # forward draws random numbers: run at every replay, never folded away
    elementwise = False  # each output element depends only on the inputs' elements at its position, so the
    # compiled form may write into a same-shape input that dies there (ops with a `ufunc` are elementwise too)
    differentiable = True  # False for comparisons, masks and indices: outputs never require grad
    # Set by apply when the op is recorded:
    parents: tuple[Tensor, ...]  # the inputs
    needs: tuple[bool, ...]  # which inputs require grad
    params: dict[str, Any]  # the keyword arguments of forward
    scope: Any  # STATE.scope when the op ran
    output: Callable[[], Tensor]  # a weak reference to the output (when saves_output): alive during backward
    _anomaly_site: tuple[CodeType, int]  # set inside debug.detect_anomaly(): (code, line) that called the op

    _plain_ufunc: ClassVar[np.ufunc | None] = None  # `ufunc` when forward is this class's (set per subclass)
    # The engine's own ops (ops.py) return gradients that are new tensors or the incoming one, never a tensor
    # kept elsewhere; ops defined outside it may, so a leaf copies what they return (see backpropagate).
    _fresh_grads: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # an op whose forward is just its ufunc: apply calls the ufunc itself (a method call less per op)
        cls._plain_ufunc = cls.ufunc if cls.forward is Function.forward else None
        cls._fresh_grads = cls.__module__ == f"{__package__}.ops"

    def forward(self, *arrays: Any, **params: Any) -> np.ndarray:
        """The op on numpy arrays (subclasses name their arrays and keyword parameters): the output array."""
        if self.ufunc is not None:
            result: np.ndarray = self.ufunc(*arrays)
            return result
        raise NotImplementedError

    def backward(self, grad: Tensor) -> Sequence[Tensor | None]:
        """The inputs' gradients (a Tensor, or None for none) from the output's gradient `grad`."""
        raise NotImplementedError

    @classmethod
    def lower(cls, out: np.ndarray, *arrays: Any, **params: Any) -> list[Callable[[], Any]] | None:
        """The compiler's fast form of forward: calls that write forward's result into `out` with the same
        numpy operations, bound to fixed arrays (no Python method in between). None: use forward."""
        return None

    @classmethod
    def apply(cls, *inputs: TensorT, **params: Any) -> TensorT:
        """Run forward on the inputs' arrays and, in grad mode, record this op for backward."""
        state = STATE  # one global lookup: this runs for every op of every step
        if state.monitor is not None:  # anomaly detection or profiling: it runs this op (with itself off)
            return state.monitor.forward(cls, inputs, params)
        ufunc = cls._plain_ufunc
        fn: Function | None = None  # the op's instance: for a plain ufunc, made only when it is recorded
        try:
            if ufunc is not None:  # most ops, with one or two inputs: no list built for the arrays
                if len(inputs) == 2:
                    data = ufunc(inputs[0].data, inputs[1].data)
                else:
                    data = ufunc(inputs[0].data) if len(inputs) == 1 else ufunc(*[t.data for t in inputs])
            else:
                fn = object.__new__(cls)
                if len(inputs) == 2:
                    data = fn.forward(inputs[0].data, inputs[1].data, **params)
                elif len(inputs) == 1:
                    data = fn.forward(inputs[0].data, **params)
                else:
                    data = fn.forward(*[t.data for t in inputs], **params)
        except OpError:
            raise
        except (ValueError, IndexError, TypeError) as err:  # numpy's message, with the op and the shapes
            shapes = ", ".join(f"{t.shape} {t.dtype}" for t in inputs)
            kind = next(k for k in (IndexError, TypeError, ValueError) if isinstance(err, k))  # a plain class
            raise kind(f"{cls.__name__.lower()}: {err} (inputs: {shapes})") from None
        if type(data) is not np.ndarray:  # numpy returns scalars for 0-d results: keep one array type
            data = np.asarray(data)
        out: TensorT = object.__new__(inputs[0]._result_class)
        out.data = data
        out.grad = None
        out._retains_grad = False
        out.name = None
        if state.tracer is not None:
            fn = fn or object.__new__(cls)
            state.tracer.record_op(fn, inputs, params, out)
        if state.grad_enabled and cls.differentiable:
            if len(inputs) == 2:  # the common cases without building a list
                needs: tuple[bool, ...] = (inputs[0]._requires_grad, inputs[1]._requires_grad)
            elif len(inputs) == 1:
                needs = (inputs[0]._requires_grad,)
            else:
                needs = tuple([t._requires_grad for t in inputs])
            if True in needs or state.trace:
                fn = fn or object.__new__(cls)
                fn.parents = inputs
                fn.needs = needs
                fn.params = params
                fn.scope = state.scope
                if cls.saves_output:  # the output is alive whenever its backward runs: the ref never gives None then
                    fn.output = weakref.ref(out)  # type: ignore[assignment]  # the output outlives its backward
                out._requires_grad = True in needs
                out._ctx = fn
                return out
        out._requires_grad = False
        out._ctx = None
        return out

    def release(self) -> None:
        """Drop what forward stored for backward (after a backward without retain_graph)."""
        stored = self.__dict__
        if len(stored) > 4:  # more than the graph's own fields (parents, needs, params, scope): drop the rest
            for name in [name for name in stored if name not in _GRAPH_FIELDS]:
                del stored[name]
        self.released = True

    @property
    def name(self) -> str:
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.name}>"


def topological_order(roots: Sequence[TensorT], follow_all: bool = False) -> list[TensorT]:
    """Every tensor that requires grad and leads to `roots`, inputs before the ops that use them.

    Iterative depth-first search, so a chain of any length works (no recursion limit). `follow_all`
    also includes inputs that need no gradient (constants, buffers), for drawing the whole graph.
    """
    order: list[TensorT] = []
    seen: set[int] = set()
    stack: list[tuple[TensorT, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in seen:
            continue
        seen.add(id(node))
        stack.append((node, True))
        ctx = node._ctx
        if ctx is not None:
            for parent in ctx.parents:
                if (parent._requires_grad or follow_all) and id(parent) not in seen:
                    stack.append((parent, False))  # type: ignore[arg-type]  # an op's inputs: of its output's class
    return order


class BackwardScope:
    """Marks ops recorded while backpropagating through `fn` (with create_graph), for graph drawings."""

    __slots__ = ("fn",)

    def __init__(self, fn: Function) -> None:
        self.fn = fn


@functools.lru_cache(maxsize=4096)  # the same few shape pairs recur every step: the axes are worked out once
def _sum_plan(grad_shape: tuple, shape: tuple) -> tuple[tuple, int]:
    """The axes where an operand of `shape` was stretched to `grad_shape`, and how many leading axes it lacked."""
    lead = len(grad_shape) - len(shape)
    return tuple(i + lead for i, n in enumerate(shape) if n == 1 and grad_shape[i + lead] != 1), lead


def sum_to_shape(grad: Tensor, shape: tuple) -> Tensor:
    """Sum a broadcast gradient back to `shape` (the shape of the operand it belongs to)."""
    if grad.shape == shape:
        return grad
    stretched, lead = _sum_plan(grad.shape, shape)
    if stretched:  # axes where the operand had length 1
        grad = grad.sum(axis=stretched, keepdims=True)
    if lead > 0:  # leading axes the operand did not have
        grad = grad.sum(axis=tuple(range(lead)))
    return grad if grad.shape == shape else grad.reshape(shape)


def backpropagate(
    roots: Sequence[Tensor],
    seeds: Sequence[Tensor],
    retain_graph: bool,
    create_graph: bool,
    targets: Sequence[Tensor] | None = None,
) -> dict[int, Tensor]:
    """The backward pass shared by `Tensor.backward` and `grad`.

    Walks the graph from `roots` once, in reverse topological order, summing each tensor's incoming
    gradients before passing them on. Without `targets`, leaf (and `retain_grad`) tensors accumulate
    into `.grad`; with `targets`, only the paths to them are walked and their gradients are returned
    by id, leaving every `.grad` untouched.
    """
    order = topological_order(roots)
    grads: dict[int, Tensor] = {}
    for root, seed in zip(roots, seeds):
        grads[id(root)] = seed if id(root) not in grads else grads[id(root)] + seed
    wanted: set[int] | None = None
    found: dict[int, Tensor] = {}
    if targets is not None:
        target_ids = {id(t) for t in targets}
        wanted = set()
        for node in order:  # inputs come first, so a node is wanted if it or an input leads to a target
            ctx = node._ctx
            if id(node) in target_ids or (ctx is not None and any(id(p) in wanted for p in ctx.parents)):
                wanted.add(id(node))
    previous_mode, previous_scope = STATE.grad_enabled, STATE.scope
    STATE.grad_enabled = create_graph
    monitor = STATE.monitor  # anomaly detection or profiling: it runs each op's backward
    plain_sums = not create_graph and monitor is None and STATE.tracer is None
    # A leaf may keep a gradient without the copy `_accumulate` makes when nothing else can reach that array:
    # a fresh result of one of the engine's ops (not a view, writeable), stored for this one leaf only. Every
    # tensor stored in `grads` is remembered by id; a second store of the same tensor (an op passing its
    # incoming gradient on, Add's (g, g)) or a seed (the caller's) makes it shared, and it is copied.
    steal = plain_sums and wanted is None
    stored: set[int] = {id(g) for g in grads.values()}
    owned: set[int] = set()
    if monitor is not None:
        monitor.begin_backward()
    try:
        for node in reversed(order):
            grad = grads.pop(id(node), None)
            if grad is None:
                continue
            ctx = node._ctx
            if wanted is not None:
                if id(node) not in wanted:
                    continue
                if id(node) in target_ids:
                    found[id(node)] = grad
            elif ctx is None or node._retains_grad:
                _accumulate(node, grad, create_graph, own=ctx is None and id(grad) in owned)
            if ctx is None:
                continue
            if ctx.released:
                raise RuntimeError(
                    f"backward through {ctx.name} a second time: its saved values were freed after the "
                    "first backward. Pass retain_graph=True to the first backward to keep them."
                )
            if create_graph:  # tag the ops this backward records, in the forward op's module scope
                STATE.scope = (BackwardScope(ctx), ctx.scope)
            input_grads = ctx.backward(grad) if monitor is None else monitor.backward(ctx, grad)
            for parent, parent_grad, needed in zip(ctx.parents, input_grads, ctx.needs):
                if parent_grad is None or not needed:
                    continue
                if wanted is not None and id(parent) not in wanted:
                    continue
                have, want = parent_grad.data, parent.data  # arrays: no property calls in the hot loop
                if have.shape != want.shape:
                    parent_grad = sum_to_shape(parent_grad, want.shape)
                if have.dtype != want.dtype:
                    parent_grad = parent_grad.astype(want.dtype)
                previous = grads.get(id(parent))
                if previous is None:
                    grads[id(parent)] = parent_grad
                    fresh = ctx._fresh_grads
                elif plain_sums:  # no graph, capture or monitor needs the sum as an op: Add's forward, directly
                    grads[id(parent)] = parent_grad = parent_grad._result_class._wrap(
                        np.asarray(np.add(previous.data, parent_grad.data)))
                    fresh = True
                else:
                    grads[id(parent)] = previous + parent_grad
                    continue
                if steal:
                    key = id(parent_grad)
                    if key in stored:
                        owned.discard(key)
                    else:
                        stored.add(key)
                        if fresh and parent._ctx is None:
                            owned.add(key)
            if not retain_graph and ctx.saves_values:
                ctx.release()
    finally:
        STATE.grad_enabled, STATE.scope = previous_mode, previous_scope
        if monitor is not None:
            monitor.end_backward()
    return found


def _accumulate(tensor: Tensor, grad: Tensor, create_graph: bool, own: bool = False) -> None:
    """Add `grad` into `tensor.grad` (PyTorch's accumulation across backward calls). `own`: the backward pass
    made `grad` for this tensor alone, so its array may be kept as it is when it owns writable memory."""
    if STATE.tracer is not None and not create_graph:
        STATE.tracer.record_grad(tensor, grad, accumulate=tensor.grad is not None)
    if tensor.grad is None:
        data = grad.data
        if not create_graph and not (own and data.base is None and data.flags.writeable):
            # own, writable memory: broadcast views are read-only, and grads may be shared
            grad = grad._result_class._wrap(np.array(data))
        tensor.grad = grad
    elif create_graph:
        tensor.grad = tensor.grad + grad
    else:
        tensor.grad = grad._result_class._wrap(np.asarray(tensor.grad.data + grad.data))


def _as_tuple(x: Any) -> tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x,)


def grad(
    outputs: TensorT | Sequence[TensorT],
    inputs: TensorT | Sequence[TensorT],
    grad_outputs: TensorT | Sequence[TensorT | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[TensorT | None, ...]:
    """Gradients of `outputs` with respect to `inputs`, returned as a tuple; no `.grad` is touched.

    Mirrors `torch.autograd.grad`. With `create_graph=True` the returned gradients are themselves
    differentiable (second derivatives, Hessian-vector products, gradient penalties).
    """
    outs, ins = _as_tuple(outputs), _as_tuple(inputs)
    for i, t in enumerate(ins):
        if not _is_tensor(t) or not t.requires_grad:
            raise RuntimeError(f"grad: input {i} does not require grad, so it has no gradient to compute")
    seeds = _seeds(outs, grad_outputs, "grad")
    if retain_graph is None:
        retain_graph = create_graph
    found = backpropagate(outs, seeds, retain_graph, create_graph, targets=ins)
    result: list[TensorT | None] = []
    for i, t in enumerate(ins):
        g = found.get(id(t))
        if g is None and not allow_unused:
            raise RuntimeError(
                f"grad: input {i} (shape {t.shape}) is not used to compute the outputs; "
                "pass allow_unused=True to get None for it"
            )
        result.append(g)  # type: ignore[arg-type]  # a gradient has its input's tensor class
    return tuple(result)


def _seeds(outs: tuple, grad_outputs: Any, where: str) -> list:
    """The starting gradients: given ones, or 1 for single-element outputs."""
    given = _as_tuple(grad_outputs) if grad_outputs is not None else (None,) * len(outs)
    if len(given) != len(outs):
        raise ValueError(f"{where}: got {len(given)} grad_outputs for {len(outs)} outputs")
    seeds = []
    for out, g in zip(outs, given):
        if not _is_tensor(out) or not out.requires_grad:
            raise RuntimeError(
                f"{where}: the output does not require grad (no input of it has requires_grad=True, "
                "or it was computed under no_grad)"
            )
        if g is None:
            if out.size != 1:
                raise RuntimeError(
                    f"{where}: the output has shape {out.shape}; a gradient can be created implicitly only "
                    "for a single-element output. Pass gradient= (a tensor of the output's shape), "
                    "or reduce the output first, e.g. out.sum().backward()"
                )
            g = out._result_class._wrap(np.ones(out.shape, dtype=out.dtype))
        else:
            g = g if _is_tensor(g) else out._result_class._wrap(np.array(g, dtype=out.dtype))
            if g.dtype != out.dtype:  # gradients have their tensor's dtype (float32 stays float32)
                g = out._result_class._wrap(g.data.astype(out.dtype))
            if g.shape != out.shape:
                raise ValueError(f"{where}: gradient has shape {g.shape} but the output has shape {out.shape}")
        seeds.append(g)
    return seeds
