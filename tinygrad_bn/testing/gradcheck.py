"""Numerical gradient checks: analytic gradients from autodiff against central differences, in float64.

The check is a vector-Jacobian product: for a fixed random `v` of the output's shape, autodiff gives
d<v, f(x)>/dx, and central differences of <v, f(x)> give the same thing numerically. One backward and
2 * x.size forward evaluations cover the whole Jacobian in a random direction, cheaply. `fast_mode`
projects once more, onto a random `u`: the single number v^T J u costs 2 forward evaluations per input.

The upstream gradient `v` is random, never all ones: with ones, batch norm is checked through sum(BN(x)),
which is constant in x, so a backward returning zeros would pass.

When a check fails, `explain` (run automatically for the failure message) says which op is wrong: it
walks the recorded graph and checks each op's own vector-Jacobian product against central differences
of that op alone, re-run on its recorded inputs in float64, and reports the first op in topological
order that disagrees, with its module path and shapes.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from ..autograd import BackwardScope, Function, enable_grad, grad, no_grad, topological_order
from ..tensor import Tensor


class GradcheckError(AssertionError):
    """Raised by gradcheck/gradgradcheck when analytic and numerical gradients disagree."""


@dataclass
class InputReport:
    """How well the analytic gradient of one input matches the numerical one."""

    index: int
    shape: tuple
    relative_error: float  # ||a - n|| / (||a|| + ||n||), 0 when both vanish
    worst_index: tuple  # the element with the largest |a - n| beyond tolerance (or overall)
    analytic: float
    numerical: float
    ok: bool
    kind: str = "gradient"  # "gradient", "projected gradient" (fast_mode), "forward AD" or "projected forward AD"

    def __str__(self) -> str:
        status = "ok" if self.ok else "MISMATCH"
        label = "" if self.kind == "gradient" else f" [{self.kind}]"
        if self.kind.startswith("projected"):
            where = "v^T J u"
        elif self.kind == "forward AD":
            where = f"worst output element {self.worst_index}"
        else:
            where = f"worst element {self.worst_index}"
        return (
            f"input {self.index} {self.shape}{label}: {status}, relative error {self.relative_error:.3e}; "
            f"{where}: analytic {self.analytic:.8g} vs numerical {self.numerical:.8g}"
        )


@dataclass
class OpReport:
    """One recorded op's backward checked against central differences of that op alone."""

    position: int  # index of the op among the recorded ops, in topological order (inputs first)
    op: str
    module: str | None  # module path from the op's scope, e.g. "MLP.1 (BatchNorm1d)"
    input_shapes: list[tuple]
    output_shape: tuple
    input: int | None  # the op input whose vector-Jacobian product disagrees
    analytic: float
    numerical: float
    error: float  # |a - n| / max(|a|, |n|)
    ok: bool
    note: str = ""  # why an op was skipped (a kink, a lower-precision output, ...)
    order: int = 1  # 2: the check was of the backward's derivative with respect to the op's inputs

    def __str__(self) -> str:
        where = f" in {self.module}" if self.module else ""
        shapes = ", ".join(str(s) for s in self.input_shapes)
        head = f"op #{self.position} {self.op}{where}, inputs {shapes} -> {self.output_shape}"
        if self.note and self.ok:
            return f"{head}: skipped ({self.note})"
        if self.ok:
            return f"{head}: ok"
        what = "its backward" if self.order == 1 else "differentiating its backward"
        return (f"{head}: {what} for input {self.input} gives {self.analytic:.8g} but central "
                f"differences of the op alone give {self.numerical:.8g} (relative error {self.error:.3e})"
                + (f"; {self.note}" if self.note else ""))


@dataclass
class GraphReport:
    """The per-op checks of one recorded graph, up to and including the first op that fails."""

    ops: list[OpReport]
    total: int  # recorded ops in the graph
    order: int = 1  # 1: each op's backward; 2: each op's backward as a function of the op's inputs
    after_failure: bool = False  # the whole-function check failed: say where else to look if no op does

    @property
    def first_failure(self) -> OpReport | None:
        return next((r for r in self.ops if not r.ok), None)

    def __str__(self) -> str:
        bad = self.first_failure
        what = "backward" if self.order == 1 else "backward's own derivative (second order)"
        if bad is None:
            text = f"every one of the {self.total} recorded ops passes its local check of the {what}"
            if self.after_failure:
                text += ("; the error is not inside one op (look for values the function computes outside the "
                         "graph, e.g. with numpy or .data, or ops whose derivative is undefined at these inputs)")
            return text
        return f"first op (of {self.total}, in topological order) whose {what} disagrees:\n  {bad}"


