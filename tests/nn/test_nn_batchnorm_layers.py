"""BatchNorm1d/BatchNorm2d as layers: running statistics, modes, options and input validation."""
import numpy as np
import pytest

from tinygrad_bn import Tensor, nn, no_grad
from tinygrad_bn.autograd import TrainingDivergedError
from tinygrad_bn.nn import functional as F

LAYOUTS = [  # (layer class, input shape): statistics over axis 0 and every axis after the features
    (nn.BatchNorm1d, (8, 3)),
    (nn.BatchNorm1d, (4, 3, 5)),
    (nn.BatchNorm2d, (4, 3, 2, 3)),
]
IDS = ["1d-2D", "1d-3D", "2d-4D"]


def batches(shape, k, seed=0):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 3.0, shape[1]).reshape((1, shape[1]) + (1,) * (len(shape) - 2))
    return [rng.standard_normal(shape) * scale + rng.uniform(-2, 2) for _ in range(k)]


def batch_stats(x):
    """Per-feature mean and unbiased variance over batch and spatial axes."""
    flat = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    return flat.mean(axis=1), flat.var(axis=1, ddof=1)


@pytest.mark.parametrize("layer_cls,shape", LAYOUTS, ids=IDS)
@pytest.mark.parametrize("k", [1, 2, 5])
def test_running_stats_with_momentum_follow_the_closed_form(layer_cls, shape, k):
    """running_k = (1 - m)^k * initial + sum_i m * (1 - m)^(k - i) * stat_i, unbiased batch variance."""
    m = 0.1
    layer = layer_cls(shape[1], momentum=m, dtype=np.float64)
    xs = batches(shape, k)
    for x in xs:
        layer(Tensor(x))
    means, uvars = zip(*(batch_stats(x) for x in xs))
    weights = [m * (1 - m) ** (k - i) for i in range(1, k + 1)]
    expected_mean = sum(w * mu for w, mu in zip(weights, means))
    expected_var = (1 - m) ** k * 1.0 + sum(w * v for w, v in zip(weights, uvars))
    np.testing.assert_allclose(layer.running_mean.data, expected_mean, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.running_var.data, expected_var, rtol=1e-12)
    assert layer.num_batches_tracked.data == k
    assert layer.num_batches_tracked.dtype == np.int64


@pytest.mark.parametrize("layer_cls,shape", LAYOUTS, ids=IDS)
def test_running_stats_with_momentum_none_are_cumulative_averages(layer_cls, shape):
    layer = layer_cls(shape[1], momentum=None, dtype=np.float64)
    xs = batches(shape, 4, seed=1)
    for i, x in enumerate(xs, start=1):
        layer(Tensor(x))
        means, uvars = zip(*(batch_stats(b) for b in xs[:i]))
        np.testing.assert_allclose(layer.running_mean.data, np.mean(means, axis=0), rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(layer.running_var.data, np.mean(uvars, axis=0), rtol=1e-12)
        assert int(layer.num_batches_tracked.data) == i


def test_running_stats_in_float32_keep_their_dtype():
    layer = nn.BatchNorm1d(3)
    xs = [x.astype(np.float32) for x in batches((16, 3), 3, seed=2)]
    for x in xs:
        layer(Tensor(x))
    expected_mean, expected_var = np.zeros(3), np.ones(3)
    for x in xs:
        mean, uvar = batch_stats(x.astype(np.float64))
        expected_mean = 0.9 * expected_mean + 0.1 * mean
        expected_var = 0.9 * expected_var + 0.1 * uvar
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32
    np.testing.assert_allclose(layer.running_mean.data, expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.running_var.data, expected_var, rtol=1e-5)


def test_functional_batch_norm_updates_running_stats_in_place():
    x = batches((10, 2), 1, seed=3)[0]
    rm, rv = Tensor(np.full(2, 0.5)), Tensor(np.full(2, 2.0))
    rm_data = rm.data
    F.batch_norm(Tensor(x), rm, rv, training=True, momentum=0.25)
    mean, uvar = batch_stats(x)
    assert rm.data is rm_data
    np.testing.assert_allclose(rm.data, 0.75 * 0.5 + 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.data, 0.75 * 2.0 + 0.25 * uvar, rtol=1e-12)
    F.batch_norm(Tensor(x), rm, rv, training=False)
    np.testing.assert_allclose(rm.data, 0.75 * 0.5 + 0.25 * mean, rtol=1e-12)  # eval leaves them alone


@pytest.mark.parametrize("layer_cls,shape", LAYOUTS, ids=IDS)
def test_eval_normalizes_with_running_stats_and_changes_nothing(layer_cls, shape):
    layer = layer_cls(shape[1], dtype=np.float64)
    layer.weight.data[...] = np.linspace(0.5, 1.5, shape[1])
    layer.bias.data[...] = np.linspace(-1, 1, shape[1])
    for x in batches(shape, 3, seed=4):
        layer(Tensor(x))
    state = layer.state_dict()
    layer.eval()
    x = batches(shape, 1, seed=5)[0]
    y = layer(Tensor(x)).data
    c = (1, shape[1]) + (1,) * (len(shape) - 2)
    expected = (x - state["running_mean"].reshape(c)) / np.sqrt(state["running_var"].reshape(c) + layer.eps)
    expected = expected * state["weight"].reshape(c) + state["bias"].reshape(c)
    np.testing.assert_allclose(y, expected, rtol=1e-12, atol=1e-12)
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, state[key], err_msg=key)


