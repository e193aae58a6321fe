"""`python -m tinygrad_bn train ...`: train an MLP from command-line options, print a per-epoch table, and
write the history (JSON) and the learning curves (PNG) to the output folder.

With `--checkpoint PATH` the whole state is saved after every epoch; `--resume` continues a killed run
from it and ends with the same history as an uninterrupted run. The options that define the run are
saved beside the checkpoint (PATH.options.json), so resuming with different ones is refused. `--watch DIR`
records per-layer histograms of activations and gradients for `python -m tinygrad_bn watch DIR`.
`--detect-anomaly` stops at the first op that makes NaN or inf out of finite values, with a one-line message
naming the op and its layer (exit status 1).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..cli_types import (
    init_scheme,
    int_list,
    nonnegative_float,
    nonnegative_int,
    positive_float,
    positive_int,
    probability,
)
from ..data import DATASETS, DataLoader, load_dataset
from ..nn import functional as F
from ..random import manual_seed
from ..serialization import atomic_write
from .history import History
from .loop import fit

OPTIMIZERS = {
    "sgd": lambda params, a: optim.SGD(params, lr=a.lr, weight_decay=a.weight_decay),
    "momentum": lambda params, a: optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=a.weight_decay),
    "adagrad": lambda params, a: optim.AdaGrad(params, lr=a.lr, weight_decay=a.weight_decay),
    "rmsprop": lambda params, a: optim.RMSprop(params, lr=a.lr, weight_decay=a.weight_decay),
    "adam": lambda params, a: optim.Adam(params, lr=a.lr, weight_decay=a.weight_decay),
}


def add_arguments(train: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `python -m tinygrad_bn train`."""
    train.add_argument("--dataset", choices=DATASETS, default="digits")
    train.add_argument("--data-dir", default=None, help="folder with the IDX files (mnist, fashion-mnist)")
    train.add_argument("--download", action="store_true",
                       help="fetch missing mnist/fashion-mnist files into the cache (verified checksums)")
    train.add_argument("--hidden", type=int_list, default=[100, 100, 100], help="hidden layer sizes, comma separated")
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm1d before each activation")
    train.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu")
    train.add_argument("--init", type=init_scheme, default="he",
                       help="weight init: he, xavier, glorot, or a standard deviation")
    train.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad", "rmsprop", "adam"], default="sgd")
    train.add_argument("--lr", type=positive_float, default=0.01)
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--batch-size", type=positive_int, default=100)
    train.add_argument("--dropout", type=probability, default=0.0)
    train.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    train.add_argument("--seed", type=nonnegative_int, default=0)
    train.add_argument("--out", default="tinygrad_bn-train", help="folder for history.json and curves.png")
    train.add_argument("--checkpoint", default=None, metavar="PATH",
                       help="save the whole training state here (.npz) after every epoch")
    train.add_argument("--resume", action="store_true",
                       help="continue from --checkpoint if it exists (same options; --epochs may grow)")
    train.add_argument("--watch", default=None, metavar="DIR",
                       help="record per-layer histograms of activations and gradients into DIR/watch.json after "
                            "every epoch; `python -m tinygrad_bn watch DIR` shows them")
    train.add_argument("--watch-every", type=positive_int, default=None, metavar="STEPS",
                       help="with --watch, record every STEPS steps too")
    train.add_argument("--no-compile", action="store_true",
                       help="run every step eagerly (default: capture the step once and replay it, same numbers)")
    train.add_argument("--fuse", action="store_true",
                       help="replay with fused numba kernels (faster, equal to rounding; needs the `fast` extra)")
    train.add_argument("--detect-anomaly", action="store_true",
                       help="stop at the first op that turns finite values into NaN or inf, naming it and its "
                            "layer (runs every step eagerly, about 2x slower)")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    return train


# options that do not change what a run computes: a run may be resumed with other values for them
NOT_DEFINING = ("out", "checkpoint", "resume", "no_progress", "epochs", "data_dir", "download", "watch",
                "watch_every", "detect_anomaly")


def run_options(args: argparse.Namespace) -> dict[str, Any]:
    """The options that define what a run computes (a resumed run must have the same)."""
    return {k: v for k, v in sorted(vars(args).items()) if k not in NOT_DEFINING and k != "command"}


def options_path(checkpoint: str | Path) -> Path:
    """Where the options of a checkpointed run are kept: beside the checkpoint."""
    checkpoint = Path(checkpoint)
    return checkpoint.with_name(checkpoint.name + ".options.json")


class ResumeMismatchError(ValueError):
    """`--resume` with options that differ from those the checkpoint was made with."""


def prepare_checkpoint(args: argparse.Namespace) -> int:
    """Check a resumed run's options against its checkpoint's and record them; return the epoch it resumes at.

    Without --resume, an existing checkpoint is started over (and overwritten after the first epoch).
    """
    from ..serialization import load

    path, record = Path(args.checkpoint), options_path(args.checkpoint)
    options = run_options(args)
    if args.resume and path.exists():
        saved = json.loads(record.read_text()) if record.exists() else None
        if saved is None:
            raise ResumeMismatchError(f"{path} has no {record.name} beside it: it was not written by this "
                                      f"command, so it cannot be resumed here")
        differ = [f"--{k.replace('_', '-')} {saved.get(k)!r} -> {options[k]!r}" for k in options
                  if saved.get(k) != options[k]]
        if differ:
            raise ResumeMismatchError(f"{path} was made with other options ({'; '.join(differ)}); resume with "
                                      f"the same ones, or drop --resume to start over")
        try:
            epoch = int(json.loads(str(load(path)["meta"]))["epoch"])
        except (ValueError, KeyError):
            raise ResumeMismatchError(f"{path} is not a checkpoint this command can resume (not a tinygrad_bn "
                                      f".npz checkpoint); give another --checkpoint, or drop --resume to start over"
                                      ) from None
        if epoch > args.epochs:
            raise ResumeMismatchError(f"{path} has already trained {epoch} epochs, more than --epochs {args.epochs}")
        return epoch
    atomic_write(record, lambda f: f.write(json.dumps(options, indent=2).encode()))
    return 0


