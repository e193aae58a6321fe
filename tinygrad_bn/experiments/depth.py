"""Experiment 2, depth, activation and learning rate (a published notebook): deep sigmoid networks that do
not learn, learn with batch norm.

Seven MLPs with input 784, hidden width 300 and ten classes, trained with plain SGD (batch 100). The depth
follows the source's diagrams: S3 is Input -> Dense -> Dense -> Softmax (two weight layers, one hidden
layer), S4 has three Dense layers (two hidden), and the six-layer models five Dense layers (four hidden):

    S3        1 hidden, sigmoid,      lr 0.01        S6_BN_lr  4 hidden, sigmoid, BN, lr 0.01
    S4        2 hidden, sigmoid,      lr 0.01        S6_BN     4 hidden, sigmoid, BN, lr 0.5
    R6        4 hidden, ReLU,         lr 0.01        R6_BN     4 hidden, ReLU, BN,    lr 0.1
    R6_lr     4 hidden, ReLU,         lr 0.1

What the source leaves open is assumed here: Xavier initialization (std sqrt(1/fan_in)) for sigmoid and He
(sqrt(2/fan_in)) for ReLU, zero biases, BN's gamma 1 and beta 0 (Deep Learning from Scratch, which the
source cites); BN eps 1e-6 (the source's BatchNorm class); batch 100 and --epochs (default 10).
Every model is trained once per seed (--seeds); losses and accuracies are reported as mean, standard
deviation and 95% interval over the seeds, and the curves as a mean with a band.
Outputs: the training-loss curves of each, and for S4 and S6_BN_lr histograms of the values every layer
(Affine, BatchNorm, Activation) outputs in the forward pass and of the gradients it passes back (first seed).
Published result: S3 learns, S4 barely does; S6_BN_lr learns, even at lr 0.5; BN keeps the activations
spread out and the gradients alive down to the first layer.
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
from ..serialization import ensure_writable_dir
from ..tensor import Tensor
from ..train import TrainingDivergedError, evaluate, fit
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

MODELS = {  # name: (hidden layers, activation, batch norm, learning rate); the source's Dense count minus one
    "S3": (1, "sigmoid", False, 0.01),
    "S4": (2, "sigmoid", False, 0.01),
    "R6": (4, "relu", False, 0.01),
    "R6_lr": (4, "relu", False, 0.1),
    "S6_BN_lr": (4, "sigmoid", True, 0.01),
    "S6_BN": (4, "sigmoid", True, 0.5),
    "R6_BN": (4, "relu", True, 0.1),
}
HISTOGRAM_MODELS = ("S4", "S6_BN_lr")
KIND = {"Linear": "Affine", "BatchNorm1d": "BatchNorm", "Sigmoid": "Activation", "ReLU": "Activation"}
BN_EPS = 1e-6  # the source's BatchNorm class
BATCH_SIZE = 100
DEFAULT_SEEDS = 5
# the claims of the source, as differences of final training loss between two models (paired by seed)
CONTRASTS = (("S4", "S3", "deepening the sigmoid net from S3 to S4 slows learning"),
             ("S4", "S6_BN_lr", "with BN, the deeper sigmoid net learns better than S4"),
             ("R6_lr", "R6_BN", "at lr 0.1, ReLU with BN ends below ReLU without"))


def build(name: str, inputs: int, classes: int, width: int) -> nn.MLP:
    layers, activation, batchnorm, _ = MODELS[name]
    init = "xavier" if activation == "sigmoid" else "he"  # the source material's pairing
    return nn.MLP(inputs, [width] * layers, classes, activation=activation, weight_init_std=init,
                  batchnorm=batchnorm, bn_eps=BN_EPS)


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


def _round(values: list[float]) -> list[float]:
    """Four significant digits: enough for the curves, and the JSON of every seed's iterations stays small."""
    return [float(f"{v:.4g}") for v in values]


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one model for one seed with `fit`: per-iteration and per-epoch losses, test accuracy, and layer
    statistics (the histograms' raw values too, if asked)."""
    manual_seed(task["seed"])
    x, t, xt, tt = task["x"], task["t"], task["x_test"], task["t_test"]
    name = task["name"]
    model = build(name, x.shape[1], int(t.max()) + 1, task["width"])
    optimizer = optim.SGD(model.parameters(), lr=MODELS[name][3])
    loader = DataLoader(x, t, task["batch_size"], shuffle=True, seed=task["seed"])
    iteration_loss: list[float] = []
    epoch_loss: list[float] = []
    diverged = None
    try:
        fit(model, F.cross_entropy, optimizer, loader, task["epochs"], progress=False,
            step_callbacks=[lambda epoch, step, loss: iteration_loss.append(loss)],
            callbacks=[lambda epoch, history: epoch_loss.append(history.train_loss[-1])])
    except TrainingDivergedError:
        diverged = len(epoch_loss) + 1
    with np.errstate(over="ignore", invalid="ignore"):
        test_loss, test_acc = evaluate(model, DataLoader(xt, tt, 1000), F.cross_entropy)
    result = {"name": name, "seed": task["seed"], "iteration_loss": _round(iteration_loss), "epoch_loss": epoch_loss,
              "test_loss": test_loss, "test_acc": test_acc, "diverged_at_epoch": diverged}
    if name in HISTOGRAM_MODELS:
        probe = np.random.default_rng(task["seed"]).choice(len(x), size=min(1000, len(x)), replace=False)
        layers = layer_values(model, Tensor(x[probe]), t[probe])
        result["layer_stats"] = [{"layer": lr["layer"], "kind": lr["kind"], "value_std": float(lr["values"].std()),
                                  "grad_std": float(lr["grads"].std())} for lr in layers]
        if task["histograms"]:
            result["layers"] = layers
    return result


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train every model for every seed; write depth.json/.md and the figures into args.out; return the results."""
    ensure_writable_dir(args.out, what="--out folder")  # before any training: results are never lost
    timer = Timer()
    seeds = seed_list(args)
    data = load_dataset(args.dataset, args.data_dir)
    epochs, width, limit = (2, 50, 1000) if args.quick else (args.epochs, 300, None)
    x, t = data.x_train[:limit], data.t_train[:limit]
    xt, tt = data.x_test[:limit], data.t_test[:limit]
    tasks = [dict(name=name, x=x, t=t, x_test=xt, t_test=tt, width=width, epochs=epochs, batch_size=BATCH_SIZE,
                  seed=seed, histograms=seed == seeds[0]) for seed in seeds for name in MODELS]
    trained = map_jobs(train_one, tasks, args.jobs)
    runs = [{k: v for k, v in r.items() if k != "layers"} for r in trained]
    results = {"command": getattr(args, "command_line", None),
               "experiment": "depth", "dataset": data.describe(), "dataset_name": data.name, "n_train": len(x),
               "n_test": len(xt), "epochs": epochs, "width": width, "batch_size": BATCH_SIZE, "bn_eps": BN_EPS,
               "init": {"sigmoid": "xavier: N(0, 1/fan_in)", "relu": "he: N(0, 2/fan_in)", "bias": 0.0},
               "models": {name: dict(zip(("hidden_layers", "activation", "batchnorm", "lr"), spec))
                          for name, spec in MODELS.items()},
               "seeds": seeds, "quick": args.quick, "seconds": timer.seconds, "jobs": args.jobs,
               "machine": machine(), "summary": summarize_models(runs), "contrasts": contrasts(runs),
               "layer_stats": summarize_layers(runs), "runs": runs}
    out = Path(args.out)
    write_json(out / "depth.json", results)
    write_text(out / "depth.md", table(results))
    _plot_losses(runs, out / "depth_loss.png", figure_title(results))
    for r in trained:
        if "layers" in r:
            _plot_histograms(r, "values", out / f"depth_forward_{r['name']}.png")
            _plot_histograms(r, "grads", out / f"depth_backward_{r['name']}.png")
    return results


def _final_loss(run: dict[str, Any]) -> float | None:
    return None if run["diverged_at_epoch"] or not run["epoch_loss"] else run["epoch_loss"][-1]


def summarize_models(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per model: final training loss (runs that did not diverge) and test accuracy over the seeds."""
    summary = {}
    for name in MODELS:
        mine = [r for r in runs if r["name"] == name]
        finals = [v for v in map(_final_loss, mine) if v is not None]
        summary[name] = {"final_train_loss": summarize(finals) if finals else None,
                         "test_acc": summarize([r["test_acc"] for r in mine if not r["diverged_at_epoch"]])
                         if any(not r["diverged_at_epoch"] for r in mine) else None,
                         "diverged": sum(1 for r in mine if r["diverged_at_epoch"]), "seeds": len(mine)}
    return summary


def contrasts(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The source's claims as per-seed differences of final training loss, worse model minus better model
    (positive: the claim holds for that seed), summarized over the seeds where neither diverged."""
    by = {(r["name"], r["seed"]): _final_loss(r) for r in runs}
    seeds = sorted({r["seed"] for r in runs})
    out = []
    for worse, better, claim in CONTRASTS:
        diffs = [loss_worse - loss_better for s in seeds
                 if (loss_worse := by.get((worse, s))) is not None and (loss_better := by.get((better, s))) is not None]
        out.append({"worse": worse, "better": better, "claim": claim,
                    "loss_difference": summarize(diffs) if diffs else None,
                    "holds_for_seeds": sum(d > 0 for d in diffs), "seeds": len(diffs)})
    return out


def summarize_layers(runs: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Per histogram model and layer: the standard deviation of its forward values and backward gradients,
    summarized over the seeds."""
    stats = {}
    for name in HISTOGRAM_MODELS:
        mine = [r["layer_stats"] for r in runs if r["name"] == name and "layer_stats" in r]
        if not mine:
            continue
        stats[name] = [{"layer": layer["layer"], "kind": layer["kind"],
                        "value_std": summarize([m[i]["value_std"] for m in mine]),
                        "grad_std": summarize([m[i]["grad_std"] for m in mine])} for i, layer in enumerate(mine[0])]
    return stats


def table(results: dict[str, Any]) -> str:
    """Markdown table per model: final training loss and test accuracy over the seeds, then the contrasts."""
    lines = ["| model | hidden | activation | BN | lr | final train loss | test accuracy (%) |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: |"]
    for name, s in results["summary"].items():
        layers, act, bn, lr = MODELS[name]
        loss = interval_text(s["final_train_loss"], scale=1.0, digits=4)
        if s["diverged"]:
            loss = f"{loss}; diverged in {s['diverged']}/{s['seeds']}"
        lines.append(f"| {name} | {layers} | {act} | {'yes' if bn else 'no'} | {lr} | {loss} | "
                     f"{interval_text(s['test_acc'], digits=2)} |")
    lines += ["", f"{data_text(results)}; {results['epochs']} epochs of SGD, batch {results['batch_size']}, BN eps "
              f"{results['bn_eps']}; {seeds_text(results['seeds'])}. Cells: mean ± standard deviation [95% "
              "t-interval of the mean]; the final training loss is the mean over the last epoch's mini-batches.",
              "", "| claim | final train loss, difference | holds for |", "| --- | ---: | ---: |"]
    for c in results["contrasts"]:
        lines.append(f"| {c['claim']} ({c['worse']} - {c['better']}) | "
                     f"{interval_text(c['loss_difference'], scale=1.0, digits=4, signed=True)} | "
                     f"{c['holds_for_seeds']}/{c['seeds']} seeds |")
    return "\n".join(lines) + "\n"


def data_text(results: dict[str, Any]) -> str:
    if not results["quick"]:
        return str(results["dataset"])
    return (f"{results['dataset_name']}, {results['n_train']} train / {results['n_test']} test examples (quick run "
            f"on subsets of {results['dataset']}; hidden width {results['width']})")


def figure_title(results: dict[str, Any]) -> str:
    return (f"{results['dataset_name']}: {results['n_train']} training images, {results['epochs']} epochs, batch "
            f"{results['batch_size']}, hidden width {results['width']}; {seeds_text(results['seeds'])}; {BAND_NOTE}")


def _smooth(values: list[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window or window <= 1:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def _plot_losses(runs: list[dict[str, Any]], path: Path, title: str) -> Path:
    fig, axes = subplots(1, 2, figsize=(12, 4.4), sharey=True)
    groups = {"sigmoid": axes[0], "relu": axes[1]}
    for name, (_, activation, batchnorm, _) in MODELS.items():
        curves = [r["iteration_loss"] for r in runs if r["name"] == name and not r["diverged_at_epoch"]]
        if not curves:
            continue
        window = max(1, len(curves[0]) // 100)
        plot_band(groups[activation], [_smooth(c, window) for c in curves], x=None, label=name,
                  linestyle="-" if batchnorm else "--")
    for activation, ax in groups.items():
        ax.set(title=f"{activation} networks (dashed: no BN, solid: BN)", xlabel="iteration",
               ylabel="training loss (moving average)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title, fontsize=10)
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
    fig.suptitle(f"{run['name']}: {what} per layer after training, seed {run['seed']} "
                 "(same x range along a row)")
    fig.tight_layout()
    return save_png(fig, path)


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("depth", __doc__)
    add_common_arguments(parser, "results/depth", DEFAULT_SEEDS)
    parser.add_argument("--epochs", type=positive_int, default=10, help="epochs of a full run")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = command_line("depth", argv)
    results = run(args)
    print(table(results))
    print(f"{data_text(results)}: {len(results['runs'])} trainings in {results['seconds']:.1f} s "
          f"({results['machine']}); "
          f"wrote {Path(args.out).resolve()}/depth*.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
