"""SGD's fused update (what a compiled step with fuse=True replays) makes exactly the numpy update's
arithmetic: bit for bit equal parameters and momentum buffers, over steps that create the buffers, with
weight decay, dampening and Nesterov, mixed dtypes in one group and a parameter without a gradient."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bn import Tensor, optim
from tinygrad_bn.compiler.fuse import available

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed (the `fast` extra)")

CONFIGS = {
    "plain": dict(lr=0.1),
    "weight decay": dict(lr=0.1, weight_decay=0.01),
    "momentum": dict(lr=0.05, momentum=0.9, dampening=0.3),
    "nesterov": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3),
}


def parameters(seed: int) -> list[Tensor]:
    rng = np.random.default_rng(seed)
    shapes_dtypes = [((7, 5), np.float32), ((5,), np.float32), ((3, 4), np.float64), ((), np.float32),
                     ((2,), np.float32)]
    return [Tensor(rng.standard_normal(s).astype(d), requires_grad=True) for s, d in shapes_dtypes]


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_fused_sgd_step_equals_the_numpy_update_bit_for_bit(name):
    eager_params, fused_params = parameters(0), parameters(0)
    eager, fused = optim.SGD(eager_params, **CONFIGS[name]), optim.SGD(fused_params, **CONFIGS[name])
    fused_step = fused.lower_step(fuse=True)
    assert fused_step is not None and fused.lower_step(fuse=False) is None
    rng = np.random.default_rng(1)
    for step in range(4):
        for k, (a, b) in enumerate(zip(eager_params, fused_params)):
            if k == 4 and step < 2:  # no gradient yet: left alone, its buffer made later
                a.grad = b.grad = None
                continue
            g = rng.standard_normal(a.shape).astype(a.dtype)
            if k == 1:  # a gradient in another dtype and a strided one take the numpy path
                g = g.astype(np.float64)
            a.grad, b.grad = Tensor(g), Tensor(np.asfortranarray(g) if k == 0 else g)
        eager.step()
        fused_step()
        for a, b in zip(eager_params, fused_params):
            assert a.data.dtype == b.data.dtype
            np.testing.assert_array_equal(a.data, b.data)
        for pa, pb in zip(eager_params, fused_params):
            sa, sb = eager.state.get(id(pa), {}), fused.state.get(id(pb), {})
            assert sa.keys() == sb.keys()
            for key in sa:
                np.testing.assert_array_equal(sa[key], sb[key])
