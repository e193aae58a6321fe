"""Fusion (the `fast` extra): runs of elementwise ops and per-channel reductions become one numba kernel.

Composed batch norm is a chain of small ops over an (N, C) array: mean over the batch, subtract, square,
mean, add eps, sqrt, divide, scale, shift, ReLU, and a longer chain backward. Each is a pass over memory
and a call. This pass finds such runs in the planned tape and generates one kernel per run: loops over
the (N, C) elements that compute every elementwise value of the run in registers, accumulate the
reductions over the batch axis per column (in float64), and between passes compute the per-column
values (the mean, the standard deviation). Only values that something outside the run reads are written
to memory. Nobody writes a BN kernel: the fuser discovers the chain from what the ops declare.

Scope (anything else stays with the numpy lowering): 2-d values of one shape (N, C) and one floating
dtype, per-column operands of shape (1, C) or (C,), scalars; the elementwise ops in `EXPRESSIONS`;
`Sum`/`Mean` over axis 0; `Expand` of a per-column value back to (N, C). Only the batch sums differ from
the numpy lowering, which adds the rows one by one in the array's dtype: float64 kernels add the rows in
the same order, in float64; float32 kernels sum blocks of BLOCK (8) rows per column in float32, then add
each block's sum to a float64 accumulator (a float64 accumulator per element halves the SIMD width). The
blocked error bound, (BLOCK - 1) * eps32 * sum |x|, is far below numpy's float32 reduction over N rows
(about N * eps32 * sum |x|). Every elementwise operation is the numpy one, in the same dtype (a division
stays a division: multiplying by a per-column reciprocal was measured no faster in the step, and its
rounding is one error shared by a whole column, which adaptive optimizers amplify in values that are
rounding noise, such as the gradient of a bias in front of BN).
Kernels are cached by their source, so the five BN layers of an MLP share one compiled kernel.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ..autograd import FUSED_FORMS
from .tape import LEAF, Check, InPlace, OpCall, PyCall, SetGrad

# op name -> expression of its operands (a, b); the result of each is one value of the output's dtype
EXPRESSIONS: dict[str, str] = {
    "Add": "{0} + {1}", "Sub": "{0} - {1}", "Mul": "{0} * {1}", "Div": "{0} / {1}", "Neg": "-{0}",
    "Exp": "np.exp({0})", "Log": "np.log({0})", "Sqrt": "np.sqrt({0})", "Tanh": "np.tanh({0})",
    "Relu": "({0} if ({0} > ZERO or {0} != {0}) else ZERO)",
    "ReluGrad": "({0} * (ONE if {1} > ZERO else ZERO))",
}
REDUCTIONS = ("Sum", "Mean")
# Batch sums of float32 kernels: BLOCK rows are summed per column in float32, then each block's partial sum
# is added to the column's float64 accumulator. Adding float32 values to float64 accumulators element by
# element halves the SIMD width (4 lanes instead of 8); the float32 block sum keeps 8. Measured at W=300,
# batch 1000: 4 rows gain most of it, 8 nearly all, 16 no more than 8 within noise.
BLOCK = 8


def available() -> bool:
    """True when numba can be imported (pip install 'tinygrad_bn[fast]')."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass(eq=False)
class FusedCall:
    """One generated kernel standing for a run of instructions of the tape."""

    members: list[OpCall]
    inputs: list[int]  # slots read from outside the run
    outputs: list[int]  # slots written for readers outside the run
    source: str = ""
    kernel: Callable[..., None] | None = None
    shape: tuple = ()
    name: str = "Fused"
    layouts: dict[int, str] = field(default_factory=dict)


def _layout(shape: tuple, full: tuple) -> str | None:
    """How a value of `shape` is indexed inside a kernel over `full` = (N, C): per element, per column
    (numpy broadcasts a (C,) or (1, C) operand along the batch), or one scalar; None: not fusable."""
    if shape == full:
        return "full"
    if shape in ((1, full[1]), (full[1],)):
        return "col"
    if int(np.prod(shape)) == 1 and len(shape) <= 2:
        return "scalar"
    return None


