"""The transforms against torch.func: every smooth op-table row and a batch-norm MLP loss (float64, 1e-10),
and a record that PyTorch's fused batch_norm is wrong at third order while the composed one is right.

Skipped entirely when torch is not installed (test_func_op_table.py covers the rows with finite differences).
"""
from __future__ import annotations

import numpy as np
import pytest
from func_cases import bn_mlp, directional, mse
from hypothesis import given, settings
from hypothesis import strategies as st
from op_table import OPS, OpSpec

from tinygrad_bn import Tensor, func
from tinygrad_bn.nn import functional as F

torch = pytest.importorskip("torch")
tf = pytest.importorskip("torch.func")

TOL = {"rtol": 1e-10, "atol": 1e-12}
SMOOTH = [op for op in OPS if op.smooth]


def assert_close(ours, theirs, **tol) -> None:
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **(tol or TOL))


@pytest.mark.parametrize("op", SMOOTH, ids=str)
@settings(max_examples=5)
@given(data=st.data())
def test_op_table_rows_match_torch_func(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    n = len(sample.arrays)
    nums = tuple(range(n))
    rng = np.random.default_rng(1)
    tangents = [rng.standard_normal(a.shape) for a in sample.arrays]
    ours = tuple(Tensor(a) for a in sample.arrays)
    theirs = tuple(torch.tensor(a, dtype=torch.float64) for a in sample.arrays)
    ours_t = tuple(map(Tensor, tangents))
    theirs_t = tuple(torch.from_numpy(t) for t in tangents)

    def f(*xs):
        return op.fn(*xs, **sample.params)

    def ft(*xs):
        return op.torch(*xs, **sample.params)

    value = op.ref(*sample.arrays, **sample.params)
    if value.size == 0:  # torch.func's jacrev raises on an empty output (IndexError in select): ours is empty
        for mine, x in zip(func.jacrev(f, argnums=nums)(*ours), sample.arrays):
            assert mine.shape == value.shape + x.shape
        return
    if op.name == "prod" and np.all(sample.arrays[0] != 0) and np.any(value == 0):
        return  # torch's prod backward is out / x without a zero factor: 0 where the product underflows, though
        # the derivative (the product of the other factors) is not (ours is exact: see the test below)
    for mine, reference in zip(func.jacrev(f, argnums=nums)(*ours), tf.jacrev(ft, argnums=nums)(*theirs)):
        assert_close(mine, reference)
    for mine, reference in zip(func.jacfwd(f, argnums=nums)(*ours), tf.jacfwd(ft, argnums=nums)(*theirs)):
        assert_close(mine, reference)
    out, jv = func.jvp(f, ours, ours_t)
    out_t, jv_t = tf.jvp(ft, theirs, theirs_t)
    assert_close(out, out_t)
    assert_close(jv, jv_t)
    readout = rng.standard_normal(out.shape)

    def h(*xs):
        y = f(*xs)
        return (y * y * Tensor(readout)).sum()

    def ht(*xs):
        y = ft(*xs)
        return (y * y * torch.from_numpy(readout)).sum()

    if op.name == "pow_tensor" and np.any(sample.arrays[1] == 0):
        return  # torch's pow backward is masked to 0 where the exponent is 0, losing d/db of it (ours is exact)
    _, hv = func.hvp(h, ours, ours_t)
    _, hv_t = tf.jvp(tf.grad(ht, argnums=nums), theirs, theirs_t)  # torch.func's HVP recipe
    for mine, reference in zip(hv, hv_t):
        assert_close(mine, reference)


def test_prod_gradient_is_exact_where_the_product_underflows():
    """The product of two subnormal numbers underflows to 0, but its derivative in each is the other factor:
    ours gives exactly that, to every order torch.func would be compared at (torch itself gives 0 here)."""
    x = np.array([2.22507386e-311, 3.0e-311])
    jacobian = func.jacrev(lambda a: a.prod(axis=0))(Tensor(x)).numpy()
    np.testing.assert_array_equal(jacobian, x[::-1])
    assert torch.tensor(x).prod(0).item() == 0.0


# ----------------------------------------------------------------------------- a BN MLP loss


def torch_twin(model):
    """The same Linear-BatchNorm1d-Tanh-Linear stack in PyTorch, float64, with the same parameters."""
    tm = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.BatchNorm1d(6, track_running_stats=False),
                             torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    tm.load_state_dict({k: torch.from_numpy(v) for k, v in model.state_dict().items() if "running" not in k
                        and "num_batches" not in k})
    return tm


@pytest.fixture
def bn_problem():
    rng = np.random.default_rng(3)
    model = bn_mlp(seed=3)
    x, y = rng.standard_normal((10, 4)), rng.standard_normal((10, 3))
    params = {k: Tensor(p.numpy()) for k, p in model.named_parameters()}
    tparams = {k: torch.from_numpy(p.numpy().copy()) for k, p in model.named_parameters()}
    tm = torch_twin(model)

    def loss(p):
        return mse(func.functional_call(model, p, (Tensor(x),)), y)

    def tloss(p):
        return torch.nn.functional.mse_loss(tf.functional_call(tm, p, (torch.from_numpy(x),)), torch.from_numpy(y))

    return loss, tloss, params, tparams, rng


def test_bn_mlp_loss_gradients_jvp_and_hvp_match_torch_func(bn_problem):
    loss, tloss, params, tparams, rng = bn_problem
    g, value = func.grad_and_value(loss)(params)
    g_t, value_t = tf.grad_and_value(tloss)(tparams)
    assert value.item() == pytest.approx(value_t.item(), rel=1e-12)
    for k in params:
        assert_close(g[k], g_t[k])
    v = {k: rng.standard_normal(p.shape) for k, p in params.items()}
    _, jv = func.jvp(loss, (params,), ({k: Tensor(a) for k, a in v.items()},))
    _, jv_t = tf.jvp(tloss, (tparams,), ({k: torch.from_numpy(a) for k, a in v.items()},))
    assert_close(jv, jv_t)
    _, (hv,) = func.hvp(loss, (params,), ({k: Tensor(a) for k, a in v.items()},))
    leaves = {k: t.clone().requires_grad_() for k, t in tparams.items()}  # torch.func's jvp(grad) fails on BN
    grads = torch.autograd.grad(tloss(leaves), list(leaves.values()), create_graph=True)
    dot = sum((g * torch.from_numpy(v[k])).sum() for k, g in zip(leaves, grads))
    for k, h_t in zip(leaves, torch.autograd.grad(dot, list(leaves.values()))):
        assert_close(hv[k], h_t)


def test_bn_mlp_hessian_in_the_first_layers_weights_matches_torch_func(bn_problem):
    loss, tloss, params, tparams, _ = bn_problem

    def in_weight(w):
        return loss({**params, "0.weight": w})

    def in_weight_t(w):
        return tloss({**tparams, "0.weight": w})

    h = func.hessian(in_weight)(params["0.weight"])
    h_t = tf.hessian(in_weight_t)(tparams["0.weight"])
    assert h.shape == (6, 4, 6, 4)
    assert_close(h, h_t)


# ----------------------------------------------------------------------------- PyTorch's fused BN, third order


def third_derivative_torch(bn, x0: np.ndarray, u: np.ndarray, readout: np.ndarray) -> float:
    """d^3/dt^3 sum(readout * tanh(bn(x0 + t u))) at t = 0, by three nested torch.autograd.grad calls."""
    x = torch.tensor(x0, requires_grad=True)
    s = (torch.from_numpy(readout) * bn(x).tanh()).sum()
    for _ in range(3):
        (g,) = torch.autograd.grad(s, x, create_graph=True)
        s = (g * torch.from_numpy(u)).sum()
    return s.item()


def test_torch_fused_batch_norm_is_wrong_at_third_order_and_ours_is_right():
    """Records the claim of docs/func.md; if PyTorch fixes its fused kernel, this says so (update the docs)."""
    rng = np.random.default_rng(0)
    x0, u, readout = rng.standard_normal((8, 3)), rng.standard_normal((8, 3)), rng.standard_normal((8, 3))

    def composed(x):
        centered = x - x.mean(0, keepdim=True)
        return centered / ((centered * centered).mean(0, keepdim=True) + 1e-5).sqrt()

    def fused(x):
        return torch.nn.functional.batch_norm(x, None, None, training=True, eps=1e-5)

    reference = third_derivative_torch(composed, x0, u, readout)
    ours = directional(lambda x: (F.batch_norm(x, None, None, training=True).tanh() * Tensor(readout)).sum(),
                       [u], 3)(Tensor(x0)).item()
    assert ours == pytest.approx(reference, rel=1e-12)
    fused_value = third_derivative_torch(fused, x0, u, readout)
    error = abs(fused_value - reference) / abs(reference)
    assert error > 0.05, (f"torch.nn.functional.batch_norm now agrees with the composed batch norm at third "
                          f"order (relative error {error:.2e}): PyTorch fixed it; update docs/func.md")
