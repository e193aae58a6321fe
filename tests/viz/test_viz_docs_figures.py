"""The graphs committed in docs/figures are what the documented commands draw today (their DOT source is
committed beside each SVG): a change to the engine or to viz that alters a picture must update it."""
from pathlib import Path

import pytest

from tinygrad_bn.cli import main

pytest.importorskip("graphviz")
FIGURES = Path(__file__).resolve().parents[2] / "docs" / "figures"


@pytest.mark.parametrize("name, flags", [
    ("bn1d_train", ["--model", "bn1d", "--train"]),
    ("bn1d_eval", ["--model", "bn1d", "--eval"]),
    ("bn1d_backward", ["--model", "bn1d", "--backward"]),
    ("mlp_collapsed", ["--model", "mlp", "--collapse"]),
    ("cnn_block", ["--model", "cnn"]),
])
def test_committed_figure_matches_its_command(name, flags, tmp_path, capsys):
    out = tmp_path / f"{name}.gv"
    assert main(["graph", *flags, "-o", str(out)]) == 0
    assert out.read_text() == (FIGURES / f"{name}.gv").read_text(), (
        f"docs/figures/{name} is stale: regenerate it with python -m tinygrad_bn graph {' '.join(flags)} "
        f"-o docs/figures/{name}.svg (and .gv)")
    assert (FIGURES / f"{name}.svg").stat().st_size > 0
