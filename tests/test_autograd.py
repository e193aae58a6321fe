"""Properties of the autodiff engine: accumulation, reuse, long graphs, graph release, grad mode,
seeds, retain_grad, `grad()` and higher derivatives, broadcasting and dtypes."""
from __future__ import annotations

import gc
import time
import weakref

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import Tensor, enable_grad, is_grad_enabled, no_grad
from tinygrad_bn.testing import gradcheck


def leaf(values, dtype=np.float64) -> Tensor:
    """A leaf tensor that requires grad."""
    return Tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# ----------------------------------------------------------------------------- accumulation and reuse


def test_leaf_grad_accumulates_across_backward_calls():
    x = leaf([1.0, 2.0])
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5, 7])
    x.zero_grad()
    assert x.grad is None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 3])


def test_accumulated_grad_is_a_new_array_not_an_alias():
    """Accumulation must not write into an array the previous .grad (or the graph) shares."""
    x = leaf([1.0, 2.0])
    x.sum().backward()
    first = x.grad
    x.sum().backward()
    np.testing.assert_array_equal(first.numpy(), [1, 1])
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])
    assert x.grad.numpy().flags.writeable


def test_tensor_used_twice_in_one_op():
    x = leaf(3.0)
    (x * x).backward()
    assert x.grad.item() == 6.0


def test_micrograd_reused_sum():
    """micrograd's classic bug: b = a + a; c = b + b must give dc/da = 4, not 1 or 2."""
    a = leaf(2.0)
    b = a + a
    c = b + b
    c.backward()
    assert a.grad.item() == 4.0


def test_reused_non_leaf():
    a = leaf(3.0)
    b = a * a  # a non-leaf used three times below
    c = b * b + b
    c.backward()
    assert c.item() == 90.0
    assert a.grad.item() == (2 * 9 + 1) * 2 * 3  # dc/db * db/da
    assert b.grad is None  # non-leaves keep no .grad unless retain_grad()


def test_micrograd_more_ops():
    """micrograd's test_more_ops; expected values from PyTorch."""
    a, b = leaf(-4.0), leaf(2.0)
    c = a + b
    d = a * b + b**3
    c = c + c + 1
    c = c + 1 + c + (-a)
    d = d + d * 2 + (b + a).relu()
    d = d + 3 * d + (b - a).relu()
    e = c - d
    f = e**2
    g = f / 2.0
    g = g + 10.0 / f
    g.backward()
    assert g.item() == pytest.approx(24.70408163265306, rel=1e-12)
    assert a.grad.item() == pytest.approx(138.83381924198252, rel=1e-12)
    assert b.grad.item() == pytest.approx(645.5772594752186, rel=1e-12)


def test_micrograd_sanity_check():
    """micrograd's test_sanity_check; expected values from PyTorch."""
    x = leaf(-4.0)
    z = 2 * x + 2 + x
    q = z.relu() + z * x
    h = (z * z).relu()
    y = h + q + q * x
    y.backward()
    assert y.item() == -20.0
    assert x.grad.item() == 46.0


def test_long_chain_backpropagates_without_recursion():
    n = 100_000
    x = leaf(1.0)
    y = x
    start = time.perf_counter()
    for _ in range(n):
        y = y * 1.0001
    (gx,) = tg.grad(y, x, retain_graph=True)
    y.backward()
    assert x.grad.item() == pytest.approx(1.0001**n, rel=1e-9)
    assert gx.item() == x.grad.item()
    del y  # freeing the chain must not recurse either
    assert time.perf_counter() - start < 30


# ----------------------------------------------------------------------------- retain_graph and graph release


def test_second_backward_without_retain_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True") as info:
        y.backward()
    assert "Mul" in str(info.value)
    assert is_grad_enabled()  # grad mode is restored after the error


def test_retain_graph_allows_second_backward_and_accumulates():
    x = leaf([1.0, 2.0])
    y = (x * x).exp().sum()
    y.backward(retain_graph=True)
    first = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * first)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_grad_without_retain_graph_releases_too():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    tg.grad(y, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        tg.grad(y, x)


def test_ops_that_save_nothing_can_be_walked_twice():
    """As in PyTorch: add/sum save no values, so there is nothing to free and nothing to forbid."""
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2, 2])


def test_backward_releases_saved_values():
    x = leaf([[1.0, -2.0], [0.5, 3.0]])
    m = x.max(axis=0)
    ctx = m.grad_fn
    assert ctx.kept_shape == (1, 2)  # what Max saved for backward
    m.sum().backward()
    gc.collect()
    assert ctx.released and not hasattr(ctx, "kept_shape")
    assert ctx.parents == (x,)  # the graph's structure stays (for drawing and error messages)


