"""Functions of tensors that layers and losses are made of, each composed from primitive Tensor ops.

Nothing here has a hand-written backward: batch norm, layer norm, softmax and the losses get their
gradients (of any order) from autodiff through the operations they are written with.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import ops
from ..autograd import STATE, OpError, check_finite, fused_form, op_error, update_in_place
from ..tensor import Tensor, where
from .module import scope_name

# ----------------------------------------------------------------------------- activations and layers


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """x @ weight.T + bias, with weight in PyTorch's layout (out_features, in_features); one primitive op
    (ops.Linear, which checks the shapes)."""
    if bias is None:
        return ops.Linear.apply(x, weight)
    return ops.Linear.apply(x, weight, bias)


def relu(x: Tensor) -> Tensor:
    return x.relu()


def sigmoid(x: Tensor) -> Tensor:
    return x.sigmoid()


def tanh(x: Tensor) -> Tensor:
    return x.tanh()


def softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis` (or PyTorch's `dim`), shifted by the (constant) maximum so exp cannot
    overflow."""
    axis = axis if dim is None else dim
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    e = shifted.exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1, *, dim: int | None = None) -> Tensor:
    """x - log(sum(exp(x))) along `axis` (or `dim`), computed stably (finite for logits of 1e4 and beyond)."""
    axis = axis if dim is None else dim
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def leaky_relu(x: Tensor, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (the gradient at 0 is the slope, as in PyTorch)."""
    return where(x > 0, x, x * negative_slope)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha * (exp(x) - 1) otherwise; exp sees only x <= 0, so large x cannot overflow."""
    return where(x > 0, x, x.clip(max=0.0).expm1() * alpha)


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """x * Phi(x), Phi the standard normal CDF: exactly with erf ('none'), or PyTorch's tanh approximation
    ('tanh': 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))))."""
    if approximate == "none":
        return x * ((x * (1.0 / math.sqrt(2.0))).erf() + 1.0) * 0.5
    if approximate == "tanh":
        return x * (((x + x * x * x * 0.044715) * math.sqrt(2.0 / math.pi)).tanh() + 1.0) * 0.5
    raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    return x * x.sigmoid()


def _softplus(z: Tensor) -> Tensor:
    """log(1 + exp(z)) without overflow, accurate for very negative z (log1p), with the exact gradient sigmoid(z)
    everywhere, z = 0 included: z + log1p(exp(-z)) for z > 0, log1p(exp(z)) otherwise, each branch's exp seeing
    only values <= 0."""
    positive = z + (-z.clip(min=0.0)).exp().log1p()
    return where(z > 0, positive, z.clip(max=0.0).exp().log1p())


def softplus(x: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, smooth ReLU; x itself where beta x > threshold (PyTorch's rule)."""
    z = x * beta if beta != 1.0 else x
    soft = _softplus(z) if beta == 1.0 else _softplus(z) * (1.0 / beta)
    return where(z > threshold, x, soft)


def hardtanh(x: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """x clamped into [min_val, max_val]; as in PyTorch the gradient is 0 at the bounds themselves."""
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} is larger than max_val {max_val}")
    return where(x <= min_val, min_val, where(x >= max_val, max_val, x))


def one_hot(labels: Tensor | npt.ArrayLike, num_classes: int = -1) -> Tensor:
    """Integer labels (any shape) as int64 one-hot rows along a new last axis of `num_classes` (by default
    the largest label + 1, which reads the labels: give it inside a compiled step)."""
    labels = labels if isinstance(labels, Tensor) else Tensor(np.asarray(labels))
    if labels.dtype.kind not in "iu":
        raise op_error(f"one_hot: labels must be integers, got {labels.dtype} (shape {labels.shape})")
    if num_classes < 0:
        num_classes = int(labels.max().item()) + 1 if labels.size else 0
    if STATE.tracer is not None:  # a compiled step checks every replay's labels
        STATE.tracer.record_check("one_hot labels", partial(_in_range, classes=num_classes), [labels], OpError,
                                  f"one_hot: a label is outside [0, {num_classes})")
    if labels.size and ((labels.data < 0) | (labels.data >= num_classes)).any():
        raise op_error(f"one_hot: labels must lie in [0, {num_classes}), got values from "
                       f"{labels.data.min()} to {labels.data.max()}")
    classes = Tensor._wrap(np.arange(num_classes, dtype=labels.dtype))
    return (labels.unsqueeze(-1) == classes).astype(np.int64)


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p) in training,
    so evaluation needs no rescaling; the identity when not training or p == 0."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    return x * ops.DropoutMask.apply(x, p=p, rng=rng)  # a random op: compiled steps draw afresh each replay


# ----------------------------------------------------------------------------- convolution and pooling


def _ints(value: Any, n: int, what: str, op: str) -> tuple[int, ...]:
    """An int or a sequence of n ints (PyTorch's kernel_size=3 or (3, 3)) as a tuple of n ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return (int(value),) * n
    try:
        items = tuple(value)
    except TypeError:
        items = ()
    if len(items) != n or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in items):
        raise op_error(f"{op}: {what} must be an int or {n} ints, got {value!r}")
    return tuple(int(v) for v in items)


def _batched(x: Tensor, nd: int, op: str) -> tuple[Tensor, bool]:
    """x with a batch axis: (C, *spatial) input (PyTorch's unbatched form) gets one; True when it was added."""
    if x.ndim == nd + 1:
        return x.unsqueeze(0), True
    if x.ndim != nd + 2:
        raise op_error(f"{op}: expected input of shape (N, C, {nd} spatial) or (C, {nd} spatial), got {x.shape}")
    return x, False


def _spatial_pads(x: Tensor, pads: list[tuple[int, int]]) -> list[int]:
    """Per-axis (before, after) padding of the spatial axes as F.pad's flat list (last axis first)."""
    flat: list[int] = []
    for lo, hi in reversed(pads):
        flat += [lo, hi]
    return flat


def _conv(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any, dilation: Any, groups: int,
          nd: int, padding_mode: str = "zeros") -> Tensor:
    """conv1d/conv2d: pad (F.pad, in `padding_mode`), the Conv primitive, then the bias as a broadcast add."""
    op = f"conv{nd}d"
    x, unbatched = _batched(x, nd, op)
    if weight.ndim != nd + 2:
        raise op_error(f"{op}: expected a weight of shape (C_out, C_in/groups, {nd} kernel sizes), got {weight.shape}"
                       f" (input {x.shape})")
    stride, dilation = _ints(stride, nd, "stride", op), _ints(dilation, nd, "dilation", op)
    if not isinstance(groups, (int, np.integer)) or groups < 1:
        raise op_error(f"{op}: groups must be a positive int, got {groups!r}")
    kernel = weight.shape[2:]
    if isinstance(padding, str):
        if padding == "valid":
            pads = [(0, 0)] * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise op_error(f"{op}: padding='same' needs stride 1, got stride {stride}")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            pads = [(t // 2, t - t // 2) for t in totals]  # PyTorch's split: the odd one extra after
        else:
            raise op_error(f"{op}: padding must be an int, {nd} ints, 'same' or 'valid', got {padding!r}")
    else:
        pads = [(p, p) for p in _ints(padding, nd, "padding", op)]
        if min(min(p) for p in pads) < 0:
            raise op_error(f"{op}: padding must be >= 0, got {padding!r}")
    spans = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
    padded = tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[2:], pads))
    if any(s > n for s, n in zip(spans, padded)):
        raise op_error(f"{op}: the kernel {kernel} (dilation {dilation}, so it spans {spans}) is larger than the "
                       f"padded input {padded} (input {x.shape}, padding {[p for p, _ in pads]}, weight "
                       f"{weight.shape})")
    if any(lo or hi for lo, hi in pads):
        x = pad(x, _spatial_pads(x, pads), mode="constant" if padding_mode == "zeros" else padding_mode)
    y = ops.Conv.apply(x, weight, stride=stride, dilation=dilation, groups=int(groups))
    if bias is not None:
        if bias.shape != (weight.shape[0],):
            raise op_error(f"{op}: bias has shape {bias.shape}, expected ({weight.shape[0]},) for weight "
                           f"{weight.shape}")
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y.squeeze(0) if unbatched else y


def conv1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """1-D convolution (cross-correlation) of x (N, C_in, L) with weight (C_out, C_in/groups, k), as
    torch.nn.functional.conv1d; padding may be an int, 'same' or 'valid'."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
           dilation: Any = 1, groups: int = 1) -> Tensor:
    """2-D convolution (cross-correlation) of x (N, C_in, H, W) with weight (C_out, C_in/groups, kH, kW), as
    torch.nn.functional.conv2d: output (N, C_out, H_out, W_out), H_out = (H + 2 padding - dilation (kH - 1)
    - 1) // stride + 1; padding may be an int, a pair, 'same' (stride 1; an odd total pads one more after)
    or 'valid'. One primitive (ops.Conv) whose gradients are convolutions again."""
    return _conv(x, weight, bias, stride, padding, dilation, groups, 2)


def _conv_transpose(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Any, padding: Any, output_padding: Any,
                    groups: int, dilation: Any, nd: int) -> Tensor:
    op = f"conv_transpose{nd}d"
    x, unbatched = _batched(x, nd, op)
    if weight.ndim != nd + 2:
        raise op_error(f"{op}: expected a weight of shape (C_in, C_out/groups, {nd} kernel sizes), got {weight.shape}"
                       f" (input {x.shape})")
    stride, dilation = _ints(stride, nd, "stride", op), _ints(dilation, nd, "dilation", op)
    padding, output_padding = _ints(padding, nd, "padding", op), _ints(output_padding, nd, "output_padding", op)
    if any(o >= max(s, d) or o < 0 for o, s, d in zip(output_padding, stride, dilation)) or min(padding) < 0:
        raise op_error(f"{op}: need padding >= 0 and 0 <= output_padding < max(stride, dilation), got padding "
                       f"{padding}, output_padding {output_padding}, stride {stride}, dilation {dilation}")
    kernel = weight.shape[2:]
    full = tuple((n - 1) * s + d * (k - 1) + 1 + o
                 for n, k, s, d, o in zip(x.shape[2:], kernel, stride, dilation, output_padding))
    if any(f - 2 * p < 1 for f, p in zip(full, padding)):
        raise op_error(f"{op}: padding {padding} leaves no output of the full size {full} (input {x.shape}, "
                       f"weight {weight.shape})")
    y = ops.ConvTranspose.apply(x, weight, stride=stride, dilation=dilation, groups=int(groups), size=full)
    if any(padding):
        y = y[(slice(None), slice(None)) + tuple(slice(p, f - p) for p, f in zip(padding, full))]
    if bias is not None:
        if bias.shape != (y.shape[1],):
            raise op_error(f"{op}: bias has shape {bias.shape}, expected ({y.shape[1]},) for weight {weight.shape}")
        y = y + bias.reshape((1, -1) + (1,) * nd)
    return y.squeeze(0) if unbatched else y


def conv_transpose1d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed 1-D convolution (the input gradient of conv1d), as torch.nn.functional.conv_transpose1d."""
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, 1)


def conv_transpose2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: Any = 1, padding: Any = 0,
                     output_padding: Any = 0, groups: int = 1, dilation: Any = 1) -> Tensor:
    """The transposed 2-D convolution (the input gradient of conv2d), as torch.nn.functional.conv_transpose2d:
    weight (C_in, C_out/groups, kH, kW), H_out = (H - 1) stride - 2 padding + dilation (kH - 1) + output_padding
    + 1. One primitive (ops.ConvTranspose) whose input gradient is a convolution."""
    return _conv_transpose(x, weight, bias, stride, padding, output_padding, groups, dilation, 2)


_PAD_MODES = ("constant", "reflect", "replicate", "circular")


def pad(x: Tensor, pad: Any, mode: str = "constant", value: float = 0.0) -> Tensor:  # noqa: A002
    """Pad the last len(pad) // 2 axes as torch.nn.functional.pad: `pad` lists (before, after) counts from the
    last axis backwards, (left, right, top, bottom, ...). 'constant' fills `value` (negative counts crop);
    'reflect', 'replicate' and 'circular' index the input (the gradient adds up where values repeat)."""
    counts = [int(p) for p in pad]
    if len(counts) % 2 or len(counts) // 2 > x.ndim:
        raise op_error(f"pad: expected an even number of counts, at most 2 per axis of {x.shape}, got {list(pad)}")
    if mode not in _PAD_MODES:
        raise op_error(f"pad: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    pads = [(0, 0)] * x.ndim
    for i in range(len(counts) // 2):
        pads[x.ndim - 1 - i] = (counts[2 * i], counts[2 * i + 1])
    if mode == "constant":
        if any(lo < 0 or hi < 0 for lo, hi in pads):  # negative counts crop first
            crop = tuple(slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape, pads))
            if any(s.stop - s.start < 0 for s in crop):
                raise op_error(f"pad: counts {list(pad)} crop more than the size of {x.shape}")
            x = x[crop]
            pads = [(max(lo, 0), max(hi, 0)) for lo, hi in pads]
        if not any(lo or hi for lo, hi in pads):
            return x
        return ops.Pad.apply(x, pads=tuple(pads), value=value)
    for axis, (lo, hi) in enumerate(pads):
        if not (lo or hi):
            continue
        n = x.shape[axis]
        if lo < 0 or hi < 0:
            raise op_error(f"pad: mode {mode!r} needs counts >= 0, got {list(pad)}")
        limit = n - 1 if mode == "reflect" else n if mode == "circular" else None
        if (limit is not None and max(lo, hi) > limit) or n == 0:
            raise op_error(f"pad: mode {mode!r} pads axis {axis} of size {n} by at most {limit}, got ({lo}, {hi}) "
                           f"(input {x.shape})")
        positions = np.arange(-lo, n + hi)
        if mode == "reflect":
            period = 2 * (n - 1)
            positions = np.abs((positions + period) % period - (n - 1)) if n > 1 else np.zeros_like(positions)
            positions = (n - 1) - positions
        elif mode == "replicate":
            positions = np.clip(positions, 0, n - 1)
        else:
            positions = positions % n
        x = x[(slice(None),) * axis + (positions,)]
    return x


def _pool_geometry(x: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                   op: str) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], list[tuple[int, int]],
                                     tuple[int, ...]]:
    """(kernel, stride, dilation, per-axis (before, after) padding, output size) of a pooling, PyTorch's rules:
    padding at most half the kernel, and with ceil_mode a last window that starts inside the (left-padded)
    input, padded after as far as it reaches."""
    kernel = _ints(kernel_size, nd, "kernel_size", op)
    stride = kernel if stride is None or (not isinstance(stride, int) and len(stride) == 0) else \
        _ints(stride, nd, "stride", op)
    padding, dilation = _ints(padding, nd, "padding", op), _ints(dilation, nd, "dilation", op)
    if min(kernel + stride + dilation) < 1 or min(padding) < 0:
        raise op_error(f"{op}: kernel_size {kernel}, stride {stride} and dilation {dilation} must be positive and "
                       f"padding {padding} >= 0 (input {x.shape})")
    if any(2 * p > k for p, k in zip(padding, kernel)):
        raise op_error(f"{op}: padding {padding} must be at most half the kernel size {kernel} (input {x.shape})")
    pads, sizes = [], []
    for n, k, s, p, d in zip(x.shape[2:], kernel, stride, padding, dilation):
        span = d * (k - 1) + 1
        room = n + 2 * p - span
        if room < 0:
            raise op_error(f"{op}: the window {kernel} (dilation {dilation}) is larger than the padded input "
                           f"{tuple(m + 2 * q for m, q in zip(x.shape[2:], padding))} (input {x.shape}, "
                           f"padding {padding})")
        size = (room + (s - 1 if ceil_mode else 0)) // s + 1
        if ceil_mode and (size - 1) * s >= n + p:  # the last window must start inside the input or left padding
            size -= 1
        pads.append((p, max((size - 1) * s + span - n - p, p)))
        sizes.append(size)
    return kernel, stride, dilation, pads, tuple(sizes)


