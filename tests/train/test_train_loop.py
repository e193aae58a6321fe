"""The training loop: History contents, modes, EarlyStopping, EWMA, callbacks, schedulers, divergence, accuracy."""
import sys

import numpy as np
import pytest

from tinygrad_bn import Tensor, manual_seed, nn, optim
from tinygrad_bn.data import DataLoader
from tinygrad_bn.nn import functional as F
from tinygrad_bn.optim.lr_scheduler import ExponentialLR
from tinygrad_bn.train import EWMA, EarlyStopping, History, TrainingDivergedError, accuracy, evaluate, fit


def blobs(n=120, classes=3, features=4, seed=0):
    """Separable Gaussian blobs (the same centres for every seed): a problem an MLP learns in a few epochs."""
    centres = np.random.default_rng(123).normal(0, 3, size=(classes, features))
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, size=n)
    x = (centres[y] + rng.normal(size=(n, features))).astype(np.float32)
    return x, y


X, Y = blobs()
XD, YD = blobs(n=45, seed=1)


class Probe(nn.Module):
    """Records the mode (self.training) at every forward call, tagged by what the caller says is running."""

    def __init__(self, log):
        super().__init__()
        self.log = log
        self.phase = "?"

    def forward(self, x):
        self.log.append((self.phase, self.training))
        return x


def make_model(seed=0, **kwargs):
    manual_seed(seed)
    return nn.MLP(4, [16], 3, **kwargs)


# ----------------------------------------------------------------------------- History


def test_fit_records_per_epoch_metrics():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history = fit(model, F.cross_entropy, opt, DataLoader(X, Y, 16, shuffle=True, seed=0), epochs=4,
                  dev_loader=DataLoader(XD, YD, 20), progress=False)
    assert isinstance(history, History)
    assert history.epochs == 4
    for name in ("train_loss", "train_acc", "dev_loss", "dev_acc", "lr", "seconds"):
        values = getattr(history, name)
        assert len(values) == 4 and all(isinstance(v, float) for v in values), name
    assert all(0.0 <= a <= 1.0 for a in history.train_acc + history.dev_acc)
    assert history.train_loss[-1] < history.train_loss[0]  # it learns
    assert history.dev_acc[-1] > 0.9
    assert history.stopped_early_at is None and history.best_epoch is None
    # the last dev numbers are the final model's loss and accuracy on the dev set, in evaluation mode
    model.eval()
    logits = model(Tensor(XD))
    assert history.dev_loss[-1] == pytest.approx(F.cross_entropy(logits, YD).item(), rel=1e-5)
    assert history.dev_acc[-1] == pytest.approx(accuracy(logits, YD))
    assert (history.final("dev_acc"), history.final("lr")) == (history.dev_acc[-1], 0.1)
    with pytest.raises(ValueError, match="no dev_loss recorded"):
        History().final("dev_loss")


def test_train_loss_is_the_example_weighted_mean_over_batches():
    """With lr 0 nothing changes, so the epoch's training loss is the loss over the whole set (uneven batches)."""
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.0)
    history = fit(model, F.cross_entropy, opt, DataLoader(X, Y, 50), epochs=1, progress=False)  # 50, 50, 20
    logits = model(Tensor(X))
    assert history.train_loss[0] == pytest.approx(F.cross_entropy(logits, Y).item(), rel=1e-5)
    assert history.train_acc[0] == pytest.approx(accuracy(logits, Y))
    assert history.dev_loss == [] and history.dev_acc == []


def test_modes_train_for_training_eval_for_evaluation_and_restored():
    log = []
    probe = Probe(log)
    model = nn.Sequential(probe, nn.Linear(4, 3))

    def loss_fn(logits, target):
        return F.cross_entropy(logits, target)

    class Phased:
        """A loader that tells the probe which phase is iterating it."""

        def __init__(self, loader, phase):
            self.loader, self.phase = loader, phase

        def __iter__(self):
            for batch in self.loader:
                probe.phase = self.phase
                yield batch

    opt = optim.SGD(model.parameters(), lr=0.01)
    for start_in_train_mode in (False, True):
        log.clear()
        model.train(start_in_train_mode)
        fit(model, loss_fn, opt, Phased(DataLoader(X, Y, 40), "train"), epochs=2,  # the probe logs from Python:
            dev_loader=Phased(DataLoader(XD, YD, 45), "dev"), progress=False, compile=False)  # eager steps
        assert model.training is start_in_train_mode and probe.training is start_in_train_mode
        assert log == ([("train", True)] * 3 + [("dev", False)]) * 2
    model.train()
    log.clear()
    evaluate(model, Phased(DataLoader(XD, YD, 15), "dev"), loss_fn)
    assert log == [("dev", False)] * 3 and model.training


