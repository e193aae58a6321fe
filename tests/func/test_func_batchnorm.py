"""Third and fourth derivatives through batch norm in training mode, against finite differences of the order
below: exact because BN is composed from primitives whose backward is itself differentiable."""
from __future__ import annotations

import numpy as np
import pytest
from func_cases import central, directional, shifted

from tinygrad_bn import Tensor
from tinygrad_bn.nn import functional as F

SHAPES = {"2d": (6, 3), "4d": (3, 2, 2, 2)}


def case(shape: tuple, affine: bool, seed: int = 0):
    """(loss of the arguments, argument arrays, one random direction per argument)."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    weights = rng.standard_normal(shape)  # a fixed random readout: sum(BN(x)) alone is constant in x
    arrays = [rng.standard_normal(shape) * 1.5 + 0.3]
    if affine:
        arrays += [rng.uniform(0.5, 1.5, c), rng.standard_normal(c) * 0.5]

    def loss(x: Tensor, weight: Tensor | None = None, bias: Tensor | None = None) -> Tensor:
        y = F.batch_norm(x, None, None, weight, bias, training=True)
        return (y.tanh() * Tensor(weights)).sum()

    directions = [rng.standard_normal(a.shape) for a in arrays]
    return loss, arrays, directions


@pytest.mark.parametrize("affine", [False, True], ids=["plain", "affine"])
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
@pytest.mark.parametrize("order", [3, 4])
def test_higher_derivative_matches_differences_of_the_order_below(order, shape, affine):
    loss, arrays, directions = case(shape, affine)
    exact = directional(loss, directions, order)(*map(Tensor, arrays)).item()
    below = directional(loss, directions, order - 1)
    numeric = central(lambda t: below(*shifted(arrays, directions, t)).item(), 1e-3)
    assert exact == pytest.approx(numeric, rel=1e-6, abs=1e-8)
    assert abs(exact) > 1e-2  # a real check, not 0 == 0
