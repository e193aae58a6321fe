"""Parity with PyTorch: every op-table row gives the same values and gradients as its torch expression,
and second derivatives (Hessian-vector products) agree through tanh/matmul and a batch-norm composition.

Skipped entirely when torch is not installed.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import OPS, OpSpec

import tinygrad_bn as tg
from tinygrad_bn import Tensor
from tinygrad_bn.testing import strategies as tst

torch = pytest.importorskip("torch")

TOL = {"rtol": 1e-10, "atol": 1e-12}
TOL32 = {"rtol": 1e-4, "atol": 1e-4}


def leaves(arrays, requires_grad: bool = True) -> tuple[list[Tensor], list]:
    """The same float64 values as tinygrad_bn leaves and as torch leaves."""
    ours = [Tensor(a, requires_grad=requires_grad) for a in arrays]
    theirs = [torch.tensor(a, dtype=torch.float64, requires_grad=requires_grad) for a in arrays]
    return ours, theirs


def grad_or_zeros(t) -> np.ndarray:
    """A torch leaf's gradient as an array (torch leaves it None when nothing flowed back)."""
    return np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_values_and_gradients_match_torch(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    ours, theirs = leaves(sample.arrays, op.differentiable)
    out = op.fn(*ours, **sample.params)
    expected = op.torch(*theirs, **sample.params)
    assert out.shape == tuple(expected.shape)
    if not op.differentiable:  # booleans and indices: the same values and the same kind of dtype
        np.testing.assert_array_equal(out.numpy(), expected.numpy())
        assert out.dtype == expected.numpy().dtype
        return
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **TOL)
    direction = np.random.default_rng(0).standard_normal(out.shape)
    (out * Tensor(direction)).sum().backward()
    (expected * torch.from_numpy(direction)).sum().backward()
    for x, t in zip(ours, theirs):
        assert x.grad is not None and x.grad.shape == x.shape
        np.testing.assert_allclose(x.grad.numpy(), grad_or_zeros(t), **TOL)


@pytest.mark.parametrize("op", [op for op in OPS if op.differentiable and op.keeps_dtype], ids=str)
@settings(max_examples=10)
@given(data=st.data())
def test_float32_values_and_gradients_match_torch(op: OpSpec, data: st.DataObject):
    """In float32 both frameworks round differently; values and gradients agree to 1e-4."""
    sample = data.draw(op.draw, label="sample")
    arrays = [a.astype(np.float32) for a in sample.arrays]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = op.fn(*ours, **sample.params)
    expected = op.torch(*theirs, **sample.params)
    assert out.dtype == np.float32 and expected.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), expected.detach().numpy(), **TOL32)
    direction = np.random.default_rng(0).standard_normal(out.shape).astype(np.float32)
    (out * Tensor(direction)).sum().backward()
    (expected * torch.from_numpy(direction)).sum().backward()
    for x, t in zip(ours, theirs):
        assert x.grad.dtype == np.float32
        np.testing.assert_allclose(x.grad.numpy(), grad_or_zeros(t), **TOL32)


def hvp_ours(loss_fn, params: list[np.ndarray], vectors: list[np.ndarray]) -> list[np.ndarray]:
    """Hessian-vector product of loss_fn at params, by double backward in tinygrad_bn."""
    xs = [Tensor(p, requires_grad=True) for p in params]
    grads = tg.grad(loss_fn(tg, *xs), xs, create_graph=True)
    dot = sum((g * Tensor(v)).sum() for g, v in zip(grads, vectors))
    return [h.numpy() for h in tg.grad(dot, xs)]


def hvp_torch(loss_fn, params: list[np.ndarray], vectors: list[np.ndarray]) -> list[np.ndarray]:
    """Hessian-vector product of loss_fn at params, by double backward in PyTorch."""
    xs = [torch.tensor(p, requires_grad=True) for p in params]
    grads = torch.autograd.grad(loss_fn(torch, *xs), xs, create_graph=True)
    dot = sum((g * torch.from_numpy(v)).sum() for g, v in zip(grads, vectors))
    return [h.numpy() for h in torch.autograd.grad(dot, xs)]


def mlp_loss(lib, x, w1, w2):
    """A two-layer tanh network's squared output (written for either library)."""
    y = ((x @ w1).tanh() @ w2).tanh()
    return (y * y).sum()


def batch_norm_loss(lib, x, w):
    """Batch norm composed from primitives, (x - mean) / sqrt(var + eps), then a weighted square."""
    mean = x.mean(0, keepdims=True) if lib is tg else x.mean(0, keepdim=True)
    var = x.var(0, keepdims=True) if lib is tg else x.var(0, keepdim=True, correction=0)
    y = (x - mean) / (var + 1e-5).sqrt()
    return (y * w).tanh().sum()


@given(data=st.data())
def test_hessian_vector_product_through_tanh_and_matmul(data: st.DataObject):
    n, d, h = (data.draw(st.integers(1, 4)) for _ in range(3))
    shapes = [(n, d), (d, h), (h,)]
    params = [data.draw(tst.arrays(s)) for s in shapes]
    vectors = [data.draw(tst.arrays(s)) for s in shapes]
    for ours, theirs in zip(hvp_ours(mlp_loss, params, vectors), hvp_torch(mlp_loss, params, vectors)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-10)


@given(data=st.data())
def test_hessian_vector_product_through_batch_norm(data: st.DataObject):
    n, d = data.draw(st.integers(2, 5)), data.draw(st.integers(1, 3))
    shapes = [(n, d), (d,)]
    params = [data.draw(tst.arrays(shapes[0], distinct=True)), data.draw(tst.arrays(shapes[1]))]
    vectors = [data.draw(tst.arrays(s)) for s in shapes]
    for ours, theirs in zip(hvp_ours(batch_norm_loss, params, vectors),
                            hvp_torch(batch_norm_loss, params, vectors)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-9)


def test_gradient_penalty_through_relu_matches_torch():
    """d/dw of ||d(relu(x @ w).sum())/dx||^2: the second-order path through relu's mask and matmul."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((5, 3)), rng.standard_normal((3, 4))

    def penalty(lib, x, w):
        out = (x @ w).relu().sum()
        (gx,) = (tg.grad if lib is tg else torch.autograd.grad)(out, [x], create_graph=True)
        return (gx * gx).sum()

    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    penalty(torch, tx, tw).backward()
    ox, ow = Tensor(x, requires_grad=True), Tensor(w, requires_grad=True)
    penalty(tg, ox, ow).backward()
    assert np.abs(tw.grad.numpy()).max() > 0
    np.testing.assert_allclose(ow.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    # relu's backward multiplies by a constant mask: no second-order path reaches x in either library
    assert ox.grad is None and not np.any(grad_or_zeros(tx))


def test_power_gradients_at_zero_base_match_torch():
    """0**b over negative, zero, fractional and positive exponents, and a**0 over a zero base: values and
    both gradients as PyTorch gives them (-inf, 0, inf or finite, never a nan PyTorch does not give)."""
    a = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -1.5, 0.0])
    b = np.array([-1.0, 0.0, 0.5, 2.0, 3.0, 0.0, 2.0, -2.5])
    ours, theirs = leaves([a, b])
    with np.errstate(divide="ignore", invalid="ignore"):
        out = ours[0] ** ours[1]
        out.sum().backward()
    expected = theirs[0] ** theirs[1]
    expected.sum().backward()
    np.testing.assert_array_equal(out.numpy(), expected.detach().numpy())
    for x, t in zip(ours, theirs):
        np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
