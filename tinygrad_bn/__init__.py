"""tinygrad_bn: a small autograd framework on numpy whose showcase is batch normalization.

The engine is `Tensor` (tensor.py) with its primitive ops (ops.py) and reverse-mode autodiff
(autograd.py): every op's backward is written in Tensor operations, so gradients of gradients work.
"""
from .autograd import OpError, enable_grad, grad, is_grad_enabled, no_grad
from .random import manual_seed
from .serialization import load, save
from .tensor import Tensor, concatenate, maximum, minimum, stack, tensor, where

__all__ = [
    "Tensor", "tensor", "grad", "no_grad", "enable_grad", "is_grad_enabled",
    "concatenate", "stack", "where", "maximum", "minimum", "manual_seed", "save", "load", "OpError",
]
__version__ = "0.1.0"
