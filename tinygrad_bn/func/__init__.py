"""Function transforms with torch.func's names: grad, vjp, jvp, hvp, Jacobians, Hessians, functional_call.

They compose to any depth (`grad(grad(grad(f)))`, `hessian(f) = jacrev(jacrev(f))`) because every op's
backward in this engine is made of differentiable ops. Arguments and outputs may be Tensors or nested
tuples, lists and dicts of Tensors. See docs/func.md.
"""
from ._module import functional_call
from .transforms import (
    grad,
    grad_and_value,
    hessian,
    hvp,
    jacfwd,
    jacobian,
    jacrev,
    jvp,
    linearize,
    vjp,
)

__all__ = ["grad", "grad_and_value", "vjp", "jvp", "linearize", "hvp", "jacrev", "jacfwd", "jacobian", "hessian",
           "functional_call"]
