"""Module, Parameter and the containers: the bookkeeping PyTorch users know, over plain Tensors.

A Module registers what is assigned to it: a `Parameter` becomes a parameter, another Module a child,
and tensors given to `register_buffer` buffers (running statistics). Names and layouts follow PyTorch,
so `state_dict()` keys match a PyTorch model's and its arrays load here as they are.
"""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, overload

import numpy as np

from ..autograd import STATE, replayed
from ..tensor import Tensor


def scope_name(scope: Any) -> str | None:
    """`Type 'path'` of the innermost module in a `STATE.scope` chain, for error messages; None outside modules.

    The path is the dotted name (as in `named_modules`) from the outermost module being called, e.g.
    `BatchNorm1d 'model.3'`; a module called on its own is named by its type alone.
    """
    modules = []
    while scope is not None:
        item, scope = scope
        if isinstance(item, Module):  # skip the markers a create_graph backward puts in the chain
            modules.append(item)
    if not modules:
        return None
    names: list[str] = []
    for child, parent in zip(modules, modules[1:]):
        name = next((n for n in parent._module_names if getattr(parent, n) is child), None)
        if name is None:  # called by a module it is not registered in: the path stops here
            break
        names.append(name)
    path = ".".join(reversed(names))
    return f"{type(modules[0]).__name__} '{path}'" if path else type(modules[0]).__name__


class Parameter(Tensor):
    """A Tensor that is a trainable weight of a Module: it always requires grad."""

    __slots__ = ()

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


