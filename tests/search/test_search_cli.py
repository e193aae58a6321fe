"""`python -m tinygrad_bn search`: a small real search (digits, two rounds, two worker processes) writes one
log per round, narrows the second round around the first's best trials, and a rerun resumes from the logs;
a rerun with other settings is refused (exit status 2, one line naming the differences) unless --new-log
moves the old logs aside; more trials resume every round."""
import json
import os
import re
import subprocess
import sys

import pytest

from tinygrad_bn import search
from tinygrad_bn.cli import main
from tinygrad_bn.search.cli import DEFAULT_SPACE
from tinygrad_bn.search.space import space_from_dict

pytest.importorskip("sklearn")

COMMAND = ["search", "--dataset", "digits", "--trials", "4", "--rounds", "2", "--epochs", "1", "--jobs", "2",
           "--log", "tmp/log.jsonl", "--no-progress"]


def run(cwd):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-m", "tinygrad_bn", *COMMAND], cwd=cwd, capture_output=True, text=True,
                            env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_search_command_two_rounds_and_resume(tmp_path):
    out = run(tmp_path)
    lines = out.splitlines()
    first, second = tmp_path / "tmp" / "log.jsonl", tmp_path / "tmp" / "log.round2.jsonl"
    assert "round 1: 4 trials, log tmp/log.jsonl" in lines
    assert "round 2: 4 trials, log tmp/log.round2.jsonl" in lines
    assert lines.count("4 finished, 0 failed") == 2

    header1, trials1 = search.read_log(first)
    header2, trials2 = search.read_log(second)
    assert header1["seed"] == 0 and header2["seed"] == 1  # each round draws fresh configurations
    assert space_from_dict(header1["space"]) == DEFAULT_SPACE
    for trials, header in ((trials1, header1), (trials2, header2)):
        assert sorted(t.trial for t in trials) == [0, 1, 2, 3]
        assert [t.config for t in sorted(trials, key=lambda t: t.trial)] == search.sample(
            space_from_dict(header["space"]), 4, seed=header["seed"])
        for t in trials:
            assert t.error is None and 0.0 <= t.value <= 1.0
            assert len(t.history["dev_acc"]) == 1 and t.value == pytest.approx(1 - t.history["dev_acc"][0])
    # round 2 searches the space refined around round 1's best, at most half as wide in each number
    refined = space_from_dict(header2["space"])
    assert refined == search.refine(DEFAULT_SPACE, trials1, top_k=5)
    assert header2["meta"] == {"round": 2, "refined_from": "log.jsonl", "top_k": 5, "margin": 0.5, "shrink": 0.5}
    best1 = min(trials1, key=lambda t: t.value)
    for name in ("lr", "momentum", "hidden"):
        assert refined[name].low <= best1.config[name] <= refined[name].high
        assert refined[name].width() <= 0.5 * DEFAULT_SPACE[name].width() + (1 if name == "hidden" else 1e-12)
        assert f"  {name}: {refined[name]}  ({refined[name].width() / DEFAULT_SPACE[name].width():.0%} of round " \
               "1's width)" in lines

    best = min(trials1 + trials2, key=lambda t: t.value)
    m = re.fullmatch(r"best dev error (\S+) with (\{.*\})", lines[-1])
    assert m and float(m[1]) == pytest.approx(best.value, abs=5e-5)
    assert m[2] == str(best.config)
    # the table's first row is each round's best
    for trials, title in ((trials1, "round 1"), (trials2, "round 2")):
        row = lines[[i for i, line in enumerate(lines) if line.startswith(title)][0] + 6].split()
        top = min(trials, key=lambda t: t.value)
        assert row[:3] == ["1", str(top.trial), f"{top.value:.4g}"]

    # a rerun finds every trial in the logs: nothing trains, the logs stay as they were, the answer is the same
    before = first.read_bytes(), second.read_bytes()
    assert run(tmp_path).splitlines()[-1] == lines[-1]
    assert (first.read_bytes(), second.read_bytes()) == before
    assert all(json.loads(line) for line in first.read_text().splitlines())


SMALL = ["search", "--dataset", "digits", "--max-train", "300", "--jobs", "1", "--no-progress"]


def trial_lines(path):
    return [line for line in path.read_text().splitlines() if line.startswith('{"trial"')]


