"""IDX files: every kind of bad file is a clear IDXFormatError naming the file; write_idx/read_idx round trips."""
import gzip
import re
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bn.data import IDXFormatError, read_idx, write_idx

DTYPES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(code, shape, payload):
    return bytes([0, 0, code, len(shape)]) + struct.pack(f">{len(shape)}I", *shape) + payload


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


GOOD = idx_bytes(0x08, (2, 3), bytes(range(6)))


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "too short for an IDX header"),
        (b"\x00\x00\x08", "too short for an IDX header"),
        (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number 01000801"),
        (b"\x00\x07\x08\x01" + struct.pack(">I", 1) + b"\x00", "bad magic number"),
        (idx_bytes(0x0A, (2,), b"\x00\x00"), "unknown IDX dtype code 0x0a"),
        (idx_bytes(0xFF, (2,), b"\x00\x00"), "unknown IDX dtype code 0xff"),
        (b"\x00\x00\x08\x00", "declares 0 dimensions"),
        (b"\x00\x00\x08\x03" + struct.pack(">2I", 2, 3), "declares 3 dimensions but the file ends after 12 bytes"),
        (GOOD[:-1], r"truncated: the header promises shape \(2, 3\) of uint8 \(6 bytes of data\) but the file holds 5"),
        (GOOD[:12], "truncated"),
        (GOOD + b"\x00", "has trailing bytes"),
        (idx_bytes(0x0D, (2,), b"\x00" * 7), r"truncated: .*float32 \(8 bytes of data\) but the file holds 7"),
        (idx_bytes(0x0E, (1,), b"\x00" * 16), "has trailing bytes"),
        # 65536^4 elements: the byte count overflows 64 bits to 0, which must not pass for "no data"
        (idx_bytes(0x08, (65536,) * 4, b""), r"truncated: .* \(18446744073709551616 bytes of data\)"),
    ],
    ids=["empty", "short-header", "bad-magic-first", "bad-magic-second", "unknown-dtype", "unknown-dtype-ff",
         "zero-dims", "header-shorter-than-dims", "truncated-by-one", "truncated-all-data", "trailing-bytes",
         "truncated-float", "trailing-double", "overflowing-dims"],
)
def test_bad_files(tmp_path, data, message, gz):
    path = write(tmp_path / ("bad.idx.gz" if gz else "bad.idx"), data, gz)
    with pytest.raises(IDXFormatError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)  # the error names the file
    assert isinstance(info.value, ValueError)