def test_mode_restored_after_an_error():
    model = make_model()
    model.eval()

    def failing_loss(logits, target):
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        fit(model, failing_loss, optim.SGD(model.parameters(), lr=0.1), DataLoader(X, Y, 40), 1, progress=False)
    assert not model.training


def test_evaluate_records_no_graph_and_does_not_train():
    model = make_model(batchnorm=True)
    before = model.state_dict()
    seen = []

    def loss_fn(logits, target):
        seen.append(logits.requires_grad)
        return F.cross_entropy(logits, target)

    loss, acc = evaluate(model, DataLoader(XD, YD, 10), loss_fn)
    assert seen == [False] * 5
    for key, value in model.state_dict().items():  # running statistics untouched in evaluation mode
        np.testing.assert_array_equal(value, before[key])
    assert 0.0 <= acc <= 1.0 and loss > 0
    with pytest.raises(ValueError, match="no examples"):
        evaluate(model, [], loss_fn)


# ----------------------------------------------------------------------------- callbacks, progress, schedulers


def test_callbacks_called_once_per_epoch_with_the_history_so_far():
    calls = []
    model = make_model()
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(X, Y, 40), epochs=3,
        callbacks=[lambda epoch, h: calls.append((epoch, h.epochs, len(h.lr))),
                   lambda epoch, h: calls.append(("second", epoch))],
        progress=False)
    assert calls == [(1, 1, 1), ("second", 1), (2, 2, 2), ("second", 2), (3, 3, 3), ("second", 3)]


@pytest.mark.parametrize("progress", [False, True])
def test_no_output(capsys, progress):
    """progress=False prints nothing; progress=True prints nothing either when stderr is not a terminal."""
    model = make_model()
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(X, Y, 40), epochs=2,
        dev_loader=DataLoader(XD, YD, 45), progress=progress)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_progress_bar_only_when_wanted_on_a_terminal(capsys, monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # pretend stderr is a terminal
    for progress in (False, True):
        model = make_model()
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(X, Y, 40), epochs=2,
            progress=progress)
        captured = capsys.readouterr()
        assert captured.out == ""
        if progress:
            assert "epoch 1/2" in captured.err and "epoch 2/2" in captured.err and "loss=" in captured.err
        else:
            assert captured.err == ""


def test_scheduler_stepped_once_per_epoch():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=0.2)
    sched = ExponentialLR(opt, gamma=0.5)
    history = fit(model, F.cross_entropy, opt, DataLoader(X, Y, 40), epochs=4, scheduler=sched, progress=False)
    assert history.lr == [0.2, 0.1, 0.05, 0.025]  # the lr each epoch trained with
    assert sched.last_epoch == 4 and opt.param_groups[0]["lr"] == 0.0125


# ----------------------------------------------------------------------------- EarlyStopping


def test_early_stopping_patience_and_min_delta():
    model = make_model()
    history = History()
    stopper = EarlyStopping(monitor="dev_loss", patience=2, min_delta=0.1, restore_best=False)
    decisions = []
    for epoch, value in enumerate([1.0, 0.95, 0.85, 0.80, 0.78, 0.9], start=1):
        history.dev_loss.append(value)
        decisions.append(stopper.update(epoch, history, model))
    # 0.95 is not better than 1.0 by more than 0.1 (wait 1); 0.85 is (best, wait 0); 0.80 and 0.78 are not
    assert decisions == [False, False, False, False, True, True]
    assert stopper.best_epoch == 3 and stopper.best == 0.85 and stopper.best_state is None


def test_early_stopping_on_accuracy_maximizes():
    model = make_model()
    history = History()
    stopper = EarlyStopping(monitor="dev_acc", patience=2)
    decisions = []
    for epoch, value in enumerate([0.5, 0.7, 0.6, 0.7, 0.65], start=1):
        history.dev_acc.append(value)
        decisions.append(stopper.update(epoch, history, model))
    assert decisions == [False, False, False, True, True]  # 0.7 again is no improvement
    assert stopper.best_epoch == 2


def test_early_stopping_errors():
    with pytest.raises(ValueError, match="unknown metric 'val_loss'"):
        EarlyStopping(monitor="val_loss")
    with pytest.raises(ValueError, match="patience must be >= 1"):
        EarlyStopping(patience=0)
    with pytest.raises(ValueError, match="dev_loss is not recorded"):
        EarlyStopping().update(1, History(), make_model())


def mislabeled_dev():
    """Dev labels with every third one wrong: dev loss falls while the model learns, then rises as it grows
    confident (also on the wrong third), so the best epoch lies in the middle of the run."""
    labels = YD.copy()
    labels[::3] = (labels[::3] + 1) % 3
    return DataLoader(XD, labels, 45)


