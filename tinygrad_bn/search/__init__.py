"""Hyperparameter search as the source material teaches it: random (not grid) search, each dimension on
its proper scale, coarse to fine; trials in parallel processes (or on a cluster), logged so a search can
resume, and a log of another search refused."""
from .report import best_table, plot_log, round_logs, round_report
from .runner import (
    LogMismatchError,
    SearchResult,
    Trial,
    check_log,
    describe_objective,
    random_search,
    read_log,
    run_trial,
    search_header,
)
from .space import Dimension, choice, integer, loguniform, one_minus_loguniform, refine, sample, uniform

__all__ = [
    "uniform", "integer", "choice", "loguniform", "one_minus_loguniform", "Dimension", "sample", "refine",
    "random_search", "read_log", "run_trial", "Trial", "SearchResult", "LogMismatchError", "search_header",
    "check_log", "describe_objective", "best_table", "plot_log", "round_logs", "round_report",
]
