"""Argument types for the command line: each turns a bad value into argparse's one-line usage error.

Used by every subcommand's `add_arguments` (train, search, the experiments), so `--epochs 0` or
`--hidden abc` ends with `error: argument --epochs: ...` and exit status 2, never a traceback.
"""
from __future__ import annotations

import argparse
import math
from collections.abc import Callable


def _number(text: str, kind: Callable[[str], float], what: str) -> float:
    try:
        value = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if isinstance(value, float) and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer >= 1 (epochs, trials, jobs, batch sizes)."""
    value = int(_number(text, int, "a positive integer"))
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (seeds)."""
    value = int(_number(text, int, "a non-negative integer"))
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer, got {text}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0 (learning rates)."""
    value = _number(text, float, "a positive number")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0 (weight decay)."""
    value = _number(text, float, "a non-negative number")
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative number, got {text}")
    return value


def probability(text: str) -> float:
    """A number in [0, 1) (dropout)."""
    value = _number(text, float, "a probability in [0, 1)")
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1), got {text}")
    return value


def int_list(text: str) -> list[int]:
    """Comma-separated positive integers, e.g. hidden layer sizes `100,100,100`."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise argparse.ArgumentTypeError(f"expected comma-separated positive integers, got {text!r}")
    return [positive_int(p) for p in parts]


INIT_SCHEMES = ("he", "relu", "xavier", "sigmoid", "tanh", "glorot")


def init_scheme(text: str) -> str | float:
    """A weight initialization: a scheme name (he, xavier, glorot, ...) or a standard deviation >= 0.

    A number must also fit float32 (the weights' dtype): 1e300 would overflow to inf in the cast.
    """
    if text.lower() in INIT_SCHEMES:
        return text.lower()
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(INIT_SCHEMES)} or a standard deviation, "
                                         f"got {text!r}") from None
    if not 0 <= value <= FLOAT32_MAX:
        raise argparse.ArgumentTypeError(f"a standard deviation must be a finite number >= 0 (at most "
                                         f"{FLOAT32_MAX:.3g}, float32's largest), got {text}")
    return value


FLOAT32_MAX = 3.4028234663852886e38
