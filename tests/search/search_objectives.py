"""Objectives for the search tests, at module level so worker processes can unpickle them by name.

Each is deterministic in its config. `CountingObjective` appends one JSON line per call to a side file
(opened in append mode, one write per line, so concurrent workers do not interleave), which lets a test
count how often each configuration really ran. `HangsOnce` blocks in one trial until the test kills the
process running it, which makes "a worker dies mid-trial" happen for certain, without timing.
"""
from __future__ import annotations

import json
import math
import os
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path


def quadratic(config: dict) -> float:
    """Lowest at x = 0.3; one number, so a serial and a parallel search must agree exactly."""
    return (config["x"] - 0.3) ** 2 + 0.01 * config.get("n", 0)


def quadratic_with_pid(config: dict) -> tuple[float, dict]:
    """`quadratic` and, as the history, the process and thread that ran it (after a short nap, so a pool of
    two workers gets to use both)."""
    time.sleep(0.05)
    return quadratic(config), {"pid": os.getpid(), "thread": threading.current_thread().name}


def bowl(config: dict) -> float:
    """A 5-dimensional bowl around lr 1e-2, beta 0.99, hidden 100, dropout 0.1, activation relu; the log
    dimensions measured in decades, as a real learning rate's effect is."""
    return ((math.log10(config["lr"]) + 2) ** 2 + (math.log10(1 - config["beta"]) + 2) ** 2
            + ((config["hidden"] - 100) / 100) ** 2 + ((config["dropout"] - 0.1) / 0.2) ** 2
            + (0.0 if config["activation"] == "relu" else 0.5))


def fails_above(config: dict) -> float:
    if config["x"] > 0.6:
        raise ValueError(f"x too large: {config['x']:.3f}")
    return config["x"]


def not_a_number(config: dict) -> float:
    return float("nan") if config["x"] > 0.5 else config["x"]


@dataclass
class CountingObjective:
    """`quadratic`, after `delay` seconds, recording each call's config on a line of `calls`."""

    calls: str
    delay: float = 0.0

    def __call__(self, config: dict) -> float:
        time.sleep(self.delay)
        with open(self.calls, "a") as f:
            f.write(json.dumps(config) + "\n")
        return quadratic(config)

    def describe(self) -> dict:
        """Its values are `quadratic`'s: the side file and the delay do not change what a trial means."""
        return {"name": "search_objectives.CountingObjective"}


@dataclass
class HangsOnce:
    """`quadratic` (with the pid that ran it as the history), recording each call in `calls`; the first
    call whose x is `victim` writes its pid to the file `marker` and then waits to be killed (it raises
    after two minutes, so a broken test cannot hang). Later calls of the victim, finding the marker, run
    normally: that is the retry after the kill."""

    calls: str
    marker: str
    victim: float

    def __call__(self, config: dict) -> tuple[float, dict]:
        with open(self.calls, "a") as f:
            f.write(json.dumps(config) + "\n")
        if config["x"] == self.victim and not os.path.exists(self.marker):
            tmp = Path(f"{self.marker}.{os.getpid()}.tmp")
            tmp.write_text(str(os.getpid()))
            tmp.rename(self.marker)  # the test reads a whole pid or nothing
            for _ in range(1200):
                time.sleep(0.1)
            raise RuntimeError("HangsOnce: the test did not kill this process")
        return quadratic(config), {"pid": os.getpid()}

    def describe(self) -> dict:
        return {"name": "search_objectives.HangsOnce"}


def kill_when_hanging(marker: str, timeout: float = 60.0) -> threading.Thread:
    """A started thread that waits for HangsOnce's marker and SIGKILLs the process it names."""
    def run() -> None:
        deadline = time.monotonic() + timeout
        while not os.path.exists(marker) and time.monotonic() < deadline:
            time.sleep(0.01)
        if os.path.exists(marker):
            os.kill(int(Path(marker).read_text()), signal.SIGKILL)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def read_calls(path) -> list[dict]:
    """The configs a CountingObjective ran, in the order the calls finished."""
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
