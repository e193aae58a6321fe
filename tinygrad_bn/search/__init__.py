"""Hyperparameter search as the source material teaches it: random (not grid) search, each dimension on
its proper scale, coarse to fine; trials in parallel processes, logged so a search can resume."""
from .report import best_table, plot_log
from .runner import SearchResult, Trial, random_search, read_log, run_trial
from .space import Dimension, choice, integer, loguniform, one_minus_loguniform, refine, sample, uniform

__all__ = [
    "uniform", "integer", "choice", "loguniform", "one_minus_loguniform", "Dimension", "sample", "refine",
    "random_search", "read_log", "run_trial", "Trial", "SearchResult", "best_table", "plot_log",
]