def _max_pool(x: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool
              ) -> Tensor:
    op = f"max_pool{nd}d"
    x, unbatched = _batched(x, nd, op)
    kernel, stride, dilation, pads, _ = _pool_geometry(x, nd, kernel_size, stride, padding, dilation, ceil_mode, op)
    if x.dtype.kind != "f":
        raise op_error(f"{op}: expected a floating input, got {x.dtype} (input {x.shape})")
    if any(lo or hi for lo, hi in pads):
        x = ops.Pad.apply(x, pads=((0, 0), (0, 0)) + tuple(pads), value=-np.inf)
    index = ops.PoolArgmax.apply(x, kernel=kernel, stride=stride, dilation=dilation)
    # gathered at each window's maximum: the gradient goes there (IndexAdd); windows that do not overlap
    # (stride >= span) pick distinct positions, so the gradient is a plain assignment
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation)]
    unique = {"unique": True} if all(s >= w for s, w in zip(stride, spans)) else {}
    y = ops.GetItem.apply(x.reshape(-1), index=index.data, **unique)
    return y.squeeze(0) if unbatched else y


def max_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """1-D max pooling of (N, C, L) input, as torch.nn.functional.max_pool1d (see max_pool2d)."""
    return _max_pool(x, 1, kernel_size, stride, padding, dilation, ceil_mode)


