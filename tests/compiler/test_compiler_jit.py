"""Compiled steps equal eager steps: bit for bit, over 20 steps, for every optimizer, with BN, LayerNorm,
dropout and a scheduler; guards re-capture when they must; steps that cannot be replayed are refused."""
from __future__ import annotations

import numpy as np
import pytest

import tinygrad_bn as tg
from tinygrad_bn import Tensor, nn, optim
from tinygrad_bn.compiler import JitError, jit
from tinygrad_bn.nn import functional as F

STEPS = 20


class Reshape(nn.Module):
    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(len(x), *self.shape)


class Flatten(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.reshape(len(x), -1)


def build_model(kind: str, dtype: type) -> nn.Module:
    tg.manual_seed(0)
    if kind == "bn1d":
        model = nn.MLP(12, [16, 16], 5, batchnorm=True)
    elif kind == "dropout":
        model = nn.MLP(12, [16, 16], 5, batchnorm=True, dropout=0.3)
    elif kind == "bn2d":
        model = nn.Sequential(nn.Linear(12, 48), Reshape(3, 4, 4), nn.BatchNorm2d(3), nn.ReLU(), Flatten(),
                              nn.Linear(48, 5))
    elif kind == "layernorm":
        model = nn.Sequential(nn.Linear(12, 16), nn.LayerNorm(16), nn.Tanh(), nn.Linear(16, 5), nn.Sigmoid())
    else:
        raise ValueError(kind)
    if dtype is np.float64:
        for p in model.parameters():
            p.data = p.data.astype(np.float64)
        for _, b in model.named_buffers():
            if b.data.dtype.kind == "f":
                b.data = b.data.astype(np.float64)
    return model


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05),
    "momentum": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "nesterov": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: optim.RMSprop(ps, lr=0.01, momentum=0.5),
    "adagrad": lambda ps: optim.AdaGrad(ps, lr=0.05),
}


def batches(dtype: type, n: int = STEPS, size: int = 8) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [(rng.normal(size=(size, 12)).astype(dtype), rng.integers(0, 5, size=size)) for _ in range(n)]


def make_step(model: nn.Module, optimizer: optim.Optimizer):
    def train_step(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        optimizer.zero_grad()
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        loss.backward()
        optimizer.step()
        return loss, logits

    return train_step


def state_of(model: nn.Module, optimizer: optim.Optimizer) -> dict[str, np.ndarray]:
    state = {k: np.array(v) for k, v in model.state_dict().items()}
    for i, s in optimizer.state_dict()["state"].items():
        for name, value in s.items():
            state[f"opt.{i}.{name}"] = np.array(value)
    return state


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k].dtype == b[k].dtype, k
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def run_both(kind: str, opt_name: str, dtype: type, scheduler: bool = False) -> tuple:
    results = []
    for compiled in (False, True):
        model = build_model(kind, dtype)
        optimizer = OPTIMIZERS[opt_name](model.parameters())
        sched = optim.lr_scheduler.StepLR(optimizer, step_size=3, gamma=0.5) if scheduler else None
        step = make_step(model, optimizer)
        if compiled:
            step = jit(step, fuse=False)
        tg.manual_seed(7)  # the dropout masks: the same generator state for both runs
        losses, states = [], []
        for x, y in batches(dtype):
            loss, logits = step(Tensor(x), Tensor(y))
            losses.append((np.array(loss.data), np.array(logits.data)))
            states.append(state_of(model, optimizer))
            if sched is not None:
                sched.step()
        results.append((losses, states, step))
    return results


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_compiled_equals_eager_bit_for_bit_for_every_optimizer(opt_name, dtype):
    (eager_losses, eager_states, _), (jit_losses, jit_states, step) = run_both("bn1d", opt_name, dtype)
    assert step.replays == STEPS - 2 and step.captures == 2
    for (l1, g1), (l2, g2), s1, s2 in zip(eager_losses, jit_losses, eager_states, jit_states):
        np.testing.assert_array_equal(l1, l2)
        np.testing.assert_array_equal(g1, g2)
        assert_same(s1, s2)


@pytest.mark.parametrize("kind", ["dropout", "bn2d", "layernorm"])
def test_compiled_equals_eager_for_dropout_bn2d_layernorm_with_a_scheduler(kind):
    (eager_losses, eager_states, _), (jit_losses, jit_states, step) = run_both(kind, "momentum", np.float32,
                                                                              scheduler=True)
    assert step.replays == STEPS - 2
    for (l1, _), (l2, _), s1, s2 in zip(eager_losses, jit_losses, eager_states, jit_states):
        np.testing.assert_array_equal(l1, l2)
        assert_same(s1, s2)


