"""Debugging tools: anomaly detection (where did this NaN come from?) and a profiler (where does a step's time go?).

Both work by watching the eager engine: `Function.apply` and `backpropagate` hand every op to the active
monitor (`autograd.STATE.monitor`) when there is one, and to nobody otherwise, so with neither context open
the engine runs exactly as before. A compiled step (`tinygrad_bn.jit`) replays numpy calls without ops, so
neither tool sees its replays: debug and profile eager steps (`fit(..., compile=False)`).

    with tinygrad_bn.detect_anomaly():   # the first op that turns finite inputs into NaN/inf raises
        loss = model(x).log().mean()
        loss.backward()                 # ... and the first backward op that does

    with tinygrad_bn.profile() as prof:  # time and count per op kind and per module, forward and backward
        step(x, y)
    print(prof.table())

Single-threaded, like the engine's other global state (grad mode, the module scope).
"""
from __future__ import annotations

import linecache
import os
import sys
import sysconfig
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import numpy as np

from .autograd import STATE, Function, TensorT
from .autograd import Tensor as TensorLike
from .nn.module import Module

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep
_STDLIB = tuple(os.path.abspath(p) + os.sep for p in {sysconfig.get_paths()["stdlib"],
                                                       sysconfig.get_paths()["platstdlib"]})


class AnomalyError(RuntimeError):
    """An op made NaN or inf out of finite values inside `detect_anomaly()`; the message says which op, in
    which module, on which inputs, and which line of your code called it.

    Attributes: `op` (the op that made the values), `module` (its module path or None), `site` (the calling
    line, "file:line in function: code", or None), `backward_of` (in a backward pass: the forward op whose
    backward ran, else None) and `forward_site` (where that forward op was called, when it ran inside
    `detect_anomaly()`).
    """

    def __init__(self, message: str, *, op: str, module: str | None, site: str | None,
                 backward_of: str | None = None, forward_site: str | None = None, summary: str = "") -> None:
        super().__init__(message)
        self.op, self.module, self.site = op, module, site
        self.backward_of, self.forward_site = backward_of, forward_site
        self.summary = summary or message.splitlines()[0]

    def one_line(self) -> str:
        """The message on one line (for a command line): the op, the module and the calling line."""
        return self.summary


# ----------------------------------------------------------------------------- where an op ran


_PLACES: dict[str, str] = {}  # file name -> "package", "stdlib" or "user"


def _place(filename: str) -> str:
    place = _PLACES.get(filename)
    if place is None:
        path = os.path.abspath(filename)
        place = ("package" if path.startswith(_PACKAGE) else
                 "stdlib" if filename.startswith("<frozen") or path.startswith(_STDLIB) else "user")
        _PLACES[filename] = place
    return place


def _user_frame(frame: FrameType | None) -> FrameType | None:
    """The first frame, walking out from `frame`, whose code is not tinygrad_bn's (None when every frame is
    tinygrad_bn's or the standard library's, as when the package's own command line runs a model)."""
    while frame is not None:
        place = _place(frame.f_code.co_filename)
        if place != "package":
            return frame if place == "user" else None
        frame = frame.f_back
    return None


def _site(code: Any, lineno: int) -> str:
    """'file:line in function: source line' of a recorded call site."""
    text = linecache.getline(code.co_filename, lineno).strip()
    return f"{code.co_filename}:{lineno} in {code.co_name}" + (f": {text}" if text else "")


def _modules(scope: Any) -> list[Module]:
    """The modules of a `STATE.scope` chain, innermost first (skipping backward markers)."""
    modules = []
    while scope is not None:
        item, scope = scope
        if isinstance(item, Module):  # skip the markers a create_graph backward puts in the chain
            modules.append(item)
    return modules


def _chain_path(modules: list[Module] | tuple[Module, ...]) -> tuple[Module, list[str]]:
    """(outermost module reached, dotted names from it to the innermost), following registrations outwards
    (a module called by one it is not registered in starts the path)."""
    names: list[str] = []
    root = modules[0]
    for child, parent in zip(modules, modules[1:]):
        name = next((n for n, m in parent.named_children() if m is child), None)
        if name is None:
            break
        names.append(name)
        root = parent
    return root, names[::-1]


