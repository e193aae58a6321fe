"""random_search: trial order and results independent of `jobs`, resuming from the log, failing trials,
custom executors, and the checks that keep a log from mixing two searches."""
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from search_objectives import CountingObjective, fails_above, not_a_number, quadratic, quadratic_with_pid, read_calls

from tinygrad_bn import search

SPACE = {"x": search.uniform(0.0, 1.0), "n": search.integer(0, 3)}


def key(trials):
    return [(t.trial, t.config, t.value, t.error) for t in trials]


def log_records(path):
    lines = path.read_text().splitlines()
    return json.loads(lines[0]), [json.loads(line) for line in lines[1:]]


def test_serial_and_parallel_searches_agree(tmp_path):
    serial = search.random_search(quadratic_with_pid, SPACE, n_trials=8, seed=3, jobs=1, log=tmp_path / "s.jsonl",
                                  progress=False)
    parallel = search.random_search(quadratic_with_pid, SPACE, n_trials=8, seed=3, jobs=2,
                                    log=tmp_path / "p.jsonl", progress=False)
    assert key(serial.trials) == key(parallel.trials)
    assert [t.trial for t in parallel.trials] == list(range(8))
    assert serial.trials == sorted(serial.trials, key=lambda t: t.trial)
    assert serial.best.trial == parallel.best.trial and serial.best.value == parallel.best.value
    assert serial.best.value == min(quadratic(c) for c in search.sample(SPACE, 8, seed=3))
    assert [t.config for t in serial.trials] == search.sample(SPACE, 8, seed=3)
    # jobs=1 runs in this process, jobs=2 in two worker processes
    assert {t.history["pid"] for t in serial.trials} == {os.getpid()}
    pids = {t.history["pid"] for t in parallel.trials}
    assert os.getpid() not in pids and len(pids) == 2
    # both logs hold the same records (in completion order, so compared as sets)
    for name in ("s.jsonl", "p.jsonl"):
        header, records = log_records(tmp_path / name)
        assert header == {"space": {"x": {"kind": "uniform", "low": 0.0, "high": 1.0},
                                    "n": {"kind": "integer", "low": 0, "high": 3}}, "seed": 3}
        assert sorted((r["trial"], r["value"]) for r in records) == [(t.trial, t.value) for t in serial.trials]
        assert all(r["error"] is None and r["seconds"] >= 0.05 for r in records)


def test_a_rerun_with_the_same_log_resumes_and_can_extend(tmp_path):
    log, calls = tmp_path / "log.jsonl", tmp_path / "calls.jsonl"
    objective = CountingObjective(str(calls))
    first = search.random_search(objective, SPACE, n_trials=6, seed=0, jobs=1, log=log, progress=False)
    assert len(read_calls(calls)) == 6
    again = search.random_search(objective, SPACE, n_trials=6, seed=0, jobs=1, log=log, progress=False)
    assert len(read_calls(calls)) == 6  # nothing ran again
    assert again.trials == first.trials  # read back exactly, seconds included
    more = search.random_search(objective, SPACE, n_trials=9, seed=0, jobs=2, log=log, progress=False)
    configs = search.sample(SPACE, 9, seed=0)
    assert read_calls(calls)[6:] and sorted(read_calls(calls)[6:], key=configs.index) == configs[6:]
    assert key(more.trials[:6]) == key(first.trials)
    _, records = log_records(log)
    assert sorted(r["trial"] for r in records) == list(range(9))
    # asking for fewer trials uses the log's first ones and runs nothing
    fewer = search.random_search(objective, SPACE, n_trials=4, seed=0, jobs=1, log=log, progress=False)
    assert fewer.trials == more.trials[:4] and len(read_calls(calls)) == 9


def test_a_half_written_last_line_is_tolerated(tmp_path):
    log, calls = tmp_path / "log.jsonl", tmp_path / "calls.jsonl"
    objective = CountingObjective(str(calls))
    search.random_search(objective, SPACE, n_trials=3, seed=0, jobs=1, log=log, progress=False)
    with open(log, "a") as f:
        f.write('{"trial": 3, "config": {"x": 0.12')  # a process killed mid-write
    header, trials = search.read_log(log)
    assert header["seed"] == 0 and [t.trial for t in trials] == [0, 1, 2]
    result = search.random_search(objective, SPACE, n_trials=5, seed=0, jobs=1, log=log, progress=False)
    assert [t.trial for t in result.trials] == [0, 1, 2, 3, 4]
    assert len(read_calls(calls)) == 5  # only trials 3 and 4 ran again
    # the partial line is gone, and the records written after it are whole: nothing is lost on the next resume
    lines = log.read_text().splitlines()
    assert len(lines) == 6 and all(json.loads(line) for line in lines)
    assert search.read_log(log)[1] == result.trials
    search.random_search(objective, SPACE, n_trials=5, seed=0, jobs=1, log=log, progress=False)
    assert len(read_calls(calls)) == 5


