"""Saving and loading state dicts as `.npz` files: no pickle, and atomic writes.

`save` writes to a temporary file in the target's folder, flushes it to disk and renames it over the
target, so a crash leaves either the old file or the new one, never half of one. `load` refuses
pickled objects (`allow_pickle=False`), so loading a file cannot run code.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from .tensor import Tensor


def ensure_writable_dir(path: str | os.PathLike, what: str = "output folder") -> Path:
    """Create `path` if needed and check that files can be written in it, before any long work starts.

    Raises `OutputDirError` (an OSError) naming the folder and the reason (a file in the way, no
    permission), so a training run never ends by losing its results to an unwritable folder.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise OutputDirError(f"cannot write to the {what} {str(path)!r}: {reason}") from None
    return path


class OutputDirError(OSError):
    """An output folder that cannot be created or written to."""


def atomic_write(path: str | os.PathLike, write: Any) -> Path:
    """Call `write(file_object)` on a temporary file beside `path`, then rename it to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    try:
        os.chmod(tmp, 0o666 & ~umask)  # the permissions a plain open() would give, not mkstemp's 0600
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def save(state_dict: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Write a mapping of names to arrays (or Tensors) to `path` as an .npz file, atomically."""
    arrays = {}
    for key, value in state_dict.items():
        arr = np.asarray(value.data if isinstance(value, Tensor) else value)
        if arr.dtype == object:
            raise TypeError(f"save: {key!r} is not numeric data (dtype object); only arrays can be saved")
        arrays[str(key)] = arr
    return atomic_write(path, lambda f: _write_npz(f, arrays))


def _write_npz(f: Any, arrays: Mapping[str, np.ndarray]) -> None:
    """The .npz layout np.savez writes (one .npy member per key), without its keyword arguments, so that
    keys named "file" or "allow_pickle" are saved like any other instead of clashing with them."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for key, arr in arrays.items():
            with archive.open(key + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read an .npz file written by `save` into a dict of numpy arrays (never unpickles)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load: no file at {path}")
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError("it holds a single array (.npy), not a state dict")
        with data:
            return {key: data[key] for key in data.files}
    except (ValueError, EOFError, zipfile.BadZipFile) as err:
        raise ValueError(f"load: {path} holds pickled objects or is not a valid .npz file ({err})") from None
