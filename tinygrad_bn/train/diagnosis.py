"""Bias/variance diagnosis from train and dev error, as the source material's basic recipe teaches.

    avoidable bias = train error - Bayes error   (how far training is from the best possible)
    variance       = dev error - train error     (how much worse unseen data does)

Either above `tolerance` names the problem: high bias calls for a bigger network or longer training
(or a better architecture); high variance for more data or regularization (L2, dropout, early stopping).
"""
from __future__ import annotations

from dataclasses import dataclass

ADVICE = {
    "high bias": "try a bigger network or train longer (or another architecture)",
    "high variance": "get more data or add regularization (L2 weight decay, dropout, early stopping)",
    "high bias and high variance": "first reduce the bias (bigger network, longer training), "
                                   "then the variance (more data, regularization)",
    "good fit": "neither bias nor variance stands out; a good place to stop or to tune finer",
}

_EPS = 1e-9


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _points(x: float) -> str:
    return f"{100 * x:.1f} points"


@dataclass(frozen=True)
class Diagnosis:
    """The verdict with the numbers it rests on."""

    verdict: str
    train_error: float
    dev_error: float
    bayes_error: float
    tolerance: float

    @property
    def avoidable_bias(self) -> float:
        return self.train_error - self.bayes_error

    @property
    def variance(self) -> float:
        return self.dev_error - self.train_error

    @property
    def advice(self) -> str:
        return ADVICE[self.verdict]

    def __str__(self) -> str:
        return (
            f"{self.verdict}: train error {_pct(self.train_error)} is {_points(self.avoidable_bias)} above the Bayes "
            f"error {_pct(self.bayes_error)} and dev error {_pct(self.dev_error)} is {_points(self.variance)} above "
            f"train error (tolerance {_pct(self.tolerance)}). Advice: {self.advice}."
        )


def diagnose(train_error: float, dev_error: float, bayes_error: float = 0.0, tolerance: float = 0.02) -> Diagnosis:
    """Classify a model as "high bias", "high variance", "high bias and high variance" or "good fit"."""
    for name, value in (("train_error", train_error), ("dev_error", dev_error), ("bayes_error", bayes_error)):
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"diagnose: {name} must be a fraction in [0, 1], got {value}")
    if not tolerance >= 0:  # also rejects NaN
        raise ValueError(f"diagnose: tolerance must be >= 0, got {tolerance}")
    # a gap equal to the tolerance is within it, whatever the rounding: 0.05 - 0.03 is 0.020000000000000004
    high_bias = train_error - bayes_error > tolerance + _EPS
    high_variance = dev_error - train_error > tolerance + _EPS
    if high_bias and high_variance:
        verdict = "high bias and high variance"
    elif high_bias:
        verdict = "high bias"
    elif high_variance:
        verdict = "high variance"
    else:
        verdict = "good fit"
    return Diagnosis(verdict, float(train_error), float(dev_error), float(bayes_error), float(tolerance))
