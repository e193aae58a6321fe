"""The transforms' semantics without PyTorch: closed forms, finite differences, pytrees, errors, composition."""
from __future__ import annotations

import numpy as np
import pytest
from func_cases import bn_mlp, central, mse

import tinygrad_bn as tg
from tinygrad_bn import Tensor, func
from tinygrad_bn.func.transforms import Alias

RNG = np.random.default_rng(0)
X = np.array([0.3, -0.7, 1.1, 0.05])
A = RNG.standard_normal((3, 4))
B = RNG.standard_normal((4, 2))


def tanh_sum(x: Tensor) -> Tensor:
    return x.tanh().sum()


def numeric_jacobian(f, arrays: list[np.ndarray], i: int, eps: float = 1e-5) -> np.ndarray:
    """d f / d arrays[i] by central differences, shape out.shape + arrays[i].shape."""
    out_shape = f(*map(Tensor, arrays)).shape
    cols = []
    for k in range(arrays[i].size):
        e = np.zeros(arrays[i].size)
        e[k] = 1
        e = e.reshape(arrays[i].shape)

        def at(t, e=e):
            moved = [a + t * e if j == i else a for j, a in enumerate(arrays)]
            return f(*map(Tensor, moved)).numpy()

        cols.append(central(at, 1e-3))
    return np.stack(cols, axis=-1).reshape(out_shape + arrays[i].shape)


# ----------------------------------------------------------------------------- grad


def test_grad_of_tanh_and_its_higher_derivatives_match_closed_forms():
    t = np.tanh(X)
    x = Tensor(X)
    d1 = func.grad(tanh_sum)(x)
    d2 = func.grad(lambda x: func.grad(tanh_sum)(x).sum())(x)
    d3 = func.grad(lambda x: func.grad(lambda y: func.grad(tanh_sum)(y).sum())(x).sum())(x)
    s = 1 - t**2
    np.testing.assert_allclose(d1.numpy(), s, rtol=1e-14)
    np.testing.assert_allclose(d2.numpy(), -2 * t * s, rtol=1e-13)
    np.testing.assert_allclose(d3.numpy(), -2 * s**2 + 4 * t**2 * s, rtol=1e-12)


def test_grad_grad_grad_grad_of_a_polynomial():
    f = func.grad(lambda x: (x**5).sum())
    for _ in range(3):
        f = func.grad(lambda x, f=f: f(x).sum())
    np.testing.assert_allclose(f(Tensor(X)).numpy(), 120 * X, rtol=1e-12)  # d^4/dx^4 x^5


def test_top_level_results_are_plain_tensors_and_inputs_untouched():
    x = Tensor(X.copy())
    g, value = func.grad_and_value(tanh_sum)(x)
    assert not g.requires_grad and g.grad_fn is None and not value.requires_grad
    assert x.grad is None and np.array_equal(x.numpy(), X)
    np.testing.assert_allclose(value.item(), np.tanh(X).sum())


def test_results_are_differentiable_when_the_caller_differentiates():
    """A gradient penalty: grad(f) of x that requires grad, then an ordinary backward through it."""
    x = Tensor(X, requires_grad=True)
    g = func.grad(tanh_sum)(x)
    assert g.requires_grad
    (g * g).sum().backward()
    t = np.tanh(X)
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - t**2) * (-2 * t * (1 - t**2)), rtol=1e-12)


def test_closed_over_parameters_stay_differentiable():
    w = Tensor(np.array([0.5, -1.5, 2.0, 0.25]), requires_grad=True)
    g = func.grad(lambda x: (x * w).tanh().sum())(Tensor(X))  # = w * sech^2(w x)
    g.sum().backward()
    s = 1 - np.tanh(X * w.numpy()) ** 2
    expected = s + w.numpy() * X * (-2 * np.tanh(X * w.numpy()) * s)
    np.testing.assert_allclose(w.grad.numpy(), expected, rtol=1e-12)


def test_grad_under_no_grad_returns_plain_results():
    x = Tensor(X, requires_grad=True)
    with tg.no_grad():
        g = func.grad(tanh_sum)(x)
    assert not g.requires_grad
    np.testing.assert_allclose(g.numpy(), 1 - np.tanh(X) ** 2)