def test_fit_stops_early_and_restores_the_best_weights():
    model = make_model()
    snapshots = {}
    stopper = EarlyStopping(monitor="dev_loss", patience=2, restore_best=True)
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.003),
                  DataLoader(X, Y, 16, shuffle=True, seed=0), epochs=30, dev_loader=mislabeled_dev(),
                  early_stopping=stopper,
                  callbacks=[lambda epoch, h: snapshots.__setitem__(epoch, model.state_dict())], progress=False)
    best = int(np.argmin(history.dev_loss)) + 1
    assert history.best_epoch == best == stopper.best_epoch
    assert 3 <= best  # not trivially the first epoch
    assert history.dev_loss[best - 2] > history.dev_loss[best - 1] < history.dev_loss[best]
    assert history.stopped_early_at == best + 2 == history.epochs < 30
    final = model.state_dict()
    for key, value in snapshots[best].items():
        np.testing.assert_array_equal(final[key], value)
    assert not np.array_equal(final["0.weight"], snapshots[history.epochs]["0.weight"])


def test_fit_without_restore_keeps_the_last_weights():
    model = make_model()
    snapshots = {}
    stopper = EarlyStopping(monitor="dev_loss", patience=1, restore_best=False)
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.003),
                  DataLoader(X, Y, 16, shuffle=True, seed=0), epochs=30, dev_loader=mislabeled_dev(),
                  early_stopping=stopper,
                  callbacks=[lambda epoch, h: snapshots.__setitem__(epoch, model.state_dict())], progress=False)
    assert history.stopped_early_at == history.epochs == history.best_epoch + 1 < 30
    np.testing.assert_array_equal(model.state_dict()["0.weight"], snapshots[history.epochs]["0.weight"])


# ----------------------------------------------------------------------------- EWMA


def test_ewma_bias_correction_by_hand():
    xs = [4.0, 2.0, 6.0, 3.0, 5.0]
    beta = 0.9
    v, expected_raw, expected_corrected = 0.0, [], []
    for t, x in enumerate(xs, start=1):
        v = beta * v + (1 - beta) * x
        expected_raw.append(v)
        expected_corrected.append(v / (1 - beta**t))
    assert EWMA(beta).series(xs) == pytest.approx(expected_corrected, rel=1e-14)
    assert EWMA(beta, bias_correction=False).series(xs) == pytest.approx(expected_raw, rel=1e-14)
    # worked out: V1 = 0.4, corrected 0.4 / 0.1 = 4 (the first value itself); V2 = 0.36 + 0.2 = 0.56, / 0.19
    avg = EWMA(0.9)
    assert avg.update(4.0) == pytest.approx(4.0)
    assert avg.update(2.0) == pytest.approx(0.56 / 0.19)
    assert np.isnan(EWMA().value)
    assert EWMA(0.0).series([1.0, 7.0]) == [1.0, 7.0]
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match="beta"):
            EWMA(bad)


def test_ewma_of_a_constant_is_the_constant():
    assert EWMA(0.98).series([3.0] * 10) == pytest.approx([3.0] * 10, rel=1e-12)
    assert EWMA(0.98, bias_correction=False).series([3.0])[0] == pytest.approx(0.06)


# ----------------------------------------------------------------------------- divergence


def test_huge_learning_rate_diverges_with_a_clear_error():
    model = make_model()
    opt = optim.SGD(model.parameters(), lr=1e30)
    with np.errstate(all="ignore"), pytest.raises(TrainingDivergedError) as info:
        fit(model, F.cross_entropy, opt, DataLoader(X, Y, 10), epochs=3, progress=False)
    message = str(info.value)
    assert "training diverged at epoch 1, step " in message
    assert "the loss is not finite" in message
    assert "smaller learning rate" in message


def test_divergence_names_the_epoch_and_step():
    calls = []

    def loss_fn(logits, target):
        calls.append(1)
        loss = F.cross_entropy(logits, target)
        return loss * float("inf") if len(calls) == 7 else loss  # 3 batches an epoch: epoch 3, step 1

    model = make_model()
    model.eval()
    opt = optim.SGD(model.parameters(), lr=0.01)
    before = {}
    with pytest.raises(TrainingDivergedError, match=r"^training diverged at epoch 3, step 1: the loss is not finite\."):
        fit(model, loss_fn, opt, DataLoader(X, Y, 40), epochs=5, progress=False, compile=False,
            callbacks=[lambda epoch, h: before.update(model.state_dict())])  # the inf comes from Python state
    assert not model.training
    assert len(calls) == 7  # it stopped at the bad step
    for key, value in model.state_dict().items():  # and the bad loss never reached the weights
        np.testing.assert_array_equal(value, before[key])