def _variable_name(value: Any, frame: FrameType | None) -> str | None:
    """The name of a variable of `frame` (local first, then global) that holds `value`, if any."""
    if frame is None:
        return None
    for namespace in (frame.f_locals, frame.f_globals):
        for name, held in namespace.items():
            if held is value and not name.startswith("_"):
                return name
    return None


def module_label(modules: list[Module] | tuple[Module, ...], frame: FrameType | None = None) -> str | None:
    """`model.3 (BatchNorm1d)`: the path of the innermost module from the outermost one, which is named by the
    variable holding it in `frame` (your code) if there is one, else by its class; None outside modules."""
    if not modules:
        return None
    root, names = _chain_path(modules)
    head = _variable_name(root, frame) or type(root).__name__
    path = ".".join([head, *names])
    inner = type(modules[0]).__name__
    return path if path == inner else f"{path} ({inner})"


# ----------------------------------------------------------------------------- describing values


def _finite(array: np.ndarray) -> bool:
    if array.dtype.kind not in "fc":  # integers and booleans are always finite
        return True
    return bool(np.isfinite(array).all())


def _params_finite(params: dict) -> bool:
    """False when a scalar parameter of the op (a fill value, a clamp bound) is NaN or inf: then the op was
    asked for that value, and it is no anomaly."""
    for value in params.values():
        if isinstance(value, float) and not np.isfinite(value):
            return False
    return True


def _describe(array: np.ndarray) -> str:
    """'(100, 3) float32 in [-1.2, 3.4]' (the range of the finite entries, with counts of the others)."""
    text = f"{tuple(array.shape)} {array.dtype}"
    if array.size == 0:
        return text + " (empty)"
    if array.dtype.kind in "biuf":
        values = array.astype(np.float64, copy=False) if array.dtype.kind != "f" else array
        finite = np.isfinite(values)
        if finite.any():
            shown = values[finite] if not finite.all() else values
            text += f" in [{float(shown.min()):.4g}, {float(shown.max()):.4g}]"
        bad = _bad_counts(values)
        if bad:
            text += f" ({bad})"
    return text


def _bad_counts(array: np.ndarray) -> str:
    """'2 NaN, 1 inf of 300 entries', or '' when all are finite."""
    if array.dtype.kind not in "fc":
        return ""
    nan = int(np.isnan(array).sum())
    inf = int(np.isinf(array).sum())
    parts = [f"{nan} NaN" if nan else "", f"{inf} inf" if inf else ""]
    text = ", ".join(p for p in parts if p)
    return f"{text} of {array.size} entries" if text else ""


def _kind(array: np.ndarray) -> str:
    """'NaN', 'inf' or 'NaN and inf': what a non-finite array holds."""
    nan, inf = bool(np.isnan(array).any()), bool(np.isinf(array).any())
    return "NaN and inf" if nan and inf else "NaN" if nan else "inf"


# ----------------------------------------------------------------------------- the monitor


@dataclass
class _Stat:
    count: int = 0
    seconds: float = 0.0
    backward_count: int = 0
    backward_seconds: float = 0.0


