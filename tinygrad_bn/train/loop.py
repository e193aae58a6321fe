"""The training loop: `fit` trains for some epochs and returns a `History`; `evaluate` measures a model.

The model is put in training mode for training and in evaluation mode for evaluation, and its mode is
restored afterwards. Every batch goes through one `TrainStep`; a NaN or infinite loss stops training (before
it reaches the weights) with an error naming the epoch and step.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd import TrainingDivergedError, no_grad
from ..compiler import jit
from ..debug import AnomalyError
from ..debug import detect_anomaly as anomaly_detection
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..tensor import Tensor
from .checkpoint import load_checkpoint, save_checkpoint
from .history import EWMA, History
from .step import LossFn, TrainStep

StepCallback = Callable[[int, int, float], Any]  # (epoch, step, loss), after the optimizer step


def accuracy(logits: Tensor | np.ndarray, labels: Tensor | np.ndarray) -> float:
    """Fraction of rows whose largest logit is at the label (labels as class indices or one-hot rows)."""
    scores = np.asarray(logits.data if isinstance(logits, Tensor) else logits)
    target = np.asarray(labels.data if isinstance(labels, Tensor) else labels)
    if target.ndim == 2:
        if target.shape != scores.shape:  # e.g. labels as an (N, 1) column: not one-hot rows
            raise ValueError(f"accuracy: one-hot targets must have the logits' shape {scores.shape}, "
                             f"got {target.shape}")
        target = target.argmax(axis=1)
    if scores.ndim != 2 or target.shape != (scores.shape[0],):
        raise ValueError(f"accuracy: expected logits (N, C) and N labels, got {scores.shape} and {target.shape}")
    return float(np.mean(scores.argmax(axis=1) == target))


def evaluate(model: Module, loader: Iterable, loss_fn: LossFn) -> tuple[float, float]:
    """(mean loss, accuracy) over a loader, in evaluation mode and without recording a graph."""
    was_training = model.training
    model.eval()
    total_loss = total_correct = 0.0
    count = 0
    try:
        with no_grad():
            for xb, yb in loader:
                logits = model(xb)
                n = len(xb)
                total_loss += loss_fn(logits, yb).item() * n
                total_correct += accuracy(logits, yb) * n
                count += n
    finally:
        model.train(was_training)
    if count == 0:
        raise ValueError("evaluate: the loader yielded no examples")
    return total_loss / count, total_correct / count


class EarlyStopping:
    """Stop when `monitor` ('dev_loss', 'dev_acc', 'train_loss', ...) has not improved by more than
    `min_delta` for `patience` epochs; with `restore_best`, put back the weights of the best epoch."""

    def __init__(self, monitor: str = "dev_loss", patience: int = 3, min_delta: float = 0.0,
                 restore_best: bool = True) -> None:
        if monitor not in History.__dataclass_fields__:
            raise ValueError(f"EarlyStopping: unknown metric {monitor!r}")
        if patience < 1:
            raise ValueError(f"EarlyStopping: patience must be >= 1, got {patience}")
        self.monitor, self.patience, self.min_delta, self.restore_best = monitor, patience, min_delta, restore_best
        self.sign = -1.0 if monitor.endswith("acc") else 1.0  # accuracies improve upwards, losses downwards
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_state: dict[str, np.ndarray] | None = None

    def update(self, epoch: int, history: History, model: Module) -> bool:
        """Record the epoch's metric; True when training should stop."""
        values = getattr(history, self.monitor)
        if not values:
            raise ValueError(f"EarlyStopping: {self.monitor} is not recorded (no dev_loader given?)")
        value = self.sign * values[-1]
        if self.best is None or value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = model.state_dict()
            return False
        self.wait += 1
        return self.wait >= self.patience

    def restore(self, model: Module) -> None:
        if self.restore_best and self.best_state is not None:
            model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}
        if self.best_state is not None:
            state["best_state"] = dict(self.best_state)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_state = state.get("best_state")


def _progress_bar(loader: Iterable, enabled: bool, description: str) -> Any:
    """A tqdm bar when wanted and stderr is a terminal; otherwise the loader itself."""
    if not enabled or not sys.stderr.isatty():
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(loader, desc=description, leave=False, dynamic_ncols=True)