def test_eval_step_replays_with_running_statistics():
    model = build_model("bn1d", np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    train = make_step(model, optimizer)
    for x, y in batches(np.float32, 3):
        train(Tensor(x), Tensor(y))
    model.eval()

    def predict(x: Tensor) -> Tensor:
        with tg.no_grad():
            return model(x)

    compiled = jit(predict, fuse=False)
    for x, _ in batches(np.float32, 5):
        np.testing.assert_array_equal(compiled(Tensor(x)).data, predict(Tensor(x)).data)
    assert compiled.replays == 3


def test_guards_recapture_on_batch_size_dtype_mode_and_requires_grad():
    model = build_model("bn1d", np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = jit(make_step(model, optimizer), fuse=False)
    data = batches(np.float32, 4)
    for x, y in data:
        step(Tensor(x), Tensor(y))
    assert step.captures == 2
    x, y = data[0]
    step(Tensor(x[:5]), Tensor(y[:5]))  # a smaller last batch: a new program
    assert step.captures == 3
    step(Tensor(x[:5]), Tensor(y[:5]))
    step(Tensor(x[:5]), Tensor(y[:5]))
    assert step.captures == 4 and step.replays == 3
    step(Tensor(x), Tensor(y))  # the first program is still cached
    assert step.captures == 4 and step.replays == 4
    model.eval()  # BN switches to running statistics: a different computation
    step(Tensor(x), Tensor(y))
    assert step.captures == 5
    model.train()
    model[0].bias.requires_grad = False  # one gradient fewer
    step(Tensor(x), Tensor(y))
    assert step.captures == 6
    model[0].bias.requires_grad = True
    step(Tensor(x.astype(np.float64)), Tensor(y))  # another dtype: another signature
    assert step.captures == 7


def test_reading_a_value_in_python_is_refused():
    model = build_model("bn1d", np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x: Tensor, y: Tensor) -> float:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()
        return loss.item()

    x, y = batches(np.float32, 1)[0]
    with pytest.raises(JitError, match=r"reads a tensor's value in Python"):
        jit(step, fuse=False)(Tensor(x), Tensor(y))


def test_data_dependent_structure_is_refused_not_replayed():
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x: Tensor) -> Tensor:
        if (x.data > 0).all():  # Python decides from data, behind the tracer's back
            return (x * w).sum()
        return (x - w).sum()

    compiled = jit(step, fuse=False)
    compiled(Tensor(np.ones(3)))
    with pytest.raises(JitError, match="same computation"):
        for _ in range(4):
            compiled(Tensor(-np.ones(3)))
            compiled(Tensor(np.ones(3)))


def test_hidden_array_computed_from_data_is_refused():
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x: Tensor) -> Tensor:
        scale = Tensor(np.exp(x.data))  # made from data outside the ops: cannot be a constant
        return (w * scale).sum()

    compiled = jit(step, fuse=False)
    compiled(Tensor(np.ones(3)))
    with pytest.raises(JitError, match="depends on data"):
        for value in (2.0, 3.0, 4.0, 5.0):
            compiled(Tensor(np.full(3, value)))


def test_unrecorded_in_place_write_is_refused():
    w = Tensor(np.ones(3), requires_grad=True)

    def step(x: Tensor) -> Tensor:
        loss = (x * w).sum()
        w.data -= 0.1  # raw numpy, invisible to the tape
        return loss

    compiled = jit(step, fuse=False)
    with pytest.raises(JitError, match="without a recorded operation"):
        for _ in range(3):
            compiled(Tensor(np.ones(3)))


def test_nan_loss_raises_at_replay_before_the_update():
    model = build_model("bn1d", np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)

    def step(x: Tensor, y: Tensor) -> Tensor:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        tg.autograd.check_finite(loss, "the loss")
        loss.backward()
        optimizer.step()
        return loss

    compiled = jit(step, fuse=False)
    data = batches(np.float32, 3)
    for x, y in data:
        compiled(Tensor(x), Tensor(y))
    before = {k: np.array(v) for k, v in model.state_dict().items()}
    bad = data[0][0].copy()
    bad[0, 0] = np.nan
    with pytest.raises(tg.autograd.TrainingDivergedError):
        compiled(Tensor(bad), Tensor(data[0][1]))
    after = model.state_dict()
    for k in ("0.weight", "1.running_mean"):
        np.testing.assert_array_equal(before[k], after[k])


