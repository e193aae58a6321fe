"""`python -m tinygrad_bn search`: a small real search (digits, two rounds, two worker processes) writes one
log per round, narrows the second round around the first's best trials, and a rerun resumes from the logs."""
import json
import os
import re
import subprocess
import sys

import pytest

from tinygrad_bn import search
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
    # round 2 searches the space refined around round 1's best
    assert space_from_dict(header2["space"]) == search.refine(DEFAULT_SPACE, trials1, top_k=5)
    hidden = header2["space"]["hidden"]
    assert 16 <= hidden["low"] <= min(t.config["hidden"] for t in trials1)
    assert max(t.config["hidden"] for t in trials1) <= hidden["high"] <= 256

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