def _kind(ins: Any, slots: list, full: tuple | None) -> tuple[str, tuple] | None:
    """('ew' | 'col' | 'reduce' | 'expand', full shape) when `ins` can join a run over `full`, else None."""
    if not isinstance(ins, OpCall):
        return None
    name = ins.op.__name__
    out = slots[ins.output]
    if out.dtype.kind != "f" or any(slots[i].dtype != out.dtype for i in ins.inputs):
        return None
    if name in REDUCTIONS:
        src = slots[ins.inputs[0]]
        axes = ins.params.get("axis")
        axes = (axes,) if isinstance(axes, int) else tuple(axes) if axes is not None else None
        if src.value.ndim != 2 or axes not in ((0,), (-2,)):
            return None
        f = full or src.shape
        return ("reduce", f) if src.shape == f and _layout(out.shape, f) == "col" else None
    if name == "Expand":
        f = full or out.shape
        if out.shape == f and len(f) == 2 and _layout(slots[ins.inputs[0]].shape, f) == "col":
            return ("expand", f)
        return None
    if name not in EXPRESSIONS or ins.params:
        return None
    if len(out.shape) == 2 and (full is None or out.shape == full):
        f = out.shape
        if all(_layout(slots[i].shape, f) is not None for i in ins.inputs):
            return ("ew", f)
        return None
    if full is not None and _layout(out.shape, full) == "col":
        if all(_layout(slots[i].shape, full) in ("col", "scalar") for i in ins.inputs):
            return ("col", full)
    return None


def prepare(live: list, slots: list) -> list:
    """Reorder and split the planned tape so that runs come out longer (fusion only; values unchanged):

    - an op with an elementwise epilogue (`Linear`'s bias add: the op declares `epilogue`, the op class
      that adds its last input) becomes the op without it, then the epilogue as an op of its own, which can
      open the run that follows (a new temporary slot is appended to `slots`);
    - an op that can join a run moves up past the non-fusable ops before it (matmuls, transposes) that do
      not produce its inputs, so that it lands next to its producer (a layer's bias gradient, a sum over
      the batch, joins the backward kernel it reads from). Nothing moves past a check, an in-place update,
      a stored gradient or a call, so every effect keeps its order.
    """
    from .tape import TEMP, Slot

    split: list = []
    for ins in live:
        epilogue = getattr(ins.op, "epilogue", None) if isinstance(ins, OpCall) else None
        out = slots[ins.output] if epilogue is not None else None
        if (epilogue is not None and out is not None and len(ins.inputs) == 3 and not ins.params and not ins.side
                and len(out.shape) == 2 and all(slots[i].dtype == out.dtype for i in ins.inputs)):
            product = Slot(len(slots), TEMP, out.shape, out.dtype, np.empty(out.shape, out.dtype))
            slots.append(product)
            split.append(OpCall(ins.op, ins.inputs[:2], {}, product.index, {}, ins.scope))
            split.append(OpCall(epilogue, [product.index, ins.inputs[2]], {}, ins.output, {}, ins.scope))
        else:
            split.append(ins)
    ordered: list = []
    for ins in split:
        position = len(ordered)
        if isinstance(ins, OpCall) and _kind(ins, slots, None) is not None:
            while position > 0:
                before = ordered[position - 1]
                if (not isinstance(before, OpCall) or getattr(before.op, "random", False)
                        or _kind(before, slots, None) is not None
                        or {before.output, *before.side.values()} & set(ins.inputs)):
                    break
                position -= 1
        ordered.insert(position, ins)
    return ordered


def _kind_name(ins: OpCall, slots: list, full: tuple) -> str:
    """The kind of a member of a run over `full` (members were admitted by `_kind`, so they have one)."""
    kind = _kind(ins, slots, full)
    assert kind is not None, f"{ins.op.__name__} is not fusable over {full}"
    return kind[0]


