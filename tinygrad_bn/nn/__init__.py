"""Neural-network building blocks: Module and containers, layers (batch norm composed from primitive
ops among them), functional forms, initializers and losses; PyTorch's names and semantics."""
from . import functional, init
from .layers import (
    ELU,
    GELU,
    MLP,
    AdaptiveAvgPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Dropout,
    Flatten,
    Hardtanh,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool1d,
    MaxPool2d,
    ReLU,
    Sigmoid,
    SiLU,
    Softmax,
    Softplus,
    Tanh,
)
from .module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "Module", "Parameter", "Sequential", "ModuleList", "Linear", "Dropout", "ReLU", "Sigmoid", "Tanh",
    "Identity", "BatchNorm1d", "BatchNorm2d", "LayerNorm", "MLP", "functional", "init",
    "Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
    "Flatten", "LeakyReLU", "ELU", "GELU", "SiLU", "Softplus", "Hardtanh", "Softmax", "LogSoftmax",
]
