"""The module system: registration, traversal, modes, gradients, state dicts, dtypes and containers."""
import numpy as np
import pytest

from tinygrad_bn import Tensor, nn


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)
        self.bn = nn.BatchNorm1d(3)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.bn(self.fc(x)))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.block = Block()
        self.heads = nn.ModuleList([nn.Linear(3, 2), nn.Linear(3, 1, bias=False)])
        self.seq = nn.Sequential(nn.Dropout(0.5), nn.Linear(3, 2))
        self.scale = 2.0  # a plain attribute: not registered

    def forward(self, x):
        h = self.block(x)
        return self.heads[0](h) + self.seq(h) * self.scale + self.heads[1](h)


PARAMS = {
    "block.fc.weight": (3, 4), "block.fc.bias": (3,), "block.bn.weight": (3,), "block.bn.bias": (3,),
    "heads.0.weight": (2, 3), "heads.0.bias": (2,), "heads.1.weight": (1, 3),
    "seq.1.weight": (2, 3), "seq.1.bias": (2,),
}
BUFFERS = {"block.bn.running_mean": (3,), "block.bn.running_var": (3,), "block.bn.num_batches_tracked": ()}


def test_named_parameters_and_buffers_are_recursive_with_dotted_names():
    net = Net()
    assert {k: p.shape for k, p in net.named_parameters()} == PARAMS
    assert [k for k, _ in net.named_parameters()] == list(PARAMS)  # registration order, depth first
    assert {k: b.shape for k, b in net.named_buffers()} == BUFFERS
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())
    assert [id(p) for p in net.parameters()] == [id(p) for _, p in net.named_parameters()]
    assert len(list(net.parameters(recurse=False))) == 0
    assert [k for k, _ in net.block.bn.named_buffers()] == ["running_mean", "running_var", "num_batches_tracked"]
    assert not any(b.requires_grad for b in net.buffers())


def test_children_and_modules():
    net = Net()
    assert [name for name, _ in net.named_children()] == ["block", "heads", "seq"]
    assert list(net.children()) == [net.block, net.heads, net.seq]
    names = [name for name, _ in net.named_modules()]
    assert names == ["", "block", "block.fc", "block.bn", "block.act", "heads", "heads.0", "heads.1",
                     "seq", "seq.0", "seq.1"]
    assert list(net.modules())[0] is net
    assert len(list(net.modules())) == 11


def test_shared_submodules_and_parameters_are_listed_once():
    shared = nn.Linear(2, 2)
    seq = nn.Sequential(shared, nn.ReLU(), shared)
    assert len(list(seq.parameters())) == 2
    assert len(list(seq.modules())) == 3  # seq, shared, relu
    out = seq(Tensor(np.ones((1, 2), dtype=np.float32)))
    out.sum().backward()
    assert shared.weight.grad is not None


def test_train_and_eval_are_recursive():
    net = Net()
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net.seq.train(False)
    assert [m.training for m in net.modules()] == [True] * 8 + [False] * 3


def test_zero_grad_clears_every_parameter_gradient():
    net = Net()
    net(Tensor(np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32))).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_plain_tensors_and_numbers_are_not_registered():
    m = nn.Module()
    m.t = Tensor(np.ones(2))
    m.n = 3
    assert list(m.named_parameters()) == [] and list(m.named_buffers()) == [] and list(m.children()) == []
    m.register_buffer("b", np.zeros(2))
    assert [k for k, _ in m.named_buffers()] == ["b"] and isinstance(m.b, Tensor)
    m.p = nn.Parameter(np.ones(2))
    assert [k for k, _ in m.named_parameters()] == ["p"]
    del m.p
    assert list(m.named_parameters()) == []
    with pytest.raises(ValueError, match="must not require grad"):
        m.register_buffer("bad", Tensor(np.ones(2), requires_grad=True))


def test_assigning_before_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"call super\(\).__init__\(\)"):
        Broken()


def test_reassigning_a_parameter_keeps_its_place_in_the_state_dict():
    lin = nn.Linear(3, 2)
    lin.weight = nn.Parameter(np.zeros((2, 3), dtype=np.float32))
    assert list(lin.state_dict()) == ["weight", "bias"]  # PyTorch's order
    np.testing.assert_array_equal(lin.state_dict()["weight"], 0)
    lin.weight = None  # no longer a parameter
    assert list(lin.state_dict()) == ["bias"]


