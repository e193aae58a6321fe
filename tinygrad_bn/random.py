"""The project's random number generator, so that initialization and dropout are reproducible.

`manual_seed(0)` makes every later weight initialization and dropout mask repeat exactly; functions that
draw random numbers also accept an explicit `rng` (a `numpy.random.Generator`) to stay independent.
"""
from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (like `torch.manual_seed`) and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator used when no `rng` is passed."""
    return _generator