def find_runs(live: list, slots: list) -> list:
    """The tape with each fusable run (two or more ops) replaced by a FusedCall. Checks and in-place
    updates between the ops of a run move after it (they only read its results, which it writes)."""
    result: list = []
    run: list = []
    deferred: list = []
    full: tuple | None = None
    deferred_targets: set[int] = set()

    def close() -> None:
        nonlocal run, deferred, full, deferred_targets
        if full is not None and len(run) >= 2 and any(_kind_name(m, slots, full) in ("ew", "reduce") for m in run):
            result.append(FusedCall(run, [], [], shape=full))
        else:
            result.extend(run)
        result.extend(deferred)
        run, deferred, full, deferred_targets = [], [], None, set()

    for ins in live:
        k = _kind(ins, slots, full)
        if k is not None and not (set(ins.inputs) & deferred_targets):
            if full is None and k[0] == "col":  # a run starts with a full-shape op
                close()
                result.append(ins)
                continue
            full = k[1]
            run.append(ins)
            continue
        if run and isinstance(ins, (Check, InPlace, SetGrad)):
            deferred.append(ins)
            if isinstance(ins, InPlace):
                deferred_targets.add(ins.target)
            continue
        close()
        result.append(ins)
    close()
    return result


REMAT_LIMIT = 6  # at most this many elementwise ops are recomputed for one value instead of storing it


def _chain(run: FusedCall, value: int, kinds: dict[int, str],
           stored: frozenset[int] | set[int] = frozenset()) -> list[OpCall] | None:
    """The members of `run` that compute the elementwise `value` from the run's inputs, its column values and
    the values in `stored` (all in memory anyway), in the run's order; None if that takes more than
    REMAT_LIMIT ops."""
    by_output = {m.output: m for m in run.members}
    needed: set[int] = set()
    stack = [value]
    while stack:
        i = stack.pop()
        member = by_output.get(i)
        if member is None or i in needed or kinds[i] != "ew" or (i in stored and i != value):
            continue
        needed.add(i)
        if len(needed) > REMAT_LIMIT:
            return None
        stack.extend(member.inputs)
    return [m for m in run.members if m.output in needed]


def clone_chains(live: list, slots: list, outputs: list[int], reads: Callable) -> int:
    """Rematerialization across kernels: where a run reads an elementwise value that an earlier run computed
    (BN's centered and normalized values and the pre-ReLU output, read by its backward kernel), and only
    runs read it, the reading runs compute it again from what it was computed from (the layer's product
    and bias, its mean and standard deviation), so the earlier kernel never writes it and the later one
    reads one array instead of three. The same operations make the same values. Returns the number of
    values that no longer go through memory."""
    runs = [ins for ins in live if isinstance(ins, FusedCall)]
    position = {id(ins): k for k, ins in enumerate(live)}
    producer: dict[int, FusedCall] = {}
    for run in runs:
        for m in run.members:
            producer[m.output] = run
    readers: dict[int, list] = {}
    for ins in live:
        if isinstance(ins, FusedCall):
            own = {m.output for m in ins.members}
            for i in {i for m in ins.members for i in m.inputs if i not in own}:
                readers.setdefault(i, []).append(ins)
        else:
            for i in reads(ins):
                readers.setdefault(i, []).append(ins)
    kinds = {m.output: _kind_name(m, slots, run.shape) for run in runs for m in run.members}
    def writes_to(ins: Any, leaves: set[int]) -> bool:  # an in-place update or a call changing one of `leaves`
        if isinstance(ins, InPlace):
            return ins.target in leaves
        if isinstance(ins, PyCall):  # its declared writes (a capture refuses any write it does not declare)
            return any(slots[i].tensor is t for t in ins.writes for i in leaves)
        return False

    cloned = 0
    copies: dict[int, tuple[FusedCall, dict[int, tuple[int, int, OpCall]]]] = {}  # run -> members to prepend
    for value, run in list(producer.items()):
        users = readers.get(value, [])
        if (kinds[value] != "ew" or value in outputs or not users
                or any(not isinstance(u, FusedCall) or u.shape != run.shape for u in users)):
            continue
        chain = _chain(run, value, kinds)
        if chain is None:
            continue
        leaves = {i for m in chain for i in m.inputs if slots[i].kind == LEAF} - {m.output for m in chain}
        start, end = position[id(run)], max(position[id(u)] for u in users)
        if leaves and any(writes_to(ins, leaves) for ins in live[start + 1:end]):
            continue  # a persistent operand changes in between (an optimizer step): keep the stored value
        for user in users:
            copies.setdefault(id(user), (user, {}))[1].update({id(m): (position[id(run)], k, m) for k, m in
                                                                  enumerate(run.members) if m in chain})
        cloned += 1
    for user, chains in copies.values():  # in the order they were computed: every operand before its use
        user.members = [m for _, _, m in sorted(chains.values(), key=lambda c: (c[0], c[1]))] + user.members
    return cloned