@dataclass
class GradcheckResult:
    """The per-input reports of one check; truthy when every input passed."""

    inputs: list[InputReport] = field(default_factory=list)
    forward_ad: list[InputReport] = field(default_factory=list)  # with check_forward_ad
    explanation: GraphReport | None = None  # with explain=True, or after a failure

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.inputs) and all(r.ok for r in self.forward_ad)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        lines = [str(r) for r in self.inputs + self.forward_ad] or ["no input requires grad"]
        if self.explanation is not None:
            lines.append(str(self.explanation))
        return "\n".join(lines)


def _as_float64_inputs(inputs: Sequence[Any]) -> list[Tensor]:
    """Fresh float64 leaves: floating inputs require grad, others (labels, masks) are passed as they are."""
    result = []
    for x in inputs:
        data = x.data if isinstance(x, Tensor) else np.asarray(x)
        if data.dtype.kind == "f":
            wants = x.requires_grad if isinstance(x, Tensor) else True
            result.append(Tensor(data.astype(np.float64), requires_grad=wants))
        else:
            result.append(x if isinstance(x, Tensor) else Tensor(data))
    return result


def _scalar(fn: Callable[..., Tensor], args: Sequence[Tensor],
            direction: np.ndarray | None) -> tuple[Tensor, np.ndarray]:
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if direction is None:  # random, never all ones (see the module docstring)
        direction = np.random.default_rng(1234).standard_normal(out.shape)
    return (out * Tensor(direction, dtype=out.dtype)).sum(), direction


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    *,
    fast_mode: bool = False,
    explain: bool = False,
    check_forward_ad: bool = False,
) -> GradcheckResult:
    """Check autodiff's gradients of `fn(*inputs)` against central differences, per input, in float64.

    Each floating input is copied to a float64 leaf. An element passes when |a - n| <= atol + rtol * |n|.
    `fast_mode` compares the single number v^T J u per input (random v and u) instead of every element of
    v^T J. `check_forward_ad` also compares the forward-mode product J u (`tinygrad_bn.func.jvp`) with
    central differences. `explain` walks the graph to name the first op whose backward is wrong (done
    anyway when the check fails). Returns a `GradcheckResult` (truthy when all passed); raises
    `GradcheckError` with that report instead when `raise_exception` is true.
    """
    result = _check(fn, inputs, eps, atol, rtol, fast_mode, check_forward_ad)
    return _finish(result, fn, inputs, 1, explain, raise_exception, "gradcheck", eps, atol, rtol)


def _finish(result: GradcheckResult, fn: Callable[..., Tensor], inputs: Sequence[Any], order: int, explain: bool,
            raise_exception: bool, where: str, eps: float, atol: float, rtol: float) -> GradcheckResult:
    """Attach the per-op explanation when asked or when the check failed; raise if asked to."""
    if explain or not result.ok:
        try:
            result.explanation = check_ops(fn, inputs, order=order, eps=eps, atol=atol, rtol=rtol)
            result.explanation.after_failure = not result.ok
        except Exception as err:  # the explanation must never hide the failure it explains
            result.explanation = GraphReport([], 0, order)
            result.explanation.ops.append(OpReport(0, "?", None, [], (), None, 0.0, 0.0, 0.0, True,
                                                   f"could not walk the graph: {err!r}"))
    if raise_exception and not result.ok:
        raise GradcheckError(f"{where} failed for {getattr(fn, '__name__', fn)}:\n{result}")
    return result


