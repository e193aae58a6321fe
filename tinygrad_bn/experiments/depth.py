"""Experiment 2, depth, activation and learning rate (a published notebook): deep sigmoid networks that do
not learn, learn with batch norm.

Seven MLPs with input 784, hidden width 300 and ten classes, trained with plain SGD (batch 100):

    S3        2 hidden, sigmoid,      lr 0.01        S6_BN_lr  5 hidden, sigmoid, BN, lr 0.01
    S4        3 hidden, sigmoid,      lr 0.01        S6_BN     5 hidden, sigmoid, BN, lr 0.5
    R6        5 hidden, ReLU,         lr 0.01        R6_BN     5 hidden, ReLU, BN,    lr 0.1
    R6_lr     5 hidden, ReLU,         lr 0.1

Outputs: the training-loss curves of each, and for S4 and S6_BN_lr histograms of the values every layer
(Affine, BatchNorm, Activation) outputs in the forward pass and of the gradients it passes back.
Published result: S4 barely learns; S6_BN_lr learns, even at lr 0.5; BN keeps the activations spread
out and the gradients alive down to the first layer.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..cli_types import positive_int
from ..data import DataLoader, load_dataset
from ..nn import functional as F
from ..parallel import map_jobs
from ..plotting import save_png, subplots
from ..random import manual_seed
from ..tensor import Tensor
from ..train import evaluate
from .common import Timer, add_common_arguments, experiment_parser, machine, write_json, write_text

MODELS = {  # name: (hidden layers, activation, batch norm, learning rate)
    "S3": (2, "sigmoid", False, 0.01),
    "S4": (3, "sigmoid", False, 0.01),
    "R6": (5, "relu", False, 0.01),
    "R6_lr": (5, "relu", False, 0.1),
    "S6_BN_lr": (5, "sigmoid", True, 0.01),
    "S6_BN": (5, "sigmoid", True, 0.5),
    "R6_BN": (5, "relu", True, 0.1),
}
HISTOGRAM_MODELS = ("S4", "S6_BN_lr")
KIND = {"Linear": "Affine", "BatchNorm1d": "BatchNorm", "Sigmoid": "Activation", "ReLU": "Activation"}


def build(name: str, inputs: int, classes: int, width: int) -> nn.MLP:
    layers, activation, batchnorm, _ = MODELS[name]
    init = "xavier" if activation == "sigmoid" else "he"  # the source material's pairing
    return nn.MLP(inputs, [width] * layers, classes, activation=activation, weight_init_std=init,
                  batchnorm=batchnorm)


def layer_values(model: nn.Sequential, x: Tensor, t: np.ndarray) -> list[dict[str, Any]]:
    """Run `model` layer by layer on one batch, keep every layer's output and the gradient of the loss
    with respect to it (`retain_grad`), and return them per layer (the last Affine, the logits, excluded)."""
    outputs, kinds = [], []
    h = x
    model.train()
    for layer in model.children():
        h = layer(h)
        h.retain_grad()
        outputs.append(h)
        kinds.append(KIND.get(type(layer).__name__, type(layer).__name__))
    F.cross_entropy(h, t).backward()
    model.zero_grad()
    records = []
    depth = 0
    for out, kind in zip(outputs[:-1], kinds[:-1]):
        depth += kind == "Affine"
        records.append({"layer": depth, "kind": kind, "values": out.numpy().ravel().copy(),
                        "grads": out.grad.numpy().ravel().copy()})
    return records


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one model; per-iteration and per-epoch losses, test accuracy, and layer histograms if asked."""
    manual_seed(task["seed"])
    x, t, xt, tt = task["x"], task["t"], task["x_test"], task["t_test"]
    name = task["name"]
    model = build(name, x.shape[1], int(t.max()) + 1, task["width"])
    optimizer = optim.SGD(model.parameters(), lr=MODELS[name][3])
    loader = DataLoader(x, t, task["batch_size"], shuffle=True, seed=task["seed"])
    iteration_loss, epoch_loss, diverged = [], [], None
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(task["epochs"]):
            model.train()
            for xb, yb in loader:
                loss = F.cross_entropy(model(xb), yb)
                value = loss.item()
                if not np.isfinite(value):
                    diverged = epoch + 1
                    break
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                iteration_loss.append(value)
            if diverged:
                break
            epoch_loss.append(float(np.mean(iteration_loss[-len(loader):])))
    test_loss, test_acc = evaluate(model, DataLoader(xt, tt, 1000), F.cross_entropy)
    result = {"name": name, "iteration_loss": iteration_loss, "epoch_loss": epoch_loss, "test_loss": test_loss,
              "test_acc": test_acc, "diverged_at_epoch": diverged}
    if name in HISTOGRAM_MODELS:
        probe = np.random.default_rng(task["seed"]).choice(len(x), size=min(1000, len(x)), replace=False)
        result["layers"] = layer_values(model, Tensor(x[probe]), t[probe])
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    timer = Timer()
    data = load_dataset(args.dataset, args.data_dir)
    epochs, width, limit = (2, 50, 1000) if args.quick else (args.epochs, 300, None)
    x, t = data.x_train[:limit], data.t_train[:limit]
    tasks = [dict(name=name, x=x, t=t, x_test=data.x_test[:limit], t_test=data.t_test[:limit], width=width,
                  epochs=epochs, batch_size=100, seed=args.seed) for name in MODELS]
    runs = map_jobs(train_one, tasks, args.jobs)
    out = Path(args.out)
    _plot_losses(runs, out / "depth_loss.png", data.describe())
    for r in runs:
        if "layers" in r:
            _plot_histograms(r, "values", out / f"depth_forward_{r['name']}.png")
            _plot_histograms(r, "grads", out / f"depth_backward_{r['name']}.png")
    summary = [{k: v for k, v in r.items() if k != "layers"} for r in runs]
    results = {"experiment": "depth", "dataset": data.describe(), "epochs": epochs, "width": width,
               "batch_size": 100, "quick": args.quick, "seconds": timer.seconds, "jobs": args.jobs,
               "machine": machine(), "runs": summary,
               "layer_stats": {r["name"]: [{"layer": lr["layer"], "kind": lr["kind"],
                                            "value_std": float(lr["values"].std()),
                                            "grad_std": float(lr["grads"].std())} for lr in r["layers"]]
                               for r in runs if "layers" in r}}
    write_json(out / "depth.json", results)
    write_text(out / "depth.md", table(summary))
    return results