def fit(
    model: Module,
    loss_fn: LossFn,
    optimizer: Optimizer,
    train_loader: Iterable,
    epochs: int,
    dev_loader: Iterable | None = None,
    scheduler: Any = None,
    early_stopping: EarlyStopping | None = None,
    callbacks: Iterable[Callable[[int, History], Any]] = (),
    step_callbacks: Iterable[StepCallback] = (),
    progress: bool = True,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    watch: str | os.PathLike | None = None,
    watch_every: int | None = None,
    compile: bool = True,  # noqa: A002 (the word PyTorch users know from torch.compile)
    fuse: bool = False,
    detect_anomaly: bool = False,
) -> History:
    """Train `model` for `epochs` epochs; record per-epoch metrics in the returned History.

    Each batch goes through one `TrainStep` (forward, loss, divergence check, backward, optimizer step),
    then each of `step_callbacks` is called as `callback(epoch, step, loss)` (both count from 1; the loss
    as a float); empty batches are skipped. After each epoch: evaluate on `dev_loader`, step the
    `scheduler`, call each callback as `callback(epoch, history)`, and consult `early_stopping`. With
    `checkpoint`, the whole state is saved there after every epoch; with `resume=True` too, a run
    continues from that file and ends exactly as an uninterrupted one. With `watch`, per-layer histograms
    of the first training batch are recorded into `watch`/watch.json before training and after every epoch
    (and every `watch_every` steps) for `python -m tinygrad_bn watch DIR`; training itself is unchanged.

    With `compile` (the default) the step is captured once and replayed (`tinygrad_bn.jit`), with the
    same numbers as eager steps, bit for bit; `fuse=True` adds numba kernels (faster, equal to rounding).
    A step that cannot be replayed (a model whose forward reads values in Python) warns once and runs
    eagerly; `compile=False` always runs eagerly.

    With `detect_anomaly=True`, training and evaluation run inside `tinygrad_bn.detect_anomaly()`: the first op
    (forward or backward) that turns finite values into NaN or inf stops training with an `AnomalyError`
    naming the op, its module, the epoch and the step. Anomaly detection watches eager ops, so the step then
    always runs eagerly (`compile` and `fuse` are ignored), about 2x slower than an eager step.
    """
    train_step = TrainStep(model, loss_fn, optimizer)
    compiled = compile and not detect_anomaly
    step: Callable[..., Any] = jit(train_step, fuse=fuse, fallback=True) if compiled else train_step
    step_callbacks = tuple(step_callbacks)
    if watch is not None:
        from .watch import Watcher

        resuming = resume and checkpoint is not None and Path(checkpoint).exists()
        watcher = Watcher.for_fit(watch, model, loss_fn, train_loader, every=watch_every, resume=resuming)
        callbacks = (*callbacks, watcher)
        step_callbacks = (*step_callbacks, watcher.on_step)
    history = History()
    start = 0
    if resume and checkpoint is not None and Path(checkpoint).exists():
        info = load_checkpoint(checkpoint, model, optimizer, scheduler)
        start, history = info["epoch"], info["history"]
        if early_stopping is not None and "early_stopping" in info["extra"]:
            early_stopping.load_state_dict(info["extra"]["early_stopping"])
            if history.stopped_early_at is not None:  # that run had ended: only its best weights remain to restore
                start = epochs
    was_training = model.training
    watching = anomaly_detection() if detect_anomaly else contextlib.nullcontext()
    watching.__enter__()  # not a with block: the loop below stays as it was
    try:
        for epoch in range(start, epochs):
            tick = time.perf_counter()
            if hasattr(train_loader, "set_epoch"):
                train_loader.set_epoch(epoch)
            model.train()
            loss, acc = _train_epoch(step, train_loader, epoch, epochs, progress, step_callbacks)
            history.train_loss.append(loss)
            history.train_acc.append(acc)
            if dev_loader is not None:
                dev_loss, dev_acc = evaluate(model, dev_loader, loss_fn)
                history.dev_loss.append(dev_loss)
                history.dev_acc.append(dev_acc)
            history.lr.append(float(optimizer.param_groups[0]["lr"]))
            if scheduler is not None:
                scheduler.step()
            history.seconds.append(time.perf_counter() - tick)
            stop = early_stopping is not None and early_stopping.update(epoch + 1, history, model)
            if early_stopping is not None:
                history.best_epoch = early_stopping.best_epoch
            for callback in callbacks:  # after early stopping's update, so they see this epoch's best_epoch
                callback(epoch + 1, history)
            if stop:  # recorded before the checkpoint is written, so that resuming knows the run has ended
                history.stopped_early_at = epoch + 1
            if checkpoint is not None:
                extra = {"early_stopping": early_stopping.state_dict()} if early_stopping is not None else None
                save_checkpoint(checkpoint, model, optimizer, epoch + 1, history, scheduler, extra=extra)
            if stop:
                break
        if early_stopping is not None:
            early_stopping.restore(model)
    finally:
        watching.__exit__(None, None, None)
        model.train(was_training)
    return history


def _train_epoch(step: Callable[..., Any], loader: Iterable, epoch: int, epochs: int, progress: bool,
                 step_callbacks: tuple[StepCallback, ...]) -> tuple[float, float]:
    running = EWMA(0.9)
    total_loss = total_correct = 0.0
    count = 0
    bar = _progress_bar(loader, progress, f"epoch {epoch + 1}/{epochs}")
    try:
        for number, (xb, yb) in enumerate(bar if bar is not None else loader, start=1):
            n = len(xb)
            if n == 0:  # e.g. a hand-made loader's empty last batch: nothing to learn from
                continue
            try:
                # numpy's overflow warnings would come before (and say less than) the divergence error
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    loss, logits = step(xb, yb)
            except AnomalyError as error:
                raise AnomalyError(f"anomaly at epoch {epoch + 1}, step {number}: "
                                   + str(error).removeprefix("anomaly: "), op=error.op, module=error.module,
                                   site=error.site, backward_of=error.backward_of, forward_site=error.forward_site,
                                   summary=f"anomaly at epoch {epoch + 1}, step {number}: "
                                           + error.one_line().removeprefix("anomaly: ")) from error
            except TrainingDivergedError as error:
                reason = str(error).removeprefix("training diverged: ")
                raise TrainingDivergedError(f"training diverged at epoch {epoch + 1}, step {number}: {reason}"
                                            ) from error
            value = loss.item()
            total_loss += value * n
            total_correct += accuracy(logits, yb) * n
            count += n
            for callback in step_callbacks:
                callback(epoch + 1, number, value)
            if bar is not None:
                bar.set_postfix(loss=f"{running.update(value):.4f}")
    finally:
        if bar is not None:
            bar.close()
    if count == 0:
        raise ValueError("fit: the training loader yielded no batches")
    return total_loss / count, total_correct / count
