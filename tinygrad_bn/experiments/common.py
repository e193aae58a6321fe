"""What the experiments share: the command-line options, statistics over seeds (mean, standard deviation,
95% t-interval) and curves drawn as a mean with a band, timing, and writing results (JSON, markdown)
atomically into the output folder (figures: tinygrad_bn.plotting)."""
from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..cli_types import nonnegative_int, positive_int
from ..serialization import atomic_write


def experiment_parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The parser of `python -m tinygrad_bn experiment <name>`, its usage line spelled that way."""
    return argparse.ArgumentParser(prog=f"python -m tinygrad_bn experiment {name}", description=doc.split("\n\n")[0])


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str, default_seeds: int
                         ) -> argparse.ArgumentParser:
    """The options every experiment takes: --quick, --dataset, --data-dir, --seed, --seeds, --jobs, --out.

    `default_seeds` is the number of seeds a full run uses unless --seeds says otherwise: enough for the
    experiment's claim to show up in its 95% intervals. A --quick run uses one seed unless told."""
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds), for tests")
    parser.add_argument("--dataset", default="auto", choices=["auto", "mnist", "fashion-mnist", "digits"],
                        help="auto: MNIST if found, else Fashion-MNIST")
    parser.add_argument("--data-dir", default=None,
                        help="folder of IDX files; where only the t10k files exist, they are split for train/test")
    parser.add_argument("--seed", type=nonnegative_int, default=0, help="the first seed (default 0)")
    parser.add_argument("--seeds", type=positive_int, default=None,
                        help=f"number of seeds, --seed, --seed + 1, ...; every configuration is trained once per "
                             f"seed (default: {default_seeds}, or 1 with --quick)")
    parser.set_defaults(default_seeds=default_seeds)
    parser.add_argument("--jobs", type=positive_int, default=None, help="parallel processes (default: number of cores)")
    parser.add_argument("--out", default=default_out, help="output folder for JSON results and PNG figures")
    return parser


def command_line(name: str, argv: list[str] | None) -> str:
    """The command that ran experiment `name` with options `argv` (default: the process's own), recorded in
    the results so that anyone can rerun it."""
    import shlex
    import sys

    options = sys.argv[1:] if argv is None else argv
    return f"python -m tinygrad_bn experiment {name} {shlex.join(options)}".rstrip()


def seed_list(args: argparse.Namespace) -> list[int]:
    """The seeds a run uses: --seeds of them from --seed on (one for a --quick run unless --seeds is given)."""
    count = args.seeds if args.seeds is not None else (1 if args.quick else args.default_seeds)
    return list(range(args.seed, args.seed + count))


# 97.5% quantiles of Student's t distribution for 1..30 degrees of freedom (two-sided 95% intervals)
_T975 = (12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
         2.200985, 2.178813, 2.160369, 2.144787, 2.13145, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
         2.079614, 2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.04523, 2.042272)


def t_quantile_975(df: int) -> float:
    """The 97.5% quantile of Student's t with `df` degrees of freedom (a table up to 30, then the
    Cornish-Fisher expansion around the normal quantile, within 1e-4 of the exact value)."""
    if df < 1:
        raise ValueError(f"t_quantile_975: degrees of freedom must be >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def summarize(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation and 95% t-interval of the mean of per-seed values.

    With one value the standard deviation and the interval are None: one seed says nothing about the
    spread. The values themselves are kept, so a reader can recompute anything else."""
    v = [float(x) for x in values]
    if not v:
        raise ValueError("summarize: no values")
    n, mean = len(v), float(np.mean(v))
    if n == 1:
        return {"n": 1, "mean": mean, "std": None, "ci95": None, "values": v}
    std = float(np.std(v, ddof=1))
    half = t_quantile_975(n - 1) * std / math.sqrt(n)
    return {"n": n, "mean": mean, "std": std, "ci95": [mean - half, mean + half], "values": v}


def interval_text(summary: dict[str, Any] | None, scale: float = 100.0, digits: int = 2, signed: bool = False) -> str:
    """'95.70 ± 0.35 [95.27, 96.13]': mean ± standard deviation [95% interval], values times `scale`."""
    if summary is None:
        return "-"
    sign = "+" if signed else ""
    mean = f"{scale * summary['mean']:{sign}.{digits}f}"
    if summary["std"] is None:
        return f"{mean} (1 seed)"
    lo, hi = (scale * x for x in summary["ci95"])
    return f"{mean} ± {scale * summary['std']:.{digits}f} [{lo:{sign}.{digits}f}, {hi:{sign}.{digits}f}]"


def plot_band(ax: Any, curves: Sequence[npt.ArrayLike], x: Sequence[float] | None = None, **style: Any) -> None:
    """Draw the mean of equally long `curves` (one per seed) as a line and mean ± one standard deviation as
    a shaded band of the same color; `style` goes to the line (color, label, linestyle, ...)."""
    values = np.asarray(curves, dtype=float)
    if values.ndim != 2 or values.shape[1] == 0:
        return
    xs = np.arange(1, values.shape[1] + 1) if x is None else np.asarray(x)
    mean = values.mean(axis=0)
    (line,) = ax.plot(xs, mean, **style)
    if len(values) > 1:
        std = values.std(axis=0, ddof=1)
        ax.fill_between(xs, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)


def seeds_text(seeds: Sequence[int]) -> str:
    """'5 seeds (0-4)' or '1 seed (0)', for titles and tables."""
    seeds = list(seeds)
    if len(seeds) == 1:
        return f"1 seed ({seeds[0]})"
    return f"{len(seeds)} seeds ({seeds[0]}-{seeds[-1]})"


BAND_NOTE = "line: mean over seeds; band: ± one standard deviation"


class Timer:
    """Wall-clock seconds since creation."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.start


def machine() -> str:
    import os

    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"


def write_json(path: Path, data: Any) -> Path:
    return atomic_write(path, lambda f: f.write(json.dumps(data, indent=2, default=_jsonable).encode()))


def write_text(path: Path, text: str) -> Path:
    return atomic_write(path, lambda f: f.write(text.encode()))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")
