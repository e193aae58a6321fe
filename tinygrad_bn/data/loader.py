"""Mini-batches and splits: `DataLoader` yields Tensor batches; `train_dev_test_split` splits arrays."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import cast

import numpy as np

from ..tensor import Tensor


class DataLoader:
    """Iterate over (x, y) in mini-batches of Tensors, optionally reshuffled every epoch.

    The order of epoch e depends only on (seed, e), so a run resumed at epoch e sees the same batches as
    an uninterrupted one (`set_epoch` positions the loader; iterating advances it by one epoch).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray | None = None, batch_size: int = 100, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None) -> None:
        x = np.asarray(x.data if isinstance(x, Tensor) else x)
        y = None if y is None else np.asarray(y.data if isinstance(y, Tensor) else y)
        if y is not None and len(x) != len(y):
            raise ValueError(f"DataLoader: x has {len(x)} examples but y has {len(y)}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1, got {batch_size}")
        if len(x) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        self.x, self.y = x, y
        self.batch_size, self.shuffle, self.drop_last = batch_size, shuffle, drop_last
        # a SeedSequence made without entropy draws a fresh int from the OS
        self.seed = int(cast(int, np.random.SeedSequence().entropy) % 2**32) if seed is None else seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration produce the batches of `epoch`."""
        self.epoch = epoch

    def __len__(self) -> int:
        n = len(self.x)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor] | Tensor]:
        n = len(self.x)
        order = np.random.default_rng([self.seed, self.epoch]).permutation(n) if self.shuffle else None
        self.epoch += 1
        stop = (n // self.batch_size) * self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            index = slice(start, start + self.batch_size) if order is None else order[start:start + self.batch_size]
            xb = Tensor._wrap(np.array(self.x[index]))  # a copy: editing a batch never changes the dataset
            if self.y is None:
                yield xb
            else:
                yield xb, Tensor._wrap(np.array(self.y[index]))


def train_dev_test_split(x: np.ndarray, y: np.ndarray, fractions: Sequence[float] = (0.6, 0.2, 0.2),
                         seed: int | None = None, stratify: bool = False) -> tuple:
    """Split into ((x_train, y_train), (x_dev, y_dev), (x_test, y_test)) by the given fractions.

    Examples are shuffled with `seed`; with `stratify`, every class is split in the same proportions, so
    dev and test come from the same distribution as train.
    """
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"train_dev_test_split: x has {len(x)} examples but y has {len(y)}")
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"train_dev_test_split: fractions must be three numbers >= 0 summing to 1, got {fractions}")
    rng = np.random.default_rng(seed)
    if stratify:
        if y.ndim not in (1, 2):
            raise ValueError(f"train_dev_test_split: stratify needs class labels (N,) or one-hot rows (N, C), "
                             f"got shape {y.shape}")
        classes = y if y.ndim == 1 else y.argmax(axis=1)
        groups = [np.flatnonzero(classes == c) for c in np.unique(classes)]
    else:
        groups = [np.arange(len(x))]
    parts: list[list[np.ndarray]] = [[], [], []]
    for members in groups:
        members = rng.permutation(members)
        n = len(members)
        # cumulative cuts: the rounding of train and dev cannot spill examples into a test split of fraction 0
        cut1 = int(round(fractions[0] * n))
        cut2 = max(cut1, int(round((fractions[0] + fractions[1]) * n)))
        for i, chunk in enumerate((members[:cut1], members[cut1:cut2], members[cut2:])):
            parts[i].append(chunk)
    result = []
    for chunks in parts:
        index = rng.permutation(np.concatenate(chunks)) if chunks else np.array([], dtype=int)
        result.append((x[index], y[index]))
    return tuple(result)
