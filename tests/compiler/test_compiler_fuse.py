"""Fused compiled steps (numba kernels for elementwise chains and batch reductions) equal eager steps up
to summation order: 20 steps of every optimizer, with BN 1d/2d, LayerNorm, dropout and a scheduler; the
BN chains are actually fused; random graphs drawn by Hypothesis agree."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from test_compiler_jit import OPTIMIZERS, STEPS, batches, build_model, make_step, state_of
from test_compiler_ops import programs, replay_random_graph

import tinygrad_bn as tg
from tinygrad_bn import Tensor, optim
from tinygrad_bn.compiler import jit
from tinygrad_bn.compiler.fuse import available

pytestmark = pytest.mark.skipif(not available(), reason="numba is not installed (the `fast` extra)")


def close(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    """Normwise relative agreement. Values that are rounding noise around 0 (a bias in front of BN, whose
    gradient is exactly 0 in exact arithmetic) are judged at the scale of unit-size parameters (1e-3 per
    element), not relative to their own noise."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return bool(np.linalg.norm(a - b) <= rtol * max(np.linalg.norm(a), 1e-3 * a.size ** 0.5))


def run(kind: str, opt_name: str, dtype: type, fuse: bool, scheduler: bool = False) -> tuple:
    model = build_model(kind, dtype)
    optimizer = OPTIMIZERS[opt_name](model.parameters())
    sched = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5) if scheduler else None
    step = jit(make_step(model, optimizer), fuse=fuse) if fuse else make_step(model, optimizer)
    tg.manual_seed(7)
    losses, states = [], []
    for x, y in batches(dtype):
        loss, _ = step(Tensor(x), Tensor(y))
        losses.append(float(loss.data))
        states.append(state_of(model, optimizer))
        if sched is not None:
            sched.step()
    return losses, states, step


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
def test_fused_equals_eager_in_float64_to_1e_6(opt_name):
    eager = run("bn1d", opt_name, np.float64, fuse=False)
    fused = run("bn1d", opt_name, np.float64, fuse=True)
    assert fused[2].replays == STEPS - 2
    assert fused[2].stats()["programs"][0]["fused kernels"] >= 4  # BN forward and backward chains fused
    np.testing.assert_allclose(fused[0], eager[0], rtol=1e-6)
    for s_eager, s_fused in zip(eager[1], fused[1]):
        for k in s_eager:
            if s_eager[k].dtype.kind == "f":
                assert close(s_eager[k], s_fused[k], 1e-6), k


@pytest.mark.parametrize("kind", ["bn1d", "dropout", "bn2d", "layernorm"])
def test_fused_float32_steps_stay_with_eager(kind):
    eager = run(kind, "momentum", np.float32, fuse=False, scheduler=True)
    fused = run(kind, "momentum", np.float32, fuse=True, scheduler=True)
    np.testing.assert_allclose(fused[0], eager[0], rtol=1e-4)
    for k in eager[1][-1]:
        if eager[1][-1][k].dtype.kind == "f":
            assert close(eager[1][-1][k], fused[1][-1][k], 1e-3), k


@settings(max_examples=15)
@given(program=programs())
def test_random_graphs_fused_agree_with_eager(program):
    got, want = replay_random_graph(program, fuse=True)
    for g, w in zip(got, want):
        if w is None:
            assert g is None
            continue
        np.testing.assert_allclose(g.data, w.data, rtol=1e-9, atol=1e-9)


def test_fused_variants_equal_their_numpy_kernels_bit_for_bit():
    """The fused forms of BN's running-statistics blend, its batch counter and the finiteness check make
    the same operations in the same dtypes as the numpy kernels (mixed dtypes and both blend forms)."""
    from tinygrad_bn.autograd import _all_finite
    from tinygrad_bn.compiler.fuse import variant
    from tinygrad_bn.nn.functional import _blend
    from tinygrad_bn.nn.layers import _increment

    assert all(variant(fn) is not fn for fn in (_blend, _increment, _all_finite))
    rng = np.random.default_rng(0)
    for running_dtype, batch_dtype in [(np.float32, np.float32), (np.float64, np.float64), (np.float32, np.float64)]:
        for correction in (None, 100 / 99):
            for momentum in (0.1, 0.01, 1 / 3):
                running = rng.standard_normal(37).astype(running_dtype)
                batch = rng.standard_normal((1, 37)).astype(batch_dtype)
                want, got = running.copy(), running.copy()
                extra = {} if correction is None else {"correction": correction}
                _blend(want, batch, momentum=momentum, **extra)
                variant(_blend)(got, batch, momentum=momentum, **extra)
                np.testing.assert_array_equal(got, want)
    counter = np.array(41, np.int64)
    variant(_increment)(counter)
    assert counter.dtype == np.int64 and int(counter) == 42
    cases = [np.array(3.0, np.float32), np.array(np.nan), np.ones((1, 5), np.float32), np.array([1.0, -np.inf]),
             np.ones((3, 4))[:, ::2], np.arange(3), np.zeros(0), np.array([[0.0, np.nan]], np.float32).T]
    for array in cases:
        assert variant(_all_finite)(array) == _all_finite(array), array