@pytest.mark.parametrize("layer_cls,shape", LAYOUTS, ids=IDS)
def test_in_eval_an_example_gets_the_same_output_in_any_batch(layer_cls, shape):
    layer = layer_cls(shape[1], dtype=np.float64)
    for x in batches(shape, 3, seed=6):
        layer(Tensor(x))
    a, b = batches(shape, 2, seed=7)
    example = a[:1]
    first = np.concatenate([example, a[1:]])  # the example first, with some companions ...
    second = np.concatenate([b[1:], example])  # ... and last, with others
    layer.eval()
    np.testing.assert_array_equal(layer(Tensor(first)).data[0], layer(Tensor(second)).data[-1])
    layer.train()  # in training the batch matters
    assert not np.allclose(layer(Tensor(first)).data[0], layer(Tensor(second)).data[-1])


@pytest.mark.parametrize("layer_cls,shape", LAYOUTS, ids=IDS)
def test_without_running_stats_eval_uses_batch_stats(layer_cls, shape):
    layer = layer_cls(shape[1], track_running_stats=False, dtype=np.float64)
    assert layer.running_mean is None and layer.running_var is None and layer.num_batches_tracked is None
    assert list(layer.buffers()) == []
    assert sorted(layer.state_dict()) == ["bias", "weight"]
    x = batches(shape, 1, seed=8)[0]
    train_out = layer(Tensor(x)).data
    layer.eval()
    eval_out = layer(Tensor(x)).data
    np.testing.assert_array_equal(eval_out, train_out)
    np.testing.assert_allclose(eval_out, F.batch_norm(Tensor(x), None, None, training=True).data, atol=1e-12)
    # so an example's output depends on its batch even in eval
    other = batches(shape, 1, seed=9)[0]
    mixed = np.concatenate([x[:1], other[1:]])
    assert not np.allclose(layer(Tensor(mixed)).data[0], eval_out[0])


def test_affine_false_has_no_parameters():
    layer = nn.BatchNorm1d(4, affine=False, dtype=np.float64)
    assert list(layer.parameters()) == []
    assert dict(layer.named_parameters()) == {}
    assert layer.weight is None and layer.bias is None
    assert list(layer.state_dict()) == ["running_mean", "running_var", "num_batches_tracked"]
    x = batches((6, 4), 1, seed=10)[0]
    np.testing.assert_allclose(layer(Tensor(x)).data, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), atol=1e-12)
    assert int(layer.num_batches_tracked.data) == 1


def test_bn_layer_names_and_shapes():
    layer = nn.BatchNorm2d(5)
    assert [(k, v.shape, v.dtype) for k, v in layer.state_dict().items()] == [
        ("weight", (5,), np.float32), ("bias", (5,), np.float32),
        ("running_mean", (5,), np.float32), ("running_var", (5,), np.float32),
        ("num_batches_tracked", (), np.int64),
    ]
    np.testing.assert_array_equal(layer.running_var.data, 1.0)
    assert not layer.running_mean.requires_grad and layer.weight.requires_grad


def test_reset_running_stats():
    layer = nn.BatchNorm1d(2)
    layer(Tensor(np.array([[1.0, 2.0], [3.0, 7.0]])))
    layer.reset_running_stats()
    np.testing.assert_array_equal(layer.running_mean.data, 0)
    np.testing.assert_array_equal(layer.running_var.data, 1)
    assert int(layer.num_batches_tracked.data) == 0


def test_no_grad_forward_still_updates_running_stats():
    layer = nn.BatchNorm1d(2, dtype=np.float64)
    with no_grad():
        out = layer(Tensor(np.array([[1.0, 2.0], [3.0, 6.0]])))
    assert not out.requires_grad
    np.testing.assert_allclose(layer.running_mean.data, [0.2, 0.4])


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("layer_cls,shape", [(nn.BatchNorm1d, (1, 3)), (nn.BatchNorm2d, (1, 3, 1, 1))])
def test_batch_of_one_in_training_is_refused_and_changes_nothing(layer_cls, shape):
    layer = layer_cls(3, momentum=None)
    before = layer.state_dict()
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*variance of a single value is 0"):
        layer(Tensor(np.ones(shape, dtype=np.float32)))
    for key, value in layer.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    layer.eval()  # evaluation needs no batch statistics, so one example is fine
    assert layer(Tensor(np.ones(shape, dtype=np.float32))).shape == shape


