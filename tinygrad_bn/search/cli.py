"""`python -m tinygrad_bn search ...` and `search-report LOG`.

`search` refuses (exit status 2, one line naming the differences) to resume from a log written by a search
with other settings: reusing its trials would report another search's results as this one's. `--new-log`
moves the old logs aside (never deletes them) and starts again; more `--trials` resume.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path
from typing import Any

from ..cli_types import nonnegative_int, positive_int
from ..data import DATASETS
from .objectives import MLPObjective
from .report import best_table, format_space, plot_log, round_log, round_logs, round_report
from .runner import LogMismatchError, Trial, check_log, random_search, read_log, search_header, value_key
from .space import choice, integer, loguniform, one_minus_loguniform, refine, space_from_dict

DEFAULT_SPACE = {
    "lr": loguniform(1e-3, 1.0),
    "momentum": one_minus_loguniform(0.5, 0.99),
    "hidden": integer(16, 256),
    "batchnorm": choice([True, False]),
}
MARGIN, SHRINK = 0.5, 0.5  # refine's margin and shrink for the rounds after the first

__all__ = ["DEFAULT_SPACE", "add_search_arguments", "add_report_arguments", "search_command", "report_command",
           "round_log", "move_aside"]


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
    search.add_argument("--log", default="search.jsonl",
                        help="JSON-lines log; rerunning the same search resumes from it, another search is refused")
    search.add_argument("--new-log", action="store_true",
                        help="move existing logs aside (to <stem>.old<n><suffix>) and start a new search")
    search.add_argument("--scheduler", metavar="ADDRESS", default=None,
                        help="run the trials on a Dask cluster, e.g. tcp://host:8786 (needs dask[distributed]; "
                             "--jobs is then ignored)")
    search.add_argument("--no-progress", action="store_true")
    return search


def add_report_arguments(report: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The options of `python -m tinygrad_bn search-report`."""
    report.add_argument("log", help="round 1's log; the later rounds' <stem>.round<k> logs beside it are read too")
    report.add_argument("--top", type=positive_int, default=10)
    report.add_argument("--plot", default=None, help="PNG path (default: the log's name with .png)")
    return report


def _error(command: str, message: str) -> int:
    """A user mistake: one line on stderr, exit status 2 (as argparse's usage errors)."""
    print(f"python -m tinygrad_bn {command}: error: {message}", file=sys.stderr)
    return 2


def move_aside(log: str | os.PathLike) -> list[tuple[Path, Path]]:
    """Rename the logs of every round of `log`'s search to `<stem>.old<n>...` (the smallest n that clashes
    with nothing), keeping them together as one readable search; returns the (old, new) paths."""
    log = Path(log)
    existing = [p for p in round_logs(log) if p.exists()]
    if not existing:
        return []
    n = 1
    while True:
        moved = [(p, p.with_name(f"{log.stem}.old{n}" + p.name[len(log.stem):])) for p in existing]
        if not any(new.exists() for _, new in moved):
            break
        n += 1
    for old, new in moved:
        os.rename(old, new)
    return moved


def _round_meta(log: Path, k: int, top_k: int) -> dict[str, Any] | None:
    """What a refined round's log records of how its space was made (round 1 has nothing to add)."""
    if k == 1:
        return None
    return {"round": k, "refined_from": round_log(log, k - 1).name, "top_k": top_k, "margin": MARGIN,
            "shrink": SHRINK}


def _check_rounds(objective: MLPObjective, log: Path, args: argparse.Namespace) -> None:
    """Refuse, before any trial runs, a log of any round that belongs to another search. A refined round's
    space is not compared: it was refined from the trials its previous round had when it started."""
    for k in range(1, args.rounds + 1):
        path = round_log(log, k)
        if path.exists():
            header = search_header(objective, DEFAULT_SPACE, args.seed + k - 1, _round_meta(log, k, args.top_k))
            check_log(path, header, ignore=("space",) if k > 1 else ())


