"""Cross-checks against PyTorch (skipped when torch is not installed): outputs, gradients of the input and
of every parameter, and running statistics, over several SGD steps in training and then in evaluation.

Weights are copied from the torch module through its state_dict converted to numpy, which loads as it is
(same keys, same layouts). float64 is compared tightly, float32 loosely.
"""
import numpy as np
import pytest

from tinygrad_bn import Tensor, grad, nn
from tinygrad_bn.nn import functional as F

torch = pytest.importorskip("torch")

DTYPES = {  # numpy dtype, torch dtype, rtol, atol
    "float64": (np.float64, torch.float64, 1e-10, 1e-12),
    "float32": (np.float32, torch.float32, 2e-4, 2e-5),
}
LR = 0.1


def to_numpy_state(module):
    return {k: v.detach().numpy() for k, v in module.state_dict().items()}


def copy_from_torch(ours, theirs):
    assert list(ours.state_dict()) == list(theirs.state_dict())  # the same names, in the same order
    assert ours.load_state_dict(to_numpy_state(theirs)) == ([], [])


def assert_same_state(ours, theirs, rtol, atol, where):
    mine, reference = ours.state_dict(), to_numpy_state(theirs)
    assert list(mine) == list(reference)
    for key in reference:
        assert mine[key].shape == reference[key].shape, key
        assert mine[key].dtype == reference[key].dtype, key
        np.testing.assert_allclose(mine[key], reference[key], rtol=rtol, atol=atol, err_msg=f"{where}: {key}")


def check_against_torch(ours, theirs, inputs, loss_ours, loss_theirs, dtype_name, train_steps=4):
    """Train both models with plain SGD for `train_steps` batches, comparing everything at every step,
    then compare outputs in evaluation mode (running statistics in use, nothing updated)."""
    np_dtype, torch_dtype, rtol, atol = DTYPES[dtype_name]
    ours.to(np_dtype)
    theirs.to(torch_dtype)
    copy_from_torch(ours, theirs)
    ours.train()
    theirs.train()
    our_params, their_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert list(our_params) == list(their_params)
    for step in range(train_steps):
        x_np, target = inputs(step)
        x = Tensor(x_np.astype(np_dtype), requires_grad=True)
        xt = torch.tensor(x_np, dtype=torch_dtype, requires_grad=True)
        y, yt = ours(x), theirs(xt)
        where = f"step {step}"
        np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=rtol, atol=atol, err_msg=f"{where}: output")
        loss, loss_t = loss_ours(y, target), loss_theirs(yt, target)
        np.testing.assert_allclose(loss.item(), loss_t.item(), rtol=rtol, atol=atol, err_msg=f"{where}: loss")
        loss.backward()
        loss_t.backward()
        np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=rtol, atol=atol, err_msg=f"{where}: x.grad")
        for name, p in our_params.items():
            pt = their_params[name]
            assert p.grad is not None and p.grad.dtype == np_dtype, name
            np.testing.assert_allclose(p.grad.data, pt.grad.numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"{where}: grad of {name}")
            p.data -= LR * p.grad.data
            with torch.no_grad():
                pt -= LR * pt.grad
            pt.grad = None
        ours.zero_grad()
        assert_same_state(ours, theirs, rtol, atol, where)
    ours.eval()
    theirs.eval()
    for step in range(train_steps, train_steps + 2):
        x_np, _ = inputs(step)
        with torch.no_grad():
            expected = theirs(torch.tensor(x_np, dtype=torch_dtype)).numpy()
        np.testing.assert_allclose(ours(Tensor(x_np.astype(np_dtype))).data, expected, rtol=rtol, atol=atol,
                                   err_msg=f"eval batch {step}")
    assert_same_state(ours, theirs, rtol, atol, "after eval")


