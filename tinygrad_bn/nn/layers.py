"""Layers with PyTorch's names, parameter layouts and defaults, built on nn.functional."""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..autograd import fused_form, update_in_place
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module, Parameter, Sequential


class Linear(Module):
    """y = x @ weight.T + bias, weight of shape (out_features, in_features).

    Initialized like PyTorch: weight and bias uniform in +-1/sqrt(in_features).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: npt.DTypeLike = np.float32) -> None:
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


class _ConvNd(Module):
    """Shared body of Conv1d/Conv2d: PyTorch's arguments, parameter names and default initialization
    (weight and bias uniform in +-1/sqrt(fan_in), fan_in = in_channels / groups * kernel elements, which is
    PyTorch's kaiming_uniform_(a=sqrt(5))), so a converted PyTorch state_dict loads as it is."""

    dims = 2

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int], stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        name = type(self).__name__
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"{name}: groups={groups} must divide in_channels ({in_channels}) and out_channels "
                             f"({out_channels})")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(f"{name}: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                             f"got {padding_mode!r}")
        kernel = F._ints(kernel_size, self.dims, "kernel_size", name)
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride = F._ints(stride, self.dims, "stride", name)
        self.padding = padding if isinstance(padding, str) else F._ints(padding, self.dims, "padding", name)
        self.dilation = F._ints(dilation, self.dims, "dilation", name)
        self.groups, self.padding_mode = groups, padding_mode
        fan_in = in_channels // groups * math.prod(kernel)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight = Parameter(np.empty((out_channels, in_channels // groups) + kernel, dtype=dtype))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F._conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups, self.dims,
                       self.padding_mode)

    def extra_repr(self) -> str:
        text = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0,) * self.dims:
            text += f", padding={self.padding}"
        if self.dilation != (1,) * self.dims:
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        if self.padding_mode != "zeros":
            text += f", padding_mode={self.padding_mode!r}"
        return text


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) input, weight (C_out, C_in/groups, k); PyTorch's Conv1d."""

    dims = 1


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) input, weight (C_out, C_in/groups, kH, kW); PyTorch's Conv2d."""

    dims = 2


