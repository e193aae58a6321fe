"""grad, vjp, jvp, hvp and Jacobians as function transforms, with torch.func's names and semantics.

Every transform runs the function once with its differentiated arguments replaced by fresh tensors to
differentiate with respect to, then walks the recorded graph backwards with `autograd.grad`. When those
arguments already take part in an enclosing differentiation (an outer transform, or tensors of the
caller's that require grad), the fresh tensors stay connected to them (the `Alias` op) and the backward
pass is itself recorded (`create_graph=True`), so the result can be differentiated again: `grad(grad(f))`
works to any depth because every op's backward is made of differentiable ops. Otherwise nothing extra
is recorded and the results come back as plain tensors.

Forward mode uses the double-VJP identity: g(u) = J^T u is linear in u, so the VJP of g with respect to
u, taken with cotangent t, is (J^T)^T t = J t. It needs no forward rule per op.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Literal, overload

import numpy as np

from .. import autograd
from ..autograd import Function, enable_grad, is_grad_enabled, topological_order
from ..autograd import Tensor as TensorLike
from ..tensor import Tensor, stack
from ._pytree import Spec, flatten, tensor_leaves, unflatten

Argnums = int | tuple[int, ...]


class Alias(Function):
    """The identity: a new tensor to differentiate with respect to that stays connected to its input."""

    saves_values = False

    def forward(self, a: np.ndarray) -> np.ndarray:
        return a

    def backward(self, g: TensorLike) -> tuple[TensorLike]:
        return (g,)


def _zeros_like(x: Tensor) -> Tensor:
    return Tensor(np.zeros(x.shape, dtype=x.dtype))


def _normalize_argnums(argnums: Argnums, nargs: int, where: str) -> tuple[tuple[int, ...], bool]:
    """(argument positions, whether a single int was given); errors name the transform."""
    single = isinstance(argnums, int)
    if not single and not isinstance(argnums, (tuple, list)):
        raise TypeError(f"{where}: argnums must be an int or a tuple of ints, got {argnums!r}")
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise ValueError(f"{where}: argnums must not be empty")
    out = []
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TypeError(f"{where}: argnums must be an int or a tuple of ints, got {argnums!r}")
        if not -nargs <= a < nargs:
            raise ValueError(f"{where}: argnums {a} is out of range for a function called with {nargs} "
                             f"positional argument{'s' if nargs != 1 else ''}")
        out.append(a % nargs)
    if len(set(out)) != len(out):
        raise ValueError(f"{where}: argnums {argnums!r} repeats an argument")
    return tuple(out), single


def _track(x: Tensor, connect: bool, where: str) -> Tensor:
    """A tensor with x's values to differentiate with respect to (connected to x when `connect`)."""
    if x.dtype.kind != "f":
        raise TypeError(f"{where}: can only differentiate with respect to floating-point Tensors, got dtype {x.dtype}")
    if connect and x.requires_grad:
        return Alias.apply(x)
    return x.detach().requires_grad_()


def _reaches_outside(outputs: Sequence[Tensor], own: Sequence[Tensor]) -> bool:
    """True when the outputs depend on a tensor requiring grad that is not one of `own`: then the
    results must stay differentiable (an enclosing transform, or the caller, differentiates them)."""
    roots = [o for o in outputs if o.requires_grad]
    if not roots:
        return False
    own_ids = {id(t) for t in own}
    return any(node._ctx is None and id(node) not in own_ids for node in topological_order(roots))