def random_batches(shape, seed=0):
    rng = np.random.default_rng(seed)
    upstream = rng.standard_normal(shape)
    scale = rng.uniform(0.5, 3.0, shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
    return lambda step: (rng.standard_normal(shape) * scale + rng.uniform(-1, 1), upstream)


def weighted_sum_ours(y, upstream):
    """An arbitrary upstream gradient: d loss / d y = upstream."""
    return (y * Tensor(upstream.astype(y.dtype))).sum()


def weighted_sum_torch(y, upstream):
    return (y * torch.tensor(upstream, dtype=y.dtype)).sum()


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape,momentum", [((8, 4), 0.1), ((8, 4), None), ((5, 4, 3), 0.1), ((6, 4), 0.5)])
def test_batchnorm1d(shape, momentum, dtype_name):
    ours, theirs = nn.BatchNorm1d(4, momentum=momentum), torch.nn.BatchNorm1d(4, momentum=momentum)
    with torch.no_grad():  # start from a non-trivial affine transform
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    check_against_torch(ours, theirs, random_batches(shape), weighted_sum_ours, weighted_sum_torch, dtype_name)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_batchnorm2d(dtype_name):
    ours, theirs = nn.BatchNorm2d(3), torch.nn.BatchNorm2d(3)
    check_against_torch(ours, theirs, random_batches((4, 3, 5, 2), seed=1), weighted_sum_ours, weighted_sum_torch,
                    dtype_name)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("options", [{"affine": False}, {"track_running_stats": False}],
                         ids=["affine=False", "track_running_stats=False"])
def test_batchnorm_options(options, dtype_name):
    ours, theirs = nn.BatchNorm1d(4, **options), torch.nn.BatchNorm1d(4, **options)
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in theirs.named_buffers()]
    check_against_torch(ours, theirs, random_batches((6, 4), seed=2), weighted_sum_ours, weighted_sum_torch, dtype_name)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("shape,normalized", [((6, 5), 5), ((3, 4, 5), (4, 5))])
def test_layernorm(shape, normalized, dtype_name):
    ours, theirs = nn.LayerNorm(normalized), torch.nn.LayerNorm(normalized)
    with torch.no_grad():
        theirs.weight.uniform_(0.5, 1.5)
        theirs.bias.uniform_(-0.5, 0.5)
    check_against_torch(ours, theirs, random_batches(shape, seed=3), weighted_sum_ours, weighted_sum_torch, dtype_name)


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("bias", [True, False])
def test_linear(bias, dtype_name):
    ours, theirs = nn.Linear(6, 3, bias=bias), torch.nn.Linear(6, 3, bias=bias)
    check_against_torch(ours, theirs, lambda step: (np.random.default_rng(step).standard_normal((5, 6)),
                                                np.random.default_rng(100).standard_normal((5, 3))),
                    weighted_sum_ours, weighted_sum_torch, dtype_name)


def torch_mlp(batchnorm_position="before_activation"):
    layers = []
    sizes = [20, 16, 16, 5]
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i == len(sizes) - 2:
            break
        bn_act = [torch.nn.BatchNorm1d(b), torch.nn.ReLU()]
        layers += bn_act if batchnorm_position == "before_activation" else bn_act[::-1]
    return torch.nn.Sequential(*layers)


def classification_batches(seed=4):
    rng = np.random.default_rng(seed)
    return lambda step: (rng.standard_normal((12, 20)) * 2, rng.integers(0, 5, 12))


def ce_ours(y, labels):
    return F.cross_entropy(y, labels)


def ce_torch(y, labels):
    return torch.nn.functional.cross_entropy(y, torch.tensor(labels))


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("position", ["before_activation", "after_activation"])
def test_mlp_with_batchnorm_trains_like_pytorch(position, dtype_name):
    ours = nn.MLP(20, [16, 16], 5, batchnorm=True, batchnorm_position=position)
    theirs = torch_mlp(position)
    check_against_torch(ours, theirs, classification_batches(), ce_ours, ce_torch, dtype_name, train_steps=5)


