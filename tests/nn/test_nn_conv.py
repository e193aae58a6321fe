"""Convolution and pooling layers: shapes, PyTorch's default initialization, errors that name the op and the
shapes, second derivatives through a conv net, and compiled training steps equal to eager ones."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import OpError, Tensor, nn, optim
from tinygrad_bn.compiler import jit
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import gradcheck, gradgradcheck
from tinygrad_bn.train import TrainStep


def test_conv2d_output_shapes_follow_pytorch_formula():
    x = Tensor(np.zeros((2, 3, 11, 9), dtype=np.float32))
    for options, expected in [({}, (9, 7)), ({"padding": 1}, (11, 9)), ({"stride": 2}, (5, 4)),
                              ({"stride": (2, 3), "padding": (1, 0), "dilation": (2, 1)}, (5, 3)),
                              ({"padding": "same", "dilation": 2}, (11, 9)), ({"padding": "valid"}, (9, 7))]:
        conv = nn.Conv2d(3, 4, 3, **options)
        assert conv(x).shape == (2, 4) + expected, options
        assert conv(x).dtype == np.float32
    assert nn.Conv2d(3, 6, (1, 2), groups=3)(x).shape == (2, 6, 11, 8)
    assert nn.Conv1d(3, 2, 4, stride=3)(Tensor(np.zeros((2, 3, 10)))).shape == (2, 2, 3)
    assert nn.Conv2d(3, 4, 3, padding=1)(Tensor(np.zeros((3, 5, 5)))).shape == (4, 5, 5)  # unbatched


def test_conv_default_init_is_pytorchs_uniform_in_one_over_sqrt_fan_in():
    tg.manual_seed(0)
    conv = nn.Conv2d(16, 32, 3, groups=2)
    assert [name for name, _ in conv.named_parameters()] == ["weight", "bias"]
    assert conv.weight.shape == (32, 8, 3, 3) and conv.bias.shape == (32,)
    bound = 1 / math.sqrt(8 * 9)  # fan_in = in_channels / groups * kernel elements
    for p in (conv.weight.data, conv.bias.data):
        assert np.abs(p).max() <= bound and np.abs(p).max() > 0.9 * bound
    assert abs(conv.weight.data.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert nn.Conv1d(4, 4, 3, bias=False).bias is None
    assert "padding=(1, 1)" in repr(nn.Conv2d(3, 4, 3, padding=1))


def test_pooling_modules_and_flatten():
    x = Tensor(np.arange(2 * 3 * 6 * 6, dtype=np.float64).reshape(2, 3, 6, 6))
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 3, 3)
    np.testing.assert_array_equal(nn.MaxPool2d(2)(x).numpy(), x.numpy()[:, :, 1::2, 1::2])
    np.testing.assert_allclose(nn.AvgPool2d(2)(x).numpy(), x.numpy().reshape(2, 3, 3, 2, 3, 2).mean(axis=(3, 5)))
    np.testing.assert_allclose(nn.AdaptiveAvgPool2d(1)(x).numpy(), x.numpy().mean(axis=(2, 3), keepdims=True))
    assert nn.Flatten()(x).shape == (2, 108)
    assert nn.Flatten(0, 1)(x).shape == (6, 6, 6)
    assert nn.MaxPool1d(3, stride=1)(Tensor(np.zeros((1, 2, 5)))).shape == (1, 2, 3)
    assert nn.AvgPool1d(2)(Tensor(np.zeros((1, 2, 5)))).shape == (1, 2, 2)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((4, 2, 3, 3)))),
     r"conv2d: the input has 3 channels but the weight \(4, 2, 3, 3\) expects 2"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 2, 2, 2))), Tensor(np.zeros((4, 2, 3, 3)))),
     r"conv2d: the kernel \(3, 3\).*larger than the padded input \(2, 2\) \(input \(1, 2, 2, 2\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 4, 5, 5))), Tensor(np.zeros((3, 2, 3, 3))), groups=2),
     r"conv2d: groups=2 must divide the input channels \(4\) and the output channels \(3\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((4, 3, 3)))),
     r"conv2d: expected a weight of shape \(C_out, C_in/groups, 2 kernel sizes\), got \(4, 3, 3\)"),
    (lambda: F.conv2d(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((4, 3, 3, 3))), stride=2, padding="same"),
     r"conv2d: padding='same' needs stride 1"),
    (lambda: F.conv1d(Tensor(np.zeros((1, 3, 5))), Tensor(np.zeros((4, 3, 3))), Tensor(np.zeros(3))),
     r"conv1d: bias has shape \(3,\), expected \(4,\)"),
    (lambda: F.max_pool2d(Tensor(np.zeros((1, 1, 4, 4))), 2, padding=2),
     r"max_pool2d: padding \(2, 2\) must be at most half the kernel size \(2, 2\)"),
    (lambda: F.avg_pool2d(Tensor(np.zeros((1, 1, 2, 2))), 3),
     r"avg_pool2d: the window \(3, 3\).*larger than the padded input \(2, 2\)"),
    (lambda: F.conv2d(Tensor(np.zeros((5, 5))), Tensor(np.zeros((4, 3, 3, 3)))),
     r"conv2d: expected input of shape \(N, C, 2 spatial\) or \(C, 2 spatial\), got \(5, 5\)"),
    (lambda: F.pad(Tensor(np.zeros((2, 3))), (3, 0), mode="reflect"),
     r"pad: mode 'reflect' pads axis 1 of size 3 by at most 2"),
])
def test_bad_input_is_an_op_error_naming_the_op_and_the_shapes(call, message):
    with pytest.raises(OpError, match=message):
        call()


def test_primitives_check_their_shapes_too():
    """Called directly (as backward does), the primitives raise the same kind of error."""
    from tinygrad_bn import ops

    with pytest.raises(OpError, match=r"conv2d: the input has 3 channels"):
        ops.Conv.apply(Tensor(np.zeros((1, 3, 5, 5))), Tensor(np.zeros((4, 2, 3, 3))), stride=(1, 1),
                       dilation=(1, 1), groups=1)
    with pytest.raises(OpError, match=r"conv_transpose2d: an output of spatial size \(2, 2\) has only windows"):
        ops.ConvTranspose.apply(Tensor(np.zeros((1, 4, 3, 3))), Tensor(np.zeros((4, 2, 1, 1))), stride=(1, 1),
                                dilation=(1, 1), groups=1, size=(2, 2))


def small_conv_net(x, w1, b1, w2, w3):
    """conv (padded, strided) -> tanh -> max pool -> grouped conv -> avg pool -> 1x1 conv -> global average."""
    y = F.conv2d(x, w1, b1, stride=(1, 2), padding=1).tanh()
    y = F.max_pool2d(y, 2, stride=1)
    y = F.conv2d(y, w2, groups=2, dilation=(1, 1)).sigmoid()
    y = F.avg_pool2d(y, 2, stride=1, padding=1, count_include_pad=False)
    return F.adaptive_avg_pool2d(F.conv2d(y, w3), 1).flatten(1)


def test_gradgradcheck_through_a_small_conv_net():
    rng = np.random.default_rng(0)
    # distinct pre-pooling values (no ties within a window) are what a random draw gives almost surely
    inputs = [rng.standard_normal((2, 2, 6, 7)), rng.standard_normal((4, 2, 3, 3)), rng.standard_normal(4),
              rng.standard_normal((4, 2, 2, 2)), rng.standard_normal((3, 4, 1, 1))]
    assert gradcheck(small_conv_net, inputs).ok
    assert gradgradcheck(small_conv_net, inputs).ok


def test_gradgradcheck_of_conv_transpose_and_strided_dilated_conv():
    rng = np.random.default_rng(1)

    def net(x, w1, w2):
        y = F.conv_transpose2d(x, w1, stride=2, padding=1, output_padding=1, dilation=(1, 2)).tanh()
        return F.conv2d(y, w2, stride=(2, 3), dilation=2, padding=(2, 0)) ** 2

    inputs = [rng.standard_normal((1, 2, 3, 3)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal((2, 3, 2, 2))]
    assert gradgradcheck(net, inputs).ok


def cnn(batchnorm: bool) -> nn.Module:
    tg.manual_seed(0)
    norm = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), *norm(4), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, padding=1), *norm(6), nn.ReLU(), nn.AvgPool2d(2),
                         nn.Flatten(), nn.Linear(6 * 2 * 2, 5))


@pytest.mark.parametrize("batchnorm", [True, False], ids=["bn", "no_bn"])
def test_compiled_cnn_training_equals_eager_bit_for_bit(batchnorm):
    rng = np.random.default_rng(2)
    batches = [(rng.standard_normal((6, 1, 8, 8)).astype(np.float32), rng.integers(0, 5, 6)) for _ in range(6)]
    results = []
    for compiled in (False, True):
        model = cnn(batchnorm)
        step = TrainStep(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1, momentum=0.9))
        step = jit(step) if compiled else step
        losses = [step(Tensor(x), Tensor(y))[0].numpy().copy() for x, y in batches]
        results.append((losses, model.state_dict()))
        if compiled:
            assert step.replays == len(batches) - 2
    (eager_losses, eager_state), (jit_losses, jit_state) = results
    np.testing.assert_array_equal(eager_losses, jit_losses)
    for key in eager_state:
        np.testing.assert_array_equal(eager_state[key], jit_state[key], err_msg=key)


def test_padding_modes_of_conv_layers():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 4, 5))
    for mode in ("reflect", "replicate", "circular"):
        conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode=mode, dtype=np.float64)
        expected = F.conv2d(F.pad(Tensor(x), (1, 1, 1, 1), mode=mode), conv.weight, conv.bias)
        np.testing.assert_allclose(conv(Tensor(x)).numpy(), expected.numpy())
    with pytest.raises(ValueError, match="padding_mode must be"):
        nn.Conv2d(2, 3, 3, padding_mode="mirror")


EDGE_CASES = {  # the edge cases, each drawn by the op table too; here named, so each is certain to run
    "kernel equal to the input": dict(x=(2, 2, 3, 4), w=(3, 2, 3, 4)),
    "kernel equal to the padded input": dict(x=(1, 2, 2, 2), w=(2, 2, 4, 4), padding=1),
    "stride larger than the kernel": dict(x=(2, 2, 7, 8), w=(3, 2, 2, 1), stride=(3, 4)),
    "padding on one side only ('same', even kernel)": dict(x=(1, 2, 5, 4), w=(2, 2, 2, 4), padding="same"),
    "1x1 convolution": dict(x=(2, 3, 4, 5), w=(4, 3, 1, 1)),
    "1x1 convolution, strided": dict(x=(2, 3, 5, 5), w=(4, 3, 1, 1), stride=2),
    "depthwise (groups = channels)": dict(x=(2, 4, 5, 5), w=(8, 1, 3, 3), groups=4, padding=1),
    "dilation spanning the input": dict(x=(1, 1, 5, 5), w=(1, 1, 3, 3), dilation=2),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_conv_edge_cases_match_the_definition_and_their_gradients(case):
    from op_table import _conv_ref

    options = dict(EDGE_CASES[case])
    rng = np.random.default_rng(list(EDGE_CASES).index(case))
    x, w = rng.standard_normal(options.pop("x")), rng.standard_normal(options.pop("w"))
    b = rng.standard_normal(w.shape[0])
    params = {"stride": F._ints(options.get("stride", 1), 2, "stride", "test"), "padding": options.get("padding", 0),
              "dilation": F._ints(options.get("dilation", 1), 2, "dilation", "test"),
              "groups": options.get("groups", 1)}
    out = F.conv2d(Tensor(x), Tensor(w), Tensor(b), **options)
    np.testing.assert_allclose(out.numpy(), _conv_ref(x, w, b, **params), rtol=1e-12, atol=1e-12)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, **options), [x, w, b]).ok
    assert gradgradcheck(lambda x, w: F.conv2d(x, w, **options).tanh(), [x, w]).ok
