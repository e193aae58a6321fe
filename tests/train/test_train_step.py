"""TrainStep, the one training step that fit and the experiments share: the same arithmetic as the loop it
replaced, bit for bit; a divergence check that stops before the weights change; no Python reads of values."""
import numpy as np
import pytest

import tinygrad_bn.train as train
from tinygrad_bn import Tensor, manual_seed, nn, optim
from tinygrad_bn.data import DataLoader
from tinygrad_bn.nn import functional as F
from tinygrad_bn.train import TrainingDivergedError, TrainStep, fit

RNG = np.random.default_rng(0)
X = RNG.normal(size=(90, 6)).astype(np.float32)
Y = RNG.integers(0, 3, size=90)


def make(seed=0, optimizer="adam"):
    manual_seed(seed)
    model = nn.MLP(6, [12, 12], 3, batchnorm=True)
    opt = (optim.Adam(model.parameters(), lr=0.01) if optimizer == "adam"
           else optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3))
    return model, opt


def hand_written(model, opt, loader, epochs):
    """The loop as fit and the experiments wrote it before TrainStep: forward, loss, check, zero, backward, step."""
    losses, logits_seen = [], []
    for _ in range(epochs):
        model.train()
        for xb, yb in loader:
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            value = loss.item()
            assert np.isfinite(value)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(value)
            logits_seen.append(logits.numpy().copy())
    return losses, logits_seen


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)


@pytest.mark.parametrize("optimizer", ["adam", "sgd"])
def test_step_equals_the_hand_written_loop_bit_for_bit(optimizer):
    model_a, opt_a = make(optimizer=optimizer)
    losses_a, logits_a = hand_written(model_a, opt_a, DataLoader(X, Y, 16, shuffle=True, seed=3), epochs=3)

    model_b, opt_b = make(optimizer=optimizer)
    step = TrainStep(model_b, F.cross_entropy, opt_b)
    losses_b, logits_b = [], []
    loader = DataLoader(X, Y, 16, shuffle=True, seed=3)
    for _ in range(3):
        model_b.train()
        for xb, yb in loader:
            loss, logits = step(xb, yb)
            losses_b.append(loss.item())
            logits_b.append(logits.numpy().copy())
    assert losses_a == losses_b
    for la, lb in zip(logits_a, logits_b):
        np.testing.assert_array_equal(la, lb)
    assert_same_state(model_a, model_b)  # weights and BN running statistics
    state_a, state_b = opt_a.state_dict()["state"], opt_b.state_dict()["state"]  # and the optimizer's state
    assert state_a.keys() == state_b.keys() and state_a
    for index, entries in state_a.items():
        assert entries.keys() == state_b[index].keys()
        for key, value in entries.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(state_b[index][key]))


def test_fit_equals_the_hand_written_loop_bit_for_bit():
    model_a, opt_a = make()
    losses_a, _ = hand_written(model_a, opt_a, DataLoader(X, Y, 16, shuffle=True, seed=3), epochs=3)
    model_b, opt_b = make()
    seen = []
    history = fit(model_b, F.cross_entropy, opt_b, DataLoader(X, Y, 16, shuffle=True, seed=3), epochs=3,
                  progress=False, step_callbacks=[lambda epoch, step, loss: seen.append((epoch, step, loss))])
    assert [loss for _, _, loss in seen] == losses_a
    assert [(e, s) for e, s, _ in seen] == [(e, s) for e in (1, 2, 3) for s in range(1, 7)]
    assert history.epochs == 3
    assert_same_state(model_a, model_b)


def test_results_are_detached_and_the_graph_is_released():
    model, opt = make()
    loss, logits = TrainStep(model, F.cross_entropy, opt)(Tensor(X[:10]), Tensor(Y[:10]))
    assert loss.shape == () and logits.shape == (10, 3)
    for t in (loss, logits):
        assert not t.requires_grad and t.grad_fn is None
    assert all(p.grad is not None for p in model.parameters())  # the step's gradients are kept for inspection


def test_the_step_reads_no_value_in_python(monkeypatch):
    """A compiler records what the step does to arrays; a Python read of a value (item, float, bool) would
    make the recording depend on the data. check_finite is the one allowed look."""
    model, opt = make()
    step = TrainStep(model, F.cross_entropy, opt)

    def refuse(self, *args):
        raise AssertionError("the training step read a tensor value in Python")

    for name in ("item", "__float__", "__bool__", "__int__", "tolist"):
        if hasattr(Tensor, name):
            monkeypatch.setattr(Tensor, name, refuse)
    step(Tensor(X[:10]), Tensor(Y[:10]))


def test_a_nan_loss_raises_before_the_weights_change():
    model, opt = make()
    step = TrainStep(model, lambda logits, y: F.cross_entropy(logits, y) * float("nan"), opt)
    TrainStep(model, F.cross_entropy, opt)(Tensor(X[:10]), Tensor(Y[:10]))  # some optimizer state to keep
    params_before = {k: p.numpy().copy() for k, p in model.named_parameters()}
    adam_before = opt.state_dict()["state"]
    with pytest.raises(TrainingDivergedError, match="the loss is not finite"):
        step(Tensor(X[:10]), Tensor(Y[:10]))
    for key, p in model.named_parameters():  # the forward pass ran (BN counted the batch), no update did
        np.testing.assert_array_equal(p.numpy(), params_before[key])
    for index, entries in opt.state_dict()["state"].items():
        for key, value in entries.items():
            np.testing.assert_array_equal(np.asarray(value), np.asarray(adam_before[index][key]))


def test_fit_names_the_epoch_and_step_of_a_nan_loss():
    calls = []

    def loss_fn(logits, target):
        calls.append(1)
        loss = F.cross_entropy(logits, target)
        return loss * float("nan") if len(calls) == 8 else loss  # 6 batches an epoch: epoch 2, step 2

    model, opt = make()
    with pytest.raises(TrainingDivergedError) as info:
        # compile=False: the NaN comes from Python state (a call counter), which a replay would not repeat
        fit(model, loss_fn, opt, DataLoader(X, Y, 16), epochs=4, progress=False, compile=False)
    assert str(info.value).startswith("training diverged at epoch 2, step 2: the loss is not finite.")
    assert isinstance(info.value.__cause__, TrainingDivergedError)


def test_an_empty_last_batch_does_not_crash_fit():
    def batches(n):
        return [(Tensor(X[i:i + 30]), Tensor(Y[i:i + 30])) for i in range(0, n, 30)]

    empty = (Tensor(X[:0]), Tensor(Y[:0]))
    model_a, opt_a = make(optimizer="sgd")
    history_a = fit(model_a, F.cross_entropy, opt_a, batches(90) + [empty], epochs=2, progress=False)
    model_b, opt_b = make(optimizer="sgd")
    history_b = fit(model_b, F.cross_entropy, opt_b, batches(90), epochs=2, progress=False)
    assert history_a.train_loss == history_b.train_loss and history_a.train_acc == history_b.train_acc
    assert_same_state(model_a, model_b)
    with pytest.raises(ValueError, match="yielded no batches"):  # only empty batches: nothing was trained
        fit(model_a, F.cross_entropy, opt_a, [empty], epochs=1, progress=False)


def test_exported():
    assert train.TrainStep is TrainStep and "TrainStep" in train.__all__
    model, opt = make()
    assert repr(TrainStep(model, F.cross_entropy, opt)) == "TrainStep(MLP, cross_entropy, Adam)"
