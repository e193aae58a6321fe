"""`python -m tinygrad_bn train ...`: train an MLP from command-line options, print a per-epoch table, and
write the history (JSON) and the learning curves (PNG) to the output folder."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import nn, optim
from ..cli_types import int_list, nonnegative_float, nonnegative_int, positive_float, positive_int, probability
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
    train.add_argument("--hidden", type=int_list, default=[100, 100, 100], help="hidden layer sizes, comma separated")
    train.add_argument("--batchnorm", action="store_true", help="BatchNorm1d before each activation")
    train.add_argument("--activation", choices=["relu", "sigmoid", "tanh"], default="relu")
    train.add_argument("--init", default="he", help="weight init: he, xavier, or a standard deviation")
    train.add_argument("--optimizer", choices=["sgd", "momentum", "adagrad", "rmsprop", "adam"], default="sgd")
    train.add_argument("--lr", type=positive_float, default=0.01)
    train.add_argument("--epochs", type=positive_int, default=10)
    train.add_argument("--batch-size", type=positive_int, default=100)
    train.add_argument("--dropout", type=probability, default=0.0)
    train.add_argument("--weight-decay", type=nonnegative_float, default=0.0)
    train.add_argument("--seed", type=nonnegative_int, default=0)
    train.add_argument("--out", default="tinygrad_bn-train", help="folder for history.json and curves.png")
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    return train


def parse_init(text: str) -> str | float:
    try:
        return float(text)
    except ValueError:
        return text


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
    manual_seed(args.seed)
    data = load_dataset(args.dataset, args.data_dir)
    (x_train, t_train), (x_test, t_test) = (data.x_train, data.t_train), (data.x_test, data.t_test)
    model = nn.MLP(x_train.shape[1], list(args.hidden), data.classes, activation=args.activation,
                   weight_init_std=parse_init(args.init), batchnorm=args.batchnorm, dropout=args.dropout)
    optimizer = OPTIMIZERS[args.optimizer](model.parameters(), args)
    train_loader = DataLoader(x_train, t_train, args.batch_size, shuffle=True, seed=args.seed)
    dev_loader = DataLoader(x_test, t_test, 1000)
    print(f"{args.dataset}: {len(x_train)} training and {len(x_test)} test examples; model {model.sizes}, "
          f"{'with' if args.batchnorm else 'without'} batch norm, {args.optimizer} lr {args.lr}")
    print(f"{'epoch':>5} {'train loss':>10} {'train acc':>9} {'test loss':>9} {'test acc':>8} {'seconds':>7}")

    def report(epoch: int, h: History) -> None:
        print(f"{epoch:>5} {h.train_loss[-1]:>10.4f} {h.train_acc[-1]:>9.4f} {h.dev_loss[-1]:>9.4f} "
              f"{h.dev_acc[-1]:>8.4f} {h.seconds[-1]:>7.2f}", flush=True)

    history = fit(model, F.cross_entropy, optimizer, train_loader, args.epochs, dev_loader=dev_loader,
                  callbacks=[report], progress=not args.no_progress)
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
