"""Puts this folder on sys.path so `search_objectives` (the objectives the search tests run) imports by name,
in this process and in the worker processes a search starts (they inherit sys.path)."""
import sys
from pathlib import Path

HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