def plan_outputs(fused: FusedCall, live: list, outputs: list[int], reads: Callable) -> None:
    """Which values of the run are read outside it (written to memory), and which come from outside."""
    produced = {m.output for m in fused.members}
    inside = {id(m) for m in fused.members}
    external: set[int] = set(outputs)
    for ins in live:
        if ins is not fused and id(ins) not in inside:
            if isinstance(ins, FusedCall):  # what that run reads from outside itself
                own = {member.output for member in ins.members}
                external.update(i for member in ins.members for i in member.inputs if i not in own)
            else:
                external.update(reads(ins))
    fused.outputs = [m.output for m in fused.members if m.output in external]
    seen: list[int] = []
    for m in fused.members:
        for i in m.inputs:
            if i not in produced and i not in seen:
                seen.append(i)
    fused.inputs = seen


def _shared_arrays(passes: dict[int, list[str]], scratch: list[int], external: list[int], out_name: dict[int, str],
                   slots: list, full: tuple) -> dict[int, int]:
    """Values stored only for the kernel's own later passes (scratch) that can live in the array of a value
    the kernel writes for outside readers: the scratch value is last read in the pass that writes the other
    one, before that write, element by element (BN backward: the first pass's gradient, read back by the
    last pass, lives in the array of the last pass's result). One (N, C) array less to allocate, fill
    and bring back into cache. Returns scratch value -> the value whose array it borrows."""
    def reads(name: str, lv: int) -> bool:  # a line of a pass is `target = expression` or `acc[j] += expression`
        return any(f"{name}[i, j]" in line.partition("= ")[2] for line in passes[lv])

    shared: dict[int, int] = {}
    for value in scratch:
        name = out_name[value]
        read = [lv for lv in passes if reads(name, lv)]
        if not read:
            continue
        last = max(read)
        for target in external:
            target_name = out_name[target]
            if target in shared.values() or _layout(slots[target].shape, full) != "full":
                continue
            if slots[target].dtype != slots[value].dtype:
                continue
            body = passes.get(last, [])
            writes = [k for k, line in enumerate(body) if line.startswith(f"{target_name}[i, j] = ")]
            if len(writes) != 1 or any(reads(target_name, lv) for lv in passes if lv <= last):
                continue  # written in another pass, or read in the kernel before its final value is there
            if any(f"{name}[i, j]" in line for line in body[writes[0]:]):
                continue  # the scratch value is still read after the write
            shared[value] = target
            break
    return shared


