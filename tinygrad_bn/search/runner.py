"""Random search: trials run in parallel worker processes (or any `concurrent.futures.Executor`), each
appended to a JSON-lines log as it finishes, so an interrupted search loses nothing and resumes.

The log's first line describes the search: everything that decides what a trial's value means (the
objective and its settings, the space, the seed, and any `meta` the caller adds); a search resumed on a
log whose header says anything else is refused (`LogMismatchError`, naming the differences), so old trials
are never passed off as results of another search. Every further line is one finished trial:
{"trial": i, "config": {...}, "value": v, "seconds": s, "history": {...} or null, "error": null or "...",
"lost": false}. Configurations come from `sample(space, n_trials, seed)`, so trial i is the same whatever
`jobs` is, and a resumed search reruns nothing that the log already holds.

Scaling out: pass `executor=` any concurrent.futures.Executor. Each trial is submitted as
`executor.submit(fn, objective, config, attempt_id)`, where fn calls `run_trial(objective, config)` and the
id is new for every attempt (so an executor that caches by arguments, as Dask does, really reruns a lost
trial), and collected with `concurrent.futures.as_completed`; Dask's `distributed.Client(...).get_executor()`
works as it is, and for Ray a small Executor subclass whose `submit` wraps `ray.remote` does (docs/search.md
shows both). The objective must be importable by the workers (a module-level function or a picklable
object), exactly as for the default process pool. A trial whose future fails (its worker died and the
executor gave up on it) is logged with `lost: true` and run again by the next resumed search.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Collection
from concurrent.futures import CancelledError, Executor, Future, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from ..parallel import process_pool
from .space import Dimension, canonical, sample, space_to_dict


@dataclass
class Trial:
    """One finished evaluation: its index in the sampled order, config, value (lower is better), time.

    `lost` marks a trial the executor could not run (its worker died, the pool broke): its value is None,
    `error` says why, and a resumed search runs it again.
    """

    trial: int
    config: dict[str, Any]
    value: float | None
    seconds: float
    history: dict[str, Any] | None = None
    error: str | None = None
    lost: bool = False


@dataclass
class SearchResult:
    """The trials of a search in trial order; `best` is the one with the lowest finite value."""

    trials: list[Trial]

    @property
    def lost(self) -> list[Trial]:
        """Trials the executor lost (rerun them by resuming the search)."""
        return [t for t in self.trials if t.lost]

    @property
    def best(self) -> Trial:
        finished = [t for t in self.trials if t.value is not None and math.isfinite(t.value)]
        if not finished:
            raise ValueError("search: no trial finished with a finite value")
        return min(finished, key=value_key)


def value_key(trial: Trial) -> float:
    """Sort key ranking trials by value, lower is better; one without a value (failed or lost) ranks last."""
    return math.inf if trial.value is None else trial.value


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


class LogMismatchError(ValueError):
    """A log holds trials of another search: resuming from it would pass them off as this search's."""

    def __init__(self, path: str | os.PathLike, differences: list[str]) -> None:
        self.path, self.differences = Path(path), differences
        super().__init__(f"{path} holds another search ({'; '.join(differences)})")


