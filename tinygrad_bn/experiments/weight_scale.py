"""Experiment 1, the weight-scale sweep (Deep Learning from Scratch, ch. 6): does training depend on the
initial weights' scale, with and without batch norm?

An MLP 784 -> 100 x5 -> 10 with ReLU is trained with SGD (lr 0.01, batch 100) for 20 epochs on the first
1,000 training images, once per initial weight standard deviation in np.logspace(0, -4, 16), with and
without BN; the training accuracy (evaluation mode, on those 1,000 images) is recorded after each epoch,
and the final model is also evaluated on held-out test images. BN's eps is the book's 1e-6 (PyTorch's
default, 1e-5, is comparable to the variance of the tiniest initializations and slows them down).
A run whose loss becomes NaN or infinite (large scales without BN) is stopped and reported as diverged.
Published result: with BN, training progresses for almost every scale; without it, only for a narrow band.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..data import DataLoader, load_dataset
from ..nn import functional as F
from ..parallel import map_jobs
from ..plotting import save_png, subplots
from ..random import manual_seed
from ..train import evaluate
from .common import Timer, add_common_arguments, experiment_parser, machine, write_json, write_text

SCALES = np.logspace(0, -4, 16)


BN_EPS = 1e-6


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration: training accuracy after each epoch, final test accuracy, divergence."""
    manual_seed(task["seed"])
    x, t = task["x"], task["t"]
    model = nn.MLP(x.shape[1], [100] * 5, int(t.max()) + 1, activation="relu",
                   weight_init_std=task["scale"], batchnorm=task["batchnorm"], bn_eps=BN_EPS)
    optimizer = optim.SGD(model.parameters(), lr=task["lr"])
    loader = DataLoader(x, t, task["batch_size"], shuffle=True, seed=task["seed"])
    full = DataLoader(x, t, 1000)
    accuracies, diverged = [], None
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(task["epochs"]):
            model.train()
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                if not np.isfinite(loss.item()):
                    diverged = epoch + 1
                    break
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            if diverged:
                break
            accuracies.append(evaluate(model, full, F.cross_entropy)[1])
        test = evaluate(model, DataLoader(task["x_test"], task["t_test"], 1000), F.cross_entropy)[1]
    return {"train_acc": accuracies, "test_acc": None if diverged else test, "diverged_at_epoch": diverged}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the sweep, write weight_scale.json/.png/.md into args.out, and return the results."""
    timer = Timer()
    data = load_dataset(args.dataset, args.data_dir)
    n_train, epochs, scales = (200, 2, SCALES[::5]) if args.quick else (1000, 20, SCALES)
    x, t = data.x_train[:n_train], data.t_train[:n_train]
    x_test, t_test = data.x_test[: 500 if args.quick else None], data.t_test[: 500 if args.quick else None]
    tasks = [dict(x=x, t=t, x_test=x_test, t_test=t_test, scale=float(s), batchnorm=bn, seed=args.seed, lr=0.01,
                  batch_size=100, epochs=epochs) for s in scales for bn in (True, False)]
    out_runs = map_jobs(train_one, tasks, args.jobs)
    rows = []
    for i, s in enumerate(scales):
        with_bn, without = out_runs[2 * i], out_runs[2 * i + 1]
        rows.append({"scale": float(s), "bn": with_bn["train_acc"], "no_bn": without["train_acc"],
                     "test_bn": with_bn["test_acc"], "test_no_bn": without["test_acc"],
                     "diverged_bn": with_bn["diverged_at_epoch"], "diverged_no_bn": without["diverged_at_epoch"]})
    results = {"experiment": "weight-scale", "dataset": data.describe(), "n_train": n_train, "n_test": len(x_test),
               "bn_eps": BN_EPS, "epochs": epochs,
               "quick": args.quick, "seconds": timer.seconds, "jobs": args.jobs, "machine": machine(), "runs": rows}
    out = Path(args.out)
    write_json(out / "weight_scale.json", results)
    _plot(rows, out / "weight_scale.png", data.describe())
    write_text(out / "weight_scale.md", table(rows))
    return results


def _cell(curve: list[float], diverged: int | None) -> str:
    return f"diverged (epoch {diverged})" if diverged else f"{curve[-1]:.3f}"


def table(rows: list[dict[str, Any]]) -> str:
    """Markdown table of the final training accuracy per scale, and the held-out test accuracy."""
    lines = ["| weight std | train acc. with BN | without BN | test acc. with BN | without BN |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        tests = [f"{v:.3f}" if v is not None else "-" for v in (r["test_bn"], r["test_no_bn"])]
        lines.append(f"| {r['scale']:.2e} | {_cell(r['bn'], r['diverged_bn'])} | "
                     f"{_cell(r['no_bn'], r['diverged_no_bn'])} | {tests[0]} | {tests[1]} |")
    return "\n".join(lines) + "\n"


def _plot(rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    side = int(np.ceil(np.sqrt(len(rows))))
    fig, axes = subplots(side, side, figsize=(3 * side, 2.6 * side), sharex=True, sharey=True, squeeze=False)
    for ax, row in zip(axes.flat, rows):
        ax.plot(np.arange(1, len(row["bn"]) + 1), row["bn"], "-", color="tab:blue", label="with BN")
        ax.plot(np.arange(1, len(row["no_bn"]) + 1), row["no_bn"], "--", color="tab:orange", label="without BN")
        if row["diverged_no_bn"] or row["diverged_bn"]:
            ax.text(0.5, 0.5, "diverged (NaN loss)", transform=ax.transAxes, ha="center", fontsize=8, color="gray")
        ax.set_title(f"W: {row['scale']:.2g}", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=8, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("train accuracy")
    fig.suptitle(f"Training accuracy per initial weight std, with BN (solid) and without (dashed)\n{title}")
    fig.tight_layout()
    return save_png(fig, path)


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("weight-scale", __doc__)
    return add_common_arguments(parser, "results/weight-scale")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args)
    print(table(results["runs"]))
    print(f"{results['dataset']}: {len(results['runs']) * 2} trainings in {results['seconds']:.1f} s "
          f"({results['machine']}); wrote {Path(args.out).resolve()}/weight_scale.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
