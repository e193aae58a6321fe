"""`jit(step)`: capture a training step once, then replay it as planned numpy calls.

The first call of a new kind (input shapes and dtypes) runs eagerly while a `Tracer` records it; the
second runs eagerly and is recorded again, and the two tapes must agree (else something the step did
depends on data outside the recorded ops, and is refused or re-captured, never replayed wrongly). From
the third call on, the step is replayed: inputs are copied into the program's buffers and its calls run.

Guards decide whether a stored program still fits: the input shapes and dtypes (the cache key), the
training/eval mode of every module the step called, whether each persistent tensor still requires grad,
and that its array still has the captured shape and dtype. A call that fits no stored program captures
a new one; up to `cache_size` programs are kept (the last batch of an epoch is often smaller).
"""
from __future__ import annotations

import time
import warnings
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..autograd import STATE
from ..tensor import Tensor
from .fuse import available
from .plan import Program, build
from .tape import JitError, Tracer, difference, persistent_leaves, unrecorded_writes

if TYPE_CHECKING:
    from .tape import Module


class JitWarning(UserWarning):
    """A step compiled with fallback=True could not be replayed and runs eagerly from now on."""


@dataclass(frozen=True)
class _Out:
    """In a returned structure: the value of a slot (a Tensor), or a plain value."""

    slot: int = -1
    value: Any = None


@dataclass
class _Entry:
    """The programs and captures for one input signature."""

    previous: Tracer | None = None
    mismatches: int = 0
    tracer: Tracer | None = None
    program: Program | None = None
    persistent: set[int] = field(default_factory=set)
    grad_guards: list[tuple[Any, bool]] = field(default_factory=list)  # (persistent tensor, requires_grad at capture)
    modules: list[tuple[Module, bool]] = field(default_factory=list)
    output_spec: Any = None
    input_slots: list[int] = field(default_factory=list)
    output_slots: list[int] = field(default_factory=list)


def _as_array(value: Any) -> np.ndarray | None:
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, np.ndarray):
        return value
    return None


def _signature(args: tuple[Any, ...]) -> tuple[Any, ...]:
    key: list[tuple[Any, ...]] = []
    for a in args:
        array = _as_array(a)
        if array is not None:
            key.append((array.shape, array.dtype.str, isinstance(a, Tensor) and a.requires_grad))
        elif isinstance(a, (int, float, bool, str, type(None))):
            key.append(("value", a))
        else:
            raise JitError(f"jit: a compiled step takes Tensors, numpy arrays and Python numbers; "
                           f"got {type(a).__name__}")
    return tuple(key)


