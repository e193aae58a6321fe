"""Search spaces: each dimension samples on its proper scale and can narrow around good values.

    uniform(a, b)                 linear scale (dropout rates, say)
    integer(a, b)                 whole numbers a..b inclusive (layer widths)
    choice([..])                  one of a few options (activations)
    loguniform(a, b)              each decade between a and b equally likely (learning rates)
    one_minus_loguniform(a, b)    1 - x log-uniform, for betas near 1: 0.9..0.999 spends as many samples
                                  on 0.99..0.999 as on 0.9..0.99, where the average's horizon 1/(1-beta)
                                  changes the most
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


class Dimension:
    """One hyperparameter's distribution."""

    log = False  # plotted on a log axis

    def sample(self, rng: np.random.Generator) -> Any:
        raise NotImplementedError

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        """A dimension around `values` (the best trials', best first), widened by `margin` of their spread
        and at most `shrink` times as wide as this one (a window around the best value when wider)."""
        raise NotImplementedError

    def width(self) -> float:
        """The dimension's extent on its own scale (decades for the log scales, options for a choice): what
        a refined round makes smaller."""
        raise NotImplementedError

    def to_dict(self) -> dict[str, Any]:
        """The JSON form a search log stores (`space_from_dict` rebuilds the dimension)."""
        return {"kind": type(self).__name__.lower(), **self.__dict__}

    def __str__(self) -> str:
        """Short, for printing a space: bounds to 4 significant digits (`repr` gives them exactly)."""
        shown = [f"{v:.4g}" if isinstance(v, float) else repr(v) for v in self.__dict__.values()]
        return f"{type(self).__name__}({', '.join(shown)})"


def canonical(value: Any, default: Any = None) -> Any:
    """`value` as it reads back from a JSON log (tuples become lists), for comparing sampled values with
    logged ones; `default` (e.g. repr) turns what JSON cannot hold into something it can."""
    return json.loads(json.dumps(value, default=default))


def _span(lo: float, hi: float, values: Sequence[float], margin: float, shrink: float = 1.0
          ) -> tuple[float, float]:
    """[min(values), max(values)] widened by `margin` of its width (or of a tenth of the full width if all
    are equal), clipped to [lo, hi]; when that is wider than `shrink` of the full width, a window of that
    width centred on values[0] (the best), moved inside [lo, hi]."""
    vmin, vmax = min(values), max(values)
    pad = margin * ((vmax - vmin) or (hi - lo) * 0.1)
    a, b = max(lo, vmin - pad), min(hi, vmax + pad)
    limit = shrink * (hi - lo)
    if b - a > limit:
        a = min(max(lo, values[0] - limit / 2), hi - limit)
        b = a + limit
    return a, b


