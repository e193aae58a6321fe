"""One training step, written once: `fit` and every experiment train through `TrainStep`.

The step does only array work plus one check: zero the gradients, forward, loss, `check_finite` on the
loss (so a NaN never reaches the weights), backward, optimizer step. It reads no tensor value in Python
(no `.item()`), which is what lets a compiler record the step once and replay it.
"""
from __future__ import annotations

from collections.abc import Callable

from ..autograd import check_finite
from ..nn.module import Module
from ..optim.optimizer import Optimizer
from ..tensor import Tensor

LossFn = Callable[[Tensor, Tensor], Tensor]


class TrainStep:
    """`step(x, y) -> (loss, logits)`: one optimizer update of `model` on the batch (x, y).

    Both results are detached from the graph. A NaN or infinite loss raises `TrainingDivergedError`
    before backward, so the parameters and optimizer state stay as they were before the step.
    """

    def __init__(self, model: Module, loss_fn: LossFn, optimizer: Optimizer) -> None:
        self.model, self.loss_fn, self.optimizer = model, loss_fn, optimizer

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        self.optimizer.zero_grad()
        logits = self.model(x)
        loss = self.loss_fn(logits, y)
        check_finite(loss, "the loss")
        loss.backward()
        self.optimizer.step()
        return loss.detach(), logits.detach()

    def __repr__(self) -> str:
        loss_fn = getattr(self.loss_fn, "__name__", repr(self.loss_fn))
        return f"TrainStep({type(self.model).__name__}, {loss_fn}, {type(self.optimizer).__name__})"
