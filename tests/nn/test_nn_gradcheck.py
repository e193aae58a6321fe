"""Numerical gradient checks (first and second order) of the normalizations, losses and other functionals.

Everything in nn.functional is composed from primitive ops, so these check that composing them (and the
engine's backward of each) gives the right derivatives, including the second derivative through BN.
"""
import numpy as np
import pytest

from tinygrad_bn import Tensor, nn
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import gradcheck, gradgradcheck

BN_SHAPES = [(6, 3), (4, 3, 5), (3, 2, 3, 2)]


def bn_case(shape, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = rng.standard_normal(shape) * 2.0 + 0.5
    weight = rng.uniform(0.5, 2.0, c) * rng.choice([-1.0, 1.0], c)
    bias = rng.standard_normal(c)
    running_mean = rng.standard_normal(c)
    running_var = rng.uniform(0.5, 2.0, c)
    return x, weight, bias, running_mean, running_var


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("check", [gradcheck, gradgradcheck], ids=["grad", "gradgrad"])
def test_batch_norm_training(shape, check):
    x, weight, bias, _, _ = bn_case(shape)

    def fn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    result = check(fn, [x, weight, bias])
    assert result.ok and len(result.inputs) == 3


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("check", [gradcheck, gradgradcheck], ids=["grad", "gradgrad"])
def test_batch_norm_training_with_running_stats(shape, check):
    """Updating running statistics in place must not disturb the gradient."""
    x, weight, bias, running_mean, running_var = bn_case(shape, seed=1)
    rm, rv = Tensor(running_mean), Tensor(running_var)

    def fn(x, w, b):
        return F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.3)

    assert check(fn, [x, weight, bias]).ok
    assert not np.allclose(rm.data, running_mean)  # the checks did run training-mode forwards


@pytest.mark.parametrize("shape", BN_SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("check", [gradcheck, gradgradcheck], ids=["grad", "gradgrad"])
def test_batch_norm_eval(shape, check):
    x, weight, bias, running_mean, running_var = bn_case(shape, seed=2)

    def fn(x, w, b, rm, rv):
        return F.batch_norm(x, rm, rv, w, b, training=False)

    # the running statistics are inputs too: in evaluation mode the output is differentiable in them
    result = check(fn, [x, weight, bias, running_mean, running_var])
    assert result.ok and len(result.inputs) == 5


@pytest.mark.parametrize("layer_cls,shape", [(nn.BatchNorm1d, (5, 3)), (nn.BatchNorm1d, (3, 3, 4)),
                                             (nn.BatchNorm2d, (3, 3, 2, 2))])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batch_norm_layers(layer_cls, shape, training):
    x, weight, bias, running_mean, running_var = bn_case(shape, seed=3)
    layer = layer_cls(shape[1], dtype=np.float64)
    layer.load_state_dict({"weight": weight, "bias": bias, "running_mean": running_mean,
                           "running_var": running_var, "num_batches_tracked": np.array(3)})
    layer.train(training)
    assert gradcheck(layer, [x]).ok
    assert gradgradcheck(layer, [x]).ok


@pytest.mark.parametrize("shape,normalized", [((4, 5), (5,)), ((2, 3, 4), (4,)), ((2, 3, 4), (3, 4))])
@pytest.mark.parametrize("check", [gradcheck, gradgradcheck], ids=["grad", "gradgrad"])
def test_layer_norm(shape, normalized, check):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape) * 2.0 + 1.0
    weight = rng.uniform(0.5, 2.0, normalized)
    bias = rng.standard_normal(normalized)
    assert check(lambda x, w, b: F.layer_norm(x, normalized, w, b), [x, weight, bias]).ok
    assert check(lambda x: F.layer_norm(x, normalized), [x]).ok


def test_layer_norm_module():
    x = np.random.default_rng(5).standard_normal((3, 6)) * 3
    ln = nn.LayerNorm(6, dtype=np.float64)
    ln.weight.data[...] = np.linspace(0.5, 2.0, 6)
    ln.bias.data[...] = np.linspace(-1.0, 1.0, 6)
    assert gradcheck(ln, [x]).ok
    assert gradgradcheck(ln, [x]).ok


# ----------------------------------------------------------------------------- softmax, losses, linear


def logits_case(n=4, c=5, seed=6):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, c)) * 2.0, rng.integers(0, c, n), rng.dirichlet(np.ones(c), n)


@pytest.mark.parametrize("check", [gradcheck, gradgradcheck], ids=["grad", "gradgrad"])
@pytest.mark.parametrize("axis", [-1, 0])
def test_softmax_and_log_softmax(check, axis):
    x, _, _ = logits_case()
    assert check(lambda t: F.softmax(t, axis=axis), [x]).ok
    assert check(lambda t: F.log_softmax(t, axis=axis), [x]).ok


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
def test_cross_entropy(reduction, target_kind):
    x, labels, probs = logits_case()
    target = labels if target_kind == "labels" else probs
    assert gradcheck(lambda t: F.cross_entropy(t, target, reduction=reduction), [x]).ok
    assert gradgradcheck(lambda t: F.cross_entropy(t, target, reduction=reduction), [x]).ok


def test_cross_entropy_gradient_in_probability_targets():
    x, _, probs = logits_case()
    assert gradcheck(lambda t, p: F.cross_entropy(t, p), [x, probs]).ok


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss(reduction):
    x, labels, _ = logits_case()
    assert gradcheck(lambda t: F.nll_loss(F.log_softmax(t, axis=1), labels, reduction=reduction), [x]).ok
    assert gradcheck(lambda t: F.nll_loss(t, labels, reduction=reduction), [x]).ok


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss(reduction):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    assert gradcheck(lambda p, q: F.mse_loss(p, q, reduction=reduction), [a, b]).ok
    assert gradgradcheck(lambda p, q: F.mse_loss(p, q, reduction=reduction), [a, b]).ok


@pytest.mark.parametrize("x_shape", [(4, 3), (2, 4, 3), (3,)])
def test_linear(x_shape):
    rng = np.random.default_rng(8)
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((5, 3)), rng.standard_normal(5)
    assert gradcheck(F.linear, [x, w, b]).ok
    assert gradcheck(lambda x, w: F.linear(x, w), [x, w]).ok
    assert gradgradcheck(lambda x, w, b: F.linear(x, w, b).tanh(), [x, w, b]).ok


def test_gradcheck_detects_a_wrong_gradient():
    """The checks above would fail if the gradient were wrong: detaching the variance breaks BN's."""
    x, weight, bias, _, _ = bn_case((6, 3))

    def wrong_bn(x):
        centered = x - x.mean(axis=0, keepdims=True)
        var = (centered * centered).mean(axis=0, keepdims=True).detach()
        return centered / (var + 1e-5).sqrt()

    assert not gradcheck(wrong_bn, [x], raise_exception=False).ok
    assert gradcheck(lambda x: F.batch_norm(x, None, None, training=True), [x]).ok
