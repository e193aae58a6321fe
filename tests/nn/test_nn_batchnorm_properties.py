"""Properties of batch normalization in training mode, with gamma = 1 and beta = 0.

Checked on F.batch_norm and on BatchNorm1d/BatchNorm2d, for 2-D, 3-D and 4-D inputs:
- each feature of the output has mean 0 and variance var / (var + eps), i.e. 1 when var >> eps;
- the output does not change when a feature is scaled by a positive factor or shifted;
- for any upstream gradient, the input gradient sums to zero over the batch (and spatial axes) and is
  orthogonal to x_hat, per feature;
- autodiff's gradient equals the closed-form BN backward (to 1e-10 in float64);
- the second derivative is right, unlike a DeZero-style backward that treats mean and 1/std as constants.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygrad_bn import Tensor, grad, nn
from tinygrad_bn.autograd import Function
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import GradcheckError, gradcheck, gradgradcheck
from tinygrad_bn.testing import strategies as tst

EPS = 1e-5  # the default eps of F.batch_norm and the layers
TINY_EPS = 1e-12  # far below every feature variance drawn here, for identities that hold exactly at eps = 0


@st.composite
def bn_inputs(draw, max_extra_dims=2):
    """(N, C, *spatial) float64 arrays whose values are pairwise at least 0.75 apart, so every feature has a
    variance of at least 0.14 (>= 1e4 * eps): batch norm is well defined and eps barely matters."""
    n = draw(st.integers(2, 6))
    c = draw(st.integers(1, 3))
    extra = tuple(draw(st.lists(st.integers(1, 2), min_size=0, max_size=max_extra_dims)))
    return draw(tst.arrays((n, c) + extra, low=-50.0, high=50.0, distinct=True, margin=1.0))


def reduce_axes(x):
    return (0,) + tuple(range(2, x.ndim))


def per_feature(a):
    """(C, rest) view: every value of one feature in one row."""
    return np.moveaxis(np.asarray(a), 1, 0).reshape(a.shape[1], -1)


def normalize(x: Tensor, how: str, eps: float = EPS) -> Tensor:
    """Training-mode batch norm with gamma = 1 and beta = 0, through the functional form or a layer."""
    c = x.shape[1]
    if how == "functional":
        gamma, beta = Tensor(np.ones(c)), Tensor(np.zeros(c))
        return F.batch_norm(x, None, None, gamma, beta, training=True, eps=eps)
    layer = (nn.BatchNorm2d if x.ndim == 4 else nn.BatchNorm1d)(c, eps=eps, dtype=np.float64)
    assert layer.training
    np.testing.assert_array_equal(layer.weight.data, 1.0)
    np.testing.assert_array_equal(layer.bias.data, 0.0)
    return layer(x)


HOW = st.sampled_from(["functional", "layer"])


@given(bn_inputs(), HOW)
def test_each_feature_has_mean_zero_and_unit_variance(x, how):
    y = per_feature(normalize(Tensor(x), how).data)
    var_in = per_feature(x).var(axis=1)
    assert np.all(var_in > 1e4 * EPS)  # the strategy's promise, so "variance 1" is meaningful
    np.testing.assert_allclose(y.mean(axis=1), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), var_in / (var_in + EPS), rtol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1.0, atol=1e-4)


@given(bn_inputs(), HOW, st.data())
def test_output_is_invariant_to_positive_scaling_and_shifting_per_feature(x, how, data):
    c = x.shape[1]
    scale = data.draw(tst.arrays((c,), low=0.1, high=10.0, domain="positive"), label="scale")
    shift = data.draw(tst.arrays((c,), low=-100.0, high=100.0), label="shift")
    shape = (1, c) + (1,) * (x.ndim - 2)
    moved = x * scale.reshape(shape) + shift.reshape(shape)
    y = normalize(Tensor(x), how, eps=TINY_EPS).data
    y_moved = normalize(Tensor(moved), how, eps=TINY_EPS).data
    np.testing.assert_allclose(y_moved, y, rtol=1e-9, atol=1e-9)


@given(bn_inputs(), HOW, st.data())
def test_input_gradient_sums_to_zero_over_the_batch(x, how, data):
    g = data.draw(tst.arrays(x.shape, low=-3.0, high=3.0), label="upstream")
    xt = Tensor(x, requires_grad=True)
    (dx,) = grad(normalize(xt, how), xt, grad_outputs=Tensor(g))
    dx = dx.data
    scale = 1.0 + np.abs(dx).sum()
    np.testing.assert_allclose(dx.sum(axis=reduce_axes(x)), 0.0, atol=1e-12 * scale)


@given(bn_inputs(), HOW, st.data())
def test_input_gradient_is_orthogonal_to_x_hat(x, how, data):
    g = data.draw(tst.arrays(x.shape, low=-3.0, high=3.0), label="upstream")
    xt = Tensor(x, requires_grad=True)
    y = normalize(xt, how, eps=TINY_EPS)  # gamma = 1, beta = 0: the output is x_hat
    (dx,) = grad(y, xt, grad_outputs=Tensor(g))
    dots = (dx.data * y.data).sum(axis=reduce_axes(x))
    scale = 1.0 + (np.abs(dx.data) * np.abs(y.data)).sum()
    np.testing.assert_allclose(dots, 0.0, atol=1e-10 * scale)


def closed_form_backward(x, dy, gamma, eps):
    """The textbook BN input gradient, written out in numpy:
    dx = (1/N) * (1/sqrt(var+eps)) * (N * dx_hat - sum(dx_hat) - x_hat * sum(dx_hat * x_hat)),
    with dx_hat = dy * gamma and N the number of values per feature (sums over batch and spatial axes)."""
    axes = reduce_axes(x)
    shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    n = x.size // x.shape[1]
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    dx_hat = dy * gamma.reshape(shape)
    return (1.0 / n) * inv_std * (
        n * dx_hat - dx_hat.sum(axis=axes, keepdims=True) - x_hat * (dx_hat * x_hat).sum(axis=axes, keepdims=True)
    )


@given(bn_inputs(), st.data(), st.sampled_from([EPS, 1e-3, 0.5]))
def test_autodiff_gradient_equals_closed_form(x, data, eps):
    c = x.shape[1]
    dy = data.draw(tst.arrays(x.shape), label="dy")
    gamma = data.draw(tst.arrays((c,), low=-2.0, high=2.0), label="gamma")
    beta = data.draw(tst.arrays((c,)), label="beta")
    xt = Tensor(x, requires_grad=True)
    y = F.batch_norm(xt, None, None, Tensor(gamma), Tensor(beta), training=True, eps=eps)
    (dx,) = grad(y, xt, grad_outputs=Tensor(dy))
    assert dx.dtype == np.float64
    np.testing.assert_allclose(dx.data, closed_form_backward(x, dy, gamma, eps), rtol=0, atol=1e-10)


@pytest.mark.parametrize("shape", [(7, 3), (4, 3, 5), (3, 2, 3, 4)])
def test_autodiff_gradient_equals_closed_form_for_layers(shape):
    rng = np.random.default_rng(11)
    x = rng.standard_normal(shape) * 3 + 1
    dy = rng.standard_normal(shape)
    layer = (nn.BatchNorm2d if len(shape) == 4 else nn.BatchNorm1d)(shape[1], dtype=np.float64)
    layer.weight.data[...] = rng.standard_normal(shape[1])
    xt = Tensor(x, requires_grad=True)
    layer(xt).backward(Tensor(dy))
    np.testing.assert_allclose(xt.grad.data, closed_form_backward(x, dy, layer.weight.data, EPS), rtol=0, atol=1e-10)
    # and the parameters' gradients: d gamma = sum(dy * x_hat), d beta = sum(dy)
    axes = reduce_axes(x)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(x.var(axis=axes, keepdims=True) + EPS)
    np.testing.assert_allclose(layer.weight.grad.data, (dy * x_hat).sum(axis=axes), atol=1e-10)
    np.testing.assert_allclose(layer.bias.grad.data, dy.sum(axis=axes), atol=1e-10)


# ----------------------------------------------------------------------------- double backward vs DeZero


class DezeroStyleBatchNorm(Function):
    """Training-mode BN of (N, C) input (no affine) with DeZero's hand-written backward.

    The backward is the correct closed form and is written in Tensor ops, so it can be differentiated;
    but, as in DeZero, the batch mean and 1/std are kept from the forward as plain arrays, i.e. treated
    as constants. The first derivative is right; the second misses their dependence on x.
    """

    def forward(self, x):
        self.mean = x.mean(axis=0, keepdims=True)
        self.inv_std = 1.0 / np.sqrt(x.var(axis=0, keepdims=True) + EPS)
        return (x - self.mean) * self.inv_std

    def backward(self, g):
        (x,) = self.parents
        n = x.shape[0]
        x_hat = (x - self.mean) * self.inv_std  # depends on x, but mean and inv_std are constants
        gx = (g - g.sum(axis=0, keepdims=True) / n - x_hat * (x_hat * g).sum(axis=0, keepdims=True) / n)
        return (gx * self.inv_std,)


def composed_bn(x):
    return F.batch_norm(x, None, None, training=True, eps=EPS)


def dezero_bn(x):
    return DezeroStyleBatchNorm.apply(x)


def gradient_norm(bn, x):
    """d/dx of ||d loss/dx||^2 with loss = sum(bn(x)^3 * w): a second derivative through BN."""
    w = Tensor(np.linspace(-1.0, 1.0, x.size).reshape(x.shape))
    xt = Tensor(x, requires_grad=True)
    (dx,) = grad((bn(xt) ** 3 * w).sum(), xt, create_graph=True)
    (ddx,) = grad((dx * dx).sum(), xt)
    return dx.data, ddx.data


def test_double_backward_through_bn_is_right_and_dezero_style_is_not():
    x = np.random.default_rng(3).standard_normal((6, 3)) * 2 + 0.5
    # same forward, same first derivative ...
    np.testing.assert_allclose(dezero_bn(Tensor(x)).data, composed_bn(Tensor(x)).data, atol=1e-12)
    gradcheck(composed_bn, [x])
    gradcheck(dezero_bn, [x])
    dx_true, ddx_true = gradient_norm(composed_bn, x)
    dx_dezero, ddx_dezero = gradient_norm(dezero_bn, x)
    np.testing.assert_allclose(dx_dezero, dx_true, atol=1e-10)
    # ... but only the composed BN has the right second derivative
    gradgradcheck(composed_bn, [x])
    with pytest.raises(GradcheckError, match="MISMATCH"):
        gradgradcheck(dezero_bn, [x])
    assert not gradgradcheck(dezero_bn, [x], raise_exception=False).ok
    gap = np.linalg.norm(ddx_dezero - ddx_true) / np.linalg.norm(ddx_true)
    assert gap > 0.1, f"treating 1/std as a constant should visibly change the second derivative, gap {gap}"


def numerical_gradient(f, x, h=1e-6):
    out = np.zeros_like(x)
    for i in range(x.size):
        up, down = x.copy(), x.copy()
        up.flat[i] += h
        down.flat[i] -= h
        out.flat[i] = (f(up) - f(down)) / (2 * h)
    return out


def test_second_derivative_through_bn_matches_finite_differences_of_the_first():
    x = np.random.default_rng(5).standard_normal((5, 2)) * 1.5

    def squared_gradient_norm(arr):
        return float((gradient_norm(composed_bn, arr)[0] ** 2).sum())

    _, ddx = gradient_norm(composed_bn, x)
    np.testing.assert_allclose(ddx, numerical_gradient(squared_gradient_norm, x), rtol=1e-5, atol=1e-6)
