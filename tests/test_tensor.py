"""The Tensor class: construction and dtypes, attributes, operators with non-Tensor operands,
comparisons, and error messages that name the op and the shapes."""
from __future__ import annotations

import operator
import re

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import Tensor

# ----------------------------------------------------------------------------- construction


@pytest.mark.parametrize(
    ("data", "dtype"),
    [
        ([1.0, 2.0], np.float32),
        (1.5, np.float32),
        ([[1, 2.5]], np.float32),
        ([1, 2], np.int64),
        (3, np.int64),
        ([True, False], np.bool_),
        (np.array([1.0, 2.0]), np.float64),
        (np.array([1.0], dtype=np.float32), np.float32),
        (np.float64(2.0), np.float64),
        (np.array([1, 2], dtype=np.int32), np.int32),
    ],
)
def test_construction_dtypes(data, dtype):
    t = Tensor(data)
    assert t.dtype == dtype
    np.testing.assert_array_equal(t.numpy(), np.asarray(data))
    assert not t.requires_grad and t.grad is None and t.is_leaf


def test_explicit_dtype_and_tensor_function():
    t = tg.tensor([1, 2], dtype=np.float64, requires_grad=True)
    assert isinstance(t, Tensor) and t.dtype == np.float64 and t.requires_grad


def test_construction_copies_the_data():
    source = np.array([1.0, 2.0])
    t = Tensor(source)
    source[0] = 99.0
    assert t.numpy()[0] == 1.0


def test_tensor_from_tensor():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor(a)
    assert b.dtype == np.float32 and not b.requires_grad and b.is_leaf
    np.testing.assert_array_equal(b.numpy(), a.numpy())


@pytest.mark.parametrize("data", [[1, 2], [True, False], np.arange(3)])
def test_requires_grad_on_non_float_is_a_type_error(data):
    with pytest.raises(TypeError, match=r"only floating-point tensors can require gradients.*dtype=np.float32"):
        Tensor(data, requires_grad=True)
    with pytest.raises(TypeError, match="only floating-point"):
        Tensor(data).requires_grad_()


def test_unsupported_data_is_a_type_error():
    with pytest.raises(TypeError, match="unsupported data of dtype"):
        Tensor(["a", "b"])


def test_requires_grad_in_place():
    t = Tensor([1.0])
    assert t.requires_grad_() is t and t.requires_grad
    with pytest.raises(RuntimeError, match="detach"):
        (t * 2).requires_grad_(False)


# ----------------------------------------------------------------------------- attributes


def test_attributes():
    t = Tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert t.shape == (2, 3) and t.ndim == 2 and t.size == 6 and t.dtype == np.float64
    assert isinstance(t.numpy(), np.ndarray) and len(t) == 2
    assert t.is_leaf and t.grad_fn is None
    y = t * 2
    assert not y.is_leaf and y.grad_fn.name == "Mul"
    d = y.detach()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    np.testing.assert_array_equal(d.numpy(), y.numpy())
    rows = list(t)
    assert len(rows) == 2 and rows[1].shape == (3,) and rows[1].requires_grad


def test_item_and_python_numbers():
    t = Tensor(np.array([[2.5]]))
    assert t.item() == 2.5 and isinstance(t.item(), float)
    assert float(t) == 2.5 and int(t) == 2 and bool(t) is True
    assert Tensor(3).item() == 3
    with pytest.raises(ValueError, match=r"item: only one-element tensors.*shape \(2,\)"):
        Tensor([1.0, 2.0]).item()
    with pytest.raises(ValueError, match=r"bool: .*shape \(2,\)"):
        bool(Tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="len"):
        len(Tensor(1.0))


def test_repr_shows_shape_dtype_and_op():
    x = Tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True, name="w")
    text = repr(x)
    assert "shape=(2, 3)" in text and "dtype=float32" in text and "requires_grad=True" in text and "'w'" in text
    y = (x * 2).sum()
    assert "grad_fn=Sum" in repr(y) and "shape=()" in repr(y)
    assert repr(Tensor(np.arange(100.0))).count(",") < 20  # long tensors are abbreviated


def test_hash_is_identity():
    a, b = Tensor([1.0]), Tensor([1.0])
    assert len({a, b}) == 2 and {a: 1}[a] == 1