def plot_history(history: History, path: Path, title: str = "") -> Path:
    """Learning curves (loss and accuracy per epoch, train and dev) as a PNG."""
    from ..plotting import save_png, subplots

    epochs = range(1, history.epochs + 1)
    fig, (left, right) = subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, history.train_loss, label="train")
    right.plot(epochs, history.train_acc, label="train")
    if history.dev_loss:
        left.plot(epochs, history.dev_loss, label="dev")
        right.plot(epochs, history.dev_acc, label="dev")
    left.set(xlabel="epoch", ylabel="loss", title="loss")
    right.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def train_command(args: argparse.Namespace) -> int:
    """Run `python -m tinygrad_bn train`; return the exit status.

    The caller (cli.main) has checked that --out and the checkpoint's folder can be written, and turns
    missing or corrupt data files into a usage error. A run that diverges ends with a one-line message.
    """
    import sys

    from ..debug import AnomalyError
    from .loop import TrainingDivergedError

    if args.resume and args.checkpoint is None:
        print("train: --resume needs --checkpoint PATH (the file to resume from)", file=sys.stderr)
        return 2
    if args.fuse and args.detect_anomaly:
        print("train: --fuse cannot be used with --detect-anomaly: anomaly detection runs every step eagerly",
              file=sys.stderr)
        return 2
    if args.fuse:
        from ..compiler.fuse import available

        if args.no_compile or not available():
            reason = "it replays compiled steps (drop --no-compile)" if args.no_compile else \
                "it needs numba: pip install 'tinygrad_bn[fast]'"
            print(f"train: --fuse cannot be used here: {reason}", file=sys.stderr)
            return 2
    try:
        start = prepare_checkpoint(args) if args.checkpoint is not None else 0
    except ResumeMismatchError as err:
        print(f"train: {err}", file=sys.stderr)
        return 2
    manual_seed(args.seed)
    data = load_dataset(args.dataset, args.data_dir, download=args.download)
    (x_train, t_train), (x_test, t_test) = (data.x_train, data.t_train), (data.x_test, data.t_test)
    model = nn.MLP(x_train.shape[1], list(args.hidden), data.classes, activation=args.activation,
                   weight_init_std=args.init, batchnorm=args.batchnorm, dropout=args.dropout)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), args)
    train_loader = DataLoader(x_train, t_train, args.batch_size, shuffle=True, seed=args.seed)
    dev_loader = DataLoader(x_test, t_test, 1000)
    print(f"{args.dataset}: {len(x_train)} training and {len(x_test)} test examples; model {model.sizes}, "
          f"{'with' if args.batchnorm else 'without'} batch norm, {args.optimizer} lr {args.lr}")
    if start:
        print(f"resuming from {args.checkpoint} after epoch {start}")
    callbacks: list[Any] = []  # after the table's row of each epoch
    step_callbacks: list[Any] = []
    if args.watch is not None:  # histograms of the first training batch, before training and after each epoch
        from .watch import Watcher

        watcher = Watcher.for_fit(args.watch, model, F.cross_entropy, train_loader, every=args.watch_every,
                                  resume=args.resume and start > 0)
        callbacks.append(watcher)
        step_callbacks.append(watcher.on_step)
        print(f"watching: {watcher.path.resolve()} (see it with `python -m tinygrad_bn watch {args.watch}`)")
    print(f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8} {'seconds':>7}")

    def report(epoch: int, h: History) -> None:
        print(f"{epoch:>5} {h.train_loss[-1]:>10.4f} {h.train_acc[-1]:>9.4f} {h.dev_loss[-1]:>9.4f} "
              f"{h.dev_acc[-1]:>8.4f} {h.seconds[-1]:>7.2f}", flush=True)

    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # the divergence check says more
            history = fit(model, F.cross_entropy, optimizer, train_loader, args.epochs, dev_loader=dev_loader,
                          callbacks=[report, *callbacks], step_callbacks=step_callbacks, progress=not args.no_progress,
                          checkpoint=args.checkpoint, resume=args.resume, compile=not args.no_compile,
                          fuse=args.fuse, detect_anomaly=args.detect_anomaly)
    except AnomalyError as err:
        print(f"train: {err.one_line()}", file=sys.stderr)
        return 1
    except TrainingDivergedError as err:
        print(f"train: {err}", file=sys.stderr)
        return 1
    out = Path(args.out)
    record: dict[str, Any] = {"options": vars(args), "history": history.to_dict()}
    atomic_write(out / "history.json", lambda f: f.write(json.dumps(record, indent=2).encode()))
    print(f"wrote {(out / 'history.json').resolve()}")
    try:
        path = plot_history(history, out / "curves.png", title=f"{args.dataset}, {model.sizes}")
        print(f"wrote {path.resolve()}")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'tinygrad_bn[examples]')")
    return 0
