"""Experiment 4 (normalization placement): a quick run writes its files with curves of the right shape."""
import json

import numpy as np

from tinygrad_bn.experiments import placement


def test_quick_run_writes_results(tmp_path, capsys):
    assert placement.main(["--quick", "--dataset", "digits", "--out", str(tmp_path), "--jobs", "1"]) == 0
    results = json.loads((tmp_path / "placement.json").read_text())
    assert list(results["runs"]) == ["none", "bn_before", "bn_after", "ln_before"]
    assert results["sizes"] == [64, 32, 32, 10] and results["epochs"] == 2 and results["seconds"] > 0
    layers = {v: r["layers"] for v, r in results["runs"].items()}
    assert layers["bn_after"] == "(Linear, ReLU, BatchNorm1d) x 2, Linear"
    assert layers["ln_before"] == "(Linear, LayerNorm, ReLU) x 2, Linear"
    for run in results["runs"].values():
        for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
            values = np.asarray(run[name])
            assert values.shape == (results["epochs"],) and np.all(np.isfinite(values))
        assert all(0.0 <= a <= 1.0 for a in run["train_acc"] + run["val_acc"])
        assert 0.0 <= run["test_accuracy"] <= 1.0
        assert "torch" not in run
    assert (tmp_path / "placement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "placement.md").read_text()
    assert md.count("\n| ") == 5  # the header's separator and four variants
    printed = capsys.readouterr().out
    assert "LayerNorm before ReLU" in printed and str(tmp_path) in printed
