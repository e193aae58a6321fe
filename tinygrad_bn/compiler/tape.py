"""Capture: run a step eagerly while recording, as a tape, everything it does to arrays.

The engine calls the active `Tracer` (``autograd.STATE.tracer``) at each place where a step touches an
array: every primitive op's forward (`record_op`, from `Function.apply`, in grad mode or not, so the ops
that backward runs are recorded too; comparisons and integer casts are ops as well), in-place updates
of persistent tensors (`record_inplace`: batch norm's running statistics), gradients stored into `.grad`
(`record_grad`), methods that change state outside the graph (`record_call`: an optimizer's `step`), and
the checks a step makes (`record_check`). Reading a value in Python (`.item()`, `float()`, `bool()`,
`.numpy()`) cannot be replayed: the call finishes eagerly, then the capture is refused with `JitError`.

Each array becomes a slot: an input of the step, a persistent tensor (a parameter or buffer, read again
at every replay), a constant, or a temporary written by one instruction of the tape.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:  # annotations only: the engine imports the compiler's tape, not the other way round
    from ..autograd import Function
    from ..tensor import Tensor


class Module(Protocol):
    """What the tape keeps of a module that ran (an nn.Module; the compiler does not import nn): its mode,
    which a replay needs unchanged."""

    training: bool


class JitError(RuntimeError):
    """A step that a compiled replay could not reproduce faithfully; the message says what and how to fix it."""


INPUT, LEAF, CONST, TEMP = "input", "leaf", "const", "temp"


@dataclass(eq=False)
class Slot:
    """One array of the tape. `tensor` is the persistent Tensor of a LEAF slot, read at every replay."""

    index: int
    kind: str
    shape: tuple[int, ...]
    dtype: np.dtype
    value: np.ndarray  # the array seen at capture
    tensor: Any = None
    name: str = ""
    requires_grad: bool = False  # a LEAF's flag at capture (a guard: the tape depends on it)


@dataclass(frozen=True)
class Ref:
    """A slot referenced from inside an op's parameters (e.g. the label array of an index)."""

    index: int


@dataclass(eq=False)
class OpCall:
    """A primitive op's forward: `op.forward(*inputs, **params)` -> output (plus side arrays it stores)."""

    op: type[Function]
    inputs: list[int]
    params: dict[str, Any]
    output: int
    side: dict[str, int] = field(default_factory=dict)
    scope: Any = None


@dataclass(eq=False)
class InPlace:
    """`fn(target, *inputs, **params)` updates the persistent `target` array in place."""

    name: str
    fn: Callable[..., Any]
    target: int
    inputs: list[int]
    params: dict[str, Any]


@dataclass(eq=False)
class SetGrad:
    """`tensor.grad` receives the slot's value (or has it added, when `accumulate`)."""

    tensor: Any
    slot: int
    accumulate: bool


@dataclass(eq=False)
class PyCall:
    """A method that changes state outside the graph (an optimizer's step), made again at each replay."""

    name: str
    fn: Callable[[], Any]
    writes: tuple[Tensor, ...] = ()  # the persistent tensors it may write


@dataclass(eq=False)
class Check:
    """`predicate(*inputs)` must be true, else `error(message)` is raised (e.g. a finite loss)."""

    name: str
    predicate: Callable[..., bool]
    inputs: list[int]
    error: type[Exception]
    message: str


Instruction = OpCall | InPlace | SetGrad | PyCall | Check


def _is_array(value: Any) -> bool:
    return type(value) is np.ndarray


