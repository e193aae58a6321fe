"""Losses and activations beyond the op table's generic checks: PyTorch's fused kernels to first order, the
masked cross-entropy path equal bit for bit to a plain mean, errors, activation modules and one_hot."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import OpError, Tensor, nn
from tinygrad_bn.nn import functional as F


def test_cross_entropy_without_ignored_labels_equals_a_plain_mean_bit_for_bit():
    """Ignored labels weigh 0 and the mean is rescaled by count / kept; with none ignored the rescaling is
    exactly 1, so values and gradients are those of the plain mean of -log p[label] (float32)."""
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((7, 5)).astype(np.float32)
    labels = rng.integers(0, 5, 7)
    x1, x2 = Tensor(logits, requires_grad=True), Tensor(logits, requires_grad=True)
    loss = F.cross_entropy(x1, labels)
    plain = -(F.log_softmax(x2, axis=1)[np.arange(7), labels]).mean()
    np.testing.assert_array_equal(loss.numpy(), plain.numpy())
    (loss * 3.0).backward()
    (plain * 3.0).backward()
    np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_eager_shortcut_without_ignored_labels_equals_the_masked_form_bit_for_bit(reduction):
    """Eager cross-entropy skips the mask when no label is ignored and no class is weighted (a dozen ops
    fewer per step); the masked form, which a compiled step always records and which runs with weights of 1,
    gives the same values and gradients bit for bit."""
    from tinygrad_bn.autograd import topological_order

    rng = np.random.default_rng(3)
    logits = rng.standard_normal((9, 4)).astype(np.float32)
    labels = rng.integers(0, 4, 9)
    x1, x2 = Tensor(logits, requires_grad=True), Tensor(logits, requires_grad=True)
    short = F.cross_entropy(x1, labels, reduction=reduction)
    masked = F.cross_entropy(x2, labels, reduction=reduction, weight=np.ones(4, np.float32))
    np.testing.assert_array_equal(short.numpy(), masked.numpy())
    assert len(topological_order([short], follow_all=True)) < len(topological_order([masked], follow_all=True))
    seed = rng.standard_normal(short.shape).astype(np.float32)
    short.backward(Tensor(seed))
    masked.backward(Tensor(seed))
    np.testing.assert_array_equal(x1.grad.numpy(), x2.grad.numpy())
    compiled = tg.jit(lambda x, y: tg.grad(F.cross_entropy(x, y, reduction="sum"), [x])[0])
    for _ in range(3):  # captured twice (the masked form), then replayed: the eager shortcut's gradient
        got = compiled(Tensor(logits, requires_grad=True), Tensor(labels))
        x3 = Tensor(logits, requires_grad=True)
        want = tg.grad(F.cross_entropy(x3, labels, reduction="sum"), [x3])[0]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert compiled.replays == 1


def test_ignored_labels_count_for_nothing():
    rng = np.random.default_rng(1)
    logits = rng.standard_normal((6, 3))
    labels = np.array([0, 2, -100, 1, -100, 2])
    kept = labels != -100
    per = F.cross_entropy(Tensor(logits), labels, reduction="none").numpy()
    assert np.all(per[~kept] == 0)
    np.testing.assert_allclose(F.cross_entropy(Tensor(logits), labels).item(), per[kept].mean(), rtol=1e-14)
    np.testing.assert_allclose(F.cross_entropy(Tensor(logits[kept]), labels[kept]).item(), per[kept].mean(), rtol=1e-14)
    x = Tensor(logits, requires_grad=True)
    F.cross_entropy(x, labels).backward()
    assert np.all(x.grad.numpy()[~kept] == 0)
    with pytest.raises(OpError, match=r"cross_entropy: every label equals ignore_index \(-100\)"):
        F.cross_entropy(Tensor(logits), np.full(6, -100))
    assert F.cross_entropy(Tensor(logits), np.full(6, -100), reduction="sum").item() == 0
    with pytest.raises(OpError, match="nll_loss: class label 3 is out of range for 3 classes"):
        F.nll_loss(Tensor(logits), np.array([0, 1, 2, 3, -100, 0]))
    with pytest.raises(OpError, match=r"nll_loss: weight has shape \(2,\), expected \(3,\)"):
        F.nll_loss(Tensor(logits), labels, weight=[1.0, 2.0])


def test_compiled_step_with_ignored_labels_replays_like_eager():
    """The mask is made of ops on the labels, so a compiled step handles any mix of ignored labels."""
    def step(x, y):
        loss = F.cross_entropy(x, y, ignore_index=0, label_smoothing=0.1, weight=[1.0, 2.0, 0.5])
        return loss, *tg.grad(loss, [x])

    rng = np.random.default_rng(2)
    compiled = tg.jit(step)
    for _ in range(4):
        x, y = rng.standard_normal((5, 3)), rng.integers(0, 3, 5)
        y[0] = 1
        got = compiled(Tensor(x, requires_grad=True), Tensor(y))
        want = step(Tensor(x, requires_grad=True), Tensor(y))
        for a, b in zip(got, want):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert compiled.replays == 2
    with pytest.raises(OpError, match="every label equals ignore_index"):
        compiled(Tensor(rng.standard_normal((5, 3)), requires_grad=True), Tensor(np.zeros(5, dtype=np.int64)))


torch = pytest.importorskip("torch")


def test_binary_cross_entropy_matches_torchs_fused_kernel_to_first_order():
    rng = np.random.default_rng(3)
    p, t, w = rng.uniform(0.01, 0.99, (4, 3)), rng.uniform(0, 1, (4, 3)), rng.uniform(0.5, 2, (4, 3))
    for reduction in ("mean", "sum", "none"):
        ours, theirs = Tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
        ot, tt = Tensor(t, requires_grad=True), torch.tensor(t, requires_grad=True)
        a = F.binary_cross_entropy(ours, ot, weight=w, reduction=reduction)
        b = torch.nn.functional.binary_cross_entropy(theirs, tt, weight=torch.tensor(w), reduction=reduction)
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12)
        a.sum().backward()
        b.sum().backward()
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-10)
        np.testing.assert_allclose(ot.grad.numpy(), tt.grad.numpy(), rtol=1e-10)
    edge = Tensor(np.array([0.0, 1.0, 1.0]))
    np.testing.assert_allclose(F.binary_cross_entropy(edge, np.array([1.0, 0.0, 1.0]), reduction="none").numpy(),
                               [100, 100, 0])  # logs clamped at -100, as PyTorch


def test_binary_cross_entropy_with_logits_is_stable_for_huge_logits():
    x = Tensor(np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0]), requires_grad=True)
    t = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    xt = torch.tensor(x.numpy(), requires_grad=True)
    expected = torch.nn.functional.binary_cross_entropy_with_logits(xt, torch.tensor(t), reduction="none")
    np.testing.assert_allclose(loss.numpy(), expected.detach().numpy(), rtol=1e-12)
    loss.sum().backward()
    expected.sum().backward()
    # gradients of size 1e-14 come from 1 - sigmoid(30): both libraries lose digits there (each at one of the
    # two tails), absolutely ~1e-16
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
    assert x.grad.numpy()[2] == 0.0  # sigmoid(0) - 0.5: exact at 0, where abs/relu forms give -0.5


@pytest.mark.parametrize(("ours", "theirs"), [
    (nn.LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)), (nn.ELU(0.5), torch.nn.ELU(0.5)), (nn.GELU(), torch.nn.GELU()),
    (nn.GELU("tanh"), torch.nn.GELU("tanh")), (nn.SiLU(), torch.nn.SiLU()),
    (nn.Softplus(2.0, 5.0), torch.nn.Softplus(2.0, 5.0)), (nn.Hardtanh(-0.5, 2.0), torch.nn.Hardtanh(-0.5, 2.0)),
    (nn.Softmax(0), torch.nn.Softmax(0)), (nn.LogSoftmax(1), torch.nn.LogSoftmax(1)),
], ids=lambda m: repr(m))
def test_activation_modules_match_pytorch(ours, theirs):
    x = np.linspace(-4, 4, 24).reshape(4, 6) + 0.013  # no value exactly at a kink
    a, xt = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = ours(a), theirs(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    upstream = np.cos(np.arange(24.0)).reshape(4, 6)
    (y * Tensor(upstream)).sum().backward()
    (yt * torch.tensor(upstream)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_one_hot():
    out = F.one_hot(Tensor(np.array([[0, 2], [1, 1]])), 4)
    assert out.shape == (2, 2, 4) and out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(4, dtype=np.int64)[[[0, 2], [1, 1]]])
    assert F.one_hot(np.array([3, 0])).shape == (2, 4)  # num_classes from the largest label
    with pytest.raises(OpError, match=r"one_hot: labels must lie in \[0, 2\)"):
        F.one_hot(np.array([0, 2]), 2)
    with pytest.raises(OpError, match="one_hot: labels must be integers"):
        F.one_hot(np.array([0.0]), 2)


def test_the_label_check_agrees_with_its_definition():
    """`_labels_valid` decides the usual batch from the smallest and largest label; on every small case it
    agrees with the plain definition (each label a class or ignore_index, not all ignored for a mean)."""
    from tinygrad_bn.nn.functional import _labels_valid

    def definition(labels, classes, ignore_index, need_one):
        ignored = labels == ignore_index
        return bool((((labels >= 0) & (labels < classes)) | ignored).all()) and (
            not need_one or labels.size == 0 or not ignored.all())

    rng = np.random.default_rng(0)
    for _ in range(3000):
        labels = rng.integers(-3, 5, int(rng.integers(0, 5)))
        classes, ignore_index, need_one = int(rng.integers(1, 4)), int(rng.integers(-3, 5)), bool(rng.integers(2))
        for array in (labels, np.abs(labels).astype(np.uint8), labels.astype(np.int32)):
            assert _labels_valid(array, classes, ignore_index, need_one) == definition(
                array, classes, ignore_index, need_one), (array, classes, ignore_index, need_one)
