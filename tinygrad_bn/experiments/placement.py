"""Experiment 4, beyond the source material: where should the normalization go?

On experiment 3's network and training (784 -> 32 -> 32 -> 10, Adam lr 0.01, batch 32, 10 epochs, PyTorch-style
initialization), four variants of the hidden blocks are compared: no normalization (Linear, ReLU), batch norm
before the activation (Linear, BatchNorm1d, ReLU, as in the original paper), batch norm after it (Linear, ReLU,
BatchNorm1d) and layer norm before it (Linear, LayerNorm, ReLU). The same per-epoch curves (evaluation mode,
whole training and validation sets) and the final test accuracies are recorded, for every seed (--seeds; all
four variants of a seed start from the same Linear weights), and the comparisons are paired differences per
seed with their mean, standard deviation and 95% interval.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..serialization import ensure_writable_dir
from .adam import (
    NOTES,
    data_text,
    describe_settings,
    figure_title,
    paired_difference,
    plot_curves,
    summarize_variants,
    train_variants,
)
from .common import (
    Timer,
    add_common_arguments,
    command_line,
    experiment_parser,
    interval_text,
    machine,
    seeds_text,
    write_json,
    write_text,
)

VARIANTS = ("none", "bn_before", "bn_after", "ln_before")
LABELS = {"none": "no normalization", "bn_before": "BN before ReLU", "bn_after": "BN after ReLU",
          "ln_before": "LayerNorm before ReLU"}
DEFAULT_SEEDS = 10
PAIRING_NOTE = ("For each seed the four variants start from the same Linear weights (the normalization layers draw "
                "no random numbers) and see the same batches, so each comparison is a paired difference per seed.")
# (better, worse): the comparisons the docs make, each as a per-seed difference of test accuracy
COMPARISONS = (("bn_before", "none"), ("bn_before", "bn_after"), ("ln_before", "bn_before"), ("ln_before", "none"),
               ("bn_after", "none"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train the four variants for every seed, write placement.json/.png/.md into args.out; return the results."""
    ensure_writable_dir(args.out, what="--out folder")  # before any training: results are never lost
    timer = Timer()
    data, settings, runs = train_variants(args, VARIANTS, torch=False)
    for r in runs:
        r["label"] = LABELS[r["variant"]]
    comparisons = [{"better": a, "worse": b, "label": f"{LABELS[a]} - {LABELS[b]}", **paired_difference(runs, a, b)}
                   for a, b in COMPARISONS]
    results = {"command": getattr(args, "command_line", None),
               "experiment": "placement", **describe_settings(data, settings, args),
               "notes": [*NOTES[:3], PAIRING_NOTE],
               "summary": summarize_variants(runs, LABELS), "comparisons": comparisons, "jobs": args.jobs,
               "machine": machine(), "seconds": timer.seconds, "runs": runs}
    out = Path(args.out)
    write_json(out / "placement.json", results)
    plot_curves(runs, LABELS, out / "placement.png", figure_title("Where to normalize", results))
    write_text(out / "placement.md", table(results))
    return results


def table(results: dict[str, Any]) -> str:
    """Markdown tables: final metrics per variant, then the paired differences, over the seeds."""
    lines = ["| variant | hidden blocks | train loss | validation loss | test accuracy (%) |",
             "| --- | --- | ---: | ---: | ---: |"]
    for r in results["summary"].values():
        lines.append(f"| {r['label']} | {r['layers']} | {interval_text(r['train_loss'], 1.0, 4)} | "
                     f"{interval_text(r['val_loss'], 1.0, 4)} | {interval_text(r['test_accuracy'])} |")
    lines += ["", "| comparison (paired by seed) | test accuracy difference, points | positive for |",
              "| --- | ---: | ---: |"]
    for c in results["comparisons"]:
        lines.append(f"| {c['label']} | {interval_text(c, signed=True)} | {c['positive_for']}/{c['n']} seeds |")
    lines.append("")
    lines.append(f"{data_text(results)}; {results['epochs']} epochs of Adam (lr {results['lr']}, batch "
                 f"{results['batch_size']}); {seeds_text(results['seeds'])}; metrics after the last epoch, in "
                 "evaluation mode. Cells: mean ± standard deviation [95% t-interval of the mean].")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    parser = experiment_parser("placement", __doc__)
    return add_common_arguments(parser, "results/placement", DEFAULT_SEEDS)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.command_line = command_line("placement", argv)
    results = run(args)
    print(table(results))
    print(f"{data_text(results)}: {len(results['runs'])} trainings in {results['seconds']:.1f} s "
          f"({results['machine']}); wrote {Path(args.out).resolve()}/placement.{{json,png,md}}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