class Tracer:
    """Records one eager run of a step into `slots` and `program`."""

    def __init__(self) -> None:
        self.slots: list[Slot] = []
        self.program: list[Instruction] = []
        self.by_array: dict[int, int] = {}  # id(array) -> slot; `keep` holds the arrays so ids stay unique
        self.keep: list[Any] = []
        self.snapshots: dict[int, np.ndarray] = {}  # LEAF slot -> copy of its value when first seen
        self.modules: dict[int, tuple[Module, bool]] = {}  # id(module) -> (module, training) of modules called
        self.refusal: str | None = None  # why this capture cannot be replayed (the call itself completes)

    # ------------------------------------------------------------------ slots
    def _new(self, kind: str, array: np.ndarray, tensor: Any = None, name: str = "") -> int:
        array = np.asarray(array)
        index = len(self.slots)
        self.slots.append(Slot(index, kind, array.shape, array.dtype, array, tensor, name,
                               bool(getattr(tensor, "requires_grad", False))))
        self.by_array[id(array)] = index
        self.keep.append(array)
        if kind == LEAF:
            self.snapshots[index] = np.array(array, copy=True)
        return index

    def add_input(self, array: np.ndarray, name: str) -> int:
        return self._new(INPUT, array, name=name)

    def slot_of_tensor(self, tensor: Tensor) -> int:
        """The slot of a tensor's array; a tensor not made on the tape is a leaf (persistent or constant)."""
        index = self.by_array.get(id(tensor.data))
        if index is None:
            index = self._new(LEAF, tensor.data, tensor=tensor, name=tensor.name or "")
            self.keep.append(tensor)
        return index

    def slot_of_array(self, array: np.ndarray) -> int:
        index = self.by_array.get(id(array))
        if index is None:
            index = self._new(CONST, array)
        return index

    def _template(self, value: Any) -> Any:
        """Parameters with every array replaced by a reference to its slot (recursing into tuples/lists)."""
        if _is_array(value):
            return Ref(self.slot_of_array(value))
        if isinstance(value, tuple):
            return tuple(self._template(v) for v in value)
        if isinstance(value, list):
            return [self._template(v) for v in value]
        if hasattr(value, "_ctx") and hasattr(value, "data"):  # a Tensor inside parameters (an index)
            return Ref(self.slot_of_tensor(value))
        return value

    # ------------------------------------------------------------------ hooks called by the engine
    def record_op(self, fn: Function, inputs: tuple[Tensor, ...], params: dict[str, Any], out: Tensor) -> None:
        """`Function.apply` ran `fn.forward` on `inputs` and made `out`."""
        op = type(fn)
        ins = [self.slot_of_tensor(t) for t in inputs]
        template = {k: self._template(v) for k, v in params.items()}
        output = self._new(TEMP, out.data)
        side: dict[str, int] = {}
        for name, value in vars(fn).items():  # arrays the forward stored for its backward
            if _is_array(value) and id(value) not in self.by_array:
                side[name] = self._new(TEMP, value)
        self.program.append(OpCall(op, ins, template, output, side, getattr(fn, "scope", None)))

    def record_inplace(self, name: str, fn: Callable[..., Any], target: Tensor, inputs: list[Tensor],
                       params: dict[str, Any]) -> None:
        """`fn(target.data, *arrays, **params)` is about to update the persistent tensor `target`."""
        tgt = self.slot_of_tensor(target)
        if self.slots[tgt].kind != LEAF:
            raise JitError(f"{name}: a compiled step can update in place only persistent tensors "
                           "(parameters, buffers), not values computed during the step")
        ins = [self.slot_of_tensor(t) for t in inputs]
        self.program.append(InPlace(name, fn, tgt, ins, dict(params)))

    def record_grad(self, tensor: Tensor, grad: Tensor, accumulate: bool) -> None:
        self.program.append(SetGrad(tensor, self.slot_of_tensor(grad), accumulate))

    def record_call(self, name: str, fn: Callable[[], Any], writes: Iterable[Tensor] = ()) -> None:
        self.program.append(PyCall(name, fn, tuple(writes)))

    def record_check(self, name: str, predicate: Callable[..., bool], inputs: list[Tensor], error: type[Exception],
                     message: str) -> None:
        ins = [self.slot_of_tensor(t) for t in inputs]
        self.program.append(Check(name, predicate, ins, error, message))

    def record_module(self, module: Module) -> None:
        self.modules.setdefault(id(module), (module, bool(module.training)))

    def value_read(self, what: str) -> None:
        """A value is read in Python: the call goes on eagerly (with the real value), and the capture is
        refused once it ends, so the step's state is never left half-updated."""
        if self.refusal is None:
            self.refusal = (
                f"{what} reads a tensor's value in Python inside a compiled step; a replay cannot repeat what "
                "Python decided from it. Return the tensor from the step and read it afterwards (the step's "
                "outputs are ordinary tensors), or run this step eagerly (jit(..., enabled=False))"
            )


# ---------------------------------------------------------------------------- comparing two captures


