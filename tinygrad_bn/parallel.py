"""Running independent jobs (search trials, experiment configurations) in worker processes.

Each worker limits numpy's BLAS to one thread: with several processes on few cores, multi-threaded BLAS
makes them spin against each other (seen here: a 100x784 matmul 10x slower with 2 threads per process).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any


def limit_blas_threads() -> None:
    """Use one BLAS thread in this process (an initializer for worker processes)."""
    os.environ["OPENBLAS_NUM_THREADS"] = os.environ["OMP_NUM_THREADS"] = "1"
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # threadpoolctl ships no stubs

        threadpool_limits(1)
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        pass


def process_pool(jobs: int) -> ProcessPoolExecutor:
    """A process pool of `jobs` workers, each with single-threaded BLAS."""
    return ProcessPoolExecutor(max_workers=jobs, initializer=limit_blas_threads)


def map_jobs(fn: Callable[[Any], Any], items: Iterable[Any], jobs: int | None = 1) -> list[Any]:
    """[fn(item) for item in items], in worker processes when jobs > 1; results keep the items' order."""
    items = list(items)
    jobs = jobs or os.cpu_count() or 1
    if jobs <= 1 or len(items) <= 1:
        return [fn(item) for item in items]
    with process_pool(min(jobs, len(items))) as pool:
        return list(pool.map(fn, items))


def default_jobs(requested: int | None, items: Sequence[Any] | None = None) -> int:
    """`requested`, or the number of cores, never more than the number of items."""
    jobs = requested or os.cpu_count() or 1
    return max(1, min(jobs, len(items))) if items is not None else max(1, jobs)
