"""Experiment 3, a small network with Adam (a PyTorch example): does batch norm help a small MLP trained with Adam?

The network 784 -> 32 -> 32 -> 10 (input size taken from the data), built from nn.Sequential and nn.Linear
with its default PyTorch-style initialization, is trained with Adam (lr 0.01) on shuffled mini-batches of 32
(the last incomplete batch dropped) for 10 epochs, once with Linear, BatchNorm1d, ReLU blocks and once with
Linear, ReLU blocks. After each epoch the loss and accuracy on the whole training set and on the
validation (= test) set are measured in evaluation mode. Every seed (--seeds) trains both variants from the
same initial Linear weights, so the BN gain is measured per seed and reported as mean, standard deviation and
95% interval over the seeds. Published result (the example, on MNIST, one run): 95.55% test accuracy without
BN, 97.8% with BN.

Where PyTorch is installed, the same configuration is also trained in PyTorch from the same initial weights
on the same batches, in lockstep, as a check of this framework against the reference implementation.
With --dtype float64 (model, data and the PyTorch twin all in double precision) the two runs coincide over
the 10 epochs (loss curves within ~1e-7 relative on MNIST); in float32 (the default) they separate after a few
thousand Adam steps (see TORCH_NOTE and TORCH_NOTE_FLOAT64). The twin is made deterministic so that a rerun
gives the committed numbers: one thread, deterministic algorithms, and CPU-independent kernels (MKL_CBWR and
ATEN_CPU_CAPABILITY, see TORCH_ENVIRONMENT), set before torch is imported in the process that trains.
"""
from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from .. import nn, optim
from ..compiler import jit
from ..data import DataLoader, load_dataset
from ..nn import functional as F
from ..parallel import map_jobs
from ..plotting import save_png, subplots
from ..random import manual_seed
from ..serialization import ensure_writable_dir
from ..train import TrainStep, evaluate
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

HIDDEN = (32, 32)
LR = 0.01
BATCH_SIZE = 32
EPOCHS = 10
QUICK = dict(epochs=2, n_train=1000, n_test=500)
EVAL_BATCH = 1000
DTYPES = ("float32", "float64")
DEFAULT_SEEDS = 10  # the BN gain's seed-to-seed spread is ~0.8 points: 10 seeds put its interval well above 0
# Set before torch is imported, so that its float32 results do not depend on the CPU the twin runs on (MKL and
# ATen otherwise pick vector kernels, with different rounding, by CPU model and memory alignment).
TORCH_ENVIRONMENT = {"MKL_CBWR": "COMPATIBLE", "ATEN_CPU_CAPABILITY": "default", "OMP_NUM_THREADS": "1",
                     "MKL_NUM_THREADS": "1"}

# The layers after each hidden Linear, per variant (names of classes that tinygrad_bn.nn and torch.nn share).
VARIANTS: dict[str, tuple[str, ...]] = {
    "none": ("ReLU",),
    "bn_before": ("BatchNorm1d", "ReLU"),
    "bn_after": ("ReLU", "BatchNorm1d"),
    "ln_before": ("LayerNorm", "ReLU"),
}
LABELS = {"bn_before": "with BN", "none": "without BN"}
PUBLISHED = {"bn_before": 0.978, "none": 0.9555}
PUBLISHED_SOURCE = ("the PyTorch example of the source material: MNIST, 784-32-32-10, Adam lr 0.01, batch 32, "
                    "10 epochs")
