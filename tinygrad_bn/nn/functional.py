"""Functions of tensors that layers and losses are made of, each composed from primitive Tensor ops.

Nothing here has a hand-written backward: batch norm, layer norm, softmax and the losses get their
gradients (of any order) from autodiff through the operations they are written with.
"""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np

from .. import ops
from ..autograd import STATE, OpError, check_finite, op_error, update_in_place
from ..tensor import Tensor
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


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) along `axis`, shifted by the (constant) maximum so exp cannot overflow."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    e = shifted.exp()
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - log(sum(exp(x))) along `axis`, computed stably (finite for logits of 1e4 and beyond)."""
    shifted = x - x.max(axis=axis, keepdims=True).detach()
    return shifted - shifted.exp().sum(axis=axis, keepdims=True).log()


def dropout(x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p) in training,
    so evaluation needs no rescaling; the identity when not training or p == 0."""
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout: probability p must be in [0, 1), got {p}")
    if not training or p == 0.0:
        return x
    return x * ops.DropoutMask.apply(x, p=p, rng=rng)  # a random op: compiled steps draw afresh each replay


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
    momentum: float | Tensor = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over (N, C), (N, C, L) or (N, C, H, W) input, statistics per channel C.

    Composed only from Tensor ops, so autodiff gives its gradient:
        mean = mean(x),  xc = x - mean,  var = mean(xc * xc),  x_hat = xc / sqrt(var + eps),
        y = weight * x_hat + bias.
    In training the batch statistics are used and the running ones (if given) updated in place:
    running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance. Otherwise
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
        if running_mean is not None:
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
        if running_mean is None:
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


def _blend(running: np.ndarray, batch: np.ndarray, momentum: float, correction: float | None = None) -> None:
    """running <- (1 - momentum) * running + momentum * batch (times the unbiasing `correction` for the
    variance), in place, keeping running's dtype: the running statistics' update, as a numpy kernel."""
    value = batch.reshape(running.shape)
    if correction is not None:
        value = value * correction
    running[...] = (1.0 - momentum) * running + momentum * value


def _blend_cumulative(running: np.ndarray, batch: np.ndarray, counter: np.ndarray,
                      correction: float | None = None) -> None:
    """`_blend` with momentum 1 / (batches so far + 1): the cumulative average (BN's momentum=None)."""
    _blend(running, batch, 1.0 / (float(counter) + 1.0), correction)


def _labels_in_range(labels: np.ndarray, classes: int) -> bool:
    return labels.size == 0 or bool(labels.min() >= 0 and labels.max() < classes)


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


def _labels(target: Any, n: int, classes: int, op: str) -> np.ndarray:
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    if labels.dtype.kind not in "iu":  # a boolean array would index as a mask and pick the wrong entries
        raise op_error(f"{op}: class labels must be integers, got dtype {labels.dtype}")
    if labels.shape != (n,):
        raise op_error(f"{op}: expected {n} class labels of shape ({n},), got shape {labels.shape}")
    if STATE.tracer is not None:  # a compiled step checks every replay's labels too
        STATE.tracer.record_check("labels in range", partial(_labels_in_range, classes=classes),
                                  [Tensor._wrap(labels)], OpError,
                                  f"{op}: a class label is out of range for {classes} classes")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        bad = labels[(labels < 0) | (labels >= classes)][0]
        raise op_error(f"{op}: class label {bad} is out of range for {classes} classes")
    return labels


def nll_loss(log_probs: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of integer class labels, given log-probabilities of shape (N, C)."""
    return _nll_loss(log_probs, target, reduction, "nll_loss")


def _nll_loss(log_probs: Tensor, target: Any, reduction: str, op: str) -> Tensor:
    """nll_loss, its errors naming `op`: the function the caller called (nll_loss or cross_entropy)."""
    if log_probs.ndim != 2:
        raise op_error(f"{op}: expected log-probabilities of shape (N, C), got {log_probs.shape}")
    n, classes = log_probs.shape
    labels = _labels(target, n, classes, op)
    picked = log_probs[np.arange(n), labels]
    return _reduce(-picked, reduction, op)


def cross_entropy(logits: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy from raw logits (N, C), numerically stable.

    `target` is either integer class labels of shape (N,) or class probabilities (e.g. one-hot) of
    shape (N, C), as in PyTorch. An empty batch (N = 0) gives shape (0,) with reduction='none' and 0 with
    'sum'; with 'mean' it is an OpError (PyTorch's NaN), so a training loop must skip empty batches.
    """
    if logits.ndim != 2:
        raise op_error(f"cross_entropy: expected logits of shape (N, C), got {logits.shape}")
    log_probs = log_softmax(logits, axis=1)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.dtype.kind in "iu":
        return _nll_loss(log_probs, t, reduction, "cross_entropy")
    if t.shape == logits.shape[:1]:
        raise op_error(f"cross_entropy: class labels must be integers, got {t.dtype} labels of shape {t.shape}; "
                       "convert them with .astype(int) (or pass probabilities of the logits' shape)")
    if t.shape != logits.shape:
        raise op_error(
            f"cross_entropy: probability targets must have the logits' shape {logits.shape}, got {t.shape}"
        )
    probs = (target if isinstance(target, Tensor) else Tensor._wrap(t)).astype(logits.dtype)
    return _reduce(-(probs * log_probs).sum(axis=1), reduction, "cross_entropy")


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
