"""Experiment 1, the weight-scale sweep (Deep Learning from Scratch, ch. 6): does training depend on the
initial weights' scale, with and without batch norm?

An MLP 784 -> 100 x5 -> 10 with ReLU is trained with SGD (lr 0.01, batch 100) for 20 epochs on the first
1,000 training images, once per initial weight standard deviation in np.logspace(0, -4, 16), with and
without BN; the training accuracy (evaluation mode, on those 1,000 images) is recorded after each epoch,
and the final model is also evaluated on held-out test images. BN's eps is the book's 1e-6 (PyTorch's
default, 1e-5, is comparable to the variance of the tiniest initializations and slows them down).
A run whose loss becomes NaN or infinite (large scales without BN) is stopped and reported as diverged.
Every configuration is trained once per seed (--seeds); the headline is the number of the 16 scales whose
final training accuracy reaches 50%, with and without BN, as mean, standard deviation and 95% interval.
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
from ..serialization import ensure_writable_dir
from ..train import History, TrainingDivergedError, evaluate, fit
from .common import (
    BAND_NOTE,
    Timer,
    add_common_arguments,
    command_line,
    experiment_parser,
    interval_text,
    machine,
    plot_band,
    seed_list,
    seeds_text,
    summarize,
    write_json,
    write_text,
)

SCALES = np.logspace(0, -4, 16)
BN_EPS = 1e-6
LEARNS = 0.5  # a run "learns" when its final training accuracy reaches this (chance is ~0.1)
DEFAULT_SEEDS = 5
KEYS = ("bn", "no_bn")


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one configuration: training accuracy after each epoch, final test accuracy, divergence."""
    manual_seed(task["seed"])
    x, t = task["x"], task["t"]
    model = nn.MLP(x.shape[1], [100] * 5, int(t.max()) + 1, activation="relu",
                   weight_init_std=task["scale"], batchnorm=task["batchnorm"], bn_eps=BN_EPS)
    optimizer = optim.SGD(model.parameters(), lr=task["lr"])
    loader = DataLoader(x, t, task["batch_size"], shuffle=True, seed=task["seed"])
    full = DataLoader(x, t, 1000)
    accuracies: list[float] = []

    def record(epoch: int, history: History) -> None:  # the book's accuracy: evaluation mode, all 1,000 images
        accuracies.append(evaluate(model, full, F.cross_entropy)[1])

    diverged = None
    with np.errstate(over="ignore", invalid="ignore"):  # huge scales: evaluation may overflow before divergence
        try:
            fit(model, F.cross_entropy, optimizer, loader, task["epochs"], callbacks=[record], progress=False)
        except TrainingDivergedError:
            diverged = len(accuracies) + 1
        test = None if diverged else evaluate(model, DataLoader(task["x_test"], task["t_test"], 1000),
                                              F.cross_entropy)[1]
    return {"train_acc": accuracies, "test_acc": test, "diverged_at_epoch": diverged}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the sweep for every seed, write weight_scale.json/.png/.md into args.out, and return the results."""
    ensure_writable_dir(args.out, what="--out folder")  # before any training: results are never lost
    timer = Timer()
    seeds = seed_list(args)
    data = load_dataset(args.dataset, args.data_dir)
    n_train, epochs, scales = (200, 2, SCALES[::5]) if args.quick else (1000, 20, SCALES)
    x, t = data.x_train[:n_train], data.t_train[:n_train]
    x_test, t_test = data.x_test[: 500 if args.quick else None], data.t_test[: 500 if args.quick else None]
    tasks = [dict(x=x, t=t, x_test=x_test, t_test=t_test, scale=float(s), batchnorm=bn, seed=seed, lr=0.01,
                  batch_size=100, epochs=epochs) for seed in seeds for s in scales for bn in (True, False)]
    trained = iter(map_jobs(train_one, tasks, args.jobs))
    runs = []  # one row per seed and scale, as the single-seed runs recorded it
    for seed in seeds:
        for s in scales:
            with_bn, without = next(trained), next(trained)
            runs.append({"seed": seed, "scale": float(s), "bn": with_bn["train_acc"], "no_bn": without["train_acc"],
                         "test_bn": with_bn["test_acc"], "test_no_bn": without["test_acc"],
                         "diverged_bn": with_bn["diverged_at_epoch"], "diverged_no_bn": without["diverged_at_epoch"]})
    rows = summarize_rows(runs, scales)
    results = {"command": getattr(args, "command_line", None),
               "experiment": "weight-scale", "dataset": data.describe(), "dataset_name": data.name,
               "n_train": n_train, "n_test": len(x_test), "bn_eps": BN_EPS, "epochs": epochs, "lr": 0.01,
               "batch_size": 100, "seeds": seeds, "learns_threshold": LEARNS, "headline": headline(runs, seeds),
               "quick": args.quick, "seconds": timer.seconds, "jobs": args.jobs, "machine": machine(),
               "summary": rows, "runs": runs}
    out = Path(args.out)
    write_json(out / "weight_scale.json", results)
    _plot(runs, rows, out / "weight_scale.png", figure_title(results))
    write_text(out / "weight_scale.md", table(results))
    return results


def _final(row: dict[str, Any], key: str) -> float | None:
    """The run's final training accuracy, or None if it diverged."""
    return None if row[f"diverged_{key}"] else row[key][-1]


