"""Experiment 4, beyond the source material: where should the normalization go?

On experiment 3's network and training (784 -> 32 -> 32 -> 10, Adam lr 0.01, batch 32, 10 epochs, PyTorch-style
initialization), four variants of the hidden blocks are compared: no normalization (Linear, ReLU), batch norm
before the activation (Linear, BatchNorm1d, ReLU, as in the original paper), batch norm after it (Linear, ReLU,
BatchNorm1d) and layer norm before it (Linear, LayerNorm, ReLU). The same per-epoch curves (evaluation mode,
whole training and validation sets) and the final test accuracies are recorded.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..parallel import map_jobs
from .adam import NOTES, data_text, describe_settings, figure_title, layers_description, plot_curves, prepare, train_one
from .common import Timer, add_common_arguments, experiment_parser, machine, write_json, write_text

VARIANTS = ("none", "bn_before", "bn_after", "ln_before")
LABELS = {"none": "no normalization", "bn_before": "BN before ReLU", "bn_after": "BN after ReLU",
          "ln_before": "LayerNorm before ReLU"}


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train the four variants, write placement.json/.png/.md into args.out, and return the results."""
    timer = Timer()
    data, settings = prepare(args)
    tasks = [dict(settings, variant=v, torch=False) for v in VARIANTS]
    runs = dict(zip(VARIANTS, map_jobs(train_one, tasks, args.jobs)))
    for v in VARIANTS:
        runs[v]["label"] = LABELS[v]
    results = {"experiment": "placement", **describe_settings(data, settings, args), "notes": NOTES[:3],
               "jobs": args.jobs, "machine": machine(), "runs": runs, "seconds": timer.seconds}
    out = Path(args.out)
    write_json(out / "placement.json", results)
    plot_curves(runs, out / "placement.png", figure_title("Where to normalize", results))
    write_text(out / "placement.md", table(results))
    return results


def table(results: dict[str, Any]) -> str:
    """Markdown table of the final metrics per variant."""
    lines = ["| variant | hidden blocks | train loss | train accuracy | validation loss | test accuracy | seconds |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for v, r in results["runs"].items():
        lines.append(f"| {r['label']} | {layers_description(v)} | {r['train_loss'][-1]:.4f} | "
                     f"{100 * r['train_acc'][-1]:.2f}% | {r['val_loss'][-1]:.4f} | {100 * r['test_accuracy']:.2f}% | "
                     f"{r['seconds']:.1f} |")
    lines.append("")
    lines.append(f"{data_text(results)}; {results['epochs']} epochs of Adam (lr {results['lr']}, batch "
                 f"{results['batch_size']}); metrics after the last epoch, in evaluation mode.")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("placement", __doc__)
    return add_common_arguments(parser, "results/placement")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    results = run(args)
    print(table(results))
    print(f"{data_text(results)}: {len(results['runs'])} trainings in {results['seconds']:.1f} s "
          f"({results['machine']}); wrote {Path(args.out).resolve()}/placement.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
