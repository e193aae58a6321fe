"""The generic op harness: every row of the op table (op_table.py) is checked the same way.

For each op, Hypothesis draws inputs from the row's strategy, then: gradients match central differences
(gradcheck, float64); for smooth ops second derivatives match too (gradgradcheck); forward values match
numpy; float32 inputs give float32 outputs and gradients; forward and backward leave the inputs unchanged.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st
from op_table import OPS, OpSpec, Sample

import tinygrad_bn as tg
from tinygrad_bn import Tensor, ops
from tinygrad_bn.autograd import Function
from tinygrad_bn.testing import gradcheck, gradgradcheck

DIFFERENTIABLE = [op for op in OPS if op.differentiable]
SMOOTH = [op for op in DIFFERENTIABLE if op.smooth]


def bound(op: OpSpec, sample: Sample):
    """The op as a function of its differentiated inputs only (the sample's parameters fixed)."""

    def fn(*xs: Tensor) -> Tensor:
        return op.fn(*xs, **sample.params)

    fn.__name__ = op.name
    return fn


def same(a, b) -> bool:
    """Deep equality of sample parameters (arrays compared elementwise, with their dtypes)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return type(a) is type(b) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, (tuple, list)):
        return type(a) is type(b) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return a == b


def engine_ops() -> set[type]:
    """Every primitive op the engine defines: the public Function subclasses of tinygrad_bn.ops."""
    return {cls for cls in vars(ops).values() if isinstance(cls, type) and issubclass(cls, Function)
            and cls.__module__ == ops.__name__ and not cls.__name__.startswith("_")}


def ops_run_by(op: OpSpec, sample: Sample, monkeypatch: pytest.MonkeyPatch) -> tuple[set, set]:
    """The primitive classes a row's forward applies, and those its backward (and the backward of that, with
    create_graph) applies: recorded at Function.apply, the one entry point of every op."""
    seen: set[type] = set()
    apply = Function.apply.__func__

    def recording(cls, *inputs, **params):
        seen.add(cls)
        return apply(cls, *inputs, **params)

    monkeypatch.setattr(Function, "apply", classmethod(recording))
    xs = [Tensor(a, requires_grad=op.differentiable) for a in sample.arrays]
    out = op.fn(*xs, **sample.params)
    forward = set(seen)
    seen.clear()
    if op.differentiable and out.requires_grad:
        grads = tg.grad((out * out).sum(), xs, create_graph=True, allow_unused=True)
        total = sum((g.sum() for g in grads if g is not None), Tensor(np.zeros(())))
        if total.requires_grad:
            tg.grad(total, xs, allow_unused=True)
    monkeypatch.undo()
    return forward, seen


def ops_of_row(op: OpSpec, monkeypatch: pytest.MonkeyPatch) -> tuple[set, set]:
    """`ops_run_by` over five samples of the row (drawn deterministically, not shrunk)."""
    forward: set[type] = set()
    backward: set[type] = set()

    @settings(max_examples=5, derandomize=True, database=None, phases=[Phase.generate])
    @given(data=st.data())
    def collect(data: st.DataObject) -> None:
        f, b = ops_run_by(op, data.draw(op.draw), monkeypatch)
        forward.update(f)
        backward.update(b)

    collect()
    return forward, backward


def test_table_covers_the_engine(monkeypatch: pytest.MonkeyPatch):
    """Every primitive op in ops.py (found there, not listed by hand) is exercised by a row of the table.

    The rule: an op is covered when some row's forward applies it (then every check of the harness applies to
    it), or when some row's backward does (ReluGrad, Expand, IndexAdd, TieShare...): gradcheck then checks the
    values it contributes to first derivatives, and gradgradcheck, where that row is smooth, its own
    derivative. A new op without a row fails here, naming the op."""
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))
    forward: set[type] = set()
    backward: set[type] = set()
    for op in OPS:
        f, b = ops_of_row(op, monkeypatch)
        forward |= f
        backward |= b
    missing = engine_ops() - forward - backward
    assert not missing, f"ops without a row in tests/op_table.py: {sorted(c.__name__ for c in missing)}"
    # backward-only ops are the gradient helpers of ops that do have rows
    assert {c.__name__ for c in engine_ops() - forward} <= {c.__name__ for c in backward}
    piecewise = {"abs", "relu", "maximum", "minimum", "clip", "max", "min", "max_pool2d", "max_pool1d", "leaky_relu",
                 "elu", "hardtanh", "softplus_threshold", "sign", "floor", "ceil", "round", "round_decimals", "trunc",
                 "div_trunc"}  # piecewise linear, a kink or a jump in the first derivative, or piecewise constant
    assert {op.name for op in OPS if not op.smooth and op.differentiable} == piecewise


def test_coverage_test_finds_a_new_op_without_a_row(monkeypatch: pytest.MonkeyPatch):
    """The coverage check sees an op added to ops.py: its list comes from the module, not from a set kept here."""
    new_op = type("Cube", (Function,), {"forward": lambda self, a: a**3, "__module__": ops.__name__})
    monkeypatch.setattr(ops, "Cube", new_op, raising=False)
    assert new_op in engine_ops()
    monkeypatch.undo()
    assert new_op not in engine_ops()


@pytest.mark.parametrize("op", DIFFERENTIABLE, ids=str)
@given(data=st.data())
def test_gradcheck(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    result = gradcheck(bound(op, sample), sample.arrays, **op.check)
    assert len(result.inputs) == len(sample.arrays)
    assert result.ok


@pytest.mark.parametrize("op", SMOOTH, ids=str)
@given(data=st.data())
def test_gradgradcheck(op: OpSpec, data: st.DataObject):
    """Second derivatives of op(x) * op(x).

    Squaring makes the first derivative depend on op(x), so the check also covers the op's backward as a
    function of its incoming gradient; for a linear op (reshape, sum, indexing) that is the only part a
    second derivative can exercise.
    """
    sample = data.draw(op.draw, label="sample")
    fn = bound(op, sample)

    def squared(*xs: Tensor) -> Tensor:
        out = fn(*xs)
        return out * out

    result = gradgradcheck(squared, sample.arrays, **op.check)
    assert len(result.inputs) == len(sample.arrays)
    assert result.ok


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_forward_matches_numpy(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    out = op.fn(*(Tensor(a) for a in sample.arrays), **sample.params)
    expected = np.asarray(op.ref(*sample.arrays, **sample.params))
    assert isinstance(out, Tensor)
    assert out.shape == expected.shape
    assert isinstance(out.numpy(), np.ndarray)
    if not op.differentiable:  # booleans and indices: exactly numpy's values and dtype
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), expected)
        return
    assert out.dtype == np.float64
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_float32_in_float32_out(op: OpSpec, data: st.DataObject):
    """float32 inputs give float32 outputs (close to the float64 result) and float32 gradients."""
    sample = data.draw(op.draw, label="sample")
    xs = [Tensor(a.astype(np.float32), requires_grad=op.differentiable) for a in sample.arrays]
    out = op.fn(*xs, **sample.params)
    expected = op.ref(*(x.data.astype(np.float64) for x in xs), **sample.params)
    if not op.differentiable:  # the float32 computation exactly (a float32 floor division may differ from float64)
        expected = np.asarray(op.ref(*(x.data for x in xs), **sample.params))
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.numpy(), expected)
        return
    if op.keeps_dtype:
        assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-5, atol=1e-6)
    out.sum().backward()
    for x in xs:
        assert x.grad is not None and x.grad.dtype == np.float32 and x.grad.shape == x.shape


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_inputs_not_mutated(op: OpSpec, data: st.DataObject):
    """Forward, backward and a second-order backward leave inputs, parameters and outputs unchanged."""
    sample = data.draw(op.draw, label="sample")
    params = copy.deepcopy(sample.params)
    xs = [Tensor(a, requires_grad=op.differentiable) for a in sample.arrays]
    before = [x.data.copy() for x in xs]
    out = op.fn(*xs, **sample.params)
    out_before = out.numpy().copy()
    if op.differentiable:
        (out * out).sum().backward(create_graph=True)
        second = sum((x.grad.sum() for x in xs), Tensor(np.zeros(())))
        assert second.requires_grad or not op.smooth  # piecewise constant ops (floor): a constant zero gradient
        if second.requires_grad:
            second.backward()
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(x.data, b)
    for a, x in zip(sample.arrays, xs):
        np.testing.assert_array_equal(a, x.data)  # the caller's arrays too (Tensor copies them)
    np.testing.assert_array_equal(out.numpy(), out_before)
    assert same(sample.params, params)


@pytest.mark.parametrize("source, target", [((1, 5), (4, 5)), ((5,), (3, 5)), ((3, 1), (3, 4)), ((), (2, 2)),
                                            ((2, 1, 3), (4, 2, 5, 3)), ((2, 3), (2, 3)), ((1,), (0,)),
                                            ((2, 3), (4, 3)), ((3,), (2,))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_broadcast_views_are_numpys_broadcast_to(source, target, dtype):
    """The engine's fast broadcast view (Expand, BroadcastTo) is np.broadcast_to's: same values, shape and
    strides, read-only, over the operand's memory; shapes that do not broadcast raise as numpy does."""
    from tinygrad_bn.ops import _broadcast_view

    a = np.random.default_rng(0).standard_normal(source).astype(dtype)
    try:
        want = np.broadcast_to(a, target)
    except ValueError:
        for _ in range(2):  # the first call works out the layout, the second uses what it kept
            with pytest.raises(ValueError):
                _broadcast_view(a, target)
        return
    for _ in range(2):
        got = _broadcast_view(a, target)
        assert got.shape == want.shape and not got.flags.writeable
        np.testing.assert_array_equal(got, want)
        if a.size and got.size:
            assert got.strides == want.strides and np.shares_memory(got, a)
    strided = np.repeat(a, 2, axis=-1)[..., ::2] if a.ndim else a  # the same values, not contiguous: numpy's path
    np.testing.assert_array_equal(_broadcast_view(strided, target), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.int8])