CURVES = ("train_loss", "val_loss", "train_acc", "val_acc")
NOTES = [
    "Train and validation loss/accuracy are measured after each epoch in evaluation mode (BatchNorm uses its "
    "running statistics) over the whole training set and the whole validation (= test) set. The published "
    "example also evaluates in evaluation mode (inside torch.no_grad() it calls bn_model.eval() before "
    "measuring), but as the mean of per-batch values over batches of 32 with the last partial batch dropped "
    "(9,984 of the 10,000 test images).",
    "running_train_loss is the mean training-mode loss of the epoch's mini-batches (as the example printed it).",
    "The test accuracy is the validation accuracy after the last epoch: as in the example, the test set is the "
    "validation set (there is no separate model selection).",
    "For each seed both variants start from the same Linear weights (BatchNorm draws no random numbers) and see "
    "the same batches, so the BN gain is a paired difference per seed (the example built the two networks "
    "from different random weights, once).",
]
TORCH_NOTE = (
    "PyTorch twin: same initial state_dict, same batches, same order, float32, one thread, deterministic "
    "algorithms and CPU-independent kernels (settings.torch). With BN, the biases of the Linear "
    "layers before BatchNorm1d (comparison.bn_invariant_biases) have a true gradient of 0; both frameworks "
    "compute it as float rounding noise (~1e-8) of different sign, which Adam normalizes into steps of up to "
    "~lr/10, so those biases drift apart in a random walk. Training-mode outputs do not depend on them "
    "(running_train_loss agrees to float precision), but the running means follow them with a lag, so "
    "evaluation-mode curves differ slightly. The other parameters are compared separately "
    "(max_abs_param_diff_without_bn_invariant_biases; param_diff_by_epoch after each epoch). Over many steps "
    "any two float32 implementations separate: sooner or later a ReLU input lies within rounding error of 0 "
    "and gets different signs in the two (different summation orders), a whole gradient term differs, and "
    "Adam at lr 0.01 carries the difference on until the runs are different but statistically equivalent. "
    "Two PyTorch runs whose initial weights differ by one float32 ulp separate the same way."
)
TORCH_NOTE_FLOAT64 = (
    "PyTorch twin: same initial state_dict, same batches, same order, float64 (model, data and twin). Rounding "
    "differences are then ~1e-16 relative: the computed gradient of the biases before BatchNorm1d "
    "(comparison.bn_invariant_biases; true gradient 0) is far below Adam's eps = 1e-8, so Adam moves them by "
    "only ~lr * 1e-9 per step instead of ~lr/10 (they differ by ~1e-9 after 10 epochs), and no ReLU input comes "
    "within rounding error of 0, so the two runs coincide up to floating-point error (comparison.max_diff_by_curve, "
    "param_diff_by_epoch). Where the training itself amplifies small differences, float64 only delays the "
    "separation: on MNIST (8000 images, 250 steps per epoch) without BN the parameter difference stays ~1e-12 for "
    "five or six epochs, then grows by several decades in the last four (to ~1e-6 for seeds 0-4); PyTorch "
    "against itself from initial weights one float64 ulp apart grows the same way, so this is the sensitivity "
    "of the Adam trajectory, not a difference between the frameworks."
)


def layers_description(variant: str, hidden: tuple[int, ...] = HIDDEN) -> str:
    block = ", ".join(["Linear", *VARIANTS[variant]])
    return f"({block}) x {len(hidden)}, Linear"


def build_model(lib: Any, n_in: int, n_out: int, variant: str, hidden: tuple[int, ...] = HIDDEN) -> Any:
    """The network as `lib.Sequential` of `lib.Linear` and the variant's layers; `lib` is tinygrad_bn.nn or
    torch.nn, whose layers share names, arguments and state_dict keys."""
    layers = []
    for fan_in, fan_out in zip((n_in, *hidden[:-1]), hidden):
        layers.append(lib.Linear(fan_in, fan_out))
        layers += [getattr(lib, name)() if name == "ReLU" else getattr(lib, name)(fan_out)
                   for name in VARIANTS[variant]]
    layers.append(lib.Linear(hidden[-1], n_out))
    return lib.Sequential(*layers)


def torch_version() -> str | None:
    """The installed torch's version, without importing it (a parent process that forks workers should not
    have started torch's thread pools), or None where it is not installed."""
    if importlib.util.find_spec("torch") is None:
        return None
    return importlib.metadata.version("torch")