def test_resuming_with_other_settings_is_refused_and_new_log_moves_the_old_one_aside(tmp_path, capsys):
    """The issue's case: a digits search, then a Fashion-MNIST search with other epochs and sizes on the same
    log, used to run nothing and report the digits result as the Fashion-MNIST best."""
    log = tmp_path / "s.jsonl"
    assert main([*SMALL, "--trials", "2", "--epochs", "2", "--log", str(log)]) == 0
    first = log.read_bytes()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    other = subprocess.run([sys.executable, "-m", "tinygrad_bn", "search", "--dataset", "fashion-mnist", "--max-train",
                            "500", "--trials", "3", "--epochs", "1", "--log", str(log)], capture_output=True, text=True,
                           env=env, timeout=120)
    assert other.returncode == 2 and other.stdout == ""
    assert other.stderr.count("\n") == 1 and "Traceback" not in other.stderr
    assert other.stderr.startswith(f"python -m tinygrad_bn search: error: {log} holds another search (")
    for difference in ("objective.dataset: 'digits' in the log, 'fashion-mnist' now",
                       "objective.epochs: 2 in the log, 1 now", "objective.max_train: 300 in the log, 500 now"):
        assert difference in other.stderr
    assert "--new-log" in other.stderr
    assert log.read_bytes() == first  # nothing ran, nothing was written

    # more trials, same settings: resumes, runs only the new one
    capsys.readouterr()
    assert main([*SMALL, "--trials", "3", "--epochs", "2", "--log", str(log)]) == 0
    assert log.read_bytes().startswith(first) and len(trial_lines(log)) == 3

    # --new-log: the old log is moved aside, never deleted, and a new search starts
    extended = log.read_bytes()
    capsys.readouterr()
    assert main([*SMALL, "--trials", "2", "--epochs", "1", "--log", str(log), "--new-log"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"moved the old log {log} to {tmp_path / 's.old1.jsonl'}"
    assert (tmp_path / "s.old1.jsonl").read_bytes() == extended
    header, trials = search.read_log(log)
    assert header["objective"]["epochs"] == 1 and len(trials) == 2
    assert main([*SMALL, "--trials", "2", "--epochs", "1", "--log", str(log), "--new-log"]) == 0
    assert (tmp_path / "s.old1.jsonl").read_bytes() == extended and (tmp_path / "s.old2.jsonl").exists()


def test_more_trials_resume_every_round_and_a_changed_refinement_is_refused(tmp_path, capsys):
    log = tmp_path / "s.jsonl"
    round2 = tmp_path / "s.round2.jsonl"
    assert main([*SMALL, "--trials", "3", "--rounds", "2", "--epochs", "1", "--log", str(log)]) == 0
    before = log.read_bytes(), round2.read_bytes()
    space2 = search.read_log(round2)[0]["space"]
    capsys.readouterr()
    # round 1 gains a trial (which could change its best 5); round 2 keeps the space it was refined to
    assert main([*SMALL, "--trials", "4", "--rounds", "2", "--epochs", "1", "--log", str(log)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert f"round 2: 4 trials, log {round2} (resumed with the space it started with)" in out
    assert log.read_bytes().startswith(before[0]) and round2.read_bytes().startswith(before[1])
    assert len(trial_lines(log)) == len(trial_lines(round2)) == 4
    assert search.read_log(round2)[0]["space"] == space2

    # another --top-k would have refined round 2 differently: refused before anything runs
    after = log.read_bytes(), round2.read_bytes()
    assert main([*SMALL, "--trials", "5", "--rounds", "2", "--epochs", "1", "--top-k", "2", "--log", str(log)]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert f"{round2} holds another search (meta.top_k: 5 in the log, 2 now)" in captured.err
    assert (log.read_bytes(), round2.read_bytes()) == after


def test_missing_data_files_stop_the_search_before_its_log_is_written(tmp_path):
    """Without the check, every trial failed in the workers, the log filled with failed trials, and a
    resumed search (with the files in place) would not have run them again."""
    from tinygrad_bn.cli import build_parser
    from tinygrad_bn.data import DatasetNotFoundError, load_dataset
    from tinygrad_bn.search.cli import search_command

    try:
        load_dataset("mnist", tmp_path)
        pytest.skip("MNIST is installed on this machine: nothing is missing")
    except DatasetNotFoundError:
        pass
    log = tmp_path / "m.jsonl"
    args = build_parser().parse_args(["search", "--dataset", "mnist", "--data-dir", str(tmp_path), "--trials", "2",
                                      "--jobs", "2", "--log", str(log)])
    with pytest.raises(DatasetNotFoundError):
        search_command(args)
    assert not log.exists()