def test_argmax_argmin_and_integer_astype_are_constants():
    x = Tensor(np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]), requires_grad=True)
    for index, expected in [(x.argmax(axis=1), [1, 0]), (x.argmin(axis=1), [0, 1]), (x.argmax(), 3)]:
        assert index.dtype.kind == "i" and not index.requires_grad
        np.testing.assert_array_equal(index.numpy(), expected)
    assert x.astype(np.int32).dtype == np.int32 and not x.astype(np.int32).requires_grad
    assert x.float().dtype == np.float32 and x.float().requires_grad and x.double() is x


def test_index_with_a_tensor_of_labels():
    logits = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    labels = Tensor([1, 0, 1])
    picked = logits[np.arange(3), labels]
    np.testing.assert_array_equal(picked.numpy(), [1.0, 2.0, 5.0])
    picked.sum().backward()
    np.testing.assert_array_equal(logits.grad.numpy(), [[0, 1], [1, 0], [0, 1]])


def test_reductions_of_a_zero_dim_tensor_accept_axis_0_and_minus_1():
    x = Tensor(np.array(2.0), requires_grad=True)
    for axis in (0, -1, (0,)):
        assert x.sum(axis=axis).item() == 2.0 and x.max(axis=axis, keepdims=True).shape == ()
    assert x.squeeze(0).shape == ()
    with pytest.raises(ValueError, match="sum: axis 1 is out of range"):
        x.sum(axis=1)


# ----------------------------------------------------------------------------- operators with non-Tensor operands

BINARY = [
    ("add", operator.add),
    ("sub", operator.sub),
    ("mul", operator.mul),
    ("truediv", operator.truediv),
    ("pow", operator.pow),
]


@pytest.mark.parametrize(("name", "op"), BINARY)
@pytest.mark.parametrize("other", [2, 0.5, np.float64(1.5), np.array([1.0, 2.0, 3.0]), [1.0, 2.0, 3.0]],
                         ids=["int", "float", "np.float64", "ndarray", "list"])
def test_non_tensor_operand_on_either_side(name, op, other):
    x = Tensor(np.array([0.5, 1.0, 2.0], dtype=np.float32), requires_grad=True)
    plain = np.asarray(other, dtype=np.float32) if not isinstance(other, (int, float)) else other
    for result, expected in [(op(x, other), op(x.numpy(), plain)), (op(other, x), op(plain, x.numpy()))]:
        assert isinstance(result, Tensor)
        assert result.dtype == np.float32, name
        assert result.requires_grad
        np.testing.assert_allclose(result.numpy(), expected, rtol=1e-6)


def test_scalar_dtype_examples():
    x = Tensor([1.0, 2.0, 3.0])
    assert (x * 2).dtype == np.float32 and (2 - x).dtype == np.float32 and (2**x).dtype == np.float32
    out = np.ones(3) + x
    assert isinstance(out, Tensor) and out.dtype == np.float32
    np.testing.assert_array_equal(out.numpy(), [2, 3, 4])
    assert (+x) is x and (-x).dtype == np.float32


def test_matmul_with_arrays_on_either_side():
    x = Tensor(np.eye(2, dtype=np.float32), requires_grad=True)
    m = np.array([[1.0, 2.0], [3.0, 4.0]])
    for result in (x @ m, m @ x, x.matmul(m)):
        assert isinstance(result, Tensor) and result.dtype == np.float32
        np.testing.assert_array_equal(result.numpy(), m)


def test_integer_tensor_arithmetic():
    t = Tensor([1, 2, 3])
    assert (t + 1).dtype == np.int64 and (t * t).dtype == np.int64
    np.testing.assert_array_equal((t * 2).numpy(), [2, 4, 6])


# numpy 2's weak Python scalars (NEP 50): the tensor's dtype decides when the scalar's kind fits it
DTYPES = [np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64,
          np.float16, np.float32, np.float64]
