"""Numerical gradient checks: analytic gradients from autodiff against central differences, in float64.

The check is a vector-Jacobian product: for a fixed random `v` of the output's shape, autodiff gives
d<v, f(x)>/dx, and central differences of <v, f(x)> give the same thing numerically. One backward and
2 * x.size forward evaluations cover the whole Jacobian in a random direction, cheaply.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import enable_grad, grad, no_grad
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

    def __str__(self) -> str:
        status = "ok" if self.ok else "MISMATCH"
        return (
            f"input {self.index} {self.shape}: {status}, relative error {self.relative_error:.3e}; "
            f"worst element {self.worst_index}: analytic {self.analytic:.8g} vs numerical {self.numerical:.8g}"
        )


@dataclass
class GradcheckResult:
    """The per-input reports of one check; truthy when every input passed."""

    inputs: list[InputReport] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.inputs)

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return "\n".join(str(r) for r in self.inputs) or "no input requires grad"


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


def _scalar(fn: Callable, args: Sequence[Tensor], direction: np.ndarray | None) -> tuple[Tensor, np.ndarray]:
    out = fn(*args)
    if not isinstance(out, Tensor):
        raise TypeError(f"gradcheck: the function must return a Tensor, got {type(out).__name__}")
    if direction is None:
        direction = np.random.default_rng(1234).standard_normal(out.shape)
    return (out * Tensor(direction, dtype=out.dtype)).sum(), direction


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Check autodiff's gradients of `fn(*inputs)` against central differences, per input, in float64.

    Each floating input is copied to a float64 leaf. An element passes when |a - n| <= atol + rtol * |n|.
    Returns a `GradcheckResult` (truthy when all passed) with, per input, the relative error and the worst
    element; raises `GradcheckError` with that report instead when `raise_exception` is true.
    """
    args = _as_float64_inputs(inputs)
    checked = [i for i, a in enumerate(args) if a.requires_grad]
    total, direction = _scalar(fn, args, None)
    if checked and total.requires_grad:
        analytic = grad(total, [args[i] for i in checked], allow_unused=True)
    else:  # the output does not depend on any input that requires grad: the gradient is zero
        analytic = (None,) * len(checked)
    result = GradcheckResult()
    with no_grad():
        for i, g in zip(checked, analytic):
            x = args[i]
            a = np.zeros(x.shape) if g is None else np.asarray(g.data, dtype=np.float64)
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
    if raise_exception and not result.ok:
        raise GradcheckError(f"gradcheck failed for {getattr(fn, '__name__', fn)}:\n{result}")
    return result


def _report(index: int, a: np.ndarray, n: np.ndarray, atol: float, rtol: float) -> InputReport:
    diff = np.abs(a - n)
    denom = np.linalg.norm(a) + np.linalg.norm(n)
    rel = float(np.linalg.norm(a - n) / denom) if denom > 0 else 0.0
    excess = diff - (atol + rtol * np.abs(n))
    worst = np.unravel_index(int(np.argmax(excess)), a.shape) if a.size else ()
    ok = bool(np.all(np.isfinite(a)) and np.all(excess <= 0))
    worst_t = tuple(int(w) for w in worst)
    return InputReport(index, a.shape, rel, worst_t,
                       float(a[worst_t]) if a.size else 0.0, float(n[worst_t]) if a.size else 0.0, ok)


def gradgradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> GradcheckResult:
    """Check second derivatives: gradcheck applied to the (projected) first derivative of `fn`.

    The first derivative is taken with `create_graph=True`, so this checks that each op's backward is
    itself correctly differentiable (Hessian-vector products, gradient penalties).
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
    return gradcheck(first_derivative, inputs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception)
