"""The showcase (`python -m tinygrad_bn demo`, the README's first command): offline, in well under a minute.

1. Trains the same deep network (64 -> 100 x5 -> 10, ReLU) from a poor initialization (weights with
   standard deviation 0.01) with and without batch norm, on scikit-learn's bundled handwritten digits,
   and prints the test accuracy per epoch side by side: without BN the signal dies out in the deep stack
   and the network stays at chance; with BN it learns.
2. Saves the learning curves as a PNG and both runs' per-epoch numbers as history.json.
3. Draws batch norm's computation graph (mean, subtract, square, sqrt, divide, ...) as SVG, or as DOT
   source with a note when Graphviz's `dot` is not installed.
4. Checks BN's input gradient from autodiff against the closed-form formula, and says where the files are.
"""
from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..cli_types import nonnegative_int, positive_int
from ..data import DataLoader, load_digits
from ..nn import functional as F
from ..parallel import limit_blas_threads
from ..plotting import save_png, subplots
from ..random import manual_seed
from ..serialization import atomic_write, ensure_writable_dir
from ..tensor import Tensor
from ..train import History, fit
from .common import Timer

DEPTH, WIDTH, INIT_STD, LR, EPOCHS, BATCH = 5, 100, 0.01, 0.1, 15, 50


def train(batchnorm: bool, data: tuple, epochs: int, seed: int) -> History:
    (x, t), (xt, tt) = data
    manual_seed(seed)
    model = nn.MLP(x.shape[1], [WIDTH] * DEPTH, 10, activation="relu", weight_init_std=INIT_STD,
                   batchnorm=batchnorm)
    optimizer = optim.SGD(model.parameters(), lr=LR, momentum=0.9)
    return fit(model, F.cross_entropy, optimizer, DataLoader(x, t, BATCH, shuffle=True, seed=seed), epochs,
               dev_loader=DataLoader(xt, tt, 1000), progress=False)


def closed_form_check(seed: int) -> float:
    """Largest difference between autodiff's BN input gradient and the textbook formula (float64)."""
    rng = np.random.default_rng(seed)
    x = Tensor(rng.normal(2.0, 3.0, size=(32, 8)), requires_grad=True)
    y = F.batch_norm(x, None, None, training=True)
    upstream = rng.standard_normal(y.shape)
    (y * Tensor(upstream)).sum().backward()
    xv, n = x.numpy(), x.shape[0]
    inv_std = 1.0 / np.sqrt(xv.var(axis=0) + 1e-5)
    x_hat = (xv - xv.mean(axis=0)) * inv_std
    dx = inv_std / n * (n * upstream - upstream.sum(axis=0) - x_hat * (upstream * x_hat).sum(axis=0))
    assert x.grad is not None  # backward() just filled it
    return float(np.abs(x.grad.numpy() - dx).max())


def draw_bn_graph(out: Path) -> tuple[Path | None, str]:
    """BatchNorm1d's training-mode graph as SVG (or DOT when Graphviz is missing); (path or None, note)."""
    from ..viz import draw_graph, render
    from .graph_models import build

    output, module = build("bn1d", train=True)
    try:
        graph = draw_graph(output, params=module)
    except ImportError:
        return None, "the graphviz Python package is not installed (pip install 'tinygrad_bn[viz]'): no graph drawn"
    if shutil.which("dot"):
        return render(graph, out / "bn_graph.svg"), ""
    return render(graph, out / "bn_graph.dot"), ("Graphviz's `dot` is not installed, so the graph was written as "
                                                 "DOT source; install it (e.g. apt-get install graphviz) for SVG")


def plot(runs: dict[str, History], path: Path) -> Path:
    fig, (left, right) = subplots(1, 2, figsize=(10, 3.8))
    for label, h in runs.items():
        epochs = range(1, h.epochs + 1)
        left.plot(epochs, h.train_loss, label=label)
        right.plot(epochs, h.dev_acc, label=label)
    left.set(xlabel="epoch", ylabel="training loss", title="training loss")
    right.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy", ylim=(0, 1))
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(f"{DEPTH} hidden layers of {WIDTH} ReLU units, initial weight std {INIT_STD}, digits")
    fig.tight_layout()
    return save_png(fig, path)


def run(out: str | Path = "tinygrad_bn-demo", epochs: int = EPOCHS, seed: int = 0) -> dict[str, Any]:
    timer = Timer()
    limit_blas_threads()  # small matrices: one BLAS thread is faster, and immune to other busy processes
    out = ensure_writable_dir(out)
    data = load_digits()
    print(f"Training a {DEPTH}-hidden-layer ReLU network on {len(data[0][0])} handwritten digits "
          f"(8x8, offline), initial weight std {INIT_STD}, with and without batch norm...\n")
    runs = {"with BN": train(True, data, epochs, seed), "without BN": train(False, data, epochs, seed)}
    print(f"{'epoch':>5}  {'with BN':>9}  {'without BN':>10}   (test accuracy)")
    for e in range(epochs):
        print(f"{e + 1:>5}  {runs['with BN'].dev_acc[e]:>9.3f}  {runs['without BN'].dev_acc[e]:>10.3f}")
    record = {"config": {"depth": DEPTH, "width": WIDTH, "init_std": INIT_STD, "lr": LR, "momentum": 0.9,
                         "batch_size": BATCH, "epochs": epochs, "seed": seed, "dataset": "digits"},
              "runs": {label: h.to_dict() for label, h in runs.items()}}
    history_path = atomic_write(out / "history.json", lambda f: f.write(json.dumps(record, indent=2).encode()))
    files = {"history": history_path}
    try:
        files["plot"] = plot(runs, out / "curves.png")
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'tinygrad_bn[examples]')")
    graph_path, note = draw_bn_graph(out)
    if graph_path is not None:
        files["graph"] = graph_path
    error = closed_form_check(seed)
    print(f"\nBatch norm here is composed from mean, subtract, multiply, add, sqrt and divide; autodiff's input "
          f"gradient matches the closed-form BN backward to {error:.1e}.")
    if note:
        print(note)
    print(f"\nDone in {timer.seconds:.1f} s. Files:")
    for label, path in files.items():
        print(f"  {label:8} {path.resolve()}")
    return {"runs": runs, "files": files, "closed_form_error": error, "seconds": timer.seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tinygrad_bn demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="tinygrad_bn-demo", help="output folder")
    parser.add_argument("--epochs", type=positive_int, default=EPOCHS)
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    args = parser.parse_args(argv)
    run(args.out, args.epochs, args.seed)
    return 0