def test_torch_state_dict_loads_into_a_float32_mlp_as_it_is():
    theirs = torch_mlp()
    state = to_numpy_state(theirs)
    ours = nn.MLP(20, [16, 16], 5, batchnorm=True)
    assert ours.load_state_dict(state) == ([], [])
    for key, value in ours.state_dict().items():
        assert value.dtype == state[key].dtype and value.shape == state[key].shape, key
        np.testing.assert_array_equal(value, state[key])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target_kind", ["labels", "probabilities"])
@pytest.mark.parametrize("dtype_name", list(DTYPES))
def test_cross_entropy(reduction, target_kind, dtype_name):
    np_dtype, torch_dtype, rtol, atol = DTYPES[dtype_name]
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((6, 4)) * 3
    target = rng.integers(0, 4, 6) if target_kind == "labels" else rng.dirichlet(np.ones(4), 6)
    upstream = rng.standard_normal(6) if reduction == "none" else np.array(1.0)
    x = Tensor(logits.astype(np_dtype), requires_grad=True)
    xt = torch.tensor(logits, dtype=torch_dtype, requires_grad=True)
    t_target = torch.tensor(target) if target_kind == "labels" else torch.tensor(target, dtype=torch_dtype)
    loss = F.cross_entropy(x, target if target_kind == "labels" else target.astype(np_dtype), reduction=reduction)
    loss_t = torch.nn.functional.cross_entropy(xt, t_target, reduction=reduction)
    np.testing.assert_allclose(loss.data, loss_t.detach().numpy(), rtol=rtol, atol=atol)
    loss.backward(Tensor(upstream.astype(np_dtype)))
    loss_t.backward(torch.tensor(upstream, dtype=torch_dtype))
    np.testing.assert_allclose(x.grad.data, xt.grad.numpy(), rtol=rtol, atol=atol)


def test_batch_norm_double_backward_matches_torch():
    rng = np.random.default_rng(6)
    x_np, w_np = rng.standard_normal((7, 3)) * 2, rng.uniform(0.5, 1.5, 3)
    x, w = Tensor(x_np, requires_grad=True), Tensor(w_np, requires_grad=True)
    xt = torch.tensor(x_np, requires_grad=True)
    wt = torch.tensor(w_np, requires_grad=True)
    y = F.batch_norm(x, None, None, w, None, training=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, wt, None, training=True)
    (dx,) = grad((y ** 3).mean(), x, create_graph=True)
    (dxt,) = torch.autograd.grad((yt ** 3).mean(), xt, create_graph=True)
    np.testing.assert_allclose(dx.data, dxt.detach().numpy(), rtol=1e-10, atol=1e-12)
    ddx, ddw = grad((dx * dx).sum(), [x, w])
    ddxt, ddwt = torch.autograd.grad((dxt * dxt).sum(), [xt, wt])
    np.testing.assert_allclose(ddx.data, ddxt.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ddw.data, ddwt.numpy(), rtol=1e-9, atol=1e-12)


def cnn(lib, batchnorm: bool = True):
    """A small CNN in either library (the layers share names, arguments and state_dict keys): conv-BN-ReLU-max
    pool, a strided grouped conv, average pooling, global average pooling, flatten, linear."""
    norm = [lib.BatchNorm2d(4)] if batchnorm else []
    return lib.Sequential(lib.Conv2d(2, 4, 3, padding=1), *norm, lib.ReLU(), lib.MaxPool2d(2),
                          lib.Conv2d(4, 6, 3, stride=2, padding=1, groups=2), lib.ReLU(), lib.AvgPool2d(2, 1),
                          lib.Conv2d(6, 3, 1, bias=False), lib.AdaptiveAvgPool2d(1), lib.Flatten(), lib.Linear(3, 5))


def image_batches(seed=6):
    rng = np.random.default_rng(seed)
    return lambda step: (rng.standard_normal((4, 2, 9, 8)) * 2, rng.integers(0, 5, 4))


