"""Every smooth row of the op table through the transforms, against finite differences (no PyTorch needed):
jvp (forward mode by double VJP), jacrev against jacfwd, and Hessian-vector products."""
from __future__ import annotations

import numpy as np
import pytest
from func_cases import central, shifted
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import OPS, OpSpec

from tinygrad_bn import Tensor, func

SMOOTH = [op for op in OPS if op.smooth]


def tolerances(op: OpSpec) -> dict:
    """Tight for float64 ops; rows with their own gradcheck options (a float32 round trip) get looser ones."""
    return {"rtol": 1e-3, "atol": 1e-4} if op.check else {"rtol": 1e-6, "atol": 1e-9}


def step(op: OpSpec) -> float:
    return op.check.get("eps", 1e-4)


@pytest.mark.parametrize("op", SMOOTH, ids=str)
@settings(max_examples=5)
@given(data=st.data())
def test_jvp_and_hvp_match_finite_differences(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    arrays = list(sample.arrays)
    rng = np.random.default_rng(0)
    tangents = [rng.standard_normal(a.shape) * 0.5 for a in arrays]

    def f(*xs: Tensor) -> Tensor:
        return op.fn(*xs, **sample.params)

    out, jv = func.jvp(f, tuple(map(Tensor, arrays)), tuple(map(Tensor, tangents)))
    numeric = central(lambda t: f(*shifted(arrays, tangents, t)).numpy(), step(op))
    np.testing.assert_allclose(jv.numpy(), numeric, **tolerances(op))
    np.testing.assert_allclose(out.numpy(), op.ref(*arrays, **sample.params), rtol=1e-12)

    readout = rng.standard_normal(out.shape)

    def h(*xs: Tensor) -> Tensor:  # squared, so that linear ops have a Hessian too
        y = f(*xs)
        return (y * y * Tensor(readout)).sum()

    nums = tuple(range(len(arrays)))
    _, hv = func.hvp(h, tuple(map(Tensor, arrays)), tuple(map(Tensor, tangents)))
    numeric = central(lambda t: np.concatenate(
        [g.numpy().ravel() for g in func.grad(h, argnums=nums)(*shifted(arrays, tangents, t))]), step(op))
    np.testing.assert_allclose(np.concatenate([v.numpy().ravel() for v in hv]), numeric, **tolerances(op))


@pytest.mark.parametrize("op", SMOOTH, ids=str)
@settings(max_examples=5)
@given(data=st.data())
def test_jacrev_equals_jacfwd(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    nums = tuple(range(len(sample.arrays)))
    xs = [Tensor(a) for a in sample.arrays]
    rev = func.jacrev(lambda *xs: op.fn(*xs, **sample.params), argnums=nums)(*xs)
    fwd = func.jacfwd(lambda *xs: op.fn(*xs, **sample.params), argnums=nums)(*xs)
    for r, f, x in zip(rev, fwd, xs):
        assert r.shape == f.shape and r.shape[r.ndim - x.ndim:] == x.shape
        np.testing.assert_allclose(r.numpy(), f.numpy(), rtol=1e-12, atol=1e-14)
