"""What a training run records (`History`) and the exponentially weighted average used for running losses."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


class EWMA:
    """Exponentially weighted moving average V_t = beta * V_{t-1} + (1 - beta) * x_t, V_0 = 0.

    With `bias_correction`, `update` returns V_t / (1 - beta^t), which removes the pull towards 0 of the
    first steps (the source material's correction); without it, V_t itself.
    """

    def __init__(self, beta: float = 0.9, bias_correction: bool = True) -> None:
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"EWMA: beta must be in [0, 1), got {beta}")
        self.beta, self.bias_correction = beta, bias_correction
        self.raw, self.count = 0.0, 0

    def update(self, x: float) -> float:
        """Add one observation and return the (corrected) average."""
        self.count += 1
        self.raw = self.beta * self.raw + (1.0 - self.beta) * float(x)
        return self.value

    @property
    def value(self) -> float:
        if self.count == 0:
            return float("nan")
        if self.bias_correction:
            return self.raw / (1.0 - self.beta**self.count)
        return self.raw

    def series(self, xs: list[float]) -> list[float]:
        """The average after each of `xs` (for smoothing a curve in a plot)."""
        return [self.update(x) for x in xs]


@dataclass
class History:
    """Per-epoch metrics of a run: losses and accuracies on train (running, in training mode) and dev."""

    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    dev_loss: list[float] = field(default_factory=list)
    dev_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    stopped_early_at: int | None = None  # epoch (1-based) after which early stopping ended the run
    best_epoch: int | None = None

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def diagnose(self, bayes_error: float = 0.0, tolerance: float = 0.02) -> Any:
        """Bias/variance verdict from the final train and dev error (1 - accuracy); see train.diagnose."""
        from .diagnosis import diagnose

        if not self.train_acc or not self.dev_acc:
            raise ValueError("History.diagnose: needs train and dev accuracy (train with a dev_loader)")
        return diagnose(1.0 - self.train_acc[-1], 1.0 - self.dev_acc[-1], bayes_error, tolerance)

    def final(self, metric: str) -> float:
        values: list[float] = getattr(self, metric)
        if not values:
            raise ValueError(f"History: no {metric} recorded")
        return values[-1]
