"""Reading a search log: a table of the best trials and a plot of the result against each hyperparameter."""
from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

from .runner import Trial, read_log
from .space import space_from_dict


def _fmt(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def best_table(trials: Sequence[Trial], top: int = 10) -> str:
    """The `top` trials with the lowest value as an aligned text table."""
    finished = sorted((t for t in trials if t.value is not None and math.isfinite(t.value)), key=lambda t: t.value)
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


def plot_log(log: str | os.PathLike, path: str | os.PathLike) -> Path:
    """One panel per hyperparameter: each trial's value against it, on a log axis where the dimension is
    log-scaled (1 - x for one_minus_loguniform), the best trial marked."""
    from ..plotting import save_png, subplots

    header, trials = read_log(log)
    if header is None:
        raise ValueError(f"plot_log: {log} has no search header line")
    space = space_from_dict(header["space"])
    finished = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    if not finished:
        raise ValueError(f"plot_log: {log} holds no finished trial")
    best = min(finished, key=lambda t: t.value)
    cols = min(3, len(space))
    rows = -(-len(space) // cols)
    fig, axes = subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
    for ax, (name, dim) in zip(axes.flat, space.items()):
        one_minus = type(dim).__name__ == "one_minus_loguniform"
        xs = [(1 - t.config[name]) if one_minus else t.config[name] for t in finished]
        if type(dim).__name__ == "choice":
            labels = [str(o) for o in dim.options]
            xs = [labels.index(str(x)) for x in xs]
            ax.set_xticks(range(len(labels)), labels)
        ax.scatter(xs, [t.value for t in finished], s=18, alpha=0.7)
        bx = (1 - best.config[name]) if one_minus else best.config[name]
        if type(dim).__name__ == "choice":
            bx = [str(o) for o in dim.options].index(str(bx))
        ax.scatter([bx], [best.value], s=80, marker="*", color="crimson", label="best")
        if dim.log:
            ax.set_xscale("log")
        ax.set_xlabel(f"1 - {name}" if one_minus else name)
        ax.set_ylabel("value (lower is better)")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(space):]:
        ax.set_visible(False)
    axes.flat[0].legend()
    fig.suptitle(f"{len(finished)} trials from {Path(log).name}")
    fig.tight_layout()
    return save_png(fig, path)