class Module:
    """Base class of layers and models: define `forward`, call the module, and collect its parameters.

    Calling a module runs `forward` with the module recorded as the current scope, so graph drawings can
    group the ops it recorded (a pointer assignment: it costs nothing when no one draws).
    """

    training: bool
    # name -> None, in registration order (dicts as ordered sets): set in __init__, kept by __setattr__
    _parameter_names: dict[str, None]
    _buffer_names: dict[str, None]
    _module_names: dict[str, None]

    def __init__(self) -> None:
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameter_names", {})
        object.__setattr__(self, "_buffer_names", {})
        object.__setattr__(self, "_module_names", {})

    # ------------------------------------------------------------------ registration
    def __setattr__(self, name: str, value: Any) -> None:
        if "_parameter_names" not in self.__dict__:
            raise AttributeError(f"{type(self).__name__}: call super().__init__() before assigning attributes")
        if isinstance(value, Parameter):
            target = self._parameter_names
        elif isinstance(value, Module):
            target = self._module_names
        elif name in self.__dict__.get("_buffers_declared", ()):
            target = self._buffer_names
        elif name in self._parameter_names and value is not None:
            raise TypeError(f"{type(self).__name__}: cannot assign a {type(value).__name__} to parameter {name!r}; "
                            "assign an nn.Parameter (or None), or change its values through .data")
        else:
            target = None
        for registry in (self._parameter_names, self._buffer_names, self._module_names):
            if registry is not target:
                registry.pop(name, None)
        if target is not None:
            target[name] = None  # a reassigned name keeps its place, so state_dict order stays PyTorch's
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        for registry in (self._parameter_names, self._buffer_names, self._module_names):
            registry.pop(name, None)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None) -> None:
        """Register a non-trained tensor (e.g. running statistics) that is saved in the state_dict."""
        if tensor is not None and not isinstance(tensor, Tensor):
            tensor = Tensor(tensor)
        if tensor is not None and tensor.requires_grad:
            raise ValueError(f"register_buffer: buffer {name!r} must not require grad")
        self.__dict__.setdefault("_buffers_declared", set()).add(name)
        setattr(self, name, tensor)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Register a parameter (None keeps the name, as for a layer built with bias=False)."""
        setattr(self, name, param)
        if param is None:
            self._parameter_names[name] = None

    def add_module(self, name: str, module: Module | None) -> None:
        setattr(self, name, module)
        if module is None:
            self._module_names[name] = None

    # ------------------------------------------------------------------ running
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if STATE.tracer is not None:  # a compiled step's guard: replayed only while this mode holds
            STATE.tracer.record_module(self)
        previous = STATE.scope
        STATE.scope = (self, previous)  # a linked chain of enclosing modules, innermost first
        try:
            return self.forward(*args, **kwargs)
        finally:
            STATE.scope = previous

    # ------------------------------------------------------------------ traversal
    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name in self._module_names:
            module = getattr(self, name)
            if module is not None:
                yield name, module

    def children(self) -> Iterator[Module]:
        return (m for _, m in self.named_children())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every descendant, depth first, each once, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:
                continue
            seen.add(id(module))
            yield name, module
            kids = [(f"{name}.{n}" if name else n, m) for n, m in module.named_children()]
            stack.extend(reversed(kids))

    def modules(self) -> Iterator[Module]:
        return (m for _, m in self.named_modules())

    def _named_members(self, registry: str, recurse: bool) -> Iterator[tuple[str, Any]]:
        """(dotted name, value) of the non-None entries of `registry` ("_parameter_names": Parameters,
        "_buffer_names": Tensors), each object once."""
        seen: set[int] = set()
        modules = self.named_modules() if recurse else [("", self)]
        for prefix, module in modules:
            for name in getattr(module, registry):
                value = getattr(module, name)
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, recurse: bool = True) -> Iterator[tuple[str, Parameter]]:
        return self._named_members("_parameter_names", recurse)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        return (p for _, p in self.named_parameters(recurse))

    def named_buffers(self, recurse: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffer_names", recurse)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        return (b for _, b in self.named_buffers(recurse))

    # ------------------------------------------------------------------ modes and gradients
    def train(self, mode: bool = True) -> Module:
        """Set training mode here and in every descendant (BatchNorm and Dropout behave differently)."""
        for module in self.modules():
            object.__setattr__(module, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    @replayed
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (a compiled step repeats this at each replay)."""
        for p in self.parameters():
            p.grad = None

    # ------------------------------------------------------------------ dtype
    def to(self, dtype: Any) -> Module:
        """Convert floating parameters and buffers to `dtype` in place; returns self."""
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"to: only floating dtypes are supported for modules, got {dtype}")
        for t in list(self.parameters()) + list(self.buffers()):
            if t.dtype.kind == "f":
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad = Tensor._wrap(t.grad.data.astype(dtype))
        return self

    def float(self) -> Module:
        return self.to(np.float32)

    def double(self) -> Module:
        return self.to(np.float64)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Copies of every parameter and buffer, by dotted name (PyTorch's keys)."""
        state: OrderedDict[str, np.ndarray] = OrderedDict()
        for prefix, module in self.named_modules():
            for registry in ("_parameter_names", "_buffer_names"):
                for name in getattr(module, registry):
                    value = getattr(module, name)
                    if value is not None:
                        state[f"{prefix}.{name}" if prefix else name] = np.array(value.data, copy=True)
        return state

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> tuple[list[str], list[str]]:
        """Copy values into the existing parameters and buffers, keeping this module's dtypes.

        Accepts numpy arrays or Tensors. Returns (missing_keys, unexpected_keys); with `strict`, any
        missing or unexpected key, and always any shape mismatch, is a RuntimeError that lists them all.
        """
        targets: dict[str, Tensor] = {}
        for prefix, module in self.named_modules():
            for registry in ("_parameter_names", "_buffer_names"):
                for name in getattr(module, registry):
                    value = getattr(module, name)
                    if value is not None:
                        targets[f"{prefix}.{name}" if prefix else name] = value
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        mismatched = []
        arrays = {}
        for key, target in targets.items():
            if key in state_dict:
                value = state_dict[key]
                arr = np.asarray(value.data if isinstance(value, Tensor) else value)
                if arr.shape != target.shape:
                    mismatched.append(f"{key}: checkpoint {arr.shape}, model {target.shape}")
                arrays[key] = arr
        problems = []
        if strict and missing:
            problems.append("missing keys: " + ", ".join(missing))
        if strict and unexpected:
            problems.append("unexpected keys: " + ", ".join(unexpected))
        if mismatched:
            problems.append("shape mismatches: " + "; ".join(mismatched))
        if problems:
            raise RuntimeError(f"load_state_dict into {type(self).__name__}: " + " | ".join(problems))
        for key, arr in arrays.items():
            target = targets[key]
            if isinstance(target.data, np.ndarray) and target.data.flags.writeable:
                target.data[...] = arr.astype(target.dtype, copy=False)
            else:
                target.data = np.array(arr, dtype=target.dtype)
        return missing, unexpected

    # ------------------------------------------------------------------ printing
    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(m).replace("\n", "\n  ") for name, m in self.named_children()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"


class Sequential(Module):
    """Modules applied one after another; children are named "0", "1", ... as in PyTorch."""

    @overload
    def __init__(self, *modules: Module) -> None: ...

    @overload
    def __init__(self, modules: dict[str, Module], /) -> None: ...  # named children, in the dict's order

    def __init__(self, *modules: Any) -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], (dict, OrderedDict)):
            for name, m in modules[0].items():
                self.add_module(str(name), m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self._module_names)), module)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self.children())
        if isinstance(index, slice):
            return Sequential(*items[index])
        return items[index]

    def __len__(self) -> int:
        return len(self._module_names)

    def __iter__(self) -> Iterator[Module]:
        return self.children()

    def forward(self, x: Any) -> Any:
        for module in self.children():
            x = module(x)
        return x


class ModuleList(Module):
    """A list of modules whose parameters are registered (children named "0", "1", ...)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self._module_names)), module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __getitem__(self, index: int | slice) -> Any:
        items = list(self.children())
        return ModuleList(items[index]) if isinstance(index, slice) else items[index]

    def __len__(self) -> int:
        return len(self._module_names)

    def __iter__(self) -> Iterator[Module]:
        return self.children()