def test_relu_against_a_zeros_array_is_maximum_with_zero(dtype):
    """ReLU compares floats with a shared read-only array of zeros (numpy's maximum is 2-3x faster against an
    array than against a scalar): the same values as np.maximum(x, 0), signed zeros, NaN and inf included,
    on strided input too, eager and compiled; nothing can write into the shared zeros."""
    from tinygrad_bn.ops import _zeros

    values = np.array([-2.0, -0.0, 0.0, 3.5, np.inf, -np.inf, np.nan, 1e-30] * 3)
    if np.dtype(dtype).kind != "f":
        values = np.array([-3, 0, 2, 7, -1, 5] * 4)
    x = values.astype(dtype).reshape(4, -1)
    for operand in (x, x.T, x[:, ::2]):
        want = np.maximum(operand, 0)
        got = Tensor(operand).relu().numpy()
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)
        assert np.array_equal(np.signbit(got), np.signbit(want))
    compiled = tg.jit(lambda t: t.relu())
    for _ in range(3):
        got = compiled(Tensor(x)).numpy()
    np.testing.assert_array_equal(got, np.maximum(x, 0))
    assert np.array_equal(np.signbit(got), np.signbit(np.maximum(x, 0)))
    if np.dtype(dtype).kind == "f":
        with pytest.raises(ValueError, match="read-only"):
            _zeros(x.shape, x.dtype)[0, 0] = 1