UFUNCS = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide, "pow": np.power}
SCALARS = [True, 2, -3, 300, 0.5]  # 300 is out of range for (u)int8, -3 for unsigned: numpy 2 raises


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize(("name", "op"), BINARY)
@pytest.mark.parametrize("scalar", SCALARS, ids=repr)
@pytest.mark.parametrize("reflected", [False, True], ids=["tensor-first", "scalar-first"])
def test_python_scalars_promote_like_numpy_2(dtype, name, op, scalar, reflected):
    """Every dtype, operator and side against numpy's own result: same dtype and values, or an error
    where numpy raises one (an int out of the dtype's range, bool - bool, integers to negative powers)."""
    values = np.array([1, 2, 3]).astype(dtype)
    ufunc = UFUNCS[name]  # not the operator: ndarray ** 2 calls np.square, which gives bool ** 2 as int8
    with np.errstate(all="ignore"):  # integer overflow and 0**-3 warn in numpy; here only dtypes matter
        try:
            expected = ufunc(scalar, values) if reflected else ufunc(values, scalar)
        except (TypeError, ValueError, OverflowError) as numpy_error:
            with pytest.raises(type(numpy_error)):
                op(scalar, Tensor(values)) if reflected else op(Tensor(values), scalar)
            return
        result = op(scalar, Tensor(values)) if reflected else op(Tensor(values), scalar)
    assert result.dtype == expected.dtype, f"{np.dtype(dtype).name} {name} {scalar!r}"
    np.testing.assert_array_equal(result.numpy(), expected)


def test_integer_tensor_and_python_scalar_examples():
    x = Tensor(np.array([1, 2, 3], dtype=np.int32))
    assert (x * 2).dtype == np.int32 and (x + 1).dtype == np.int32 and (x**2).dtype == np.int32
    assert (2 * x).dtype == np.int32 and (1 - x).dtype == np.int32 and (2**x).dtype == np.int32
    assert (x * 0.5).dtype == np.float64 and (x / 2).dtype == np.float64  # numpy 2: the default float
    assert (Tensor(np.array([200], dtype=np.uint8)) + 1).dtype == np.uint8
    assert (Tensor(np.array([1.0], dtype=np.float16)) * 3).dtype == np.float16
    assert (Tensor([True, False]) + 1).dtype == np.int64
    with pytest.raises(OverflowError, match=r"add: Python integer 300 is out of range for a tensor of dtype int8"):
        Tensor(np.array([1], dtype=np.int8)) + 300


# ----------------------------------------------------------------------------- empty tensors


def test_mean_over_an_axis_of_an_empty_tensor_is_empty_with_an_empty_gradient():
    x = Tensor(np.zeros((0, 3)), requires_grad=True)
    for axis, shape in [(1, (0,)), ((1,), (0,))]:
        out = x.mean(axis=axis)
        assert out.shape == shape
        out.sum().backward()
        assert x.grad.shape == (0, 3)
    assert x.mean(axis=1, keepdims=True).shape == (0, 1)
    assert Tensor(np.zeros((0, 0))).mean(axis=0).shape == (0,)  # nothing to average, but nothing asked for
    assert x.var(axis=1).shape == (0,)


@pytest.mark.parametrize(("shape", "axis"), [((0, 3), 0), ((0, 3), None), ((2, 0), 1), ((0,), None)])
def test_mean_over_no_values_is_an_error_not_nan(shape, axis):
    """PyTorch gives NaN here; a NaN that silently flows into a loss is worse than a clear error."""
    message = rf"mean: axes .* of the input of shape {re.escape(str(shape))} hold no values"
    with pytest.raises(tg.OpError, match=message):
        Tensor(np.zeros(shape)).mean(axis=axis)


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_max_over_a_nonempty_axis_of_an_empty_tensor(reduce):
    x = Tensor(np.zeros((2, 0)), requires_grad=True)
    out = getattr(x, reduce)(axis=0)
    assert out.shape == (0,) and getattr(x, reduce)(axis=0, keepdims=True).shape == (1, 0)
    out.sum().backward()
    assert x.grad.shape == (2, 0)
    message = rf"{reduce}: axes \(1,\) of the input of shape \(2, 0\) include one of length 0"
    with pytest.raises(tg.OpError, match=message):
        getattr(x, reduce)(axis=1)  # no extreme of no values (numpy and PyTorch raise too)