class CompiledStep:
    """A step function that is captured on its first calls and replayed afterwards (see `jit`)."""

    def __init__(self, fn: Callable[..., Any], cache_size: int = 8, max_mismatches: int = 2,
                 enabled: bool = True, fuse: bool = False, fallback: bool = False) -> None:
        self.fn = fn
        self.fallback = fallback
        if fuse and not available():
            raise ImportError("jit(fuse=True) needs numba: pip install 'tinygrad_bn[fast]'")
        self.fuse = fuse
        self.cache_size = cache_size
        self.max_mismatches = max_mismatches
        self.enabled = enabled
        self.entries: OrderedDict[tuple, list[_Entry]] = OrderedDict()
        self.captures = 0  # eager runs recorded so far (two per program, more when captures disagree)
        self.replays = 0
        self.capture_seconds = 0.0

    def __call__(self, *args: Any) -> Any:
        if not self.enabled or STATE.tracer is not None or STATE.monitor is not None:
            return self.fn(*args)  # nested in a capture, or inside detect_anomaly()/profile(): eager ops
        key = _signature(args)
        entries = self.entries.setdefault(key, [])
        self.entries.move_to_end(key)
        while len(self.entries) > self.cache_size:
            self.entries.popitem(last=False)
        for entry in entries:
            program = entry.program
            if program is not None:
                program = self._fits(entry, program)
                if program is not None:
                    return self._replay(program, entry.output_spec, args)
        pending = next((e for e in entries if e.program is None), None)
        if pending is None:
            pending = _Entry()
            entries.append(pending)
            if len(entries) > self.cache_size:
                entries.pop(0)
        outcome: list[Any] = []
        try:
            return self._capture(pending, args, outcome)
        except JitError as error:
            if not self.fallback or not outcome:  # raised by the step itself, or no fallback wanted
                raise
            warnings.warn(f"{error} This step now runs eagerly.", JitWarning, stacklevel=2)
            self.enabled = False
            return outcome[0]  # the call ran eagerly to its end: its result is valid

    # ------------------------------------------------------------------ capture
    def _capture(self, entry: _Entry, args: tuple[Any, ...], outcome: list[Any]) -> Any:
        tick = time.perf_counter()
        tracer = Tracer()
        arrays = [_as_array(a) for a in args]
        input_slots = [tracer.add_input(array, f"input {i}") for i, array in enumerate(arrays) if array is not None]
        STATE.tracer = tracer
        try:
            result = self.fn(*args)
        finally:
            STATE.tracer = None
        self.captures += 1
        outcome.append(result)
        if tracer.refusal is not None:
            raise JitError(f"jit: {tracer.refusal}.")
        spec, output_slots = self._output_spec(tracer, result)
        if entry.previous is None:
            entry.previous = tracer
        else:
            why = difference(entry.previous, tracer)
            if why is not None:
                entry.mismatches += 1
                entry.previous = tracer
                if entry.mismatches > self.max_mismatches:
                    raise JitError(f"jit: the step does not do the same computation at every call, so it cannot "
                                   f"be replayed: {why}. Keep data-dependent Python out of the step, or run it "
                                   "eagerly (jit(..., enabled=False)).")
            else:
                persistent = persistent_leaves(entry.previous, tracer)
                changed = unrecorded_writes(tracer, persistent)
                if changed:
                    names = ", ".join(f"{s.name or 'a tensor'} {s.shape}" for s in changed[:3])
                    raise JitError(f"jit: the step changed {names} in place without a recorded operation "
                                   "(raw numpy on .data?); a replay would skip that change. Update tensors with "
                                   "tensor ops, an optimizer, or autograd.update_in_place.")
                entry.tracer, entry.persistent = tracer, persistent
                entry.grad_guards = [(tracer.slots[i].tensor, tracer.slots[i].requires_grad) for i in persistent]
                entry.modules = list(tracer.modules.values())
                entry.input_slots, entry.output_slots, entry.output_spec = input_slots, output_slots, spec
                entry.program = build(tracer, persistent, output_slots, input_slots, fuse=self.fuse)
        self.capture_seconds += time.perf_counter() - tick
        return result

    def _output_spec(self, tracer: Tracer, result: Any) -> tuple[Any, list[int]]:
        """The returned structure with each Tensor replaced by ("slot", index)."""
        slots: list[int] = []

        def walk(value: Any) -> Any:
            if isinstance(value, Tensor):
                index = tracer.slot_of_tensor(value)
                slots.append(index)
                return _Out(slot=index)
            if isinstance(value, (tuple, list)):
                return type(value)(walk(v) for v in value)
            if isinstance(value, dict):
                return {k: walk(v) for k, v in value.items()}
            if value is None or isinstance(value, (int, float, bool, str)):
                return _Out(value=value)
            raise JitError(f"jit: a compiled step may return Tensors, numbers and tuples/lists/dicts of them, "
                           f"got {type(value).__name__}")

        return walk(result), slots

    # ------------------------------------------------------------------ replay
    def _fits(self, entry: _Entry, program: Program) -> Program | None:
        """The entry's program if its guards hold (rebuilt on the tensors' new arrays when they were
        replaced), else None."""
        for module, training in entry.modules:
            if module.training != training:
                return None
        rebind = False
        for tensor, array in program.leaves:
            data = tensor.data
            if data is not array:  # replaced (e.g. load_state_dict): same shape and dtype can be rebound
                if data.shape != array.shape or data.dtype != array.dtype:
                    return None
                rebind = True
        for tensor, requires_grad in entry.grad_guards:
            if tensor.requires_grad != requires_grad:
                return None
        if rebind:
            assert entry.tracer is not None  # a program is built from its capture, which the entry keeps
            program = entry.program = build(entry.tracer, entry.persistent, entry.output_slots, entry.input_slots,
                                            fuse=self.fuse)
        return program

    def _replay(self, program: Program, output_spec: Any, args: tuple[Any, ...]) -> Any:
        buffers = program.input_buffers
        k = 0
        for a in args:
            array = _as_array(a)
            if array is not None:
                np.copyto(buffers[k], array)
                k += 1
        for call in program.calls:
            call()
        self.replays += 1
        outputs = program.outputs

        def rebuild(spec: Any) -> Any:
            if isinstance(spec, _Out):
                return Tensor._wrap(np.array(outputs[spec.slot])) if spec.slot >= 0 else spec.value
            if isinstance(spec, (tuple, list)):
                return type(spec)(rebuild(v) for v in spec)
            if isinstance(spec, dict):
                return {k: rebuild(v) for k, v in spec.items()}
            return spec

        return rebuild(output_spec)

    def stats(self) -> dict[str, Any]:
        """Captures, replays, capture time and, per program, its size after planning."""
        programs = [e.program.stats for es in self.entries.values() for e in es if e.program is not None]
        return {"captures": self.captures, "replays": self.replays, "capture_seconds": self.capture_seconds,
                "programs": programs}


def jit(fn: Callable[..., Any] | None = None, *, enabled: bool = True, cache_size: int = 8,
        fuse: bool = False, fallback: bool = False) -> Any:
    """Compile a step: `step = jit(train_step)` (or `@jit`). See the module docstring and docs/compile.md.

    `fuse=True`: generate fused kernels for elementwise chains and batch reductions with numba (the
    `fast` extra). Fused steps equal eager ones to rounding (only summation order differs); without
    fusion a compiled step equals the eager step bit for bit (so a checkpoint resumes exactly, compiled or
    eager). `fallback`: when the step cannot be
    replayed (it reads values in Python, changes between calls, writes tensors behind the tape's back),
    warn (JitWarning) and run it eagerly from then on, instead of raising JitError.
    """
    if fn is None:
        return lambda f: CompiledStep(f, cache_size=cache_size, enabled=enabled, fuse=fuse, fallback=fallback)
    return CompiledStep(fn, cache_size=cache_size, enabled=enabled, fuse=fuse, fallback=fallback)
