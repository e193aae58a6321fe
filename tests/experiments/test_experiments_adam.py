"""Experiment 3 (small network with Adam): a quick run writes its files, with curves of the right shape, and
where torch is installed the PyTorch twin trained from the same weights on the same batches agrees (in float64
to rounding error)."""
import importlib.util
import json

import numpy as np
import pytest

from tinygrad_bn import nn
from tinygrad_bn.experiments import adam

HAVE_TORCH = importlib.util.find_spec("torch") is not None
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
    assert adam.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1"]) == 0
    return out, json.loads((out / "adam.json").read_text())


def test_quick_run_writes_results(quick, capsys):
    out, results = quick
    assert (out / "adam.png").stat().st_size > 10_000
    assert (out / "adam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "adam.md").read_text()
    assert "| with BN" in md and "| without BN" in md and "97.80%" in md and "95.55%" in md
    assert results["sizes"] == [64, 32, 32, 10]  # the input size comes from the data
    assert results["epochs"] == 2 and results["n_train"] == 1000 and results["n_val"] <= 500
    assert results["dtype"] == "float32" and all(run["dtype"] == "float32" for run in results["runs"].values())
    assert "batch 32, float32)" in md
    assert results["seconds"] > 0 and results["machine"]
    assert set(results["runs"]) == {"bn_before", "none"}
    assert results["published"]["test_accuracy"] == {"with BN": 0.978, "without BN": 0.9555}
    assert any("model.eval()" in note for note in results["notes"])
    for run in results["runs"].values():
        _check_curves(run, results["epochs"])
    # BN helps this small net a lot after two epochs on the digits
    assert results["runs"]["bn_before"]["test_accuracy"] > results["runs"]["none"]["test_accuracy"]


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_twin_matches(quick):
    _, results = quick
    assert results["torch"]
    for variant, run in results["runs"].items():
        twin, c = run["torch"], run["comparison"]
        _check_curves(twin, results["epochs"])
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
            for name in ("train_loss", "val_loss"):
                np.testing.assert_allclose(run[name], twin[name], rtol=3e-2)
            assert c["max_abs_acc_diff"] <= 0.03


@pytest.fixture(scope="module")
def quick_float64(tmp_path_factory):
    out = tmp_path_factory.mktemp("adam64")
    assert adam.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--dtype", "float64"]) == 0
    return out, json.loads((out / "adam.json").read_text())


def test_float64_run(quick_float64):
    out, results = quick_float64
    assert results["dtype"] == "float64"
    assert all(run["dtype"] == "float64" for run in results["runs"].values())  # the parameters the model trained
    for run in results["runs"].values():
        _check_curves(run, results["epochs"])
    assert "batch 32, float64)" in (out / "adam.md").read_text()
    assert (out / "adam.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
def test_torch_twin_coincides_in_float64(quick_float64):
    _, results = quick_float64
    assert results["torch"] and any("float64" in note for note in results["notes"])
    for run in results["runs"].values():
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
    assert all("torch" not in run and "comparison" not in run for run in results["runs"].values())
    for run in results["runs"].values():
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
