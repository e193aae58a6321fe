"""The train command: `python -m tinygrad_bn train ...` prints a per-epoch table and writes history.json and
curves.png (run as a real subprocess once, and in-process for the option handling)."""
import json
import os
import re
import subprocess
import sys

import numpy as np
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


RESUMABLE = ["train", "--dataset", "digits", "--hidden", "16", "--batch-size", "16", "--batchnorm", "--dropout", "0.1",
             "--optimizer", "adam", "--lr", "0.003", "--epochs", "12", "--no-progress"]
METRICS = ("train_loss", "train_acc", "dev_loss", "dev_acc", "lr")


def start_train(options, **kwargs):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    return subprocess.Popen([sys.executable, "-m", "tinygrad_bn", *map(str, options)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def checkpoint_epoch(path):
    from tinygrad_bn.serialization import load

    return json.loads(str(load(path)["meta"]))["epoch"]


@pytest.mark.skipif(not hasattr(os, "killpg"), reason="needs POSIX signals")
def test_a_killed_train_run_resumes_to_the_uninterrupted_history(tmp_path):
    """SIGKILL after the first checkpoint; the same command with --resume ends with the same history
    (BN's running statistics, Adam's moments, dropout's random state and the shuffling all restored)."""
    import signal
    import time

    whole = start_train([*RESUMABLE, "--out", tmp_path / "whole"])
    ckpt = tmp_path / "ckpt" / "run.npz"
    resumable = [*RESUMABLE, "--out", tmp_path / "resumed", "--checkpoint", ckpt, "--resume"]
    killed = start_train(resumable)
    try:
        while not ckpt.exists():  # the first epoch's checkpoint
            assert killed.poll() is None, killed.communicate()
            time.sleep(0.01)
    finally:
        killed.send_signal(signal.SIGKILL)
        out, _ = killed.communicate()
    assert killed.returncode == -signal.SIGKILL
    done = checkpoint_epoch(ckpt)
    assert 1 <= done < 12 and not (tmp_path / "resumed").joinpath("history.json").exists()
    resumed = start_train(resumable)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert f"resuming from {ckpt} after epoch {done}" in out
    assert out.split("seconds\n")[1].split()[0] == str(done + 1)  # the table goes on where the run stopped
    whole_out, whole_err = whole.communicate(timeout=300)
    assert whole.returncode == 0, whole_err
    expected = json.loads((tmp_path / "whole" / "history.json").read_text())["history"]
    history = json.loads((tmp_path / "resumed" / "history.json").read_text())["history"]
    assert len(history["train_loss"]) == 12
    assert {k: history[k] for k in METRICS} == {k: expected[k] for k in METRICS}  # bit for bit
    assert checkpoint_epoch(ckpt) == 12


def test_resume_refuses_other_options_and_needs_a_checkpoint(tmp_path, capsys):
    ckpt = tmp_path / "run.npz"
    base = ["train", "--dataset", "digits", "--hidden", "8", "--epochs", "1", "--no-progress", "--out",
            str(tmp_path / "out"), "--checkpoint", str(ckpt)]
    assert main(base) == 0 and checkpoint_epoch(ckpt) == 1
    capsys.readouterr()
    assert main([*base[:4], "9", *base[5:], "--resume", "--lr", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--hidden [8] -> [9]" in err and "--lr 0.01 -> 0.1" in err
    assert main([*base[:6], "3", *base[7:], "--resume"]) == 0  # more epochs: the run goes on
    assert "resuming from" in capsys.readouterr().out and checkpoint_epoch(ckpt) == 3
    history = json.loads((tmp_path / "out" / "history.json").read_text())["history"]
    assert len(history["train_loss"]) == 3
    assert main([*base, "--resume"]) == 2  # fewer epochs than already trained
    assert "already trained 3 epochs" in capsys.readouterr().err
    assert main(["train", "--resume", "--out", str(tmp_path / "x")]) == 2
    assert "--resume needs --checkpoint" in capsys.readouterr().err


def test_train_watch_records_every_epoch_and_the_watch_command_writes_its_page(tmp_path, capsys):
    """--watch DIR records the histograms before training and after every epoch (and every --watch-every steps)
    without changing the run; `watch DIR` writes the page; --resume keeps the records of the epochs done."""
    base = ["train", "--dataset", "digits", "--hidden", "16,16", "--activation", "sigmoid", "--epochs", "2",
            "--no-progress", "--dropout", "0.1"]
    assert main([*base, "--out", str(tmp_path / "plain")]) == 0
    watch = tmp_path / "watch"
    assert main([*base, "--out", str(tmp_path / "watched"), "--watch", str(watch), "--watch-every", "10"]) == 0
    out = capsys.readouterr().out
    assert f"watching: {(watch / 'watch.json').resolve()}" in out
    plain = json.loads((tmp_path / "plain" / "history.json").read_text())["history"]
    watched = json.loads((tmp_path / "watched" / "history.json").read_text())["history"]
    assert plain["train_loss"] == watched["train_loss"] and plain["dev_acc"] == watched["dev_acc"]
    records = json.loads((watch / "watch.json").read_text())["records"]
    steps = -(-1438 // 100)  # digits' training split, batches of 100
    assert [(r["epoch"], r["step"]) for r in records] == [(0, None)] + [
        (e, s) for e in (1, 2) for s in [*range(10, steps + 1, 10), None]]
    assert main(["watch", str(watch), "-o", str(tmp_path / "page" / "w.html")]) == 0
    assert capsys.readouterr().out == f"wrote {(tmp_path / 'page' / 'w.html').resolve()}\n"
    page = (tmp_path / "page" / "w.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and '"format":"tinygrad_bn.watch"' in page
    # a resumed run keeps the records of the epochs it does not redo
    ckpt = tmp_path / "run.npz"
    resumed = [*base[:8], "1", *base[9:], "--out", str(tmp_path / "r"), "--checkpoint", str(ckpt), "--watch",
               str(tmp_path / "rw")]
    assert main(resumed) == 0
    assert main([*resumed[:8], "2", *resumed[9:], "--resume"]) == 0
    records = json.loads((tmp_path / "rw" / "watch.json").read_text())["records"]
    assert [r["epoch"] for r in records] == [0, 1, 2]


def test_train_compiled_eager_and_fused_runs_agree(tmp_path, capsys):
    """`train` compiles its steps by default: `--no-compile` gives the same history bit for bit (eager), and
    `--fuse` (numba kernels) the same to rounding."""
    histories = {}
    runs = [("compiled", []), ("eager", ["--no-compile"])]
    try:
        import numba  # noqa: F401

        runs.append(("fused", ["--fuse"]))
    except ImportError:
        pass
    weights = {}
    for name, extra in runs:
        out = tmp_path / name
        code = main(["train", "--dataset", "digits", "--batchnorm", "--hidden", "32,32", "--epochs", "2",
                     "--no-progress", "--out", str(out), "--checkpoint", str(out / "state.npz"), *extra])
        assert code == 0, capsys.readouterr().err
        histories[name] = json.loads((out / "history.json").read_text())["history"]
        with np.load(out / "state.npz", allow_pickle=False) as saved:
            weights[name] = {k: saved[k] for k in saved.files if k.startswith("model/")}
    for key in ("train_loss", "train_acc", "dev_loss", "dev_acc"):
        assert histories["eager"][key] == histories["compiled"][key], key
        if "fused" in histories:
            assert histories["fused"][key] == pytest.approx(histories["compiled"][key], rel=1e-4, abs=2e-3), key
    assert weights["compiled"].keys() == weights["eager"].keys() and weights["compiled"]
    for key, value in weights["compiled"].items():
        np.testing.assert_array_equal(weights["eager"][key], value, err_msg=key)
        if "fused" in weights:
            np.testing.assert_allclose(weights["fused"][key], value, rtol=1e-3, atol=1e-4, err_msg=key)
    if "fused" in weights:  # the kernels ran: they sum in another order (float64), so the last bits of the
        # trained weights differ (a loss averaged over an epoch may round to the same value)
        assert any(not np.array_equal(weights["fused"][k], v) for k, v in weights["compiled"].items())