def test_combining_with_unsupported_types():
    with pytest.raises(TypeError, match="cannot combine a Tensor with str"):
        Tensor([1.0]) + "a"


@pytest.mark.parametrize("op", [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne])
@pytest.mark.parametrize("other", [1.0, np.array([0.0, 1.0, 2.0]), Tensor([2.0, 1.0, 0.0])],
                         ids=["scalar", "ndarray", "tensor"])
def test_comparisons_return_bool_tensors_without_grad(op, other):
    x = Tensor([0.0, 1.0, 2.0], requires_grad=True)
    result = op(x, other)
    plain = other.numpy() if isinstance(other, Tensor) else other
    assert isinstance(result, Tensor) and result.dtype == np.bool_
    assert not result.requires_grad and result.grad_fn is None
    np.testing.assert_array_equal(result.numpy(), op(x.numpy(), plain))


def test_where_with_comparison_condition():
    x = Tensor([-1.0, 2.0], requires_grad=True)
    y = tg.where(x > 0, x, 0.0)
    np.testing.assert_array_equal(y.numpy(), [0.0, 2.0])
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 1.0])


# ----------------------------------------------------------------------------- errors name the op and the shapes


def ones(*shape: int) -> Tensor:
    """A float tensor of ones of the given shape."""
    return Tensor(np.ones(shape))


ERRORS = [
    ("matmul", lambda: ones(2, 3) @ ones(2, 3), ValueError, ["(2, 3) and (2, 3)"]),
    ("matmul", lambda: ones(3) @ ones(4), ValueError, ["(3,) and (4,)"]),
    ("matmul", lambda: ones(2, 2, 3) @ ones(3, 3, 2), ValueError, ["(2, 2, 3)", "(3, 3, 2)"]),
    ("matmul", lambda: ones(3) @ Tensor(1.0), ValueError, ["(3,) and ()"]),
    ("add", lambda: ones(2, 3) + ones(4), ValueError, ["(2, 3)", "(4,)"]),
    ("mul", lambda: ones(2) * ones(3), ValueError, ["(2,)", "(3,)"]),
    ("maximum", lambda: tg.maximum(ones(2), ones(3)), ValueError, ["(2,)", "(3,)"]),
    ("where", lambda: tg.where(np.ones(3, bool), ones(2), ones(3)), ValueError, ["(2,)", "(3,)"]),
    ("reshape", lambda: ones(2, 3).reshape(4), ValueError, ["(2, 3)", "(4,)"]),
    ("reshape", lambda: ones(2, 3).reshape(-1, -1), ValueError, ["(2, 3)"]),
    ("getitem", lambda: ones(3)[5], IndexError, ["index 5", "(3,)"]),
    ("getitem", lambda: ones(3)[0, 0], IndexError, ["too many indices", "(3,)"]),
    ("getitem", lambda: ones(3)[np.array([0, 7])], IndexError, ["7", "(3,)"]),
    ("sum", lambda: ones(2, 3).sum(axis=2), ValueError, ["axis 2", "2 dimensions"]),
    ("mean", lambda: ones(2, 3).mean(axis=-3), ValueError, ["axis -3"]),
    ("max", lambda: ones(2, 3).max(axis=(0, 5)), ValueError, ["axis 5"]),
    ("var", lambda: ones(2, 3).var(axis=3), ValueError, ["axis 3"]),
    ("sum", lambda: ones(2, 3).sum(axis=(1, -1)), ValueError, ["repeated axis"]),
    ("squeeze", lambda: ones(2, 3).squeeze(0), ValueError, ["axis 0", "(2, 3)", "length 2"]),
    ("squeeze", lambda: ones(1, 3).squeeze(2), ValueError, ["axis 2"]),
    ("unsqueeze", lambda: ones(3).unsqueeze(3), ValueError, ["axis 3"]),
    ("transpose", lambda: ones(2, 3).transpose(0, 0), ValueError, ["(0, 0)", "(2, 3)"]),
    ("broadcast_to", lambda: ones(3).broadcast_to((2, 4)), ValueError, ["(3,)", "(2, 4)"]),
    ("stack", lambda: tg.stack([ones(2), ones(3)]), ValueError, ["(2,)", "(3,)"]),
    ("concatenate", lambda: tg.concatenate([ones(2, 3), ones(3, 2)]), ValueError, ["(2, 3)", "(3, 2)"]),
    ("concatenate", lambda: tg.concatenate([ones(2), ones(3)], axis=1), ValueError, ["axis 1 is out of range"]),
    ("concatenate", lambda: tg.concatenate([Tensor(1.0), Tensor(2.0)]), ValueError, ["zero-dimensional"]),
    ("concatenate", lambda: tg.concatenate([]), ValueError, ["at least one"]),
    ("var", lambda: ones(1).var(ddof=1), ValueError, ["ddof=1"]),
    ("clip", lambda: ones(2).clip(), ValueError, ["min and max"]),
    ("item", lambda: ones(2).item(), ValueError, ["(2,)"]),
    ("bool", lambda: bool(ones(2)), ValueError, ["(2,)"]),
    ("backward", lambda: (Tensor(np.ones(2), requires_grad=True) * 2).backward(), RuntimeError, ["(2,)", "gradient="]),
]


