"""Real datasets: MNIST and Fashion-MNIST from IDX files (found locally or downloaded and verified), and
scikit-learn's bundled handwritten digits, which work offline with no download.

Where `load_mnist` looks, in order: `root`, the folder in the environment variable TINYGRAD_BN_DATA, the
per-user cache (~/.cache/tinygrad_bn/<dataset>, or $XDG_CACHE_HOME), and for Fashion-MNIST the folder of
Debian's `dataset-fashion-mnist` package. In each folder the four files may sit directly or in a
sub-folder named after the dataset, gzip-compressed or not.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import numpy as np

from .idx import IDXFormatError, read_idx

FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


class Source(TypedDict):
    """Where a dataset's files are downloaded from, and their checksums."""

    mirrors: list[str]
    md5: dict[str, str]  # file name -> MD5 of the gzip file


# Public mirrors and the published MD5 checksums of the gzip files (as torchvision lists them).
SOURCES: dict[str, Source] = {
    "mnist": {
        "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"],
        "md5": {"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
                "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
                "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c"},
    },
    "fashion-mnist": {
        "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/"],
        "md5": {"train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
                "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
                "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310"},
    },
}
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class DatasetNotFoundError(FileNotFoundError):
    """The dataset's files are in none of the places looked at.

    Besides its message (which says how to fix it from Python: `download=True`), it keeps what a caller
    needs to phrase its own fix: the dataset, the missing files and the folders looked in.
    """

    def __init__(self, message: str, dataset: str = "", missing: Sequence[str] = (),
                 looked: Sequence[Path] = ()) -> None:
        super().__init__(message)
        self.dataset, self.missing, self.looked = dataset, list(missing), list(looked)

    def __str__(self) -> str:
        return str(self.args[0])

    def summary(self, fix: str) -> str:
        """The problem on one line, ending with `fix` (how to fix it where the caller is: a CLI's options)."""
        if not self.dataset:
            return f"{' '.join(str(self).split())}; {fix}"
        return (f"{self.dataset}: missing {', '.join(self.missing)} (looked in {len(self.looked)} folders: "
                f"{', '.join(str(d) for d in self.looked)}); {fix}")


class DownloadError(RuntimeError):
    """No mirror delivered a complete file with the published checksum."""


def cache_dir(dataset: str) -> Path:
    """The per-user cache folder for a dataset (respects XDG_CACHE_HOME)."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "tinygrad_bn" / dataset


def search_dirs(dataset: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The folders `load_mnist` looks in, in order."""
    _check_dataset(dataset)
    dirs = []
    if root is not None:
        dirs.append(Path(root))
    if os.environ.get("TINYGRAD_BN_DATA"):
        dirs.append(Path(os.environ["TINYGRAD_BN_DATA"]))
    dirs.append(cache_dir(dataset))
    if dataset == "fashion-mnist":
        dirs.append(DEBIAN_FASHION_MNIST)
    expanded = []
    for d in dirs:
        expanded += [d, d / dataset]
    return expanded


def _check_dataset(dataset: str) -> None:
    if dataset not in SOURCES:
        raise ValueError(f"unknown dataset {dataset!r}; choose one of {', '.join(SOURCES)}")


def find_file(name: str, dirs: Sequence[Path]) -> Path | None:
    """The first of `dirs` holding `name` (or its uncompressed twin without .gz)."""
    for d in dirs:
        for candidate in (d / name, d / name.removesuffix(".gz")):
            if candidate.is_file():
                return candidate
    return None


def download_files(dataset: str, names: Sequence[str], dest: str | os.PathLike | None = None,
                   mirrors: Sequence[str] | None = None, md5: dict[str, str] | None = None) -> list[Path]:
    """Fetch files from the dataset's mirrors into `dest` (the cache by default), verifying checksums.

    Uses pooch, which downloads to a temporary file and moves it into place only when complete and
    matching its checksum, so an interrupted or corrupted download never leaves a file that looks valid.
    """
    try:
        import pooch
    except ImportError:
        raise ImportError("downloading needs pooch: pip install 'tinygrad_bn[examples]' (or pip install pooch)") \
            from None
    _check_dataset(dataset)
    source = SOURCES[dataset]
    mirrors = list(mirrors or source["mirrors"])
    md5 = md5 or source["md5"]
    unknown = [name for name in names if name not in md5]
    if unknown:  # never download a file that cannot be verified
        raise ValueError(f"download_files: no checksum known for {', '.join(unknown)}")
    dest = Path(dest) if dest is not None else cache_dir(dataset)
    dest.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in names:
        errors = []
        for mirror in mirrors:
            url = mirror.rstrip("/") + "/" + name
            try:
                path = pooch.retrieve(url, known_hash=f"md5:{md5[name]}", fname=name, path=dest, progressbar=False)
                paths.append(Path(path))
                break
            except Exception as err:  # noqa: BLE001 - any failure moves on to the next mirror
                errors.append(f"{url}: {type(err).__name__}: {err}")
        else:
            raise DownloadError(f"could not download {name} for {dataset}:\n  " + "\n  ".join(errors))
    return paths


