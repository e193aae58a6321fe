"""Experiment 1 (weight scale): a quick run over two seeds trains through fit, reports divergence per seed, and
its summaries, headline and labels say what ran."""
import json

import numpy as np
import pytest

from tinygrad_bn.experiments import weight_scale


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("weight_scale")
    assert weight_scale.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--seeds", "2"]) == 0
    return out, json.loads((out / "weight_scale.json").read_text())


def test_runs_per_seed_and_scale(quick):
    _, results = quick
    assert results["seeds"] == [0, 1] and results["epochs"] == 2 and results["n_train"] == 200
    assert [(r["seed"], r["scale"]) for r in results["runs"]] == [
        (s, float(w)) for s in (0, 1) for w in weight_scale.SCALES[::5]]
    for row in results["runs"]:
        for key in ("bn", "no_bn"):
            diverged = row[f"diverged_{key}"]
            assert len(row[key]) == (diverged - 1 if diverged else 2)
            assert (row[f"test_{key}"] is None) == bool(diverged)
    # at std 1.0 without BN the loss overflows: stopped by fit's divergence check, for every seed
    first = [r for r in results["runs"] if r["scale"] == 1.0]
    assert all(r["diverged_no_bn"] in (1, 2) and r["test_no_bn"] is None for r in first)
    assert all(r["diverged_bn"] is None for r in results["runs"])


def test_summary_and_headline_agree_with_the_runs(quick):
    _, results = quick
    for row in results["summary"]:
        mine = [r for r in results["runs"] if r["scale"] == row["scale"]]
        for key in ("bn", "no_bn"):
            finals = [r[key][-1] for r in mine if not r[f"diverged_{key}"]]
            s = row[key]
            assert s["diverged"] == sum(1 for r in mine if r[f"diverged_{key}"]) and s["seeds"] == 2
            if finals:
                assert s["train_acc"]["values"] == finals
                assert s["train_acc"]["mean"] == pytest.approx(np.mean(finals))
            else:
                assert s["train_acc"] is None and s["test_acc"] is None
    h = results["headline"]
    for key in ("bn", "no_bn"):
        counts = [sum(1 for r in results["runs"] if r["seed"] == seed and not r[f"diverged_{key}"]
                      and r[key][-1] >= weight_scale.LEARNS) for seed in (0, 1)]
        assert h[f"scales_learning_{key}"]["values"] == counts
    assert h["scales"] == 4


def test_labels_say_what_ran(quick):
    out, results = quick
    md = (out / "weight_scale.md").read_text()
    assert "the first 200 training images of digits" in md and "tested on 359 of its test images" in md
    assert "2 seeds (0-1)" in md and "| diverged in 2/2 (epoch " in md
    title = weight_scale.figure_title(results)
    assert "trained on 200 images, tested on 359" in title and "2 epochs" in title
    assert "8000" not in title and "full training" not in title
    assert (out / "weight_scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
