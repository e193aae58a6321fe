"""save/load of state dicts: round trips, refusing pickled data, and atomic writes."""
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

import tinygrad_bn
from tinygrad_bn import Tensor, load, nn, save


def sample_state():
    rng = np.random.default_rng(0)
    return {
        "0.weight": rng.standard_normal((3, 2)).astype(np.float32),
        "0.bias": rng.standard_normal(3),  # float64
        "1.num_batches_tracked": np.array(7, dtype=np.int64),
        "mask": np.array([True, False]),
        "pixels": np.arange(6, dtype=np.uint8).reshape(2, 3),
        "file": np.ones(2),  # the names of np.savez's own arguments are ordinary keys
        "allow_pickle": np.zeros(1),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


def plain_state():
    """Ordinary keys only: a (3, 2) float32 array first, then a (3,) float64 one, then others."""
    return {k: v for k, v in sample_state().items() if k not in ("file", "allow_pickle")}


def assert_same_arrays(loaded, expected):
    assert list(loaded) == list(expected)
    for key, value in expected.items():
        value = value.data if isinstance(value, Tensor) else value
        assert isinstance(loaded[key], np.ndarray), key
        assert loaded[key].dtype == value.dtype and loaded[key].shape == value.shape, key
        np.testing.assert_array_equal(loaded[key], value, err_msg=key)


def test_roundtrip_of_arrays(tmp_path):
    state = sample_state()
    path = save(state, tmp_path / "model.npz")
    assert path == tmp_path / "model.npz" and path.is_file()
    assert_same_arrays(load(path), state)
    assert_same_arrays(load(str(path)), state)
    with np.load(path, allow_pickle=False) as plain:  # a standard .npz that numpy reads as well
        assert sorted(plain.files) == sorted(state)


def test_roundtrip_of_tensors_and_parameters(tmp_path):
    state = {"t": Tensor(np.arange(4.0)), "p": nn.Parameter(np.ones((2, 2), dtype=np.float32)),
             "g": Tensor(np.ones(3), requires_grad=True) * 2}
    assert_same_arrays(load(save(state, tmp_path / "t.npz")), state)


def test_roundtrip_of_a_model_state_dict(tmp_path):
    tinygrad_bn.manual_seed(0)
    src = nn.MLP(5, [4, 4], 3, batchnorm=True)
    x = Tensor(np.random.default_rng(1).standard_normal((8, 5)).astype(np.float32))
    src(x)  # move the running statistics away from their initial values
    save(src.state_dict(), tmp_path / "ckpt" / "mlp.npz")  # missing folders are created
    dst = nn.MLP(5, [4, 4], 3, batchnorm=True)
    assert dst.load_state_dict(load(tmp_path / "ckpt" / "mlp.npz")) == ([], [])
    assert_same_arrays(dst.state_dict(), src.state_dict())
    src.eval()
    dst.eval()
    np.testing.assert_array_equal(dst(x).data, src(x).data)


def test_the_path_is_used_as_given(tmp_path):
    save({"a": np.ones(1)}, tmp_path / "weights")  # no ".npz" is appended
    assert [p.name for p in tmp_path.iterdir()] == ["weights"]
    np.testing.assert_array_equal(load(tmp_path / "weights")["a"], [1.0])


def test_overwriting_replaces_the_old_content(tmp_path):
    path = tmp_path / "m.npz"
    save({"a": np.ones(2)}, path)
    save({"b": np.zeros(3)}, path)
    assert_same_arrays(load(path), {"b": np.zeros(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_save_refuses_non_numeric_data(tmp_path):
    with pytest.raises(TypeError, match=r"save: 'bad' is not numeric data \(dtype object\)"):
        save({"ok": np.ones(2), "bad": np.array([{"a": 1}], dtype=object)}, tmp_path / "x.npz")
    assert list(tmp_path.iterdir()) == []


def test_load_of_a_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="load: no file at"):
        load(tmp_path / "nothing.npz")


# ----------------------------------------------------------------------------- never unpickle


class Payload:
    """Unpickling this would create a marker file: evidence that load ran code from the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (Path(self.marker).touch, ())


def test_load_never_unpickles_object_arrays(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    np.savez(path, weight=np.ones(2), payload=np.array([Payload(marker)], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"load: .*evil\.npz holds pickled objects or is not a valid \.npz file"):
        load(path)
    assert not marker.exists()


def test_load_refuses_a_pickle_file(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.npz"
    path.write_bytes(pickle.dumps({"weight": Payload(marker)}))
    with pytest.raises(ValueError, match="holds pickled objects or is not a valid .npz file"):
        load(path)
    assert not marker.exists()


@pytest.mark.parametrize("content", [
    b"", b"not an archive", b"PK\x03\x04 truncated zip",
], ids=["empty", "text", "truncated"])
def test_load_refuses_invalid_files_with_a_value_error(tmp_path, content):
    path = tmp_path / "broken.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a valid .npz file"):
        load(path)


def test_load_refuses_a_single_npy_array(tmp_path):
    np.save(tmp_path / "one.npy", np.ones(3))
    with pytest.raises(ValueError, match=r"single array \(\.npy\), not a state dict"):
        load(tmp_path / "one.npy")


def test_a_truncated_save_is_refused(tmp_path):
    path = save(sample_state(), tmp_path / "m.npz")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="not a valid .npz file"):
        load(path)


# ----------------------------------------------------------------------------- atomic writes


@pytest.fixture
def crash_mid_write(monkeypatch):
    """`arm()` makes the second array written to an .npz write half of its bytes, then fail (a full disk);
    it returns the shapes of the arrays whose writing was attempted.

    numpy's .npz writer (np.savez) and save both write each array with np.lib.format.write_array."""
    real = np.lib.format.write_array
    calls = []

    def write_then_crash(fp, array, *args, **kwargs):
        calls.append(array.shape)
        if len(calls) < 2:
            return real(fp, array, *args, **kwargs)
        buffer = io.BytesIO()
        real(buffer, array, *args, **kwargs)
        fp.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise OSError(28, "No space left on device (simulated)")

    def arm():
        monkeypatch.setattr(np.lib.format, "write_array", write_then_crash)
        return calls

    return arm


def test_a_crash_mid_write_leaves_the_old_file_intact_and_no_temp_file(tmp_path, crash_mid_write):
    path = tmp_path / "model.npz"
    old = {"w": np.arange(5.0)}
    save(old, path)
    old_bytes = path.read_bytes()
    calls = crash_mid_write()
    with pytest.raises(OSError, match="simulated"):
        save(plain_state(), path)
    assert calls == [(3, 2), (3,)]  # the crash did happen in the middle of writing
    assert path.read_bytes() == old_bytes
    assert_same_arrays(load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]


def test_a_crash_mid_write_creates_nothing_when_there_was_no_file(tmp_path, crash_mid_write):
    calls = crash_mid_write()
    with pytest.raises(OSError, match="simulated"):
        save(plain_state(), tmp_path / "new.npz")
    assert calls == [(3, 2), (3,)]
    assert list(tmp_path.iterdir()) == []


def test_an_interrupt_mid_write_also_cleans_up(tmp_path, monkeypatch):
    path = save({"w": np.ones(2)}, tmp_path / "m.npz")
    old_bytes = path.read_bytes()

    def interrupted(fp, array, *args, **kwargs):
        fp.write(b"\x93NUMPY partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(np.lib.format, "write_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save({"w": np.zeros(2)}, path)
    assert path.read_bytes() == old_bytes
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_the_new_file_appears_only_by_rename(tmp_path, monkeypatch):
    """While save writes, the target still holds the old content: the data goes to a temporary file."""
    path = save({"w": np.ones(2)}, tmp_path / "m.npz")
    old_bytes = path.read_bytes()
    real = np.lib.format.write_array
    seen = []

    def spy(fp, array, *args, **kwargs):
        seen.append((path.read_bytes() == old_bytes, sorted(p.name for p in tmp_path.iterdir())))
        return real(fp, array, *args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", spy)
    save({"w": np.zeros(2)}, path)
    assert len(seen) == 1
    target_unchanged, files_meanwhile = seen[0]
    assert target_unchanged
    assert len(files_meanwhile) == 2 and "m.npz" in files_meanwhile  # the temporary file sits beside it
    np.testing.assert_array_equal(load(path)["w"], [0.0, 0.0])
    assert [p.name for p in tmp_path.iterdir()] == ["m.npz"]


def test_ensure_writable_dir_creates_checks_and_leaves_nothing(tmp_path):
    from tinygrad_bn.serialization import OutputDirError, ensure_writable_dir

    target = tmp_path / "a" / "b"
    assert ensure_writable_dir(str(target)) == target and target.is_dir()
    assert list(target.iterdir()) == []  # the probe file is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for bad in (blocker, blocker / "sub"):
        with pytest.raises(OutputDirError, match=f"cannot write to the --out folder '{bad}': "):
            ensure_writable_dir(bad, what="--out folder")
    if os.name == "posix" and os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        with pytest.raises(OutputDirError, match="Permission denied"):
            ensure_writable_dir(locked)
        with pytest.raises(OSError):
            ensure_writable_dir(locked / "sub")