class _Monitor:
    """What `STATE.monitor` holds while `detect_anomaly()` or `profile()` is open: runs each op's forward
    (through `Function.apply`, with itself switched off) and each op's backward, checking and timing them."""

    def __init__(self) -> None:
        self.anomaly = 0  # open detect_anomaly() blocks
        self.profiles: list[Profile] = []
        self.backward_of: list[Function | None] = []  # per running backward pass: the op whose backward runs

    # --- forward
    def forward(self, cls: type[Function], inputs: tuple[TensorT, ...], params: dict[str, Any]) -> TensorT:
        profiles = self.profiles
        STATE.monitor = None
        try:
            if profiles:
                start = time.perf_counter()
                out = cls.apply(*inputs, **params)
                elapsed = time.perf_counter() - start
            else:
                out = cls.apply(*inputs, **params)
        finally:
            STATE.monitor = self
        if profiles and not (self.backward_of and self.backward_of[-1] is not None):
            scope = STATE.scope
            for profile in profiles:
                profile._add(cls.__name__, scope, elapsed, backward=False)
        if self.anomaly:
            self._check_forward(cls, inputs, params, out)
        return out

    def _check_forward(self, cls: type[Function], inputs: tuple[TensorLike, ...], params: dict[str, Any],
                       out: TensorLike) -> None:
        frame = sys._getframe(2)  # Function.apply's caller
        ctx = out._ctx
        if ctx is not None:  # where this op was called, for an anomaly in its backward later
            user = _user_frame(frame)
            if user is not None:
                ctx._anomaly_site = (user.f_code, user.f_lineno)
        if _finite(out.data) or not all(_finite(t.data) for t in inputs) or not _params_finite(params):
            return
        backward_of = self.backward_of[-1] if self.backward_of else None
        user = _user_frame(frame)
        site = _site(user.f_code, user.f_lineno) if user is not None else None
        kind, name = _kind(out.data), cls.__name__
        lines = []
        if backward_of is None:
            module = module_label(_modules(STATE.scope), user)
            summary = f"{name} produced {kind} from finite inputs" + (f" in {module}" if module else "")
            if site:
                summary += f", called from {site}"
            forward_site = None
        else:
            module = module_label(_modules(backward_of.scope), user)
            forward_site = _site(*backward_of._anomaly_site) if hasattr(backward_of, "_anomaly_site") else None
            summary = (f"{name} in the backward of {backward_of.name} produced {kind} from finite inputs"
                       + (f" ({backward_of.name} ran in {module})" if module else ""))
            if forward_site:
                summary += f", forward called from {forward_site}"
        lines.append(summary)
        lines.append(f"  output: {_describe(out.data)}")
        for i, t in enumerate(inputs):
            lines.append(f"  input {i}: {_describe(t.data)}")
        if params:
            shown = {k: v for k, v in params.items() if not isinstance(v, np.ndarray)}
            if shown:
                lines.append(f"  parameters: {shown}")
        if backward_of is None:
            lines.append(f"  module: {module or '(not inside a module)'}")
            lines.append(f"  called from: {site or '(no frame outside tinygrad_bn)'}")
        else:
            lines.append(f"  backward op: {name}, in the backward of {backward_of.name}"
                         + (f" (called from {site})" if site else ""))
            lines.append(f"  forward op: {backward_of.name}"
                         + (f" in {module}" if module else " (not inside a module)"))
            lines.append("  forward called from: " + (forward_site or "(not recorded: the forward ran outside "
                                                                     "detect_anomaly())"))
        raise AnomalyError("anomaly: " + "\n".join(lines), op=name, module=module, site=site,
                           backward_of=backward_of.name if backward_of is not None else None,
                           forward_site=forward_site, summary="anomaly: " + summary)

    # --- backward
    def begin_backward(self) -> None:
        self.backward_of.append(None)
        for profile in self.profiles:
            profile._backward_started.append(time.perf_counter())

    def end_backward(self) -> None:
        self.backward_of.pop()
        now = time.perf_counter()
        for profile in self.profiles:
            if profile._backward_started:
                profile.backward_pass_seconds += now - profile._backward_started.pop()
                profile.backward_passes += 1

    def backward(self, ctx: Function, grad: TensorLike) -> Sequence[TensorLike | None]:
        self.backward_of[-1] = ctx  # also covers the reductions and sums of its gradients that follow
        if self.profiles:
            start = time.perf_counter()
            grads = ctx.backward(grad)
            elapsed = time.perf_counter() - start
            for profile in self.profiles:
                profile._add(ctx.name, ctx.scope, elapsed, backward=True)
        else:
            grads = ctx.backward(grad)
        if self.anomaly and _finite(grad.data):
            self._check_backward(ctx, grad, grads)
        return grads

    def _check_backward(self, ctx: Function, grad: TensorLike, grads: Sequence[TensorLike | None]) -> None:
        """A backward that returned non-finite gradients for a finite upstream gradient without an op making
        them (numpy inside a user's Function.backward): name the op whose backward it is."""
        for i, g in enumerate(grads):
            if g is None or _finite(g.data):
                continue
            user = _user_frame(sys._getframe(2))
            module = module_label(_modules(ctx.scope), user)
            forward_site = _site(*ctx._anomaly_site) if hasattr(ctx, "_anomaly_site") else None
            summary = (f"the backward of {ctx.name} returned {_kind(g.data)} for input {i} from a finite gradient"
                       + (f" ({ctx.name} ran in {module})" if module else "")
                       + (f", forward called from {forward_site}" if forward_site else ""))
            lines = [summary, f"  gradient of input {i}: {_describe(g.data)}", f"  upstream gradient: "
                     f"{_describe(grad.data)}"]
            lines += [f"  forward input {j}: {_describe(p.data)}" for j, p in enumerate(ctx.parents)
                      if not ctx.released]
            lines.append(f"  forward op: {ctx.name}" + (f" in {module}" if module else " (not inside a module)"))
            lines.append("  forward called from: " + (forward_site or "(not recorded: the forward ran outside "
                                                                     "detect_anomaly())"))
            raise AnomalyError("anomaly: " + "\n".join(lines), op=f"backward of {ctx.name}", module=module,
                               site=None, backward_of=ctx.name, forward_site=forward_site,
                               summary="anomaly: " + summary)

    # --- installing
    @staticmethod
    def active() -> _Monitor:
        monitor = STATE.monitor
        if monitor is None:
            monitor = STATE.monitor = _Monitor()
        assert isinstance(monitor, _Monitor)  # only this module installs monitors
        return monitor

    def release_if_idle(self) -> None:
        if not self.anomaly and not self.profiles and STATE.monitor is self:
            STATE.monitor = None