def _check(fn: Callable[..., Tensor], inputs: Sequence[Any], eps: float, atol: float, rtol: float, fast_mode: bool,
           check_forward_ad: bool) -> GradcheckResult:
    args = _as_float64_inputs(inputs)
    checked = [i for i, a in enumerate(args) if a.requires_grad]
    total, direction = _scalar(fn, args, None)
    if checked and total.requires_grad:
        analytic = grad(total, [args[i] for i in checked], allow_unused=True)
    else:  # the output does not depend on any input that requires grad: the gradient is zero
        analytic = (None,) * len(checked)
    rng = np.random.default_rng(5678)
    result = GradcheckResult()
    with no_grad():
        for i, g in zip(checked, analytic):
            x = args[i]
            a = np.zeros(x.shape) if g is None else np.asarray(g.data, dtype=np.float64)
            if fast_mode:
                u = rng.standard_normal(x.shape)
                n = _directional(lambda: _scalar(fn, args, direction)[0].item(), x, u, eps)
                result.inputs.append(_report(i, np.sum(a * u), n, atol, rtol, "projected gradient", x.shape))
                continue
            n = np.zeros(x.shape)
            flat = x.data.reshape(-1)  # a view: perturb in place, restore after
            for k in range(flat.size):
                orig = flat[k]
                flat[k] = orig + eps
                up = _scalar(fn, args, direction)[0].item()
                flat[k] = orig - eps
                down = _scalar(fn, args, direction)[0].item()
                flat[k] = orig
                n.reshape(-1)[k] = (up - down) / (2 * eps)
            result.inputs.append(_report(i, a, n, atol, rtol))
        if check_forward_ad:
            for i in checked:
                result.forward_ad.append(_forward_ad_report(fn, args, i, direction, rng, eps, atol, rtol, fast_mode))
    return result


def _directional(value: Callable[[], Any], x: Tensor, u: np.ndarray, eps: float) -> Any:
    """Central difference of value() along u, perturbing x's data in place (restored afterwards)."""
    orig = x.data.copy()
    try:
        x.data[...] = orig + eps * u
        up = value()
        x.data[...] = orig - eps * u
        down = value()
    finally:
        x.data[...] = orig
    return (up - down) / (2 * eps)


def _forward_ad_report(fn: Callable[..., Tensor], args: list[Tensor], i: int, direction: np.ndarray,
                       rng: np.random.Generator, eps: float, atol: float, rtol: float, fast_mode: bool) -> InputReport:
    """J u for input i from func.jvp, against central differences of fn along u."""
    from ..func import jvp  # the transforms import the engine only; imported here to keep testing light

    x = args[i]
    u = rng.standard_normal(x.shape)

    def along_input(xi: Tensor) -> Tensor:
        return fn(*args[:i], xi, *args[i + 1:])

    _, tangent = jvp(along_input, (x.detach(),), (Tensor(u),))
    a = np.asarray(tangent.data, dtype=np.float64)
    n = np.asarray(_directional(lambda: np.array(fn(*args).data, dtype=np.float64), x, u, eps))
    if fast_mode:
        return _report(i, np.sum(a * direction), np.sum(n * direction), atol, rtol, "projected forward AD", x.shape)
    return _report(i, a, n, atol, rtol, "forward AD", x.shape)


def _report(index: int, a: npt.ArrayLike, n: npt.ArrayLike, atol: float, rtol: float, kind: str = "gradient",
            shape: tuple | None = None) -> InputReport:
    """Compare analytic `a` with numerical `n` elementwise; `shape` is the input's (a's, unless projected)."""
    a, n = np.asarray(a, dtype=np.float64), np.asarray(n, dtype=np.float64)
    diff = np.abs(a - n)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    rel = float(np.linalg.norm(a - n) / denom) if denom > 0 else 0.0
    excess = diff - (atol + rtol * np.abs(n))
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.size else ()
    ok = bool(np.all(np.isfinite(a)) and np.all(excess <= 0))
    worst_t = tuple(int(w) for w in worst)
    return InputReport(index, a.shape if shape is None else shape, rel, worst_t,
                       float(a[worst_t]) if a.size else 0.0, float(n[worst_t]) if a.size else 0.0, ok, kind)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    *,
    fast_mode: bool = False,
    explain: bool = False,
) -> GradcheckResult:
    """Check second derivatives: gradcheck applied to the (projected) first derivative of `fn`.

    The first derivative is taken with `create_graph=True`, so this checks that each op's backward is
    itself correctly differentiable (Hessian-vector products, gradient penalties). `explain` (automatic on
    failure) names the first op whose backward, as a function of the op's inputs, is differentiated wrongly
    (e.g. a backward that uses a value of x as a constant).
    """
    rng = np.random.default_rng(4321)
    directions: dict[int, np.ndarray] = {}

    def first_derivative(*args: Tensor) -> Tensor:
        leaves = [a for a in args if a.requires_grad]
        with enable_grad():  # gradcheck evaluates this under no_grad for the numerical part
            total, _ = _scalar(fn, args, None)
            if not total.requires_grad:
                return Tensor(np.zeros(()), dtype=np.float64)
            grads = grad(total, leaves, create_graph=True, allow_unused=True)
        parts = []
        for k, g in enumerate(grads):
            if g is None:
                continue
            if k not in directions:
                directions[k] = rng.standard_normal(g.shape)
            parts.append((g * Tensor(directions[k], dtype=g.dtype)).sum())
        if not parts:
            return Tensor(np.zeros(()), dtype=np.float64)
        out = parts[0]
        for p in parts[1:]:
            out = out + p
        return out

    first_derivative.__name__ = f"d({getattr(fn, '__name__', 'fn')})"
    result = _check(first_derivative, inputs, eps, atol, rtol, fast_mode, False)
    return _finish(result, fn, inputs, 2, explain, raise_exception, "gradgradcheck", eps, atol, rtol)


