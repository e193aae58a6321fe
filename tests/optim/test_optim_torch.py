"""Cross-checks against PyTorch (skipped when torch is not installed): 20 optimizer steps on the same
problem give the same parameters, and the schedules give torch.optim.lr_scheduler's learning rates."""
import math

import numpy as np
import pytest

from tinygrad_bn import Tensor
from tinygrad_bn import optim as ours
from tinygrad_bn.optim import lr_scheduler as our_sched

torch = pytest.importorskip("torch")

STEPS = 20
RNG = np.random.default_rng(0)
A = RNG.uniform(0.5, 2.0, size=(3, 4))
B = RNG.standard_normal((3, 4))
P0 = [RNG.standard_normal((3, 4)), RNG.standard_normal(4)]

# (our class, torch class, keyword arguments valid for both)
CASES = {
    "sgd": (ours.SGD, torch.optim.SGD, dict(lr=0.05)),
    "sgd_momentum_wd": (ours.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, weight_decay=0.01)),
    "sgd_dampening": (ours.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, dampening=0.2)),
    "sgd_nesterov": (ours.SGD, torch.optim.SGD, dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adagrad": (ours.AdaGrad, torch.optim.Adagrad, dict(lr=0.1, weight_decay=0.01)),
    "rmsprop": (ours.RMSprop, torch.optim.RMSprop, dict(lr=0.01, alpha=0.9)),
    "rmsprop_momentum": (ours.RMSprop, torch.optim.RMSprop, dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    "adam": (ours.Adam, torch.optim.Adam, dict(lr=0.05)),
    "adam_l2": (ours.Adam, torch.optim.Adam, dict(lr=0.05, betas=(0.8, 0.99), weight_decay=0.1)),
    "adamw": (ours.AdamW, torch.optim.AdamW, dict(lr=0.05, weight_decay=0.1)),
    "adamw_default_decay": (ours.AdamW, torch.optim.AdamW, dict(lr=0.05)),
}


def our_loss(w, b):
    # a quadratic in w plus a term coupling w and b, so both gradients change every step
    return (Tensor(A) * w * w).sum() * 0.5 + (Tensor(B) * w).sum() + ((w.sum(axis=0) * b).sum()) ** 2 * 0.01


def torch_loss(w, b):
    return (torch.from_numpy(A) * w * w).sum() * 0.5 + (torch.from_numpy(B) * w).sum() \
        + ((w.sum(dim=0) * b).sum()) ** 2 * 0.01


def run_both(our_cls, torch_cls, kwargs, grouped=False):
    w, b = (Tensor(p.copy(), requires_grad=True) for p in P0)
    tw, tb = (torch.tensor(p.copy(), requires_grad=True) for p in P0)
    if grouped:  # the bias gets its own, smaller learning rate
        opt = our_cls([{"params": [w]}, {"params": [b], "lr": kwargs["lr"] / 10}], **kwargs)
        topt = torch_cls([{"params": [tw]}, {"params": [tb], "lr": kwargs["lr"] / 10}], **kwargs)
    else:
        opt, topt = our_cls([w, b], **kwargs), torch_cls([tw, tb], **kwargs)
    for _ in range(STEPS):
        opt.zero_grad()
        our_loss(w, b).backward()
        opt.step()
        topt.zero_grad()
        torch_loss(tw, tb).backward()
        topt.step()
    return (w, b), (tw, tb)


@pytest.mark.parametrize("name", list(CASES))
def test_twenty_steps_match_torch(name):
    (w, b), (tw, tb) = run_both(*CASES[name])
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert not np.allclose(w.data, P0[0])  # the parameters did move


@pytest.mark.parametrize("name", ["sgd_momentum_wd", "rmsprop_momentum", "adam", "adamw"])
def test_parameter_groups_match_torch(name):
    (w, b), (tw, tb) = run_both(*CASES[name], grouped=True)
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b.data, tb.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_float32_matches_torch_loosely():
    w = Tensor(P0[0].astype(np.float32), requires_grad=True)
    tw = torch.tensor(P0[0].astype(np.float32), requires_grad=True)
    opt, topt = ours.Adam([w], lr=0.01), torch.optim.Adam([tw], lr=0.01)
    a32 = A.astype(np.float32)
    for _ in range(STEPS):
        opt.zero_grad()
        (Tensor(a32) * w * w).sum().backward()
        opt.step()
        topt.zero_grad()
        (torch.from_numpy(a32) * tw * tw).sum().backward()
        topt.step()
    assert w.data.dtype == np.float32
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-5, atol=1e-6)


SCHEDULES = {
    "exponential": (lambda o: our_sched.ExponentialLR(o, gamma=0.9),
                    lambda o: torch.optim.lr_scheduler.ExponentialLR(o, gamma=0.9)),
    "step": (lambda o: our_sched.StepLR(o, step_size=4, gamma=0.3),
             lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.3)),
    "inverse_time": (lambda o: our_sched.InverseTimeDecay(o, decay_rate=0.25),
                     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + 0.25 * e))),
    "inverse_sqrt": (lambda o: our_sched.InverseSqrtDecay(o, k=1.5),
                     lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1.5 / math.sqrt(e + 1))),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_match_torch(name):
    make_ours, make_torch = SCHEDULES[name]
    p = Tensor(np.ones(2), requires_grad=True)
    q = Tensor(np.ones(2), requires_grad=True)
    tp, tq = (torch.ones(2, dtype=torch.float64, requires_grad=True) for _ in range(2))
    opt = ours.SGD([{"params": [p]}, {"params": [q], "lr": 0.3}], lr=0.1)
    topt = torch.optim.SGD([{"params": [tp]}, {"params": [tq], "lr": 0.3}], lr=0.1)
    sched, tsched = make_ours(opt), make_torch(topt)
    for _ in range(STEPS):
        np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        for params, optimizer in (((p, q), opt), ((tp, tq), topt)):
            for param in params:
                param.grad = None
            (params[0].sum() + params[1].sum()).backward()
            optimizer.step()
        sched.step()
        tsched.step()
    np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(q.data, tq.detach().numpy(), rtol=1e-12)
