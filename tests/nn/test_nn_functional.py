"""nn.functional: values and numerical stability of softmax and the losses, and their input validation."""
import numpy as np
import pytest

from tinygrad_bn import OpError, Tensor
from tinygrad_bn.nn import functional as F


def reference_log_softmax(x, axis=-1):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def test_softmax_and_log_softmax_values():
    x = np.random.default_rng(0).standard_normal((3, 4)) * 3
    for axis in (-1, 0):
        np.testing.assert_allclose(F.log_softmax(Tensor(x), axis=axis).data, reference_log_softmax(x, axis), rtol=1e-13)
        p = F.softmax(Tensor(x), axis=axis).data
        np.testing.assert_allclose(p, np.exp(reference_log_softmax(x, axis)), rtol=1e-13)
        np.testing.assert_allclose(p.sum(axis=axis), 1.0, rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_huge_logits_give_finite_loss_and_gradients(dtype):
    logits = Tensor(np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 1e4], [-1e4, -1e4, -1e4]], dtype=dtype),
                    requires_grad=True)
    labels = np.array([1, 2, 0])
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(logits.grad.data))
    # log_softmax row 0 is [0, -1e4, -2e4]; row 1 [-1e4 - log 2, -log 2, -log 2]; row 2 uniform
    expected = (1e4 + np.log(2) + np.log(3)) / 3
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)
    p = F.softmax(Tensor(logits.data), axis=1).data
    np.testing.assert_allclose(logits.grad.data, (p - np.eye(3)[labels]) / 3, atol=1e-7)
    ls = F.log_softmax(Tensor(logits.data), axis=1).data
    assert np.all(np.isfinite(ls))
    np.testing.assert_allclose(ls[0], [0.0, -1e4, -2e4], rtol=1e-7)


def test_softmax_gradient_is_finite_for_huge_logits():
    x = Tensor(np.array([[1e4, -1e4, 0.0]]), requires_grad=True)
    (F.softmax(x) * Tensor(np.array([[1.0, 2.0, 3.0]]))).sum().backward()
    assert np.all(np.isfinite(x.grad.data))


def test_cross_entropy_values_for_labels_and_probabilities():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((5, 4))
    labels = rng.integers(0, 4, 5)
    per_example = -reference_log_softmax(x)[np.arange(5), labels]
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), labels, reduction="none").data, per_example, rtol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), labels).item(), per_example.mean(), rtol=1e-13)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), Tensor(labels), reduction="sum").item(),
                               per_example.sum(), rtol=1e-13)
    one_hot = np.eye(4)[labels]
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), one_hot, reduction="none").data, per_example, rtol=1e-13)
    soft = rng.dirichlet(np.ones(4), 5)
    np.testing.assert_allclose(F.cross_entropy(Tensor(x), Tensor(soft)).item(),
                               -(soft * reference_log_softmax(x)).sum(axis=1).mean(), rtol=1e-13)


def test_nll_and_mse_values():
    rng = np.random.default_rng(2)
    lp = rng.standard_normal((3, 5))
    labels = np.array([4, 0, 2])
    np.testing.assert_allclose(F.nll_loss(Tensor(lp), labels).item(), -lp[[0, 1, 2], labels].mean())
    a, b = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(F.mse_loss(Tensor(a), b).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(Tensor(a), Tensor(b), reduction="sum").item(), ((a - b) ** 2).sum())
    np.testing.assert_allclose(F.mse_loss(Tensor(a), b, reduction="none").data, (a - b) ** 2)


def test_float32_losses_stay_float32():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    assert F.cross_entropy(x, np.array([0, 1])).dtype == np.float32
    assert F.cross_entropy(x, np.full((2, 3), 1 / 3)).dtype == np.float32
    assert F.mse_loss(x, np.zeros((2, 3))).dtype == np.float32


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("labels,bad", [([0, 3, 1], 3), ([0, -1, 1], -1)])
def test_labels_out_of_range(labels, bad):
    x = Tensor(np.zeros((3, 3)))
    with pytest.raises(ValueError, match=rf"cross_entropy: class label {bad} is out of range for 3 classes"):
        F.cross_entropy(x, np.array(labels))
    with pytest.raises(ValueError, match=rf"nll_loss: class label {bad} is out of range for 3 classes"):
        F.nll_loss(x, np.array(labels))


