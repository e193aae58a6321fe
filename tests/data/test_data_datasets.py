"""load_mnist's search order and errors with small generated IDX files, its output formats, and load_digits."""
import socket

import numpy as np
import pytest

from tinygrad_bn.data import (
    DatasetNotFoundError,
    IDXFormatError,
    load_dataset,
    load_digits,
    load_mnist,
    search_dirs,
    write_idx,
)
from tinygrad_bn.data.datasets import FILES

N_TRAIN, N_TEST = 12, 5


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Empty folders for root, $TINYGRAD_BN_DATA and $XDG_CACHE_HOME; nothing else on the machine is seen."""
    dirs = {name: tmp_path / name for name in ("root", "env", "xdg")}
    for d in dirs.values():
        d.mkdir()
    monkeypatch.setenv("TINYGRAD_BN_DATA", str(dirs["env"]))
    monkeypatch.setenv("XDG_CACHE_HOME", str(dirs["xdg"]))
    return dirs


def make_mnist(folder, marker, gz=True, n_train=N_TRAIN, n_test=N_TEST):
    """Write the four files into `folder`; every pixel of image i is marker + i, so each copy is recognizable."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", n_train), ("test", n_test)):
        images = (marker + np.arange(n, dtype=np.uint8))[:, None, None] * np.ones((1, 4, 3), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        for kind, array in (("images", images), ("labels", labels)):
            name = FILES[f"{split}_{kind}"]
            write_idx(array, folder / (name if gz else name.removesuffix(".gz")))
    return folder


def marker_of(dataset):
    (x_train, _), _ = dataset
    return int(x_train[0, 0])


def test_search_order(places, monkeypatch):
    root, env, xdg = places["root"], places["env"], places["xdg"]
    expected = [root, root / "mnist", env, env / "mnist", xdg / "tinygrad_bn" / "mnist",
                xdg / "tinygrad_bn" / "mnist" / "mnist"]
    assert search_dirs("mnist", root) == expected
    assert search_dirs("mnist") == expected[2:]
    monkeypatch.delenv("TINYGRAD_BN_DATA")
    assert search_dirs("mnist", root) == [root, root / "mnist", *expected[4:]]
    fashion = search_dirs("fashion-mnist", root)
    assert fashion[-2:] == [fashion[-2], fashion[-2] / "fashion-mnist"] and "datasets" in str(fashion[-2])
    with pytest.raises(ValueError, match="unknown dataset 'kmnist'"):
        search_dirs("kmnist")


def test_load_mnist_finds_root_then_env_then_cache(places):
    root, env, xdg = places["root"], places["env"], places["xdg"]
    cache = make_mnist(xdg / "tinygrad_bn" / "mnist", marker=30)
    env_copy = make_mnist(env / "mnist", marker=20, gz=False)  # a sub-folder named after the dataset, raw files
    root_copy = make_mnist(root, marker=10)
    kwargs = dict(normalize=False)
    assert marker_of(load_mnist(root, **kwargs)) == 10
    for f in root_copy.iterdir():
        f.unlink()
    assert marker_of(load_mnist(root, **kwargs)) == 20
    assert marker_of(load_mnist(**kwargs)) == 20  # without root, the environment comes first
    for f in env_copy.iterdir():
        f.unlink()
    assert marker_of(load_mnist(root, **kwargs)) == 30
    assert cache.is_dir()


def test_root_subfolder_named_after_dataset(places):
    make_mnist(places["root"] / "mnist", marker=40)
    make_mnist(places["root"] / "fashion-mnist", marker=50)
    assert marker_of(load_mnist(places["root"], normalize=False)) == 40
    assert marker_of(load_mnist(places["root"], dataset="fashion-mnist", normalize=False)) == 50


def test_not_found_lists_where_it_looked(places):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist(places["root"])
    message = str(info.value)
    for d in search_dirs("mnist", places["root"]):
        assert str(d) in message
    for name in FILES.values():
        assert name in message
    assert "download=True" in message and "TINYGRAD_BN_DATA" in message
    assert isinstance(info.value, FileNotFoundError)
    # what a command line needs to phrase its own fix, on one line
    summary = info.value.summary(fix="pass --download")
    assert "\n" not in summary and "download=True" not in summary and summary.endswith("; pass --download")
    assert all(name in summary for name in FILES.values()) and str(places["root"]) in summary
    with pytest.raises(ValueError, match="unknown dataset"):
        load_mnist(places["root"], dataset="cifar")


def test_partly_missing_names_the_missing_files(places):
    make_mnist(places["root"], marker=1)
    (places["root"] / FILES["test_labels"]).unlink()
    with pytest.raises(DatasetNotFoundError, match="missing t10k-labels-idx1-ubyte.gz. Looked in"):
        load_mnist(places["root"])


def test_mismatched_counts_are_an_error(places):
    make_mnist(places["root"], marker=1)
    write_idx(np.zeros(N_TRAIN + 1, dtype=np.uint8), places["root"] / FILES["train_labels"])
    with pytest.raises(ValueError, match=r"train images \(12, 4, 3\) and labels \(13,\) do not match"):
        load_mnist(places["root"])


def test_output_formats(places):
    make_mnist(places["root"], marker=100)
    (x, t), (xs, ts) = load_mnist(places["root"])
    assert x.shape == (N_TRAIN, 12) and x.dtype == np.float32
    assert xs.shape == (N_TEST, 12)
    np.testing.assert_allclose(x[:, 0], (100 + np.arange(N_TRAIN)) / 255.0, rtol=1e-6)
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert t.dtype == np.int64 and t.shape == (N_TRAIN,)
    np.testing.assert_array_equal(t, np.arange(N_TRAIN) % 10)

    (x, t), _ = load_mnist(places["root"], normalize=False, flatten=False)
    assert x.shape == (N_TRAIN, 1, 4, 3) and x.dtype == np.uint8
    assert x[3, 0, 2, 1] == 103

    (x, t), (xs, ts) = load_mnist(places["root"], one_hot=True)
    assert t.shape == (N_TRAIN, 10) and t.dtype == np.float32 and ts.shape == (N_TEST, 10)
    np.testing.assert_array_equal(t.sum(axis=1), 1.0)
    np.testing.assert_array_equal(t.argmax(axis=1), np.arange(N_TRAIN) % 10)


def test_load_digits_offline_shapes_and_split(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("load_digits tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    (x, t), (xs, ts) = load_digits()
    assert len(x) + len(xs) == 1797
    assert len(xs) == pytest.approx(0.2 * 1797, abs=10)
    assert x.shape[1:] == (64,) and x.dtype == np.float32 and xs.shape[1:] == (64,)
    assert 0.0 <= x.min() and x.max() <= 1.0 and x.max() == 1.0  # raw values 0..16, divided by 16
    assert t.dtype == np.int64 and set(np.unique(t)) == set(range(10))
    # stratified: each class is ~20% test, so both splits have the same class proportions
    train_counts, test_counts = np.bincount(t, minlength=10), np.bincount(ts, minlength=10)
    np.testing.assert_allclose(test_counts / (train_counts + test_counts), 0.2, atol=0.01)
    # no image is in both splits (the digits set has a few exact duplicates: compare with multiplicity)
    from sklearn.datasets import load_digits as sklearn_digits

    everything = np.concatenate([x, xs])
    original = sklearn_digits().data.astype(np.float32) / 16
    as_set = lambda a: sorted(map(bytes, a))  # noqa: E731
    assert as_set(everything) == as_set(original)


def test_load_digits_reproducible_and_seeded():
    (x1, t1), (xs1, ts1) = load_digits(seed=3)
    (x2, t2), (xs2, ts2) = load_digits(seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(ts1, ts2)
    (x3, t3), _ = load_digits(seed=4)
    assert not np.array_equal(t1, t3)


def test_load_digits_formats():
    (x, t), (xs, ts) = load_digits(normalize=False, flatten=False, one_hot=True, test_fraction=0.5)
    assert x.shape[1:] == (1, 8, 8) and x.max() == 16.0
    assert t.shape[1:] == (10,) and t.dtype == np.float32
    assert abs(len(x) - len(xs)) <= 10


def test_files_of_different_folders_are_never_mixed(places):
    """Training files in one folder and test files in another are not combined into one dataset."""
    make_mnist(places["root"], marker=10)
    make_mnist(places["env"], marker=20)
    for name in (FILES["test_images"], FILES["test_labels"]):
        (places["root"] / name).unlink()
    assert marker_of(load_mnist(places["root"], normalize=False)) == 20  # the first complete folder
    for name in (FILES["train_images"], FILES["train_labels"]):
        (places["env"] / name).unlink()
    with pytest.raises(DatasetNotFoundError, match="no single folder holds all four files"):
        load_mnist(places["root"])


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("bad", [200, 10])
def test_labels_outside_the_classes_name_the_file(places, split, bad):
    """A corrupt label byte is an error naming the file, not a model with bad + 1 outputs."""
    make_mnist(places["root"], marker=1)
    n = N_TRAIN if split == "train" else N_TEST
    labels = (np.arange(n) % 10).astype(np.uint8)
    labels[3] = bad
    path = places["root"] / FILES[f"{split}_labels"]
    write_idx(labels, path)
    message = rf"{path}: 1 labels outside the 10 classes 0\.\.9 \(values {bad}; first at index 3\)"
    with pytest.raises(IDXFormatError, match=message):
        load_mnist(places["root"])
    with pytest.raises(IDXFormatError, match=message):
        load_dataset("mnist", places["root"])


def test_test_only_folder_checks_its_labels(places):
    """A folder with just the t10k files is split into train and test, after the same label check."""
    make_mnist(places["root"], marker=1, n_test=30)
    for name in (FILES["train_images"], FILES["train_labels"]):
        (places["root"] / name).unlink()
    data = load_dataset("mnist", places["root"], test_only_split=20)
    assert (len(data.x_train), len(data.x_test), data.classes) == (20, 10, 10)
    write_idx(np.full(30, 255, dtype=np.uint8), places["root"] / FILES["test_labels"])
    with pytest.raises(IDXFormatError, match="30 labels outside the 10 classes"):
        load_dataset("mnist", places["root"])