# ----------------------------------------------------------------------------- the broken-node search


@contextlib.contextmanager
def _recording_params() -> Iterator[dict[int, tuple[Function, dict]]]:
    """Record the keyword parameters (axes, shapes, indices) each op is applied with, by op identity.

    The engine keeps an op's inputs but not its forward keywords, and re-running an op alone needs them,
    so for the duration of this block `Function.apply` is wrapped to note them (single-threaded use).
    """
    recorded: dict[int, tuple[Function, dict]] = {}
    original = Function.__dict__["apply"]

    def apply(cls: type, *inputs: Tensor, **params: Any) -> Tensor:
        out: Tensor = original.__func__(cls, *inputs, **params)
        ctx = getattr(out, "_ctx", None)
        if ctx is not None:
            recorded[id(ctx)] = (ctx, params)  # holding ctx keeps its id unique while we look things up
        return out

    Function.apply = classmethod(apply)  # type: ignore[method-assign,assignment]  # patched for this block only
    try:
        yield recorded
    finally:
        Function.apply = original  # type: ignore[method-assign]  # the original classmethod back


def module_path(scope: Any) -> str | None:
    """An op's module path from its recorded scope: "MLP.1 (BatchNorm1d)", or None outside modules.

    Ops recorded by a backward pass (with create_graph) read "backward of Mul in ...".
    """
    modules, backward_of = [], None
    while scope is not None:
        item, scope = scope
        if isinstance(item, BackwardScope):
            backward_of = backward_of or item.fn.name
        else:
            modules.append(item)
    text = None
    if modules:
        root, inner = modules[-1], modules[0]
        names = {id(m): name for name, m in root.named_modules()}
        name = names.get(id(inner), "")
        text = type(root).__name__ + (f".{name}" if name else "")
        if inner is not root:
            text += f" ({type(inner).__name__})"
    if backward_of:
        return f"backward of {backward_of}" + (f" in {text}" if text else "")
    return text


def check_ops(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    order: int = 1,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
) -> GraphReport:
    """Find the first op of `fn`'s graph whose backward is wrong, checking each op alone.

    Runs fn on float64 copies of the inputs, then, for each recorded op in topological order (inputs
    first), re-runs that op on float64 copies of its recorded inputs and compares its vector-Jacobian
    product with central differences of the op alone, for a random upstream gradient w and a random
    direction u per input: <VJP(w), u> against d/dt <w, op(x + t u)>. With `order=2` it checks instead
    that the backward is itself correctly differentiable: d/dx <VJP(w), z> along u. Stops at the first
    op that fails. Points where the op has a kink (one-sided differences disagree) are skipped.
    """
    if order not in (1, 2):
        raise ValueError(f"check_ops: order must be 1 or 2, got {order}")
    args = _as_float64_inputs(inputs)
    with enable_grad(), _recording_params() as recorded:
        out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"check_ops: the function must return a Tensor, got {type(out).__name__}")
    nodes = [(n, n._ctx) for n in topological_order([out]) if n._ctx is not None] if out.requires_grad else []
    rng = np.random.default_rng(seed)
    report = GraphReport([], len(nodes), order)
    for position, (node, ctx) in enumerate(nodes):
        entry = recorded.get(id(ctx))
        op = _LocalOp(ctx, node, None if entry is None else entry[1])
        checked = op.check(position, order, rng, eps, atol, rtol)
        report.ops.append(checked)
        if not checked.ok:
            break
    return report


