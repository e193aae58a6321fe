"""Reading IDX files (the MNIST family's format), gzip-compressed or raw, with every header field checked.

Layout: two zero bytes, a dtype code, the number of dimensions, each dimension as a big-endian uint32,
then the values, big-endian. A file whose header is wrong, or whose data is shorter or longer than the
header promises, is an `IDXFormatError` naming the file and the problem; never a silently short array.
"""
from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path
from typing import Any

import numpy as np

DTYPES: dict[int, np.dtype[Any]] = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"),
                                     0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class IDXFormatError(ValueError):
    """An IDX file is truncated, corrupt or not an IDX file at all."""


def _read_bytes(path: Path) -> bytes:
    with open(path, "rb") as f:
        head = f.read(2)
        f.seek(0)
        raw = f.read()
    if head != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as err:
        raise IDXFormatError(f"{path}: the gzip data is truncated or corrupt ({err})") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX file (gzip or raw), in native byte order."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"read_idx: no file at {path}")
    data = _read_bytes(path)
    if len(data) < 4:
        raise IDXFormatError(f"{path}: {len(data)} bytes is too short for an IDX header")
    if data[0] != 0 or data[1] != 0:
        raise IDXFormatError(f"{path}: bad magic number {data[:4].hex()} (an IDX file starts with two zero bytes)")
    code, ndim = data[2], data[3]
    if code not in DTYPES:
        raise IDXFormatError(f"{path}: unknown IDX dtype code 0x{code:02x} (known: "
                             + ", ".join(f"0x{c:02x}" for c in DTYPES) + ")")
    if ndim == 0:
        raise IDXFormatError(f"{path}: the header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IDXFormatError(f"{path}: the header declares {ndim} dimensions but the file ends after {len(data)} bytes")
    shape = tuple(int(d) for d in np.frombuffer(data, dtype=">u4", count=ndim, offset=4))
    dtype = DTYPES[code]
    expected = math.prod(shape) * dtype.itemsize  # exact: np.prod would wrap around 2**64 for crafted dims
    actual = len(data) - header
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise IDXFormatError(f"{path}: {problem}: the header promises shape {shape} of {dtype.name} "
                             f"({expected} bytes of data) but the file holds {actual}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(array: np.ndarray, path: str | os.PathLike, compress: bool | None = None) -> Path:
    """Write an array as an IDX file (gzip when `compress`, or when the name ends in .gz); for tests and tools."""
    from ..serialization import atomic_write

    path = Path(path)
    arr = np.asarray(array)
    code = next((c for c, d in DTYPES.items() if d.newbyteorder("=") == arr.dtype.newbyteorder("=")), None)
    if code is None:
        raise TypeError(f"write_idx: dtype {arr.dtype} has no IDX code")
    if arr.ndim == 0:  # the format has no 0-d arrays: read_idx would reject the file
        raise ValueError("write_idx: an IDX file holds an array of at least one dimension, got a 0-d array")
    payload = bytes([0, 0, code, arr.ndim]) + np.asarray(arr.shape, dtype=">u4").tobytes() \
        + arr.astype(DTYPES[code]).tobytes()
    if compress if compress is not None else path.suffix == ".gz":
        payload = gzip.compress(payload, mtime=0)
    return atomic_write(path, lambda f: f.write(payload))