def test_boolean_or_float_labels_are_refused():
    """A boolean array would index as a mask and silently pick the wrong log-probabilities."""
    x = Tensor(np.array([[0.0, 5.0], [0.0, 5.0]]))
    with pytest.raises(ValueError, match="nll_loss: class labels must be integers, got dtype bool"):
        F.nll_loss(x, np.array([True, False]))
    with pytest.raises(ValueError, match="nll_loss: class labels must be integers, got dtype float64"):
        F.nll_loss(x, np.array([1.0, 0.0]))
    with pytest.raises(ValueError, match="cross_entropy: class labels must be integers, got bool labels"):
        F.cross_entropy(x, np.array([True, True]))
    # boolean one-hot targets of the logits' shape are probabilities
    np.testing.assert_allclose(F.cross_entropy(x, np.array([[False, True], [False, True]])).item(),
                               F.cross_entropy(x, np.array([1, 1])).item())


def test_cross_entropy_target_shape_mismatch():
    x = Tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy: expected 4 class labels of shape \(4,\), got shape \(3,\)"):
        F.cross_entropy(x, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: expected 4 class labels .* got shape \(4, 1\)"):
        F.cross_entropy(x, np.zeros((4, 1), dtype=int))
    with pytest.raises(ValueError, match=r"probability targets must have the logits' shape \(4, 3\), got \(4, 2\)"):
        F.cross_entropy(x, np.full((4, 2), 0.5))
    with pytest.raises(ValueError, match=r"cross_entropy: expected logits of shape \(N, C\), got \(4,\)"):
        F.cross_entropy(Tensor(np.zeros(4)), np.array([0]))
    with pytest.raises(ValueError, match=r"nll_loss: expected log-probabilities of shape \(N, C\), got \(2,\)"):
        F.nll_loss(Tensor(np.zeros(2)), np.array([0, 1]))
    with pytest.raises(ValueError, match=r"nll_loss: expected class labels of shape \(2, 2\) \(the input's shape "
                                         r"without its class axis 1\), got shape \(2,\)"):
        F.nll_loss(Tensor(np.zeros((2, 2, 2))), np.array([0, 1]))


def test_mse_shape_mismatch_does_not_broadcast():
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 1\) and target shape \(3,\) differ"):
        F.mse_loss(Tensor(np.zeros((3, 1))), np.zeros(3))


def test_linear_feature_mismatch():
    with pytest.raises(ValueError, match=r"linear: input has 4 features \(shape \(2, 4\)\) but the weight expects 3"):
        F.linear(Tensor(np.zeros((2, 4))), Tensor(np.zeros((5, 3))))


def test_unknown_reduction():
    for call in (lambda r: F.mse_loss(Tensor(np.zeros(2)), np.zeros(2), reduction=r),
                 lambda r: F.cross_entropy(Tensor(np.zeros((1, 2))), np.array([0]), reduction=r)):
        with pytest.raises(ValueError, match="reduction must be 'mean', 'sum' or 'none', got 'avg'"):
            call("avg")


# ----------------------------------------------------------------------------- empty batches


@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_of_an_empty_batch_is_empty_with_an_empty_gradient(fn):
    x = Tensor(np.zeros((0, 4), dtype=np.float32), requires_grad=True)
    out = fn(x)
    assert out.shape == (0, 4) and out.dtype == np.float32
    out.sum().backward()
    assert x.grad.shape == (0, 4) and x.grad.dtype == np.float32


def test_cross_entropy_of_an_empty_batch():
    """'none' gives the (0,) losses and 'sum' 0 with an empty gradient, as PyTorch; 'mean' (PyTorch's NaN)
    is an error that names cross_entropy, so a NaN never reaches a training loop."""
    logits = Tensor(np.zeros((0, 4), dtype=np.float32), requires_grad=True)
    labels = np.zeros(0, dtype=np.int64)
    assert F.cross_entropy(logits, labels, reduction="none").shape == (0,)
    total = F.cross_entropy(logits, labels, reduction="sum")
    assert total.shape == () and total.item() == 0.0
    total.backward()
    assert logits.grad.shape == (0, 4) and logits.grad.dtype == np.float32
    with pytest.raises(OpError, match=r"cross_entropy: reduction='mean' of an empty batch \(losses of shape \(0,\)\)"):
        F.cross_entropy(logits, labels)
    with pytest.raises(OpError, match=r"cross_entropy: reduction='mean' of an empty batch"):
        F.cross_entropy(logits, np.zeros((0, 4), dtype=np.float32))  # probability targets
