"""Checkpoints: a save/load round trip without pickle, and a resumed run that ends bitwise like an uninterrupted one."""
import json

import numpy as np
import pytest

from tinygrad_bn import Tensor, manual_seed, nn, optim, random, save
from tinygrad_bn.data import DataLoader
from tinygrad_bn.nn import functional as F
from tinygrad_bn.optim.lr_scheduler import ExponentialLR, StepLR
from tinygrad_bn.train import EarlyStopping, History, fit, load_checkpoint, save_checkpoint

rng = np.random.default_rng(0)
CENTRES = rng.normal(0, 2, size=(3, 6))
Y = rng.integers(0, 3, size=90)
X = (CENTRES[Y] + rng.normal(size=(90, 6))).astype(np.float32)
YD = rng.integers(0, 3, size=30)
XD = (CENTRES[YD] + rng.normal(size=(30, 6))).astype(np.float32)


def build(seed=0):
    """A model with batch norm and dropout (so the random generator matters), Adam and a schedule."""
    manual_seed(seed)
    model = nn.MLP(6, [12, 8], 3, batchnorm=True, dropout=0.3)
    opt = optim.Adam(model.parameters(), lr=0.02)
    sched = ExponentialLR(opt, gamma=0.8)
    return model, opt, sched


def train_a_little(model, opt, steps=3):
    model.train()
    for i in range(steps):
        opt.zero_grad()
        F.cross_entropy(model(Tensor(X[i * 30:(i + 1) * 30])), Y[i * 30:(i + 1) * 30]).backward()
        opt.step()


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        np.testing.assert_array_equal(sa[key], sb[key], err_msg=key)
        assert sa[key].dtype == sb[key].dtype, key


def test_save_load_round_trip(tmp_path):
    model, opt, sched = build()
    train_a_little(model, opt)
    sched.step()
    sched.step()
    history = History(train_loss=[1.5, 1.25], train_acc=[0.5, 0.75], dev_loss=[1.4, 1.3], dev_acc=[0.6, 0.7],
                      lr=[0.02, 0.016], seconds=[0.1, 0.2], best_epoch=2)
    best = {"0.weight": np.full((12, 6), 3.0, dtype=np.float32)}
    extra = {"early_stopping": {"best": 1.3, "best_epoch": 2, "wait": 0, "best_state": best}, "note": "hello"}
    random.default_generator().random(5)  # move the generator somewhere particular
    path = save_checkpoint(tmp_path / "run.ckpt.npz", model, opt, epoch=2, history=history, scheduler=sched,
                           extra=extra)
    expected_draws = random.default_generator().random(4)

    # no pickle: numpy opens it with allow_pickle=False; the metadata is JSON
    with np.load(path, allow_pickle=False) as data:
        keys = set(data.files)
        meta = json.loads(str(data["meta"]))
        assert data["model/0.weight"].shape == (12, 6)
        assert data["model/1.running_mean"].shape == (12,)
        assert all(data[k].dtype != object for k in data.files)
    assert {"meta", "model/0.weight", "optimizer/0/exp_avg", "optimizer/0/exp_avg_sq",
            "extra/early_stopping/best_state/0.weight"} <= keys
    assert meta["epoch"] == 2 and meta["history"]["train_loss"] == [1.5, 1.25]
    assert meta["scheduler"]["last_epoch"] == 2

    other, other_opt, other_sched = build(seed=1)
    info = load_checkpoint(path, other, other_opt, other_sched)
    assert info["epoch"] == 2
    assert info["history"] == history
    assert info["extra"]["note"] == "hello"
    assert info["extra"]["early_stopping"]["best"] == 1.3
    np.testing.assert_array_equal(info["extra"]["early_stopping"]["best_state"]["0.weight"], best["0.weight"])
    assert_same_state(other, model)
    assert other_sched.last_epoch == 2 and other_sched.get_last_lr() == sched.get_last_lr()
    saved, loaded = opt.state_dict(), other_opt.state_dict()
    assert loaded["param_groups"] == saved["param_groups"]
    for i, state in saved["state"].items():
        assert loaded["state"][i]["step"] == state["step"] == 3
        for key in ("exp_avg", "exp_avg_sq"):
            np.testing.assert_array_equal(loaded["state"][i][key], state[key])
    np.testing.assert_array_equal(random.default_generator().random(4), expected_draws)  # RNG restored

    # continuing both from the same generator state (dropout draws from it) gives the same parameters
    state = random.default_generator().bit_generator.state
    train_a_little(model, opt)
    random.default_generator().bit_generator.state = state
    train_a_little(other, other_opt)
    assert_same_state(other, model)


