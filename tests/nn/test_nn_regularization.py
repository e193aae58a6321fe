"""L2 and L1 penalties as the source material writes them: lam/(2m) * sum ||W||^2 and lam/(2m) * sum |w|."""
import numpy as np
import pytest

from tinygrad_bn import Tensor, manual_seed, nn
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import gradcheck


def test_l2_penalty_value_and_gradient_are_weight_decay():
    rng = np.random.default_rng(0)
    w1, w2 = Tensor(rng.normal(size=(3, 4)), requires_grad=True), Tensor(rng.normal(size=(2, 3)), requires_grad=True)
    lam, m = 0.3, 50
    penalty = F.l2_penalty([w1, w2], lam, m)
    expected = lam / (2 * m) * ((w1.numpy() ** 2).sum() + (w2.numpy() ** 2).sum())
    assert penalty.item() == pytest.approx(expected, rel=1e-12)
    penalty.backward()
    np.testing.assert_allclose(w1.grad.numpy(), lam / m * w1.numpy(), rtol=1e-12)
    np.testing.assert_allclose(w2.grad.numpy(), lam / m * w2.numpy(), rtol=1e-12)


def test_l1_penalty_value_and_gradient_are_constant_size():
    w = Tensor(np.array([[0.5, -2.0, 0.01], [-0.03, 3.0, -1.0]]), requires_grad=True)
    lam, m = 0.2, 10
    penalty = F.l1_penalty(w, lam, m)
    assert penalty.item() == pytest.approx(lam / (2 * m) * np.abs(w.numpy()).sum(), rel=1e-12)
    penalty.backward()
    np.testing.assert_allclose(w.grad.numpy(), lam / (2 * m) * np.sign(w.numpy()), rtol=1e-12)


def test_module_penalties_cover_only_weight_matrices():
    manual_seed(0)
    model = nn.MLP(5, [4], 3, batchnorm=True)
    weights = [model[0].weight, model[3].weight]
    assert F.l2_penalty(model, 1.0, 1).item() == pytest.approx(sum((w.numpy() ** 2).sum() for w in weights) / 2,
                                                               rel=1e-6)
    F.l1_penalty(model, 1.0, 1).backward()
    assert model[0].bias.grad is None and model[1].weight.grad is None  # biases and BN's gamma untouched
    assert model[0].weight.grad is not None and model[3].weight.grad is not None


def test_penalties_gradcheck():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(3, 3))
    w[np.abs(w) < 0.1] = 0.5  # keep |w| away from abs's kink
    assert gradcheck(lambda t: F.l2_penalty([t], 0.7, 9), [w])
    assert gradcheck(lambda t: F.l1_penalty([t], 0.7, 9), [w])


def test_bad_arguments():
    w = Tensor(np.ones((2, 2)), requires_grad=True)
    with pytest.raises(ValueError, match="l2_penalty: need lam >= 0 and m > 0"):
        F.l2_penalty([w], 0.1, 0)
    with pytest.raises(ValueError, match="l1_penalty"):
        F.l1_penalty([w], -1.0, 5)
    with pytest.raises(TypeError, match="expected Tensors or a Module"):
        F.l2_penalty([np.ones(3)], 0.1, 5)


def fit_linear(penalty, lam: float) -> np.ndarray:
    """Gradient descent on mse + penalty for y = X w_true, where only 3 of 20 features matter."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 20))
    w_true = np.zeros((1, 20))
    w_true[0, :3] = [2.0, -3.0, 1.5]
    y = Tensor(x @ w_true.T + 0.1 * rng.normal(size=(200, 1)))
    w = Tensor(rng.normal(scale=0.5, size=(1, 20)), requires_grad=True)
    xt = Tensor(x)
    for _ in range(3000):
        loss = F.mse_loss(xt @ w.T, y) + penalty([w], lam, len(x))
        w.grad = None
        loss.backward()
        w.data -= 0.01 * w.grad.data
    return w.numpy()[0]


def test_l1_makes_unneeded_weights_vanish_where_l2_only_shrinks_them():
    """The documented property: at the same strength, L1 drives the 17 irrelevant weights to (about) zero,
    L2 leaves them small but clearly nonzero; both keep the 3 relevant ones."""
    lam = 20.0
    w_l1, w_l2 = fit_linear(F.l1_penalty, lam), fit_linear(F.l2_penalty, lam)
    irrelevant_l1, irrelevant_l2 = np.abs(w_l1[3:]), np.abs(w_l2[3:])
    assert irrelevant_l1.max() < 1e-3  # subgradient steps leave them oscillating within lr * lam / 2m of 0
    assert np.median(irrelevant_l2) > 10 * np.median(irrelevant_l1)
    assert (np.abs(w_l1[:3]) > 1.0).all() and (np.abs(w_l2[:3]) > 1.0).all()