class _Traced:
    """One run of `f` with the arguments at `argnums` tracked; the shared first step of every transform."""

    def __init__(self, f: Callable, args: tuple, kwargs: dict, argnums: Argnums, has_aux: bool, where: str):
        if not callable(f):
            raise TypeError(f"{where}: expected a function, got {type(f).__name__}")
        self.where = where
        self.nums, self.single = _normalize_argnums(argnums, len(args), where)
        self.outer = is_grad_enabled()  # inside no_grad, nothing is differentiated further
        new_args = list(args)
        self.inputs: list[Tensor] = []  # the tracked tensors, flat over all differentiated arguments
        self.in_specs: list[Spec] = []
        with enable_grad():
            for i in self.nums:
                leaves, spec = tensor_leaves(args[i], where, f"argument {i}")
                tracked = [_track(x, self.outer, where) for x in leaves]
                self.inputs += tracked
                self.in_specs.append(spec)
                new_args[i] = unflatten(tracked, spec)
            result = f(*new_args, **kwargs)
        if has_aux:
            if not isinstance(result, (tuple, list)) or len(result) != 2:
                raise TypeError(f"{where}: with has_aux=True, f must return a pair (output, aux), "
                                f"got {type(result).__name__}")
            result, self.aux = result
        else:
            self.aux = None
        self.outputs, self.out_spec = tensor_leaves(result, where, "the output of f")
        self.outside = self.outer and _reaches_outside(self.outputs, self.inputs)

    @overload
    def pullback(self, cotangents: Sequence[Tensor | None], create_graph: bool, retain_graph: bool = True,
                 zeros: Literal[True] = True) -> list[Tensor]: ...
    @overload
    def pullback(self, cotangents: Sequence[Tensor | None], create_graph: bool, retain_graph: bool = True, *,
                 zeros: Literal[False]) -> list[Tensor | None]: ...

    def pullback(self, cotangents: Sequence[Tensor | None], create_graph: bool, retain_graph: bool = True,
                 zeros: bool = True) -> list[Tensor] | list[Tensor | None]:
        """J^T c for the flat cotangents (None: zero), one result per tracked input (zeros where unused)."""
        roots, seeds = [], []
        for out, c in zip(self.outputs, cotangents):
            if c is not None and out.requires_grad:
                roots.append(out)
                seeds.append(c)
        if roots:
            found = list(autograd.grad(roots, self.inputs, grad_outputs=seeds, retain_graph=retain_graph,
                                       create_graph=create_graph, allow_unused=True))
        else:
            found = [None] * len(self.inputs)
        return [_zeros_like(x) if g is None and zeros else g for g, x in zip(found, self.inputs)]

    def per_argument(self, flat: list[Any]) -> Any:
        """Flat per-input values regrouped like the differentiated arguments (a tuple unless argnums was an int)."""
        groups, start = [], 0
        for spec in self.in_specs:
            groups.append(unflatten(flat[start:start + spec.num_leaves], spec))
            start += spec.num_leaves
        return groups[0] if self.single else tuple(groups)

    def keep(self, tree: Any) -> Any:
        """Outputs as returned to the caller: detached unless something outside differentiates them."""
        if self.outside:
            return tree
        leaves, spec = flatten(tree)
        return unflatten([x.detach() if isinstance(x, Tensor) else x for x in leaves], spec)

    def output(self) -> Any:
        return self.keep(unflatten(list(self.outputs), self.out_spec))

    def scalar_output(self) -> Tensor:
        """The single one-element output that grad and hvp need; a clear error otherwise."""
        if self.out_spec.kind != "leaf":
            raise TypeError(f"{self.where}: f must return a single Tensor (a scalar loss), got a "
                            f"{self.out_spec.kind} of {len(self.outputs)}; use jacrev or vjp for several outputs")
        out = self.outputs[0]
        if out.size != 1:
            raise RuntimeError(f"{self.where}: f must return a scalar (a one-element Tensor), got shape {out.shape}; "
                               "reduce it first (e.g. .sum()), or use jacrev or vjp")
        return out


def _check_like(given: Any, reference: list[Tensor], spec: Spec, where: str, what: str) -> list[Tensor]:
    """Flat tensors of `given`, checked to have the structure of `spec` and the references' shapes."""
    leaves, given_spec = tensor_leaves(given, where, what)
    if given_spec != spec:
        raise ValueError(f"{where}: {what} must have the same structure as the "
                         f"{'output' if 'cotangent' in what else 'primals'} ({spec.num_leaves} tensors)")
    out = []
    for k, (t, ref) in enumerate(zip(leaves, reference)):
        if t.shape != ref.shape:
            raise ValueError(f"{where}: {what} {k} has shape {t.shape}, expected {ref.shape}")
        out.append(t if t.dtype == ref.dtype else t.astype(ref.dtype))
    return out


# ----------------------------------------------------------------------------- reverse mode


