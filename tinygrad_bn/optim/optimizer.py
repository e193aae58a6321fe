"""Optimizers with PyTorch's update formulas, applied in place to parameter arrays without recording a graph.

Each optimizer keeps parameter groups (each with its own hyperparameters, e.g. learning rate) and a state
per parameter (momentum buffers, moment estimates). `state_dict()` holds plain numbers and numpy arrays,
so a checkpoint can store it without pickle.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..autograd import replayed
from ..compiler.fuse import available as fusion_available
from ..compiler.fuse import compile_kernel
from ..tensor import Tensor


class Optimizer:
    """Base class: parameter groups, zero_grad, state_dict; subclasses define `update`."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        items = list(params)
        if not items:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        groups = items if isinstance(items[0], dict) else [{"params": items}]
        self.param_groups: list[dict[str, Any]] = []
        seen: set[int] = set()
        for group in groups:
            group = {**defaults, **group, "params": list(group["params"])}
            for p in group["params"]:
                if not isinstance(p, Tensor) or not p.requires_grad:
                    raise TypeError(f"{type(self).__name__}: parameters must be Tensors that require grad, got {p!r}")
                if id(p) in seen:
                    raise ValueError(f"{type(self).__name__}: a parameter appears in more than one group")
                seen.add(id(p))
            for key, value in group.items():  # the optimizer's own numeric settings (extra keys pass, as in PyTorch)
                if key not in defaults or key in ("nesterov", "betas"):
                    continue
                if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                    raise TypeError(f"{type(self).__name__}: {key} must be a number, got {value!r}")
                if value < 0:
                    raise ValueError(f"{type(self).__name__}: {key} must be >= 0, got {value}")
            self.param_groups.append(group)
        self.state: dict[int, dict[str, Any]] = {}  # by id(param)

    @replayed
    def zero_grad(self) -> None:
        """Forget every parameter's gradient (set to None, as PyTorch does by default)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    @replayed
    def step(self) -> None:
        """Update every parameter that has a gradient, in place.

        Inside a compiled step (tinygrad_bn.jit) this call is recorded and made again at every replay, so
        the learning rate is read afresh (schedulers work) and the state advances as in eager mode.
        """
        states, update = self.state, self.update
        for group in self.param_groups:
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                param, grad = p.data, g.data
                if grad.dtype != param.dtype:
                    grad = grad.astype(param.dtype)
                state = states.get(id(p))
                if state is None:
                    state = states[id(p)] = {}
                update(param, grad, state, group)

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def replay_writes(self) -> list[Tensor]:
        """The tensors `step` writes in place (a compiled step's record of what it changes)."""
        return self._params()

    def _params(self) -> list[Tensor]:
        return [p for group in self.param_groups for p in group["params"]]

    def state_dict(self) -> dict[str, Any]:
        """{'state': {index: {name: array or number}}, 'param_groups': [hyperparameters, 'params': [index]]}."""
        index = {id(p): i for i, p in enumerate(self._params())}
        state = {index[pid]: {k: (np.array(v) if isinstance(v, np.ndarray) else v) for k, v in s.items()}
                 for pid, s in self.state.items() if pid in index}
        groups = [{**{k: v for k, v in g.items() if k != "params"}, "params": [index[id(p)] for p in g["params"]]}
                  for g in self.param_groups]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict` (same parameter order)."""
        params = self._params()
        groups = state_dict["param_groups"]
        if len(groups) != len(self.param_groups) or any(
            len(g["params"]) != len(own["params"]) for g, own in zip(groups, self.param_groups)
        ):
            raise ValueError(f"{type(self).__name__}.load_state_dict: the saved groups do not match this optimizer's")
        for saved, own in zip(groups, self.param_groups):
            own.update({k: v for k, v in saved.items() if k != "params"})
        self.state = {}
        for i, s in state_dict["state"].items():
            p = params[int(i)]
            # arrays are copied (0-d ones too: a scalar parameter's buffers), so later in-place updates
            # never write into the caller's state dict
            self.state[id(p)] = {k: (int(v) if k == "step" else
                                     np.array(v, dtype=p.dtype) if isinstance(v, np.ndarray) or np.ndim(v) else v)
                                 for k, v in s.items()}


def _with_weight_decay(param: np.ndarray, grad: np.ndarray, weight_decay: float) -> np.ndarray:
    """L2 regularization as PyTorch applies it: the gradient gains weight_decay * param."""
    return grad + weight_decay * param if weight_decay else grad


class SGD(Optimizer):
    """Stochastic gradient descent, with optional (Nesterov) momentum and L2 weight decay (PyTorch's)."""

    def __init__(self, params: Iterable[Any], lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0, dampening: float = 0.0) -> None:
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum needs momentum > 0 and dampening = 0")
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay,
                                      dampening=dampening))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        if group["weight_decay"]:
            grad = _with_weight_decay(param, grad, group["weight_decay"])
        momentum = group["momentum"]
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=param.dtype)
            else:
                buf *= momentum
                buf += (1 - group["dampening"]) * grad
            grad = grad + momentum * buf if group["nesterov"] else buf
        param -= group["lr"] * grad

    def lower_step(self, fuse: bool = False) -> Callable[[], None] | None:
        """`step` as a compiled step replays it with fusion (see compiler/plan.py): one generated kernel per
        parameter group and dtype makes `update`'s arithmetic in one pass over each parameter (numpy needs
        two calls and a temporary per array). The scalars are cast to the parameter's dtype first, as numpy
        does with a Python number, so each element gets the same operations as in `update`. None without
        fusion (the numpy update is already what replays), or without numba."""
        if not fuse or not fusion_available():
            return None
        kernel = compile_kernel(_SGD_KERNEL)

        def fused_step() -> None:
            states = self.state
            for group in self.param_groups:
                momentum = group["momentum"]
                buckets: dict[np.dtype, tuple[list, list, list, list]] = {}
                for p in group["params"]:
                    g = p.grad
                    if g is None:
                        continue
                    param, grad = p.data, g.data
                    state = states.get(id(p))
                    if state is None:
                        state = states[id(p)] = {}
                    if (grad.dtype != param.dtype or param.dtype.kind != "f" or not param.flags.c_contiguous
                            or not grad.flags.c_contiguous):  # rare layouts: the numpy update
                        self.update(param, grad.astype(param.dtype), state, group)
                        continue
                    params, grads, buffers, firsts = buckets.setdefault(param.dtype, ([], [], [], []))
                    params.append(param.reshape(-1))
                    grads.append(grad.reshape(-1))
                    if momentum:
                        buf = state.get("momentum_buffer")
                        firsts.append(buf is None)
                        if buf is None:
                            buf = state["momentum_buffer"] = np.empty_like(param)
                        buffers.append(buf.reshape(-1))
                    else:
                        firsts.append(False)
                for dtype, (params, grads, buffers, firsts) in buckets.items():
                    scalar = dtype.type
                    kernel(tuple(params), tuple(grads), tuple(buffers) if momentum else tuple(params),
                           np.array(firsts), scalar(group["lr"]), scalar(momentum), scalar(1 - group["dampening"]),
                           scalar(group["weight_decay"]), bool(group["nesterov"]))

        return fused_step


# SGD's update for a tuple of flat parameters (each with its gradient and momentum buffer), in the order
# of operations of `SGD.update`; the scalars arrive in the parameters' dtype.
_SGD_KERNEL = """
def kernel(params, grads, buffers, firsts, lr, momentum, keep, weight_decay, nesterov):
    for k in range(len(params)):
        p = params[k]
        g = grads[k]
        b = buffers[k]
        first = firsts[k]
        for i in range(p.size):
            gi = g[i]
            if weight_decay != 0:
                gi = gi + weight_decay * p[i]
            if momentum != 0:
                if first:
                    bi = gi
                else:
                    bi = b[i] * momentum + keep * gi
                b[i] = bi
                if nesterov:
                    gi = gi + momentum * bi
                else:
                    gi = bi
            p[i] = p[i] - lr * gi
"""


class AdaGrad(Optimizer):
    """AdaGrad: divide by the root of the sum of all squared gradients so far (PyTorch's Adagrad)."""

    def __init__(self, params: Iterable[Any], lr: float = 0.01, eps: float = 1e-10, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, eps=eps, weight_decay=weight_decay))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        grad = _with_weight_decay(param, grad, group["weight_decay"])
        total = state.setdefault("sum", np.zeros_like(param))
        state["step"] = state.get("step", 0) + 1
        total += grad * grad
        param -= group["lr"] * grad / (np.sqrt(total) + group["eps"])


Adagrad = AdaGrad


class RMSprop(Optimizer):
    """RMSprop: divide by the root of an exponentially weighted average of squared gradients."""

    def __init__(self, params: Iterable[Any], lr: float = 0.01, alpha: float = 0.99, eps: float = 1e-8,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, momentum=momentum, weight_decay=weight_decay))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        grad = _with_weight_decay(param, grad, group["weight_decay"])
        square_avg = state.setdefault("square_avg", np.zeros_like(param))
        state["step"] = state.get("step", 0) + 1
        alpha = group["alpha"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        scaled = grad / (np.sqrt(square_avg) + group["eps"])
        if group["momentum"]:
            buf = state.setdefault("momentum_buffer", np.zeros_like(param))
            buf *= group["momentum"]
            buf += scaled
            scaled = buf
        param -= group["lr"] * scaled


class Adam(Optimizer):
    """Adam: momentum and RMSprop combined, with bias correction of both moment estimates.

    m = b1 m + (1 - b1) g,  v = b2 v + (1 - b2) g^2,
    param -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)   (PyTorch's arrangement)
    """

    decoupled = False

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0) -> None:
        if len(tuple(betas)) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas}")
        if not (0 <= betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(f"{type(self).__name__}: betas must be in [0, 1), got {betas}")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def update(self, param: np.ndarray, grad: np.ndarray, state: dict, group: dict) -> None:
        lr, (beta1, beta2), wd = group["lr"], group["betas"], group["weight_decay"]
        if self.decoupled:
            param *= 1 - lr * wd
        else:
            grad = _with_weight_decay(param, grad, wd)
        m = state.setdefault("exp_avg", np.zeros_like(param))
        v = state.setdefault("exp_avg_sq", np.zeros_like(param))
        t = state["step"] = state.get("step", 0) + 1
        m *= beta1
        m += (1 - beta1) * grad
        v *= beta2
        v += (1 - beta2) * grad * grad
        step_size = lr / (1 - beta1**t)
        denom = np.sqrt(v) / math.sqrt(1 - beta2**t) + group["eps"]
        param -= step_size * m / denom


class AdamW(Adam):
    """Adam with decoupled weight decay: param *= 1 - lr * weight_decay before the Adam step."""

    decoupled = True

    def __init__(self, params: Iterable[Any], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.01) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