def test_truncated_gzip(tmp_path):
    full = gzip.compress(GOOD * 50)
    for cut in (3, 10, len(full) // 2, len(full) - 1):
        path = write(tmp_path / f"cut{cut}.gz", full[:cut])
        with pytest.raises(IDXFormatError, match="gzip data is truncated or corrupt") as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_corrupt_gzip(tmp_path):
    full = bytearray(gzip.compress(idx_bytes(0x08, (100,), bytes(range(100)))))
    body = bytearray(full)
    body[len(body) // 2] ^= 0xFF  # damage the deflate stream (or the data, caught by the CRC)
    crc = bytearray(full)
    crc[-6] ^= 0x01  # damage the stored CRC-32
    header = bytearray(full)
    header[2] = 0x07  # an unknown compression method
    for name, data in (("body", body), ("crc", crc), ("method", header)):
        path = write(tmp_path / f"{name}.gz", bytes(data))
        with pytest.raises(IDXFormatError, match="gzip data is truncated or corrupt") as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file at"):
        read_idx(tmp_path / "nope.gz")


@pytest.mark.parametrize("compress", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("dtype", list(DTYPES), ids=lambda d: np.dtype(d).name)
def test_round_trip_every_dtype(tmp_path, dtype, compress):
    rng = np.random.default_rng(1)
    info = np.iinfo(dtype) if np.dtype(dtype).kind in "iu" else None
    if info is not None:
        array = rng.integers(info.min, info.max, size=(3, 4, 5), endpoint=True, dtype=dtype)
        array.flat[:2] = [info.min, info.max]
    else:
        array = rng.standard_normal((3, 4, 5)).astype(dtype)
        array.flat[:3] = [np.finfo(dtype).max, -0.0, np.finfo(dtype).tiny]
    path = write_idx(array, tmp_path / ("a.idx" + (".gz" if compress else "")))
    raw = path.read_bytes()
    assert (raw[:2] == b"\x1f\x8b") == compress  # gzip by the .gz suffix
    header = gzip.decompress(raw)[:16] if compress else raw[:16]
    assert header == bytes([0, 0, DTYPES[dtype], 3]) + struct.pack(">3I", 3, 4, 5)  # big-endian dims
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    assert back.shape == (3, 4, 5)
    np.testing.assert_array_equal(back, array)
    assert back.flags.writeable


def test_round_trip_details(tmp_path):
    one_d = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(read_idx(write_idx(one_d, tmp_path / "labels")), one_d)
    # big-endian input data and the explicit compress flag, whatever the name says
    big = np.arange(6, dtype=">i4").reshape(2, 3)
    path = write_idx(big, tmp_path / "big.bin", compress=True)
    assert path.read_bytes()[:2] == b"\x1f\x8b"
    np.testing.assert_array_equal(read_idx(path), big)
    path = write_idx(one_d, tmp_path / "plain.gz", compress=False)
    assert path.read_bytes()[:4] == b"\x00\x00\x08\x01"
    # the MNIST layout: a 3-D uint8 image file, known header bytes
    images = np.zeros((2, 28, 28), dtype=np.uint8)
    assert write_idx(images, tmp_path / "img").read_bytes()[:16] == bytes.fromhex("00000803000000020000001c0000001c")
    # data written by hand (not by write_idx) reads as expected, values big-endian
    path = write(tmp_path / "hand.idx", idx_bytes(0x0B, (2,), struct.pack(">2h", -2, 513)))
    np.testing.assert_array_equal(read_idx(path), np.array([-2, 513], dtype=np.int16))


def test_write_idx_refuses_unknown_dtypes(tmp_path):
    for dtype in (np.int64, np.float16, np.bool_, np.uint16):
        with pytest.raises(TypeError, match="has no IDX code"):
            write_idx(np.zeros(3, dtype=dtype), tmp_path / "x.idx")
    assert list(tmp_path.iterdir()) == []


def test_write_idx_refuses_zero_dimensions(tmp_path):
    """A 0-d array would make a file that read_idx rightly rejects: refuse it up front."""
    with pytest.raises(ValueError, match="at least one dimension"):
        write_idx(np.array(3, dtype=np.uint8), tmp_path / "x.idx")
    assert list(tmp_path.iterdir()) == []


SHAPES = st.lists(st.integers(0, 5), min_size=1, max_size=4).map(tuple)


@settings(max_examples=40)
@given(shape=SHAPES, dtype=st.sampled_from(list(DTYPES)), compress=st.booleans(), data=st.data())
def test_round_trip_property(tmp_path_factory, shape, dtype, compress, data):
    size = int(np.prod(shape))
    raw = data.draw(st.binary(min_size=size * np.dtype(dtype).itemsize, max_size=size * np.dtype(dtype).itemsize))
    array = np.frombuffer(raw, dtype=dtype).reshape(shape)  # any bit pattern, NaNs included
    path = write_idx(array, tmp_path_factory.mktemp("rt") / "x", compress=compress)
    back = read_idx(path)
    assert back.shape == shape and back.dtype == np.dtype(dtype)
    assert back.tobytes() == array.tobytes()


@settings(max_examples=60)
@given(shape=SHAPES.filter(lambda s: 0 < np.prod(s)), cut=st.integers(1, 200), extra=st.binary(max_size=8),
       compress=st.booleans())
def test_any_truncation_or_extension_is_an_idx_format_error(tmp_path_factory, shape, cut, extra, compress):
    good = idx_bytes(0x0C, shape, np.arange(int(np.prod(shape)), dtype=">i4").tobytes())
    cut = min(cut, len(good))
    variants = [good[:-cut]] + ([good + extra] if extra else [])
    folder = tmp_path_factory.mktemp("bad")
    for i, data in enumerate(variants):
        path = write(folder / f"{i}.idx", data, gz=compress)
        with pytest.raises(IDXFormatError, match=re.escape(str(path))):
            read_idx(path)


@settings(max_examples=60)
@given(blob=st.binary(max_size=64))
def test_arbitrary_bytes_never_crash_differently(tmp_path_factory, blob):
    """Whatever the bytes, read_idx returns an array or raises IDXFormatError: no other exception escapes."""
    path = tmp_path_factory.mktemp("fuzz") / "blob.idx"
    for data in (blob, gzip.compress(blob), gzip.compress(blob)[: len(blob) // 2 + 3]):
        path.write_bytes(data)
        try:
            array = read_idx(path)
        except IDXFormatError:
            continue
        assert isinstance(array, np.ndarray) and array.ndim >= 1
