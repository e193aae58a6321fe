"""Random search: trials run in parallel worker processes (or any `concurrent.futures.Executor`), each
appended to a JSON-lines log as it finishes, so an interrupted search loses nothing and resumes.

The log's first line describes the search (space and seed); every further line is one finished trial:
{"trial": i, "config": {...}, "value": v, "seconds": s, "history": {...} or null, "error": null or "..."}.
Configurations come from `sample(space, n_trials, seed)`, so trial i is the same whatever `jobs` is, and
a resumed search reruns nothing that the log already holds.

Scaling out: pass `executor=` any concurrent.futures.Executor. Trials are submitted with
`executor.submit(run_trial, objective, config)` and collected with `concurrent.futures.as_completed`, so
Dask's `distributed.Client(...).get_executor()` works as it is, and for Ray a small Executor subclass whose
`submit` wraps `ray.remote` does (docs/search.md shows both). The objective must be importable by the
workers (a module-level function or a picklable object), exactly as for the default process pool.
"""
from __future__ import annotations

import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Executor, Future, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..parallel import process_pool
from .space import Dimension, canonical, sample, space_to_dict


@dataclass
class Trial:
    """One finished evaluation: its index in the sampled order, config, value (lower is better), time."""

    trial: int
    config: dict[str, Any]
    value: float | None
    seconds: float
    history: dict[str, Any] | None = None
    error: str | None = None


@dataclass
class SearchResult:
    trials: list[Trial]

    @property
    def best(self) -> Trial:
        finished = [t for t in self.trials if t.value is not None and math.isfinite(t.value)]
        if not finished:
            raise ValueError("search: no trial finished with a finite value")
        return min(finished, key=lambda t: t.value)


def run_trial(objective: Callable[[dict], Any], config: dict[str, Any]) -> tuple[float | None, dict | None, float,
                                                                                    str | None]:
    """Evaluate one config: (value, history, seconds, error). The objective may return a number or
    (number, history-dict); an exception becomes an error message, not a crashed search."""
    tick = time.perf_counter()
    try:
        result = objective(config)
        value, history = (result if isinstance(result, tuple) else (result, None))
        value = float(value)
        error = None
    except Exception:  # noqa: BLE001 - a failing trial is recorded, the search goes on
        value, history, error = None, None, traceback.format_exc(limit=5)
    return value, history, time.perf_counter() - tick, error


def read_log(path: str | os.PathLike) -> tuple[dict[str, Any] | None, list[Trial]]:
    """(header, trials) of a search log; a half-written last line (from a killed process) is ignored."""
    path = Path(path)
    if not path.exists():
        return None, []
    header, trials = None, []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "space" in record:
            header = record
        elif "trial" in record:
            trials.append(Trial(**{k: record.get(k) for k in Trial.__dataclass_fields__}))
    return header, trials


def _drop_partial_line(path: Path) -> None:
    """Cut a half-written last line (a process killed mid-write) so the next record starts on its own line."""
    with open(path, "rb+") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)


def _append(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def random_search(
    objective: Callable[[dict], Any],
    space: dict[str, Dimension],
    n_trials: int = 20,
    seed: int = 0,
    jobs: int | None = None,
    log: str | os.PathLike | None = None,
    executor: Executor | None = None,
    progress: bool = True,
) -> SearchResult:
    """Evaluate `n_trials` random configurations of `space` with `objective(config) -> float` (lower is better).

    jobs: worker processes (default: the number of cores; 1 runs in this process). With `log`, trials
    already in the log are read back and not run again. Returns the trials in trial order and the best.
    """
    if n_trials < 1:
        raise ValueError(f"random_search: n_trials must be >= 1, got {n_trials}")
    spec = {"space": space_to_dict(space), "seed": seed}
    configs = sample(space, n_trials, seed)
    done: dict[int, Trial] = {}
    path = Path(log) if log is not None else None
    if path is not None:
        if seed is None:
            raise ValueError("random_search: a log needs a fixed seed, or a resumed search would draw other configs")
        header, previous = read_log(path)
        # compared as they read back from JSON: tuples in a space or config come back as lists
        if header is not None and (header["space"] != canonical(spec["space"]) or header["seed"] != seed):
            raise ValueError(f"random_search: {path} holds a search with another space or seed; use another log file")
        if path.exists():
            _drop_partial_line(path)
        if header is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            _append(path, spec)
        for t in previous:
            if t.trial < n_trials and canonical(configs[t.trial]) == t.config:
                done[t.trial] = replace(t, config=configs[t.trial])
    todo = [i for i in range(n_trials) if i not in done]
    bar = _bar(len(todo), progress)

    def record(i: int, outcome: tuple) -> None:
        value, history, seconds, error = outcome
        trial = Trial(i, configs[i], value, seconds, history, error)
        done[i] = trial
        if path is not None:
            _append(path, asdict(trial))
        if bar is not None:
            bar.update(1)
            best = min((t.value for t in done.values() if t.value is not None), default=float("nan"))
            bar.set_postfix(best=f"{best:.4g}")

    jobs = jobs if jobs is not None else (os.cpu_count() or 1)
    try:
        if executor is None and jobs <= 1:
            for i in todo:
                record(i, run_trial(objective, configs[i]))
        else:
            own = executor is None
            pool = executor or process_pool(jobs)
            try:
                futures: dict[Future, int] = {pool.submit(run_trial, objective, configs[i]): i for i in todo}
                for future in as_completed(futures):
                    record(futures[future], future.result())
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()
    return SearchResult([done[i] for i in sorted(done)])


def _bar(total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty() or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="trials", dynamic_ncols=True)
