"""The generic op harness: every row of the op table (op_table.py) is checked the same way.

For each op, Hypothesis draws inputs from the row's strategy, then: gradients match central differences
(gradcheck, float64); for smooth ops second derivatives match too (gradgradcheck); forward values match
numpy; float32 inputs give float32 outputs and gradients; forward and backward leave the inputs unchanged.
"""
from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_table import OPS, OpSpec, Sample

from tinygrad_bn import Tensor
from tinygrad_bn.testing import gradcheck, gradgradcheck

SMOOTH = [op for op in OPS if op.smooth]


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


def test_table_covers_the_engine():
    """The table keeps a row for every op the engine offers (a dropped row would go unnoticed)."""
    required = {
        "add", "sub", "mul", "div", "pow_tensor", "pow_scalar", "pow_int", "rpow", "rsub", "rtruediv",
        "maximum", "minimum", "where", "clip", "neg", "exp", "log", "sqrt", "abs", "relu", "sigmoid", "tanh",
        "astype", "matmul_1d", "matmul_2d", "matmul_batched", "linear", "linear_no_bias", "sum", "mean", "var",
        "max", "min",
        "getitem_basic", "getitem_repeated", "getitem_labels", "concatenate", "stack", "reshape", "transpose",
        "T", "squeeze", "unsqueeze", "broadcast_to", "flatten",
    }
    names = [op.name for op in OPS]
    assert len(names) == len(set(names))
    assert required <= set(names), required - set(names)
    kinked = {"abs", "relu", "maximum", "minimum", "clip", "max", "min"}  # piecewise linear
    assert {op.name for op in OPS if not op.smooth} == kinked


@pytest.mark.parametrize("op", OPS, ids=str)
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
    assert out.dtype == np.float64
    assert isinstance(out.numpy(), np.ndarray)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_float32_in_float32_out(op: OpSpec, data: st.DataObject):
    """float32 inputs give float32 outputs (close to the float64 result) and float32 gradients."""
    sample = data.draw(op.draw, label="sample")
    xs = [Tensor(a.astype(np.float32), requires_grad=True) for a in sample.arrays]
    out = op.fn(*xs, **sample.params)
    if op.keeps_dtype:
        assert out.dtype == np.float32
    expected = op.ref(*(x.data.astype(np.float64) for x in xs), **sample.params)
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
    xs = [Tensor(a, requires_grad=True) for a in sample.arrays]
    before = [x.data.copy() for x in xs]
    out = op.fn(*xs, **sample.params)
    out_before = out.numpy().copy()
    (out * out).sum().backward(create_graph=True)
    second = sum((x.grad.sum() for x in xs), Tensor(np.zeros(())))
    assert second.requires_grad
    second.backward()
    for x, b in zip(xs, before):
        np.testing.assert_array_equal(x.data, b)
    for a, x in zip(sample.arrays, xs):
        np.testing.assert_array_equal(a, x.data)  # the caller's arrays too (Tensor copies them)
    np.testing.assert_array_equal(out.numpy(), out_before)
    assert same(sample.params, params)