# ----------------------------------------------------------------------------- state_dict


def test_state_dict_keys_and_shapes_follow_pytorch():
    mlp = nn.MLP(6, [5], 2, batchnorm=True)
    assert [(k, v.shape) for k, v in mlp.state_dict().items()] == [
        ("0.weight", (5, 6)), ("0.bias", (5,)),
        ("1.weight", (5,)), ("1.bias", (5,)), ("1.running_mean", (5,)), ("1.running_var", (5,)),
        ("1.num_batches_tracked", ()),
        ("3.weight", (2, 5)), ("3.bias", (2,)),
    ]
    net = Net()
    assert list(net.state_dict()) == list(PARAMS)[:4] + list(BUFFERS) + list(PARAMS)[4:]


def test_state_dict_holds_copies():
    lin = nn.Linear(2, 2)
    state = lin.state_dict()
    state["weight"][...] = 7
    assert not np.any(lin.weight.data == 7)
    assert isinstance(state["weight"], np.ndarray)


def test_load_state_dict_from_arrays_and_tensors_keeps_dtype():
    src = nn.MLP(4, [3], 2, batchnorm=True, dtype=np.float64)
    src(Tensor(np.random.default_rng(1).standard_normal((5, 4))))  # move the running statistics
    state = src.state_dict()
    for convert in (lambda a: a, Tensor):
        dst = nn.MLP(4, [3], 2, batchnorm=True)  # float32
        result = dst.load_state_dict({k: convert(v) for k, v in state.items()})
        assert result == ([], [])
        for key, value in dst.state_dict().items():
            assert value.dtype == (np.int64 if key.endswith("num_batches_tracked") else np.float32), key
            np.testing.assert_allclose(value, state[key], rtol=1e-6, err_msg=key)
        assert int(dst[1].num_batches_tracked.data) == 1
    arrays = {k: v.copy() for k, v in state.items()}
    dst.load_state_dict(arrays)
    arrays["0.weight"][...] = 9  # loading copied the values
    assert not np.any(dst[0].weight.data == 9)


def test_load_state_dict_strict_lists_missing_and_unexpected_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = model.state_dict()
    del state["0.bias"]
    state["2.weight"] = np.zeros((1, 1))
    state["extra"] = np.zeros(2)
    before = model.state_dict()
    with pytest.raises(RuntimeError, match=r"missing keys: 0\.bias \| unexpected keys: 2\.weight, extra"):
        model.load_state_dict(state)
    for key, value in model.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[key])