@pytest.mark.parametrize("dtype_name", list(DTYPES))
@pytest.mark.parametrize("batchnorm", [True, False], ids=["bn", "no_bn"])
def test_cnn_trains_like_pytorch(batchnorm, dtype_name):
    """A torch CNN's state_dict loads as it is; outputs, every gradient and the running statistics then agree
    over SGD steps, and in evaluation mode."""
    ours, theirs = cnn(nn, batchnorm), cnn(torch.nn, batchnorm)
    check_against_torch(ours, theirs, image_batches(), ce_ours, ce_torch, dtype_name, train_steps=4)


def test_conv1d_and_conv_transpose2d_modules_match_pytorch():
    for ours, theirs, shape in ((nn.Conv1d(3, 4, 3, stride=2, padding=2, dilation=2), torch.nn.Conv1d(
            3, 4, 3, stride=2, padding=2, dilation=2), (2, 3, 11)),
                                (nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                                 torch.nn.ConvTranspose2d(3, 4, 3, stride=2, padding=1, output_padding=1),
                                 (2, 3, 4, 5))):
        check_against_torch(ours, theirs, random_batches(shape, seed=7),
                            lambda y, _: (y * y).sum(), lambda y, _: (y * y).sum(), "float64", train_steps=2)


def test_conv_net_hessian_vector_product_matches_torch():
    """Second derivatives through conv, max pooling and average pooling: the Hessian-vector product of a
    conv net's loss in its first convolution's weight, by double backward in both libraries."""
    rng = np.random.default_rng(8)
    x, w1, w2 = rng.standard_normal((2, 2, 7, 7)), rng.standard_normal((3, 2, 3, 3)), rng.standard_normal((2, 3, 2, 2))
    v = rng.standard_normal(w1.shape)

    def loss(lib, w1, w2, xs):
        functional = F if lib is nn else torch.nn.functional
        y = functional.conv2d(xs, w1, padding=1).tanh()
        y = functional.max_pool2d(y, 2, stride=1)
        y = functional.avg_pool2d(functional.conv2d(y, w2, stride=2), 2, ceil_mode=True)
        return (y * y).sum()

    ow1, ow2 = Tensor(w1, requires_grad=True), Tensor(w2, requires_grad=True)
    (g1,) = grad(loss(nn, ow1, ow2, Tensor(x)), [ow1], create_graph=True)
    ours = grad((g1 * Tensor(v)).sum(), [ow1, ow2])
    tw1, tw2 = torch.tensor(w1, requires_grad=True), torch.tensor(w2, requires_grad=True)
    (tg1,) = torch.autograd.grad(loss(torch.nn, tw1, tw2, torch.tensor(x)), [tw1], create_graph=True)
    theirs = torch.autograd.grad((tg1 * torch.tensor(v)).sum(), [tw1, tw2])
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-11)


def test_max_pool_ties_give_the_gradient_to_the_first_maximum_as_pytorch():
    """The documented tie rule: of tied maxima in a window, the first in row-major order gets all of the
    window's gradient (PyTorch's CPU kernel does the same); overlapping windows add up."""
    x = np.array([[[[1.0, 3.0, 3.0], [3.0, 2.0, 3.0], [0.0, 3.0, 1.0]]]])
    for params in ({"kernel_size": 2, "stride": 1}, {"kernel_size": 3, "padding": 1, "stride": 2},
                   {"kernel_size": 2, "stride": 1, "dilation": 2}):
        ours = Tensor(x, requires_grad=True)
        F.max_pool2d(ours, **params).sum().backward()
        theirs = torch.tensor(x, requires_grad=True)
        torch.nn.functional.max_pool2d(theirs, **params).sum().backward()
        np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    ours = Tensor(x, requires_grad=True)
    F.max_pool2d(ours, 2, stride=1).sum().backward()
    # windows: top-left {1,3,3,2} -> (0,1); top-right {3,3,2,3} -> (0,1); bottom-left {3,2,0,3} -> (1,0);
    # bottom-right {2,3,3,1} -> (1,2)
    np.testing.assert_array_equal(ours.grad.numpy()[0, 0], [[0, 2, 0], [1, 0, 1], [0, 0, 0]])
