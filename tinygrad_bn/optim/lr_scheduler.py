"""Learning-rate schedules of the source material: each sets every group's lr from its initial lr and the
epoch count. Call `step()` once per epoch, after the optimizer's steps, as in PyTorch.

    InverseTimeDecay   lr = lr0 / (1 + decay_rate * epoch)
    ExponentialLR      lr = lr0 * gamma ** epoch
    InverseSqrtDecay   lr = k / sqrt(epoch + 1) * lr0       (epoch + 1, so the first epoch is defined)
    StepLR             lr = lr0 * gamma ** (epoch // step_size)   (a staircase)
"""
from __future__ import annotations

import math
from typing import Any

from .optimizer import Optimizer


class LRScheduler:
    """Base class: remembers each group's initial lr and applies `lr_at(lr0, epoch)` on every step."""

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, base_lr: float, epoch: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        for group, base in zip(self.optimizer.param_groups, self.base_lrs):
            group["lr"] = self.lr_at(base, self.last_epoch)

    def step(self) -> None:
        """Advance one epoch and set the new learning rates."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as last set."""
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """Copies of the schedule's settings and position (everything but the optimizer)."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._apply()


class InverseTimeDecay(LRScheduler):
    """lr = lr0 / (1 + decay_rate * epoch)."""

    def __init__(self, optimizer: Optimizer, decay_rate: float) -> None:
        if decay_rate < 0:
            raise ValueError(f"InverseTimeDecay: decay_rate must be >= 0, got {decay_rate}")
        self.decay_rate = decay_rate
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr / (1 + self.decay_rate * epoch)


class ExponentialLR(LRScheduler):
    """lr = lr0 * gamma ** epoch (e.g. gamma = 0.95)."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        if gamma <= 0:
            raise ValueError(f"ExponentialLR: gamma must be > 0, got {gamma}")
        self.gamma = gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma**epoch


class InverseSqrtDecay(LRScheduler):
    """lr = k / sqrt(epoch + 1) * lr0."""

    def __init__(self, optimizer: Optimizer, k: float = 1.0) -> None:
        if k <= 0:
            raise ValueError(f"InverseSqrtDecay: k must be > 0, got {k}")
        self.k = k
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return self.k / math.sqrt(epoch + 1) * base_lr


class StepLR(LRScheduler):
    """lr = lr0 * gamma ** (epoch // step_size): constant for step_size epochs, then a drop."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer)

    def lr_at(self, base_lr: float, epoch: int) -> float:
        return base_lr * self.gamma ** (epoch // self.step_size)
