"""functional_call: run a module with parameters and buffers given as a dict, leaving the module as it was."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..nn.module import Module
from ..tensor import Tensor


def functional_call(
    module: Module,
    parameters_and_buffers: Mapping[str, Tensor] | Sequence[Mapping[str, Tensor]],
    args: Any = (),
    kwargs: dict[str, Any] | None = None,
    *,
    strict: bool = False,
) -> Any:
    """`module(*args, **kwargs)` with the named parameters and buffers replaced by the given tensors.

    Keys are `named_parameters()`/`named_buffers()` names ("0.weight", "1.running_mean"); a tuple of dicts
    is merged (a key given twice is an error). Names left out keep the module's own tensors unless
    `strict`. The module's own tensors are put back afterwards, also when the call raises. This makes a
    loss a function of the weights, so the transforms apply to it:
    `hessian(lambda p: loss(functional_call(model, p, x)))(params)`.
    """
    dicts = [parameters_and_buffers] if isinstance(parameters_and_buffers, Mapping) else list(parameters_and_buffers)
    given: dict[str, Tensor] = {}
    for d in dicts:
        if not isinstance(d, Mapping):
            raise TypeError("functional_call: expected a dict of name -> Tensor (or a tuple of them), "
                            f"got {type(d).__name__}")
        for name, value in d.items():
            if name in given:
                raise ValueError(f"functional_call: {name!r} is given more than once")
            if not isinstance(value, Tensor):
                raise TypeError(f"functional_call: {name!r} must be a Tensor, got {type(value).__name__}")
            given[name] = value
    known = [n for n, _ in module.named_parameters()] + [n for n, _ in module.named_buffers()]
    unexpected = [n for n in given if n not in known]
    if unexpected:
        raise ValueError(f"functional_call: {type(module).__name__} has no parameter or buffer named "
                         f"{', '.join(map(repr, unexpected))}; its names are {', '.join(known)}")
    missing = [n for n in known if n not in given]
    if strict and missing:
        raise ValueError(f"functional_call: strict=True but no value is given for {', '.join(missing)}")
    swapped: list[tuple[Module, str, Any]] = []
    try:
        for name, value in given.items():
            owner, _, attr = _owner(module, name)
            swapped.append((owner, attr, owner.__dict__[attr]))
            object.__setattr__(owner, attr, value)  # bypass registration: the registries keep their names
        call_args = args if isinstance(args, tuple) else (args,)
        return module(*call_args, **(kwargs or {}))
    finally:
        for owner, attr, original in reversed(swapped):
            object.__setattr__(owner, attr, original)


def _owner(module: Module, name: str) -> tuple[Module, str, str]:
    """(the submodule holding `name`, its path, the attribute name) for a dotted name like "0.weight"."""
    path, _, attr = name.rpartition(".")
    owner = module
    for part in path.split(".") if path else ():
        owner = getattr(owner, part)
    return owner, path, attr