def import_torch() -> Any:
    """The torch module set up for reproducible runs, or None where it is not installed.

    TORCH_ENVIRONMENT only takes effect when this is the first import of torch in the process; the result
    records whether it did (torch_settings)."""
    fresh = "torch" not in __import__("sys").modules
    if fresh:
        for key, value in TORCH_ENVIRONMENT.items():
            os.environ.setdefault(key, value)
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    return torch


def torch_settings(torch: Any) -> dict[str, Any]:
    """What decides the twin's float32 rounding: threads, determinism, the kernels' environment."""
    return {"version": torch.__version__, "threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "environment": {key: os.environ.get(key) for key in TORCH_ENVIRONMENT}}


def _torch_evaluate(torch: Any, model: Any, x: np.ndarray, t: np.ndarray) -> tuple[float, float]:
    """(mean loss, accuracy) of a torch model in evaluation mode, over batches of EVAL_BATCH like `evaluate`."""
    was_training = model.training
    model.eval()
    total_loss = total_correct = 0.0
    with torch.no_grad():
        for start in range(0, len(x), EVAL_BATCH):
            xb = torch.from_numpy(np.ascontiguousarray(x[start:start + EVAL_BATCH]))
            yb = torch.from_numpy(np.ascontiguousarray(t[start:start + EVAL_BATCH]))
            logits = model(xb)
            total_loss += torch.nn.functional.cross_entropy(logits, yb).item() * len(xb)
            total_correct += (logits.argmax(dim=1) == yb).sum().item()
    model.train(was_training)
    return total_loss / len(x), total_correct / len(x)


def _empty_curves() -> dict[str, list[float]]:
    return {name: [] for name in (*CURVES, "running_train_loss")}


def _record(curves: dict[str, list[float]], train: tuple[float, float], val: tuple[float, float],
            running: float) -> None:
    for name, value in zip(CURVES, (train[0], val[0], train[1], val[1])):
        curves[name].append(float(value))
    curves["running_train_loss"].append(float(running))


def train_one(task: dict[str, Any]) -> dict[str, Any]:
    """Train one variant (and, with task['torch'], its PyTorch twin in lockstep); the per-epoch curves.

    task['dtype'] (default float32) is the floating dtype of the parameters, buffers, optimizer state and
    data of both frameworks; the initial weights are drawn in float32 and converted, so both dtypes start
    from the same values."""
    manual_seed(task["seed"])
    dtype = np.dtype(task.get("dtype", "float32"))
    x, t, xv, tv = (task[k] for k in ("x", "t", "x_val", "t_val"))
    x, xv = x.astype(dtype, copy=False), xv.astype(dtype, copy=False)
    n_out = int(max(t.max(), tv.max())) + 1
    model = build_model(nn, x.shape[1], n_out, task["variant"]).to(dtype)
    optimizer = optim.Adam(model.parameters(), lr=task["lr"])
    step = jit(TrainStep(model, F.cross_entropy, optimizer))  # compiled: the same numbers, bit for bit
    loader = DataLoader(x, t, task["batch_size"], shuffle=True, drop_last=True, seed=task["seed"])
    train_eval, val_eval = DataLoader(x, t, EVAL_BATCH), DataLoader(xv, tv, EVAL_BATCH)

    torch = import_torch() if task["torch"] else None
    if torch is not None:
        torch.manual_seed(task["seed"])  # draws nothing (the weights are ours), but no state is left to chance
        tmodel = build_model(torch.nn, x.shape[1], n_out, task["variant"]).to(getattr(torch, dtype.name))
        tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
        toptimizer = torch.optim.Adam(tmodel.parameters(), lr=task["lr"])
        tcurves, tseconds, diff_by_epoch = _empty_curves(), 0.0, []

    curves, seconds = _empty_curves(), 0.0
    for _ in range(task["epochs"]):
        model.train()
        running = trunning = 0.0
        steps = 0
        if torch is not None:
            tmodel.train()
        for xb, yb in loader:  # one pass over the batches feeds both frameworks the same arrays
            tick = time.perf_counter()
            loss, _ = step(xb, yb)
            running += loss.item()
            steps += 1
            seconds += time.perf_counter() - tick
            if torch is not None:
                tick = time.perf_counter()
                tloss = torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(xb.data)),
                                                          torch.from_numpy(yb.data))
                toptimizer.zero_grad()
                tloss.backward()
                toptimizer.step()
                trunning += tloss.item()
                tseconds += time.perf_counter() - tick
        if torch is not None:
            diff_by_epoch.append(_max_param_diff(model, tmodel))
        tick = time.perf_counter()
        _record(curves, evaluate(model, train_eval, F.cross_entropy), evaluate(model, val_eval, F.cross_entropy),
                running / steps)
        seconds += time.perf_counter() - tick
        if torch is not None:
            tick = time.perf_counter()
            _record(tcurves, _torch_evaluate(torch, tmodel, x, t), _torch_evaluate(torch, tmodel, xv, tv),
                    trunning / steps)
            tseconds += time.perf_counter() - tick

    result: dict[str, Any] = {"variant": task["variant"], "seed": task["seed"],
                              "layers": layers_description(task["variant"]),
                              "dtype": str(next(iter(model.parameters())).dtype), **curves,
                              "test_accuracy": curves["val_acc"][-1], "steps_per_epoch": steps, "seconds": seconds}
    if torch is not None:
        result["torch"] = {**tcurves, "test_accuracy": tcurves["val_acc"][-1], "seconds": tseconds,
                           "settings": torch_settings(torch)}
        result["comparison"] = compare(model, {k: v.detach().numpy() for k, v in tmodel.state_dict().items()},
                                       curves, tcurves)
        result["comparison"]["param_diff_by_epoch"] = diff_by_epoch
    return result


