"""tinygrad_bn.debug: anomaly detection names the op, module, inputs and calling line of the first NaN/inf (in
forward and in backward); the profiler counts and times ops per kind and per module; both leave no trace."""
import numpy as np
import pytest

from tinygrad_bn import Tensor, func, nn
from tinygrad_bn.autograd import STATE, Function
from tinygrad_bn.debug import AnomalyError, detect_anomaly, profile

HERE = __file__


def f32(*values):
    return Tensor(np.array(values, dtype=np.float32), requires_grad=True)


# ----------------------------------------------------------------------------- forward anomalies


def test_log_of_a_negative_number_names_the_op_inputs_and_line():
    x = f32(1.0, -2.0, 3.0)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        y = x * 2.0
        y.log()  # the line the error must quote
    err = info.value
    assert err.op == "Log" and err.module is None and err.backward_of is None
    assert err.site.startswith(f"{HERE}:") and err.site.endswith("y.log()  # the line the error must quote")
    message = str(err)
    assert message.startswith("anomaly: Log produced NaN from finite inputs")
    assert "input 0: (3,) float32 in [-4, 6]" in message
    assert "output: (3,) float32" in message and "1 NaN of 3 entries" in message
    assert "\n" not in err.one_line() and "Log produced NaN" in err.one_line()
    assert STATE.monitor is None  # left as it was, even though the block ended with an error


def test_exp_overflow_names_inf_and_the_float32_range():
    x = f32(1.0, 100.0)
    with pytest.raises(AnomalyError, match=r"^anomaly: Exp produced inf from finite inputs") as info, detect_anomaly():
        x.exp()
    assert "input 0: (2,) float32 in [1, 100]" in str(info.value)
    assert "1 inf of 2 entries" in str(info.value)


def test_zero_variance_in_batch_norm_with_eps_0_names_the_layer_path():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, eps=0.0), nn.ReLU())
    x = Tensor(np.ones((5, 3), dtype=np.float32))  # every row alike: each feature has variance 0
    with np.errstate(invalid="ignore"):
        out = model(x)  # without detection, NaN flows silently to the output
    assert np.isnan(out.data).any()
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        model(x)
    err = info.value
    assert err.module == "model.1 (BatchNorm1d)"  # the outermost module is named by the variable holding it
    assert f"in model.1 (BatchNorm1d), called from {HERE}:" in err.one_line()
    assert err.site.endswith("model(x)")
    assert str(err).startswith(f"anomaly: {err.op} produced NaN")
    assert "input 1: (1, 4) float32" in str(err)  # the (zero) standard deviation, broadcast over the batch


def test_the_outermost_module_falls_back_to_its_class_name():
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2, eps=0.0))(Tensor(np.zeros((4, 2), dtype=np.float32)))
    assert info.value.module == "Sequential.1 (BatchNorm1d)"


def test_values_that_were_already_nan_are_not_reported_only_where_they_are_born():
    x = f32(np.nan, 1.0)
    with detect_anomaly():
        y = (x * 2.0 + 1.0).exp()  # NaN in, NaN out: not this block's anomaly
        assert np.isnan(y.data[0])
        with pytest.raises(AnomalyError, match="Log produced NaN"):
            f32(-1.0).log()


class Fill(Function):
    """Every entry set to `value` (a parameter of the op, not an input)."""

    def forward(self, a, value):
        return np.full_like(a, value)

    def backward(self, g):
        return (None,)


def test_an_op_asked_for_inf_by_its_parameters_is_no_anomaly():
    with detect_anomaly():
        out = Fill.apply(f32(1.0, 2.0), value=-np.inf)
    assert np.isneginf(out.data).all()


# ----------------------------------------------------------------------------- backward anomalies


def test_nan_born_in_backward_names_the_backward_op_and_the_forward_call_site():
    x = Tensor(np.array([0.0, 4.0]), requires_grad=True)
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        s = x.sqrt().sum()  # forward: finite (sqrt(0) = 0)
        assert np.isfinite(s.data)
        s.backward()  # d sqrt / dx = 1 / (2 sqrt(x)): inf at 0
    err = info.value
    assert err.backward_of == "Sqrt" and err.op == "Div"
    assert err.forward_site.endswith("s = x.sqrt().sum()  # forward: finite (sqrt(0) = 0)")
    assert err.site.endswith("s.backward()  # d sqrt / dx = 1 / (2 sqrt(x)): inf at 0")
    message = str(err)
    assert message.startswith("anomaly: Div in the backward of Sqrt produced inf from finite inputs")
    assert "forward op: Sqrt (not inside a module)" in message
    assert "input 1: (2,) float64 in [0, 4]" in message
    assert x.grad is None  # stopped before the bad gradient reached .grad


def test_backward_anomaly_of_a_forward_run_outside_the_block_says_the_site_was_not_recorded():
    model = nn.Sequential(nn.Linear(2, 2))
    model[0].weight.data[...] = [[1.0, 0.0], [-1.0, 0.0]]  # outputs 1 and -1: whatever the random init,
    model[0].bias.data[...] = 0.0  # relu gives a 0, where sqrt's gradient is infinite
    x = Tensor(np.array([[1.0, 2.0]], dtype=np.float32))
    s = model(x).relu().sqrt().sum()
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        s.backward()
    err = info.value
    assert err.forward_site is None and "not recorded: the forward ran outside detect_anomaly()" in str(err)


