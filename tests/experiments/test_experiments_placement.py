"""Experiment 4 (normalization placement): a quick run over two seeds writes its files, with curves of the right
shape and paired comparisons that agree with the per-seed runs."""
import json

import numpy as np
import pytest

from tinygrad_bn.experiments import placement


def test_quick_run_writes_results(tmp_path, capsys):
    argv = ["--quick", "--dataset", "digits", "--out", str(tmp_path), "--jobs", "1", "--seeds", "2", "--seed", "3"]
    assert placement.main(argv) == 0
    results = json.loads((tmp_path / "placement.json").read_text())
    assert results["command"] == "python -m tinygrad_bn experiment placement " + " ".join(argv)
    assert results["seeds"] == [3, 4]
    assert [(r["seed"], r["variant"]) for r in results["runs"]] == [
        (s, v) for s in (3, 4) for v in ("none", "bn_before", "bn_after", "ln_before")]
    assert results["sizes"] == [64, 32, 32, 10] and results["epochs"] == 2 and results["seconds"] > 0
    layers = {v: r["layers"] for v, r in results["summary"].items()}
    assert layers["bn_after"] == "(Linear, ReLU, BatchNorm1d) x 2, Linear"
    assert layers["ln_before"] == "(Linear, LayerNorm, ReLU) x 2, Linear"
    for run in results["runs"]:
        for name in ("train_loss", "val_loss", "train_acc", "val_acc"):
            values = np.asarray(run[name])
            assert values.shape == (results["epochs"],) and np.all(np.isfinite(values))
        assert all(0.0 <= a <= 1.0 for a in run["train_acc"] + run["val_acc"])
        assert 0.0 <= run["test_accuracy"] <= 1.0
        assert "torch" not in run
    accuracy = {(r["seed"], r["variant"]): r["test_accuracy"] for r in results["runs"]}
    for c in results["comparisons"]:
        diffs = [accuracy[s, c["better"]] - accuracy[s, c["worse"]] for s in (3, 4)]
        assert c["values"] == pytest.approx(diffs) and c["mean"] == pytest.approx(np.mean(diffs))
        assert c["ci95"][0] < c["mean"] < c["ci95"][1] or c["std"] == 0
    assert (tmp_path / "placement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "placement.md").read_text()
    assert md.count("\n| ") == 5 + 7  # separator and four variants; header, separator and five comparisons
    assert "2 seeds (3-4)" in md
    printed = capsys.readouterr().out
    assert "LayerNorm before ReLU" in printed and str(tmp_path) in printed