def table(runs: list[dict[str, Any]]) -> str:
    lines = ["| model | hidden | activation | BN | lr | final train loss | test accuracy |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for r in runs:
        layers, act, bn, lr = MODELS[r["name"]]
        final = f"{r['epoch_loss'][-1]:.4f}" if r["epoch_loss"] else "n/a"
        if r["diverged_at_epoch"]:
            final = f"diverged (epoch {r['diverged_at_epoch']})"
        lines.append(f"| {r['name']} | {layers} | {act} | {'yes' if bn else 'no'} | {lr} | {final} | "
                     f"{r['test_acc']:.4f} |")
    return "\n".join(lines) + "\n"


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window or window <= 1:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def _plot_losses(runs: list[dict[str, Any]], path: Path, title: str) -> Path:
    fig, axes = subplots(1, 2, figsize=(12, 4.2), sharey=True)
    groups = {"sigmoid": axes[0], "relu": axes[1]}
    for r in runs:
        ax = groups[MODELS[r["name"]][1]]
        window = max(1, len(r["iteration_loss"]) // 100)
        ax.plot(_smooth(r["iteration_loss"], window), label=r["name"], linestyle="-" if MODELS[r["name"]][2] else "--")
    for activation, ax in groups.items():
        ax.set(title=f"{activation} networks (dashed: no BN, solid: BN)", xlabel="iteration",
               ylabel="training loss (moving average)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    return save_png(fig, path)


def _plot_histograms(run: dict[str, Any], key: str, path: Path) -> Path:
    """Grid of histograms: one row per layer kind (Affine, BatchNorm, Activation), one column per layer."""
    layers = run["layers"]
    kinds = [k for k in ("Affine", "BatchNorm", "Activation") if any(lr["kind"] == k for lr in layers)]
    if key == "grads":
        kinds = kinds[::-1]  # the backward pass meets the layers in reverse order
    depth = max(lr["layer"] for lr in layers)
    fig, axes = subplots(len(kinds), depth, figsize=(2.4 * depth, 2.0 * len(kinds)), squeeze=False)
    # one x range per row, so that shrinking (or exploding) spreads from layer to layer are visible
    ranges = {}
    for kind in kinds:
        row = np.concatenate([lr[key] for lr in layers if lr["kind"] == kind])
        if key == "values" and kind == "Activation":
            ranges[kind] = (float(row.min()), float(row.max()) or 1.0)
        else:
            spread = float(np.percentile(np.abs(row), 99.5)) or 1.0
            ranges[kind] = (-spread, spread)
    for lr in layers:
        ax = axes[kinds.index(lr["kind"]), lr["layer"] - 1]
        values = lr[key]
        ax.hist(values, bins=60, range=ranges[lr["kind"]], color="tab:blue" if key == "values" else "tab:red")
        ax.set_title(f"{lr['kind']} {lr['layer']}: std {values.std():.2g}", fontsize=8)
        ax.tick_params(labelsize=6)
        ax.locator_params(axis="x", nbins=3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-2, 3))
        ax.set_yticks([])
    what = "forward values" if key == "values" else "backward gradients"
    fig.suptitle(f"{run['name']}: {what} per layer (same x range along a row)")
    fig.tight_layout()
    return save_png(fig, path)


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("depth", __doc__)
    add_common_arguments(parser, "results/depth")
    parser.add_argument("--epochs", type=positive_int, default=10, help="epochs of a full run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args)
    print(table(results["runs"]))
    print(f"{results['dataset']}: 7 models in {results['seconds']:.1f} s ({results['machine']}); "
          f"wrote {Path(args.out).resolve()}/depth*.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
