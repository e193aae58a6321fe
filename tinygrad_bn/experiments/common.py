"""What the experiments share: the command-line options, timing,
and writing results (JSON, markdown) atomically into the output folder (figures: tinygrad_bn.plotting)."""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..cli_types import nonnegative_int, positive_int
from ..serialization import atomic_write


def experiment_parser(name: str, doc: str) -> argparse.ArgumentParser:
    """The parser of `python -m tinygrad_bn experiment <name>`, its usage line spelled that way."""
    return argparse.ArgumentParser(prog=f"python -m tinygrad_bn experiment {name}", description=doc.split("\n\n")[0])


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> argparse.ArgumentParser:
    """The options every experiment takes: --quick, --dataset, --data-dir, --seed, --jobs, --out."""
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds), for tests")
    parser.add_argument("--dataset", default="auto", choices=["auto", "mnist", "fashion-mnist", "digits"],
                        help="auto: MNIST if found, else Fashion-MNIST")
    parser.add_argument("--data-dir", default=None,
                        help="folder of IDX files; where only the t10k files exist, they are split for train/test")
    parser.add_argument("--seed", type=nonnegative_int, default=0)
    parser.add_argument("--jobs", type=positive_int, default=None, help="parallel processes (default: number of cores)")
    parser.add_argument("--out", default=default_out, help="output folder for JSON results and PNG figures")
    return parser


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
