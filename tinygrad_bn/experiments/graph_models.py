"""Small built-in computations to draw without writing code (`python -m tinygrad_bn graph --model ...`)."""
from __future__ import annotations

import numpy as np

from .. import nn
from ..random import manual_seed
from ..tensor import Tensor
from ..viz.graph import trace

MODELS = ("bn1d", "bn2d", "layernorm", "mlp", "cnn")


def build(model: str, train: bool = True) -> tuple[Tensor, nn.Module]:
    """Run one of the example models on a fixed random batch; returns (output, module).

    In eval mode the model first takes one training step so its running statistics are real, then the
    drawn forward runs under `trace()`, so operations on the running statistics appear in the graph.
    """
    manual_seed(0)
    rng = np.random.default_rng(0)
    module: nn.Module
    shape: tuple[int, ...]
    if model == "bn1d":
        module, shape = nn.BatchNorm1d(4), (8, 4)
    elif model == "bn2d":
        module, shape = nn.BatchNorm2d(3), (4, 3, 5, 5)
    elif model == "layernorm":
        module, shape = nn.LayerNorm(4), (8, 4)
    elif model == "mlp":
        module, shape = nn.MLP(8, [16, 16, 16], 4, batchnorm=True), (16, 8)
    elif model == "cnn":  # a conv-BN-ReLU-pool block: the convolution one op, BN its composed ops
        module = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2))
        shape = (4, 3, 6, 6)
    else:
        raise ValueError(f"unknown example model {model!r}; choose one of {', '.join(MODELS)}")
    x = Tensor(rng.normal(2.0, 3.0, size=shape).astype(np.float32), requires_grad=True, name="x")
    if not train:
        module(x)  # one training step: the running statistics move away from 0 and 1
        module.eval()
    with trace():
        y = module(x)
    return y, module