def test_load_state_dict_non_strict_returns_missing_and_unexpected_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    state = {"0.weight": np.full((3, 2), 0.5), "unused": np.ones(1)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["0.bias", "1.weight", "1.bias"]
    assert unexpected == ["unused"]
    np.testing.assert_array_equal(model[0].weight.data, 0.5)


@pytest.mark.parametrize("strict", [True, False])
def test_load_state_dict_shape_mismatch_is_always_an_error(strict):
    model = nn.Linear(2, 3)
    state = model.state_dict()
    state["weight"] = np.zeros((2, 3))
    with pytest.raises(RuntimeError, match=r"shape mismatches: weight: checkpoint \(2, 3\), model \(3, 2\)"):
        model.load_state_dict(state, strict=strict)


def test_state_dict_roundtrip_reproduces_the_outputs():
    src = nn.MLP(5, [4, 4], 3, batchnorm=True, dtype=np.float64)
    x = Tensor(np.random.default_rng(2).standard_normal((6, 5)))
    src(x)
    dst = nn.MLP(5, [4, 4], 3, batchnorm=True, dtype=np.float64)
    dst.load_state_dict(src.state_dict())
    src.eval()
    dst.eval()
    np.testing.assert_array_equal(dst(x).data, src(x).data)


# ----------------------------------------------------------------------------- dtypes


def test_double_float_and_to_convert_parameters_buffers_and_grads():
    net = Block()
    net(Tensor(np.ones((2, 4), dtype=np.float32))).sum().backward()
    assert net.double() is net
    for key, value in net.state_dict().items():
        assert value.dtype == (np.int64 if key.endswith("num_batches_tracked") else np.float64), key
    assert all(p.grad.dtype == np.float64 for p in net.parameters() if p.grad is not None)
    out = net(Tensor(np.random.default_rng(3).standard_normal((3, 4))))
    assert out.dtype == np.float64
    assert net.float() is net
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.bn.running_mean.dtype == np.float32
    net.to(np.float64)
    assert all(p.dtype == np.float64 for p in net.parameters())
    with pytest.raises(TypeError, match="only floating dtypes"):
        net.to(np.int32)


def test_layers_take_a_dtype():
    for layer in (nn.Linear(2, 2, dtype=np.float64), nn.BatchNorm1d(2, dtype=np.float64),
                  nn.LayerNorm(2, dtype=np.float64), nn.MLP(2, [2], 2, dtype=np.float64)):
        assert all(p.dtype == np.float64 for p in layer.parameters())
    assert all(p.dtype == np.float32 for p in nn.MLP(2, [2], 2, batchnorm=True).parameters())


# ----------------------------------------------------------------------------- containers


def test_sequential():
    a, b = nn.Linear(3, 4), nn.Linear(4, 2)
    seq = nn.Sequential(a, nn.ReLU(), b)
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"]
    assert len(seq) == 3 and seq[0] is a and seq[-1] is b
    assert [type(m) for m in seq] == [nn.Linear, nn.ReLU, nn.Linear]
    assert [type(m) for m in seq[1:]] == [nn.ReLU, nn.Linear]
    x = Tensor(np.random.default_rng(4).standard_normal((2, 3)).astype(np.float32))
    np.testing.assert_allclose(seq(x).data, b(a(x).relu()).data)
    seq.append(nn.Tanh())
    assert len(seq) == 4 and list(seq.named_children())[-1][0] == "3"
    named = nn.Sequential({"first": nn.Linear(1, 1), "second": nn.Identity()})
    assert [n for n, _ in named.named_children()] == ["first", "second"]
    assert "first.weight" in named.state_dict()


def test_module_list_registers_its_modules():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3
    assert [n for n, _ in layers.named_parameters()] == [f"{i}.{p}" for i in range(3) for p in ("weight", "bias")]
    extra = nn.Linear(2, 1)
    layers.append(extra).extend([nn.ReLU()])
    assert len(layers) == 5 and layers[3] is extra and layers[-1].__class__ is nn.ReLU
    assert [type(m) for m in layers] == [nn.Linear] * 4 + [nn.ReLU]
    with pytest.raises(NotImplementedError, match="must define forward"):
        layers(Tensor(np.ones(2)))


def test_a_plain_list_of_modules_is_not_registered():
    class Holder(nn.Module):
        def __init__(self):
            super().__init__()
            self.plain = [nn.Linear(2, 2)]
            self.registered = nn.ModuleList([nn.Linear(2, 2)])

    assert [n for n, _ in Holder().named_parameters()] == ["registered.0.weight", "registered.0.bias"]


def test_repr_shows_the_tree():
    text = repr(nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3)))
    assert "(0): Linear(in_features=2, out_features=3, bias=True)" in text
    assert "(1): BatchNorm1d(3, eps=1e-05, momentum=0.1" in text


def test_assigning_a_plain_tensor_to_a_parameter_name_is_an_error():
    import numpy as np
    import pytest

    from tinygrad_bn import Tensor
    from tinygrad_bn.nn import Linear, Parameter

    layer = Linear(2, 3)
    with pytest.raises(TypeError, match="cannot assign a Tensor to parameter 'weight'"):
        layer.weight = Tensor(np.zeros((3, 2)))
    layer.weight = Parameter(np.zeros((3, 2)))  # a Parameter is fine, and keeps its place
    assert [name for name, _ in layer.named_parameters()] == ["weight", "bias"]


def test_module_list_slices_are_module_lists():
    from tinygrad_bn.nn import Linear, ModuleList

    layers = ModuleList([Linear(2, 2), Linear(2, 3), Linear(3, 1)])
    part = layers[1:]
    assert isinstance(part, ModuleList) and len(part) == 2 and part[0] is layers[1]
    assert [name for name, _ in part.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]
