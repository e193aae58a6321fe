"""Bias/variance diagnosis: the four verdicts with their numbers and advice, from `diagnose` and from a
History's final train and dev accuracy; a gap equal to the tolerance counts as within it; bad inputs raise."""
import dataclasses
import math

import pytest

from tinygrad_bn.train import Diagnosis, History, diagnose


def history(train_error, dev_error):
    """A History whose last epoch has these errors (earlier epochs are worse, and must not count)."""
    return History(train_loss=[1.0, 0.5], train_acc=[0.3, 1 - train_error], dev_loss=[1.1, 0.6],
                   dev_acc=[0.2, 1 - dev_error])


# (train error, dev error, bayes error, verdict, numbers in the message, words of the advice)
CASES = [
    (0.01, 0.11, 0.0, "high variance", ["train error 1.0%", "dev error 11.0%", "10.0 points above train error",
                                        "1.0 points above the Bayes error 0.0%"], "regularization"),
    (0.15, 0.16, 0.0, "high bias", ["train error 15.0%", "15.0 points above the Bayes error 0.0%",
                                    "dev error 16.0% is 1.0 points"], "bigger network"),
    (0.15, 0.30, 0.0, "high bias and high variance", ["train error 15.0%", "dev error 30.0%", "15.0 points above"],
     "first reduce the bias"),
    (0.005, 0.01, 0.0, "good fit", ["train error 0.5%", "dev error 1.0%", "0.5 points"], "neither bias nor variance"),
    # with an optimal (Bayes) error of 15%, 15.5% train error is no bias problem
    (0.155, 0.16, 0.15, "good fit", ["train error 15.5% is 0.5 points above the Bayes error 15.0%"], "tune finer"),
]


@pytest.mark.parametrize("train, dev, bayes, verdict, numbers, advice", CASES)
def test_diagnose_gives_the_verdict_with_its_numbers(train, dev, bayes, verdict, numbers, advice):
    d = diagnose(train_error=train, dev_error=dev, bayes_error=bayes, tolerance=0.02)
    assert d.verdict == verdict
    assert d.avoidable_bias == pytest.approx(train - bayes) and d.variance == pytest.approx(dev - train)
    text = str(d)
    assert text.startswith(f"{verdict}: ")
    for number in numbers:
        assert number in text
    assert "(tolerance 2.0%)" in text and advice in text and text.endswith(".")
    assert text.count(". ") == 1  # two sentences: the numbers, then the advice
    assert d.advice in text


@pytest.mark.parametrize("train, dev, bayes, verdict, numbers, advice", CASES)
def test_history_diagnose_uses_the_final_errors(train, dev, bayes, verdict, numbers, advice):
    d = history(train, dev).diagnose(bayes_error=bayes)
    assert d.verdict == verdict
    assert d.train_error == pytest.approx(train) and d.dev_error == pytest.approx(dev) and d.bayes_error == bayes
    for number in numbers:
        assert number in str(d)


def test_the_issue_example():
    d = diagnose(train_error=0.15, dev_error=0.16, bayes_error=0.0, tolerance=0.02)
    assert isinstance(d, Diagnosis) and d.verdict == "high bias"
    assert (d.train_error, d.dev_error, d.bayes_error, d.tolerance) == (0.15, 0.16, 0.0, 0.02)
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.verdict = "good fit"


def test_tolerance_decides():
    assert diagnose(0.05, 0.09).verdict == "high bias and high variance"
    assert diagnose(0.05, 0.09, tolerance=0.06).verdict == "good fit"
    assert diagnose(0.05, 0.09, tolerance=0.045).verdict == "high bias"  # bias 5 points, variance 4
    assert diagnose(0.05, 0.09, tolerance=0.045, bayes_error=0.01).verdict == "good fit"
    assert diagnose(0.03, 0.09, tolerance=0.035).verdict == "high variance"
    assert history(0.05, 0.09).diagnose(tolerance=0.06).verdict == "good fit"
    assert "(tolerance 6.0%)" in str(history(0.05, 0.09).diagnose(tolerance=0.06))


@pytest.mark.parametrize("train, dev, bayes", [(0.03, 0.05, 0.01), (0.02, 0.04, 0.0), (0.07, 0.09, 0.05),
                                               (0.12, 0.14, 0.10)])
def test_a_gap_equal_to_the_tolerance_is_within_it(train, dev, bayes):
    """Both gaps are exactly the tolerance in decimal. In floating point 0.05 - 0.03 is 0.020000000000000004 and
    0.03 - 0.01 is 0.019999999999999997: the verdict must not depend on such rounding."""
    assert diagnose(train, dev, bayes, tolerance=0.02).verdict == "good fit"
    assert diagnose(train, dev + 0.001, bayes, tolerance=0.02).verdict == "high variance"
    assert diagnose(train + 0.001, dev + 0.001, bayes, tolerance=0.02).verdict == "high bias"


@pytest.mark.parametrize("kwargs", [
    {"train_error": 1.5, "dev_error": 0.1}, {"train_error": -0.01, "dev_error": 0.1},
    {"train_error": 0.1, "dev_error": 2.0}, {"train_error": math.nan, "dev_error": 0.1},
    {"train_error": 0.1, "dev_error": math.nan}, {"train_error": 0.1, "dev_error": 0.1, "bayes_error": -0.1},
    {"train_error": 0.1, "dev_error": 0.1, "bayes_error": math.nan},
    {"train_error": 0.1, "dev_error": 0.1, "tolerance": -0.01},
    {"train_error": 0.1, "dev_error": 0.1, "tolerance": math.nan},
])
def test_bad_inputs_raise(kwargs):
    with pytest.raises(ValueError, match="diagnose"):
        diagnose(**kwargs)


def test_history_without_dev_accuracy_cannot_be_diagnosed():
    with pytest.raises(ValueError, match="dev_loader"):
        History(train_acc=[0.9]).diagnose()
    with pytest.raises(ValueError, match="dev_loader"):
        History().diagnose()
    with pytest.raises(ValueError, match="bayes_error"):
        history(0.1, 0.2).diagnose(bayes_error=1.5)