def test_argnums_tuple_negative_and_pytrees():
    def f(a, params, scale):
        h = (a @ params["w"]).tanh() * params["extra"][0]
        return (h * scale).sum()

    params = {"w": Tensor(B), "extra": [Tensor(np.array(1.5))]}
    a, scale = Tensor(A), Tensor(np.array(0.5))
    ga, gp = func.grad(f, argnums=(0, -2))(a, params, scale)
    assert set(gp) == {"w", "extra"} and isinstance(gp["extra"], list) and gp["w"].shape == B.shape
    h = np.tanh(A @ B)
    np.testing.assert_allclose(ga.numpy(), (0.5 * 1.5 * (1 - h**2)) @ B.T, rtol=1e-12)
    np.testing.assert_allclose(gp["w"].numpy(), A.T @ (0.5 * 1.5 * (1 - h**2)), rtol=1e-12)
    np.testing.assert_allclose(gp["extra"][0].item(), 0.5 * h.sum(), rtol=1e-12)
    assert func.grad(f, argnums=2)(a, params, scale).shape == ()


def test_has_aux_and_grad_and_value():
    def f(x):
        y = x.tanh()
        return y.sum(), {"y": y, "note": "kept"}

    g, aux = func.grad(f, has_aux=True)(Tensor(X))
    assert aux["note"] == "kept" and not aux["y"].requires_grad
    np.testing.assert_allclose(aux["y"].numpy(), np.tanh(X))
    g2, (value, aux2) = func.grad_and_value(f, has_aux=True)(Tensor(X))
    np.testing.assert_array_equal(g.numpy(), g2.numpy())
    assert value.item() == pytest.approx(np.tanh(X).sum()) and aux2["note"] == "kept"


def test_unused_argument_gets_zeros():
    g = func.grad(lambda x, y: (x * 2).sum(), argnums=(0, 1))(Tensor(X), Tensor(A))
    np.testing.assert_array_equal(g[1].numpy(), np.zeros_like(A))
    assert g[1].dtype == A.dtype


def test_constant_function_has_zero_gradient():
    g = func.grad(lambda x: Tensor(np.array(3.0)))(Tensor(X))
    np.testing.assert_array_equal(g.numpy(), np.zeros_like(X))


def test_float32_inputs_give_float32_gradients():
    g = func.grad(tanh_sum)(Tensor(X.astype(np.float32)))
    assert g.dtype == np.float32


# ----------------------------------------------------------------------------- errors


def test_grad_errors_name_the_problem():
    x = Tensor(X)
    with pytest.raises(RuntimeError, match=r"grad: f must return a scalar .* shape \(4,\)"):
        func.grad(lambda x: x * 2)(x)
    with pytest.raises(TypeError, match=r"grad: the output of f must be a Tensor .* got float"):
        func.grad(lambda x: 1.0)(x)
    with pytest.raises(TypeError, match=r"grad: f must return a single Tensor .* tuple of 2"):
        func.grad(lambda x: (x.sum(), x.sum()))(x)
    with pytest.raises(ValueError, match="argnums 2 is out of range for a function called with 2 positional"):
        func.grad(lambda a, b: a.sum(), argnums=2)(x, x)
    with pytest.raises(ValueError, match="argnums -3 is out of range"):
        func.grad(lambda a, b: a.sum(), argnums=-3)(x, x)
    with pytest.raises(ValueError, match="repeats"):
        func.grad(lambda a, b: a.sum(), argnums=(0, 0))(x, x)
    with pytest.raises(TypeError, match="argnums must be an int or a tuple of ints"):
        func.grad(lambda a: a.sum(), argnums=0.5)(x)
    with pytest.raises(TypeError, match=r"grad: argument 0\['w'\] must be a Tensor .* got ndarray"):
        func.grad(lambda p: p["w"].sum())({"w": X})
    with pytest.raises(TypeError, match="floating-point Tensors, got dtype int64"):
        func.grad(lambda x: x.sum())(Tensor(np.arange(3)))
    with pytest.raises(TypeError, match="has_aux=True, f must return a pair"):
        func.grad(lambda x: x.sum(), has_aux=True)(x)
    with pytest.raises(TypeError, match="expected a function"):
        func.grad(3)(x)