def _max_param_diff(model: Any, tmodel: Any) -> float:
    """Largest absolute difference of the parameters, except the BN-invariant biases, between the twins."""
    theirs = dict(tmodel.named_parameters())
    skip = set(bn_invariant_biases(model))
    return max(float(np.max(np.abs(p.data - theirs[k].detach().numpy()))) for k, p in model.named_parameters()
               if k not in skip)


def bn_invariant_biases(model: Any) -> list[str]:
    """Names of the biases of Linear layers followed directly by BatchNorm1d. Batch norm subtracts the batch
    mean, so the loss does not depend on them: their gradient is 0 up to float rounding, and Adam, which divides
    by the gradient's RMS, turns that rounding noise into steps of up to ~lr/10 in random directions."""
    layers = list(model)
    return [f"{i}.bias" for i, (a, b) in enumerate(zip(layers, layers[1:]))
            if type(a).__name__ == "Linear" and type(b).__name__ == "BatchNorm1d" and a.bias is not None]


def compare(model: Any, theirs: dict[str, np.ndarray], curves: dict[str, list[float]],
            tcurves: dict[str, list[float]]) -> dict[str, Any]:
    """Largest differences between the final states of `model` and of PyTorch's twin, and between their curves
    (losses relative, accuracies absolute)."""
    ours = model.state_dict()
    parameters = {name for name, _ in model.named_parameters()}
    invariant = bn_invariant_biases(model)
    by_key = {k: float(np.max(np.abs(ours[k].astype(np.float64) - theirs[k].astype(np.float64)), initial=0.0))
              for k in ours}
    by_curve = {name: max((abs(a - b) / max(abs(b), 1e-12) if name.endswith("loss") else abs(a - b))
                          for a, b in zip(curves[name], tcurves[name])) for name in curves}
    others = [v for k, v in by_key.items() if k in parameters and k not in invariant]
    buffers = [v for k, v in by_key.items() if k not in parameters]
    return {
        "max_abs_param_diff": max(v for k, v in by_key.items() if k in parameters),
        "bn_invariant_biases": invariant,
        "max_abs_param_diff_without_bn_invariant_biases": max(others),
        "max_abs_buffer_diff": max(buffers) if buffers else None,
        "max_abs_diff_by_key": by_key,
        "max_diff_by_curve": by_curve,
        "max_rel_loss_diff": max(v for k, v in by_curve.items() if k.endswith("loss")),
        "max_abs_acc_diff": max(v for k, v in by_curve.items() if k.endswith("acc")),
    }


