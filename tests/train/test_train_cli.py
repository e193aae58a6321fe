"""The train command: `python -m tinygrad_bn train ...` prints a per-epoch table and writes history.json and
curves.png (run as a real subprocess once, and in-process for the option handling)."""
import json
import os
import re
import subprocess
import sys

import pytest

from tinygrad_bn.cli import main

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def check_outputs(out, epochs, options):
    record = json.loads((out / "history.json").read_text())
    assert {k: record["options"][k] for k in options} == options
    history = record["history"]
    for name in ("train_loss", "train_acc", "dev_loss", "dev_acc", "lr", "seconds"):
        values = history[name]
        assert len(values) == epochs, name
        assert all(isinstance(v, float) and v == v for v in values), name  # numbers, not NaN
    assert all(0.0 <= a <= 1.0 for a in history["train_acc"] + history["dev_acc"])
    assert (out / "curves.png").read_bytes()[:8] == PNG_MAGIC
    return history


def test_train_command_as_a_subprocess(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_bn", "train", "--dataset", "digits", "--batchnorm", "--epochs", "2",
         "--out", str(out), "--no-progress"],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    head = re.fullmatch(r"digits: (\d+) training and (\d+) test examples; model \[64, 100, 100, 100, 10\], "
                        r"with batch norm, sgd lr 0.01", lines[0])
    assert head and int(head[1]) + int(head[2]) == 1797
    assert lines[1].split() == ["epoch", "train", "loss", "train", "acc", "test", "loss", "test", "acc", "seconds"]
    rows = [line.split() for line in lines[2:4]]
    assert [row[0] for row in rows] == ["1", "2"]
    assert all(len(row) == 6 and all(float(v) >= 0 for v in row) for row in rows)
    assert lines[4] == f"wrote {(out / 'history.json').resolve()}"
    assert lines[5] == f"wrote {(out / 'curves.png').resolve()}"
    history = check_outputs(out, 2, {"dataset": "digits", "batchnorm": True, "epochs": 2, "no_progress": True})
    # the table shows the same numbers as the JSON
    assert [float(v) for v in rows[1][1:5]] == pytest.approx(
        [history[k][1] for k in ("train_loss", "train_acc", "dev_loss", "dev_acc")], abs=1e-4)
    assert result.stderr == ""


def test_train_command_options_in_process(tmp_path, capsys):
    out = tmp_path / "adam"
    code = main(["train", "--dataset", "digits", "--hidden", "32", "--optimizer", "adam", "--lr", "0.01",
                 "--epochs", "3", "--dropout", "0.1", "--init", "0.05", "--out", str(out), "--no-progress",
                 "--seed", "4"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "model [64, 32, 10], without batch norm, adam lr 0.01" in printed
    history = check_outputs(out, 3, {"optimizer": "adam", "hidden": [32], "seed": 4, "dropout": 0.1})
    assert history["lr"] == [0.01] * 3
    assert history["dev_acc"][-1] > 0.85  # Adam learns the digits within three epochs
    # the same seed gives the same run
    main(["train", "--dataset", "digits", "--hidden", "32", "--optimizer", "adam", "--lr", "0.01", "--epochs", "3",
          "--dropout", "0.1", "--init", "0.05", "--out", str(tmp_path / "again"), "--no-progress", "--seed", "4"])
    again = json.loads((tmp_path / "again" / "history.json").read_text())["history"]
    assert again["train_loss"] == history["train_loss"] and again["dev_acc"] == history["dev_acc"]


def test_train_command_rejects_bad_options(capsys):
    with pytest.raises(SystemExit) as info:
        main(["train", "--dataset", "cifar10"])
    assert info.value.code == 2
    assert "invalid choice: 'cifar10'" in capsys.readouterr().err