def grad_and_value(f: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """`f` -> a function returning (gradient of f, value of f) at its arguments.

    f must return a one-element Tensor (with `has_aux`, a pair (that Tensor, anything)). The gradient has
    the structure of the argument(s) at `argnums` (a Tensor, or a tuple/list/dict of them); a tuple of
    argnums gives a tuple of gradients. With `has_aux` the result is (gradient, (value, aux)).
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> tuple[Any, Any]:
        t = _Traced(f, args, kwargs, argnums, has_aux, "grad")
        out = t.scalar_output()
        seed = Tensor(np.ones(out.shape, dtype=out.dtype))
        g = t.per_argument(t.pullback([seed], create_graph=t.outside, retain_graph=t.outside))
        value = t.keep(out)
        return (g, (value, t.keep(t.aux))) if has_aux else (g, value)

    return wrapper


def grad(f: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """`f` -> its gradient function, as torch.func.grad: `grad(f)(x)` is df/dx; compose freely (grad(grad(f))).

    With `has_aux`, f returns (loss, aux) and the result is (gradient, aux).
    """
    both = grad_and_value(f, argnums, has_aux)

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        g, value = both(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(f: Callable, *primals: Any, has_aux: bool = False) -> tuple:
    """(f(*primals), vjp_fn): vjp_fn(cotangents) gives the vector-Jacobian products, one per primal.

    The cotangents have the structure and shapes of f's output; vjp_fn can be called many times.
    With `has_aux` the result is (output, vjp_fn, aux).
    """
    if not primals:
        raise ValueError("vjp: give at least one primal to differentiate with respect to")
    t = _Traced(f, primals, {}, tuple(range(len(primals))), has_aux, "vjp")

    def vjp_fn(cotangents: Any) -> tuple:
        cots = _check_like(cotangents, t.outputs, t.out_spec, "vjp_fn", "cotangent")
        create = is_grad_enabled() and (t.outside or any(c.requires_grad for c in cots))
        products: tuple = t.per_argument(t.pullback(cots, create_graph=create))  # a tuple: argnums is one
        return products

    return (t.output(), vjp_fn, t.keep(t.aux)) if has_aux else (t.output(), vjp_fn)


def jacrev(f: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """`f` -> its Jacobian function by reverse mode: one vector-Jacobian product per output element.

    For an output of shape O and an input of shape I the block has shape O + I. Outputs and inputs may be
    pytrees: the result is the output's structure holding, per output, the inputs' structure of blocks.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = _Traced(f, args, kwargs, argnums, has_aux, "jacrev")
        per_output = []
        for k, out in enumerate(t.outputs):
            rows = []
            for j in range(out.size if out.requires_grad else 0):
                cots: list[Tensor | None] = [None] * len(t.outputs)
                cots[k] = _one_hot(out, j)
                rows.append(t.pullback(cots, create_graph=t.outside))
            blocks = [_assemble([r[i] for r in rows], out, x, axis=0) for i, x in enumerate(t.inputs)]
            per_output.append(t.per_argument(blocks))
        jac = unflatten(per_output, t.out_spec)
        return (jac, t.keep(t.aux)) if has_aux else jac

    return wrapper


def _one_hot(like: Tensor, j: int) -> Tensor:
    e = np.zeros(like.size, dtype=like.dtype)
    e[j] = 1
    return Tensor(e.reshape(like.shape))


def _assemble(pieces: list[Tensor], out: Tensor, x: Tensor, axis: int) -> Tensor:
    """Rows (axis 0, each of x's shape) or columns (axis -1, each of out's shape) as a block O + I."""
    if not pieces:
        return Tensor(np.zeros(out.shape + x.shape, dtype=np.result_type(out.dtype, x.dtype)))
    return stack(pieces, axis=axis).reshape(out.shape + x.shape)


# ----------------------------------------------------------------------------- forward mode


class _Linearized:
    """J t for any tangent t, from one forward and one recorded backward (the double-VJP identity).

    g(u) = J^T u is recorded with dummy cotangents u (zeros: g is linear in u, so their value does not
    matter); each push is one backward of g with respect to u, seeded with the tangents.
    """

    def __init__(self, t: _Traced):
        self.t = t
        self.us = [Tensor(np.zeros(o.shape, dtype=o.dtype), requires_grad=True) if o.requires_grad else None
                   for o in t.outputs]
        with enable_grad():
            self.gs = t.pullback(self.us, create_graph=True, zeros=False)

    def push(self, tangents: Sequence[Tensor | None]) -> list[Tensor]:
        """The output tangents (one per output leaf) for flat input tangents (None: zero)."""
        t = self.t
        pairs = [(g, v) for g, v in zip(self.gs, tangents) if g is not None and g.requires_grad and v is not None]
        live = [u for u in self.us if u is not None]
        if not pairs or not live:
            return [_zeros_like(o) for o in t.outputs]
        create = is_grad_enabled() and t.outer and (t.outside or any(v.requires_grad for _, v in pairs))
        found = iter(autograd.grad([g for g, _ in pairs], live, grad_outputs=[v for _, v in pairs],
                                   retain_graph=True, create_graph=create, allow_unused=True))
        result = []
        for o, u in zip(t.outputs, self.us):
            d = next(found) if u is not None else None
            result.append(_zeros_like(o) if d is None else d)
        return result


def _primals_tuple(primals: Any, where: str, what: str) -> tuple:
    if not isinstance(primals, (tuple, list)):
        raise TypeError(f"{where}: {what} must be a tuple (one entry per argument of f), got {type(primals).__name__}")
    if not primals:
        raise ValueError(f"{where}: {what} must not be empty")
    return tuple(primals)


def jvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False) -> tuple:
    """(f(*primals), J t): the Jacobian-vector product (forward mode), as torch.func.jvp.

    `primals` and `tangents` are tuples with one entry per argument of f, of matching structure and
    shapes. Computed by the double-VJP identity, so it works for every op (its cost is measured in
    docs/func.md). With `has_aux` the result is (output, jvp_out, aux).
    """
    primals = _primals_tuple(primals, "jvp", "primals")
    t = _Traced(f, primals, {}, tuple(range(len(primals))), has_aux, "jvp")
    flat_tangents = _check_like(tuple(tangents), t.inputs, flatten(primals)[1], "jvp", "tangent")
    out_tangents = unflatten(_Linearized(t).push(flat_tangents), t.out_spec)
    if has_aux:
        return t.output(), out_tangents, t.keep(t.aux)
    return t.output(), out_tangents