def _complete_folder(dirs: Sequence[Path]) -> dict[str, Path] | None:
    """The four files from the first folder that holds all of them (never a mix of folders)."""
    for d in dirs:
        found = {key: path for key, name in FILES.items() if (path := find_file(name, [d])) is not None}
        if len(found) == len(FILES):
            return found
    return None


def load_mnist(
    root: str | os.PathLike | None = None,
    dataset: str = "mnist",
    normalize: bool = True,
    flatten: bool = True,
    one_hot: bool = False,
    download: bool = False,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """((x_train, t_train), (x_test, t_test)) of MNIST or Fashion-MNIST (60,000 and 10,000 images).

    normalize: pixels as float32 in [0, 1] (else uint8 0..255); flatten: (N, 784) (else (N, 1, 28, 28));
    one_hot: labels as (N, 10) float32 rows (else int64 class indices). With `download=True`, missing files
    are fetched into the cache from the public mirrors and checked against their published checksums.
    """
    _check_dataset(dataset)
    dirs = search_dirs(dataset, root)
    found = _complete_folder(dirs)
    if found is None and download:
        cache = cache_dir(dataset)
        download_files(dataset, [name for name in FILES.values() if find_file(name, [cache]) is None], dest=cache)
        found = _complete_folder(dirs)
    if found is None:  # never mix files of different folders: report what no folder has
        located = {key: find_file(name, dirs) for key, name in FILES.items()}
        missing = [FILES[k] for k, p in located.items() if p is None] or [
            "no single folder holds all four files (they are spread over several)"]
        looked = "\n  ".join(str(d) for d in dirs)
        hint = " or install Debian's dataset-fashion-mnist package" if dataset == "fashion-mnist" else ""
        raise DatasetNotFoundError(
            f"{dataset}: missing {', '.join(missing)}. Looked in:\n  {looked}\n"
            f"Pass download=True (needs pooch and internet), put the IDX files in one of these folders or in "
            f"$TINYGRAD_BN_DATA{hint}.", dataset=dataset, missing=missing, looked=dirs,
        )
    arrays = {key: read_idx(path) for key, path in found.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise ValueError(f"{dataset}: {split} images {images.shape} and labels {labels.shape} do not match "
                             f"({found[f'{split}_images']}, {found[f'{split}_labels']})")
        check_labels(labels, CLASSES, found[f"{split}_labels"])
    return (_prepare(arrays["train_images"], arrays["train_labels"], normalize, flatten, one_hot),
            _prepare(arrays["test_images"], arrays["test_labels"], normalize, flatten, one_hot))


CLASSES = 10  # MNIST's digits and Fashion-MNIST's garments alike


def check_labels(labels: np.ndarray, classes: int, path: str | os.PathLike) -> np.ndarray:
    """Return `labels` if every one is a class index in [0, classes); else raise `IDXFormatError` naming
    the file, so that a corrupt label byte (200 in MNIST) is an error, not a model with 201 outputs."""
    bad = (labels < 0) | (labels >= classes)
    if bad.any():
        where = np.flatnonzero(bad)
        values = ", ".join(str(v) for v in np.unique(labels[where])[:5])
        raise IDXFormatError(f"{path}: {len(where)} labels outside the {classes} classes 0..{classes - 1} "
                             f"(values {values}{', ...' if len(np.unique(labels[where])) > 5 else ''}; "
                             f"first at index {where[0]}); the file is corrupt or belongs to another dataset")
    return labels


def _prepare(images: np.ndarray, labels: np.ndarray, normalize: bool, flatten: bool, one_hot: bool,
             scale: float = 255.0, classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    x = images.astype(np.float32) / scale if normalize else images
    x = x.reshape(len(x), -1) if flatten else x.reshape(len(x), 1, *images.shape[1:])
    t: np.ndarray = labels.astype(np.int64)
    if one_hot:
        t = np.eye(classes, dtype=np.float32)[t]
    return x, t


def load_digits(normalize: bool = True, flatten: bool = True, one_hot: bool = False, test_fraction: float = 0.2,
                seed: int = 0) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """scikit-learn's bundled handwritten digits (1,797 real 8x8 images, offline), split into train and test.

    The split is stratified by class and fixed by `seed`. normalize: pixels in [0, 1] (the raw values are
    0..16); flatten: (N, 64) (else (N, 1, 8, 8)).
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'tinygrad_bn[examples]'") from None
    from .loader import train_dev_test_split

    bunch = sklearn_digits()
    images = bunch.images.astype(np.float32)
    (x_train, t_train), _, (x_test, t_test) = train_dev_test_split(
        images, bunch.target, fractions=(1 - test_fraction, 0.0, test_fraction), seed=seed, stratify=True)
    return (_prepare(x_train, t_train, normalize, flatten, one_hot, scale=16.0),
            _prepare(x_test, t_test, normalize, flatten, one_hot, scale=16.0))


DATASETS = ("digits", "mnist", "fashion-mnist")


@dataclass
class Dataset:
    """A dataset's arrays, flattened and scaled to [0, 1], with where they came from (for labels and docs)."""

    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    source: str

    @property
    def classes(self) -> int:
        """The number of classes (every loader checks that the labels lie in 0..classes-1)."""
        return CLASSES

    def describe(self) -> str:
        return f"{self.name} ({len(self.x_train)} train / {len(self.x_test)} test; {self.source})"


def load_dataset(name: str = "auto", data_dir: str | os.PathLike | None = None, download: bool = False,
                 test_only_split: int = 8000) -> Dataset:
    """The one way to load a dataset by name: 'digits', 'mnist', 'fashion-mnist', or 'auto'.

    'auto' takes MNIST where it is found and Fashion-MNIST otherwise. When `data_dir` holds only the
    t10k files of a dataset (as a folder with just MNIST's test set does), its first `test_only_split`
    images become the training set and the rest the test set. `download=True` fetches missing files.
    """
    if name == "digits":
        (x, t), (xt, tt) = load_digits()
        return Dataset("digits", x, t, xt, tt, "scikit-learn's bundled 8x8 digits")
    if name != "auto" and name not in SOURCES:
        raise ValueError(f"unknown dataset {name!r}; choose one of auto, {', '.join(DATASETS)}")
    names = ["mnist", "fashion-mnist"] if name == "auto" else [name]
    problems: list[DatasetNotFoundError] = []
    for candidate in names:
        try:
            (x, t), (xt, tt) = load_mnist(root=data_dir, dataset=candidate, download=download)
            return Dataset(candidate, x, t, xt, tt, "full training and test sets")
        except DatasetNotFoundError as err:
            problems.append(err)
        if data_dir is not None:
            dirs = search_dirs(candidate, data_dir)[:2]
            images, labels = find_file(FILES["test_images"], dirs), find_file(FILES["test_labels"], dirs)
            if images is not None and labels is not None:
                pixels, classes = read_idx(images), check_labels(read_idx(labels), CLASSES, labels)
                if pixels.ndim != 3 or classes.ndim != 1 or len(pixels) != len(classes):
                    raise IDXFormatError(f"{candidate}: test images {pixels.shape} and labels {classes.shape} do "
                                         f"not match ({images}, {labels})")
                x = pixels.reshape(len(pixels), -1).astype(np.float32) / 255.0
                t = classes.astype(np.int64)
                k = test_only_split
                return Dataset(candidate, x[:k], t[:k], x[k:], t[k:],
                               f"the {len(x)} t10k images of {data_dir}, split {k}/{len(x) - k}")
    if len(problems) == 1:
        raise problems[0]
    raise DatasetNotFoundError("no dataset found:\n" + "\n".join(map(str, problems)), dataset=name,
                               missing=[f"{p.dataset} ({', '.join(p.missing)})" for p in problems],
                               looked=[d for p in problems for d in p.looked])
