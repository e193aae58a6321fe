"""Watching a network learn: per-layer histograms of activations and gradients, recorded while `fit` trains.

A `Watcher` runs one fixed batch (the probe) through an `nn.Sequential` layer by layer, keeps every
layer's output and the gradient of the loss with respect to it, and appends their statistics and
histograms (binned here, 30 bars each) to `DIR/watch.json`: before training, after every epoch and, with
`every=N`, every N steps. The file is plain JSON, rewritten atomically after each record, so it can be
read while training runs; `python -m tinygrad_bn watch DIR` turns it into a page with a slider over the
records, one row per layer, which shows gradients vanish in deep sigmoid nets without BN and not with it.

Watching changes nothing in training: the probe's effects (BN's running statistics, the parameters'
`.grad`, the random generator dropout draws from, the training mode) are put back after each record.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from ..nn.module import Module
from ..random import default_generator
from ..serialization import atomic_write
from ..summary import DEFAULT_BINS, summarize
from ..tensor import Tensor
from .history import History
from .step import LossFn

WATCH_FILE = "watch.json"
FORMAT = "tinygrad_bn.watch"
VERSION = 1
# which layers are watched, and the column each goes to; other layers (dropout) pass their input on unseen
KINDS = {"Linear": "affine", "BatchNorm1d": "batchnorm", "BatchNorm2d": "batchnorm", "LayerNorm": "batchnorm",
         "ReLU": "activation", "Sigmoid": "activation", "Tanh": "activation"}
COLUMNS = {"affine": "affine output (before BN)", "batchnorm": "normalized (after BN)", "activation": "activation"}
CLIP = 0.5  # histograms span the 0.5th to 99.5th percentiles; the rest falls into the end bars


class WatchDataError(ValueError):
    """A watch folder without a readable watch.json."""


def watched_layers(model: Module) -> list[dict[str, Any]]:
    """The layers of `model` (an nn.Sequential) that are watched: one row per affine layer, holding it and
    the normalization and activation after it."""
    if not hasattr(model, "named_children"):
        raise TypeError(f"Watcher: expected an nn.Sequential such as nn.MLP, got {type(model).__name__}")
    layers, row = [], 0
    for name, layer in model.named_children():
        kind = KINDS.get(type(layer).__name__)
        if kind is None:
            continue
        if kind == "affine" or row == 0:
            row += 1
        layers.append({"row": row, "kind": kind, "module": name, "type": type(layer).__name__})
    if not layers:
        raise TypeError(f"Watcher: {type(model).__name__} has no layer to watch (Linear, BatchNorm, activation)")
    return layers


class Watcher:
    """Records per-layer histograms of a probe batch into `directory/watch.json` (see the module docstring).

    Use it as `fit` callbacks (`callbacks=[watcher]`, and `step_callbacks=[watcher.on_step]` with
    `every`), or through `fit(..., watch=DIR)`. With `resume=True` the records already in the file are
    kept, and later ones are replaced by what this run records.
    """

    def __init__(self, directory: str | os.PathLike, model: Module, loss_fn: LossFn, probe: tuple[Any, Any],
                 every: int | None = None, bins: int = DEFAULT_BINS, resume: bool = False,
                 title: str | None = None) -> None:
        if every is not None and every < 1:
            raise ValueError(f"Watcher: every must be a positive number of steps, got {every}")
        self.model, self.loss_fn, self.every, self.bins = model, loss_fn, every, bins
        x, y = probe
        self.x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        self.y = y
        self.layers = watched_layers(model)
        self.path = Path(directory) / WATCH_FILE
        self.data: dict[str, Any] = {"format": FORMAT, "version": VERSION, "title": title or _describe(model),
                     "probe_examples": int(len(self.x)), "every": every, "bins": bins, "columns": COLUMNS,
                     "layers": self.layers, "records": []}
        if resume and self.path.exists():
            saved = load_watch(self.path.parent)
            if saved["layers"] == self.layers:
                self.data["records"] = saved["records"]
        if not self.data["records"]:
            self.record(0, None, None)

    @classmethod
    def for_fit(cls, directory: str | os.PathLike, model: Module, loss_fn: LossFn, loader: Iterable,
                every: int | None = None, resume: bool = False) -> Watcher:
        """A watcher whose probe is the first batch of `loader` (the loader's position is put back)."""
        epoch = getattr(loader, "epoch", None)
        try:
            probe = next(iter(loader))
        except StopIteration:
            raise ValueError("Watcher: the loader yielded no batch to watch") from None
        if epoch is not None and hasattr(loader, "epoch"):  # a DataLoader: its position is its epoch
            loader.epoch = epoch
        return cls(directory, model, loss_fn, probe, every=every, resume=resume)

    def __call__(self, epoch: int, history: History) -> None:
        """The per-epoch callback of `fit`: record after epoch `epoch`."""
        self.record(epoch, None, history.train_loss[-1] if history.train_loss else None)

    on_epoch = __call__

    def on_step(self, epoch: int, step: int, loss: float) -> None:
        """The per-step callback of `fit`: record every `every` steps (nothing without `every`)."""
        if self.every and step % self.every == 0:
            self.record(epoch, step, loss)

    def record(self, epoch: int, step: int | None, loss: float | None) -> dict[str, Any]:
        """Run the probe, append its histograms as a record (replacing records at or after this point, left
        by an interrupted run) and write the file; returns the record."""
        record = {"epoch": int(epoch), "step": step, "loss": _finite(loss), "layers": self._probe()}
        position = _order(record)
        self.data["records"] = [r for r in self.data["records"] if _order(r) < position] + [record]
        text = json.dumps(self.data, separators=(",", ":"), allow_nan=False).encode()
        atomic_write(self.path, lambda f: f.write(text))
        return record

    def _probe(self) -> list[dict[str, Any]]:
        model = self.model
        was_training = model.training
        grads = [(p, p.grad) for p in model.parameters()]
        buffers = {name: np.array(b.data, copy=True) for name, b in model.named_buffers()}
        generator = default_generator()
        random_state = generator.bit_generator.state
        children = dict(model.named_children())
        watched = {layer["module"] for layer in self.layers}
        outputs: dict[str, Tensor] = {}
        try:
            model.train()
            with np.errstate(all="ignore"):  # a diverging net is worth watching too: its values show as NaN/inf
                h = self.x
                for name, layer in children.items():
                    h = layer(h)
                    if name in watched:
                        if h.requires_grad:
                            h.retain_grad()
                        outputs[name] = h
                loss = self.loss_fn(h, self.y)
                if loss.requires_grad:
                    loss.backward()
                return [{"values": summarize(outputs[layer["module"]].data, self.bins, clip=CLIP),
                         "grads": _grad_summary(outputs[layer["module"]], self.bins)} for layer in self.layers]
        finally:
            for p, g in grads:
                p.grad = g
            for name, b in model.named_buffers():
                np.copyto(b.data, buffers[name])
            generator.bit_generator.state = random_state
            model.train(was_training)


def _grad_summary(t: Tensor, bins: int) -> dict[str, Any] | None:
    return summarize(t.grad.data, bins, clip=CLIP) if t.grad is not None else None


def _order(record: dict[str, Any]) -> tuple[int, float]:
    """Records in training order: the steps of an epoch, then the end of that epoch."""
    return record["epoch"], float("inf") if record["step"] is None else record["step"]


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and np.isfinite(x) else None


def _describe(model: Module) -> str:
    sizes = getattr(model, "sizes", None)
    kinds = {type(m).__name__ for m in model.modules()}
    norm = "with batch norm" if {"BatchNorm1d", "BatchNorm2d"} & kinds else "without batch norm"
    return f"{type(model).__name__} {sizes}, {norm}" if sizes else f"{type(model).__name__}, {norm}"


def load_watch(directory: str | os.PathLike) -> dict[str, Any]:
    """The records of `directory/watch.json` (WatchDataError, one line, when it is missing or unreadable)."""
    path = Path(directory) / WATCH_FILE
    if not path.is_file():
        raise WatchDataError(f"{directory} has no {WATCH_FILE}; record one with `python -m tinygrad_bn train "
                             f"--watch {directory}` or fit(..., watch=DIR)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WatchDataError(f"{path} is not readable JSON ({' '.join(str(err).split())})") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("records"), list):
        raise WatchDataError(f"{path} is not a watch file written by tinygrad_bn")
    if data.get("version") != VERSION:
        raise WatchDataError(f"{path} has version {data.get('version')!r}; this tinygrad_bn reads version {VERSION}")
    return data