def test_vjp_jvp_errors():
    x = Tensor(X)
    _, vjp_fn = func.vjp(lambda x: x * 2, x)
    with pytest.raises(ValueError, match=r"cotangent 0 has shape \(3,\), expected \(4,\)"):
        vjp_fn(Tensor(np.ones(3)))
    with pytest.raises(ValueError, match="same structure"):
        vjp_fn((Tensor(np.ones(4)), Tensor(np.ones(4))))
    with pytest.raises(TypeError, match="primals must be a tuple"):
        func.jvp(lambda x: x, x, (x,))
    with pytest.raises(ValueError, match=r"tangent 0 has shape \(2,\)"):
        func.jvp(lambda x: x, (x,), (Tensor(np.ones(2)),))
    with pytest.raises(ValueError, match="vjp: give at least one primal"):
        func.vjp(lambda: Tensor(X))
    with pytest.raises(RuntimeError, match="hvp: f must return a scalar"):
        func.hvp(lambda x: x * 2, (x,), (x,))


# ----------------------------------------------------------------------------- vjp, jvp, linearize


def test_vjp_with_several_outputs_and_primals_can_be_called_again():
    a, b = Tensor(A), Tensor(B)
    out, vjp_fn = func.vjp(lambda a, b: {"prod": a @ b, "sq": a * a}, a, b)
    assert set(out) == {"prod", "sq"} and not out["prod"].requires_grad
    c1, c2 = RNG.standard_normal((3, 2)), RNG.standard_normal((3, 4))
    ga, gb = vjp_fn({"prod": Tensor(c1), "sq": Tensor(c2)})
    np.testing.assert_allclose(ga.numpy(), c1 @ B.T + 2 * A * c2, rtol=1e-13)
    np.testing.assert_allclose(gb.numpy(), A.T @ c1, rtol=1e-13)
    ga2, _ = vjp_fn({"prod": Tensor(c1), "sq": Tensor(c2)})  # the graph is kept for further calls
    np.testing.assert_array_equal(ga.numpy(), ga2.numpy())


def test_vjp_has_aux():
    out, vjp_fn, aux = func.vjp(lambda x: (x.exp(), x.sum()), Tensor(X), has_aux=True)
    (g,) = vjp_fn(Tensor(np.ones(4)))
    np.testing.assert_allclose(g.numpy(), np.exp(X))
    assert aux.item() == pytest.approx(X.sum())


def test_jvp_matches_finite_differences_and_the_jacobian():
    def f(a, b):
        return ((a @ b).tanh() * 2, (a * a).sum(axis=0))

    ta, tb = RNG.standard_normal(A.shape), RNG.standard_normal(B.shape)
    out, (t1, t2) = func.jvp(f, (Tensor(A), Tensor(B)), (Tensor(ta), Tensor(tb)))
    for k, t in enumerate((t1, t2)):
        expected = central(lambda s, k=k: f(Tensor(A + s * ta), Tensor(B + s * tb))[k].numpy(), 1e-3)
        np.testing.assert_allclose(t.numpy(), expected, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out[0].numpy(), 2 * np.tanh(A @ B))


def test_jvp_of_an_output_that_ignores_the_input_is_zero():
    _, t = func.jvp(lambda x: (x * 0).sum() + Tensor(np.array(2.0)), (Tensor(X),), (Tensor(np.ones(4)),))
    assert t.item() == 0.0
    _, t = func.jvp(lambda x: Tensor(np.ones(3)), (Tensor(X),), (Tensor(np.ones(4)),))
    np.testing.assert_array_equal(t.numpy(), np.zeros(3))


