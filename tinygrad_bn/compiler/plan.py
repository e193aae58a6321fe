"""Lowering a captured tape into a replayable program of numpy calls writing into planned buffers.

Passes, in order:
1. classify: persistent leaves stay tensors read at replay; leaves made afresh each call become constants;
2. fold: an op whose inputs are all constants is a constant (its captured value), unless it draws random
   numbers;
3. dead code: instructions whose results nothing uses are dropped (side effects, checks and random draws
   always stay, so the generator advances exactly as in eager mode);
4. buffers: each temporary gets a buffer from a pool keyed by shape and dtype, returned to the pool after
   the value's last use (the last use of any view of it), so memory is reused as a compiler would; values
   that outlive the replay (gradients, outputs) get buffers of their own; an elementwise op whose input
   dies there writes over that input (in place, still in cache);
5. views (reshape, transpose, broadcast, basic indexing) of fixed buffers are made once, here;
6. each instruction becomes one zero-argument callable: an op's ufunc or its forward writing into the
   output buffer (`out=`), both declared on the op class in ops.py, so eager and compiled execution run
   the same numpy code; ops without an `out=` form run their forward and copy into the buffer.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from ..autograd import Function
from . import fuse as fusion
from .tape import CONST, INPUT, LEAF, TEMP, Check, InPlace, JitError, OpCall, PyCall, Ref, SetGrad, Tracer


@dataclass
class Program:
    """What a replay runs: copy the inputs in, call `calls` in order, hand out `outputs`."""

    calls: list[Callable[[], Any]]
    input_buffers: list[np.ndarray]
    leaves: list[tuple[Any, np.ndarray]]  # (tensor, the array the program was bound to)
    outputs: dict[int, np.ndarray]  # slot -> array holding it after a replay
    stats: dict[str, int] = field(default_factory=dict)
    listing: list[dict[str, Any]] = field(default_factory=list)  # per replayed instruction, for drawings


def _refs(value: Any) -> list[int]:
    if isinstance(value, Ref):
        return [value.index]
    if isinstance(value, (tuple, list)):
        return [i for v in value for i in _refs(v)]
    return []


def _bind(value: Any, arrays: dict[int, np.ndarray]) -> Any:
    if isinstance(value, Ref):
        return arrays[value.index]
    if isinstance(value, tuple):
        return tuple(_bind(v, arrays) for v in value)
    if isinstance(value, list):
        return [_bind(v, arrays) for v in value]
    return value


def reads(instruction: Any) -> list[int]:
    """The slots an instruction reads."""
    if isinstance(instruction, fusion.FusedCall):
        return list(instruction.inputs)
    if isinstance(instruction, OpCall):
        return instruction.inputs + [i for v in instruction.params.values() for i in _refs(v)]
    if isinstance(instruction, InPlace):
        return [instruction.target, *instruction.inputs]
    if isinstance(instruction, (SetGrad,)):
        return [instruction.slot]
    if isinstance(instruction, Check):
        return list(instruction.inputs)
    return []


def writes(instruction: Any) -> list[int]:
    """The temporaries an instruction writes."""
    if isinstance(instruction, fusion.FusedCall):
        return list(instruction.outputs)
    if isinstance(instruction, OpCall):
        return [instruction.output, *instruction.side.values()]
    return []


def _substitute(instruction: Any, alias: dict[int, int]) -> Any:
    """The instruction reading `alias[i]` wherever it read slot i (a copy: the tape itself is kept)."""
    def sub(value: Any) -> Any:
        if isinstance(value, Ref):
            return Ref(alias.get(value.index, value.index))
        if isinstance(value, tuple):
            return tuple(sub(v) for v in value)
        if isinstance(value, list):
            return [sub(v) for v in value]
        return value

    if isinstance(instruction, OpCall):
        return replace(instruction, inputs=[alias.get(i, i) for i in instruction.inputs],
                       params={k: sub(v) for k, v in instruction.params.items()})
    if isinstance(instruction, (Check, InPlace)):
        return replace(instruction, inputs=[alias.get(i, i) for i in instruction.inputs])
    if isinstance(instruction, SetGrad):
        return replace(instruction, slot=alias.get(instruction.slot, instruction.slot))
    return instruction


def _simplify(ins: OpCall, kind: dict, const: dict, slots: list) -> int | np.ndarray | None:
    """Exact rewrites where one operand is a constant: `x and False` is False, `x or True` is True, and
    `where(c, a, b)` with c all true (false) is a (b) when that has the output's shape and dtype. Returns
    the slot the output equals, or its constant value, or None."""
    name = ins.op.__name__
    out = slots[ins.output]
    consts = [const[i] for i in ins.inputs if kind[i] == CONST]
    if name == "LogicalAnd" and any(not c.any() for c in consts):
        return np.zeros(out.shape, bool)
    if name == "LogicalOr" and any(c.all() for c in consts):
        return np.ones(out.shape, bool)
    if name == "Where" and kind[ins.inputs[0]] == CONST:
        condition = const[ins.inputs[0]]
        choice = ins.inputs[1] if condition.all() else ins.inputs[2] if not condition.any() else None
        if choice is not None and slots[choice].shape == out.shape and slots[choice].dtype == out.dtype:
            return choice
    return None


def _is_view(instruction: Any, slots: list) -> bool:
    """A view op whose captured output shares memory with its input (advanced indexing, or a reshape
    that had to copy, is a copy: computed at every replay like any other op)."""
    if not (isinstance(instruction, OpCall) and getattr(instruction.op, "is_view", False)):
        return False
    out, base = slots[instruction.output].value, slots[instruction.inputs[0]].value
    return out.size > 0 and np.shares_memory(out, base)


def _has_effect(instruction: Any) -> bool:
    return not isinstance(instruction, OpCall) or (
        isinstance(instruction, OpCall) and getattr(instruction.op, "random", False))


def build(tracer: Tracer, persistent: set[int], outputs: list[int], inputs: list[int],
          fuse: bool = False) -> Program:
    """Plan and lower the tape of `tracer` (see the module docstring); with `fuse`, runs of elementwise
    ops and batch reductions become generated numba kernels (compiler/fuse.py)."""
    slots = tracer.slots
    kind = {s.index: s.kind for s in slots}
    for s in slots:  # 1. leaves made afresh by each call are constants, and so are read-only ones that
        # need no gradient (the engine's cached constants for Python numbers: nothing can write into them)
        if s.kind == LEAF and (s.index not in persistent or (not s.value.flags.writeable and not s.requires_grad)):
            kind[s.index] = CONST
    const: dict[int, np.ndarray] = {s.index: s.value for s in slots if kind[s.index] == CONST}

    program: list[Any] = []
    alias: dict[int, int] = {}  # a value that is exactly another one (a `where` with a constant condition)
    folded = 0
    for ins in tracer.program:  # 2. constant folding: the captured value is the value (ops are deterministic)
        ins = _substitute(ins, alias) if alias else ins
        if isinstance(ins, OpCall) and not _has_effect(ins) and all(kind[i] == CONST for i in reads(ins)):
            for w in writes(ins):
                kind[w] = CONST
                const[w] = np.array(slots[w].value, copy=True)
            folded += 1
            continue
        simple = _simplify(ins, kind, const, slots) if isinstance(ins, OpCall) else None
        if simple is not None and isinstance(ins, OpCall):
            folded += 1
            if isinstance(simple, int):
                alias[ins.output] = simple
            else:
                kind[ins.output], const[ins.output] = CONST, simple
            continue
        program.append(ins)
    requested, outputs = outputs, [alias.get(i, i) for i in outputs]

    # 3. dead code: walk backwards from effects and outputs
    needed = set(outputs)
    live = []
    for ins in reversed(program):
        if _has_effect(ins) or any(w in needed for w in writes(ins)):
            live.append(ins)
            needed.update(reads(ins))
    live.reverse()
    dropped = len(program) - len(live)
    kernels = 0
    if fuse:  # 3b. fusion: each run of elementwise ops and reductions becomes one generated kernel
        slots = list(slots)  # prepare may add temporaries (the tracer's own list stays as captured)
        live = fusion.find_runs(fusion.prepare(live, slots), slots)
        fusion.clone_chains(live, slots, outputs, reads)
        kind.update({s.index: TEMP for s in slots if s.index not in kind})
        runs = [ins for ins in live if isinstance(ins, fusion.FusedCall)]
        for run in runs:
            run.inputs = list(dict.fromkeys(i for m in run.members for i in m.inputs
                                            if i not in {x.output for x in run.members}))
        for run in runs:
            fusion.plan_outputs(run, live, outputs, reads)
            run.source = fusion.generate(run, slots)
            run.kernel = fusion.compile_kernel(run.source)
            run.name = "Fused[" + " ".join(m.op.__name__ for m in run.members) + "]"
        kernels = len(runs)

    # 4. buffers: views alias their base; a base lives until its last view's last use
    root = {s.index: s.index for s in slots}
    views = {id(ins) for ins in live if _is_view(ins, slots)}
    for ins in live:
        if id(ins) in views:
            root[ins.output] = root[ins.inputs[0]]
    escaping = {root[i] for i in outputs}
    for ins in live:
        if isinstance(ins, SetGrad) and kind[ins.slot] == TEMP and not ins.accumulate:
            escaping.add(root[ins.slot])
    last_use: dict[int, int] = {}
    for k, ins in enumerate(live):
        for r in reads(ins):
            last_use[root[r]] = k

    arrays: dict[int, np.ndarray] = dict(const)
    input_buffers = []
    for index in inputs:
        buffer = np.empty(slots[index].shape, slots[index].dtype)
        arrays[index] = buffer
        input_buffers.append(buffer)
    leaves = []
    for index in sorted(persistent):
        tensor = slots[index].tensor
        arrays[index] = tensor.data
        leaves.append((tensor, tensor.data))

    pool: dict[tuple, list[np.ndarray]] = {}
    allocated = reused = 0
    owner: dict[int, np.ndarray] = {}  # root slot -> its buffer

    def take(index: int) -> np.ndarray:
        nonlocal allocated, reused
        slot = slots[index]
        key = (slot.shape, slot.dtype.str)
        if index not in escaping and pool.get(key):
            reused += 1
            buffer = pool[key].pop()
        else:
            allocated += 1
            buffer = np.empty(slot.shape, slot.dtype)
        owner[index] = buffer
        return buffer

    def _dying_input(ins: OpCall, k: int) -> int | None:
        """An input of an elementwise op whose value dies at this op and whose buffer the output can take:
        a temporary with a buffer of its own (not a view), of the output's shape and dtype. The op then
        writes over it element by element, which numpy's ufuncs allow, and reads and writes memory that
        is already in cache instead of a buffer last touched long ago."""
        if not (ins.op.elementwise or _bare_ufunc(ins.op, ins.params, ins.side) is not None):
            return None
        out = slots[ins.output]
        for i in ins.inputs:
            if (root[i] == i and kind[i] == TEMP and last_use.get(i) == k and i in owner and i not in escaping
                    and slots[i].shape == out.shape and slots[i].dtype == out.dtype):
                return i
        return None

    calls: list[Callable[[], Any]] = []
    listing: list[dict[str, Any]] = []
    buffer_ids: dict[int, int] = {}  # id(buffer) -> a small number, to show which values share memory

    def buffer_of(index: int) -> int | None:
        array = arrays.get(index)
        if array is None or kind[index] != TEMP:
            return None
        base = array if array.base is None else array.base
        return buffer_ids.setdefault(id(base), len(buffer_ids))

    for k, ins in enumerate(live):
        if isinstance(ins, OpCall):
            ins_arrays = [arrays[i] for i in ins.inputs]
            params = {name: _bind(v, arrays) for name, v in ins.params.items()}
            if id(ins) in views:  # 5. resolved once, on the fixed base buffer
                view = arrays[ins.output] = _new_op(ins.op).forward(*ins_arrays, **params)
                if not np.shares_memory(view, ins_arrays[0]):
                    raise JitError(f"jit: {ins.op.__name__} copied at planning where it made a view at capture")
            else:
                dying = _dying_input(ins, k) if ins.output not in escaping else None
                if dying is not None:  # written in place: the same buffer, still in cache (see _dying_input)
                    buffer = owner.pop(dying)
                    pool.setdefault((buffer.shape, buffer.dtype.str), []).append(buffer)
                out = arrays[ins.output] = take(ins.output)
                side = {name: take(index) for name, index in ins.side.items()}
                for name, index in ins.side.items():
                    arrays[index] = side[name]
                calls.extend(_lower_op(ins.op, ins_arrays, params, out, side))
        elif isinstance(ins, fusion.FusedCall):
            for o in ins.outputs:
                arrays[o] = take(o)
            calls.append(fusion.bind(ins, arrays, slots))
        elif isinstance(ins, InPlace):
            fn = fusion.variant(ins.fn) if fuse else ins.fn
            calls.append(partial(fn, arrays[ins.target], *[arrays[i] for i in ins.inputs], **ins.params))
        elif isinstance(ins, SetGrad):
            calls.append(_lower_grad(ins, arrays[ins.slot], kind[ins.slot] == TEMP and root[ins.slot] == ins.slot
                                     and not ins.accumulate))
        elif isinstance(ins, PyCall):
            calls.append(_lower_call(ins, fuse))
        elif isinstance(ins, Check):
            predicate = fusion.variant(ins.predicate) if fuse else ins.predicate
            calls.append(partial(_check, predicate, [arrays[i] for i in ins.inputs], ins.error, ins.message))
        listing.append({"kind": type(ins).__name__, "name": ins.op.__name__ if isinstance(ins, OpCall) else
                        getattr(ins, "name", type(ins).__name__), "reads": reads(ins), "writes": writes(ins),
                        "view": id(ins) in views, "buffers": [buffer_of(w) for w in writes(ins)]})
        for r in set(reads(ins)) | set(writes(ins)):  # return buffers whose values are dead after this call
            base = root[r]
            if last_use.get(base, -1) <= k and base in owner and base not in escaping and kind[base] == TEMP:
                buffer = owner.pop(base)
                pool.setdefault((buffer.shape, buffer.dtype.str), []).append(buffer)
    stats = {"instructions": len(tracer.program), "calls": len(calls), "folded": folded, "dead": dropped,
             "fused kernels": kernels,
             "buffers": allocated, "reused": reused,
             "bytes": sum(b.nbytes for b in owner.values()) + sum(b.nbytes for bs in pool.values() for b in bs)}
    return Program(calls, input_buffers, leaves, {i: arrays[alias.get(i, i)] for i in requested}, stats, listing)


def _bare_ufunc(op: type[Function], params: dict, side: dict) -> np.ufunc | None:
    """The ufunc the op runs as, compiled, writing into the output buffer (elementwise, so the buffer may be
    one of its inputs: see `_dying_input`), or None when the op runs otherwise."""
    return op.ufunc if not params and not side else None


def _lower_op(op: type[Function], inputs: list[np.ndarray], params: dict, out: np.ndarray,
              side: dict[str, np.ndarray]) -> list[Callable[[], Any]]:
    """One op as calls writing into `out`: its ufunc, its `lower` form, its forward with `out=`, or its
    forward and a copy (the op's own declarations in ops.py decide)."""
    ufunc = _bare_ufunc(op, params, side)
    if ufunc is not None:
        return [_positional_out(partial(ufunc, *inputs, out=out))]
    if not side and hasattr(op, "lower"):
        calls = op.lower(out, *inputs, **params)
        if calls is not None:
            return [_positional_out(call) for call in calls]
    if getattr(op, "writes_out", False) and not side:
        return [partial(_new_op(op).forward, *inputs, out=out, **params)]
    return [partial(_run_forward, op, inputs, params, out, side)]


def _lower_call(ins: PyCall, fuse: bool) -> Callable[[], Any]:
    """A recorded method call (`@replayed`), or the compiled form its object declares for it: an object
    whose method `m` is replayed may define `lower_m(fuse=...)`, returning a zero-argument callable that
    does what `m()` does at each replay (e.g. an optimizer's update as one fused kernel), or None."""
    fn = ins.fn
    if not (isinstance(fn, partial) and fn.args):
        return fn
    owner, method = fn.args[0], getattr(fn.func, "__name__", "")
    hook = getattr(owner, f"lower_{method}", None)
    lowered = hook(*fn.args[1:], fuse=fuse, **fn.keywords) if hook is not None else None
    return lowered if lowered is not None else fn


_KEYWORD_OUT = (np.maximum, np.minimum)


def _positional_out(call: Callable[[], Any]) -> Callable[[], Any]:
    """`partial(ufunc, a, b, out=o)` as `partial(ufunc, a, b, o)`: the same call, but a ufunc parses a
    positional output without building a keyword dict, which is a third of its cost on small arrays.
    (Not for maximum and minimum, where numpy 2 deprecates a third positional argument.)"""
    if (isinstance(call, partial) and isinstance(call.func, np.ufunc) and call.keywords.keys() == {"out"}
            and len(call.args) == call.func.nin and call.func not in _KEYWORD_OUT):
        return partial(call.func, *call.args, call.keywords["out"])
    return call


def _new_op(op: type[Function]) -> Function:
    """An instance of the op to call its forward on (as Function.apply makes one: no __init__)."""
    fn: Function = object.__new__(op)
    return fn


def _run_forward(op: type[Function], inputs: list[np.ndarray], params: dict, out: np.ndarray,
                 side: dict[str, np.ndarray]) -> None:
    fn = _new_op(op)
    np.copyto(out, fn.forward(*inputs, **params))
    for name, buffer in side.items():
        np.copyto(buffer, getattr(fn, name))


def _lower_grad(ins: SetGrad, array: np.ndarray, own_buffer: bool) -> Callable[[], None]:
    tensor = ins.tensor
    wrap = type(tensor)._result_class._wrap if hasattr(type(tensor), "_result_class") else type(tensor)._wrap
    if ins.accumulate:
        def accumulate() -> None:
            tensor.grad = wrap(np.asarray(tensor.grad.data + array))
        return accumulate
    if own_buffer:  # a buffer of its own: handed out as it is (reused by the next replay, like PyTorch's .grad)
        def store() -> None:
            tensor.grad = wrap(array)
        return store
    copy = np.empty(array.shape, array.dtype)

    def store_copy() -> None:
        np.copyto(copy, array)
        tensor.grad = wrap(copy)
    return store_copy


def _check(predicate: Callable, inputs: list[np.ndarray], error: type, message: str) -> None:
    if not predicate(*inputs):
        raise error(message)


__all__ = ["Program", "build", "INPUT", "LEAF"]