def test_a_failing_trial_is_recorded_and_the_search_goes_on(tmp_path):
    log = tmp_path / "log.jsonl"
    result = search.random_search(fails_above, {"x": search.uniform(0, 1)}, n_trials=10, seed=0, jobs=2, log=log,
                                  progress=False)
    configs = search.sample({"x": search.uniform(0, 1)}, 10, seed=0)
    assert len(result.trials) == 10
    failed = [t for t in result.trials if t.value is None]
    assert {t.trial for t in failed} == {i for i, c in enumerate(configs) if c["x"] > 0.6} != set()
    for t in failed:
        assert "ValueError: x too large" in t.error and t.history is None and t.seconds >= 0
    assert all(t.error is None for t in result.trials if t.value is not None)
    assert result.best.value == min(c["x"] for c in configs)
    _, records = log_records(log)
    assert {r["trial"] for r in records if r["value"] is None and "x too large" in r["error"]} == {
        t.trial for t in failed}
    # a failed trial is finished too: resuming does not run it again
    resumed = search.random_search(fails_above, {"x": search.uniform(0, 1)}, n_trials=10, seed=0, jobs=1, log=log,
                                   progress=False)
    assert key(resumed.trials) == key(result.trials)


def test_best_ignores_nan_and_needs_one_finished_trial():
    result = search.random_search(not_a_number, {"x": search.uniform(0, 1)}, n_trials=10, seed=0, jobs=1,
                                  progress=False)
    assert any(t.value != t.value for t in result.trials)
    assert result.best.value == min(t.value for t in result.trials if t.value == t.value)
    all_fail = search.random_search(fails_above, {"x": search.uniform(0.7, 1)}, n_trials=3, seed=0, jobs=1,
                                    progress=False)
    with pytest.raises(ValueError, match="no trial finished"):
        _ = all_fail.best


def test_a_custom_executor_is_used_and_left_open():
    class Recording(ThreadPoolExecutor):
        submitted, shut_down = 0, False

        def submit(self, fn, /, *args, **kwargs):
            self.submitted += 1
            return super().submit(fn, *args, **kwargs)

        def shutdown(self, *args, **kwargs):
            self.shut_down = True
            return super().shutdown(*args, **kwargs)

    pool = Recording(max_workers=2, thread_name_prefix="custom-pool")
    try:
        result = search.random_search(quadratic_with_pid, SPACE, n_trials=6, seed=3, jobs=1, executor=pool,
                                      progress=False)
        assert pool.submitted == 6 and not pool.shut_down  # executor wins over jobs=1, and stays open
        assert {t.history["pid"] for t in result.trials} == {os.getpid()}
        assert all(t.history["thread"].startswith("custom-pool") for t in result.trials)
        assert threading.current_thread().name not in {t.history["thread"] for t in result.trials}
        assert pool.submit(sum, [1, 2]).result() == 3  # still usable
        assert key(result.trials) == key(search.random_search(quadratic_with_pid, SPACE, n_trials=6, seed=3, jobs=1,
                                                              progress=False).trials)
    finally:
        pool.shutdown()


def test_a_log_of_another_search_is_refused(tmp_path):
    log = tmp_path / "log.jsonl"
    search.random_search(quadratic, SPACE, n_trials=3, seed=0, jobs=1, log=log, progress=False)
    before = log.read_text()
    with pytest.raises(ValueError, match="another space or seed"):
        search.random_search(quadratic, SPACE, n_trials=3, seed=1, jobs=1, log=log, progress=False)
    with pytest.raises(ValueError, match="another space or seed"):
        search.random_search(quadratic, {"x": search.uniform(0.0, 2.0), "n": search.integer(0, 3)}, n_trials=3,
                             seed=0, jobs=1, log=log, progress=False)
    assert log.read_text() == before


def test_tuple_options_resume(tmp_path):
    """JSON turns tuples into lists; the log must still be recognised as the same search."""
    space = {"layers": search.choice([(64, 64), (128,), (32, 32, 32)]), "x": search.uniform(0, 1)}
    log, calls = tmp_path / "log.jsonl", tmp_path / "calls.jsonl"
    first = search.random_search(CountingObjective(str(calls)), space, n_trials=4, seed=0, jobs=1, log=log,
                                 progress=False)
    again = search.random_search(CountingObjective(str(calls)), space, n_trials=4, seed=0, jobs=1, log=log,
                                 progress=False)
    assert len(read_calls(calls)) == 4 and again.trials == first.trials
    assert all(isinstance(t.config["layers"], tuple) for t in again.trials)
    fine = search.refine(space, search.read_log(log)[1], top_k=2)  # configs from the log hold lists
    assert set(fine["layers"].options) == {t.config["layers"] for t in sorted(first.trials, key=lambda t: t.value)[:2]}


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="n_trials"):
        search.random_search(quadratic, SPACE, n_trials=0)
    with pytest.raises(ValueError, match="fixed seed"):
        search.random_search(quadratic, SPACE, n_trials=2, seed=None, log=tmp_path / "log.jsonl")
    assert not (tmp_path / "log.jsonl").exists()
    with pytest.raises(TypeError, match="search dimension"):
        search.random_search(quadratic, {"x": [0, 1]}, n_trials=2)


def test_run_trial_accepts_a_value_or_a_value_and_history():
    assert search.run_trial(quadratic, {"x": 0.3})[:2] == (0.0, None)
    value, history, seconds, error = search.run_trial(quadratic_with_pid, {"x": 0.5})
    assert value == pytest.approx(0.04) and history["pid"] == os.getpid() and seconds >= 0.05 and error is None
    value, history, _, error = search.run_trial(lambda c: "oops", {})
    assert value is None and history is None and "ValueError" in error