# ----------------------------------------------------------------------------- anomaly detection


class detect_anomaly:  # noqa: N801 (a context manager named like PyTorch's)
    """Context manager: the first op whose output holds NaN or inf while its inputs were finite raises
    `AnomalyError` naming the op, its module path (`model.3 (BatchNorm1d)`), its inputs' shapes, dtypes and
    ranges, and the line of your code that called it; in a backward pass, the first backward op that makes
    a non-finite gradient raises naming it and the forward op (with the forward's call site, recorded when
    the forward ran inside this block too).

    Each op's output is checked, so ops run slower inside (about 2x); outside, nothing is checked and nothing
    costs. numpy's own floating-point warnings are silenced inside: the error says more. Values that were
    already NaN when they came in (data, or ops run outside the block) are not reported, nor ops told to
    make them (a fill value of -inf).
    """

    def __init__(self) -> None:
        self._errstate: list[Any] = []

    def __enter__(self) -> detect_anomaly:
        monitor = _Monitor.active()
        monitor.anomaly += 1
        errstate = np.errstate(all="ignore")
        errstate.__enter__()
        self._errstate.append(errstate)
        return self

    def __exit__(self, *exc: object) -> None:
        self._errstate.pop().__exit__(*exc)
        monitor = STATE.monitor
        if isinstance(monitor, _Monitor):  # the one `__enter__` installed (only this module installs monitors)
            monitor.anomaly -= 1
            monitor.release_if_idle()


# ----------------------------------------------------------------------------- the profiler


