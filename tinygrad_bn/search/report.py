"""Reading a search log: a table of the best trials and a plot of the result against each hyperparameter,
for every round of a coarse-to-fine search (round k >= 2 logs to `<stem>.round<k><suffix>` beside round 1)."""
from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .runner import Trial, read_log, value_key
from .space import BOUNDED, Dimension, choice, space_from_dict


def round_log(log: str | os.PathLike, round_index: int) -> Path:
    """Round 1 uses the log as given; later rounds `<stem>.round<k><suffix>` beside it."""
    log = Path(log)
    return log if round_index == 1 else log.with_name(f"{log.stem}.round{round_index}{log.suffix}")


def round_logs(log: str | os.PathLike) -> list[Path]:
    """The log of every round of the search whose first round logs to `log`, in round order (round 1
    first, even if it does not exist; the later ones that exist)."""
    log = Path(log)
    pattern = re.compile(re.escape(log.stem) + r"\.round([0-9]+)" + re.escape(log.suffix) + "$")
    later = {}
    if log.parent.is_dir():
        for path in log.parent.iterdir():
            m = pattern.match(path.name)
            if m and int(m[1]) >= 2:
                later[int(m[1])] = path
    return [log, *(later[k] for k in sorted(later))]


def format_space(space: dict[str, Dimension], first: dict[str, Dimension] | None = None) -> list[str]:
    """One line per dimension; with `first` (round 1's space), how much of its width each still spans."""
    lines = []
    for name, dim in space.items():
        line = f"  {name}: {dim}"
        start = first.get(name) if first is not None else None
        if start is not None and type(start) is type(dim) and start.width() > 0:
            if isinstance(dim, choice) and isinstance(start, choice):
                line += f"  ({len(dim.options)} of {len(start.options)} options)"
            else:
                line += f"  ({dim.width() / start.width():.0%} of round 1's width)"
        lines.append(line)
    return lines


def round_report(log: str | os.PathLike, top: int = 10) -> str:
    """Every round of a search: its log, seed and space (with how much narrower it is than round 1's), the
    table of its best trials, then the best trial of all rounds."""
    out: list[str] = []
    first: dict[str, Dimension] | None = None
    best: tuple[int, Trial] | None = None
    logs = round_logs(log)
    for k, path in enumerate(logs, 1):
        header, trials = read_log(path)
        if header is None:
            raise ValueError(f"search-report: {path} is not a search log (missing, or no header line)")
        space = space_from_dict(header["space"])
        objective = header.get("objective", {})
        settings = ", ".join(f"{key}={value!r}" for key, value in objective.items()
                             if key not in ("name", "defaults", "split"))
        out.append(f"round {k}: {path}, sampling seed {header['seed']}" + (f", {settings}" if settings else ""))
        out += format_space(space, first if k > 1 else None)
        out.append(best_table(trials, top=top))
        lost = [t for t in trials if t.lost]
        if lost:
            out.append(f"{len(lost)} trials lost by the executor (rerun the search to run them)")
        first = first or space
        for t in trials:
            if t.value is not None and math.isfinite(t.value) and (best is None or t.value < value_key(best[1])):
                best = (k, t)
    if best is not None:
        k, t = best
        out.append(f"best of {len(logs)} round{'s' if len(logs) > 1 else ''}: round {k} trial {t.trial}, "
                   f"value {t.value:.4f} with {t.config}")
    return "\n".join(out)


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def best_table(trials: Sequence[Trial], top: int = 10) -> str:
    """The `top` trials with the lowest value as an aligned text table."""
    finished = sorted((t for t in trials if t.value is not None and math.isfinite(t.value)), key=value_key)
    failed = len(trials) - len(finished)
    if not finished:
        return f"no finished trials ({failed} failed)"
    keys = list(finished[0].config)
    header = ["rank", "trial", "value", *keys, "seconds"]
    rows = [[str(r + 1), str(t.trial), _fmt(t.value), *(_fmt(t.config[k]) for k in keys), f"{t.seconds:.1f}"]
            for r, t in enumerate(finished[:top])]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.rjust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(c.rjust(w) for c, w in zip(row, widths)) for row in rows]
    lines.append(f"{len(finished)} finished, {failed} failed")
    return "\n".join(lines)


def plot_log(log: str | os.PathLike | Sequence[str | os.PathLike], path: str | os.PathLike) -> Path:
    """One panel per hyperparameter: each trial's value against it, on a log axis where the dimension is
    log-scaled (1 - x for one_minus_loguniform), the best trial marked.

    `log` may be a list of logs, one per round (`round_logs`): each round in its own colour, and each
    refined round's range shaded, so the narrowing shows.
    """
    from ..plotting import save_png, subplots

    logs = [log] if isinstance(log, (str, os.PathLike)) else list(log)
    rounds = []
    for one in logs:
        header, trials = read_log(one)
        if header is None:
            raise ValueError(f"plot_log: {one} has no search header line")
        rounds.append((space_from_dict(header["space"]),
                       [t for t in trials if t.value is not None and math.isfinite(t.value)]))
    space = rounds[0][0]
    finished = [t for _, trials in rounds for t in trials]
    if not finished:
        raise ValueError(f"plot_log: {', '.join(str(one) for one in logs)} holds no finished trial")
    best = min(finished, key=value_key)
    cols = min(3, len(space))
    rows = -(-len(space) // cols)
    fig, axes = subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, dim) in zip(axes.flat, space.items()):
        kind = type(dim).__name__
        labels = [str(o) for o in dim.options] if isinstance(dim, choice) else []

        def x_of(value: Any, kind: str = kind, labels: list[str] = labels) -> float:
            """Where a config's value sits on the x axis: an option's index, else the number (1 - it)."""
            if kind == "choice":
                return labels.index(str(value))
            number: float = value  # the dimension is numeric
            return (1 - number) if kind == "one_minus_loguniform" else number

        if kind == "choice":
            ax.set_xticks(range(len(labels)), labels)
        for k, (round_space, trials) in enumerate(rounds, 1):
            color = f"C{(k - 1) % 10}"
            if trials:
                ax.scatter([x_of(t.config[name]) for t in trials], [t.value for t in trials], s=18, alpha=0.7,
                           color=color, label=f"round {k}" if len(rounds) > 1 else None)
            narrow = round_space.get(name)
            if k > 1 and isinstance(narrow, BOUNDED):  # a refined range: not a choice
                ax.axvspan(*sorted((x_of(narrow.low), x_of(narrow.high))), color=color, alpha=0.12, lw=0)
        ax.scatter([x_of(best.config[name])], [best.value], s=80, marker="*", color="crimson", label="best")
        if dim.log:
            ax.set_xscale("log")
        ax.set_xlabel(f"1 - {name}" if kind == "one_minus_loguniform" else name)
        ax.set_ylabel("value (lower is better)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(space):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    source = Path(logs[0]).name
    fig.suptitle(f"{len(finished)} trials from {source}" if len(rounds) == 1
                 else f"{len(finished)} trials in {len(rounds)} rounds from {source} (refined ranges shaded)")
    fig.tight_layout()
    return save_png(fig, path)