def test_load_state_dict_between_replays_is_seen():
    model = build_model("bn1d", np.float32)
    optimizer = optim.SGD(model.parameters(), lr=0.1)
    step = jit(make_step(model, optimizer), fuse=False)
    twin = build_model("bn1d", np.float32)
    twin_opt = optim.SGD(twin.parameters(), lr=0.1)
    twin_step = make_step(twin, twin_opt)
    data = batches(np.float32, 6)
    for x, y in data[:3]:
        step(Tensor(x), Tensor(y))
    twin.load_state_dict(model.state_dict())
    model.load_state_dict(build_model("bn1d", np.float32).state_dict())  # fresh arrays of the same shapes
    twin.load_state_dict(model.state_dict())
    for x, y in data[3:]:
        a, _ = step(Tensor(x), Tensor(y))
        b, _ = twin_step(Tensor(x), Tensor(y))
        np.testing.assert_array_equal(a.data, b.data)


def test_fit_compiles_by_default_and_equals_eager_fit_bit_for_bit(tmp_path):
    from tinygrad_bn.data import DataLoader
    from tinygrad_bn.train import fit

    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(64, 12)).astype(np.float32), rng.integers(0, 5, 64)
    histories, states = [], []
    for compile_ in (False, True):
        model = build_model("dropout", np.float32)
        optimizer = optim.Adam(model.parameters(), lr=0.01)
        tg.manual_seed(5)
        history = fit(model, F.cross_entropy, optimizer, DataLoader(x, y, 16, shuffle=True, seed=1), 4,
                      dev_loader=DataLoader(x, y, 32), progress=False, compile=compile_)
        histories.append((history.train_loss, history.dev_acc))
        states.append(state_of(model, optimizer))
    assert histories[0] == histories[1]
    assert_same(*states)


def test_fit_resumes_a_compiled_run_exactly_compiled_or_eager(tmp_path):
    from tinygrad_bn.data import DataLoader
    from tinygrad_bn.train import fit

    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(48, 12)).astype(np.float32), rng.integers(0, 5, 48)

    def run(epochs: int, checkpoint, resume: bool, compile_: bool):
        model = build_model("bn1d", np.float32)
        optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        fit(model, F.cross_entropy, optimizer, DataLoader(x, y, 16, shuffle=True, seed=2), epochs,
            progress=False, checkpoint=checkpoint, resume=resume, compile=compile_)
        return state_of(model, optimizer)

    straight = run(4, None, False, True)
    for compile_ in (True, False):
        path = tmp_path / f"run-{compile_}.npz"
        run(2, path, False, True)  # a compiled run stopped after epoch 2
        assert_same(run(4, path, True, compile_), straight)


def test_fit_falls_back_to_eager_with_a_warning_when_the_step_cannot_be_replayed():
    from tinygrad_bn.compiler import JitWarning
    from tinygrad_bn.data import DataLoader
    from tinygrad_bn.train import fit

    class Chatty(nn.Module):
        def forward(self, x: Tensor) -> Tensor:
            if float(x.sum()) > 1e9:  # Python reads a value: cannot be replayed
                return x * 0
            return x

    model = nn.Sequential(Chatty(), nn.Linear(12, 5))
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(32, 12)).astype(np.float32), rng.integers(0, 5, 32)
    with pytest.warns(JitWarning, match="reads a tensor's value in Python"):
        history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(x, y, 8), 2,
                      progress=False)
    assert history.epochs == 2 and all(np.isfinite(history.train_loss))


def test_the_program_cache_keeps_the_most_recent_signatures():
    """With cache_size=2, a third batch size evicts the least recently used program: coming back to it
    captures again (two more eager runs), while a size still cached replays at once; every call's loss is
    the eager one, bit for bit."""
    runs = {}
    for compiled in (False, True):
        model = build_model("bn1d", np.float64)
        optimizer = OPTIMIZERS["momentum"](model.parameters())
        step = jit(make_step(model, optimizer), cache_size=2) if compiled else make_step(model, optimizer)
        losses, counts = [], []
        for size, calls in ((4, 3), (5, 3), (6, 3), (4, 3), (6, 1)):
            for x, y in batches(np.float64, n=calls, size=size):
                losses.append(np.array(step(Tensor(x), Tensor(y))[0].data))
            if compiled:
                counts.append((step.captures, step.replays, len(step.entries)))
        runs[compiled] = losses
    assert counts == [(2, 1, 1), (4, 2, 2), (6, 3, 2), (8, 4, 2), (8, 5, 2)]
    for a, b in zip(runs[True], runs[False]):
        np.testing.assert_array_equal(a, b)