@dataclass
class Profile:
    """What `profile()` recorded: per op kind and per module, how many forward and backward calls and how long.

    Forward time is the whole `Function.apply` (numpy's work and the engine's bookkeeping); backward time is
    the op's backward method, including the ops it runs. `backward_pass_seconds` is the whole of the backward
    passes (also walking the graph, reducing broadcast gradients, summing them); `seconds` the whole block.
    Times include the profiler's own cost (about a microsecond an op).
    """

    ops: dict[str, _Stat] = field(default_factory=dict)
    modules: dict[tuple, _Stat] = field(default_factory=dict)  # key: the scope's modules, innermost first
    seconds: float = 0.0
    backward_pass_seconds: float = 0.0
    backward_passes: int = 0
    _names: dict[tuple, str] = field(default_factory=dict)
    _backward_started: list[float] = field(default_factory=list)
    _start: float = 0.0

    def _add(self, op: str, scope: Any, elapsed: float, backward: bool) -> None:
        stat = self.ops.get(op)
        if stat is None:
            stat = self.ops[op] = _Stat()
        modules = []
        while scope is not None:
            item, scope = scope
            if isinstance(item, Module):
                modules.append(item)
        key = tuple(modules)
        mstat = self.modules.get(key)
        if mstat is None:
            mstat = self.modules[key] = _Stat()
        for s in (stat, mstat):
            if backward:
                s.backward_count += 1
                s.backward_seconds += elapsed
            else:
                s.count += 1
                s.seconds += elapsed

    def _name_modules(self, frame: FrameType | None) -> None:
        self._names = {key: module_label(key, frame) or "(no module)" for key in self.modules}

    def _module_rows(self) -> dict[str, _Stat]:
        rows: dict[str, _Stat] = {}
        for key, stat in self.modules.items():
            name = self._names.get(key) or module_label(key) or "(no module)"
            row = rows.setdefault(name, _Stat())
            row.count += stat.count
            row.seconds += stat.seconds
            row.backward_count += stat.backward_count
            row.backward_seconds += stat.backward_seconds
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Every number, in seconds: {"ops": {name: {...}}, "modules": {path: {...}}, totals}."""

        def row(s: _Stat) -> dict[str, Any]:
            return {"forward_count": s.count, "forward_s": s.seconds, "backward_count": s.backward_count,
                    "backward_s": s.backward_seconds}

        return {"ops": {k: row(v) for k, v in _sorted(self.ops)},
                "modules": {k: row(v) for k, v in _sorted(self._module_rows())},
                "seconds": self.seconds, "backward_pass_seconds": self.backward_pass_seconds,
                "backward_passes": self.backward_passes}

    def table(self, limit: int | None = None) -> str:
        """Two tables, ops then modules, sorted by total time (forward + backward), and where the rest went."""
        forward = sum(s.seconds for s in self.ops.values())
        backward = sum(s.backward_seconds for s in self.ops.values())
        engine = max(self.backward_pass_seconds - backward, 0.0)
        other = max(self.seconds - forward - self.backward_pass_seconds, 0.0)
        out = [_table("op", self.ops, self.seconds, limit), "",
               _table("module", self._module_rows(), self.seconds, limit), ""]
        out.append(f"block {_ms(self.seconds)} ms: forward ops {_ms(forward)}, op backward methods "
                   f"{_ms(backward)}, rest of {self.backward_passes} backward pass(es) {_ms(engine)} (graph walk, "
                   f"reducing and summing gradients), outside ops {_ms(other)} (optimizer, Python)")
        return "\n".join(out)

    def __str__(self) -> str:
        return self.table()


def _ms(seconds: float) -> str:
    return f"{1e3 * seconds:.2f}"


def _sorted(rows: dict[str, _Stat]) -> list[tuple[str, _Stat]]:
    return sorted(rows.items(), key=lambda kv: (-(kv[1].seconds + kv[1].backward_seconds), kv[0]))


def _table(what: str, rows: dict[str, _Stat], total: float, limit: int | None) -> str:
    items = _sorted(rows)
    hidden = items[limit:] if limit is not None else []
    items = items[:limit] if limit is not None else items
    width = max([len(what), *(len(k) for k, _ in items)])
    head = (f"{what:<{width}}  {'fwd n':>6} {'fwd ms':>8}  {'bwd n':>6} {'bwd ms':>8}  {'total ms':>8} "
            f"{'%':>5}")
    lines = [head, "-" * len(head)]
    for name, s in items:
        both = s.seconds + s.backward_seconds
        share = f"{100 * both / total:5.1f}" if total > 0 else "    -"
        lines.append(f"{name:<{width}}  {s.count:>6} {_ms(s.seconds):>8}  {s.backward_count:>6} "
                     f"{_ms(s.backward_seconds):>8}  {_ms(both):>8} {share}")
    if hidden:
        lines.append(f"({len(hidden)} more, {_ms(sum(s.seconds + s.backward_seconds for _, s in hidden))} ms)")
    return "\n".join(lines)


class profile:  # noqa: N801 (a context manager, used as `with tinygrad_bn.profile() as prof`)
    """Context manager recording, per op kind and per module, the count and time of forward and backward calls.

    `with tinygrad_bn.profile() as prof: ...`, then `print(prof.table())` or `prof.to_dict()`. Modules are
    named by their path from the outermost module, itself named by the variable holding it in the code that
    opened the block (`model.3 (BatchNorm1d)`). Eager ops only: a compiled step's replays are not seen.
    """

    def __init__(self) -> None:
        self.result = Profile()

    def __enter__(self) -> Profile:
        monitor = _Monitor.active()
        monitor.profiles.append(self.result)
        self.result._start = time.perf_counter()
        return self.result

    def __exit__(self, *exc: object) -> None:
        result = self.result
        result.seconds = time.perf_counter() - result._start
        monitor = STATE.monitor
        if isinstance(monitor, _Monitor):  # the one `__enter__` installed (only this module installs monitors)
            monitor.profiles = [p for p in monitor.profiles if p is not result]
            monitor.release_if_idle()
        result._name_modules(sys._getframe(1))


__all__ = ["AnomalyError", "Profile", "detect_anomaly", "module_label", "profile"]
