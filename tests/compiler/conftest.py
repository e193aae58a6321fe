"""Puts this folder on sys.path, so the fusion tests import the models, optimizers and graph strategies of
test_compiler_jit and test_compiler_ops by name (one definition of each case)."""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