def test_an_op_defining_its_forward_runs_it_even_when_it_names_a_ufunc():
    """apply calls an op's ufunc directly only when the op's forward is the ufunc (Function.forward)."""
    from tinygrad_bn import ops
    from tinygrad_bn.autograd import Function

    class Doubled(Function):
        ufunc = np.negative  # what the compiler would call; forward decides what eager runs

        def forward(self, a):
            return a * 2

    class Negated(Function):
        ufunc = np.negative

    assert Doubled._plain_ufunc is None and Negated._plain_ufunc is np.negative
    assert ops.Mul._plain_ufunc is np.multiply and ops.Sum._plain_ufunc is None
    np.testing.assert_array_equal(Doubled.apply(leaf([1.0, -3.0])).numpy(), [2.0, -6.0])
    np.testing.assert_array_equal(Negated.apply(leaf([1.0, -3.0])).numpy(), [-1.0, 3.0])


def test_retain_graph_keeps_saved_values():
    x = leaf([1.0, -2.0])
    e = x.exp()
    e.sum().backward(retain_graph=True)
    assert not e.grad_fn.released and e.grad_fn.output() is e


def test_graph_is_freed_with_its_output_without_garbage_collection():
    """Saved outputs are weak references, so a graph has no reference cycle: refcounting frees it."""
    gc.disable()
    try:
        x = leaf([1.0, 2.0])
        hidden = (x * 2).exp().sigmoid()
        ref = weakref.ref(hidden)
        ctx_ref = weakref.ref(hidden.grad_fn)
        loss = hidden.sum()
        del hidden
        assert ref() is not None  # kept alive by the graph of loss
        del loss
        assert ref() is None and ctx_ref() is None
    finally:
        gc.enable()


# ----------------------------------------------------------------------------- grad mode


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).exp().sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_and_enable_grad_as_decorators():
    @no_grad()
    def evaluate(t: Tensor) -> Tensor:
        assert not is_grad_enabled()
        return t * 2

    @enable_grad()
    def train_step(t: Tensor) -> Tensor:
        assert is_grad_enabled()
        return t * 2

    x = leaf([1.0])
    assert evaluate(x).grad_fn is None
    with no_grad():
        y = train_step(x)
        assert not is_grad_enabled()
    assert y.requires_grad and y.grad_fn is not None
    assert is_grad_enabled()


def test_grad_modes_nest_and_restore():
    x = leaf([1.0])
    with no_grad():
        with enable_grad():
            assert is_grad_enabled()
            recorded = x * 2
            with no_grad():
                inner = x * 2
            assert is_grad_enabled()
        assert not is_grad_enabled()
    assert is_grad_enabled()
    assert recorded.requires_grad and not inner.requires_grad


def test_grad_mode_restored_after_exception():
    with pytest.raises(KeyError):
        with no_grad():
            raise KeyError("inside no_grad")
    assert is_grad_enabled()

    @no_grad()
    def recursive(k: int) -> int:
        assert not is_grad_enabled()
        return 0 if k == 0 else recursive(k - 1)

    recursive(3)
    assert is_grad_enabled()


def test_requires_grad_propagates_only_from_inputs_that_need_it():
    x, c = leaf([1.0]), Tensor([2.0])
    assert not (c * 2).requires_grad and (c * 2).grad_fn is None
    y = x * c
    assert y.requires_grad and not y.is_leaf and y.grad_fn.name == "Mul"
    y.backward(np.ones(1))
    assert c.grad is None


def test_detach_stops_the_gradient():
    x = leaf(2.0)
    y = x * x.detach()  # d/dx treats the detached factor as a constant
    y.backward()
    assert x.grad.item() == 2.0


# ----------------------------------------------------------------------------- seeds and retain_grad


def test_backward_of_non_scalar_needs_a_gradient():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(RuntimeError, match=r"shape \(2,\).*Pass gradient="):
        y.backward()


def test_backward_with_explicit_gradient():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(np.array([1.0, 0.5, -1.0]), retain_graph=True)
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0, -6.0])
    x.zero_grad()
    y.backward(Tensor(np.array([1.0, 1.0, 1.0])))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0, 6.0])


def test_backward_gradient_of_wrong_shape():
    y = leaf([1.0, 2.0]) * 2
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\) but the output has shape \(2,\)"):
        y.backward(np.ones(3))