class ConvTranspose2d(Module):
    """The transposed 2-D convolution (PyTorch's ConvTranspose2d): weight (C_in, C_out/groups, kH, kW),
    initialized like PyTorch (uniform in +-1/sqrt(fan_in), fan_in = C_out/groups * kH * kW from the weight's
    second axis, as torch computes it)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | Sequence[int], stride: Any = 1,
                 padding: Any = 0, output_padding: Any = 0, groups: int = 1, bias: bool = True, dilation: Any = 1,
                 dtype: npt.DTypeLike = np.float32) -> None:
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise ValueError(f"ConvTranspose2d: groups={groups} must divide in_channels ({in_channels}) and "
                             f"out_channels ({out_channels})")
        kernel = F._ints(kernel_size, 2, "kernel_size", "ConvTranspose2d")
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel
        self.stride, self.padding = F._ints(stride, 2, "stride", "ConvTranspose2d"), \
            F._ints(padding, 2, "padding", "ConvTranspose2d")
        self.output_padding = F._ints(output_padding, 2, "output_padding", "ConvTranspose2d")
        self.dilation, self.groups = F._ints(dilation, 2, "dilation", "ConvTranspose2d"), groups
        fan_in = out_channels // groups * math.prod(kernel)
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        self.weight = Parameter(np.empty((in_channels, out_channels // groups) + kernel, dtype=dtype))
        init.uniform_(self.weight, -bound, bound)
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype=dtype))
            init.uniform_(self.bias, -bound, bound)
        else:
            self.register_parameter("bias", None)

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                                  self.groups, self.dilation)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, output_padding={self.output_padding}")


class _MaxPoolNd(Module):
    dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 ceil_mode: bool = False) -> None:
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F._max_pool(x, self.dims, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling (PyTorch's MaxPool1d); see F.max_pool1d."""

    dims = 1


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling (PyTorch's MaxPool2d); ties give the gradient to the first maximum (F.max_pool2d)."""

    dims = 2


class _AvgPoolNd(Module):
    dims = 2

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size, self.padding = kernel_size, padding
        self.stride = stride if stride is not None else kernel_size
        self.ceil_mode, self.count_include_pad, self.divisor_override = ceil_mode, count_include_pad, divisor_override

    def forward(self, x: Tensor) -> Tensor:
        return F._avg_pool(x, self.dims, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                           self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(_AvgPoolNd):
    """1-D average pooling (PyTorch's AvgPool1d); see F.avg_pool1d."""

    dims = 1


class AvgPool2d(_AvgPoolNd):
    """2-D average pooling (PyTorch's AvgPool2d); see F.avg_pool2d."""

    dims = 2


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size; AdaptiveAvgPool2d(1) is global average pooling."""

    def __init__(self, output_size: Any) -> None:
        super().__init__()
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class Flatten(Module):
    """Merge axes start_dim..end_dim (by default all but the batch axis), as PyTorch's Flatten."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return x.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ReLU(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.relu()


class Sigmoid(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.sigmoid()


class Tanh(Module):
    def forward(self, x: Tensor) -> Tensor:
        return x.tanh()


class LeakyReLU(Module):
    """x for x > 0, negative_slope * x otherwise."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, alpha * (exp(x) - 1) otherwise."""

    def __init__(self, alpha: float = 1.0) -> None:
        super().__init__()
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


class GELU(Module):
    """x * Phi(x), exactly ('none') or with PyTorch's tanh approximation ('tanh')."""

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x: Tensor) -> Tensor:
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x * sigmoid(x)."""

    def forward(self, x: Tensor) -> Tensor:
        return F.silu(x)


class Softplus(Module):
    """log(1 + exp(beta x)) / beta (x itself where beta x > threshold)."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0) -> None:
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x: Tensor) -> Tensor:
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


class Hardtanh(Module):
    """x clamped into [min_val, max_val]."""

    def __init__(self, min_val: float = -1.0, max_val: float = 1.0) -> None:
        super().__init__()
        if min_val > max_val:
            raise ValueError(f"Hardtanh: min_val {min_val} is larger than max_val {max_val}")
        self.min_val, self.max_val = min_val, max_val

    def forward(self, x: Tensor) -> Tensor:
        return F.hardtanh(x, self.min_val, self.max_val)

    def extra_repr(self) -> str:
        return f"min_val={self.min_val}, max_val={self.max_val}"


class Softmax(Module):
    """softmax along `dim`."""

    def __init__(self, dim: int = -1) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: Tensor) -> Tensor:
        return F.softmax(x, dim=self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log_softmax along `dim`."""

    def forward(self, x: Tensor) -> Tensor:
        return F.log_softmax(x, dim=self.dim)


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
    # buffers (register_buffer): Tensors when the layer tracks running statistics, else None
    running_mean: Tensor | None
    running_var: Tensor | None
    num_batches_tracked: Tensor | None

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: npt.DTypeLike = np.float32) -> None:
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
        """Running mean 0, running variance 1, no batches counted (in place; nothing when not tracking)."""
        if self.track_running_stats:
            for buffer, value in ((self.running_mean, 0), (self.running_var, 1), (self.num_batches_tracked, 0)):
                assert buffer is not None, "a layer that tracks running statistics has its buffers"
                buffer.data[...] = value

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
        momentum: float | Tensor | None = self.momentum
        counter = self.num_batches_tracked if self.training and self.track_running_stats else None  # when tracking
        if counter is not None and momentum is None:  # cumulative moving average: the mean of all batch statistics
            momentum = counter  # batch_norm reads the count when it updates (1 / (count + 1))
        use_batch_stats = self.training or not self.track_running_stats
        out = F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps,
        )
        if counter is not None:  # counted only once batch_norm accepted the batch, so a failed call changes nothing
            update_in_place("BatchNorm.num_batches_tracked", _increment, counter)
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
                 dtype: npt.DTypeLike = np.float32) -> None:
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
                 dtype: npt.DTypeLike = np.float32) -> None:
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
            bn: list[Module] = [BatchNorm1d(fan_out, eps=bn_eps, dtype=dtype)] if batchnorm else []
            layers += bn + [act] if batchnorm_position == "before_activation" else [act] + bn
            if dropout > 0:
                layers.append(Dropout(dropout))
        super().__init__(*layers)
        self.sizes, self.activation = sizes, activation


@fused_form("def kernel(counter):\n    counter[()] += 1\n")
def _increment(counter: np.ndarray) -> None:
    """counter += 1, in place (BN's num_batches_tracked)."""
    counter += 1
