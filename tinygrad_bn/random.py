"""The project's random number generator, so that initialization, dropout and random tensors are reproducible.

`manual_seed(0)` makes every later weight initialization, dropout mask and `rand`/`randn` repeat exactly;
functions that draw random numbers also accept an explicit `rng` (a `numpy.random.Generator`) to stay
independent. Inside a compiled step `manual_seed` is recorded and reseeds at every replay, as it would run
eagerly (the random ops draw from the generator current at each call).
"""
from __future__ import annotations

from functools import partial

import numpy as np

_generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the global generator (like `torch.manual_seed`) and return it."""
    from .autograd import STATE  # autograd does not import this module: no cycle

    if STATE.tracer is not None:  # a compiled step reseeds at every replay, as the eager step does
        STATE.tracer.record_call("manual_seed", partial(_reseed, seed))
    return _reseed(seed)


def _reseed(seed: int) -> np.random.Generator:
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The global generator used when no `rng` is passed."""
    return _generator