def max_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> Tensor:
    """2-D max pooling of (N, C, H, W) input, as torch.nn.functional.max_pool2d (stride defaults to the kernel
    size; padding, at most half the kernel, never wins). Each window's gradient goes to its maximum; of tied
    maxima, the first in row-major order of the window gets all of it (PyTorch's CPU rule)."""
    return _max_pool(x, 2, kernel_size, stride, padding, dilation, ceil_mode)


def _avg_pool(x: Tensor, nd: int, kernel_size: Any, stride: Any, padding: Any, ceil_mode: bool,
              count_include_pad: bool, divisor_override: int | None) -> Tensor:
    op = f"avg_pool{nd}d"
    x, unbatched = _batched(x, nd, op)
    kernel, stride, dilation, pads, _ = _pool_geometry(x, nd, kernel_size, stride, padding, 1, ceil_mode, op)
    channels = x.shape[1]
    if any(lo or hi for lo, hi in pads):
        x = ops.Pad.apply(x, pads=((0, 0), (0, 0)) + tuple(pads), value=0.0)
    ones = np.ones((channels, 1) + kernel, dtype=x.dtype)  # the window sum as a depthwise convolution
    total = ops.Conv.apply(x, Tensor._wrap(ones), stride=stride, dilation=dilation, groups=channels)
    if divisor_override is not None:
        if divisor_override <= 0:
            raise op_error(f"{op}: divisor_override must be positive, got {divisor_override}")
        y = total * (1.0 / divisor_override)
    else:
        y = total * _avg_pool_scale(x.shape[2:], kernel, stride, pads, count_include_pad, x.dtype)
    return y.squeeze(0) if unbatched else y


