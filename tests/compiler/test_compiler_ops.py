"""Every row of the op table compiles and its replay equals eager execution bit for bit (values and
gradients), and so do random graphs drawn by Hypothesis from the table's elementwise ops and reductions."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from op_table import OPS, OpSpec

import tinygrad_bn as tg
from tinygrad_bn import Tensor
from tinygrad_bn.compiler import jit
from tinygrad_bn.testing import strategies as tst


def _gradient_step(fn, params: dict, upstream: np.ndarray | None):
    """A step: the op's output and the gradients of <output, upstream> with respect to every input."""

    def step(*xs: Tensor):
        out = fn(*xs, **params)
        if upstream is None or not out.requires_grad:
            return (out,)
        loss = (out * Tensor(upstream)).sum()
        return (out, *tg.grad(loss, list(xs), allow_unused=True))

    return step


def _permuted(arrays: tuple, seed: int) -> list[np.ndarray]:
    """The same values in another order: every per-value domain condition of the row still holds."""
    rng = np.random.default_rng(seed)
    return [rng.permutation(a.reshape(-1)).reshape(a.shape) if a.ndim else a.copy() for a in arrays]


def _assert_same(compiled: tuple, eager: tuple) -> None:
    assert len(compiled) == len(eager)
    for c, e in zip(compiled, eager):
        if e is None:
            assert c is None
            continue
        assert c.dtype == e.dtype and c.shape == e.shape
        np.testing.assert_array_equal(c.data, e.data)


@pytest.mark.parametrize("op", OPS, ids=str)
@given(data=st.data())
def test_every_op_compiles_and_replays_like_eager(op: OpSpec, data: st.DataObject):
    sample = data.draw(op.draw, label="sample")
    rng = np.random.default_rng(0)
    probe = op.fn(*(Tensor(a) for a in sample.arrays), **sample.params)
    upstream = rng.standard_normal(probe.shape)
    step = _gradient_step(op.fn, sample.params, upstream)
    compiled = jit(step, fuse=False)
    calls = [list(sample.arrays), _permuted(sample.arrays, 1), _permuted(sample.arrays, 2)]
    for arrays in calls:
        got = compiled(*(Tensor(a, requires_grad=True) for a in arrays))
    assert compiled.replays == 1
    want = step(*(Tensor(a, requires_grad=True) for a in calls[-1]))
    _assert_same(got, want)


UNARY = {
    "exp_tanh": lambda x: x.tanh().exp(),
    "sigmoid": lambda x: x.sigmoid(),
    "relu": lambda x: x.relu(),
    "abs": lambda x: x.abs(),
    "neg": lambda x: -x,
    "sqrt": lambda x: (x * x + 1).sqrt(),
    "log": lambda x: (x.abs() + 0.5).log(),
    "square": lambda x: x**2,
    "clip": lambda x: x.clip(-0.5, 0.7),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 1),
    "maximum": lambda a, b: tg.maximum(a, b),
    "where": lambda a, b: tg.where(a > b, a, b * 2),
}
REDUCE = {
    "sum": lambda x, axis: x.sum(axis=axis, keepdims=True),
    "mean": lambda x, axis: x.mean(axis=axis, keepdims=True),
    "max": lambda x, axis: x.max(axis=axis, keepdims=True),
    "var": lambda x, axis: x.var(axis=axis, keepdims=True),
}


@st.composite
def programs(draw):
    """Two broadcastable inputs and a list of (kind, name, operand indices, axis) steps over the values."""
    sa, sb = draw(tst.broadcastable_shape_pairs(min_dims=1, max_dims=3, max_side=4))
    steps = []
    count = 2
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "reduce"]))
        i = draw(st.integers(0, count - 1))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), (i,), None))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), (i, draw(st.integers(0, count - 1))), None))
        else:
            steps.append(("reduce", draw(st.sampled_from(sorted(REDUCE))), (i,), draw(st.integers(0, 5))))
        count += 1
    a = draw(tst.arrays(sa))
    b = draw(tst.arrays(sb))
    return steps, a, b


def _run(steps: list, a: Tensor, b: Tensor) -> Tensor:
    values = [a, b]
    for kind, name, operands, axis in steps:
        if kind == "unary":
            values.append(UNARY[name](values[operands[0]]))
        elif kind == "binary":
            values.append(BINARY[name](values[operands[0]], values[operands[1]]))
        else:
            x = values[operands[0]]
            values.append(REDUCE[name](x, axis % x.ndim if x.ndim else None))
    return sum((v.sum() for v in values[2:]), Tensor(np.zeros(())))


def replay_random_graph(program: tuple, fuse: bool) -> tuple[tuple, tuple]:
    """A drawn graph's loss and input gradients: (compiled, replayed on a third input; eager on that input)."""
    steps, a, b = program

    def step(x: Tensor, y: Tensor):
        loss = _run(steps, x, y)
        return (loss, *tg.grad(loss, [x, y], allow_unused=True))

    compiled = jit(step, fuse=fuse)
    calls = [(a, b), tuple(_permuted((a, b), 1)), tuple(_permuted((a, b), 2))]
    for x, y in calls:
        got = compiled(Tensor(x, requires_grad=True), Tensor(y, requires_grad=True))
    assert compiled.replays == 1
    return got, step(Tensor(calls[-1][0], requires_grad=True), Tensor(calls[-1][1], requires_grad=True))


@given(program=programs())
def test_random_graphs_replay_like_eager(program):
    _assert_same(*replay_random_graph(program, fuse=False))
