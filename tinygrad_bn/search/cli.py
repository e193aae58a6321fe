"""`python -m tinygrad_bn search ...` and `search-report LOG`."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cli_types import nonnegative_int, positive_int
from ..data import DATASETS
from .objectives import MLPObjective
from .report import best_table, plot_log
from .runner import random_search, read_log
from .space import choice, integer, loguniform, one_minus_loguniform, refine

DEFAULT_SPACE = {
    "lr": loguniform(1e-3, 1.0),
    "momentum": one_minus_loguniform(0.5, 0.99),
    "hidden": integer(16, 256),
    "batchnorm": choice([True, False]),
}


def add_search_arguments(search: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `python -m tinygrad_bn search`."""
    search.add_argument("--dataset", choices=DATASETS, default="digits")
    search.add_argument("--data-dir", default=None)
    search.add_argument("--trials", type=positive_int, default=20, help="trials per round")
    search.add_argument("--rounds", type=positive_int, default=1, help="rounds; each after the first narrows the space")
    search.add_argument("--top-k", type=positive_int, default=5, help="best trials a refined round narrows around")
    search.add_argument("--epochs", type=positive_int, default=5)
    search.add_argument("--max-train", type=positive_int, default=None, help="use only this many training examples")
    search.add_argument("--jobs", type=positive_int, default=None, help="worker processes (default: number of cores)")
    search.add_argument("--seed", type=nonnegative_int, default=0)
    search.add_argument("--log", default="search.jsonl", help="JSON-lines log; rerunning resumes from it")
    search.add_argument("--no-progress", action="store_true")
    return search


def add_report_arguments(report: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `python -m tinygrad_bn search-report`."""
    report.add_argument("log")
    report.add_argument("--top", type=positive_int, default=10)
    report.add_argument("--plot", default=None, help="PNG path (default: the log's name with .png)")
    return report


def round_log(log: Path, round_index: int) -> Path:
    """Round 1 uses the log as given; later rounds `<stem>.round<k><suffix>` beside it."""
    return log if round_index == 1 else log.with_name(f"{log.stem}.round{round_index}{log.suffix}")


def search_command(args: argparse.Namespace) -> int:
    objective = MLPObjective(dataset=args.dataset, epochs=args.epochs, data_dir=args.data_dir, seed=args.seed,
                             max_train=args.max_train)
    space = dict(DEFAULT_SPACE)
    log = Path(args.log)
    best = None
    for k in range(1, args.rounds + 1):
        path = round_log(log, k)
        print(f"round {k}: {args.trials} trials, log {path}")
        for name, dim in space.items():
            print(f"  {name}: {dim}")
        result = random_search(objective, space, n_trials=args.trials, seed=args.seed + k - 1, jobs=args.jobs,
                               log=path, progress=not args.no_progress)
        print(best_table(result.trials, top=5))
        if best is None or result.best.value < best.value:
            best = result.best
        space = refine(space, result.trials, top_k=args.top_k)
    print(f"best dev error {best.value:.4f} with {best.config}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    header, trials = read_log(args.log)
    if header is None:
        print(f"search-report: {args.log} is not a search log (missing, or no header line)", file=sys.stderr)
        return 2
    print(best_table(trials, top=args.top))
    plot = Path(args.plot) if args.plot else Path(args.log).with_suffix(".png")
    print(f"wrote {plot_log(args.log, plot).resolve()}")
    return 0