def test_retain_grad_keeps_grad_on_that_non_leaf_only():
    x = leaf([1.0, 2.0])
    h = x * 3
    h.retain_grad()
    k = h * h
    k.sum().backward()
    np.testing.assert_allclose(h.grad.numpy(), 2 * h.numpy())
    np.testing.assert_allclose(x.grad.numpy(), 3 * 2 * h.numpy())
    assert k.grad is None
    with pytest.raises(RuntimeError, match="does not require grad"):
        Tensor([1.0]).retain_grad()


def test_retain_grad_on_the_root():
    x = leaf([1.0, 2.0])
    y = (x * 2).sum()
    y.retain_grad()
    y.backward()
    assert y.grad.item() == 1.0


# ----------------------------------------------------------------------------- grad() and higher derivatives


def test_grad_returns_a_tuple_and_leaves_dot_grad_untouched():
    x, w = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    w.grad = Tensor(np.array([9.0, 9.0]))
    gx, gw = tg.grad((x * w).sum(), [x, w])
    np.testing.assert_array_equal(gx.numpy(), [3, 4])
    np.testing.assert_array_equal(gw.numpy(), [1, 2])
    assert x.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), [9, 9])
    result = tg.grad((x * 2).sum(), x)
    assert isinstance(result, tuple) and len(result) == 1


def test_grad_allow_unused():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tg.grad((x * 2).sum(), [x, unused], retain_graph=True)
    gx, gu = tg.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_grad_with_respect_to_a_non_leaf_and_grad_outputs():
    x = leaf([1.0, 2.0])
    h = x * x
    y = h * 3
    (gh,) = tg.grad(y, h, grad_outputs=Tensor(np.array([1.0, 2.0])))
    np.testing.assert_array_equal(gh.numpy(), [3, 6])


def test_grad_of_several_outputs_sums_their_contributions():
    x = leaf([1.0, 2.0])
    (g,) = tg.grad([(x * 2).sum(), (x * x).sum()], x)
    np.testing.assert_array_equal(g.numpy(), [4, 6])


def test_grad_of_input_that_does_not_require_grad():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.grad((leaf([1.0]) * 2).sum(), Tensor([1.0]))


def test_second_and_third_derivative_of_cube():
    x = leaf([-1.5, 0.5, 2.0])
    (d1,) = tg.grad((x**3).sum(), x, create_graph=True)
    np.testing.assert_allclose(d1.numpy(), 3 * x.numpy() ** 2)
    assert d1.requires_grad
    (d2,) = tg.grad(d1.sum(), x, create_graph=True)
    np.testing.assert_allclose(d2.numpy(), 6 * x.numpy())
    (d3,) = tg.grad(d2.sum(), x)
    np.testing.assert_allclose(d3.numpy(), [6, 6, 6])
    assert x.grad is None


def test_backward_create_graph_makes_grad_differentiable():
    x = leaf(2.0)
    (x**3).backward(create_graph=True)
    first = x.grad
    assert first.requires_grad and first.item() == 12.0
    x.zero_grad()
    first.backward()
    assert x.grad.item() == 12.0  # d/dx 3x^2 = 6x


def test_hessian_vector_product_equals_explicit_hessian():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal(4)
    x = leaf(rng.standard_normal(4))
    f = x @ (Tensor(a) @ x) + Tensor(b) @ x  # x^T A x + b^T x, Hessian A + A^T
    (g,) = tg.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), (a + a.T) @ x.numpy() + b)
    for v in np.eye(4):
        (hv,) = tg.grad((g * Tensor(v)).sum(), x, retain_graph=True)
        np.testing.assert_allclose(hv.numpy(), (a + a.T) @ v, atol=1e-12)


def gradient_penalty(x: Tensor, w: Tensor) -> Tensor:
    """WGAN-GP style: sum |1 - ||d critic / dx_i||^2| for critic(x) = sum(tanh(x @ w)), differentiable in w."""
    with enable_grad():  # gradcheck evaluates under no_grad for its finite differences
        critic = (x @ w).tanh().sum()
        (gx,) = tg.grad(critic, x, create_graph=True)
        return ((gx * gx).sum(axis=1) - 1.0).abs().sum()


def test_gradient_penalty_double_backward():
    rng = np.random.default_rng(1)
    x_data, w_data = rng.standard_normal((3, 2)), rng.standard_normal((2, 4))
    x, w = Tensor(x_data, requires_grad=True), Tensor(w_data, requires_grad=True)
    gradient_penalty(x, w).backward()
    assert np.abs(w.grad.numpy()).max() > 0
    result = gradcheck(gradient_penalty, [x_data, w_data])  # the same gradients, by finite differences
    assert len(result.inputs) == 2 and result.ok
    fresh_w = Tensor(w_data, requires_grad=True)
    penalty = gradient_penalty(Tensor(x_data, requires_grad=True), fresh_w)
    gx, gw = tg.grad(penalty, [x, fresh_w], allow_unused=True)
    assert gx is None  # x was not used for this penalty
    np.testing.assert_allclose(gw.numpy(), w.grad.numpy())


