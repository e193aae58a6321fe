"""Shared pieces of the transform tests: central differences, directional derivatives and a BN MLP."""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tinygrad_bn import Tensor, func, nn


def central(f: Callable[[float], np.ndarray], eps: float) -> np.ndarray:
    """d/dt f(t) at 0 by the fourth-order central difference (error ~ eps**4)."""
    return (8 * (f(eps) - f(-eps)) - (f(2 * eps) - f(-2 * eps))) / (12 * eps)


def shifted(arrays: list[np.ndarray], directions: list[np.ndarray], t: float) -> list[Tensor]:
    return [Tensor(a + t * d) for a, d in zip(arrays, directions)]


def directional(f: Callable[..., Tensor], directions: list[np.ndarray], order: int) -> Callable[..., Tensor]:
    """x -> d^order/dt^order f(x + t u) at t = 0, built by nesting func.grad `order` times."""
    g = f
    for _ in range(order):
        g = _along(g, directions)
    return g


def _along(g: Callable[..., Tensor], directions: list[np.ndarray]) -> Callable[..., Tensor]:
    nums = tuple(range(len(directions)))

    def derivative(*xs: Tensor) -> Tensor:
        grads = func.grad(g, argnums=nums)(*xs)
        total = (grads[0] * Tensor(directions[0])).sum()
        for d, u in zip(grads[1:], directions[1:]):
            total = total + (d * Tensor(u)).sum()
        return total

    return derivative


def bn_mlp(seed: int = 0, sizes: tuple = (4, 6, 3), batchnorm: bool = True) -> nn.Sequential:
    """Linear, BatchNorm1d (training mode), tanh, Linear, in float64, with non-trivial BN parameters."""
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = [nn.Linear(sizes[0], sizes[1], dtype=np.float64)]
    if batchnorm:
        layers.append(nn.BatchNorm1d(sizes[1], dtype=np.float64))
    layers += [nn.Tanh(), nn.Linear(sizes[1], sizes[2], dtype=np.float64)]
    model = nn.Sequential(*layers)
    for _, p in model.named_parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.7
    return model


def mse(out: Tensor, target: np.ndarray) -> Tensor:
    diff = out - Tensor(target)
    return (diff * diff).mean()
