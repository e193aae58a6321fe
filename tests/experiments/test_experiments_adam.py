"""Experiment 3 (small network with Adam): a quick run over two seeds writes its files, with curves of the right
shape and summaries that agree with the per-seed runs; where torch is installed the PyTorch twin trained from the
same weights on the same batches agrees (in float64 to rounding error), and rerunning the documented command
gives the committed numbers."""
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bn import nn
from tinygrad_bn.experiments import adam

HAVE_TORCH = importlib.util.find_spec("torch") is not None
ROOT = Path(__file__).resolve().parents[2]
CURVES = ("train_loss", "val_loss", "train_acc", "val_acc", "running_train_loss")


def _check_curves(run, epochs):
    for name in CURVES:
        values = np.asarray(run[name])
        assert values.shape == (epochs,), name
        assert np.all(np.isfinite(values)), name
    for name in ("train_acc", "val_acc"):
        assert all(0.0 <= a <= 1.0 for a in run[name])
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert run["test_accuracy"] == run["val_acc"][-1]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("adam")
    assert adam.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--seeds", "2"]) == 0
    return out, json.loads((out / "adam.json").read_text())


def by_variant(results):
    return {v: [r for r in results["runs"] if r["variant"] == v] for v in ("bn_before", "none")}


def test_quick_run_writes_results(quick, capsys):
    out, results = quick
    assert (out / "adam.png").stat().st_size > 10_000
    assert (out / "adam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "adam.md").read_text()
    assert "| with BN" in md and "| without BN" in md and "97.80%" in md and "95.55%" in md
    assert results["sizes"] == [64, 32, 32, 10]  # the input size comes from the data
    assert results["epochs"] == 2 and results["n_train"] == 1000 and results["n_val"] <= 500
    assert results["dtype"] == "float32" and all(run["dtype"] == "float32" for run in results["runs"])
    assert "batch 32, float32)" in md
    assert results["seconds"] > 0 and results["machine"]
    assert results["seeds"] == [0, 1] and [(r["seed"], r["variant"]) for r in results["runs"]] == [
        (0, "bn_before"), (0, "none"), (1, "bn_before"), (1, "none")]
    assert results["published"]["test_accuracy"] == {"with BN": 0.978, "without BN": 0.9555}
    # the published example does call eval(): the notes say so, and nothing says it never did
    assert any("bn_model.eval()" in note for note in results["notes"])
    assert not any("never" in note and "eval" in note for note in results["notes"]) and "never call" not in md
    for run in results["runs"]:
        _check_curves(run, results["epochs"])
    runs = by_variant(results)
    # the two variants of a seed start from the same Linear weights, so the gain is a per-seed difference
    gains = [a["test_accuracy"] - b["test_accuracy"] for a, b in zip(runs["bn_before"], runs["none"])]
    gain = results["headline"]["bn_gain"]
    assert gain["values"] == pytest.approx(gains) and gain["mean"] == pytest.approx(np.mean(gains))
    assert gain["std"] == pytest.approx(np.std(gains, ddof=1))
    half = 12.706205 * gain["std"] / np.sqrt(2)  # t quantile for 1 degree of freedom
    assert gain["ci95"] == pytest.approx([gain["mean"] - half, gain["mean"] + half])
    assert gain["positive_for"] == sum(g > 0 for g in gains)
    for v, entry in results["summary"].items():
        assert entry["test_accuracy"]["values"] == [r["test_accuracy"] for r in runs[v]]
    assert "2 seeds (0-1)" in md and "BN gain" in md and "±" in md
    # BN helps this small net a lot after two epochs on the digits, for every seed
    assert gain["positive_for"] == 2


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_twin_matches(quick):
    _, results = quick
    assert results["torch"]
    for run in results["runs"]:
        variant, twin, c = run["variant"], run["torch"], run["comparison"]
        _check_curves(twin, results["epochs"])
        assert twin["settings"]["threads"] == 1 and twin["settings"]["deterministic_algorithms"]
        # training-mode losses of the same batches agree to float32 precision
        np.testing.assert_allclose(run["running_train_loss"], twin["running_train_loss"], rtol=1e-4)
        assert c["max_abs_param_diff_without_bn_invariant_biases"] < 1e-4
        assert len(c["param_diff_by_epoch"]) == results["epochs"] and max(c["param_diff_by_epoch"]) < 1e-4
        if variant == "none":
            assert c["bn_invariant_biases"] == []
            assert c["max_abs_param_diff"] < 1e-4
            for name in ("train_loss", "val_loss"):
                np.testing.assert_allclose(run[name], twin[name], rtol=1e-3)
            assert c["max_abs_acc_diff"] <= 0.005
        else:
            # the biases before BN get no true gradient: Adam walks them on rounding noise, differently in the
            # two frameworks, and evaluation mode sees that through the lagging running means
            assert c["bn_invariant_biases"] == ["0.bias", "3.bias"]
            for name in ("train_loss", "val_loss"):  # up to 4.3% apart for seed 1, 2.2% for seed 0
                np.testing.assert_allclose(run[name], twin[name], rtol=6e-2)
            assert c["max_abs_acc_diff"] <= 0.03


@pytest.fixture(scope="module")
def quick_float64(tmp_path_factory):
    out = tmp_path_factory.mktemp("adam64")
    assert adam.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--dtype", "float64"]) == 0
    assert json.loads((out / "adam.json").read_text())["seeds"] == [0]  # a quick run: one seed unless told
    return out, json.loads((out / "adam.json").read_text())


def test_float64_run(quick_float64):
    out, results = quick_float64
    assert results["dtype"] == "float64"
    assert all(run["dtype"] == "float64" for run in results["runs"])  # the parameters the model trained
    for run in results["runs"]:
        _check_curves(run, results["epochs"])
    assert "batch 32, float64)" in (out / "adam.md").read_text()
    assert (out / "adam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_twin_coincides_in_float64(quick_float64):
    _, results = quick_float64
    assert results["torch"] and any("float64" in note for note in results["notes"])
    for run in results["runs"]:
        twin, c = run["torch"], run["comparison"]
        # in float64 rounding differences (~1e-16) stay far below Adam's eps: the twins coincide
        for name in ("running_train_loss", "train_loss", "val_loss"):
            np.testing.assert_allclose(run[name], twin[name], rtol=1e-9, err_msg=name)
        assert run["train_acc"] == twin["train_acc"] and run["val_acc"] == twin["val_acc"]
        assert c["max_rel_loss_diff"] < 1e-9 and c["max_abs_acc_diff"] == 0
        assert c["max_abs_param_diff_without_bn_invariant_biases"] < 1e-12
        assert max(c["param_diff_by_epoch"]) < 1e-12
        # even the biases before BN, walked by Adam on rounding noise, stay within ~lr * 1e-9 per step
        assert c["max_abs_param_diff"] < 1e-7


def test_no_torch_flag(tmp_path, capsys):
    assert adam.main(["--quick", "--dataset", "digits", "--out", str(tmp_path), "--jobs", "1", "--no-torch"]) == 0
    results = json.loads((tmp_path / "adam.json").read_text())
    assert results["torch"] is None
    assert all("torch" not in run and "comparison" not in run for run in results["runs"])
    assert "bn_gain_torch" not in results["headline"]
    for run in results["runs"]:
        _check_curves(run, results["epochs"])
    assert (tmp_path / "adam.png").exists() and (tmp_path / "adam.md").exists()
    printed = capsys.readouterr().out
    assert "| with BN" in printed and str(tmp_path) in printed


def test_build_model_layers():
    model = adam.build_model(nn, 20, 3, "bn_before")
    assert [type(m).__name__ for m in model] == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU",
                                                  "Linear"]
    assert [p.shape for p in model.parameters()][::2] == [(32, 20), (32,), (32, 32), (32,), (3, 32)]
    assert adam.bn_invariant_biases(model) == ["0.bias", "3.bias"]
    assert adam.bn_invariant_biases(adam.build_model(nn, 20, 3, "bn_after")) == []
    assert [type(m).__name__ for m in adam.build_model(nn, 20, 3, "none")] == ["Linear", "ReLU"] * 2 + ["Linear"]


def test_the_documented_twin_run_reproduces_the_committed_numbers(tmp_path):
    """docs/experiments.md documents this command and commits its output; a rerun (in a fresh process, so that
    torch is first imported with the reproducibility settings) must give the same numbers, the PyTorch twin's
    included."""
    pytest.importorskip("torch")
    committed_dir = ROOT / "docs" / "results" / "adam-digits-quick"
    committed = json.loads((committed_dir / "adam.json").read_text())
    command = committed["command"].split()
    assert command[:4] == ["python", "-m", "tinygrad_bn", "experiment"]
    out = tmp_path / "rerun"
    arguments = command[1:command.index("--out")] + ["--out", str(out)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    done = subprocess.run([sys.executable, *arguments], cwd=ROOT, capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    rerun = json.loads((out / "adam.json").read_text())
    assert rerun["seeds"] == committed["seeds"] and len(rerun["runs"]) == len(committed["runs"]) == 4
    for new, old in zip(rerun["runs"], committed["runs"]):
        assert (new["seed"], new["variant"]) == (old["seed"], old["variant"])
        for source_new, source_old in ((new, old), (new["torch"], old["torch"])):
            for name in ("train_acc", "val_acc"):
                assert source_new[name] == source_old[name], name
            assert source_new["test_accuracy"] == source_old["test_accuracy"]
            for name in ("train_loss", "val_loss", "running_train_loss"):
                np.testing.assert_allclose(source_new[name], source_old[name], rtol=1e-5, err_msg=name)
    for key in ("bn_gain", "bn_gain_torch"):
        assert rerun["headline"][key]["values"] == committed["headline"][key]["values"]