@pytest.mark.parametrize(("op", "thunk", "error", "fragments"), ERRORS,
                         ids=[f"{e[0]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_name_the_op_and_shapes(op, thunk, error, fragments):
    with pytest.raises(error) as info:
        thunk()
    message = str(info.value)
    assert message.startswith(f"{op}:"), message
    assert message.count(f"{op}:") == 1, message  # named once, not wrapped twice
    for fragment in fragments:
        assert fragment in message, (fragment, message)


# ----------------------------------------------------------------------------- creation functions


@pytest.mark.parametrize(("make", "shape", "dtype", "values"), [
    (lambda: tg.zeros(2, 3), (2, 3), np.float32, 0.0),
    (lambda: tg.zeros((2, 3), dtype=np.float64), (2, 3), np.float64, 0.0),
    (lambda: tg.ones([4]), (4,), np.float32, 1.0),
    (lambda: tg.full((2,), 7), (2,), np.int64, 7),
    (lambda: tg.full(3, 0.5), (3,), np.float32, 0.5),
    (lambda: tg.full((1,), True), (1,), np.bool_, True),
    (lambda: tg.zeros_like(Tensor(np.ones((2, 2), dtype=np.int32))), (2, 2), np.int32, 0),
    (lambda: tg.ones_like(Tensor(np.ones(3)), dtype=np.float32), (3,), np.float32, 1.0),
    (lambda: tg.full_like(Tensor(np.ones(2)), 2.5), (2,), np.float64, 2.5),
])
def test_creation_functions_give_pytorchs_shapes_and_dtypes(make, shape, dtype, values):
    t = make()
    assert t.shape == shape and t.dtype == dtype and t.is_leaf and not t.requires_grad
    np.testing.assert_array_equal(t.numpy(), np.full(shape, values, dtype=dtype))


def test_arange_eye_and_requires_grad():
    assert tg.arange(5).dtype == np.int64 and tg.arange(5).tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(tg.arange(1, 2, 0.25).numpy(), [1, 1.25, 1.5, 1.75])
    assert tg.arange(1, 2, 0.25).dtype == np.float32
    assert tg.arange(3, dtype=np.float64).dtype == np.float64
    np.testing.assert_array_equal(tg.eye(2, 3).numpy(), np.eye(2, 3))
    w = tg.zeros(3, requires_grad=True)
    (w * 2).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2, 2, 2])
    with pytest.raises(TypeError, match="floating"):
        tg.arange(3, requires_grad=True)
    with pytest.raises(ValueError, match="zeros: sizes must be non-negative ints"):
        tg.zeros(2, -1)


def test_rand_and_randn_follow_manual_seed_and_dtype():
    tg.manual_seed(11)
    a, b = tg.rand(3, 4), tg.randn(5, dtype=np.float64, requires_grad=True)
    tg.manual_seed(11)
    np.testing.assert_array_equal(tg.rand(3, 4).numpy(), a.numpy())
    np.testing.assert_array_equal(tg.randn(5, dtype=np.float64).numpy(), b.numpy())
    assert a.dtype == np.float32 and b.dtype == np.float64 and b.requires_grad and b.is_leaf
    assert 0 <= a.numpy().min() and a.numpy().max() < 1
    like = tg.randn_like(Tensor(np.zeros((2, 2), dtype=np.float32)))
    assert like.shape == (2, 2) and like.dtype == np.float32
    own = tg.rand(4, generator=np.random.default_rng(0))
    np.testing.assert_array_equal(own.numpy(), np.random.default_rng(0).random(4, dtype=np.float32))
    big = tg.randn(200_000, dtype=np.float64).numpy()
    assert abs(big.mean()) < 0.01 and abs(big.std() - 1) < 0.01


