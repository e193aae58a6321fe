"""Experiment 5 (BN in a CNN): a quick run on the bundled digits writes its files with consistent summaries; the
configurations of a seed share their initial weights; divergence is recorded, not raised; the PyTorch twin
coincides in float64; the committed results and figure are what the code writes."""
from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from tinygrad_bn import nn
from tinygrad_bn.experiments import cnn

HAVE_TORCH = importlib.util.find_spec("torch") is not None
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("cnn")
    assert cnn.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--seeds", "2",
                     "--no-torch", "--target", "0.5"]) == 0
    return out, json.loads((out / "cnn.json").read_text())


def test_quick_run_writes_results(quick):
    out, results = quick
    assert (out / "cnn.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "cnn.md").read_text()
    assert "31.0M" in md and "2.1M" in md and "14.8x" in md and "74.8%" in md  # the paper's numbers
    assert "| with BN, 30x rate (lr 0.3)" in md and "| without BN, base rate (lr 0.01)" in md
    assert results["image_size"] == 8 and results["steps"] == cnn.QUICK["steps"] and results["target"] == 0.5
    assert results["seeds"] == [0, 1] and len(results["runs"]) == 2 * len(cnn.VARIANTS) * len(cnn.MULTIPLIERS)
    assert results["twins"] == [] and results["compiled"] is True
    for run in results["runs"]:
        if run["diverged_at"] is None:
            assert run["replays"] == results["steps"] - 2  # every step but the two captures was replayed
            assert run["steps"] == list(range(25, results["steps"] + 1, 25))
            assert len(run["test_accuracy"]) == len(run["steps"]) == len(run["train_loss"])
            assert 0 <= run["final_accuracy"] <= 1
        crossing = run["steps_to_target"]
        assert crossing is None or run["test_accuracy"][run["steps"].index(crossing)] >= 0.5
        assert crossing is None or all(a < 0.5 for s, a in zip(run["steps"], run["test_accuracy"]) if s < crossing)
    for row in results["summary"]:
        mine = [r for r in results["runs"] if r["variant"] == row["variant"] and r["multiplier"] == row["multiplier"]]
        reached = [r["steps_to_target"] for r in mine if r["steps_to_target"] is not None]
        assert row["reached"] == len(reached) and row["seeds"] == 2
        if reached:
            assert row["steps_to_target"]["values"] == reached
    baseline = next(r for r in results["summary"] if r["variant"] == "none" and r["multiplier"] == 1)
    assert baseline["reached"] == 2 and baseline["speedup"] == pytest.approx(1.0)


def test_both_variants_of_a_seed_start_from_the_same_weights():
    models = cnn.initial_models(3, 28, 10)
    with_bn, without = models["bn"], models["none"]
    convs = [(a, b) for a, b in zip((m for m in with_bn if isinstance(m, nn.Conv2d)),
                                    (m for m in without if isinstance(m, nn.Conv2d)))]
    assert len(convs) == 2
    for a, b in convs:
        np.testing.assert_array_equal(a.weight.numpy(), b.weight.numpy())
        assert a.bias is None and b.bias is not None
    np.testing.assert_array_equal(with_bn[-1].weight.numpy(), without[-1].weight.numpy())
    assert not np.array_equal(cnn.initial_models(4, 28, 10)["bn"][0].weight.numpy(), with_bn[0].weight.numpy())
    # PyTorch's layout: the state_dict keys of the same stack built with torch.nn
    assert list(with_bn.state_dict()) == ["0.weight", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                          "1.num_batches_tracked", "4.weight", "5.weight", "5.bias",
                                          "5.running_mean", "5.running_var", "5.num_batches_tracked", "9.weight",
                                          "9.bias"]


def test_a_diverging_run_is_recorded_with_its_step(monkeypatch):
    rng = np.random.default_rng(0)
    monkeypatch.setattr(cnn, "BASE_LR", 1e30)  # the first update overflows float32
    task = dict(x=rng.standard_normal((256, 1, 8, 8)).astype(np.float32), t=rng.integers(0, 10, 256),
                x_val=rng.standard_normal((64, 1, 8, 8)).astype(np.float32), t_val=rng.integers(0, 10, 64),
                classes=10, steps=30, eval_every=5, target=0.9, curve_test=64, variant="none", multiplier=1, seed=0)
    result = cnn.train_one(task)
    assert result["diverged_at"] is not None and result["diverged_at"] <= 30
    assert result["final_accuracy"] is None and result["steps_to_target"] is None


@pytest.mark.skipif(not HAVE_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("variant", list(cnn.VARIANTS))
def test_pytorch_twin_coincides_in_float64(variant):
    rng = np.random.default_rng(1)
    task = dict(x=rng.standard_normal((320, 1, 8, 8)).astype(np.float32), t=rng.integers(0, 10, 320), classes=10,
                variant=variant, seed=0, twin_steps=5)
    twin = cnn.twin_one(task)
    assert twin["steps"] == 5 and twin["dtype"] == "float64"
    assert twin["max_rel_loss_diff"] < 1e-12 and twin["max_abs_state_diff"] < 1e-12


def test_committed_graph_of_the_cnn_block_is_what_the_code_draws(tmp_path):
    """docs/figures/cnn_block: a conv-BN-ReLU-pool block, the convolution one node, BN its composed ops."""
    pytest.importorskip("graphviz")
    from tinygrad_bn.experiments.graph_models import build
    from tinygrad_bn.viz import draw_graph, render

    output, module = build("cnn")
    drawn = render(draw_graph(output, params=module), tmp_path / "cnn_block.gv")
    assert drawn.read_text() == (ROOT / "docs" / "figures" / "cnn_block.gv").read_text()
    text = drawn.read_text()
    assert text.count('label="Conv\\n') == 1 and "BatchNorm2d" in text and "Sqrt" in text


def test_committed_results_match_the_code():
    """The committed full run: every configuration and seed is there, and its table is what `table` writes."""
    folder = ROOT / "docs" / "results" / "cnn-fashion-mnist"
    results = json.loads((folder / "cnn.json").read_text())
    assert not results["quick"] and results["dataset_name"] == "fashion-mnist" and results["n_train"] == 60000
    assert len(results["runs"]) == len(results["seeds"]) * len(cnn.VARIANTS) * len(cnn.MULTIPLIERS)
    assert (folder / "cnn.md").read_text() == cnn.table(results)
    assert results["summary"] == cnn.summarize_configs(results["runs"])