def test_functional_batch_of_one_in_training_is_refused():
    with pytest.raises(ValueError, match=r"variance of a single value is 0"):
        F.batch_norm(Tensor(np.ones((1, 4))), None, None, training=True)
    # one example with several positions per channel has a variance: allowed, as in PyTorch
    assert F.batch_norm(Tensor(np.arange(6.0).reshape(1, 2, 3)), None, None, training=True).shape == (1, 2, 3)


@pytest.mark.parametrize("layer_cls,shape", [(nn.BatchNorm1d, (4, 5)), (nn.BatchNorm1d, (4, 5, 2)),
                                             (nn.BatchNorm2d, (4, 5, 2, 2))])
def test_wrong_number_of_features_names_expected_and_given(layer_cls, shape):
    layer = layer_cls(3)
    with pytest.raises(ValueError, match=rf"{layer_cls.__name__}: expected 3 features .* got 5 \(input shape"):
        layer(Tensor(np.ones(shape, dtype=np.float32)))
    assert int(layer.num_batches_tracked.data) == 0


@pytest.mark.parametrize("layer_cls,shape,expected", [
    (nn.BatchNorm1d, (3,), "2-D or 3-D"), (nn.BatchNorm1d, (2, 3, 2, 2), "2-D or 3-D"),
    (nn.BatchNorm2d, (4, 3), "4-D"), (nn.BatchNorm2d, (2, 3, 4), "4-D"),
])
def test_wrong_input_ndim(layer_cls, shape, expected):
    with pytest.raises(ValueError, match=rf"{layer_cls.__name__}: expected {expected} input, got shape"):
        layer_cls(3)(Tensor(np.ones(shape, dtype=np.float32)))


def test_functional_batch_norm_argument_errors():
    x = Tensor(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"expected input of shape \(N, C, \.\.\.\), got shape \(3,\)"):
        F.batch_norm(Tensor(np.ones(3)), None, None, training=True)
    with pytest.raises(ValueError, match="both running_mean and running_var"):
        F.batch_norm(x, Tensor(np.zeros(3)), None, training=True)
    with pytest.raises(ValueError, match=r"weight has shape \(4,\), expected \(3,\)"):
        F.batch_norm(x, None, None, Tensor(np.ones(4)), training=True)
    with pytest.raises(ValueError, match="evaluation mode needs running_mean and running_var"):
        F.batch_norm(x, None, None, training=False)


# ----------------------------------------------------------------------------- divergence


class _Net(nn.Module):
    """A model holding its layers as `self.model`, so the BN layer's path is 'model.<index>'."""

    def __init__(self, *layers: nn.Module) -> None:
        super().__init__()
        self.model = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


@pytest.mark.parametrize("bad", [np.nan, np.inf], ids=["nan", "inf"])
@pytest.mark.parametrize(("layers", "shape", "name"), [
    (lambda: [nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.BatchNorm1d(4)], (6, 3), "BatchNorm1d 'model.3'"),
    (lambda: [nn.BatchNorm2d(2), nn.ReLU()], (3, 2, 2, 2), "BatchNorm2d 'model.0'"),
], ids=["1d", "2d"])
def test_non_finite_batch_stops_training_and_keeps_the_running_stats(layers, shape, name, bad):
    """A NaN or inf input raises the divergence error naming the layer, before the running statistics
    (and the batch count) change: they keep the last finite values instead of turning NaN for good."""
    net = _Net(*layers())
    bn = next(m for m in net.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)))
    rng = np.random.default_rng(0)
    net(Tensor(rng.standard_normal(shape).astype(np.float32)))  # one finite step
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    x = rng.standard_normal(shape).astype(np.float32)
    x[0, 0] = bad
    with np.errstate(invalid="ignore"), pytest.raises(TrainingDivergedError, match=f"batch mean or variance of {name}"):
        net(Tensor(x))
    for key, value in bn.state_dict().items():
        np.testing.assert_array_equal(value, before[key], err_msg=key)
    assert np.isfinite(bn.running_mean.data).all() and int(bn.num_batches_tracked.data) == 1
    net.eval()  # evaluation uses the running statistics and does not check (nor change) them
    with np.errstate(invalid="ignore"):
        assert net(Tensor(x)).shape[0] == shape[0]


def test_non_finite_batch_names_a_top_level_layer_and_functional_batch_norm():
    bn = nn.BatchNorm1d(2)
    x = Tensor(np.array([[1.0, np.nan], [2.0, 3.0]], dtype=np.float32))
    with pytest.raises(TrainingDivergedError, match=r"batch mean or variance of BatchNorm1d is not finite"):
        bn(x)
    mean, var = Tensor(np.zeros(2, dtype=np.float32)), Tensor(np.ones(2, dtype=np.float32))
    with pytest.raises(TrainingDivergedError, match=r"batch mean or variance of batch_norm is not finite"):
        F.batch_norm(x, mean, var, training=True)
    np.testing.assert_array_equal(mean.numpy(), [0, 0])
    np.testing.assert_array_equal(var.numpy(), [1, 1])
    # without running statistics nothing is saved, so nothing is checked: the NaN stays in the output
    assert np.isnan(F.batch_norm(x, None, None, training=True).numpy()[:, 1]).all()