def test_compiled_steps_draw_fresh_random_numbers_and_replay_manual_seed():
    """rand inside a compiled step is an op: each replay draws anew, as eager calls do; a manual_seed inside the
    step is recorded and reseeds at every replay."""
    def noisy(x):
        return x + tg.randn_like(x)

    def seeded(x):
        tg.manual_seed(5)
        return x + tg.rand(*x.shape, dtype=x.dtype)

    x = Tensor(np.zeros(4))
    compiled = tg.jit(noisy)
    tg.manual_seed(1)
    draws = [compiled(x).numpy().copy() for _ in range(4)]
    tg.manual_seed(1)
    eager = [noisy(x).numpy().copy() for _ in range(4)]
    assert compiled.replays == 2
    np.testing.assert_array_equal(draws, eager)
    assert len({d.tobytes() for d in draws}) == 4
    compiled = tg.jit(seeded)
    results = [compiled(x).numpy().copy() for _ in range(4)]
    assert compiled.replays == 2
    for r in results:
        np.testing.assert_array_equal(r, seeded(x).numpy())


# ----------------------------------------------------------------------------- PyTorch spellings


def test_dim_and_keepdim_are_accepted_wherever_axis_and_keepdims_are():
    x = Tensor(np.arange(24.0).reshape(2, 3, 4))
    for name in ("sum", "mean", "prod", "logsumexp", "any", "all"):
        np.testing.assert_allclose(getattr(x, name)(dim=1, keepdim=True).numpy(),
                                   getattr(x, name)(axis=1, keepdims=True).numpy())
    assert x.argmax(dim=2, keepdim=True).shape == (2, 3, 1)
    assert x.unsqueeze(dim=0).shape == (1, 2, 3, 4) and x.unsqueeze(dim=0).squeeze(dim=0).shape == (2, 3, 4)
    assert tg.cat([x, x], dim=1).shape == (2, 6, 4) and tg.stack([x, x], dim=3).shape == (2, 3, 4, 2)
    with pytest.raises(TypeError, match="not both"):
        x.sum(axis=0, dim=0)


def test_pytorch_spelling_gives_pytorchs_meaning_where_numpy_differs():
    """max/min with dim= return (values, indices); var/std with dim= are unbiased unless told otherwise."""
    x = Tensor(np.array([[1.0, 5.0, 5.0], [4.0, 2.0, 0.0]]))
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.numpy(), [5, 4])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])  # the first maximum, as torch
    assert x.min(dim=0, keepdim=True).indices.shape == (1, 3)
    assert x.max(1).shape == (2,)  # numpy's positional axis: the values
    np.testing.assert_allclose(x.var(dim=1).numpy(), np.var(x.numpy(), axis=1, ddof=1))
    np.testing.assert_allclose(x.var(1).numpy(), np.var(x.numpy(), axis=1))
    np.testing.assert_allclose(x.std(dim=1, unbiased=False).numpy(), np.std(x.numpy(), axis=1))
    np.testing.assert_allclose(x.var(correction=0).numpy(), np.var(x.numpy()))