def _dask_executor(address: str) -> tuple[Any, Any]:
    """(client, executor) for the Dask scheduler at `address`; ValueError, with the fix, when Dask is
    missing or the scheduler cannot be reached."""
    try:
        from distributed import Client
    except ImportError:
        raise ValueError("--scheduler needs Dask: pip install 'dask[distributed]'") from None
    try:
        client = Client(address)  # waits distributed.comm.timeouts.connect (30 s by default)
    except (OSError, TimeoutError) as err:
        raise ValueError(f"--scheduler: cannot reach a Dask scheduler at {address} ({err})") from None
    return client, client.get_executor()


def search_command(args: argparse.Namespace) -> int:
    """Run (or resume) the rounds of a coarse-to-fine search; print each round's space and best trials."""
    objective = MLPObjective(dataset=args.dataset, epochs=args.epochs, data_dir=args.data_dir, seed=args.seed,
                             max_train=args.max_train)
    log = Path(args.log)
    if args.new_log:
        for old, new in move_aside(log):
            print(f"moved the old log {old} to {new}")
    try:
        _check_rounds(objective, log, args)
    except LogMismatchError as err:
        return _error("search", f"{err}; use another --log, or --new-log to move the old logs aside and start "
                                "a new search")
    client = executor = None
    if args.scheduler:
        try:
            client, executor = _dask_executor(args.scheduler)
        except ValueError as err:
            return _error("search", str(err))
    else:
        objective.data()  # missing data files end here, before any trial (the workers read the same files)
    try:
        return _run_rounds(objective, log, args, executor)
    finally:
        if client is not None:
            client.close()


def _run_rounds(objective: MLPObjective, log: Path, args: argparse.Namespace, executor: Any) -> int:
    space, first = dict(DEFAULT_SPACE), dict(DEFAULT_SPACE)
    best: Trial | None = None
    previous: list[Trial] = []  # the trials of the round before
    for k in range(1, args.rounds + 1):
        path = round_log(log, k)
        note = ""
        if k > 1:
            header, _ = read_log(path)
            if header is not None:  # resumed: keep the space this round started with
                space, note = space_from_dict(header["space"]), " (resumed with the space it started with)"
            else:
                try:
                    space = refine(space, previous, top_k=args.top_k, margin=MARGIN, shrink=SHRINK)
                except ValueError:
                    print(f"search: round {k - 1} has no finished trial to refine around; see the errors in "
                          f"{round_log(log, k - 1)}", file=sys.stderr)
                    return 1
        print(f"round {k}: {args.trials} trials, log {path}{note}")
        print("\n".join(format_space(space, first if k > 1 else None)))
        result = random_search(objective, space, n_trials=args.trials, seed=args.seed + k - 1, jobs=args.jobs,
                               log=path, executor=executor, progress=not args.no_progress,
                               meta=_round_meta(log, k, args.top_k))
        print(best_table(result.trials, top=5))
        if result.lost:
            print(f"search: {len(result.lost)} trials of round {k} were lost by the executor (a worker died); "
                  f"rerun the same command to run them", file=sys.stderr)
            return 1
        finished = [t for t in result.trials if t.value is not None and math.isfinite(t.value)]
        round_best = min(finished, key=value_key) if finished else None
        if round_best is not None and (best is None or value_key(round_best) < value_key(best)):
            best = round_best
        previous = result.trials
    if best is None:
        print("search: no trial finished; see the errors in the log", file=sys.stderr)
        return 1
    print(f"best dev error {best.value:.4f} with {best.config}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    """Print every round's space and best trials, and plot all rounds' trials."""
    logs = round_logs(args.log)
    header, _ = read_log(logs[0])
    if header is None:
        print(f"search-report: {args.log} is not a search log (missing, or no header line)", file=sys.stderr)
        return 2
    try:
        print(round_report(args.log, top=args.top))
    except ValueError as err:
        print(err, file=sys.stderr)
        return 2
    plot = Path(args.plot) if args.plot else Path(args.log).with_suffix(".png")
    try:
        print(f"wrote {plot_log(logs, plot).resolve()}")
    except ValueError as err:  # no finished trial to plot
        print(f"search-report: no plot: {err}", file=sys.stderr)
    return 0
