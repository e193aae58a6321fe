"""The command line as a user meets it: every mistake is one line (argparse's usage error, exit status 2)
before any work starts, never a traceback or a numpy warning; help works for every command and says
`python -m tinygrad_bn ...`.

The table's cases run in this process with RuntimeWarning turned into an error (as `python -W
error::RuntimeWarning` does), so a numpy warning that would reach the user fails the case; two of them run
through the real entry point as well.
"""
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bn.cli import build_parser
from tinygrad_bn.data import write_idx
from tinygrad_bn.data.datasets import FILES
from tinygrad_bn.train.cli import run_options

ROOT = Path(__file__).resolve().parents[1]
PROG = "python -m tinygrad_bn"
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

train = ["train", "--dataset", "digits", "--epochs", "1", "--no-progress"]
search = ["search", "--dataset", "digits", "--trials", "1", "--epochs", "1", "--no-progress"]
experiment = ["--quick", "--dataset", "digits", "--jobs", "1"]

# (arguments, exit status, what the one message line says); {tmp}: a fresh folder, {file}: a regular file,
# {readonly}: a folder without write permission, {empty}: a folder without data, {corrupt}: MNIST's four
# files with a label byte of 200
CASES = [
    (["train", "--hidden", "abc"], 2, "argument --hidden: expected a positive integer, got 'abc'"),
    (["train", "--hidden", "0"], 2, "argument --hidden: must be a positive integer, got 0"),
    (["train", "--hidden", "-5"], 2, "argument --hidden: must be a positive integer, got -5"),
    (["train", "--hidden", "32,-5"], 2, "argument --hidden: must be a positive integer, got -5"),
    (["train", "--lr", "-1"], 2, "argument --lr: must be a positive number, got -1"),
    (["train", "--lr", "nan"], 2, "argument --lr: expected a positive number, got 'nan'"),
    (["train", "--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
    (["train", "--batch-size", "0"], 2, "argument --batch-size: must be a positive integer"),
    (["train", "--dropout", "1"], 2, "argument --dropout: must be in [0, 1), got 1"),
    (["train", "--init", "bogus"], 2, "argument --init: expected one of he, relu, xavier"),
    (["train", "--init", "1e300"], 2, "argument --init: a standard deviation must be a finite number >= 0"),
    (["train", "--dataset", "cifar10"], 2, "argument --dataset: invalid choice: 'cifar10'"),
    (["train", "--optimizer", "lbfgs"], 2, "argument --optimizer: invalid choice: 'lbfgs'"),
    ([*train, "--dataset", "mnist", "--data-dir", "{empty}"], 2,
     "mnist: missing train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz, "
     "t10k-labels-idx1-ubyte.gz (looked in 4 folders: {empty}, {empty}/mnist, "),
    ([*train, "--dataset", "mnist", "--data-dir", "{empty}"], 2,
     "; pass --download to fetch them (needs pooch and internet), or --data-dir DIR for a folder"),
    ([*train, "--dataset", "mnist", "--data-dir", "{corrupt}"], 2,
     "{corrupt}/train-labels-idx1-ubyte.gz: 1 labels outside the 10 classes 0..9 (values 200; first at index 3)"),
    ([*train, "--out", "{file}"], 2, "cannot write to the --out folder '{file}'"),
    ([*train, "--out", "{file}/run"], 2, "cannot write to the --out folder '{file}/run'"),
    pytest.param([*train, "--out", "{readonly}/run"], 2, "cannot write to the --out folder '{readonly}/run'",
                 marks=pytest.mark.skipif(IS_ROOT, reason="root may write into any folder")),
    pytest.param([*train, "--out", "/proc/tinygrad_bn-run"], 2, "cannot write to the --out folder",
                 marks=pytest.mark.skipif(not sys.platform.startswith("linux"), reason="needs Linux's /proc")),
    ([*train, "--out", "{tmp}/run", "--checkpoint", "{file}/ckpt.npz"], 2, "cannot write to the --checkpoint folder"),
    ([*train, "--out", "{tmp}/run", "--resume"], 2, "train: --resume needs --checkpoint PATH"),
    ([*train, "--out", "{tmp}/run", "--checkpoint", "{file}", "--resume"], 2,
     "train: {file} has no a-file.options.json beside it"),
    ([*train, "--out", "{tmp}/run", "--checkpoint", "{tmp}/c.npz", "--resume"], 2,
     "train: {tmp}/c.npz is not a checkpoint this command can resume"),
    ([*train, "--out", "{tmp}/run", "--init", "1e30", "--hidden", "8"], 1,
     "train: training diverged at epoch 1, step 1"),
    ([*train, "--out", "{tmp}/run", "--lr", "1e30", "--hidden", "8"], 1, "train: training diverged at epoch 1"),
    (["search", "--jobs", "0"], 2, "argument --jobs: must be a positive integer, got 0"),
    (["search", "--jobs", "-2"], 2, "argument --jobs: must be a positive integer, got -2"),
    (["search", "--trials", "0"], 2, "argument --trials: must be a positive integer, got 0"),
    (["search", "--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
    (["search", "--max-train", "abc"], 2, "argument --max-train: expected a positive integer, got 'abc'"),
    (["search", "--dataset", "cifar10"], 2, "argument --dataset: invalid choice: 'cifar10'"),
    ([*search, "--dataset", "mnist", "--data-dir", "{empty}", "--log", "{tmp}/s.jsonl"], 2,
     "; pass --data-dir DIR for a folder that holds the four IDX files, or fetch them into the cache once with "
     "`python -m tinygrad_bn train --dataset mnist --download --epochs 1`"),
    ([*search, "--log", "{file}/s.jsonl"], 2, "cannot write to the --log folder '{file}'"),
    (["search-report", "{tmp}/none.jsonl"], 2, "search-report: {tmp}/none.jsonl is not a search log"),
    (["search-report", "{tmp}/none.jsonl", "--plot", "{file}/p.png"], 2, "cannot write to the --plot folder"),
    (["search-report", "{file}", "--top", "0"], 2, "argument --top: must be a positive integer, got 0"),
    (["demo", "--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
    (["demo", "--seed", "-1"], 2, "argument --seed: must be a non-negative integer, got -1"),
    (["demo", "--out", "{file}/demo"], 2, "cannot write to the --out folder '{file}/demo'"),
    (["graph", "--model", "resnet"], 2, "argument --model: invalid choice: 'resnet'"),
    (["graph", "--model", "bn1d"], 2, "the following arguments are required: -o/--output"),
    (["graph", "-o", "{tmp}/g.txt"], 2, "graph: cannot tell the format of '{tmp}/g.txt' from its suffix"),
    (["graph", "-o", "{file}/g.dot"], 2, "cannot write to the -o folder '{file}'"),
    (["graph", "--html", "{file}/g.html"], 2, "cannot write to the --html folder '{file}'"),
    (["graph", "--depth", "1", "-o", "{tmp}/g.dot"], 2, "--view and --depth set up the explorer: give --html FILE"),
    (["graph", "--view", "both", "-o", "{tmp}/g.dot"], 2, "--view and --depth set up the explorer: give --html"),
    (["graph", "--depth", "-1", "--html", "{tmp}/g.html"], 2, "argument --depth: must be a non-negative integer"),
    (["graph", "--view", "sideways", "--html", "{tmp}/g.html"], 2, "argument --view: invalid choice: 'sideways'"),
    (["watch"], 2, "the following arguments are required: DIR"),
    (["watch", "{empty}"], 2, "{empty} has no watch.json; record one with `python -m tinygrad_bn train --watch"),
    (["watch", "{corrupt}"], 2, "{corrupt} has no watch.json"),
    (["watch", "{empty}", "-o", "{file}/w.html"], 2, "cannot write to the -o folder '{file}'"),
    ([*train, "--watch", "{file}"], 2, "cannot write to the --watch folder '{file}'"),
    ([*train, "--watch", "{file}/w"], 2, "cannot write to the --watch folder '{file}/w'"),
    ([*train, "--watch-every", "0"], 2, "argument --watch-every: must be a positive integer, got 0"),
    ([*train, "--out", "{tmp}/run", "--watch-every", "5"], 2, "--watch-every needs --watch DIR"),
    (["experiment"], 2, "name an experiment: weight-scale, depth, adam, placement"),
    (["experiment", "resnet"], 2, "argument NAME: invalid choice: 'resnet'"),
    (["experiment", "depth", "--jobs", "0"], 2, f"{PROG} experiment depth: error: argument --jobs: must be"),
    (["experiment", "adam", "--jobs", "-1"], 2, f"{PROG} experiment adam: error: argument --jobs: must be"),
    (["experiment", "weight-scale", "--seed", "x"], 2, "argument --seed: expected a non-negative integer"),
    (["experiment", "placement", "--dataset", "cifar10"], 2, "argument --dataset: invalid choice: 'cifar10'"),
    (["experiment", "depth", "--epochs", "0"], 2, "argument --epochs: must be a positive integer, got 0"),
    (["experiment", "depth", *experiment, "--out", "{file}/depth"], 2, "cannot write to the --out folder '{file}"),
    (["experiment", "adam", *experiment, "--out", "{file}"], 2, "cannot write to the --out folder '{file}'"),
    (["experiment", "depth", "--quick", "--dataset", "mnist", "--data-dir", "{empty}", "--out", "{tmp}/e"], 2,
     "mnist: missing train-images-idx3-ubyte.gz"),
    (["experiment", "weight-scale", "--quick", "--dataset", "mnist", "--data-dir", "{corrupt}", "--out", "{tmp}/e"],
     2, "labels outside the 10 classes"),
    (["no-such-command"], 2, "argument command: invalid choice: 'no-such-command'"),
]


@pytest.fixture(scope="module")
def places(tmp_path_factory):
    """The paths the table's placeholders stand for."""
    base = tmp_path_factory.mktemp("cli")
    paths = {name: base / name for name in ("empty", "corrupt", "readonly", "xdg")}
    for path in paths.values():
        path.mkdir()
    paths["file"] = base / "a-file"
    paths["file"].write_text("in the way\n")
    paths["readonly"].chmod(0o555)
    for split, n in (("train", 12), ("test", 5)):
        labels = (np.arange(n) % 10).astype(np.uint8)
        labels[3] = 200 if split == "train" else labels[3]
        write_idx(np.zeros((n, 4, 3), dtype=np.uint8), paths["corrupt"] / FILES[f"{split}_images"])
        write_idx(labels, paths["corrupt"] / FILES[f"{split}_labels"])
    yield paths
    paths["readonly"].chmod(0o755)


def run_main(args: list[str], capsys) -> tuple[int, str, str]:
    """Run the command line in this process, as `python -W error::RuntimeWarning -m tinygrad_bn` would."""
    from tinygrad_bn.cli import main

    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # a numpy warning reaching the user fails the case
        try:
            code = main(args)
        except SystemExit as exit_:
            code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("args, status, message", CASES, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_every_mistake_is_one_line_before_any_work(places, tmp_path, monkeypatch, capsys, args, status, message):
    fill = {name: str(path) for name, path in places.items()} | {"tmp": str(tmp_path)}
    args = [a.format(**fill) for a in args]
    monkeypatch.setenv("XDG_CACHE_HOME", fill["xdg"])  # no dataset of this machine's cache is found
    monkeypatch.delenv("TINYGRAD_BN_DATA", raising=False)
    if str(tmp_path / "c.npz") in args:  # a file that is not a checkpoint, with the options record beside it
        (tmp_path / "c.npz").write_text("not a checkpoint")
        (tmp_path / "c.npz.options.json").write_text(json.dumps(run_options(build_parser().parse_args(args))))
    code, out, err = run_main(args, capsys)  # an exception (a traceback for the user) fails the test here
    lines = err.splitlines()
    if lines and lines[0].startswith("usage: "):  # argparse's usage block: its first line and the indented rest
        lines = lines[1:]
        while lines and lines[0].startswith(" "):
            lines = lines[1:]
        assert len(lines) == 1 and lines[0].startswith(PROG) and ": error: " in lines[0], err
    assert len(lines) == 1, err
    assert message.format(**fill) in lines[0]
    assert "download=True" not in err  # an option of the Python function, not of the command line
    assert code == status, err
    if status == 2:  # a mistake is found before any work: nothing trained, nothing written
        assert out == ""
        assert not (tmp_path / "run" / "history.json").exists()


@pytest.mark.parametrize("args, message", [
    (["train", "--hidden", "-5"], "argument --hidden: must be a positive integer, got -5"),
    (["train", "--dataset", "digits", "--epochs", "1", "--no-progress", "--hidden", "8", "--init", "1e30", "--out",
      "{tmp}"], "train: training diverged at epoch 1, step 1"),
])
def test_the_real_entry_point_shows_no_warning_or_traceback(tmp_path, args, message):
    """The same through `python -W error::RuntimeWarning -m tinygrad_bn` (a usage error, and numpy overflowing)."""
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-m", "tinygrad_bn",
                             *(a.format(tmp=tmp_path) for a in args)], cwd=ROOT, capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode in (1, 2) and "Traceback" not in result.stderr and "Warning" not in result.stderr
    assert message in result.stderr.splitlines()[-1]


@pytest.mark.parametrize("command", ["train", "search", "search-report", "demo", "graph", "watch", "experiment",
                                     "experiment weight-scale", "experiment depth", "experiment adam",
                                     "experiment placement"])
def test_help_of_every_command_says_how_it_is_run(command, capsys):
    code, out, err = run_main([*command.split(), "--help"], capsys)
    assert code == 0 and err == ""
    assert out.startswith(f"usage: {PROG} {command} ")
    assert "__main__" not in out


def test_experiment_help_lists_the_experiments(capsys):
    code, out, _ = run_main(["experiment", "--help"], capsys)
    assert code == 0
    listing = out.split("experiments:\n")[1].splitlines()
    assert [line.split()[0] for line in listing[:4]] == ["weight-scale", "depth", "adam", "placement"]
    _, own, _ = run_main(["experiment", "depth", "--help"], capsys)
    assert "--quick" in own and "--jobs JOBS" in own and "--out OUT" in own