def test_linearize_reuses_one_graph():
    out, jvp_fn = func.linearize(lambda x: x.tanh() * x, Tensor(X))
    for _ in range(2):
        u = RNG.standard_normal(4)
        t = np.tanh(X)
        np.testing.assert_allclose(jvp_fn(Tensor(u)).numpy(), ((1 - t**2) * X + t) * u, rtol=1e-13)
    np.testing.assert_allclose(out.numpy(), np.tanh(X) * X)


# ----------------------------------------------------------------------------- Jacobians, Hessians


def mixed(a: Tensor, b: Tensor) -> Tensor:
    return (a @ b).tanh() * (a.sum(axis=1, keepdims=True) ** 2)


@pytest.mark.parametrize("jac", [func.jacrev, func.jacfwd, func.jacobian], ids=["jacrev", "jacfwd", "jacobian"])
def test_jacobians_match_finite_differences(jac):
    ja, jb = jac(mixed, argnums=(0, 1))(Tensor(A), Tensor(B))
    assert ja.shape == (3, 2, 3, 4) and jb.shape == (3, 2, 4, 2)
    np.testing.assert_allclose(ja.numpy(), numeric_jacobian(mixed, [A, B], 0), rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(jb.numpy(), numeric_jacobian(mixed, [A, B], 1), rtol=1e-8, atol=1e-10)
    single = jac(mixed)(Tensor(A), Tensor(B))
    np.testing.assert_array_equal(single.numpy(), ja.numpy())


def test_jacobian_pytree_layout_output_then_input():
    def f(p):
        return {"y": p["a"] * p["b"][0], "s": (p["a"] ** 2).sum()}

    p = {"a": Tensor(X), "b": [Tensor(np.array(2.0))]}
    for jac in (func.jacrev, func.jacfwd):
        j = jac(f)(p)
        assert j["y"]["a"].shape == (4, 4) and j["y"]["b"][0].shape == (4,) and j["s"]["a"].shape == (4,)
        np.testing.assert_allclose(j["y"]["a"].numpy(), 2 * np.eye(4))
        np.testing.assert_allclose(j["y"]["b"][0].numpy(), X)
        np.testing.assert_allclose(j["s"]["a"].numpy(), 2 * X)
        assert j["s"]["b"][0].item() == 0.0


def test_hessian_is_symmetric_and_agrees_with_hvp_and_forward_over_reverse():
    def f(x):
        return (x.tanh() * x.sum()).sum() + (x**3).sum()

    x = Tensor(X)
    h = func.hessian(f)(x).numpy()
    assert h.shape == (4, 4)
    np.testing.assert_allclose(h, h.T, rtol=1e-12)
    np.testing.assert_allclose(h, func.jacfwd(func.jacrev(f))(x).numpy(), rtol=1e-12)
    v = RNG.standard_normal(4)
    value, (hv,) = func.hvp(f, (x,), (Tensor(v),))
    np.testing.assert_allclose(hv.numpy(), h @ v, rtol=1e-12)
    _, hv_fwd = func.jvp(func.grad(f), (x,), (Tensor(v),))
    np.testing.assert_allclose(hv_fwd.numpy(), h @ v, rtol=1e-12)
    assert value.item() == pytest.approx(f(x).item())
    numeric = central(lambda t: func.grad(f)(Tensor(X + t * v)).numpy(), 1e-3)
    np.testing.assert_allclose(hv.numpy(), numeric, rtol=1e-9)


def test_hessian_of_several_arguments():
    h = func.hessian(lambda a, b: ((a @ b) ** 2).sum(), argnums=(0, 1))(Tensor(A), Tensor(B))
    assert h[0][0].shape == A.shape + A.shape and h[0][1].shape == A.shape + B.shape
    np.testing.assert_allclose(h[0][1].numpy(), np.transpose(h[1][0].numpy(), (2, 3, 0, 1)), rtol=1e-12)


def test_inner_transforms_connect_to_outer_ones_through_alias():
    seen = []

    def inner(x: Tensor) -> Tensor:
        seen.append(x.grad_fn)
        return tanh_sum(x)

    outer = func.grad(lambda x: func.grad(inner)(x).sum())(Tensor(X))
    assert isinstance(seen[0], Alias) and outer.grad_fn is None
    func.grad(inner)(Tensor(X))
    assert seen[1] is None  # at the top level: a fresh leaf, nothing extra recorded


# ----------------------------------------------------------------------------- functional_call


def test_functional_call_hessian_of_the_loss_in_a_layers_weights():
    model = bn_mlp()
    x, y = RNG.standard_normal((8, 4)), RNG.standard_normal((8, 3))
    own = {name: p.numpy().copy() for name, p in model.named_parameters()}
    w = model[0].weight

    def loss(weight: Tensor) -> Tensor:
        return mse(func.functional_call(model, {"0.weight": weight}, (Tensor(x),)), y)

    h = func.hessian(loss)(Tensor(w.numpy() * 1.1)).numpy()
    assert h.shape == w.shape + w.shape
    flat = h.reshape(w.size, w.size)
    np.testing.assert_allclose(flat, flat.T, rtol=1e-9, atol=1e-12)
    v = RNG.standard_normal(w.shape)
    numeric = central(lambda t: func.grad(loss)(Tensor(w.numpy() * 1.1 + t * v)).numpy(), 1e-4)
    np.testing.assert_allclose(np.tensordot(h, v, axes=2), numeric, rtol=1e-8, atol=1e-10)
    for name, p in model.named_parameters():  # the module's own weights are back, unchanged
        np.testing.assert_array_equal(p.numpy(), own[name])
    assert model[0].weight is w and w.grad is None


def test_functional_call_matches_the_module_with_its_own_parameters():
    model = bn_mlp(batchnorm=False)
    x = Tensor(RNG.standard_normal((5, 4)))
    params = {name: Tensor(p.numpy()) for name, p in model.named_parameters()}
    np.testing.assert_allclose(func.functional_call(model, params, x).numpy(), model(x).numpy(), rtol=1e-15)
    grads = func.grad(lambda p: func.functional_call(model, p, x).sum())(params)
    assert set(grads) == set(params)
    model(x).sum().backward()
    for name, p in model.named_parameters():
        np.testing.assert_allclose(grads[name].numpy(), p.grad.numpy(), rtol=1e-13)


def test_functional_call_restores_parameters_after_an_error_and_checks_names():
    model = bn_mlp()
    before = {name: p for name, p in model.named_parameters()}
    with pytest.raises(ValueError, match="expected 4 features|input has 3 features"):
        func.functional_call(model, {"0.bias": Tensor(np.zeros(6))}, Tensor(np.ones((5, 3))))
    assert {name: p for name, p in model.named_parameters()} == before
    assert model[0].bias is before["0.bias"]
    with pytest.raises(ValueError, match="no parameter or buffer named '0.wieght'"):
        func.functional_call(model, {"0.wieght": Tensor(np.zeros((6, 4)))}, Tensor(np.ones((5, 4))))
    with pytest.raises(ValueError, match="strict=True but no value is given for"):
        func.functional_call(model, {"0.weight": Tensor(np.zeros((6, 4)))}, Tensor(np.ones((5, 4))), strict=True)
    with pytest.raises(TypeError, match="'0.weight' must be a Tensor"):
        func.functional_call(model, {"0.weight": np.zeros((6, 4))}, Tensor(np.ones((5, 4))))
    with pytest.raises(ValueError, match="given more than once"):
        func.functional_call(model, ({"0.bias": Tensor(np.zeros(6))}, {"0.bias": Tensor(np.zeros(6))}),
                             Tensor(np.ones((5, 4))))


def test_functional_call_buffers_and_kwargs():
    model = bn_mlp().eval()
    x = Tensor(RNG.standard_normal((5, 4)))
    shifted = {"1.running_mean": Tensor(np.full(6, 0.5)), "1.running_var": Tensor(np.full(6, 4.0))}
    out = func.functional_call(model, shifted, args=(), kwargs={"x": x})
    manual = model[0](x)
    manual = model[3](((manual - 0.5) / np.sqrt(4.0 + 1e-5) * model[1].weight + model[1].bias).tanh())
    np.testing.assert_allclose(out.numpy(), manual.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(model[1].running_mean.numpy(), np.zeros(6))