def linearize(f: Callable, *primals: Any) -> tuple[Any, Callable]:
    """(f(*primals), jvp_fn) where jvp_fn(*tangents) = J t, reusing one recorded graph (torch.func.linearize)."""
    if not primals:
        raise ValueError("linearize: give at least one primal")
    t = _Traced(f, primals, {}, tuple(range(len(primals))), False, "linearize")
    lin = _Linearized(t)
    primal_spec = flatten(tuple(primals))[1]

    def jvp_fn(*tangents: Any) -> Any:
        flat = _check_like(tuple(tangents), t.inputs, primal_spec, "jvp_fn", "tangent")
        return unflatten(lin.push(flat), t.out_spec)

    return t.output(), jvp_fn


def jacfwd(f: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """`f` -> its Jacobian function by forward mode: one Jacobian-vector product per input element.

    Same result layout as `jacrev`. Here forward mode costs more per product than reverse mode (see
    docs/func.md), so prefer jacrev unless the inputs are much smaller than the outputs.
    """

    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = _Traced(f, args, kwargs, argnums, has_aux, "jacfwd")
        lin = _Linearized(t)
        columns: list[list[list[Tensor]]] = []  # [input][element][output]
        for i, x in enumerate(t.inputs):
            cols = []
            for j in range(x.size):
                tangents: list[Tensor | None] = [None] * len(t.inputs)
                tangents[i] = _one_hot(x, j)
                cols.append(lin.push(tangents))
            columns.append(cols)
        per_output = []
        for k, out in enumerate(t.outputs):
            blocks = [_assemble([c[k] for c in columns[i]], out, x, axis=-1) for i, x in enumerate(t.inputs)]
            per_output.append(t.per_argument(blocks))
        jac = unflatten(per_output, t.out_spec)
        return (jac, t.keep(t.aux)) if has_aux else jac

    return wrapper


def jacobian(f: Callable, argnums: Argnums = 0, has_aux: bool = False) -> Callable:
    """The Jacobian function of `f` (reverse mode: `jacrev`, the cheaper one here)."""
    return jacrev(f, argnums, has_aux)


# ----------------------------------------------------------------------------- second order


def hvp(f: Callable, primals: Sequence[Any], tangents: Sequence[Any], has_aux: bool = False) -> tuple:
    """(f(*primals), H t): the Hessian-vector product of a scalar f, as torch.func.hvp.

    Reverse over reverse: g = grad f recorded, then the gradient of <g, t>. Forward over reverse,
    jvp(grad(f), primals, tangents), gives the same numbers but was measured slower here (docs/func.md),
    because this package's forward mode is itself two reverse passes.
    """
    primals = _primals_tuple(primals, "hvp", "primals")
    t = _Traced(f, primals, {}, tuple(range(len(primals))), has_aux, "hvp")
    out = t.scalar_output()
    flat_tangents = _check_like(tuple(tangents), t.inputs, flatten(primals)[1], "hvp", "tangent")
    with enable_grad():
        gs = t.pullback([Tensor(np.ones(out.shape, dtype=out.dtype))], create_graph=True, zeros=False)
        terms = [(g * v).sum() for g, v in zip(gs, flat_tangents) if g is not None and g.requires_grad]
    if terms:
        dot = functools.reduce(lambda a, b: a + b, terms)
        create = t.outer and (t.outside or any(v.requires_grad for v in flat_tangents))
        found = autograd.grad(dot, t.inputs, create_graph=create, retain_graph=create, allow_unused=True)
    else:
        found = (None,) * len(t.inputs)
    products = [_zeros_like(x) if h is None else h for h, x in zip(found, t.inputs)]
    result = unflatten(products, flatten(primals)[1])
    return (t.output(), result, t.keep(t.aux)) if has_aux else (t.output(), result)


def hessian(f: Callable, argnums: Argnums = 0) -> Callable:
    """`f` -> its Hessian function: jacrev(jacrev(f)); for an input of shape I the block has shape I + I."""
    return jacrev(jacrev(f, argnums), argnums)
