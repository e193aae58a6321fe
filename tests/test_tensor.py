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
