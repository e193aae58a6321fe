"""What the experiments share: the command-line options, data loading with the dataset fallbacks, timing,
and writing results (JSON, markdown) atomically into the output folder (figures: tinygrad_bn.plotting)."""
from __future__ import annotations

import argparse
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import load_digits, load_mnist
from ..data.datasets import FILES, DatasetNotFoundError, find_file, search_dirs
from ..data.idx import read_idx
from ..serialization import atomic_write


def add_common_arguments(parser: argparse.ArgumentParser, default_out: str) -> argparse.ArgumentParser:
    """The options every experiment takes: --quick, --dataset, --data-dir, --seed, --jobs, --out."""
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds), for tests")
    parser.add_argument("--dataset", default="auto", choices=["auto", "mnist", "fashion-mnist", "digits"],
                        help="auto: MNIST if found, else Fashion-MNIST")
    parser.add_argument("--data-dir", default=None,
                        help="folder of IDX files; where only the t10k files exist, they are split for train/test")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="parallel processes (default: number of cores)")
    parser.add_argument("--out", default=default_out, help="output folder for JSON results and PNG figures")
    return parser


@dataclass
class Data:
    """Arrays of an experiment, flattened and scaled to [0, 1], with where they came from."""

    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    source: str

    def describe(self) -> str:
        return f"{self.name} ({len(self.x_train)} train / {len(self.x_test)} test; {self.source})"


def load_data(dataset: str = "auto", data_dir: str | None = None, test_only_split: int = 8000) -> Data:
    """Load the experiment's dataset.

    'auto' takes MNIST where it is found and Fashion-MNIST otherwise. When `data_dir` holds only the
    t10k files of a dataset (as a folder with just MNIST's test set does), its first `test_only_split`
    images become the training set and the rest the test set.
    """
    if dataset == "digits":
        (x, t), (xt, tt) = load_digits()
        return Data("digits", x, t, xt, tt, "scikit-learn's bundled 8x8 digits")
    names = ["mnist", "fashion-mnist"] if dataset == "auto" else [dataset]
    problems = []
    for name in names:
        try:
            (x, t), (xt, tt) = load_mnist(root=data_dir, dataset=name)
            return Data(name, x, t, xt, tt, "full training and test sets")
        except DatasetNotFoundError as err:
            problems.append(str(err))
        if data_dir is not None:
            dirs = search_dirs(name, data_dir)[:2]
            images, labels = find_file(FILES["test_images"], dirs), find_file(FILES["test_labels"], dirs)
            if images is not None and labels is not None:
                x = read_idx(images).reshape(-1, 28 * 28).astype(np.float32) / 255.0
                t = read_idx(labels).astype(np.int64)
                k = test_only_split
                return Data(name, x[:k], t[:k], x[k:], t[k:],
                            f"the {len(x)} t10k images of {data_dir}, split {k}/{len(x) - k}")
    raise DatasetNotFoundError("no dataset found:\n" + "\n".join(problems)
                               + "\nUse --dataset digits for the offline dataset, or --data-dir.")


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
