"""Neural-network building blocks: Module and containers, layers (batch norm composed from primitive
ops among them), functional forms, initializers and losses; PyTorch's names and semantics."""
from . import functional, init
from .layers import (
    MLP,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Identity,
    LayerNorm,
    Linear,
    ReLU,
    Sigmoid,
    Tanh,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Dropout", "ReLU", "Sigmoid", "Tanh",
    "Identity", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "MLP", "functional", "init",
]
