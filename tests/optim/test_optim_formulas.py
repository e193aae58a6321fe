"""Optimizers and learning-rate schedules checked against their formulas, written out here with numpy.

The loss is a quadratic, L(p) = sum(a * p^2) / 2 + sum(b * p), so the gradient a * p + b is known in
closed form and the reference update can be computed step by step next to the optimizer's.
"""
import copy
import math

import numpy as np
import pytest

from tinygrad_bn import Tensor, no_grad
from tinygrad_bn.optim import SGD, AdaGrad, Adagrad, Adam, AdamW, RMSprop
from tinygrad_bn.optim.lr_scheduler import ExponentialLR, InverseSqrtDecay, InverseTimeDecay, StepLR

A = np.array([1.0, 2.0, 0.5, 3.0])
B = np.array([0.3, -1.0, 2.0, -0.1])
P0 = np.array([1.0, -2.0, 0.5, 3.0])
STEPS = 5


def quadratic_grad(p):
    return A * p + B


def backward_quadratic(param):
    """Compute the quadratic loss with Tensors and backpropagate, so `param.grad` is set by the engine."""
    loss = (Tensor(A) * param * param).sum() * 0.5 + (Tensor(B) * param).sum()
    loss.backward()


def run(make_optimizer, steps=STEPS):
    """Parameter values after each of `steps` optimizer steps on the quadratic (float64)."""
    p = Tensor(P0.copy(), requires_grad=True)
    opt = make_optimizer([p])
    values = []
    for _ in range(steps):
        opt.zero_grad()
        backward_quadratic(p)
        np.testing.assert_allclose(p.grad.data, quadratic_grad(p.data), rtol=1e-14)
        opt.step()
        values.append(p.data.copy())
    return np.array(values)


# ----------------------------------------------------------------------------- the formulas, by hand


def ref_sgd(lr, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
    p, buf, out = P0.copy(), None, []
    for _ in range(STEPS):
        g = quadratic_grad(p) + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return np.array(out)


def ref_adagrad(lr, eps=1e-10, weight_decay=0.0):
    p, total, out = P0.copy(), np.zeros_like(P0), []
    for _ in range(STEPS):
        g = quadratic_grad(p) + weight_decay * p
        total = total + g**2
        p = p - lr * g / (np.sqrt(total) + eps)
        out.append(p)
    return np.array(out)


def ref_rmsprop(lr, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0):
    p, sq, buf, out = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), []
    for _ in range(STEPS):
        g = quadratic_grad(p) + weight_decay * p
        sq = alpha * sq + (1 - alpha) * g**2
        step = g / (np.sqrt(sq) + eps)
        if momentum:
            buf = momentum * buf + step
            step = buf
        p = p - lr * step
        out.append(p)
    return np.array(out)


def ref_adam(lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False):
    p, m, v, out = P0.copy(), np.zeros_like(P0), np.zeros_like(P0), []
    for t in range(1, STEPS + 1):
        g = quadratic_grad(p)
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t)  # bias correction of both moments
        v_hat = v / (1 - beta2**t)
        # PyTorch's arrangement puts eps after the sqrt(1 - beta2^t) division: identical to eps on sqrt(v_hat)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return np.array(out)


