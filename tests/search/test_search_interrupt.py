"""A search whose process is killed (SIGKILL, no chance to clean up) resumes from its log: every trial the
log holds is never run again, every other trial runs exactly once more, and the final log has each trial once."""
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from search_objectives import CountingObjective, quadratic, read_calls

from tinygrad_bn import search

HERE = Path(__file__).resolve().parent
SPACE = {"x": search.uniform(0.0, 1.0), "n": search.integer(0, 3)}
N_TRIALS = 12

SCRIPT = """
import sys
from search_objectives import CountingObjective
from tinygrad_bn import search
space = {"x": search.uniform(0.0, 1.0), "n": search.integer(0, 3)}
search.random_search(CountingObjective(sys.argv[2], delay=0.25), space, n_trials=12, seed=5, jobs=2,
                     log=sys.argv[1], progress=False)
print("finished")
"""


def logged_trials(log):
    if not log.exists():
        return 0
    return sum(1 for line in log.read_text().splitlines() if line.startswith('{"trial"'))


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX process groups")
def test_a_killed_search_resumes_without_rerunning_or_losing_trials(tmp_path):
    log, calls_before, calls_after = tmp_path / "log.jsonl", tmp_path / "calls1.jsonl", tmp_path / "calls2.jsonl"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    # its own session, so the kill reaches the worker processes too (they would otherwise run on, orphaned)
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(log), str(calls_before)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while logged_trials(log) < 3:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the search logged no trials"
            time.sleep(0.02)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone if the loop's assertion failed
            os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    assert proc.returncode == -signal.SIGKILL and b"finished" not in out

    configs = search.sample(SPACE, N_TRIALS, seed=5)
    _, survived = search.read_log(log)
    done = {t.trial for t in survived}
    assert 3 <= len(done) < N_TRIALS and len(survived) == len(done)
    # every logged trial really ran, with its logged value
    ran_before = [configs.index(c) for c in read_calls(calls_before)]
    assert done <= set(ran_before)
    assert all(t.config == configs[t.trial] and t.value == quadratic(t.config) for t in survived)

    result = search.random_search(CountingObjective(str(calls_after)), SPACE, n_trials=N_TRIALS, seed=5, jobs=2,
                                  log=log, progress=False)
    ran_after = [configs.index(c) for c in read_calls(calls_after)]
    assert sorted(ran_after) == sorted(set(range(N_TRIALS)) - done)  # only the missing ones, each once
    assert [t.trial for t in result.trials] == list(range(N_TRIALS))
    assert [t.value for t in result.trials] == [quadratic(c) for c in configs]
    lines = log.read_text().splitlines()
    trials = [json.loads(line)["trial"] for line in lines[1:]]
    assert sorted(trials) == list(range(N_TRIALS))  # each trial exactly once, no line lost or broken
    assert "space" in json.loads(lines[0])