def _avg_pool_scale(padded: tuple[int, ...], kernel: tuple[int, ...], stride: tuple[int, ...],
                    pads: list[tuple[int, int]], count_include_pad: bool, dtype: np.dtype) -> float | Tensor:
    """1 / the number of values each window averages (a constant of the shapes): PyTorch counts the padding
    (count_include_pad) but never the extra cells a ceil_mode window reaches past it."""
    counted = np.zeros(padded)
    inside = []
    for size, (lo, hi) in zip(padded, pads):
        n = size - lo - hi  # the input's own length; `lo` is also the symmetric padding after it
        inside.append(slice(0, n + 2 * lo) if count_include_pad else slice(lo, lo + n))
    counted[tuple(inside)] = 1
    counts = ops._windows(counted, kernel, stride, (1,) * len(kernel)).sum(axis=tuple(range(-len(kernel), 0)))
    if np.all(counts == math.prod(kernel)):
        return 1.0 / math.prod(kernel)
    return Tensor._wrap((1.0 / counts).astype(dtype))


def avg_pool1d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """1-D average pooling of (N, C, L) input, as torch.nn.functional.avg_pool1d (see avg_pool2d)."""
    return _avg_pool(x, 1, kernel_size, stride, padding, ceil_mode, count_include_pad, None)


def avg_pool2d(x: Tensor, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """2-D average pooling of (N, C, H, W) input, as torch.nn.functional.avg_pool2d: the window sums are a
    depthwise convolution with a kernel of ones (ops.Conv), divided by the window size (or by the number of
    input values in it, with count_include_pad=False)."""
    return _avg_pool(x, 2, kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)


def _averaging_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) rows averaging PyTorch's adaptive windows [floor(i size / out), ceil((i + 1) size / out))."""
    matrix = np.zeros((out, size), dtype=dtype)
    for i in range(out):
        start, end = (i * size) // out, -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix


def adaptive_avg_pool2d(x: Tensor, output_size: Any) -> Tensor:
    """Average pooling to a given (H_out, W_out) (an int for both; None keeps an axis), as
    torch.nn.functional.adaptive_avg_pool2d. Output size 1 is global average pooling, a mean over H and W;
    other sizes multiply by averaging matrices on both sides (PyTorch's windows)."""
    x, unbatched = _batched(x, 2, "adaptive_avg_pool2d")
    sizes = (output_size, output_size) if isinstance(output_size, (int, np.integer)) or output_size is None \
        else tuple(output_size)
    if len(sizes) != 2:
        raise op_error(f"adaptive_avg_pool2d: output_size must be an int or 2 values, got {output_size!r}")
    sizes = tuple(n if s is None else int(s) for s, n in zip(sizes, x.shape[2:]))
    if min(sizes) < 1 or min(x.shape[2:]) < 1:
        raise op_error(f"adaptive_avg_pool2d: output size {sizes} and input size {x.shape[2:]} must be positive "
                       f"(input {x.shape})")
    if sizes == (1, 1):
        y = x.mean(axis=(2, 3), keepdims=True)
    elif sizes == x.shape[2:]:
        y = x
    else:
        rows = Tensor._wrap(_averaging_matrix(x.shape[2], sizes[0], x.dtype))
        cols = Tensor._wrap(_averaging_matrix(x.shape[3], sizes[1], x.dtype).T.copy())
        y = rows @ (x @ cols)
    return y.squeeze(0) if unbatched else y


# ----------------------------------------------------------------------------- normalization


