"""DataLoader batches, train_dev_test_split and Standardizer (statistics from the training set only)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tinygrad_bn import Tensor
from tinygrad_bn.data import DataLoader, Standardizer, train_dev_test_split

X = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
Y = np.arange(23) % 4


def rows(batches):
    """The example indices in a list of x batches (X's first column is 3 * index)."""
    return [(b.data[:, 0] // 3).astype(int).tolist() for b in batches]


# ----------------------------------------------------------------------------- DataLoader


def test_batches_are_tensors_of_the_right_sizes():
    loader = DataLoader(X, Y, batch_size=5)
    batches = list(loader)
    assert len(loader) == 5 == len(batches)
    assert [len(x) for x, _ in batches] == [5, 5, 5, 5, 3]
    for x, y in batches:
        assert isinstance(x, Tensor) and isinstance(y, Tensor)
        assert not x.requires_grad and x.dtype == np.float32 and y.dtype == Y.dtype
        assert x.shape[1:] == (3,) and y.shape == (len(x),)
    np.testing.assert_array_equal(np.concatenate([x.data for x, _ in batches]), X)  # in order without shuffle
    np.testing.assert_array_equal(np.concatenate([y.data for _, y in batches]), Y)


def test_drop_last():
    loader = DataLoader(X, Y, batch_size=5, drop_last=True)
    assert len(loader) == 4
    assert [len(x) for x, _ in loader] == [5] * 4
    assert len(DataLoader(X, Y, batch_size=23, drop_last=True)) == 1
    assert len(DataLoader(X, Y, batch_size=24, drop_last=True)) == 0
    assert len(DataLoader(X, Y, batch_size=24)) == 1
    assert list(DataLoader(X, Y, batch_size=24, drop_last=True)) == []


def test_x_only_and_tensor_input():
    batches = list(DataLoader(Tensor(X), batch_size=10))
    assert all(isinstance(b, Tensor) for b in batches)
    assert rows(batches) == [list(range(10)), list(range(10, 20)), [20, 21, 22]]


def test_shuffle_is_a_permutation_reproducible_by_seed_and_new_every_epoch():
    a = DataLoader(X, Y, batch_size=4, shuffle=True, seed=7)
    b = DataLoader(X, Y, batch_size=4, shuffle=True, seed=7)
    epochs_a = [sum(rows(x for x, _ in a), []) for _ in range(3)]
    epochs_b = [sum(rows(x for x, _ in b), []) for _ in range(3)]
    assert epochs_a == epochs_b  # same seed, same orders
    for order in epochs_a:
        assert sorted(order) == list(range(23))  # every example exactly once
        assert order != list(range(23))
    assert epochs_a[0] != epochs_a[1] != epochs_a[2]  # a new order every epoch
    other = DataLoader(X, Y, batch_size=4, shuffle=True, seed=8)
    assert sum(rows(x for x, _ in other), []) != epochs_a[0]
    # labels travel with their examples
    for x, y in DataLoader(X, Y, batch_size=4, shuffle=True, seed=1):
        np.testing.assert_array_equal(y.data, (x.data[:, 0] // 3).astype(int) % 4)


def test_set_epoch_positions_the_order():
    loader = DataLoader(X, Y, batch_size=4, shuffle=True, seed=7)
    orders = [sum(rows(x for x, _ in loader), []) for _ in range(4)]
    assert loader.epoch == 4
    fresh = DataLoader(X, Y, batch_size=4, shuffle=True, seed=7)
    fresh.set_epoch(2)
    assert sum(rows(x for x, _ in fresh), []) == orders[2]
    assert sum(rows(x for x, _ in fresh), []) == orders[3]  # iterating advances one epoch
    fresh.set_epoch(0)
    assert sum(rows(x for x, _ in fresh), []) == orders[0]


def test_unseeded_shuffle_still_shuffles():
    loader = DataLoader(X, Y, batch_size=23, shuffle=True)
    orders = [sum(rows(x for x, _ in loader), []) for _ in range(3)]
    assert all(sorted(o) == list(range(23)) for o in orders)
    assert len({tuple(o) for o in orders}) > 1


def test_loader_errors():
    with pytest.raises(ValueError, match="x has 23 examples but y has 22"):
        DataLoader(X, Y[:-1])
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        DataLoader(X, Y, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        DataLoader(X[:0], Y[:0])


# ----------------------------------------------------------------------------- train_dev_test_split


def test_split_fractions_no_overlap_and_coverage():
    x = np.arange(100)
    y = x % 3
    (xa, ya), (xb, yb), (xc, yc) = train_dev_test_split(x, y, fractions=(0.7, 0.2, 0.1), seed=0)
    assert (len(xa), len(xb), len(xc)) == (70, 20, 10)
    together = np.concatenate([xa, xb, xc])
    assert sorted(together.tolist()) == list(range(100))  # no overlap, everything covered
    for xs, ys in ((xa, ya), (xb, yb), (xc, yc)):
        np.testing.assert_array_equal(ys, xs % 3)  # labels stay with their examples
    assert xa.tolist() != sorted(xa.tolist())  # shuffled


def test_split_is_reproducible_by_seed():
    x, y = np.arange(50), np.arange(50) % 2
    first = train_dev_test_split(x, y, seed=5)
    again = train_dev_test_split(x, y, seed=5)
    other = train_dev_test_split(x, y, seed=6)
    for (a, _), (b, _) in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0][0], other[0][0])


def test_stratify_keeps_class_proportions():
    y = np.repeat([0, 1, 2], [600, 300, 100])  # 60% / 30% / 10%
    x = np.arange(len(y))
    parts = train_dev_test_split(x, y, fractions=(0.6, 0.2, 0.2), seed=0, stratify=True)
    for _, ys in parts:
        np.testing.assert_allclose(np.bincount(ys, minlength=3) / len(ys), [0.6, 0.3, 0.1])
    assert [len(xs) for xs, _ in parts] == [600, 200, 200]
    assert sorted(np.concatenate([xs for xs, _ in parts]).tolist()) == list(range(1000))
    # within each split the classes are interleaved, not in blocks
    assert not np.all(np.diff(parts[0][1]) >= 0)


def test_stratify_with_one_hot_labels():
    labels = np.repeat([0, 1, 2], [60, 30, 10])
    one_hot = np.eye(3, dtype=np.float32)[labels]
    x = np.arange(100)
    parts = train_dev_test_split(x, one_hot, fractions=(0.5, 0.3, 0.2), seed=1, stratify=True)
    assert sorted(np.concatenate([xs for xs, _ in parts]).tolist()) == list(range(100))
    for xs, ys in parts:
        np.testing.assert_array_equal(ys, one_hot[xs])
        np.testing.assert_allclose(ys.mean(axis=0), [0.6, 0.3, 0.1])
    with pytest.raises(ValueError, match="class labels"):
        train_dev_test_split(x, np.zeros((100, 2, 2)), stratify=True)


def test_zero_fraction_split_gets_nothing():
    """A split with fraction 0 must stay empty, also when the other fractions round up."""
    y = np.repeat(np.arange(7), 5)  # 7 classes of 5: 0.5 * 5 = 2.5 rounds to 2 for both train and dev
    x = np.arange(len(y))
    for stratify in (False, True):
        (xa, _), (xb, _), (xc, _) = train_dev_test_split(x, y, fractions=(0.5, 0.5, 0.0), seed=0, stratify=stratify)
        assert len(xc) == 0
        assert len(xa) + len(xb) == len(y)
    (xa, _), (xb, _), (xc, _) = train_dev_test_split(x, y, fractions=(0.8, 0.0, 0.2), seed=0, stratify=True)
    assert len(xb) == 0 and len(xa) == 28 and len(xc) == 7


def test_split_errors():
    x, y = np.arange(10), np.arange(10)
    with pytest.raises(ValueError, match="summing to 1"):
        train_dev_test_split(x, y, fractions=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="summing to 1"):
        train_dev_test_split(x, y, fractions=(1.2, -0.2, 0.0))
    with pytest.raises(ValueError, match="summing to 1"):
        train_dev_test_split(x, y, fractions=(0.5, 0.5))
    with pytest.raises(ValueError, match="x has 10 examples but y has 9"):
        train_dev_test_split(x, y[:-1])


# ----------------------------------------------------------------------------- Standardizer


def test_statistics_come_from_train_only():
    rng = np.random.default_rng(0)
    train = rng.normal(5.0, 2.0, size=(200, 4)).astype(np.float32)
    dev = rng.normal(-3.0, 10.0, size=(50, 4)).astype(np.float32)  # a different distribution
    s = Standardizer().fit(train)
    np.testing.assert_allclose(s.mean, train.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(s.std, train.std(axis=0), rtol=1e-6)
    z_train = s.transform(train)
    np.testing.assert_allclose(z_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(z_train.std(axis=0), 1.0, rtol=1e-5)
    z_dev = s.transform(dev)
    np.testing.assert_allclose(z_dev, (dev - train.mean(axis=0)) / train.std(axis=0), rtol=1e-5, atol=1e-5)
    assert abs(z_dev.mean()) > 1.0  # dev is not re-centred on its own statistics: nothing leaks
    mean_before = s.mean.copy()
    s.transform(dev)
    np.testing.assert_array_equal(s.mean, mean_before)  # transforming never refits
    assert z_dev.dtype == np.float32
    np.testing.assert_array_equal(s.fit_transform(train), z_train)


def test_zero_variance_features_are_only_centred():
    x = np.array([[1.0, 7.0], [3.0, 7.0], [5.0, 7.0]])
    s = Standardizer().fit(x)
    z = s.transform(x)
    assert np.all(np.isfinite(z))
    np.testing.assert_array_equal(z[:, 1], 0.0)
    np.testing.assert_array_equal(s.transform(np.array([[3.0, 9.0]]))[:, 1], [2.0])  # centred, not divided
    tiny = Standardizer(min_std=1e-3).fit(np.array([[0.0], [1e-4]]))
    assert tiny.std[0] == 1.0


def test_integer_input_and_images():
    images = np.random.default_rng(0).integers(0, 256, size=(30, 2, 3), dtype=np.uint8)
    s = Standardizer().fit(images)
    assert s.mean.shape == (2, 3)
    z = s.transform(images)
    assert z.dtype == np.float32 and z.shape == images.shape
    np.testing.assert_allclose(z.mean(axis=0), 0.0, atol=1e-5)


def test_inverse_transform_round_trip():
    x = np.random.default_rng(1).normal(2.0, 3.0, size=(40, 5))
    s = Standardizer().fit(x[:30])
    np.testing.assert_allclose(s.inverse_transform(s.transform(x[30:])), x[30:], rtol=1e-12)


def test_state_dict_round_trip(tmp_path):
    from tinygrad_bn import load, save

    x = np.random.default_rng(2).normal(size=(20, 3)).astype(np.float32)
    s = Standardizer(min_std=1e-4).fit(x)
    path = save(s.state_dict(), tmp_path / "standardizer.npz")
    restored = Standardizer()
    restored.load_state_dict(load(path))
    assert restored.min_std == pytest.approx(1e-4)
    np.testing.assert_array_equal(restored.transform(x), s.transform(x))
    state = s.state_dict()
    state["mean"][...] = 99.0  # a copy: changing it does not change the standardizer
    assert not np.any(s.mean == 99.0)


def test_standardizer_errors():
    s = Standardizer()
    with pytest.raises(RuntimeError, match="call fit"):
        s.transform(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="call fit"):
        s.inverse_transform(np.zeros((2, 3)))
    with pytest.raises(RuntimeError, match="nothing to save"):
        s.state_dict()
    with pytest.raises(ValueError, match="at least one example"):
        s.fit(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        s.fit(np.array([[1.0, np.nan]]))
    s.fit(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"fitted on features of shape \(3,\), got \(4,\)"):
        s.transform(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="fitted on features"):
        s.inverse_transform(np.zeros((2, 3, 1)))


# ----------------------------------------------------------------------------- properties


@settings(max_examples=50)
@given(n=st.integers(1, 40), batch_size=st.integers(1, 15), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 2**32 - 1))
def test_loader_property(n, batch_size, shuffle, drop_last, seed):
    x = np.arange(n, dtype=np.float32)[:, None] * 3
    y = np.arange(n)
    loader = DataLoader(x, y, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last, seed=seed)
    batches = list(loader)
    assert len(batches) == len(loader)
    sizes = [len(xb) for xb, _ in batches]
    assert all(s == batch_size for s in sizes[:-1]) and (not sizes or 0 < sizes[-1] <= batch_size)
    seen = np.concatenate([yb.data for _, yb in batches]) if batches else np.array([], dtype=int)
    for xb, yb in batches:
        np.testing.assert_array_equal(xb.data[:, 0], yb.data * 3)
    assert len(set(seen.tolist())) == len(seen)  # no example twice in an epoch
    assert len(seen) == (n // batch_size * batch_size if drop_last else n)
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


@settings(max_examples=50)
@given(labels=st.lists(st.integers(0, 3), min_size=1, max_size=60),
       weights=st.tuples(st.integers(0, 10), st.integers(0, 10), st.integers(0, 10)).filter(lambda w: sum(w) > 0),
       stratify=st.booleans(), seed=st.integers(0, 100))
def test_split_property(labels, weights, stratify, seed):
    y = np.array(labels)
    x = np.arange(len(y))
    fractions = [w / sum(weights) for w in weights]
    fractions[2] = 1.0 - fractions[0] - fractions[1] if weights[2] else 0.0
    parts = train_dev_test_split(x, y, fractions=fractions, seed=seed, stratify=stratify)
    together = np.concatenate([xs for xs, _ in parts])
    assert sorted(together.tolist()) == list(range(len(y)))  # a partition: no overlap, nothing lost
    for (xs, ys), w in zip(parts, weights):
        np.testing.assert_array_equal(ys, y[xs])
        if w == 0:
            assert len(xs) == 0  # a split of fraction 0 stays empty
    if stratify:  # per class, each split gets its share rounded: within one example of the exact share
        for c in np.unique(y):
            members = np.sum(y == c)
            for (_, ys), f in zip(parts, fractions):
                assert abs(np.sum(ys == c) - f * members) <= 1.0 + 1e-9


def test_batches_are_copies_of_the_dataset():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)
    for shuffle in (False, True):
        xb, yb = next(iter(DataLoader(x, y, 3, shuffle=shuffle, seed=0)))
        xb.data[...] = -1
        yb.data[...] = -1
        assert x.min() == 0 and y.min() == 0