def test_fit_detect_anomaly_names_the_op_layer_epoch_and_step_and_runs_eagerly():
    from tinygrad_bn.debug import AnomalyError

    model = make_model()
    history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(X, Y, 40), epochs=2,
                  progress=False, detect_anomaly=True)
    again = make_model()
    eager = fit(again, F.cross_entropy, optim.SGD(again.parameters(), lr=0.1), DataLoader(X, Y, 40), epochs=2,
                progress=False, compile=False)
    assert history.train_loss == eager.train_loss  # the same eager steps, only watched
    model = make_model()
    with pytest.raises(AnomalyError) as info:
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=1e30), DataLoader(X, Y, 10), epochs=3,
            progress=False, detect_anomaly=True)
    err = info.value
    assert str(err).startswith("anomaly at epoch 1, step 2: Linear produced inf from finite inputs in model.")
    assert err.module == "model.2 (Linear)"  # the output layer: weights of 1e30 after the first step overflow
    assert err.site.endswith("fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=1e30), DataLoader(X, Y, "
                             "10), epochs=3,")  # the first line of the call
    assert err.one_line().startswith("anomaly at epoch 1, step 2: ") and "\n" not in err.one_line()
    from tinygrad_bn.autograd import STATE

    assert STATE.monitor is None


def test_empty_training_loader():
    model = make_model()
    with pytest.raises(ValueError, match="yielded no batches"):
        fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), [], epochs=1, progress=False)


# ----------------------------------------------------------------------------- accuracy


def test_accuracy_with_labels_and_one_hot():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 5.0], [0.0, 1.0, 0.5]])
    labels = np.array([0, 1, 0, 2])
    assert accuracy(logits, labels) == 0.5
    assert accuracy(Tensor(logits), Tensor(labels)) == 0.5
    one_hot = np.eye(3, dtype=np.float32)[labels]
    assert accuracy(logits, one_hot) == 0.5
    assert accuracy(Tensor(logits), Tensor(one_hot)) == 0.5
    with pytest.raises(ValueError, match=r"expected logits \(N, C\) and N labels"):
        accuracy(logits, labels[:3])
    with pytest.raises(ValueError, match="expected logits"):
        accuracy(logits[0], labels[:1])
    # a column of labels is not one-hot rows: refused, never read as "every label is class 0"
    with pytest.raises(ValueError, match=r"one-hot targets must have the logits' shape \(4, 3\), got \(4, 1\)"):
        accuracy(logits, labels[:, None])


def test_fit_with_one_hot_targets():
    model = make_model()
    one_hot = np.eye(3, dtype=np.float32)
    history = fit(model, F.cross_entropy, optim.Adam(model.parameters(), lr=0.01), DataLoader(X, one_hot[Y], 16),
                  epochs=3, dev_loader=DataLoader(XD, one_hot[YD], 45), progress=False)
    model.eval()
    assert history.dev_acc[-1] == pytest.approx(accuracy(model(Tensor(XD)), YD))
    assert history.dev_acc[-1] > 0.8


def test_resuming_a_run_that_stopped_early_trains_no_more(tmp_path):
    def run(resume):
        model = make_model()
        history = fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.003),
                      DataLoader(X, Y, 16, shuffle=True, seed=0), epochs=30, dev_loader=mislabeled_dev(),
                      early_stopping=EarlyStopping(patience=2), checkpoint=tmp_path / "run.npz", resume=resume,
                      progress=False)
        return model, history

    model, history = run(resume=False)
    assert history.stopped_early_at is not None
    again_model, again = run(resume=True)
    assert again.epochs == history.epochs and again.stopped_early_at == history.stopped_early_at
    assert again.train_loss == history.train_loss
    for key, value in model.state_dict().items():  # the best weights, restored from the checkpoint
        np.testing.assert_array_equal(again_model.state_dict()[key], value)


def test_callbacks_see_the_epochs_best_epoch():
    """Callbacks run after early stopping has looked at the epoch, so history.best_epoch is current."""
    import numpy as np

    from tinygrad_bn import manual_seed, nn, optim
    from tinygrad_bn.data import DataLoader
    from tinygrad_bn.nn import functional as F
    from tinygrad_bn.train import EarlyStopping, fit

    manual_seed(0)
    rng = np.random.default_rng(0)
    x, t = rng.normal(size=(40, 3)).astype(np.float32), rng.integers(0, 2, 40)
    model = nn.MLP(3, [4], 2)
    seen = []
    fit(model, F.cross_entropy, optim.SGD(model.parameters(), lr=0.1), DataLoader(x, t, 10), 3,
        dev_loader=DataLoader(x, t, 40), early_stopping=EarlyStopping(patience=5), progress=False,
        callbacks=[lambda epoch, h: seen.append((epoch, h.best_epoch))])
    assert seen[0] == (1, 1)
    assert all(best is not None and best <= epoch for epoch, best in seen)
