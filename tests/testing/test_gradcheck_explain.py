"""gradcheck finds the broken op (explain), checks cheaply (fast_mode), checks forward mode (check_forward_ad),
and never uses an all-ones upstream gradient (which cannot see a batch norm whose backward returns zeros)."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bn import Tensor, nn
from tinygrad_bn.autograd import Function
from tinygrad_bn.nn import functional as F
from tinygrad_bn.testing import GradcheckError, check_ops, gradcheck, gradgradcheck, module_path

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 4))


def normalize(x: Tensor) -> Tensor:
    centered = x - x.mean(axis=0, keepdims=True)
    return centered / ((centered * centered).mean(axis=0, keepdims=True) + 1e-5).sqrt()


class BatchNormZeroBackward(Function):
    """Batch normalization (over axis 0) whose backward returns zeros."""

    def forward(self, x):
        return (x - x.mean(axis=0, keepdims=True)) / np.sqrt(x.var(axis=0, keepdims=True) + 1e-5)

    def backward(self, g):
        return (g * 0,)


class SoftplusWrong(Function):
    """log(1 + exp(x)), a user op whose backward uses tanh instead of the sigmoid."""

    def forward(self, x):
        return np.log1p(np.exp(x))

    def backward(self, g):
        return (g * self.parents[0].tanh(),)


class Softplus(Function):
    """The same op with the right backward, sigmoid(x), written in Tensor ops (so it is differentiable)."""

    def forward(self, x):
        return np.log1p(np.exp(x))

    def backward(self, g):
        return (g * self.parents[0].sigmoid(),)


class ScaleBy(Function):
    """x * factor with a keyword parameter: the check must re-run it with the same keyword."""

    def forward(self, x, factor):
        self.factor = factor
        return x * factor

    def backward(self, g):
        return (g * self.factor,)


# ----------------------------------------------------------------------------- the all-ones trap


def test_all_ones_upstream_gradient_cannot_see_a_zero_batch_norm_backward():
    """Why gradcheck draws a random upstream gradient: sum(BN(x)) is constant in x, so its gradient is 0."""
    assert gradcheck(lambda x: normalize(x).sum(), [X]).ok  # the true gradient of sum(BN(x)) is zero...
    assert gradcheck(lambda x: BatchNormZeroBackward.apply(x).sum(), [X]).ok  # ...so zeros pass this way


@pytest.mark.parametrize("fast_mode", [False, True], ids=["full", "fast"])
def test_batch_norm_whose_backward_returns_zeros_is_caught(fast_mode):
    np.testing.assert_allclose(BatchNormZeroBackward.apply(Tensor(X)).numpy(), normalize(Tensor(X)).numpy(),
                               rtol=1e-12)
    result = gradcheck(BatchNormZeroBackward.apply, [X], fast_mode=fast_mode, raise_exception=False)
    assert not result.ok
    assert result.explanation.first_failure.op == "BatchNormZeroBackward"
    assert gradcheck(normalize, [X], fast_mode=fast_mode).ok


# ----------------------------------------------------------------------------- fast mode


def test_fast_mode_reports_one_projected_number_per_input():
    b = RNG.standard_normal(4)
    result = gradcheck(lambda x, b: (x * b).tanh(), [X, b], fast_mode=True)
    assert [r.kind for r in result.inputs] == ["projected gradient"] * 2
    assert [r.shape for r in result.inputs] == [X.shape, b.shape]
    assert all(r.ok and r.relative_error < 1e-8 for r in result.inputs)
    assert "v^T J u" in str(result)


def test_fast_mode_catches_a_wrong_backward():
    with pytest.raises(GradcheckError, match=r"(?s)MISMATCH.*SoftplusWrong"):
        gradcheck(SoftplusWrong.apply, [X], fast_mode=True)


def test_fast_mode_evaluates_the_function_a_constant_number_of_times():
    calls = []

    def fn(x):
        calls.append(1)
        return x.tanh()

    gradcheck(fn, [X], fast_mode=True)
    assert len(calls) == 3  # one for the analytic gradient, two for the central difference
    calls.clear()
    gradcheck(fn, [X])
    assert len(calls) == 1 + 2 * X.size


# ----------------------------------------------------------------------------- forward AD


@pytest.mark.parametrize("fast_mode", [False, True], ids=["full", "fast"])
def test_check_forward_ad_compares_jvp_with_differences(fast_mode):
    w, b = RNG.uniform(0.5, 1.5, 4), RNG.standard_normal(4)
    result = gradcheck(lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True).tanh(), [X, w, b],
                       check_forward_ad=True, fast_mode=fast_mode)
    assert len(result.forward_ad) == 3 and all(r.ok for r in result.forward_ad)
    assert {r.kind for r in result.forward_ad} == {"projected forward AD" if fast_mode else "forward AD"}


def test_check_forward_ad_fails_for_a_wrong_backward():
    """Forward mode here is built from backward (double VJP), so a wrong backward shows up in it too."""
    result = gradcheck(SoftplusWrong.apply, [X], check_forward_ad=True, raise_exception=False)
    assert not result.forward_ad[0].ok and not result.ok


# ----------------------------------------------------------------------------- explain


class Block(nn.Module):
    """Linear, BatchNorm1d, a custom op, tanh: a few dozen recorded ops per block."""

    def __init__(self, n: int, op: type[Function]) -> None:
        super().__init__()
        self.linear = nn.Linear(n, n, dtype=np.float64)
        self.norm = nn.BatchNorm1d(n, dtype=np.float64)
        self.op = op

    def forward(self, x: Tensor) -> Tensor:
        return self.op.apply(self.norm(self.linear(x))).tanh() * 0.5 + x


def deep_net(broken_at: int) -> nn.Sequential:
    model = nn.Sequential(*[Block(4, SoftplusWrong if i == broken_at else Softplus) for i in range(4)])
    rng = np.random.default_rng(1)
    for _, p in model.named_parameters():
        p.data[...] = rng.standard_normal(p.shape) * 0.5 + (1.0 if p.ndim == 1 else 0.0)
    return model


def test_explain_names_a_user_op_with_a_wrong_backward_hidden_in_a_50_op_graph():
    model = deep_net(broken_at=1)
    result = gradcheck(lambda x: model(x), [X], raise_exception=False)  # explained automatically on failure
    report = result.explanation
    assert report.total >= 50
    bad = report.first_failure
    assert bad.op == "SoftplusWrong" and bad.module == "Sequential.1 (Block)"
    assert bad.input_shapes == [(6, 4)] and bad.output_shape == (6, 4) and bad.input == 0
    assert bad.error > 0.01 and bad.analytic != pytest.approx(bad.numerical)
    assert all(r.ok for r in report.ops[:-1]) and report.ops[-1] is bad  # ops before it checked and fine
    assert len(report.ops) < report.total  # it stops at the first failure
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: model(x), [X])
    message = str(info.value)
    assert "first op" in message and "SoftplusWrong in Sequential.1 (Block)" in message


def test_explain_on_a_correct_graph_reports_every_op_ok():
    model = deep_net(broken_at=-1)
    result = gradcheck(lambda x: model(x), [X], explain=True, fast_mode=True)
    assert result.ok and result.explanation.first_failure is None
    assert len(result.explanation.ops) == result.explanation.total >= 50
    assert "passes its local check" in str(result)


def test_module_paths_name_nested_modules():
    model = deep_net(broken_at=-1)
    report = check_ops(lambda x: model(x), [X])
    paths = {r.module for r in report.ops}
    assert "Sequential.0 (Block)" in paths and "Sequential.3 (Block)" in paths
    assert "Sequential.1.norm (BatchNorm1d)" in paths and "Sequential.0.linear (Linear)" in paths
    assert module_path(None) is None


def test_explain_re_runs_ops_with_their_keyword_parameters():
    """Reductions, reshapes, indexing and custom ops with keywords are re-run exactly as recorded."""

    def fn(x):
        y = ScaleBy.apply(x, factor=3.0).reshape(3, 8).sum(axis=1, keepdims=True)
        return (x[1:, ::2] * y[:1]).transpose((1, 0)).max(axis=0)

    report = check_ops(fn, [X])
    assert report.first_failure is None and len(report.ops) == report.total >= 6
    assert {"ScaleBy", "Reshape", "Sum", "GetItem", "Transpose", "Max"} <= {r.op for r in report.ops}
    assert not any(r.note for r in report.ops)


def test_explain_skips_kinks_instead_of_blaming_them():
    x = np.array([[0.0, 1.0], [-1.0, 2.0]])  # relu at exactly 0: one-sided differences disagree
    report = check_ops(lambda x: (x.relu() * 2).sum(axis=0), [x])
    assert report.first_failure is None
    assert any("not differentiable" in r.note for r in report.ops)


def test_gradgradcheck_explain_names_an_op_whose_backward_uses_a_constant():
    class SquareConstantSlope(Function):
        def forward(self, a):
            self.slope = 2 * a
            return a * a

        def backward(self, g):
            return (g * Tensor(self.slope),)

    def fn(x):
        return SquareConstantSlope.apply(x.tanh()).sum(axis=1)

    assert gradcheck(fn, [X]).ok
    result = gradgradcheck(fn, [X], raise_exception=False)
    bad = result.explanation.first_failure
    assert not result.ok and bad.op == "SquareConstantSlope" and bad.order == 2
    assert "differentiating its backward" in str(bad)
    assert gradgradcheck(lambda x: Softplus.apply(x.tanh()).sum(axis=1), [X], explain=True).explanation.ops


def test_check_ops_needs_a_tensor_and_a_valid_order():
    with pytest.raises(TypeError, match="must return a Tensor"):
        check_ops(lambda x: 1.0, [X])
    with pytest.raises(ValueError, match="order must be 1 or 2"):
        check_ops(lambda x: x, [X], order=3)
    assert check_ops(lambda x: Tensor(np.ones(2)), [X]).total == 0
