"""gradcheck and gradgradcheck catch wrong derivatives, and report them per input."""
from __future__ import annotations

import numpy as np
import pytest

from tinygrad_bn import Tensor
from tinygrad_bn.autograd import Function
from tinygrad_bn.testing import GradcheckError, GradcheckResult, gradcheck, gradgradcheck

X = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])


class SquareMissingTwo(Function):
    """x**2 whose backward forgets the factor 2."""

    def forward(self, a):
        return a * a

    def backward(self, g):
        return (g * self.parents[0],)


class MulWrongSecond(Function):
    """a * b whose gradient for b is a + 1 instead of a (the gradient for a is right)."""

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.parents
        return g * b, g * (a + 1)


class ScaleWrongAt(Function):
    """3 * x whose backward is wrong at element (1, 2) only."""

    def forward(self, a):
        return 3 * a

    def backward(self, g):
        factor = np.full(self.parents[0].shape, 3.0)
        factor[1, 2] = 3.5
        return (g * factor,)


class SquareConstantSlope(Function):
    """x**2 whose backward uses 2x as a constant: right first derivative, zero second derivative."""

    def forward(self, a):
        self.slope = 2 * a
        return a * a

    def backward(self, g):
        return (g * Tensor(self.slope),)


class NormalizeConstantStd(Function):
    """Batch normalization (over axis 0) whose backward treats x_hat and 1/std as constants.

    The textbook formula, so the first derivative is right; but x_hat and 1/std depend on x, and
    treating them as constants (as DeZero's BN did) makes every second derivative wrong.
    """

    def forward(self, x):
        self.inv_std = 1 / np.sqrt(x.var(axis=0, keepdims=True) + 1e-5)
        self.x_hat = (x - x.mean(axis=0, keepdims=True)) * self.inv_std
        return self.x_hat

    def backward(self, g):
        x_hat, inv_std = Tensor(self.x_hat), Tensor(self.inv_std)
        mean_g = g.mean(axis=0, keepdims=True)
        return ((g - mean_g - x_hat * (g * x_hat).mean(axis=0, keepdims=True)) * inv_std,)


def normalize(x: Tensor) -> Tensor:
    """The same batch normalization composed from primitive ops (so its backward is differentiable)."""
    return (x - x.mean(axis=0, keepdims=True)) / (x.var(axis=0, keepdims=True) + 1e-5).sqrt()


# ----------------------------------------------------------------------------- gradcheck


def test_correct_gradient_passes_with_a_report():
    result = gradcheck(lambda x: x.tanh() * x, [X])
    assert isinstance(result, GradcheckResult) and result and result.ok
    (report,) = result.inputs
    assert report.ok and report.index == 0 and report.shape == X.shape
    assert report.relative_error < 1e-8
    assert "ok" in str(result)


def test_wrong_backward_raises():
    with pytest.raises(GradcheckError, match=r"input 0 \(2, 3\): MISMATCH") as info:
        gradcheck(SquareMissingTwo.apply, [X])
    assert str(info.value).startswith("gradcheck failed for apply")


def test_wrong_backward_report_without_raising():
    result = gradcheck(SquareMissingTwo.apply, [X], raise_exception=False)
    assert not result and not result.ok
    (report,) = result.inputs
    assert not report.ok
    assert report.relative_error == pytest.approx(1 / 3, rel=1e-6)  # |x - 2x| / (|x| + |2x|)
    assert len(report.worst_index) == 2
    assert report.numerical == pytest.approx(2 * report.analytic, rel=1e-6)  # at the worst element
    assert "MISMATCH" in str(report)


def test_worst_index_points_at_the_wrong_element():
    result = gradcheck(ScaleWrongAt.apply, [X], raise_exception=False)
    (report,) = result.inputs
    assert not report.ok and report.worst_index == (1, 2)
    rng_direction = np.random.default_rng(1234).standard_normal(X.shape)  # gradcheck's projection
    assert report.analytic == pytest.approx(3.5 * rng_direction[1, 2])
    assert report.numerical == pytest.approx(3.0 * rng_direction[1, 2], rel=1e-6)