def test_an_elementwise_op_writes_over_an_input_that_dies_there():
    """Planning: an elementwise op (a ufunc, or an op declaring `elementwise`) takes the buffer of a same-shape
    input whose value dies at it (in place, still in cache), never that of a value read later, of another
    dtype, or of the step's input; the replays equal eager bit for bit."""
    def step(x: Tensor) -> Tensor:
        y = x * 2.0  # x is the step's input: never written over
        z = y + 1.0  # y dies here: z takes its buffer
        w = z.exp()  # z is read again below: w needs a buffer of its own
        positive = w > z  # a boolean result: no float buffer fits
        product = w * z  # dies at the ReLU below, which declares itself elementwise: written over too
        return (product.relu() + positive).sum()

    compiled = jit(step)
    rng = np.random.default_rng(0)
    for _ in range(4):
        x = rng.standard_normal((6, 5))
        np.testing.assert_array_equal(compiled(Tensor(x)).numpy(), step(Tensor(x)).numpy())
    assert compiled.replays == 2
    program = next(e.program for es in compiled.entries.values() for e in es if e.program is not None)
    ops = [item for item in program.listing if item["kind"] == "OpCall"]
    names = [item["name"] for item in ops]
    buffer = {name: ops[names.index(name)]["buffers"][0] for name in ("Mul", "Add", "Exp", "Greater", "Relu")}
    assert buffer["Add"] == buffer["Mul"]
    assert buffer["Relu"] == ops[len(names) - 1 - names[::-1].index("Mul")]["buffers"][0]  # the second product's
    assert buffer["Exp"] != buffer["Add"]
    assert buffer["Greater"] not in (buffer["Exp"], buffer["Add"])


@pytest.mark.parametrize("exact", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_wide_linear_with_a_small_batch_replays_its_product_transposed_and_equal(monkeypatch, exact, dtype):
    """Compiled, a Linear whose batch is at most a fifth of its outputs computes (w @ x.T).T (a faster BLAS
    call for numpy's OpenBLAS), but only where that gives x @ w.T bit for bit for its sizes: the replays'
    losses, weights and gradients equal eager's either way (when the check says no, the plain product)."""
    from functools import partial

    from tinygrad_bn import ops

    if exact and not ops._transposed_product_is_exact(6, 20, 40, np.dtype(dtype)):
        pytest.skip("this BLAS sums the transposed product in another order (the check keeps the plain one)")
    monkeypatch.setattr(ops, "_transposed_product_is_exact", lambda *sizes: exact)
    runs = {}
    for compiled in (False, True):
        tg.manual_seed(0)
        model = nn.Sequential(nn.Linear(20, 40), nn.ReLU(), nn.Linear(40, 3)).to(dtype)
        optimizer = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        step = jit(make_step(model, optimizer)) if compiled else make_step(model, optimizer)
        rng = np.random.default_rng(1)
        losses = [np.array(step(Tensor(rng.standard_normal((6, 20)).astype(dtype)),
                                Tensor(rng.integers(0, 3, 6)))[0].data) for _ in range(5)]
        runs[compiled] = (losses, state_of(model, optimizer))
        if compiled:
            program = next(e.program for es in step.entries.values() for e in es if e.program is not None)
            transposed = [c for c in program.calls if isinstance(c, partial) and c.func is np.copyto]
            assert len(transposed) == (1 if exact else 0)  # the first layer only: 5 * 6 <= 40, not 5 * 6 <= 3
    for a, b in zip(runs[True][0], runs[False][0]):
        np.testing.assert_array_equal(a, b)
    assert_same(runs[True][1], runs[False][1])


def test_the_transposed_product_check_answers_for_this_blas():
    """The check that decides it runs on random data of the given sizes and is remembered per sizes."""
    from tinygrad_bn.ops import _transposed_product_is_exact

    answer = _transposed_product_is_exact(4, 7, 30, np.dtype(np.float32))
    assert isinstance(answer, bool)
    assert _transposed_product_is_exact(4, 7, 30, np.dtype(np.float32)) is answer