CASES = {
    "sgd": (lambda ps: SGD(ps, lr=0.1), lambda: ref_sgd(0.1)),
    "sgd_momentum": (lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda: ref_sgd(0.1, momentum=0.9)),
    "sgd_dampening": (lambda ps: SGD(ps, lr=0.1, momentum=0.9, dampening=0.3),
                      lambda: ref_sgd(0.1, momentum=0.9, dampening=0.3)),
    "sgd_nesterov": (lambda ps: SGD(ps, lr=0.05, momentum=0.8, nesterov=True),
                     lambda: ref_sgd(0.05, momentum=0.8, nesterov=True)),
    "sgd_weight_decay": (lambda ps: SGD(ps, lr=0.1, momentum=0.5, weight_decay=0.2),
                         lambda: ref_sgd(0.1, momentum=0.5, weight_decay=0.2)),
    "adagrad": (lambda ps: AdaGrad(ps, lr=0.5), lambda: ref_adagrad(0.5)),
    "adagrad_weight_decay": (lambda ps: AdaGrad(ps, lr=0.5, weight_decay=0.1),
                             lambda: ref_adagrad(0.5, weight_decay=0.1)),
    "rmsprop": (lambda ps: RMSprop(ps, lr=0.01, alpha=0.9), lambda: ref_rmsprop(0.01, alpha=0.9)),
    "rmsprop_momentum": (lambda ps: RMSprop(ps, lr=0.01, alpha=0.9, momentum=0.9, weight_decay=0.1),
                         lambda: ref_rmsprop(0.01, alpha=0.9, momentum=0.9, weight_decay=0.1)),
    "adam": (lambda ps: Adam(ps, lr=0.1), lambda: ref_adam(0.1)),
    "adam_betas_l2": (lambda ps: Adam(ps, lr=0.05, betas=(0.5, 0.9), eps=1e-3, weight_decay=0.1),
                      lambda: ref_adam(0.05, beta1=0.5, beta2=0.9, eps=1e-3, weight_decay=0.1)),
    "adamw": (lambda ps: AdamW(ps, lr=0.1, weight_decay=0.5),
              lambda: ref_adam(0.1, weight_decay=0.5, decoupled=True)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_update_matches_formula(name):
    make, reference = CASES[name]
    np.testing.assert_allclose(run(make), reference(), rtol=1e-12, atol=1e-14)


def test_first_steps_by_hand():
    """A few updates worked out with plain numbers, independent of the reference loops above."""
    # SGD with momentum 0.9, lr 0.1, on g = p (A = 1, B = 0 for one coordinate): p0 = 1
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    for _ in range(2):
        opt.zero_grad()
        (p * p * 0.5).sum().backward()
        opt.step()
    # step 1: buf = 1, p = 0.9; step 2: buf = 0.9 * 1 + 0.9 = 1.8, p = 0.9 - 0.18 = 0.72
    np.testing.assert_allclose(p.data, [0.72], rtol=1e-15)

    # Adam's first step moves every coordinate by lr (the bias-corrected m / sqrt(v) is sign(g))
    p = Tensor(np.array([3.0, -0.01]), requires_grad=True)
    opt = Adam([p], lr=0.1, eps=0.0)
    (p * p).sum().backward()
    opt.step()
    np.testing.assert_allclose(p.data, [2.9, 0.09], rtol=1e-12)

    # AdamW with a zero gradient: m = 0, so only the decoupled decay p *= 1 - lr * wd moves p
    p = Tensor(np.array([2.0]), requires_grad=True)
    opt = AdamW([p], lr=0.1, weight_decay=0.5, eps=1.0)
    p.grad = Tensor(np.array([0.0]))
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.1 * 0.5)], rtol=1e-15)


def test_adamw_differs_from_adam_with_l2():
    adam = run(lambda ps: Adam(ps, lr=0.1, weight_decay=0.5))
    adamw = run(lambda ps: AdamW(ps, lr=0.1, weight_decay=0.5))
    assert not np.allclose(adam, adamw)


def test_adagrad_alias():
    assert Adagrad is AdaGrad


# ----------------------------------------------------------------------------- groups, in place, no graph


def test_parameter_groups_have_their_own_learning_rates():
    p1 = Tensor(P0.copy(), requires_grad=True)
    p2 = Tensor(P0.copy(), requires_grad=True)
    opt = SGD([{"params": [p1]}, {"params": [p2], "lr": 0.01, "momentum": 0.5}], lr=0.1, momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.01]
    assert [g["momentum"] for g in opt.param_groups] == [0.9, 0.5]
    for _ in range(STEPS):
        opt.zero_grad()
        backward_quadratic(p1)
        backward_quadratic(p2)
        opt.step()
    np.testing.assert_allclose(p1.data, ref_sgd(0.1, momentum=0.9)[-1], rtol=1e-12)
    np.testing.assert_allclose(p2.data, ref_sgd(0.01, momentum=0.5)[-1], rtol=1e-12)


def test_group_learning_rate_can_be_changed_between_steps():
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([p], lr=0.1)
    p.grad = Tensor(np.array([1.0]))
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.5])


