"""Linear, Dropout, activations, LayerNorm, initializers and the MLP builder."""
import math

import numpy as np
import pytest

import tinygrad_bn
from tinygrad_bn import Tensor, nn
from tinygrad_bn.nn import functional as F
from tinygrad_bn.nn import init


def test_linear_computes_x_weight_t_plus_bias_in_pytorch_layout():
    lin = nn.Linear(3, 2, dtype=np.float64)
    assert lin.weight.shape == (2, 3) and lin.bias.shape == (2,)
    x = np.random.default_rng(0).standard_normal((4, 3))
    np.testing.assert_allclose(lin(Tensor(x)).data, x @ lin.weight.data.T + lin.bias.data, rtol=1e-14)
    no_bias = nn.Linear(3, 2, bias=False)
    assert no_bias.bias is None and [n for n, _ in no_bias.named_parameters()] == ["weight"]
    assert "bias=False" in repr(no_bias)


def test_linear_default_init_is_uniform_within_one_over_sqrt_fan_in():
    tinygrad_bn.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / math.sqrt(400)
    for p in (lin.weight.data, lin.bias.data):
        assert np.abs(p).max() <= bound
        assert np.abs(p).max() > 0.95 * bound
    assert abs(lin.weight.data.std() - bound / math.sqrt(3)) < 0.01 * bound  # std of U(-b, b)


# ----------------------------------------------------------------------------- dropout


def test_dropout_training_zeroes_and_rescales_kept_activations():
    tinygrad_bn.manual_seed(1234)
    p, n = 0.3, 200_000
    x = Tensor(np.ones(n))
    y = nn.Dropout(p)(x).data
    kept = y != 0
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-15)  # inverted dropout: kept scaled by 1/(1-p)
    # with this fixed seed the draw is deterministic; the tolerances are > 10 standard errors anyway
    assert abs(kept.mean() - (1 - p)) < 0.01  # standard error of the kept fraction ~ 0.001
    assert abs(y.mean() - 1.0) < 0.015  # the mean is preserved (standard error ~ 0.0015)


def test_dropout_is_reproducible_with_manual_seed_and_differs_otherwise():
    x = Tensor(np.ones((50, 40), dtype=np.float32))
    tinygrad_bn.manual_seed(7)
    a = nn.Dropout(0.5)(x).data
    b = nn.Dropout(0.5)(x).data
    tinygrad_bn.manual_seed(7)
    np.testing.assert_array_equal(nn.Dropout(0.5)(x).data, a)
    assert not np.array_equal(a, b)
    assert a.dtype == np.float32


def test_dropout_in_eval_and_with_p_zero_is_the_identity():
    x = Tensor(np.random.default_rng(0).standard_normal((20, 5)))
    drop = nn.Dropout(0.9).eval()
    np.testing.assert_array_equal(drop(x).data, x.data)
    np.testing.assert_array_equal(nn.Dropout(0.0)(x).data, x.data)
    np.testing.assert_array_equal(F.dropout(x, 0.5, training=False).data, x.data)


def test_dropout_gradient_is_the_scaled_mask():
    x = Tensor(np.random.default_rng(1).standard_normal((30, 10)), requires_grad=True)
    y = F.dropout(x, 0.4, rng=np.random.default_rng(5))
    y.sum().backward()
    mask = y.data != 0
    np.testing.assert_allclose(x.grad.data, mask / 0.6)
    np.testing.assert_allclose(y.data, x.data * mask / 0.6)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5])
def test_dropout_rejects_bad_probabilities(p):
    with pytest.raises(ValueError, match=r"probability p must be in \[0, 1\)"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=r"probability p must be in \[0, 1\)"):
        F.dropout(Tensor(np.ones(3)), p)


# ----------------------------------------------------------------------------- activations and LayerNorm


@pytest.mark.parametrize("layer,fn", [
    (nn.ReLU(), lambda a: np.maximum(a, 0)),
    (nn.Sigmoid(), lambda a: 1 / (1 + np.exp(-a))),
    (nn.Tanh(), np.tanh),
    (nn.Identity(), lambda a: a),
])
def test_activations(layer, fn):
    x = np.linspace(-30, 30, 121)
    out = layer(Tensor(x))
    np.testing.assert_allclose(out.data, fn(x), rtol=1e-12, atol=1e-300)
    assert list(layer.parameters()) == []


def test_functional_activations_match_layers():
    x = Tensor(np.linspace(-3, 3, 13))
    for f, layer in ((F.relu, nn.ReLU()), (F.sigmoid, nn.Sigmoid()), (F.tanh, nn.Tanh())):
        np.testing.assert_array_equal(f(x).data, layer(x).data)


def test_sigmoid_is_finite_for_large_inputs():
    x = Tensor(np.array([-1000.0, 1000.0]), requires_grad=True)
    y = nn.Sigmoid()(x)
    y.sum().backward()
    np.testing.assert_array_equal(y.data, [0.0, 1.0])
    assert np.all(np.isfinite(x.grad.data))