def _same_params(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (tuple, list)):
        return len(a) == len(b) and all(_same_params(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same_params(a[k], b[k]) for k in a)
    if isinstance(a, (int, float, bool, str, type(None), slice, Ref, type(Ellipsis), np.dtype)):
        return a == b if not (isinstance(a, float) and math.isnan(a)) else isinstance(b, float) and math.isnan(b)
    return a is b or a == b  # e.g. a numpy Generator passed explicitly: the same object


def _describe(instruction: Instruction) -> str:
    if isinstance(instruction, OpCall):
        return f"{instruction.op.__name__} of slots {instruction.inputs}"
    return f"{type(instruction).__name__} {getattr(instruction, 'name', '')}".strip()


def difference(first: Tracer, second: Tracer) -> str | None:
    """Why two captures of the same step differ (None when they recorded the same computation).

    Besides the sequence of instructions, the slots must agree: a persistent tensor must be the same
    object both times, and an array that was neither an input nor computed on the tape (a constant) must
    hold the same values, else it was computed from data outside the recorded ops and cannot be baked in.
    """
    if len(first.program) != len(second.program):
        return f"the first call recorded {len(first.program)} instructions, the second {len(second.program)}"
    for k, (a, b) in enumerate(zip(first.program, second.program)):
        if type(a) is not type(b):
            return f"instruction {k} was {_describe(a)}, then {_describe(b)}"
        # the types are equal: each isinstance pair below narrows both captures' instructions
        if isinstance(a, OpCall) and isinstance(b, OpCall) and (
                a.op is not b.op or a.inputs != b.inputs or a.output != b.output
                or a.side.keys() != b.side.keys() or not _same_params(a.params, b.params)):
            return f"instruction {k} was {_describe(a)} with {a.params}, then {_describe(b)} with {b.params}"
        if isinstance(a, (InPlace, Check)) and isinstance(b, (InPlace, Check)) and (
                a.name != b.name or a.inputs != b.inputs
                or not _same_params(getattr(a, "params", {}), getattr(b, "params", {}))):
            return f"instruction {k} was {_describe(a)}, then {_describe(b)}"
        if isinstance(a, SetGrad) and isinstance(b, SetGrad) and (
                a.tensor is not b.tensor or a.slot != b.slot or a.accumulate != b.accumulate):
            return f"instruction {k} stored a gradient differently (accumulating: {a.accumulate}, then {b.accumulate})"
        if isinstance(a, PyCall) and isinstance(b, PyCall) and a.name != b.name:
            return f"instruction {k} called {a.name}, then {b.name}"
    if len(first.slots) != len(second.slots):
        return f"the first call used {len(first.slots)} arrays, the second {len(second.slots)}"
    for s, t in zip(first.slots, second.slots):
        if s.kind != t.kind or s.shape != t.shape or s.dtype != t.dtype:
            return f"array {s.index} was {s.kind} {s.shape} {s.dtype}, then {t.kind} {t.shape} {t.dtype}"
        if s.kind == LEAF and s.tensor is not t.tensor:
            if not np.array_equal(s.value, t.value, equal_nan=s.dtype.kind == "f"):
                return (f"array {s.index} {s.shape} {s.dtype} (a tensor made during the step outside the recorded "
                        "ops) held different values in the two calls: it depends on data, so it cannot be a "
                        "constant of the compiled step")
        if s.kind == CONST and not np.array_equal(s.value, t.value, equal_nan=s.dtype.kind == "f"):
            return (f"array {s.index} {s.shape} {s.dtype}, computed outside the recorded ops, held different values "
                    "in the two calls: it depends on data, so it cannot be a constant of the compiled step")
    return None


def persistent_leaves(first: Tracer, second: Tracer) -> set[int]:
    """LEAF slots that are the same tensor in both captures: parameters and buffers, read at each replay.
    The other leaves were made afresh by each call (lifted numbers): constants."""
    return {s.index for s, t in zip(first.slots, second.slots) if s.kind == LEAF and s.tensor is t.tensor}


def unrecorded_writes(tracer: Tracer, persistent: set[int]) -> list[Slot]:
    """Persistent tensors whose values changed during the capture without a recorded write: a replay would
    silently skip that write, so the step is refused."""
    written = {ins.target for ins in tracer.program if isinstance(ins, InPlace)}
    for ins in tracer.program:
        if isinstance(ins, PyCall):
            written |= {tracer.by_array.get(id(t.data), -1) for t in ins.writes}
            written |= {i for i in persistent if any(tracer.slots[i].tensor is t for t in ins.writes)}
    changed = []
    for index in persistent:
        slot = tracer.slots[index]
        if index in written:
            continue
        now = slot.tensor.data
        before = tracer.snapshots[index]
        if now.shape != before.shape or not np.array_equal(now, before, equal_nan=True):
            changed.append(slot)
    return changed