@pytest.mark.parametrize("name", ["sgd_momentum", "adagrad", "rmsprop_momentum", "adam", "adamw"])
def test_step_updates_in_place_and_records_no_graph(name):
    make, _ = CASES[name]
    p = Tensor(P0.astype(np.float32), requires_grad=True)
    opt = make([p])
    array = p.data
    backward_quadratic(p)
    before = array.copy()
    opt.step()
    assert p.data is array  # the same array object, updated in place
    assert p.data.dtype == np.float32  # float64 reference data did not promote the parameter
    assert not np.array_equal(array, before)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad
    for state_value in opt.state[id(p)].values():
        assert not isinstance(state_value, Tensor)
    # stepping inside no_grad gives the same as outside (the step never records anything anyway)
    q = Tensor(P0.astype(np.float32), requires_grad=True)
    opt_q = make([q])
    backward_quadratic(q)
    with no_grad():
        opt_q.step()
    np.testing.assert_array_equal(q.data, p.data)


def test_zero_grad_and_parameters_without_gradient():
    p = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    q = Tensor(np.array([3.0]), requires_grad=True)
    opt = SGD([p, q], lr=0.1, momentum=0.9)
    (p.sum() + q.sum()).backward()
    assert p.grad is not None and q.grad is not None
    opt.zero_grad()
    assert p.grad is None and q.grad is None
    opt.step()  # nothing has a gradient: nothing moves, no state is created
    np.testing.assert_array_equal(p.data, [1.0, 2.0])
    assert opt.state == {}
    p.grad = Tensor(np.array([1.0, 1.0]))
    opt.step()  # only p moves
    np.testing.assert_allclose(p.data, [0.9, 1.9])
    np.testing.assert_array_equal(q.data, [3.0])
    assert id(q) not in opt.state


def test_gradients_accumulate_without_zero_grad():
    p = Tensor(np.array([1.0]), requires_grad=True)
    opt = SGD([p], lr=0.1)
    (p * 2).sum().backward()
    (p * 2).sum().backward()  # grad 4 now
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.4])