def _canonical_dict(value: dict[str, Any], default: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """`canonical` of a dict with str keys, which reads back from JSON as such a dict."""
    result: dict[str, Any] = canonical(value, default)
    return result


def describe_objective(objective: Callable[[dict], Any]) -> dict[str, Any]:
    """What a log's header records of an objective: its `describe()` if it has one, else its qualified
    name and, for a dataclass instance or a functools.partial, its fields or arguments."""
    if hasattr(objective, "describe") and callable(objective.describe):
        return _canonical_dict(objective.describe())
    if isinstance(objective, functools.partial):
        return _canonical_dict({**describe_objective(objective.func), "args": list(objective.args),
                                "kwargs": dict(objective.keywords)}, default=repr)
    kind = objective if callable(objective) and hasattr(objective, "__qualname__") else type(objective)
    name = f"{getattr(kind, '__module__', '?')}.{kind.__qualname__}"
    if dataclasses.is_dataclass(objective) and not isinstance(objective, type):
        fields = {f.name: getattr(objective, f.name) for f in dataclasses.fields(objective)}
        return _canonical_dict({"name": name, **fields}, default=repr)
    return {"name": name}


def search_header(objective: Callable[[dict], Any], space: dict[str, Dimension], seed: int | None,
                  meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """The first line of a search's log: what decides the meaning of its trials (not their number)."""
    header = {"objective": describe_objective(objective), "space": space_to_dict(space), "seed": seed}
    if meta:
        header["meta"] = meta
    return _canonical_dict(header)


def _flatten(value: Any, prefix: str) -> dict[str, Any]:
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


_ABSENT = object()
_HEADER_KEYS = ("objective", "space", "seed", "meta")


def header_differences(logged: dict[str, Any], wanted: dict[str, Any], ignore: Collection[str] = ()
                       ) -> list[str]:
    """Each setting on which two headers differ, as "name: X in the log, Y now" (dotted names for nested
    settings, such as objective.epochs or space.lr.high); top-level keys in `ignore` are not compared."""
    def show(v: Any) -> str:
        return "not recorded" if v is _ABSENT else repr(v)

    old = _flatten({k: v for k, v in logged.items() if k not in ignore and k in _HEADER_KEYS}, "")
    new = _flatten({k: v for k, v in canonical(wanted).items() if k not in ignore}, "")
    return [f"{name}: {show(old.get(name, _ABSENT))} in the log, {show(new.get(name, _ABSENT))} now"
            for name in [*new, *(n for n in old if n not in new)]
            if old.get(name, _ABSENT) != new.get(name, _ABSENT)]


def check_log(path: str | os.PathLike, header: dict[str, Any], ignore: Collection[str] = ()
              ) -> dict[str, Any] | None:
    """The header of the log at `path` (None if there is none yet); raises LogMismatchError if it
    describes another search than `header` (see `search_header`)."""
    logged, _ = read_log(path, trials=False)
    if logged is not None:
        differences = header_differences(logged, header, ignore)
        if differences:
            raise LogMismatchError(path, differences)
    return logged


def _run_attempt(objective: Callable[[dict], Any], config: dict[str, Any], attempt: str) -> tuple:
    """`run_trial`, submitted with an id unique to this attempt: an executor that caches results by their
    arguments (Dask's, with its default pure=True) would otherwise answer a rerun of a lost trial with the
    failure of the earlier attempt instead of running it."""
    return run_trial(objective, config)


def read_log(path: str | os.PathLike, trials: bool = True) -> tuple[dict[str, Any] | None, list[Trial]]:
    """(header, trials) of a search log; a half-written last line (from a killed process) is ignored.

    A trial logged more than once (lost, then run by a resumed search) appears once, as its last record
    (a lost record never replaces a finished one).
    """
    path = Path(path)
    if not path.exists():
        return None, []
    header, found = None, dict[int, Trial]()
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(record, dict):
                continue
            if "space" in record and "trial" not in record:
                header = record
                if not trials:
                    break
            elif "trial" in record:
                try:
                    trial = Trial(**{k: record[k] for k in Trial.__dataclass_fields__ if k in record})
                except TypeError:
                    continue
                trial.lost = bool(trial.lost)
                previous = found.get(trial.trial)
                if previous is None or not trial.lost or previous.lost:
                    found[trial.trial] = trial
    return header, list(found.values())


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
    meta: dict[str, Any] | None = None,
) -> SearchResult:
    """Evaluate `n_trials` random configurations of `space` with `objective(config) -> float` (lower is better).

    jobs: worker processes (default: the number of cores; 1 runs in this process). With `log`, trials
    already in the log are read back and not run again, and a log of another search (another objective or
    objective setting, space, seed or `meta`; see `search_header`) raises LogMismatchError. `meta`: more
    settings (JSON values) the log records and a resumed search must match. Returns the trials in trial
    order; a trial the executor lost is among them with `lost=True`.
    """
    if n_trials < 1:
        raise ValueError(f"random_search: n_trials must be >= 1, got {n_trials}")
    configs = sample(space, n_trials, seed)
    done: dict[int, Trial] = {}
    path = Path(log) if log is not None else None
    if path is not None:
        if seed is None:
            raise ValueError("random_search: a log needs a fixed seed, or a resumed search would draw other configs")
        spec = search_header(objective, space, seed, meta)
        header = check_log(path, spec)
        _, previous = read_log(path)
        if path.exists():
            _drop_partial_line(path)
        if header is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size > 0:
                raise ValueError(f"random_search: {path} is not a search log (no header line); use another file")
            _append(path, spec)
        for t in previous:
            # compared as they read back from JSON: tuples in a config come back as lists
            if not t.lost and t.trial < n_trials and canonical(configs[t.trial]) == t.config:
                done[t.trial] = replace(t, config=configs[t.trial])
    todo = [i for i in range(n_trials) if i not in done]
    bar = _bar(len(todo), progress)

    def record(i: int, outcome: tuple, lost: bool = False) -> None:
        value, history, seconds, error = outcome
        trial = Trial(i, configs[i], value, seconds, history, error, lost)
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
                futures: dict[Future, int] = {pool.submit(_run_attempt, objective, configs[i], uuid.uuid4().hex): i
                                              for i in todo}
                for future in as_completed(futures):
                    try:
                        outcome = future.result()
                    except (Exception, CancelledError) as exc:  # noqa: BLE001 - the worker, not the objective
                        record(futures[future], _lost(exc), lost=True)
                    else:
                        record(futures[future], outcome)
            finally:
                if own:
                    pool.shutdown(cancel_futures=True)
    finally:
        if bar is not None:
            bar.close()
    return SearchResult([done[i] for i in sorted(done)])


def _lost(exc: BaseException) -> tuple[None, None, float, str]:
    """The outcome of a trial whose future failed: run_trial catches the objective's errors, so this is the
    executor's (a worker killed, a broken pool, a task the cluster gave up on)."""
    reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return None, None, 0.0, f"lost by the executor ({reason}); a resumed search runs this trial again"


def _bar(total: int, enabled: bool) -> Any:
    if not enabled or not sys.stderr.isatty() or total == 0:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="trials", dynamic_ncols=True)