@dataclass
class uniform(Dimension):  # noqa: N801 - named like the distributions users write
    low: float
    high: float

    def __post_init__(self) -> None:
        if not self.low < self.high:
            raise ValueError(f"uniform: need low < high, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator) -> Any:
        return float(rng.uniform(self.low, self.high))

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        return uniform(*_span(self.low, self.high, values, margin, shrink))

    def width(self) -> float:
        return self.high - self.low


@dataclass
class integer(Dimension):  # noqa: N801
    low: int
    high: int

    def __post_init__(self) -> None:
        if not self.low <= self.high:
            raise ValueError(f"integer: need low <= high, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator) -> Any:
        return int(rng.integers(self.low, self.high + 1))

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        lo, hi = _span(self.low, self.high, values, margin, shrink)
        return integer(int(math.floor(lo)), int(math.ceil(hi)))

    def width(self) -> float:
        return self.high - self.low


@dataclass
class choice(Dimension):  # noqa: N801
    options: list

    def __post_init__(self) -> None:
        self.options = list(self.options)
        if not self.options:
            raise ValueError("choice: needs at least one option")

    def sample(self, rng: np.random.Generator) -> Any:
        return self.options[int(rng.integers(len(self.options)))]

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        best = [canonical(v) for v in values]  # values read from a log hold lists where options hold tuples
        kept = [o for o in self.options if canonical(o) in best]
        return choice(kept or self.options)

    def width(self) -> float:
        return float(len(self.options))


@dataclass
class loguniform(Dimension):  # noqa: N801
    low: float
    high: float
    log = True

    def __post_init__(self) -> None:
        if not 0 < self.low < self.high:
            raise ValueError(f"loguniform: need 0 < low < high, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator) -> Any:
        return float(10 ** rng.uniform(math.log10(self.low), math.log10(self.high)))

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        lo, hi = _span(math.log10(self.low), math.log10(self.high), [math.log10(v) for v in values], margin, shrink)
        # 10 ** log10(x) can round to just outside x: clip to the original bounds
        return loguniform(max(self.low, 10**lo), min(self.high, 10**hi))

    def width(self) -> float:
        return math.log10(self.high / self.low)


@dataclass
class one_minus_loguniform(Dimension):  # noqa: N801
    low: float
    high: float
    log = True  # plotted as 1 - x on a log axis

    def __post_init__(self) -> None:
        if not 0 <= self.low < self.high < 1:
            raise ValueError(f"one_minus_loguniform: need 0 <= low < high < 1, got {self.low}, {self.high}")

    def sample(self, rng: np.random.Generator) -> Any:
        return float(1 - 10 ** rng.uniform(math.log10(1 - self.high), math.log10(1 - self.low)))

    def narrow(self, values: Sequence[Any], margin: float, shrink: float = 1.0) -> Dimension:
        lo, hi = _span(math.log10(1 - self.high), math.log10(1 - self.low), [math.log10(1 - v) for v in values],
                       margin, shrink)
        return one_minus_loguniform(max(self.low, 1 - 10**hi), min(self.high, 1 - 10**lo))

    def width(self) -> float:
        return math.log10((1 - self.low) / (1 - self.high))


BOUNDED = (uniform, integer, loguniform, one_minus_loguniform)  # the dimensions with `low` and `high`
KINDS = {cls.__name__: cls for cls in (uniform, integer, choice, loguniform, one_minus_loguniform)}


def space_from_dict(data: dict[str, dict[str, Any]]) -> dict[str, Dimension]:
    """Rebuild a space from its `to_dict` form (as stored in a search log)."""
    return {name: KINDS[d["kind"]](**{k: v for k, v in d.items() if k != "kind"}) for name, d in data.items()}


def space_to_dict(space: dict[str, Dimension]) -> dict[str, dict[str, Any]]:
    for name, dim in space.items():
        if not isinstance(dim, Dimension):
            raise TypeError(f"search space: {name!r} is a {type(dim).__name__}, not a search dimension")
    return {name: dim.to_dict() for name, dim in space.items()}


def sample(space: dict[str, Dimension], n: int, seed: int | None = None) -> list[dict[str, Any]]:
    """`n` configurations drawn independently; the same seed gives the same list."""
    space_to_dict(space)
    rng = np.random.default_rng(seed)
    return [{name: dim.sample(rng) for name, dim in space.items()} for _ in range(n)]


def refine(space: dict[str, Dimension], trials: Sequence[Any], top_k: int = 5, margin: float = 0.5,
           shrink: float = 0.5) -> dict[str, Dimension]:
    """Coarse to fine: a narrower space spanning the `top_k` best trials (lowest value), each dimension
    widened by `margin` of the best values' spread and never beyond the original bounds.

    Each numeric dimension comes out at most `shrink` times as wide as before (on its own scale): when the
    best trials are spread too widely for that (the best 5 of 6 trials span nearly everything), the new
    range is a window of that width centred on the best trial, so every round really narrows the search.
    """
    if top_k < 1:
        raise ValueError(f"refine: top_k must be >= 1, got {top_k}")
    if not 0 < shrink <= 1:
        raise ValueError(f"refine: shrink must be in (0, 1], got {shrink}")
    finished = [t for t in trials if t.value is not None and math.isfinite(t.value)]
    if not finished:
        raise ValueError("refine: no finished trial with a finite value")
    best = sorted(finished, key=lambda t: t.value)[:top_k]
    return {name: dim.narrow([t.config[name] for t in best], margin, shrink) for name, dim in space.items()}