def test_constructor_errors():
    p = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(ValueError, match="empty"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="require grad"):
        SGD([Tensor(np.ones(2))], lr=0.1)
    with pytest.raises(ValueError, match="more than one group"):
        SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0"):
        SGD([p], lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam([p], betas=(1.0, 0.999))


# ----------------------------------------------------------------------------- state_dict


@pytest.mark.parametrize("name", list(CASES))
def test_state_dict_round_trip_continues_identically(name):
    make, _ = CASES[name]
    p = Tensor(P0.copy(), requires_grad=True)
    opt = make([p])
    for _ in range(3):
        opt.zero_grad()
        backward_quadratic(p)
        opt.step()
    saved = opt.state_dict()
    frozen = copy.deepcopy(saved)
    # the state dict holds copies: further steps of `opt` must not change it
    q = Tensor(p.data.copy(), requires_grad=True)
    fresh = make([q])
    fresh.load_state_dict(saved)
    for _ in range(4):
        for param, optimizer in ((p, opt), (q, fresh)):
            optimizer.zero_grad()
            backward_quadratic(param)
            optimizer.step()
    np.testing.assert_array_equal(q.data, p.data)
    # neither the original's steps nor the loaded optimizer's steps wrote into the saved dict
    for i, state in frozen["state"].items():
        for key, value in state.items():
            np.testing.assert_array_equal(saved["state"][i][key], value)
    assert saved["param_groups"] == frozen["param_groups"]


def test_state_dict_layout_and_hyperparameters():
    p1 = Tensor(np.ones(3), requires_grad=True)
    p2 = Tensor(np.ones(2), requires_grad=True)
    opt = Adam([{"params": [p1]}, {"params": [p2], "lr": 0.5}], lr=0.1)
    p1.grad, p2.grad = Tensor(np.ones(3)), Tensor(np.ones(2))
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert [g["lr"] for g in sd["param_groups"]] == [0.1, 0.5]
    assert set(sd["state"]) == {0, 1}
    assert sd["state"][1]["step"] == 1 and sd["state"][1]["exp_avg"].shape == (2,)
    # loading restores the saved learning rates into a freshly built optimizer
    fresh = Adam([Tensor(np.ones(3), requires_grad=True), Tensor(np.ones(2), requires_grad=True)], lr=1.0)
    with pytest.raises(ValueError, match="groups do not match"):
        fresh.load_state_dict(sd)
    fresh = Adam([{"params": [Tensor(np.ones(3), requires_grad=True)]},
                  {"params": [Tensor(np.ones(2), requires_grad=True)]}], lr=1.0)
    fresh.load_state_dict(sd)
    assert [g["lr"] for g in fresh.param_groups] == [0.1, 0.5]


def test_load_state_dict_of_scalar_parameter_copies():
    """A 0-d parameter's state is a 0-d array: loading must copy it too, not alias the saved dict."""
    p = Tensor(np.array(1.0), requires_grad=True)
    opt = SGD([p], lr=0.1, momentum=0.9)
    p.grad = Tensor(np.array(2.0))
    opt.step()
    saved = opt.state_dict()
    q = Tensor(p.data.copy(), requires_grad=True)
    fresh = SGD([q], lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    q.grad = Tensor(np.array(2.0))
    fresh.step()
    assert float(saved["state"][0]["momentum_buffer"]) == 2.0


# ----------------------------------------------------------------------------- learning-rate schedules


def make_sgd(*lrs):
    groups = [{"params": [Tensor(np.ones(1), requires_grad=True)], "lr": lr} for lr in lrs]
    return SGD(groups, lr=lrs[0])


SCHEDULES = {
    "inverse_time": (lambda o: InverseTimeDecay(o, decay_rate=0.5), lambda lr0, e: lr0 / (1 + 0.5 * e)),
    "exponential": (lambda o: ExponentialLR(o, gamma=0.95), lambda lr0, e: lr0 * 0.95**e),
    "inverse_sqrt": (lambda o: InverseSqrtDecay(o, k=2.0), lambda lr0, e: 2.0 / math.sqrt(e + 1) * lr0),
    "step": (lambda o: StepLR(o, step_size=3, gamma=0.1), lambda lr0, e: lr0 * 0.1 ** (e // 3)),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_matches_formula(name):
    make, formula = SCHEDULES[name]
    opt = make_sgd(0.1, 0.02)
    sched = make(opt)
    for epoch in range(12):
        expected = [formula(0.1, epoch), formula(0.02, epoch)]
        np.testing.assert_allclose(sched.get_last_lr(), expected, rtol=1e-14)
        np.testing.assert_allclose([g["lr"] for g in opt.param_groups], expected, rtol=1e-14)
        sched.step()


def test_schedule_values_by_hand():
    opt = make_sgd(1.0)
    sched = StepLR(opt, step_size=2, gamma=0.5)
    lrs = []
    for _ in range(6):
        lrs.append(sched.get_last_lr()[0])
        sched.step()
    assert lrs == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]  # a staircase
    opt = make_sgd(1.0)
    sched = InverseTimeDecay(opt, decay_rate=1.0)
    sched.step()
    sched.step()
    assert sched.get_last_lr() == [1.0 / 3.0]
    opt = make_sgd(1.0)
    sched = InverseSqrtDecay(opt)
    for _ in range(3):
        sched.step()
    assert sched.get_last_lr() == [0.5]  # 1 / sqrt(3 + 1)


def test_schedule_drives_the_optimizer_steps():
    p = Tensor(np.array([0.0]), requires_grad=True)
    opt = SGD([p], lr=1.0)
    sched = ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        p.grad = Tensor(np.array([-1.0]))
        opt.step()
        sched.step()
    np.testing.assert_allclose(p.data, [1.0 + 0.5 + 0.25])


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedule_state_dict_round_trip(name):
    make, formula = SCHEDULES[name]
    opt = make_sgd(0.1)
    sched = make(opt)
    for _ in range(5):
        sched.step()
    state = sched.state_dict()
    assert "optimizer" not in state
    other_opt = make_sgd(0.1)
    other = make(other_opt)
    other.load_state_dict(state)
    assert other.get_last_lr() == sched.get_last_lr()
    for _ in range(3):
        sched.step()
        other.step()
    assert other.get_last_lr() == sched.get_last_lr() == [formula(0.1, 8)]


def test_schedule_keeps_initial_lr_when_rebuilt():
    """A second scheduler on the same optimizer starts from the initial lr, not the decayed one."""
    opt = make_sgd(1.0)
    sched = ExponentialLR(opt, gamma=0.5)
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5
    again = ExponentialLR(opt, gamma=0.5)
    assert again.base_lrs == [1.0]


def test_schedule_errors():
    opt = make_sgd(0.1)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        ExponentialLR(object(), gamma=0.9)
    with pytest.raises(ValueError, match="gamma"):
        ExponentialLR(opt, gamma=0.0)
    with pytest.raises(ValueError, match="step_size"):
        StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="decay_rate"):
        InverseTimeDecay(opt, decay_rate=-1.0)
    with pytest.raises(ValueError, match="k must be"):
        InverseSqrtDecay(opt, k=0.0)
