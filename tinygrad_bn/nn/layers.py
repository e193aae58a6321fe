"""Layers with PyTorch's names, parameter layouts and defaults, built on nn.functional."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..autograd import update_in_place
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, Sequential


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features).

    Initialized like PyTorch: weight and bias uniform in +-1/sqrt(in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=np.float32) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        self.weight = Parameter(np.empty((out_features, in_features), dtype=dtype))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class Identity(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x


class Dropout(Module):
    """Inverted dropout with probability p in training mode; the identity in evaluation mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: probability p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _BatchNorm(Module):
    """Shared body of BatchNorm1d/2d: parameters, running statistics and the mode logic of PyTorch."""

    input_ndims: tuple[int, ...] = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype=np.float32) -> None:
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:  # gamma = 1, beta = 0: the layer starts as a plain standardization
            self.weight = Parameter(np.ones(num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype=dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype=dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def forward(self, x: Tensor) -> Tensor:
        name = type(self).__name__
        if x.ndim not in self.input_ndims:
            expected = " or ".join(f"{n}-D" for n in self.input_ndims)
            raise ValueError(f"{name}: expected {expected} input, got shape {x.shape}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: expected {self.num_features} features (channels) in dimension 1, "
                f"got {x.shape[1]} (input shape {x.shape})"
            )
        momentum = self.momentum
        tracking = self.training and self.track_running_stats
        if tracking and momentum is None:  # cumulative moving average: the mean of all batch statistics so far
            momentum = self.num_batches_tracked  # batch_norm reads the count when it updates (1 / (count + 1))
        use_batch_stats = self.training or not self.track_running_stats
        out = F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps,
        )
        if tracking:  # counted only once batch_norm accepted the batch, so a failed call changes nothing
            update_in_place("BatchNorm.num_batches_tracked", _increment, self.num_batches_tracked)
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) or (N, C, L) input, statistics per feature C."""

    input_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) input, statistics per channel C."""

    input_ndims = (4,)


class LayerNorm(Module):
    """Normalization over each example's last axes (no batch statistics): BN's batch-independent relative."""

    def __init__(self, normalized_shape: int | Sequence[int], eps: float = 1e-5, elementwise_affine: bool = True,
                 dtype=np.float32) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape, self.eps, self.elementwise_affine = shape, eps, elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, dtype=dtype))
            self.bias = Parameter(np.zeros(shape, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


_ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "identity": Identity}


class MLP(Sequential):
    """The source material's multi-layer net: per hidden layer Affine, optional BatchNorm, activation,
    optional Dropout; then a final Affine.

    `weight_init_std` is 'he' (sqrt(2/fan_in)), 'xavier' (sqrt(1/fan_in)) or a number; weights are drawn
    from N(0, std^2) and biases start at 0, as in the source material. `batchnorm_position` puts BN
    'before_activation' (the source material's choice) or 'after_activation'. Being a Sequential, its
    state_dict keys ("0.weight", "1.running_mean", ...) match the same stack built in PyTorch. `bn_eps` is
    the eps of every BatchNorm1d (PyTorch's 1e-5 by default; Deep Learning from Scratch uses 1e-6).
    """

    def __init__(self, input_size: int, hidden_sizes: Sequence[int], output_size: int, activation: str = "relu",
                 weight_init_std: str | float = "he", batchnorm: bool = False,
                 batchnorm_position: str = "before_activation", dropout: float = 0.0, bn_eps: float = 1e-5,
                 dtype=np.float32) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"MLP: unknown activation {activation!r}; use one of {sorted(_ACTIVATIONS)}")
        if batchnorm_position not in ("before_activation", "after_activation"):
            raise ValueError(
                f"MLP: batchnorm_position must be 'before_activation' or 'after_activation', got {batchnorm_position!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"MLP: dropout probability must be in [0, 1), got {dropout}")
        layers: list[Module] = []
        sizes = [input_size, *hidden_sizes, output_size]
        for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            affine = Linear(fan_in, fan_out, dtype=dtype)
            init.normal_(affine.weight, init.std_for(weight_init_std, fan_in, fan_out))
            init.zeros_(affine.bias)
            layers.append(affine)
            if i == len(sizes) - 2:
                break
            act = _ACTIVATIONS[activation]()
            bn = [BatchNorm1d(fan_out, eps=bn_eps, dtype=dtype)] if batchnorm else []
            layers += bn + [act] if batchnorm_position == "before_activation" else [act] + bn
            if dropout > 0:
                layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes, self.activation = sizes, activation


def _increment(counter: np.ndarray) -> None:
    """counter += 1, in place (BN's num_batches_tracked)."""
    counter += 1