def test_layer_norm_normalizes_each_example():
    x = np.random.default_rng(2).standard_normal((4, 3, 5)) * 3 + 2
    ln = nn.LayerNorm((3, 5), dtype=np.float64)
    assert ln.weight.shape == (3, 5)
    y = ln(Tensor(x)).data.reshape(4, -1)
    np.testing.assert_allclose(y.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(y.var(axis=1), 1, atol=1e-4)
    # batch independent: an example alone gives the same output
    np.testing.assert_allclose(ln(Tensor(x[1:2])).data.reshape(-1), y[1], rtol=1e-12)
    plain = nn.LayerNorm(5, elementwise_affine=False)
    assert list(plain.parameters()) == [] and plain.normalized_shape == (5,)
    with pytest.raises(ValueError, match=r"does not end with normalized_shape \(3, 5\)"):
        ln(Tensor(np.ones((4, 5, 3))))


# ----------------------------------------------------------------------------- init


BIG = (800, 1500)  # (out, in): fan_in 1500, fan_out 800, 1.2 million draws


@pytest.mark.parametrize("initializer,expected_std", [
    (init.he_normal_, math.sqrt(2 / 1500)),
    (init.xavier_normal_, math.sqrt(1 / 1500)),
    (init.glorot_normal_, math.sqrt(2 / (1500 + 800))),
])
def test_initializer_std_follows_its_formula(initializer, expected_std):
    t = Tensor(np.zeros(BIG, dtype=np.float32))
    assert initializer(t, rng=np.random.default_rng(0)) is t
    assert t.dtype == np.float32
    # the sample std of 1.2e6 normal draws has a standard error of 0.065%: 0.5% is far beyond chance
    assert abs(t.data.std() / expected_std - 1) < 0.005
    assert abs(t.data.mean()) < 0.01 * expected_std  # standard error of the mean: 0.09% of the std


def test_std_for_names_and_numbers():
    assert init.std_for("he", 50) == init.std_for("relu", 50) == math.sqrt(2 / 50)
    assert init.std_for("xavier", 50) == init.std_for("Sigmoid", 50) == math.sqrt(1 / 50)
    assert init.std_for("glorot", 50, 30) == math.sqrt(2 / 80)
    assert init.std_for(0.01, 50) == 0.01
    with pytest.raises(ValueError, match="unknown scheme 'bogus'"):
        init.std_for("bogus", 3)
    with pytest.raises(ValueError, match=">= 0"):
        init.std_for(-1.0, 3)
    with pytest.raises(ValueError, match="needs fan_out"):
        init.std_for("glorot", 3)


def test_fans_and_simple_initializers():
    assert init.fans((5, 3)) == (3, 5)
    assert init.fans((8, 4, 3, 3)) == (36, 72)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.fans((5,))
    t = Tensor(np.empty((3, 4)))
    np.testing.assert_array_equal(init.zeros_(t).data, 0)
    np.testing.assert_array_equal(init.ones_(t).data, 1)
    init.uniform_(t, -0.5, 0.25, rng=np.random.default_rng(0))
    assert t.data.min() >= -0.5 and t.data.max() < 0.25
    init.normal_(t, std=0.0, mean=3.0)
    np.testing.assert_array_equal(t.data, 3.0)


def test_manual_seed_makes_initialization_repeat():
    tinygrad_bn.manual_seed(3)
    a = nn.MLP(4, [5], 2).state_dict()
    tinygrad_bn.manual_seed(3)
    b = nn.MLP(4, [5], 2).state_dict()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])


# ----------------------------------------------------------------------------- MLP


def kinds(model):
    return [type(m).__name__ for m in model]


def test_mlp_structure_without_options():
    mlp = nn.MLP(20, [16, 16], 5)
    assert kinds(mlp) == ["Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert [(m.in_features, m.out_features) for m in mlp if isinstance(m, nn.Linear)] == [(20, 16), (16, 16), (16, 5)]
    assert mlp.sizes == [20, 16, 16, 5]
    assert mlp(Tensor(np.ones((3, 20), dtype=np.float32))).shape == (3, 5)


def test_mlp_batchnorm_before_and_after_activation():
    before = nn.MLP(20, [16, 16], 5, batchnorm=True)
    assert kinds(before) == ["Linear", "BatchNorm1d", "ReLU"] * 2 + ["Linear"]
    after = nn.MLP(20, [16, 16], 5, batchnorm=True, batchnorm_position="after_activation", activation="tanh")
    assert kinds(after) == ["Linear", "Tanh", "BatchNorm1d"] * 2 + ["Linear"]
    assert [m.num_features for m in after if isinstance(m, nn.BatchNorm1d)] == [16, 16]


def test_mlp_dropout():
    mlp = nn.MLP(8, [6, 4], 3, batchnorm=True, dropout=0.2, activation="sigmoid")
    assert kinds(mlp) == ["Linear", "BatchNorm1d", "Sigmoid", "Dropout"] * 2 + ["Linear"]
    assert all(m.p == 0.2 for m in mlp if isinstance(m, nn.Dropout))
    x = Tensor(np.random.default_rng(0).standard_normal((10, 8)).astype(np.float32))
    mlp.eval()
    np.testing.assert_array_equal(mlp(x).data, mlp(x).data)  # no dropout (nor batch dependence) in eval


@pytest.mark.parametrize("scheme,std", [("he", lambda fan_in: math.sqrt(2 / fan_in)),
                                        ("xavier", lambda fan_in: math.sqrt(1 / fan_in)),
                                        (0.05, lambda fan_in: 0.05)])
def test_mlp_weight_init_std(scheme, std):
    tinygrad_bn.manual_seed(0)
    mlp = nn.MLP(1000, [500], 300, weight_init_std=scheme)
    for lin in (mlp[0], mlp[2]):
        assert abs(lin.weight.data.std() / std(lin.in_features) - 1) < 0.01
        np.testing.assert_array_equal(lin.bias.data, 0)


@pytest.mark.parametrize("kwargs,message", [
    ({"activation": "gelu"}, "unknown activation 'gelu'"),
    ({"batchnorm_position": "middle"}, "batchnorm_position must be"),
    ({"weight_init_std": "bogus"}, "unknown scheme 'bogus'"),
    ({"weight_init_std": -0.1}, "must be >= 0"),
    ({"dropout": 1.0}, r"must be in \[0, 1\)"),
    ({"dropout": -0.2}, r"must be in \[0, 1\)"),
])
def test_mlp_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.MLP(4, [3], 2, **kwargs)
