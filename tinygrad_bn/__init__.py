"""tinygrad_bn: a small autograd framework on numpy whose showcase is batch normalization.

The engine is `Tensor` (tensor.py) with its primitive ops (ops.py) and reverse-mode autodiff
(autograd.py): every op's backward is written in Tensor operations, so gradients of gradients work.
"""
import importlib
from typing import Any

from . import nn, optim
from .autograd import OpError, TrainingDivergedError, enable_grad, grad, is_grad_enabled, no_grad
from .compiler import CompiledStep, JitError, jit
from .debug import AnomalyError, detect_anomaly, profile
from .random import manual_seed
from .serialization import load, save
from .tensor import (
    Tensor,
    arange,
    cat,
    concatenate,
    eye,
    full,
    full_like,
    maximum,
    minimum,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    stack,
    tensor,
    where,
    zeros,
    zeros_like,
)

__all__ = [
    "Tensor", "tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled",
    "concatenate", "cat", "stack", "where", "maximum", "minimum", "manual_seed", "save", "load", "OpError",
    "zeros", "ones", "full", "arange", "eye", "rand", "randn", "zeros_like", "ones_like", "full_like", "rand_like",
    "randn_like", "nn", "optim", "jit", "JitError", "CompiledStep", "TrainingDivergedError",
    "detect_anomaly", "profile", "AnomalyError",
]
__version__ = "0.1.0"  # the one place the version is defined: pyproject.toml reads it from here

# Subpackages reachable as attributes after `import tinygrad_bn`, as `torch.nn` is after `import torch`:
# nn and optim are imported above; the others load on first use, so importing the package stays fast.
_LAZY = ("data", "train", "search", "experiments", "viz", "testing", "func", "compiler")


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