def prepare(args: argparse.Namespace, dtype: str = "float32") -> tuple[Any, dict[str, Any]]:
    """The data (features in `dtype`) and the settings shared by every variant and seed (quick mode: small and
    short)."""
    data = load_dataset(args.dataset, args.data_dir)
    n_train, n_test = len(data.x_train), len(data.x_test)
    epochs = EPOCHS
    if args.quick:
        n_train, n_test, epochs = min(n_train, QUICK["n_train"]), min(n_test, QUICK["n_test"]), QUICK["epochs"]
    settings = dict(x=data.x_train[:n_train].astype(dtype), t=data.t_train[:n_train],
                    x_val=data.x_test[:n_test].astype(dtype), t_val=data.t_test[:n_test], lr=LR,
                    batch_size=BATCH_SIZE, epochs=epochs, dtype=dtype)
    return data, settings


def describe_settings(data: Any, settings: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    x = settings["x"]
    return {"dataset": data.describe(), "dataset_name": data.name, "n_train": len(x), "n_val": len(settings["x_val"]),
            "sizes": [x.shape[1], *HIDDEN, int(max(settings["t"].max(), settings["t_val"].max())) + 1],
            "epochs": settings["epochs"], "batch_size": BATCH_SIZE, "drop_last": True, "optimizer": "Adam",
            "lr": LR, "dtype": settings.get("dtype", "float32"), "seeds": seed_list(args), "quick": args.quick}


def train_variants(args: argparse.Namespace, variants: tuple[str, ...], torch: bool, dtype: str = "float32"
                   ) -> tuple[Any, dict[str, Any], list[dict[str, Any]]]:
    """Train every variant for every seed (in parallel with --jobs); (data, settings, one run per seed and
    variant, seed-major)."""
    data, settings = prepare(args, dtype)
    tasks = [dict(settings, variant=v, seed=seed, torch=torch) for seed in seed_list(args) for v in variants]
    return data, settings, map_jobs(train_one, tasks, args.jobs)


def _values(runs: list[dict[str, Any]], variant: str, key: str, twin: bool = False) -> list[float]:
    """Per seed (in seed order), the final value of `key` ('test_accuracy' or a curve) of `variant`."""
    out = []
    for r in runs:
        if r["variant"] == variant:
            source = r["torch"] if twin else r
            value = source[key]
            out.append(value[-1] if isinstance(value, list) else value)
    return out


def summarize_variants(runs: list[dict[str, Any]], labels: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Per variant: its final test accuracy and losses over the seeds (and the PyTorch twin's, if trained)."""
    summary = {}
    for v, label in labels.items():
        mine = [r for r in runs if r["variant"] == v]
        entry: dict[str, Any] = {"label": label, "layers": mine[0]["layers"]}
        for key in ("test_accuracy", "train_loss", "val_loss", "train_acc"):
            entry[key] = summarize(_values(runs, v, key))
        if all("torch" in r for r in mine):
            entry["torch_test_accuracy"] = summarize(_values(runs, v, "test_accuracy", twin=True))
        summary[v] = entry
    return summary


def paired_difference(runs: list[dict[str, Any]], better: str, worse: str, twin: bool = False) -> dict[str, Any]:
    """Per seed, test accuracy of `better` minus that of `worse` (same seed: same initial weights and batches),
    summarized over the seeds, with how many seeds it is positive for."""
    diffs = [a - b for a, b in zip(_values(runs, better, "test_accuracy", twin),
                                   _values(runs, worse, "test_accuracy", twin))]
    return {**summarize(diffs), "positive_for": sum(d > 0 for d in diffs)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train with and without BN (and in PyTorch) for every seed, write adam.json/.png/.md into args.out, and
    return the results."""
    ensure_writable_dir(args.out, what="--out folder")  # before any training: results are never lost
    timer = Timer()
    version = None if args.no_torch else torch_version()
    data, settings, runs = train_variants(args, tuple(LABELS), torch=version is not None, dtype=args.dtype)
    for r in runs:
        r["label"] = LABELS[r["variant"]]
    headline: dict[str, Any] = {"bn_gain": paired_difference(runs, "bn_before", "none")}
    if version is not None:
        headline["bn_gain_torch"] = paired_difference(runs, "bn_before", "none", twin=True)
    headline["bn_gain_published"] = PUBLISHED["bn_before"] - PUBLISHED["none"]
    results = {"command": getattr(args, "command_line", None),
               "experiment": "adam", **describe_settings(data, settings, args),
               "published": {"source": PUBLISHED_SOURCE, "test_accuracy": {LABELS[v]: PUBLISHED[v] for v in LABELS}},
               "torch": version, "notes": NOTES + ([torch_note(args.dtype)] if version is not None else []),
               "headline": headline, "summary": summarize_variants(runs, LABELS), "jobs": args.jobs,
               "machine": machine(), "seconds": timer.seconds, "runs": runs}
    for v, entry in results["summary"].items():
        entry["published_test_accuracy"] = PUBLISHED[v]
    out = Path(args.out)
    write_json(out / "adam.json", results)
    plot_curves(runs, LABELS, out / "adam.png", figure_title(f"Small network with Adam, {args.dtype}", results),
                dtype=args.dtype)
    write_text(out / "adam.md", table(results))
    return results


def torch_note(dtype: str) -> str:
    return TORCH_NOTE_FLOAT64 if dtype == "float64" else TORCH_NOTE


def title(results: dict[str, Any]) -> str:
    """The dataset's name with the numbers of examples actually used."""
    return f"{results['dataset_name']}, {results['n_train']} train / {results['n_val']} validation examples"


def figure_title(name: str, results: dict[str, Any]) -> str:
    sizes = "-".join(map(str, results["sizes"]))
    return (f"{name}: {sizes}, Adam lr {results['lr']}, batch {results['batch_size']}, {results['epochs']} epochs\n"
            f"{data_text(results)}\nevaluation mode after each epoch; {seeds_text(results['seeds'])}; {BAND_NOTE}")


def data_text(results: dict[str, Any]) -> str:
    """The dataset's description, naming the subsets a quick run used."""
    if not results["quick"]:
        return str(results["dataset"])
    return f"{title(results)} (quick run on subsets of {results['dataset']})"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def table(results: dict[str, Any]) -> str:
    """Markdown table of the test accuracies over the seeds: ours, published, PyTorch from the same start."""
    summary, h = results["summary"], results["headline"]
    lines = ["| network | test accuracy (%), ours | published example | PyTorch twin, same init and batches |",
             "| --- | ---: | ---: | ---: |"]
    for r in summary.values():
        lines.append(f"| {r['label']}: {r['layers']} | {interval_text(r['test_accuracy'])} | "
                     f"{_pct(r['published_test_accuracy'])} | {interval_text(r.get('torch_test_accuracy'))} |")
    gain = (f"BN gain (with minus without, paired by seed), points: ours {interval_text(h['bn_gain'], signed=True)}, "
            f"positive for {h['bn_gain']['positive_for']}/{h['bn_gain']['n']} seeds")
    if "bn_gain_torch" in h:
        gain += (f"; PyTorch twin {interval_text(h['bn_gain_torch'], signed=True)}, positive for "
                 f"{h['bn_gain_torch']['positive_for']}/{h['bn_gain_torch']['n']}")
    gain += f"; published {100 * h['bn_gain_published']:+.2f} (one run)."
    dtype = results.get("dtype", "float32")
    lines += ["", gain, "",
              f"{data_text(results)}; {results['epochs']} epochs of Adam (lr {results['lr']}, batch "
              f"{results['batch_size']}, {dtype}); {seeds_text(results['seeds'])}. Cells: mean ± standard deviation "
              "[95% t-interval of the mean]. Accuracies in evaluation mode on the whole test set (the published "
              "example also evaluated in evaluation mode, averaging over batches of 32 without the last partial "
              "batch)."]
    diffs = [(r["label"], r["seed"], r["comparison"]) for r in results["runs"] if "comparison" in r]
    if diffs:
        def worst(key: str, label: str, index: int | None = None) -> float:
            return float(max((c[key][index] if index is not None else c[key]) for lab, _, c in diffs if lab == label))

        labels = list(dict.fromkeys(label for label, _, _ in diffs))
        lines.append("")
        lines.append(f"PyTorch twin ({dtype}, same initial weights, same batches in the same order), largest absolute "
                     "parameter difference after the first / last epoch, worst seed: " + "; ".join(
                         f"{label} {worst('param_diff_by_epoch', label, 0):.1e} / "
                         f"{worst('param_diff_by_epoch', label, -1):.1e}" for label in labels)
                     + " (without the biases before BN, which get no true gradient and drift on rounding noise); "
                     "largest relative difference of the loss curves: " + "; ".join(
                         f"{label} {worst('max_rel_loss_diff', label):.1e}" for label in labels) + ". "
                     + ("In float64 the rounding differences stay far below Adam's eps and the runs coincide; "
                        if dtype == "float64" else
                        "Over many Adam steps float32 rounding differences grow until the runs separate "
                        "(they coincide with --dtype float64); ")
                     + "see the notes in adam.json.")
    return "\n".join(lines) + "\n"


COLORS = {"bn_before": "tab:blue", "none": "tab:orange", "bn_after": "tab:green", "ln_before": "tab:purple"}
PANELS = (("train_loss", "train loss"), ("val_loss", "validation loss"), ("train_acc", "train accuracy"),
          ("val_acc", "validation accuracy"))


def plot_curves(runs: list[dict[str, Any]], labels: dict[str, str], path: Path, title: str,
                dtype: str | None = None) -> Path:
    """2x2 panels (train/validation loss and accuracy per epoch): per variant, the mean over seeds with a band
    of one standard deviation; the PyTorch twin's mean dashed. With `dtype`, the legend names it."""
    suffix = f" ({dtype})" if dtype else ""
    fig, axes = subplots(2, 2, figsize=(10, 7.4), sharex=True)
    for ax, (key, name) in zip(axes.flat, PANELS):
        for variant, label in labels.items():
            mine = [r for r in runs if r["variant"] == variant]
            twin = all("torch" in r for r in mine)
            plot_band(ax, [r[key] for r in mine], marker="o", ms=4, lw=3 if twin else 1.8,
                      alpha=0.6 if twin else 1.0, color=COLORS[variant], label=label + suffix)
            if twin:
                twin_mean = np.mean([r["torch"][key] for r in mine], axis=0)
                ax.plot(np.arange(1, len(twin_mean) + 1), twin_mean, "--", lw=1.3, color=COLORS[variant],
                        label=f"{label}, PyTorch{suffix}")
        ax.set_title(name)
        ax.set_ylabel("accuracy" if key.endswith("acc") else "cross-entropy loss")
        ax.grid(alpha=0.3)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[1]:
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_png(fig, path)


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("adam", __doc__)
    add_common_arguments(parser, "results/adam", DEFAULT_SEEDS)
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="floating dtype of the model, the data and the PyTorch twin (float64: the twins "
                             "coincide up to rounding for the whole run)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = command_line("adam", argv)
    results = run(args)
    print(table(results))
    frameworks = "tinygrad_bn and PyTorch" if results["torch"] else "tinygrad_bn"
    print(f"{data_text(results)}, {results['dtype']}: {len(results['runs'])} trainings ({frameworks}) in "
          f"{results['seconds']:.1f} s ({results['machine']}); wrote {Path(args.out).resolve()}/adam.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
