"""The compiler: capture a training step once, replay it as planned numpy calls (`jit`).

tape.py records what a step does to arrays; plan.py folds, prunes, plans buffers and lowers the tape
into calls; jit.py holds the guards and the cache of programs. See docs/compile.md.
"""
from .jit import CompiledStep, JitWarning, jit
from .tape import JitError

__all__ = ["jit", "CompiledStep", "JitError", "JitWarning"]