class _LocalOp:
    """One recorded op, re-run alone on float64 copies of its recorded inputs."""

    def __init__(self, ctx: Function, node: Tensor, params: dict[str, Any] | None):
        self.cls = type(ctx)
        self.recorded = params is not None  # else not seen by the recorder: the op is tried without keywords
        self.params = {} if params is None else params
        self.parents = ctx.parents
        self.arrays = [p.data.astype(np.float64) if p.dtype.kind == "f" else p.data for p in ctx.parents]
        self.checked = [i for i, (p, need) in enumerate(zip(ctx.parents, ctx.needs)) if need and p.dtype.kind == "f"]
        self.base = OpReport(0, ctx.name, module_path(ctx.scope), [p.shape for p in ctx.parents], node.shape,
                             None, 0.0, 0.0, 0.0, True)

    def run(self, arrays: list[np.ndarray]) -> tuple[list[Tensor], Tensor]:
        """(leaves, output): the op applied to fresh leaves (the checked ones require grad)."""
        leaves = [Tensor(a, requires_grad=i in self.checked) for i, a in enumerate(arrays)]
        with enable_grad():
            return leaves, self.cls.apply(*leaves, **self.params)

    def vjp(self, arrays: list[np.ndarray], w: np.ndarray, create: bool) -> tuple[list[Tensor], list]:
        leaves, y = self.run(arrays)
        if not y.requires_grad:
            return leaves, [None] * len(self.checked)
        with enable_grad():
            return leaves, list(grad(y, [leaves[i] for i in self.checked], grad_outputs=Tensor(w),
                                     create_graph=create, allow_unused=True))

    def check(self, position: int, order: int, rng: np.random.Generator, eps: float, atol: float,
              rtol: float) -> OpReport:
        report = replace(self.base, position=position, order=order)
        if not self.recorded:  # not seen by the recorder (e.g. fn is a bound `Op.apply`): try no keywords
            try:
                _, y = self.run(self.arrays)
            except TypeError as err:
                report.note = f"its forward keywords were not recorded and it needs some ({err})"
                return report
        _, y = self.run(self.arrays)
        if y.dtype != np.float64:
            report.note = f"its output is {y.dtype} even for float64 input, too coarse for central differences"
            return report
        w = rng.standard_normal(y.shape)
        zs = [rng.standard_normal(self.arrays[i].shape) for i in self.checked]

        def value(arrays: list[np.ndarray]) -> float:
            """The scalar whose derivative is checked: <w, op(x)>, or <VJP(w), z> for order 2."""
            if order == 1:
                with no_grad():
                    return float(np.sum(w * self.cls.apply(*map(Tensor, arrays), **self.params).data))
            grads = self.vjp(arrays, w, create=False)[1]
            return float(sum(np.sum(g.data * z) for g, z in zip(grads, zs) if g is not None))

        if order == 1:
            analytic = self.vjp(self.arrays, w, create=False)[1]
        else:
            leaves, grads = self.vjp(self.arrays, w, create=True)
            with enable_grad():
                terms = [(g * Tensor(z)).sum() for g, z in zip(grads, zs) if g is not None and g.requires_grad]
            sources = [leaves[i] for i in self.checked]
            if terms:
                analytic = list(grad(sum(terms[1:], terms[0]), sources, allow_unused=True))
            else:
                analytic = [None] * len(sources)
        for i, g in zip(self.checked, analytic):
            u = rng.standard_normal(self.arrays[i].shape)
            a = 0.0 if g is None else float(np.sum(g.data * u))

            def along(t: float, i: int = i, u: np.ndarray = u) -> float:
                arrays = list(self.arrays)
                arrays[i] = self.arrays[i] + t * u
                return value(arrays)

            with np.errstate(all="ignore"):
                up, mid, down = along(eps), along(0.0), along(-eps)
            n = (up - down) / (2 * eps)
            forward_slope, backward_slope = (up - mid) / eps, (mid - down) / eps
            if np.isfinite(a) and np.isfinite(n) and abs(a - n) <= atol + rtol * abs(n):
                continue
            if np.isfinite(n) and abs(forward_slope - backward_slope) > 10 * (atol + rtol * abs(n)):
                report.note = f"not differentiable at its recorded input {i} (one-sided differences disagree)"
                continue
            report.ok, report.input, report.analytic, report.numerical = False, i, a, n
            report.error = abs(a - n) / max(abs(a), abs(n), 1e-300) if np.isfinite(a - n) else float("inf")
            break
        return report
