"""random_search: trial order and results independent of `jobs`, resuming from the log, failing trials,
custom executors, and the checks that keep a log from mixing two searches."""
import functools
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from search_objectives import (
    CountingObjective,
    HangsOnce,
    fails_above,
    kill_when_hanging,
    not_a_number,
    quadratic,
    quadratic_with_pid,
    read_calls,
)

from tinygrad_bn import search
from tinygrad_bn.search.objectives import DEFAULTS, MLPObjective
from tinygrad_bn.search.runner import LogMismatchError, describe_objective, search_header

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
        assert header == {"objective": {"name": "search_objectives.quadratic_with_pid"},
                          "space": {"x": {"kind": "uniform", "low": 0.0, "high": 1.0},
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
    cases = [
        (dict(seed=1), ["seed: 0 in the log, 1 now"]),
        (dict(space={"x": search.uniform(0.0, 2.0), "n": search.integer(0, 3)}),
         ["space.x.high: 1.0 in the log, 2.0 now"]),
        (dict(space={"x": search.uniform(0.0, 1.0)}), ["space.n.kind: 'integer' in the log, not recorded now",
                                                       "space.n.low: 0 in the log, not recorded now",
                                                       "space.n.high: 3 in the log, not recorded now"]),
        (dict(objective=fails_above), ["objective.name: 'search_objectives.quadratic' in the log, "
                                       "'search_objectives.fails_above' now"]),
        (dict(meta={"round": 2}), ["meta.round: not recorded in the log, 2 now"]),
    ]
    for change, differences in cases:
        kwargs = dict(objective=quadratic, space=SPACE, n_trials=5, seed=0, jobs=1, log=log, progress=False)
        with pytest.raises(LogMismatchError) as info:
            search.random_search(**{**kwargs, **change})
        assert info.value.differences == differences
        assert str(info.value) == f"{log} holds another search ({'; '.join(differences)})"
        assert isinstance(info.value, ValueError)
    assert log.read_text() == before  # nothing ran, nothing was written


def test_the_objective_s_settings_are_part_of_the_search(tmp_path):
    """The issue's case: a digits search, then a Fashion-MNIST one with other epochs and sizes on the same
    log, must not be answered with the digits trials (nothing trains here: the log is refused first)."""
    log = tmp_path / "s.jsonl"
    digits = MLPObjective("digits", epochs=8)
    log.write_text(json.dumps(search_header(digits, SPACE, 0)) + "\n"
                   + json.dumps({"trial": 0, "config": search.sample(SPACE, 1, 0)[0], "value": 0.05, "seconds": 1.0,
                                 "history": None, "error": None, "lost": False}) + "\n")
    with pytest.raises(LogMismatchError) as info:
        search.random_search(MLPObjective("fashion-mnist", epochs=2, max_train=500), SPACE, n_trials=12, seed=0,
                             jobs=1, log=log, progress=False)
    assert info.value.differences == ["objective.dataset: 'digits' in the log, 'fashion-mnist' now",
                                      "objective.epochs: 8 in the log, 2 now",
                                      "objective.max_train: None in the log, 500 now"]
    header = search.read_log(log)[0]
    assert header["objective"] == {"name": "tinygrad_bn.search.objectives.MLPObjective", "dataset": "digits",
                                   "epochs": 8, "max_train": None, "seed": 0, "defaults": DEFAULTS,
                                   "split": {"fractions": [0.8, 0.2], "seed": 0, "stratify": True}}
    # where the data lives is not part of a trial's meaning; what it is, is
    assert describe_objective(MLPObjective("digits", epochs=8, data_dir="/elsewhere")) == header["objective"]
    assert describe_objective(MLPObjective("digits", epochs=8, seed=1)) != header["objective"]


def test_a_log_without_the_objective_is_refused(tmp_path):
    """A log written before the header recorded the objective cannot say what its trials mean."""
    log = tmp_path / "old.jsonl"
    log.write_text(json.dumps({"space": search_header(quadratic, SPACE, 0)["space"], "seed": 0}) + "\n")
    with pytest.raises(LogMismatchError) as info:
        search.random_search(quadratic, SPACE, n_trials=2, seed=0, jobs=1, log=log, progress=False)
    assert info.value.differences == ["objective.name: not recorded in the log, 'search_objectives.quadratic' now"]


def test_a_file_that_is_not_a_log_is_refused(tmp_path):
    notes = tmp_path / "notes.jsonl"
    notes.write_text('{"trial": 0, "config": {}, "value": 1.0, "seconds": 0.0}\n')
    with pytest.raises(ValueError, match="not a search log"):
        search.random_search(quadratic, SPACE, n_trials=2, seed=0, jobs=1, log=notes, progress=False)
    assert notes.read_text() == '{"trial": 0, "config": {}, "value": 1.0, "seconds": 0.0}\n'


@dataclass
class Scaled:
    factor: float

    def __call__(self, config):
        return self.factor * quadratic(config)


def test_describe_objective():
    assert describe_objective(quadratic) == {"name": "search_objectives.quadratic"}
    assert describe_objective(Scaled(2.0)) == {"name": f"{__name__}.Scaled", "factor": 2.0}
    assert describe_objective(functools.partial(quadratic)) == {"name": "search_objectives.quadratic", "args": [],
                                                                "kwargs": {}}
    assert describe_objective(CountingObjective("a.jsonl", 0.5)) == describe_objective(CountingObjective("b.jsonl"))


def test_a_worker_killed_in_the_process_pool_loses_no_trial(tmp_path):
    """SIGKILL to a worker breaks the process pool: every unfinished trial is logged as lost (none is
    dropped, the search does not crash), and a resumed search runs exactly those."""
    configs = search.sample(SPACE, 6, seed=7)
    marker, calls, log = tmp_path / "victim.pid", tmp_path / "calls.jsonl", tmp_path / "log.jsonl"
    objective = HangsOnce(str(calls), str(marker), victim=configs[2]["x"])
    killer = kill_when_hanging(str(marker))
    result = search.random_search(objective, SPACE, n_trials=6, seed=7, jobs=2, log=log, progress=False)
    killer.join()
    lost = {t.trial for t in result.lost}
    assert 2 in lost and [t.trial for t in result.trials] == list(range(6))
    for t in result.trials:
        if t.trial in lost:
            assert t.value is None and "BrokenProcessPool" in t.error and "runs this trial again" in t.error
        else:
            assert t.value == quadratic(configs[t.trial]) and not t.lost
    records = [json.loads(line) for line in log.read_text().splitlines()[1:]]
    assert sorted(r["trial"] for r in records) == list(range(6))
    assert {r["trial"] for r in records if r["lost"]} == lost

    before = len(read_calls(calls))
    resumed = search.random_search(objective, SPACE, n_trials=6, seed=7, jobs=1, log=log, progress=False)
    assert sorted(configs.index(c) for c in read_calls(calls)[before:]) == sorted(lost)
    assert not resumed.lost and [t.value for t in resumed.trials] == [quadratic(c) for c in configs]
    # the log holds each lost trial twice (lost, then finished); read back, each trial is there once, finished
    _, logged = search.read_log(log)
    assert sorted(t.trial for t in logged) == list(range(6)) and not any(t.lost for t in logged)
    assert len(log.read_text().splitlines()) == 1 + 6 + len(lost)


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
