"""Weight initializers, each filling a tensor in place with normal noise of a documented scale.

fan_in is the number of inputs a unit sums over: for a Linear weight of shape (out, in) it is `in`.
    normal_(t, std)       N(0, std^2), a fixed scale (the source material's weight-scale experiment)
    he_normal_(t)         std = sqrt(2 / fan_in)             for ReLU (He et al., 2015)
    xavier_normal_(t)     std = sqrt(1 / fan_in)             "Xavier" as the source material uses it
    glorot_normal_(t)     std = sqrt(2 / (fan_in + fan_out)) Glorot & Bengio (2010); this is what
                                                               torch.nn.init.xavier_normal_ computes
"""
from __future__ import annotations

import math

import numpy as np

from ..random import default_generator
from ..tensor import Tensor


def fans(shape: tuple) -> tuple[int, int]:
    """(fan_in, fan_out) of a weight in PyTorch's layout (out, in, *kernel)."""
    if len(shape) < 2:
        raise ValueError(f"init: fan_in and fan_out need a weight with at least 2 dimensions, got shape {shape}")
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def normal_(tensor: Tensor, std: float = 1.0, mean: float = 0.0, rng: np.random.Generator | None = None) -> Tensor:
    """Fill with N(mean, std^2) noise, in place; returns the tensor."""
    noise = (rng or default_generator()).standard_normal(tensor.shape) * std + mean
    tensor.data[...] = noise.astype(tensor.dtype)
    return tensor


def he_normal_(tensor: Tensor, rng: np.random.Generator | None = None) -> Tensor:
    """He initialization for ReLU nets: std = sqrt(2 / fan_in)."""
    return normal_(tensor, math.sqrt(2.0 / fans(tensor.shape)[0]), rng=rng)


def xavier_normal_(tensor: Tensor, rng: np.random.Generator | None = None) -> Tensor:
    """The source material's Xavier initialization (for sigmoid/tanh): std = sqrt(1 / fan_in)."""
    return normal_(tensor, math.sqrt(1.0 / fans(tensor.shape)[0]), rng=rng)


def glorot_normal_(tensor: Tensor, rng: np.random.Generator | None = None) -> Tensor:
    """Glorot's initialization: std = sqrt(2 / (fan_in + fan_out)) (torch's xavier_normal_)."""
    fan_in, fan_out = fans(tensor.shape)
    return normal_(tensor, math.sqrt(2.0 / (fan_in + fan_out)), rng=rng)


def uniform_(tensor: Tensor, low: float, high: float, rng: np.random.Generator | None = None) -> Tensor:
    """Fill with U(low, high) noise, in place."""
    tensor.data[...] = (rng or default_generator()).uniform(low, high, tensor.shape).astype(tensor.dtype)
    return tensor


def zeros_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 0
    return tensor


def ones_(tensor: Tensor) -> Tensor:
    tensor.data[...] = 1
    return tensor


def std_for(scheme: str | float, fan_in: int, fan_out: int | None = None) -> float:
    """The standard deviation a named scheme ('he'/'relu', 'xavier'/'sigmoid', 'glorot') or a number gives."""
    if isinstance(scheme, (int, float)) and not isinstance(scheme, bool):
        if scheme < 0:
            raise ValueError(f"init: a weight standard deviation must be >= 0, got {scheme}")
        return float(scheme)
    key = str(scheme).lower()
    if key in ("he", "relu"):
        return math.sqrt(2.0 / fan_in)
    if key in ("xavier", "sigmoid", "tanh"):
        return math.sqrt(1.0 / fan_in)
    if key == "glorot":
        if fan_out is None:
            raise ValueError("init: 'glorot' needs fan_out")
        return math.sqrt(2.0 / (fan_in + fan_out))
    raise ValueError(f"init: unknown scheme {scheme!r}; use 'he', 'xavier', 'glorot' or a number")
