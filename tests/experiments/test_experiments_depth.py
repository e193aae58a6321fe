"""Experiment 2 (depth): the models follow the source's diagrams (S3 = two weight layers), a quick run over two
seeds trains through fit with a per-step callback, and its summaries and contrasts agree with the runs."""
import json

import numpy as np
import pytest

from tinygrad_bn.experiments import depth


def test_models_follow_the_source_diagrams():
    """S3: Input -> Dense -> Dense -> Softmax; S4: three Dense; the six-layer models: five Dense."""
    dense = {name: sum(type(m).__name__ == "Linear" for m in depth.build(name, 784, 10, 300))
             for name in depth.MODELS}
    assert dense == {"S3": 2, "S4": 3, "R6": 5, "R6_lr": 5, "S6_BN_lr": 5, "S6_BN": 5, "R6_BN": 5}
    s6 = depth.build("S6_BN_lr", 784, 10, 300)
    bns = [m for m in s6 if type(m).__name__ == "BatchNorm1d"]
    assert len(bns) == 4 and all(m.eps == depth.BN_EPS == 1e-6 for m in bns)  # the source's BatchNorm eps
    first = s6[0].weight.numpy()
    assert first.std() == pytest.approx(np.sqrt(1 / 784), rel=0.05)  # Xavier for sigmoid
    assert depth.build("R6", 784, 10, 300)[0].weight.numpy().std() == pytest.approx(np.sqrt(2 / 784), rel=0.05)


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("depth")
    assert depth.main(["--quick", "--dataset", "digits", "--out", str(out), "--jobs", "1", "--seeds", "2"]) == 0
    return out, json.loads((out / "depth.json").read_text())


def test_quick_run(quick):
    out, results = quick
    assert results["seeds"] == [0, 1] and results["bn_eps"] == 1e-6
    assert [(r["seed"], r["name"]) for r in results["runs"]] == [(s, n) for s in (0, 1) for n in depth.MODELS]
    steps = -(-results["n_train"] // results["batch_size"])
    for r in results["runs"]:
        assert r["diverged_at_epoch"] is None
        assert len(r["iteration_loss"]) == steps * results["epochs"] and len(r["epoch_loss"]) == results["epochs"]
        # the epoch loss is fit's example-weighted mean of the step losses the callback saw (rounded to 4 digits)
        last = np.asarray(r["iteration_loss"][-steps:])
        assert r["epoch_loss"][-1] == pytest.approx(last.mean(), rel=2e-3)
    for name, s in results["summary"].items():
        finals = [r["epoch_loss"][-1] for r in results["runs"] if r["name"] == name]
        assert s["final_train_loss"]["values"] == finals and s["seeds"] == 2
    final = {(r["name"], r["seed"]): r["epoch_loss"][-1] for r in results["runs"]}
    for c in results["contrasts"]:
        diffs = [final[c["worse"], s] - final[c["better"], s] for s in (0, 1)]
        assert c["loss_difference"]["values"] == pytest.approx(diffs)
        assert c["holds_for_seeds"] == sum(d > 0 for d in diffs)
    stats = results["layer_stats"]
    assert set(stats) == {"S4", "S6_BN_lr"}
    assert [s["kind"] for s in stats["S4"]] == ["Affine", "Activation"] * 2
    assert all(s["grad_std"]["n"] == 2 for s in stats["S6_BN_lr"])
    for name in ("loss", "forward_S4", "backward_S4", "forward_S6_BN_lr", "backward_S6_BN_lr"):
        assert (out / f"depth_{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "depth.md").read_text()
    assert "| S3 | 1 | sigmoid |" in md and "2 seeds (0-1)" in md and "holds for" in md