def summarize_rows(runs: list[dict[str, Any]], scales: np.ndarray) -> list[dict[str, Any]]:
    """Per scale and with/without BN: the final training and test accuracy over the seeds whose run did not
    diverge, and how many diverged."""
    rows = []
    for s in scales:
        mine = [r for r in runs if r["scale"] == float(s)]
        row: dict[str, Any] = {"scale": float(s)}
        for key in KEYS:
            finals = [final for r in mine if (final := _final(r, key)) is not None]
            tests = [r[f"test_{key}"] for r in mine if r[f"test_{key}"] is not None]
            row[key] = {"train_acc": summarize(finals) if finals else None,
                        "test_acc": summarize(tests) if tests else None,
                        "diverged": sum(1 for r in mine if r[f"diverged_{key}"]),
                        "diverged_at_epoch": [r[f"diverged_{key}"] for r in mine], "seeds": len(mine)}
        rows.append(row)
    return rows


def headline(runs: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Per seed, the number of scales whose final training accuracy reaches LEARNS (a diverged run does not),
    with and without BN, and the difference; summarized over the seeds."""
    counts = {key: [sum(1 for r in runs if r["seed"] == seed and (_final(r, key) or 0.0) >= LEARNS)
                    for seed in seeds] for key in KEYS}
    return {"scales_learning_bn": summarize(counts["bn"]), "scales_learning_no_bn": summarize(counts["no_bn"]),
            "scales_learning_difference": summarize([a - b for a, b in zip(counts["bn"], counts["no_bn"])]),
            "scales": len({r["scale"] for r in runs})}


def _cell(summary: dict[str, Any]) -> str:
    acc = summary["train_acc"]
    text = interval_text(acc, scale=1.0, digits=3) if acc else ""
    if summary["diverged"]:
        epochs = sorted({e for e in summary["diverged_at_epoch"] if e})
        note = f"diverged in {summary['diverged']}/{summary['seeds']} (epoch {', '.join(map(str, epochs))})"
        text = f"{text}; {note}" if text else note
    return text


def table(results: dict[str, Any]) -> str:
    """Markdown table per scale: final training and test accuracy, mean ± std [95% interval] over seeds."""
    lines = ["| weight std | train acc. with BN | without BN | test acc. with BN | without BN |",
             "| ---: | ---: | ---: | ---: | ---: |"]
    for r in results["summary"]:
        tests = [interval_text(r[k]["test_acc"], scale=1.0, digits=3) for k in KEYS]
        lines.append(f"| {r['scale']:.2e} | {_cell(r['bn'])} | {_cell(r['no_bn'])} | {tests[0]} | {tests[1]} |")
    h = results["headline"]
    lines += ["", f"{data_text(results)}; {results['epochs']} epochs of SGD (lr {results['lr']}, batch "
              f"{results['batch_size']}), BN eps {results['bn_eps']}; {seeds_text(results['seeds'])}. Cells: "
              "mean ± standard deviation [95% t-interval of the mean] over the seeds whose run did not diverge.",
              "", f"Scales (of {h['scales']}) whose final training accuracy reaches {LEARNS:.0%}: with BN "
              f"{interval_text(h['scales_learning_bn'], 1.0, 1)}, without BN "
              f"{interval_text(h['scales_learning_no_bn'], 1.0, 1)}; difference "
              f"{interval_text(h['scales_learning_difference'], 1.0, 1, signed=True)}."]
    return "\n".join(lines) + "\n"


def data_text(results: dict[str, Any]) -> str:
    """What the runs trained and tested on, in numbers of images (not the dataset's full size)."""
    return (f"the first {results['n_train']} training images of {results['dataset']}, tested on "
            f"{results['n_test']} of its test images")


def figure_title(results: dict[str, Any]) -> str:
    return (f"Training accuracy per initial weight std, with BN (solid) and without (dashed); {BAND_NOTE}\n"
            f"{results['dataset_name']}: trained on {results['n_train']} images, tested on {results['n_test']}; "
            f"{results['epochs']} epochs; {seeds_text(results['seeds'])}")


def _plot(runs: list[dict[str, Any]], rows: list[dict[str, Any]], path: Path, title: str) -> Path:
    side = int(np.ceil(np.sqrt(len(rows))))
    fig, axes = subplots(side, side, figsize=(3 * side, 2.6 * side + 0.6), sharex=True, sharey=True,
                         squeeze=False)
    for ax, row in zip(axes.flat, rows):
        mine = [r for r in runs if r["scale"] == row["scale"]]
        for key, color, style, label in (("bn", "tab:blue", "-", "with BN"),
                                         ("no_bn", "tab:orange", "--", "without BN")):
            curves = [r[key] for r in mine if not r[f"diverged_{key}"]]
            plot_band(ax, curves, color=color, linestyle=style, label=label)
        diverged = [f"{'BN' if k == 'bn' else 'no BN'} {row[k]['diverged']}/{row[k]['seeds']}"
                    for k in KEYS if row[k]["diverged"]]
        if diverged:
            ax.text(0.5, 0.5, "diverged (NaN loss):\n" + ", ".join(diverged), transform=ax.transAxes,
                    ha="center", fontsize=8, color="gray")
        ax.set_title(f"W: {row['scale']:.2g}", fontsize=9)
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    # the legend on the first panel where both kinds of run trained (at the largest scales, no-BN runs diverge)
    max(axes.flat[:len(rows)], key=lambda ax: len(ax.get_lines())).legend(fontsize=8, loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("epoch")
    for ax in axes[:, 0]:
        ax.set_ylabel("train accuracy")
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("weight-scale", __doc__)
    return add_common_arguments(parser, "results/weight-scale", DEFAULT_SEEDS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = command_line("weight-scale", argv)
    results = run(args)
    print(table(results))
    print(f"{data_text(results)}: {len(results['runs']) * 2} trainings in {results['seconds']:.1f} s "
          f"({results['machine']}); wrote {Path(args.out).resolve()}/weight_scale.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
