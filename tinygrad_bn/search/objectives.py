"""A ready-made objective for the command line: train an MLP with a config, return its dev error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_DATA: dict[tuple, Any] = {}  # per process: datasets already loaded and split


@dataclass
class MLPObjective:
    """Train `nn.MLP` on a dataset's training split for `epochs`, return (dev error, history).

    Config keys (all optional): lr, momentum (SGD momentum), hidden (width), layers (count), activation,
    dropout, weight_decay, batchnorm, batch_size. The training set is split 80/20 into train and dev
    (stratified, fixed seed), so the test set stays untouched by the search.
    """

    dataset: str = "digits"
    epochs: int = 5
    data_dir: str | None = None
    seed: int = 0
    max_train: int | None = None

    def data(self) -> tuple:
        key = (self.dataset, self.data_dir, self.max_train)
        if key not in _DATA:
            from ..data import load_dataset, train_dev_test_split

            data = load_dataset(self.dataset, self.data_dir)
            x, t = data.x_train, data.t_train
            if self.max_train is not None:
                x, t = x[: self.max_train], t[: self.max_train]
            train, dev, _ = train_dev_test_split(x, t, fractions=(0.8, 0.2, 0.0), seed=0, stratify=True)
            _DATA[key] = (train, dev)
        return _DATA[key]

    def __call__(self, config: dict[str, Any]) -> tuple[float, dict]:
        from .. import nn, optim
        from ..data import DataLoader
        from ..nn import functional as F
        from ..random import manual_seed
        from ..train import fit

        manual_seed(self.seed)
        (x, t), (x_dev, t_dev) = self.data()
        width, layers = int(config.get("hidden", 100)), int(config.get("layers", 2))
        model = nn.MLP(x.shape[1], [width] * layers, int(t.max()) + 1,
                       activation=config.get("activation", "relu"), batchnorm=bool(config.get("batchnorm", True)),
                       dropout=float(config.get("dropout", 0.0)))
        optimizer = optim.SGD(model.parameters(), lr=float(config.get("lr", 0.01)),
                              momentum=float(config.get("momentum", 0.0)),
                              weight_decay=float(config.get("weight_decay", 0.0)))
        history = fit(model, F.cross_entropy, optimizer,
                      DataLoader(x, t, int(config.get("batch_size", 64)), shuffle=True, seed=self.seed),
                      self.epochs, dev_loader=DataLoader(x_dev, t_dev, 1000), progress=False)
        dev_error = 1.0 - history.dev_acc[-1]
        return (dev_error if np.isfinite(dev_error) else float("inf")), history.to_dict()