def _channel_shape(x: Tensor) -> tuple:
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm(
    x: Tensor,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float | Tensor | None = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over (N, C), (N, C, L) or (N, C, H, W) input, statistics per channel C.

    Composed only from Tensor ops, so autodiff gives its gradient:
        mean = mean(x),  xc = x - mean,  var = mean(xc * xc),  x_hat = xc / sqrt(var + eps),
        y = weight * x_hat + bias.
    In training the batch statistics are used and the running ones (if given) updated in place:
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance (a Tensor
    `momentum` is a batch counter, for the cumulative average: momentum 1 / (count + 1); None only in calls
    that update no running statistics). Otherwise
    the running statistics normalize, so an example's output does not depend on its batch. Non-finite batch
    statistics raise `TrainingDivergedError` (naming the calling layer) before the running ones change.
    """
    if x.ndim < 2:
        raise op_error(f"batch_norm: expected input of shape (N, C, ...), got shape {x.shape}")
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: give both running_mean and running_var, or neither")
    channels = x.shape[1]
    for label, t in (("running_mean", running_mean), ("running_var", running_var), ("weight", weight),
                     ("bias", bias)):
        if t is not None and t.shape != (channels,):
            raise op_error(f"batch_norm: {label} has shape {t.shape}, expected ({channels},) for input {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    shape = _channel_shape(x)
    if training:
        count = x.size // channels
        if count <= 1:
            raise ValueError(
                f"batch_norm: expected more than 1 value per channel when training, got input shape "
                f"{x.shape}; the variance of a single value is 0, so nothing can be normalized "
                "(use a batch of at least 2, or eval mode)"
            )
        mean = x.mean(axis=axes, keepdims=True)
        centered = x - mean
        var = (centered * centered).mean(axis=axes, keepdims=True)
        if running_mean is not None and running_var is not None:  # given together (checked above)
            # a NaN or inf input would stay in the running statistics for good: stop training instead.
            # var is finite only if mean is (a non-finite mean makes every centered value non-finite)
            check_finite(var, _statistics_owner)
            if isinstance(momentum, Tensor):  # the batch counter: a cumulative average, momentum 1/(count+1)
                update_in_place("batch_norm.running_mean", _blend_cumulative, running_mean, mean, momentum)
                update_in_place("batch_norm.running_var", _blend_cumulative, running_var, var, momentum,
                                correction=count / (count - 1))
            else:
                update_in_place("batch_norm.running_mean", _blend, running_mean, mean, momentum=momentum)
                update_in_place("batch_norm.running_var", _blend, running_var, var, momentum=momentum,
                                correction=count / (count - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
        centered = x - (running_mean if x.ndim == 2 else running_mean.reshape(shape))
        var = running_var if x.ndim == 2 else running_var.reshape(shape)
    x_hat = centered / (var + eps).sqrt()
    if weight is not None:
        x_hat = x_hat * (weight if x.ndim == 2 else weight.reshape(shape))
    if bias is not None:
        x_hat = x_hat + (bias if x.ndim == 2 else bias.reshape(shape))
    return x_hat


def _statistics_owner() -> str:
    """What the divergence error names: the layer running batch_norm (`BatchNorm1d 'model.3'`), else batch_norm."""
    owner = scope_name(STATE.scope)
    return f"the batch mean or variance of {owner or 'batch_norm'}"


# fused form: the same products and sum per element, each in the dtype numpy uses (a Python number takes
# the array's dtype), in one loop instead of five numpy calls on (C,) arrays
@fused_form("""
def kernel(running, batch, momentum, correction=None):
    flat, values = running.reshape(-1), batch.reshape(-1)
    keep = np.empty(1, running.dtype)
    keep[0] = 1.0 - momentum
    scale = np.empty(1, batch.dtype)
    scale[0] = momentum
    factor = np.empty(1, batch.dtype)
    factor[0] = 1.0 if correction is None else correction
    for j in range(flat.size):
        value = values[j] * factor[0] if correction is not None else values[j]
        flat[j] = flat[j] * keep[0] + scale[0] * value
""")
def _blend(running: np.ndarray, batch: np.ndarray, momentum: float, correction: float | None = None) -> None:
    """running <- (1 - momentum) * running + momentum * batch (times the unbiasing `correction` for the
    variance), in place, keeping running's dtype: the running statistics' update, as a numpy kernel."""
    value = batch.reshape(running.shape)
    if correction is not None:
        value = value * correction
    running *= 1.0 - momentum  # in place: the same two products and one sum, with no temporaries
    running += momentum * value




def _blend_cumulative(running: np.ndarray, batch: np.ndarray, counter: np.ndarray,
                      correction: float | None = None) -> None:
    """`_blend` with momentum 1 / (batches so far + 1): the cumulative average (BN's momentum=None)."""
    _blend(running, batch, 1.0 / (float(counter) + 1.0), correction)


def layer_norm(
    x: Tensor,
    normalized_shape: tuple[int, ...],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalize over the last len(normalized_shape) axes of each example (no batch statistics),
    composed like batch_norm: (x - mean) / sqrt(var + eps) * weight + bias."""
    normalized_shape = tuple(normalized_shape)
    k = len(normalized_shape)
    if x.shape[x.ndim - k:] != normalized_shape or x.ndim < k:
        raise op_error(f"layer_norm: input of shape {x.shape} does not end with normalized_shape {normalized_shape}")
    axes = tuple(range(x.ndim - k, x.ndim))
    centered = x - x.mean(axis=axes, keepdims=True)
    var = (centered * centered).mean(axis=axes, keepdims=True)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


# ----------------------------------------------------------------------------- losses


def _reduce(loss: Tensor, reduction: str, op: str) -> Tensor:
    """Apply `reduction` to per-example losses; the mean of an empty batch is an error, not a NaN."""
    if reduction == "mean":
        if loss.size == 0:
            raise op_error(f"{op}: reduction='mean' of an empty batch (losses of shape {loss.shape}) is a mean "
                           "of no values; skip empty batches or use reduction='sum' (0 for an empty batch)")
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    if reduction == "none":
        return loss
    raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _in_range(labels: np.ndarray, classes: int) -> bool:
    return bool(((labels >= 0) & (labels < classes)).all())


def _labels_valid(labels: np.ndarray, classes: int, ignore_index: int, need_one: bool) -> bool:
    """Every label is a class or ignore_index (and, for a mean, not every one is ignored).

    The usual batch, where every label is a class and ignore_index is none, is told by the smallest and
    largest label alone: two reductions instead of seven array operations, at every step of training."""
    if labels.size and (not need_one or not 0 <= ignore_index < classes):
        if np.minimum.reduce(labels, axis=None) >= 0 and np.maximum.reduce(labels, axis=None) < classes:
            return True
    inside = (labels >= 0) & (labels < classes)
    ignored = labels == ignore_index
    return bool((inside | ignored).all()) and (not need_one or labels.size == 0 or not ignored.all())


def _labels(target: Any, shape: tuple, classes: int, op: str, ignore_index: int = -100,
            reduction: str = "none") -> Tensor:
    """The class labels as a flat int Tensor, checked: integers of `shape` (the input's shape without the
    class axis), each a class or `ignore_index`, not all ignored for a mean. A compiled step repeats the
    checks at every replay (recorded), so they cost no Python read of the values."""
    t = target if isinstance(target, Tensor) else Tensor._wrap(np.asarray(target))
    labels = t.data
    if labels.dtype.kind not in "iu":  # a boolean array would index as a mask and pick the wrong entries
        raise op_error(f"{op}: class labels must be integers, got dtype {labels.dtype}")
    if labels.shape != shape:
        if len(shape) == 1:
            raise op_error(f"{op}: expected {shape[0]} class labels of shape {shape}, got shape {labels.shape}")
        raise op_error(f"{op}: expected class labels of shape {shape} (the input's shape without its class axis "
                       f"1), got shape {labels.shape}")
    need_one = reduction == "mean"
    if STATE.tracer is not None:  # a compiled step checks every replay's labels too
        STATE.tracer.record_check("labels in range", partial(_labels_valid, classes=classes, ignore_index=ignore_index,
                                                             need_one=need_one),
                                  [t], OpError, f"{op}: a class label is out of range for {classes} classes, or "
                                                f"every label equals ignore_index ({ignore_index}) in a mean")
    if not _labels_valid(labels, classes, ignore_index, need_one):
        bad = labels[((labels < 0) | (labels >= classes)) & (labels != ignore_index)]
        if bad.size:
            raise op_error(f"{op}: class label {bad[0]} is out of range for {classes} classes")
        raise op_error(f"{op}: every label equals ignore_index ({ignore_index}): reduction='mean' would average no "
                       "values; use reduction='sum' for such batches")
    return t.reshape(-1)


def _class_last(x: Tensor) -> Tensor:
    """(N, C) as it is, (N, C, d1, ...) as (N * d1 * ..., C): one row of class scores per position."""
    if x.ndim == 2:
        return x
    return x.transpose((0,) + tuple(range(2, x.ndim)) + (1,)).reshape(-1, x.shape[1])


def _check_scores(x: Tensor, target: Any, op: str, what: str) -> None:
    if x.ndim < 2:
        raise op_error(f"{op}: expected {what} of shape (N, C), got {x.shape} (or (N, C, d1, ...) with targets of "
                       "shape (N, d1, ...))")


def _nll(log_probs: Tensor, target: Any, weight: Any, ignore_index: int, reduction: str,
         label_smoothing: float, op: str) -> Tensor:
    """nll_loss of log-probabilities (N, C, ...) and class labels (N, ...), with PyTorch's class weights,
    ignore_index, label smoothing and reductions; errors name `op` (nll_loss or cross_entropy).

    Ignored positions weigh 0 and the mean divides by the summed weights of the others (the count without
    class weights). With nothing ignored and no weights, values and gradients equal a plain mean bit for bit:
    the mean is taken over all positions, times count / kept count = exactly 1."""
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    classes = log_probs.shape[1]
    lead = (log_probs.shape[0],) + log_probs.shape[2:]
    weight = _as_weight(weight, log_probs)
    if weight is not None and tuple(weight.shape) != (classes,):
        raise op_error(f"{op}: weight has shape {weight.shape}, expected ({classes},) for {classes} classes")
    labels = _labels(target, lead, classes, op, ignore_index, reduction)
    rows = _class_last(log_probs)
    m = rows.shape[0]
    if reduction == "mean" and m == 0:
        raise op_error(f"{op}: reduction='mean' of an empty batch (losses of shape {lead}) is a mean "
                       "of no values; skip empty batches or use reduction='sum' (0 for an empty batch)")
    if weight is None and label_smoothing == 0 and STATE.tracer is None and not (labels.data == ignore_index).any():
        # nothing ignored, weighted or smoothed: every weight is 1 and the scale is m / m, so the general form
        # below gives these values and gradients bit for bit, with a dozen ops fewer per step (a compiled
        # step, whose replays cannot look at the labels, keeps the general form)
        losses = -rows[np.arange(m), labels]
        if reduction == "none":
            return losses.reshape(lead)
        return losses.sum() if reduction == "sum" else losses.mean()
    ignored = labels == ignore_index
    safe = where(ignored, 0, labels)  # an index for every row; ignored rows weigh 0
    keep = ignored.logical_not().astype(rows.dtype)
    weights = keep if weight is None else weight[safe] * keep
    losses = -rows[np.arange(m), safe] * weights
    smooth = None
    if label_smoothing > 0:
        per_class = rows if weight is None else rows * weight
        smooth = -per_class.sum(axis=1) * keep
    if reduction == "none":
        total = losses
        if smooth is not None:
            total = losses * (1.0 - label_smoothing) + smooth * (label_smoothing / classes)
        return total.reshape(lead)
    if reduction == "sum":
        total = losses.sum()
        if smooth is not None:
            total = total * (1.0 - label_smoothing) + smooth.sum() * (label_smoothing / classes)
        return total
    scale = m / weights.sum()  # 1 exactly when nothing is ignored and nothing weighted
    total = losses.mean() * scale
    if smooth is not None:
        total = total * (1.0 - label_smoothing) + smooth.mean() * scale * (label_smoothing / classes)
    return total


def _as_weight(weight: Tensor | npt.ArrayLike | None, like: Tensor) -> Tensor | None:
    """Class weights as a Tensor of `like`'s dtype (a list or array is a constant)."""
    if weight is None:
        return None
    weight = weight if isinstance(weight, Tensor) else Tensor._wrap(np.asarray(weight))
    return weight.astype(like.dtype)


def nll_loss(log_probs: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
             reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class labels, given log-probabilities (N, C) or (N, C, d1, ...)
    with labels (N,) or (N, d1, ...), as torch.nn.functional.nll_loss: class `weight`s (the mean divides by
    the summed weights of the labels), labels equal to `ignore_index` count for nothing."""
    _check_scores(log_probs, target, "nll_loss", "log-probabilities")
    return _nll(log_probs, target, weight, ignore_index, reduction, 0.0, "nll_loss")


def cross_entropy(logits: Tensor, target: Any, weight: Any = None, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy from raw logits (N, C) or (N, C, d1, ...), numerically stable, as
    torch.nn.functional.cross_entropy.

    `target` is either integer class labels of shape (N,) / (N, d1, ...) or class probabilities (e.g. one-hot)
    of the logits' shape. Class `weight`s, `ignore_index` (labels only) and `label_smoothing` (the target mixed
    with the uniform distribution) follow PyTorch. An empty batch gives shape (0,) with reduction='none' and 0
    with 'sum'; with 'mean' it is an OpError (PyTorch's NaN), so a training loop must skip empty batches.
    """
    _check_scores(logits, target, "cross_entropy", "logits")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    log_probs = log_softmax(logits, axis=1)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    lead = (logits.shape[0],) + logits.shape[2:]
    if t.dtype.kind in "iu":
        return _nll(log_probs, target, weight, ignore_index, reduction, label_smoothing, "cross_entropy")
    if t.shape == lead:
        raise op_error(f"cross_entropy: class labels must be integers, got {t.dtype} labels of shape {t.shape}; "
                       "convert them with .astype(int) (or pass probabilities of the logits' shape)")
    if t.shape != logits.shape:
        raise op_error(
            f"cross_entropy: probability targets must have the logits' shape {logits.shape}, got {t.shape}"
        )
    probs = (target if isinstance(target, Tensor) else Tensor._wrap(t)).astype(logits.dtype)
    classes = logits.shape[1]
    if label_smoothing > 0:
        probs = probs * (1.0 - label_smoothing) + label_smoothing / classes
    terms = probs * log_probs
    weight = _as_weight(weight, logits)
    if weight is not None:
        if tuple(weight.shape) != (classes,):
            raise op_error(f"cross_entropy: weight has shape {weight.shape}, expected ({classes},)")
        terms = terms * weight.reshape((1, classes) + (1,) * (logits.ndim - 2))
    return _reduce(-terms.sum(axis=1), reduction, "cross_entropy")


def binary_cross_entropy(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean") -> Tensor:  # noqa: A002
    """-(t log p + (1 - t) log(1 - p)) of probabilities p, as torch.nn.functional.binary_cross_entropy (each log
    clamped at -100, so p = 0 or 1 gives a finite loss); `weight` rescales each element (broadcast)."""
    target = input._lift(target)
    if input.shape != target.shape:
        raise op_error(f"binary_cross_entropy: input shape {input.shape} and target shape {target.shape} differ")
    loss = -(target * input.log().clip(min=-100.0) + (1.0 - target) * (1.0 - input).log().clip(min=-100.0))
    if weight is not None:
        loss = loss * input._lift(weight)
    return _reduce(loss, reduction, "binary_cross_entropy")


def binary_cross_entropy_with_logits(input: Tensor, target: Any, weight: Any = None, reduction: str = "mean",  # noqa: A002
                                     pos_weight: Any = None) -> Tensor:
    """Binary cross-entropy of logits x, stable for any x: (1 - t) x + (1 + (pos_weight - 1) t) log(1 + exp(-x)),
    as torch.nn.functional.binary_cross_entropy_with_logits (`pos_weight` weighs the positive term, broadcast
    along the last axis, the classes)."""
    target = input._lift(target)
    if input.shape != target.shape:
        raise op_error(f"binary_cross_entropy_with_logits: input shape {input.shape} and target shape "
                       f"{target.shape} differ")
    soft = _softplus(-input)  # log(1 + exp(-x)), exact gradient everywhere
    if pos_weight is None:
        loss = (1.0 - target) * input + soft
    else:
        loss = (1.0 - target) * input + (1.0 + (input._lift(pos_weight) - 1.0) * target) * soft
    if weight is not None:
        loss = loss * input._lift(weight)
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean squared error; input and target must have the same shape (no silent broadcasting)."""
    target = input._lift(target)
    if input.shape != target.shape:
        raise op_error(f"mse_loss: input shape {input.shape} and target shape {target.shape} differ")
    diff = input - target
    return _reduce(diff * diff, reduction, "mse_loss")


# ----------------------------------------------------------------------------- regularization penalties


def _penalized(params: Any) -> list[Tensor]:
    """The tensors a penalty applies to: those given, or a Module's weight matrices (ndim >= 2, not biases
    or BN's gamma and beta, as the source material regularizes only W)."""
    if hasattr(params, "named_parameters"):
        return [p for p in params.parameters() if p.ndim >= 2]
    items = [params] if isinstance(params, Tensor) else list(params)
    for p in items:
        if not isinstance(p, Tensor):
            raise TypeError(f"penalty: expected Tensors or a Module, got {type(p).__name__}")
    return items


def l2_penalty(params: Any, lam: float, m: int) -> Tensor:
    """lam / (2m) * sum of squared Frobenius norms ||W||_F^2, the term the source material adds to the cost
    (m: the number of training examples). Its gradient lam/m * W is weight decay."""
    if m <= 0 or lam < 0:
        raise ValueError(f"l2_penalty: need lam >= 0 and m > 0, got lam={lam}, m={m}")
    total = sum(((p * p).sum() for p in _penalized(params)), start=Tensor(0.0))
    return total * (lam / (2 * m))


def l1_penalty(params: Any, lam: float, m: int) -> Tensor:
    """lam / (2m) * sum of |w| over all weights: the L2 term with the L1 norm in its place. Its gradient has
    the same size lam/(2m) for every nonzero weight, however small, so it drives unneeded weights to 0
    (a sparse model), where L2's gradient shrinks along with the weight and only makes them small."""
    if m <= 0 or lam < 0:
        raise ValueError(f"l1_penalty: need lam >= 0 and m > 0, got lam={lam}, m={m}")
    total = sum((p.abs().sum() for p in _penalized(params)), start=Tensor(0.0))
    return total * (lam / (2 * m))