def generate(fused: FusedCall, slots: list) -> str:
    """Python source of the kernel: passes over (N, C), with per-column work before and after each.

    A value's level is the number of batch reductions it depends on inside the run: level-L elementwise
    values are computed in pass L (registers only, unless read later), level-L reductions accumulate in
    pass L and are final after it, per-column values of level L are computed before pass L.
    """
    full = fused.shape
    dtype = slots[fused.members[0].output].dtype
    kinds = {m.output: _kind_name(m, slots, full) for m in fused.members}
    level: dict[int, int] = {i: 0 for i in fused.inputs}
    for m in fused.members:
        lv = max([level[i] for i in m.inputs] or [0])
        level[m.output] = lv + 1 if kinds[m.output] == "reduce" else lv
    external = list(fused.outputs)
    outputs = list(external)
    # An elementwise value that a later pass reads is computed again in that pass when that takes at most
    # REMAT_LIMIT ops (rematerialization: no write and no read-back of an (N, C) array), else stored after
    # its own pass. Values are decided in the run's order, and a chain stops at values stored by then: a
    # value computed from a stored one (BN backward's second-pass gradient, from the first pass's stored
    # product with gamma / std) costs a few ops and a read of that array, instead of a second array
    # written in one pass and read back in the next.
    later = {i for m in fused.members for i in m.inputs if kinds.get(i) == "ew" and i not in outputs
             and level[i] < level[m.output] - (1 if kinds[m.output] == "reduce" else 0)}
    stored = set(outputs)
    for m in fused.members:
        if m.output in later and _chain(fused, m.output, kinds, stored) is None:
            outputs.append(m.output)
            stored.add(m.output)
    fused.outputs = outputs
    out_name = {o: f"out{k}" for k, o in enumerate(outputs)}
    local = {m.output: k for k, m in enumerate(fused.members)}  # names by position: equal runs, equal source
    in_name = {i: f"in{k}" for k, i in enumerate(fused.inputs)}
    layout: dict[int, str] = {}
    for i in fused.inputs:  # every input of a run has a layout (find_runs admitted only such ops)
        layout[i] = _layout(slots[i].shape, full) or "unfusable"
    where: dict[int, str] = {}  # how each produced value is read: "v" local, "c" column array

    def value(i: int, lv: int, column: bool) -> str:
        if i in in_name:
            return {"full": f"{in_name[i]}[i, j]", "col": f"{in_name[i]}[j]", "scalar": f"{in_name[i]}[0]"}[layout[i]]
        if where[i] == "c":
            return f"c{local[i]}[j]"
        if where[i] == "alias":
            return value(alias[i], lv, column)
        if level[i] < lv and not column:  # from an earlier pass: stored, or computed again in this one
            if i in out_name:
                return f"{out_name[i]}[i, j]"
            name = f"r{local[i]}"
            if i not in recomputed.setdefault(lv, set()):
                m = members[i]
                expr = EXPRESSIONS[m.op.__name__].format(*[value(x, lv, False) for x in m.inputs])
                passes.setdefault(lv, []).append(f"{name} = {expr}")
                recomputed[lv].add(i)
            return name
        return f"v{local[i]}"

    alias: dict[int, int] = {}
    members = {m.output: m for m in fused.members}
    recomputed: dict[int, set[int]] = {}  # pass -> values computed again in it
    passes: dict[int, list[str]] = {}
    before: dict[int, list[str]] = {}
    after: dict[int, list[str]] = {}
    accumulators, columns = [], []
    for m in fused.members:
        o, k, lv = m.output, kinds[m.output], level[m.output]
        n = local[o]
        if k == "ew":
            expr = EXPRESSIONS[m.op.__name__].format(*[value(i, lv, False) for i in m.inputs])
            where[o] = "v"
            passes.setdefault(lv, []).append(f"v{n} = {expr}")
            if o in out_name:
                passes[lv].append(f"{out_name[o]}[i, j] = v{n}")
        elif k == "expand":
            where[o], alias[o] = "alias", m.inputs[0]
            if o in out_name:
                passes.setdefault(lv, []).append(f"{out_name[o]}[i, j] = {value(m.inputs[0], lv, False)}")
        elif k == "reduce":
            src_lv = lv - 1
            accumulators.append(f"acc{n}")
            passes.setdefault(src_lv, []).append(f"acc{n}[j] += {value(m.inputs[0], src_lv, False)}")
            mean = " / n" if m.op.__name__ == "Mean" else ""
            where[o] = "c"
            columns.append(n)
            after.setdefault(src_lv, []).append(f"c{n}[j] = acc{n}[j]{mean}")
            if o in out_name:
                after[src_lv].append(f"{out_name[o]}[j] = c{n}[j]")
        else:  # a per-column op
            expr = EXPRESSIONS[m.op.__name__].format(*[value(i, lv, True) for i in m.inputs])
            where[o] = "c"
            columns.append(n)
            before.setdefault(lv, []).append(f"c{n}[j] = {expr}")
            if o in out_name:
                before[lv].append(f"{out_name[o]}[j] = c{n}[j]")
    for scratch, target in _shared_arrays(passes, outputs[len(external):], external, out_name, slots, full).items():
        old, new = f"{out_name[scratch]}[i, j]", f"{out_name[target]}[i, j]"
        for lv, pass_lines in passes.items():
            passes[lv] = [line.replace(old, new) for line in pass_lines]
        outputs.remove(scratch)
    fused.outputs = outputs
    args = [in_name[i] for i in fused.inputs] + [out_name[o] for o in outputs]
    sized = next((in_name[i] for i in fused.inputs if layout[i] == "full"), None) or next(
        (out_name[o] for o in outputs if _layout(slots[o].shape, full) == "full"), None)
    # the sizes come from an (N, C) argument: one compiled kernel serves every batch size and width
    size = f"{sized}.shape" if sized is not None else f"{full[0]}, {full[1]}"
    lines = [f"def kernel({', '.join(args)}):", f"    n, c = {size}"]
    lines += [f"    {acc} = np.zeros(c, np.float64)" for acc in accumulators]
    lines += [f"    c{o} = np.empty(c, DTYPE)" for o in columns]
    # float32 kernels: each pass with batch sums runs over blocks of BLOCK rows (the last one shorter when
    # BLOCK does not divide n); a block's rows are summed in float32 `part` arrays, added to the float64
    # accumulators and reset after the block. float64 kernels add to their accumulators directly.
    blocked = BLOCK > 1 and dtype == np.float32
    if blocked:
        lines += [f"    {acc.replace('acc', 'part')} = np.zeros(c, DTYPE)" for acc in accumulators]
    for lv in range(max([*passes, *before, *after, 0]) + 1):
        for block, body in ((before, "col"), (passes, "full"), (after, "col")):
            if not block.get(lv):
                continue
            sums = [line.partition("[")[0] for line in block[lv] if line.startswith("acc")]
            if body == "full" and blocked and sums:
                lines += ["    for i0 in range(0, n, BLOCK):  # BLOCK rows (fewer in the last block)",
                          "        for i in range(i0, min(i0 + BLOCK, n)):", "            for j in range(c):"]
                lines += [f"                {line.replace('acc', 'part', 1) if line.startswith('acc') else line}"
                          for line in block[lv]]
                lines.append("        for j in range(c):")
                for acc in sums:
                    part = acc.replace("acc", "part")
                    lines += [f"            {acc}[j] += {part}[j]", f"            {part}[j] = ZERO"]
            elif body == "full":
                lines += ["    for i in range(n):", "        for j in range(c):"]
                lines += [f"            {line}" for line in block[lv]]
            else:
                lines.append("    for j in range(c):")
                lines += [f"        {line}" for line in block[lv]]
    header = f"DTYPE = np.{dtype.name}\nZERO = DTYPE(0)\nONE = DTYPE(1)\n" + (f"BLOCK = {BLOCK}\n" if blocked else "")
    return header + "\n".join(lines) + "\n"