def test_a_fused_step_stops_on_a_non_finite_batch_like_eager():
    """The fused check runs where eager's does: before BN's running statistics change."""
    model = build_model("bn1d", np.float64)
    optimizer = OPTIMIZERS["sgd"](model.parameters())
    step = jit(make_step(model, optimizer), fuse=True)
    data = batches(np.float64)
    for x, y in data[:3]:
        step(Tensor(x), Tensor(y))
    assert step.replays == 1
    before = {k: v.copy() for k, v in model.state_dict().items()}
    bad = data[3][0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(tg.TrainingDivergedError, match="not finite"):
        step(Tensor(bad), Tensor(data[3][1]))
    for k, v in model.state_dict().items():
        if "running" in k:
            np.testing.assert_array_equal(v, before[k])


def test_bn_values_are_recomputed_by_the_backward_kernel_not_stored():
    """Rematerialization: the BN forward kernel writes to memory only what code outside the kernels reads
    (the ReLU output, for the next matmul, and per-column values); the backward kernel computes the
    centered, normalized and pre-ReLU values again from the layer's product, bias, mean and deviation."""
    model = build_model("bn1d", np.float32)
    step = jit(make_step(model, OPTIMIZERS["sgd"](model.parameters())), fuse=True)
    for x, y in batches(np.float32)[:3]:
        step(Tensor(x), Tensor(y))
    entry = next(e for es in step.entries.values() for e in es if e.program is not None)
    full = (8, 16)
    slots = {s.index: s for s in entry.tracer.slots}
    forward = [item for item in entry.program.listing if item["name"].startswith("Fused[Add Mean Sub")]
    assert len(forward) == 2  # the two BN layers
    for item in forward:
        written = [slots[w].shape for w in item["writes"] if w in slots]
        assert written.count(full) == 1, written  # the ReLU output alone


def test_a_value_read_after_its_operand_changes_is_not_recomputed():
    """A run's value whose operands include a parameter that the optimizer changes before a later run reads
    the value is stored, not recomputed (recomputing would see the new parameter): fused equals eager."""

    def run(fuse: bool) -> list[np.ndarray]:
        w = Tensor(np.linspace(0.5, 1.5, 6), requires_grad=True)
        optimizer = optim.SGD([w], lr=0.1)

        def step(x: Tensor) -> tuple:
            optimizer.zero_grad()
            h = x * w + 1.0
            loss = (h * h).mean()
            loss.backward()
            optimizer.step()
            return loss, (h * 2.0 - 1.0).sum(axis=0)

        compiled = jit(step, fuse=True) if fuse else step
        rng = np.random.default_rng(3)
        got = []
        for _ in range(5):
            loss, out = compiled(Tensor(rng.standard_normal((4, 6))))
            got += [loss.numpy(), out.numpy(), w.numpy().copy()]
        assert not fuse or compiled.replays == 3
        return got

    for a, b in zip(run(True), run(False)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_bn_backward_kernel_writes_one_full_array_and_matches_eager():
    """The BN backward kernel's first pass stores the gradient times gamma / std (its chain, with two
    divisions, is too long to recompute); the second-pass gradient is recomputed from that stored array in
    the last pass rather than stored too (a chain stops at values stored anyway), and the stored array
    lives in the array of the kernel's result (it is last read, element by element, just before the last
    pass overwrites it). So the kernel writes one (N, C) array, the gradient of the layer's product, where
    it wrote three; the fused steps still equal the eager ones."""
    eager = run("bn1d", "sgd", np.float64, fuse=False)
    fused = run("bn1d", "sgd", np.float64, fuse=True)
    np.testing.assert_allclose(fused[0], eager[0], rtol=1e-6)
    for k in eager[1][-1]:
        if eager[1][-1][k].dtype.kind == "f":
            assert close(eager[1][-1][k], fused[1][-1][k], 1e-6), k
    entry = next(e for es in fused[2].entries.values() for e in es if e.program is not None)
    slots = {s.index: s for s in entry.tracer.slots}
    backward = [item for item in entry.program.listing if item["name"].startswith("Fused[Add Sub Div Mul Add ReluGrad")]
    assert len(backward) == 2  # the two BN layers
    for item in backward:
        full = [w for w in item["writes"] if w not in slots or slots[w].shape == (8, 16)]
        assert len(full) == 1, item["writes"]
    from functools import partial

    from tinygrad_bn.compiler.fuse import _KERNELS

    source_of = {id(kernel): source for source, kernel in _KERNELS.items()}
    sources = {source_of[id(c.func)] for c in entry.program.calls if isinstance(c, partial) and id(c.func) in source_of}
    backward_sources = [s for s in sources if "(ONE if" in s]  # ReluGrad's expression
    assert len(backward_sources) == 1  # both layers share one kernel
    assert backward_sources[0].count("[i, j] = ") == 2, backward_sources[0]  # the scratch value, the result over it


def test_a_scratch_value_borrows_an_output_array_only_when_read_before_the_write():
    """`_shared_arrays`: a value stored for a later pass of the kernel lives in the array of a result only
    when every read of it comes before that result is written (same pass, earlier line, or earlier pass)."""
    from types import SimpleNamespace

    from tinygrad_bn.compiler.fuse import _shared_arrays

    slot = SimpleNamespace(shape=(4, 3), dtype=np.dtype(np.float32))
    slots = {10: slot, 11: slot}
    names = {10: "out0", 11: "out1"}
    first = ["v0 = in0[i, j] + in1[j]", "out1[i, j] = v0", "acc1[j] += v0"]
    reads_then_writes = {0: first, 1: ["r0 = out1[i, j] * c2[j]", "out0[i, j] = r0", "acc3[j] += r0"]}
    assert _shared_arrays(reads_then_writes, [11], [10], names, slots, (4, 3)) == {11: 10}
    read_after = {0: first, 1: ["out0[i, j] = c2[j] * in0[i, j]", "acc3[j] += out1[i, j]"]}
    assert _shared_arrays(read_after, [11], [10], names, slots, (4, 3)) == {}
    read_in_a_later_pass = {**reads_then_writes, 2: ["acc4[j] += out1[i, j]"]}
    assert _shared_arrays(read_in_a_later_pass, [11], [10], names, slots, (4, 3)) == {}
    other_dtype = {10: SimpleNamespace(shape=(4, 3), dtype=np.dtype(np.float64)), 11: slot}
    assert _shared_arrays(reads_then_writes, [11], [10], names, other_dtype, (4, 3)) == {}


def _kernel_sources(step) -> list[str]:
    from functools import partial

    from tinygrad_bn.compiler.fuse import _KERNELS

    source_of = {id(kernel): source for source, kernel in _KERNELS.items()}
    entry = next(e for es in step.entries.values() for e in es if e.program is not None)
    return [source_of[id(c.func)] for c in entry.program.calls if isinstance(c, partial) and id(c.func) in source_of]


@pytest.mark.parametrize("n", [3, 8 * 125 + 5])
def test_float32_batch_sums_are_blocked_and_stay_close_to_the_exact_sum(n):
    """float32 kernels sum BLOCK rows per column in float32, then add each block's partial sum to a float64
    accumulator (the row loop vectorizes at full float32 width); the last block is shorter when BLOCK does not
    divide the batch. Large cancelling values in the first and the last (short) block: the result stays
    within the blocked bound, (BLOCK - 1) * eps32 * sum |v| plus the final rounding, and well closer to the
    exact sum than numpy's float32 reduction over the batch, which the eager step runs. float64 kernels
    accumulate directly."""
    from tinygrad_bn.compiler.fuse import BLOCK

    assert BLOCK > 1 and n % BLOCK != 0
    rng = np.random.default_rng(5)
    x = rng.uniform(0, 1, (n, 32)).astype(np.float32)
    x[0], x[-1] = 3e4, -3e4  # the last row is in the remainder block
    b = rng.uniform(0, 1, 32).astype(np.float32)
    step = jit(lambda x, b: (x + b).sum(axis=0), fuse=True)
    for _ in range(3):
        out = step(Tensor(x), Tensor(b))
    assert step.replays == 1
    (source,) = _kernel_sources(step)
    assert f"BLOCK = {BLOCK}" in source and "for i0 in range(0, n, BLOCK):" in source, source
    assert "i in range(i0, min(i0 + BLOCK, n))" in source and "part1[j] += v0" in source, source
    assert "acc1[j] += part1[j]" in source and "acc1 = np.zeros(c, np.float64)" in source, source

    v = x + b  # the float32 values the kernel sums
    exact = v.astype(np.float64).sum(axis=0)
    got = out.numpy().astype(np.float64)
    eps = float(np.finfo(np.float32).eps)
    bound = (BLOCK - 1) * eps * np.abs(v).astype(np.float64).sum(axis=0) + eps * np.abs(exact)
    assert np.all(np.abs(got - exact) <= bound), (got - exact, bound)
    numpy_error = np.linalg.norm(v.sum(axis=0).astype(np.float64) - exact)
    if n > 100:  # numpy adds the rows one by one in float32: its error grows with the batch
        assert np.linalg.norm(got - exact) < numpy_error / 5, (np.linalg.norm(got - exact), numpy_error)  # 8x here

    step64 = jit(lambda x, b: (x + b).sum(axis=0), fuse=True)
    for _ in range(3):
        out64 = step64(Tensor(x.astype(np.float64)), Tensor(b.astype(np.float64)))
    (source64,) = _kernel_sources(step64)
    assert "BLOCK" not in source64 and "acc1[j] += v0" in source64, source64
    np.testing.assert_allclose(out64.numpy(), (x.astype(np.float64) + b).sum(axis=0), rtol=1e-12)