def test_reports_per_input():
    b = np.array([[1.0, -2.0, 0.5], [0.3, 0.7, -1.1]])
    result = gradcheck(MulWrongSecond.apply, [X, b], raise_exception=False)
    first, second = result.inputs
    assert first.ok and first.index == 0
    assert not second.ok and second.index == 1
    text = str(result)
    assert "input 0 (2, 3): ok" in text and "input 1 (2, 3): MISMATCH" in text


def test_tolerances_are_used():
    class SlightlyOff(Function):
        def forward(self, a):
            return 2 * a

        def backward(self, g):
            return (g * 2.01,)  # 0.5% off: beyond the default rtol of 1e-3

    assert not gradcheck(SlightlyOff.apply, [X], raise_exception=False)
    assert gradcheck(SlightlyOff.apply, [X], rtol=1e-2)


def test_non_float_and_constant_inputs_are_not_checked():
    labels = np.array([2, 0])
    constant = Tensor(np.ones((2, 3)))  # requires_grad=False: passed through, not differentiated
    result = gradcheck(lambda x, idx, c: (x * c)[np.arange(2), idx.data], [X, labels, constant])
    assert [r.index for r in result.inputs] == [0]


def test_inputs_are_copied_to_float64_and_left_unchanged():
    x = X.astype(np.float32)
    before = x.copy()
    seen = []

    def fn(t: Tensor) -> Tensor:
        seen.append(t.dtype)
        return t.exp()

    assert gradcheck(fn, [x])
    assert seen and all(dtype == np.float64 for dtype in seen)
    np.testing.assert_array_equal(x, before)


def test_output_independent_of_input():
    result = gradcheck(lambda x: Tensor(np.ones(3)), [X])
    assert result.ok and len(result.inputs) == 1 and result.inputs[0].relative_error == 0.0


def test_non_finite_gradient_fails():
    with np.errstate(divide="ignore", invalid="ignore"):  # sqrt'(0) = inf, sqrt(-eps) = nan
        result = gradcheck(lambda x: x.sqrt(), [np.array([0.0, 1.0])], raise_exception=False)
    assert not result.ok


def test_function_must_return_a_tensor():
    with pytest.raises(TypeError, match="must return a Tensor"):
        gradcheck(lambda x: 1.0, [X])


# ----------------------------------------------------------------------------- gradgradcheck


@pytest.mark.parametrize("fn", [lambda x: x**3, lambda x: (x * x).tanh().sum(axis=0), normalize],
                         ids=["cube", "tanh", "normalize"])
def test_correct_second_derivatives_pass(fn):
    result = gradgradcheck(fn, [X])
    assert result.ok and len(result.inputs) == 1


def test_constant_in_backward_passes_gradcheck_but_not_gradgradcheck():
    assert gradcheck(SquareConstantSlope.apply, [X])
    with pytest.raises(GradcheckError, match="MISMATCH"):
        gradgradcheck(SquareConstantSlope.apply, [X])
    result = gradgradcheck(SquareConstantSlope.apply, [X], raise_exception=False)
    (report,) = result.inputs
    assert not report.ok and report.analytic == 0.0 and report.numerical != 0.0


def test_batch_norm_with_constant_std_in_backward_fails_gradgradcheck():
    x = np.array([[0.5, -1.0], [1.5, 0.25], [-0.3, 2.0], [0.9, 0.1]])
    assert gradcheck(NormalizeConstantStd.apply, [x])  # the first derivative is right
    np.testing.assert_allclose(NormalizeConstantStd.apply(Tensor(x)).numpy(), normalize(Tensor(x)).numpy())
    result = gradgradcheck(NormalizeConstantStd.apply, [x], raise_exception=False)
    assert not result.ok and result.inputs[0].relative_error > 0.1
    assert gradgradcheck(normalize, [x]).ok  # composed from primitives: right