def test_method_forms_and_shape_spellings():
    a = Tensor(np.array([[1.0, -2.0], [3.0, 4.0]]), requires_grad=True)
    np.testing.assert_array_equal(a.add(1.0, alpha=3).numpy(), a.numpy() + 3)
    np.testing.assert_array_equal(a.sub(a, alpha=2).numpy(), -a.numpy())
    np.testing.assert_array_equal(a.mul(2).div(4).pow(2).neg().numpy(), -((a.numpy() / 2) ** 2))
    np.testing.assert_array_equal(a.where(a > 0, 0.0).numpy(), [[1, 0], [3, 4]])
    assert a.permute(1, 0).shape == (2, 2) and a.view(4).shape == (4,) and a.view(-1, 1).shape == (4, 1)
    assert a.expand(3, -1, 2).shape == (3, 2, 2)
    assert a.tolist() == [[1.0, -2.0], [3.0, 4.0]] and a.dim() == 2 and a.numel() == 4
    c = a.clone()
    assert c.data is not a.data and c.requires_grad
    (c * c).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), 2 * a.numpy())
    assert a.detach().requires_grad is False
    assert Tensor([1.5, 2.5]).long().dtype == np.int64 and Tensor([0.0, 1.0]).bool().tolist() == [False, True]


def test_floor_division_and_remainder_follow_python_and_have_no_gradient():
    a = Tensor(np.array([7.0, -7.0, 7.5]), requires_grad=True)
    np.testing.assert_array_equal((a // 2).numpy(), [3, -4, 3])
    np.testing.assert_array_equal((a % -2).numpy(), [-1, -1, -0.5])
    np.testing.assert_array_equal((9 // Tensor([2, 4])).numpy(), [4, 2])
    assert not (a // 2).requires_grad and not (a % 2).requires_grad
    np.testing.assert_array_equal(Tensor([7, -7]).div(2, rounding_mode="trunc").numpy(), [3, -3])
    np.testing.assert_array_equal(Tensor([7, -7]).div(2, rounding_mode="floor").numpy(), [3, -4])
    with pytest.raises(ValueError, match="rounding_mode"):
        a.div(2, rounding_mode="nearest")


def test_rounding_ops_have_a_zero_gradient_as_in_pytorch():
    x = Tensor(np.array([-1.5, -0.2, 0.5, 2.7]), requires_grad=True)
    for fn in (lambda t: t.floor(), lambda t: t.ceil(), lambda t: t.round(), lambda t: t.sign(), lambda t: t.trunc()):
        x.grad = None
        y = fn(x)
        assert y.requires_grad
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.zeros(4))
    np.testing.assert_array_equal(x.round().numpy(), [-2, -0, 0, 3])  # halves to even
    special = Tensor(np.array([np.nan, np.inf, -np.inf, 1.0]))
    assert special.isnan().tolist() == [True, False, False, False]
    assert special.isinf().tolist() == [False, True, True, False]
    assert special.isfinite().tolist() == [False, False, False, True]


def test_item_assignment_under_no_grad_for_initializers():
    w = Tensor(np.zeros((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match="setitem: in-place assignment into a tensor that requires grad"):
        w[0] = 1.0
    with tg.no_grad():
        w[0] = 1.0
        w[1, 1:] = Tensor(np.array([2.0, 3.0]))
    np.testing.assert_array_equal(w.numpy(), [[1, 1, 1], [0, 2, 3]])
    plain = Tensor(np.zeros(3))
    plain[Tensor(np.array([0, 2]))] = 5.0  # nothing requires grad: allowed, as in PyTorch
    np.testing.assert_array_equal(plain.numpy(), [5, 0, 5])
    with pytest.raises(RuntimeError, match="read-only"):
        with tg.no_grad():
            Tensor(np.zeros(3)).broadcast_to((2, 3))[0, 0] = 1.0


def test_split_chunk_gather_masked_fill():
    x = Tensor(np.arange(10.0), requires_grad=True)
    assert [p.shape for p in x.split(4)] == [(4,), (4,), (2,)]
    assert [p.shape for p in x.split([3, 7])] == [(3,), (7,)]
    assert [p.shape for p in x.chunk(3)] == [(4,), (4,), (2,)]
    with pytest.raises(ValueError, match="split: sizes .* add up to 10"):
        x.split([3, 3])
    g = x.reshape(2, 5).gather(1, Tensor(np.array([[4, 4], [0, 1]])))
    np.testing.assert_array_equal(g.numpy(), [[4, 4], [5, 6]])
    g.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0, 2, 1, 1, 0, 0, 0])  # repeats add up
    filled = x.masked_fill(x > 6, -1.0)
    np.testing.assert_array_equal(filled.numpy(), [0, 1, 2, 3, 4, 5, 6, -1, -1, -1])