# ----------------------------------------------------------------------------- broadcasting and dtypes


def reduce_to(full: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum a broadcast array back to `shape`: over its extra leading axes and where `shape` has 1."""
    lead = full.ndim - len(shape)
    summed = full.sum(axis=tuple(range(lead)))
    return summed.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True).reshape(shape)


@pytest.mark.parametrize(("sa", "sb"), [((3, 1), (4,)), ((2, 3, 4), (4,)), ((), (2, 3)), ((1, 3), (2, 1))])
def test_broadcast_gradients_are_reduced_to_operand_shapes(sa, sb):
    rng = np.random.default_rng(2)
    a, b = leaf(rng.standard_normal(sa)), leaf(rng.standard_normal(sb))
    out = a * b
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb
    np.testing.assert_allclose(a.grad.numpy(), reduce_to(np.broadcast_to(b.numpy(), out.shape), sa))
    np.testing.assert_allclose(b.grad.numpy(), reduce_to(np.broadcast_to(a.numpy(), out.shape), sb))


def test_mixed_float32_float64_grads_take_each_leafs_dtype():
    w = leaf([1.0, 2.0], dtype=np.float32)
    x = leaf([3.0, 4.0], dtype=np.float64)
    out = (w * x).exp().sum()
    assert out.dtype == np.float64
    out.backward()
    assert w.grad.dtype == np.float32 and x.grad.dtype == np.float64
    np.testing.assert_allclose(w.grad.numpy(), x.numpy() * np.exp(w.numpy() * x.numpy()), rtol=1e-6)


def test_float32_parameters_keep_float32_grads():
    """Python scalars, numpy float64 constants and float64 seeds must not promote float32 gradients."""
    w = leaf(np.ones((3, 2)), dtype=np.float32)
    b = leaf(np.zeros(2), dtype=np.float32)
    x = Tensor(np.arange(6.0).reshape(2, 3), dtype=np.float32)
    h = (x @ w + b).tanh() * 2 - 1.5
    h = (h / 3.0 + np.ones(2)) ** 2
    h.retain_grad()
    assert h.dtype == np.float32
    h.backward(np.ones((2, 2)))  # a float64 gradient array
    assert w.grad.dtype == np.float32 and b.grad.dtype == np.float32 and h.grad.dtype == np.float32
    w.zero_grad()
    w.backward(Tensor(np.ones((3, 2))))  # a float64 gradient Tensor for a float32 leaf
    assert w.grad.dtype == np.float32


def test_integer_astype_is_not_differentiable():
    x = leaf([1.5, -2.5])
    labels = x.astype(np.int64)
    assert labels.dtype == np.int64 and not labels.requires_grad and labels.grad_fn is None


def test_power_gradient_at_zero_base_and_zero_exponent_is_zero_not_nan():
    """d(x**0)/dx = 0 everywhere, also at x = 0 (PyTorch's value), without 0 * inf = NaN or warnings."""
    import warnings

    x = Tensor(np.array([0.0, 1.0, 2.0]), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (g0,) = tg.grad((x**0).sum(), x)
        (g2,) = tg.grad((x**2).sum(), x)
    np.testing.assert_array_equal(g0.numpy(), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g2.numpy(), [0.0, 2.0, 4.0])


def test_power_gradient_with_respect_to_the_exponent_at_zero_base():
    """d(0**b)/db is 0 for b >= 0 (0**b is constant there) and -inf for b < 0: PyTorch's values, where
    out * log(0) gave nan (0 * -inf) and -inf; the base's gradient keeps its own fix at 0**0."""
    b = Tensor(np.array([-1.0, 0.0, 0.5, 2.0]), requires_grad=True)
    with np.errstate(divide="ignore"):  # 0**-1 = inf in the forward
        (gb,) = tg.grad((0.0**b).sum(), b)
    np.testing.assert_array_equal(gb.numpy(), [-np.inf, 0.0, 0.0, 0.0])
    a = Tensor(np.array([0.0, 0.0, 2.0]), requires_grad=True)
    e = Tensor(np.array([0.0, 2.0, 3.0]), requires_grad=True)
    ga, ge = tg.grad((a**e).sum(), [a, e])
    np.testing.assert_array_equal(ga.numpy(), [0.0, 0.0, 12.0])
    np.testing.assert_allclose(ge.numpy(), [0.0, 0.0, 8.0 * np.log(2.0)], rtol=1e-15)


def test_power_exponent_gradient_at_zero_base_is_differentiable_again():
    """The fix is made of Tensor ops (a where), so second derivatives exist and stay finite at a = 0 for
    b >= 1, where the log's branch is not taken; broadcasting a scalar base works too."""
    a = Tensor(np.array([0.0, 0.0, 1.5]), requires_grad=True)
    b = Tensor(np.array([2.0, 3.0, 2.0]), requires_grad=True)
    (gb,) = tg.grad((a**b).sum(), b, create_graph=True)
    gab, gbb = tg.grad(gb.sum(), [a, b])
    # d/da (a**b log a) = a**(b-1) (b log a + 1); d/db = a**b log(a)**2
    np.testing.assert_allclose(gab.numpy(), [0.0, 0.0, 1.5 * (2 * np.log(1.5) + 1)], rtol=1e-14)
    np.testing.assert_allclose(gbb.numpy(), [0.0, 0.0, 2.25 * np.log(1.5) ** 2], rtol=1e-14)
    base = Tensor(np.array(0.0), requires_grad=True)
    (gb,) = tg.grad((base**b).sum(), b)
    np.testing.assert_array_equal(gb.numpy(), [0.0, 0.0, 0.0])


# ----------------------------------------------------------------------------- requires_grad assigned later


@pytest.mark.parametrize("data", [np.array([1, 2], dtype=np.int32), np.array([True, False]), np.array(3)])
def test_assigning_requires_grad_to_an_integer_or_bool_tensor_raises(data):
    t = Tensor(data)
    with pytest.raises(TypeError, match="requires_grad: only floating-point tensors can require gradients"):
        t.requires_grad = True
    assert not t.requires_grad
    t.requires_grad = False  # turning it off is always fine on a leaf


def test_assigning_requires_grad_on_a_float_tensor_records_ops():
    x = Tensor(np.array([1.0, 2.0]))
    x.requires_grad = True
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    y = x * 2
    with pytest.raises(RuntimeError, match="only leaf tensors can stop requiring grad"):
        y.requires_grad = False
    assert y.requires_grad and not (Tensor(np.ones(2)) * 2).requires_grad


def test_leaf_gradients_are_kept_without_a_copy_only_when_nothing_else_holds_them(monkeypatch):
    """A leaf keeps an engine op's fresh gradient array as it is (no copy), but gets its own copy whenever the
    array could be reached otherwise: the same tensor sent to two leaves (Add), the caller's seed, a view,
    or a tensor returned by an op defined outside the engine. In-place changes to one .grad never show in
    another, nor in the caller's arrays."""
    from tinygrad_bn import autograd
    from tinygrad_bn.autograd import Function

    copies = []
    real_array = np.array

    def counting_array(*args, **kwargs):
        copies.append(1)
        return real_array(*args, **kwargs)

    w, x = leaf(np.ones((3, 2))), Tensor(np.arange(8.0).reshape(4, 2))
    out = tg.nn.functional.linear(x, w)
    monkeypatch.setattr(autograd.np, "array", counting_array)
    out.sum().backward()
    monkeypatch.undo()
    assert not copies  # the product Linear's backward made for w is w.grad
    np.testing.assert_array_equal(w.grad.numpy(), np.tile(x.numpy().sum(axis=0), (3, 1)))

    a, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    (a + b).sum().backward()  # Add hands the same gradient to both
    a.grad.data *= 10
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])

    seed = Tensor(np.array([5.0, 6.0]))
    c = leaf([0.0, 0.0])
    c.backward(seed)  # the root is the leaf: its gradient is the caller's seed
    c.grad.data[0] = -1
    np.testing.assert_array_equal(seed.numpy(), [5.0, 6.0])

    kept = Tensor(np.array([7.0, 8.0]))

    class ReturnsKept(Function):  # an op outside the engine may return a tensor it keeps
        def forward(self, a):
            return a.copy()

        def backward(self, g):
            return (kept,)

    d = leaf([0.0, 0.0])
    ReturnsKept.apply(d).sum().backward()
    d.grad.data[:] = 0
    np.testing.assert_array_equal(kept.numpy(), [7.0, 8.0])

    e = leaf(np.zeros((2, 3)))
    (e * 1.0).sum(axis=0).sum().backward()  # Sum's backward is a broadcast view: copied into writable memory
    assert e.grad.data.flags.writeable and e.grad.data.base is None