_KERNELS: dict[str, Callable[..., None]] = {}
def variant(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The compiled fused form of the numpy kernel `fn` if it declares one (`autograd.fused_form`: BN's
    running-statistics blend and batch counter, the finiteness check), else `fn` itself."""
    source = FUSED_FORMS.get(fn)
    return fn if source is None else compile_kernel(source)


def compile_kernel(source: str) -> Callable[..., None]:
    """The numba-compiled kernel of `source`, cached by source in this process (identical runs share one
    compile). Nothing is cached on disk: numba's disk cache stores pickles, and this project loads none."""
    kernel = _KERNELS.get(source)
    if kernel is None:
        import numba

        scope: dict[str, Any] = {"np": np}
        exec(compile(source, "<tinygrad_bn fused kernel>", "exec"), scope)  # noqa: S102 (our own generated code)
        kernel = numba.njit(error_model="numpy")(scope["kernel"])
        _KERNELS[source] = kernel
    return kernel


def bind(fused: FusedCall, arrays: dict[int, np.ndarray], slots: list) -> Callable[[], None]:
    """The kernel call with its arrays: full inputs as they are, per-column ones flattened to (C,)."""
    args = []
    for i in fused.inputs:
        a = arrays[i]
        layout = _layout(slots[i].shape, fused.shape)
        args.append(a if layout == "full" else a.reshape(-1))
    for o in fused.outputs:
        a = arrays[o]
        args.append(a if _layout(slots[o].shape, fused.shape) == "full" else a.reshape(-1))
    kernel = fused.kernel
    assert kernel is not None
    return partial(kernel, *args)


__all__ = ["available", "prepare", "clone_chains", "find_runs", "plan_outputs", "generate", "compile_kernel", "bind",
           "FusedCall", "variant"]