def test_backward_anomaly_inside_a_module_names_the_forward_op_module():
    class Root(nn.Module):
        def forward(self, x):
            return x.sqrt()

    net = nn.Sequential(nn.Linear(2, 2), Root())
    for p in net.parameters():
        p.data[...] = 0.0  # the linear layer outputs 0: sqrt is finite, its gradient is not
    with pytest.raises(AnomalyError) as info, detect_anomaly():
        net(Tensor(np.ones((1, 2), dtype=np.float32))).sum().backward()
    assert info.value.module == "net.1 (Root)" and info.value.backward_of == "Sqrt"
    assert "(Sqrt ran in net.1 (Root))" in info.value.one_line()


class NumpyBackward(Function):
    """y = x, with a backward that divides by x in raw numpy (no op sees it): inf at 0."""

    def forward(self, a):
        return a.copy()

    def backward(self, g):
        return (Tensor(g.data / self.parents[0].data),)


def test_a_backward_that_returns_inf_without_ops_is_named():
    x = Tensor(np.array([0.0, 1.0]), requires_grad=True)
    with pytest.raises(AnomalyError, match=r"^anomaly: the backward of NumpyBackward returned inf for input 0 "
                                           r"from a finite gradient") as info, detect_anomaly():
        with np.errstate(divide="ignore"):
            NumpyBackward.apply(x).sum().backward()
    assert info.value.backward_of == "NumpyBackward"


def test_healthy_computations_give_the_same_numbers_inside_and_higher_orders_work():
    x = Tensor(np.array([0.3, -0.7, 1.1]), requires_grad=True)

    def f(t):
        return (t.tanh() * t.exp()).sum()

    plain = func.hessian(f)(x).data
    with detect_anomaly():
        inside = func.hessian(f)(x).data
        model = nn.MLP(3, [4], 2, batchnorm=True, dtype=np.float64)
        model(Tensor(np.random.default_rng(0).standard_normal((6, 3)))).sum().backward()
    np.testing.assert_array_equal(plain, inside)
    assert STATE.monitor is None


def test_nested_blocks_and_numpy_warnings_are_restored():
    before = np.geterr()
    with detect_anomaly():
        with detect_anomaly():
            pass
        with pytest.raises(AnomalyError):  # the outer block still checks
            f32(-1.0).log()
    assert STATE.monitor is None and np.geterr() == before


# ----------------------------------------------------------------------------- the profiler


def test_profile_counts_ops_per_kind_and_per_module_forward_and_backward():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    with profile() as prof:
        loss = (model(x) * 2.0).sum()
        loss.backward()
    ops = prof.to_dict()["ops"]
    mul, total = ops["Mul"], ops["Sum"]
    assert (mul["forward_count"], mul["backward_count"]) == (1, 1)
    assert (total["forward_count"], total["backward_count"]) == (1, 1)
    assert ops["Relu"]["forward_count"] == 1 and ops["Relu"]["backward_count"] == 1
    assert "ReluGrad" not in ops  # ops run inside a backward count as that op's backward, not as forward ops
    assert all(v["forward_s"] >= 0 and v["backward_s"] >= 0 for v in ops.values())
    modules = prof.to_dict()["modules"]
    assert modules["model.1 (ReLU)"]["forward_count"] == 1
    assert modules["(no module)"]["forward_count"] == 2  # the Mul and the Sum
    assert sum(m["forward_count"] for m in modules.values()) == sum(o["forward_count"] for o in ops.values())
    assert prof.backward_passes == 1 and 0 < prof.backward_pass_seconds <= prof.seconds
    assert STATE.monitor is None


def test_profile_table_is_sorted_by_total_time():
    x = Tensor(np.random.default_rng(0).standard_normal((200, 200)), requires_grad=True)
    with profile() as prof:
        for _ in range(3):
            (x @ x).tanh().sum().backward()
    table = prof.table()
    op_lines = table.split("\n\n")[0].splitlines()
    assert op_lines[0].split() == ["op", "fwd", "n", "fwd", "ms", "bwd", "n", "bwd", "ms", "total", "ms", "%"]
    totals = [float(line.split()[-2]) for line in op_lines[2:]]
    assert totals == sorted(totals, reverse=True) and len(totals) == 3
    rows = {line.split()[0]: line.split() for line in op_lines[2:]}
    assert rows["MatMul"][1] == "3" and rows["Tanh"][3] == "3"
    assert "(no module)" in table and "backward pass(es)" in table
    assert prof.table(limit=1).count("\n(2 more, ") == 1


def test_profile_and_anomaly_detection_together():
    x = f32(1.0, 2.0)
    with profile() as prof, detect_anomaly():
        x.exp().sum().backward()
        with pytest.raises(AnomalyError):
            (x - 5.0).log()
    assert prof.to_dict()["ops"]["Exp"]["forward_count"] == 1
    assert STATE.monitor is None


# ----------------------------------------------------------------------------- the command line


def test_train_detect_anomaly_on_the_command_line(tmp_path, capsys):
    pytest.importorskip("sklearn")
    from tinygrad_bn.cli import main

    code = main(["train", "--dataset", "digits", "--hidden", "16", "--lr", "1e30", "--epochs", "1",
                 "--detect-anomaly", "--no-progress", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith("train: anomaly at epoch 1, step ") and "produced inf from finite inputs in MLP." in err
    code = main(["train", "--dataset", "digits", "--detect-anomaly", "--fuse", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err == ("train: --fuse cannot be used with --detect-anomaly: anomaly detection runs "
                                 "every step eagerly\n")
