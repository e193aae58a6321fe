"""Input standardization with the training set's statistics, applied unchanged to dev and test data."""
from __future__ import annotations

from typing import Any

import numpy as np


class Standardizer:
    """x -> (x - mean) / std per feature, with mean and std learned by `fit` on the training set only.

    Dev and test data must be transformed with the same mean and std (never refit on them), so all
    splits live on the same scale. Features whose std is below `min_std` (constant pixels, say) are only
    centred, never divided by ~0.
    """

    def __init__(self, min_std: float = 1e-8) -> None:
        self.min_std = min_std
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None

    def fit(self, x: np.ndarray) -> Standardizer:
        x = np.asarray(x)
        if x.ndim < 1 or len(x) == 0:
            raise ValueError(f"Standardizer.fit: need at least one example, got shape {x.shape}")
        if not np.all(np.isfinite(x)):
            raise ValueError("Standardizer.fit: the data holds NaN or infinite values")
        self.mean = x.mean(axis=0)
        std = x.std(axis=0)
        self.std = np.where(std < self.min_std, 1.0, std).astype(self.mean.dtype)
        return self

    def _check(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`x` as an array of the fitted features' shape, with the fitted mean and std."""
        if self.mean is None or self.std is None:  # fit and load_state_dict set both
            raise RuntimeError("Standardizer: call fit() on the training set first")
        x = np.asarray(x)
        if x.shape[1:] != self.mean.shape:
            raise ValueError(f"Standardizer: fitted on features of shape {self.mean.shape}, got {x.shape[1:]}")
        return x, self.mean, self.std

    def transform(self, x: np.ndarray) -> np.ndarray:
        x, mean, std = self._check(x)
        z: np.ndarray = ((x - mean) / std).astype(x.dtype if x.dtype.kind == "f" else np.float32)
        return z

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        return self.fit(x).transform(x)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        z, mean, std = self._check(z)
        x: np.ndarray = z * std + mean
        return x

    def state_dict(self) -> dict[str, Any]:
        if self.mean is None or self.std is None:  # fit and load_state_dict set both
            raise RuntimeError("Standardizer: nothing to save before fit()")
        return {"mean": self.mean.copy(), "std": self.std.copy(), "min_std": np.array(self.min_std)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.mean, self.std = np.asarray(state["mean"]), np.asarray(state["std"])
        self.min_std = float(state.get("min_std", self.min_std))
