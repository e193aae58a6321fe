"""A ready-made objective for the command line: train an MLP with a config, return its dev error."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import numpy as np

_DATA: dict[tuple[Any, ...], tuple[Any, ...]] = {}  # per process: datasets already loaded and split

# what a config leaves out: part of a trial's meaning, so a search log records them (see `describe`)
DEFAULTS: dict[str, Any] = {"lr": 0.01, "momentum": 0.0, "hidden": 100, "layers": 2, "activation": "relu",
                            "dropout": 0.0, "weight_decay": 0.0, "batchnorm": True, "batch_size": 64}


class Split(TypedDict):
    """How the training set is split into train and dev (`train_dev_test_split`'s arguments)."""

    fractions: list[float]
    seed: int
    stratify: bool


SPLIT: Split = {"fractions": [0.8, 0.2], "seed": 0, "stratify": True}  # train/dev split of the training set


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

    def describe(self) -> dict[str, Any]:
        """Everything that decides what a trial's value means, as a search log's header records it: the
        dataset, epochs, size limit, seed, split and the model and optimizer defaults a config leaves out.
        `data_dir` is left out: it says where the files are, not what they hold."""
        return {"name": f"{__name__}.{type(self).__qualname__}", "dataset": self.dataset, "epochs": self.epochs,
                "max_train": self.max_train, "seed": self.seed, "split": dict(SPLIT), "defaults": dict(DEFAULTS)}

    def data(self) -> tuple:
        """((x_train, t_train), (x_dev, t_dev)), loaded once per process."""
        key = (self.dataset, self.data_dir, self.max_train)
        if key not in _DATA:
            from ..data import load_dataset, train_dev_test_split

            data = load_dataset(self.dataset, self.data_dir)
            x, t = data.x_train, data.t_train
            if self.max_train is not None:
                x, t = x[: self.max_train], t[: self.max_train]
            train, dev, _ = train_dev_test_split(x, t, fractions=(*SPLIT["fractions"], 0.0), seed=SPLIT["seed"],
                                                 stratify=SPLIT["stratify"])
            _DATA[key] = (train, dev)
        return _DATA[key]

    def __call__(self, config: dict[str, Any]) -> tuple[float, dict]:
        """Train with `config` (missing keys take DEFAULTS) and return (dev error, history dict)."""
        from .. import nn, optim
        from ..data import DataLoader
        from ..nn import functional as F
        from ..random import manual_seed
        from ..train import fit

        manual_seed(self.seed)
        (x, t), (x_dev, t_dev) = self.data()
        config = {**DEFAULTS, **config}
        width, layers = int(config["hidden"]), int(config["layers"])
        model = nn.MLP(x.shape[1], [width] * layers, int(t.max()) + 1, activation=config["activation"],
                       batchnorm=bool(config["batchnorm"]), dropout=float(config["dropout"]))
        optimizer = optim.SGD(model.parameters(), lr=float(config["lr"]), momentum=float(config["momentum"]),
                              weight_decay=float(config["weight_decay"]))
        history = fit(model, F.cross_entropy, optimizer,
                      DataLoader(x, t, int(config["batch_size"]), shuffle=True, seed=self.seed),
                      self.epochs, dev_loader=DataLoader(x_dev, t_dev, 1000), progress=False)
        dev_error = 1.0 - history.dev_acc[-1]
        return (dev_error if np.isfinite(dev_error) else float("inf")), history.to_dict()