def test_model_only_checkpoint_and_errors(tmp_path):
    model, _, _ = build()
    path = save_checkpoint(tmp_path / "model.npz", model)
    fresh, opt, _ = build(seed=5)
    info = load_checkpoint(path, fresh, restore_rng=False)
    assert info["epoch"] == 0 and info["history"] == History() and info["extra"] == {}
    assert_same_state(fresh, model)
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load_checkpoint(path, fresh, opt)
    plain = save({"w": np.ones(2)}, tmp_path / "plain.npz")
    with pytest.raises(ValueError, match="not a tinygrad_bn checkpoint"):
        load_checkpoint(plain, fresh)
    wrong = save({"meta": np.array(json.dumps({"format": "something-else"}))}, tmp_path / "wrong.npz")
    with pytest.raises(ValueError, match="has format 'something-else'"):
        load_checkpoint(wrong, fresh)
    other_shape = nn.MLP(6, [5], 3)
    with pytest.raises(RuntimeError, match="shape mismatches"):
        load_checkpoint(path, other_shape)


def test_checkpoint_is_written_atomically_every_epoch(tmp_path):
    model, opt, sched = build()
    epochs_seen = []

    def look(epoch, history):
        epochs_seen.append(epoch)

    path = tmp_path / "ckpt.npz"
    fit(model, F.cross_entropy, opt, DataLoader(X, Y, 30), epochs=2, scheduler=sched, callbacks=[look],
        checkpoint=path, progress=False)
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.npz"]  # no temporary files left behind
    with np.load(path, allow_pickle=False) as data:
        assert json.loads(str(data["meta"]))["epoch"] == 2


def run(tmp_path, epochs, resume, seed=0, name="ckpt.npz"):
    model, opt, _ = build(seed)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    stopper = EarlyStopping(monitor="dev_acc", patience=4, restore_best=True)
    loader = DataLoader(X, Y, 16, shuffle=True, seed=11)
    model.last_weights = {}  # each epoch's weights, before early stopping puts the best ones back

    def snapshot(epoch, history):
        model.last_weights = model.state_dict()

    history = fit(model, F.cross_entropy, opt, loader, epochs, dev_loader=DataLoader(XD, YD, 30),
                  scheduler=sched, early_stopping=stopper, callbacks=[snapshot], checkpoint=tmp_path / name,
                  resume=resume, progress=False)
    return model, opt, history


def comparable(history):
    record = history.to_dict()
    record.pop("seconds")  # wall-clock times differ from run to run
    return record


def test_resume_ends_exactly_like_an_uninterrupted_run(tmp_path):
    straight_model, straight_opt, straight = run(tmp_path, 6, resume=False, name="straight.npz")
    assert straight.epochs == 6 and straight.stopped_early_at is None  # the run really goes on past epoch 3

    run(tmp_path, 3, resume=True, name="resumed.npz")  # nothing to resume yet: starts from scratch
    with np.load(tmp_path / "resumed.npz", allow_pickle=False) as data:
        assert json.loads(str(data["meta"]))["epoch"] == 3
    # a different seed for the fresh model and the generator: everything must come from the checkpoint
    model, opt, history = run(tmp_path, 6, resume=True, seed=99, name="resumed.npz")

    assert history.epochs == 6 and len(history.seconds) == 6
    assert comparable(history) == comparable(straight)  # losses, accuracies, lrs, best epoch: bitwise
    assert history.lr == [0.02, 0.02, 0.01, 0.01, 0.005, 0.005]
    assert straight.best_epoch is not None
    assert_same_state(model, straight_model)  # the restored best weights and batch-norm running statistics
    assert list(model.last_weights) == list(straight_model.last_weights)
    for key, value in straight_model.last_weights.items():  # and the weights after epoch 6
        np.testing.assert_array_equal(model.last_weights[key], value, err_msg=key)
    for i, state in straight_opt.state_dict()["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(opt.state_dict()["state"][i][key], value)


def test_resume_of_a_finished_run_trains_no_more(tmp_path):
    model, _, history = run(tmp_path, 2, resume=False)
    again_model, _, again = run(tmp_path, 2, resume=True, seed=7)
    assert comparable(again) == comparable(history)
    with np.load(tmp_path / "ckpt.npz", allow_pickle=False) as data:
        assert json.loads(str(data["meta"]))["epoch"] == 2
