"""`python -m tinygrad_bn graph --model ... -o FILE`: each example model, the flags, and the errors."""
from __future__ import annotations

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

graphviz = pytest.importorskip("graphviz")

from tinygrad_bn.cli import main  # noqa: E402
from tinygrad_bn.experiments.graph_models import MODELS  # noqa: E402
from tinygrad_bn.viz import STYLES  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
ROOT = Path(__file__).resolve().parents[2]
FILL = {kind: style["fillcolor"] for kind, style in STYLES.items()}


def run_graph(capsys, *args):
    """Run the command in this process; returns (exit code, stdout, stderr)."""
    code = main(["graph", *args])
    out, err = capsys.readouterr()
    return code, out, err


# which ops and names each example's graph must hold, in training and in evaluation mode
EXPECTED = {
    "bn1d": ({"Mean", "Sub", "Sqrt", "Div", "weight"}, {"running_mean", "running_var", "Sqrt", "Div"}),
    "bn2d": ({"Mean", "Sub", "Sqrt", "Div", "weight"}, {"running_mean", "running_var", "Sqrt", "Div"}),
    "layernorm": ({"Mean", "Sub", "Sqrt", "Div", "weight"}, {"Mean", "Sub", "Sqrt", "Div", "weight"}),
    "mlp": ({"0.weight", "Linear", "1.weight", "Mean", "Relu"}, {"1.running_mean", "7.running_var", "Linear"}),
    # the convolution is one op node, batch norm its composed ops
    "cnn": ({"0.weight", "Conv", "Mean", "Sqrt", "Div", "Relu"}, {"Conv", "1.running_mean", "1.running_var", "Div"}),
}


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("mode", ["--train", "--eval"])
def test_each_model_writes_its_dot_source(tmp_path, capsys, parse_dot, model, mode):
    target = tmp_path / f"{model}.dot"
    code, out, err = run_graph(capsys, "--model", model, mode, "-o", str(target))
    assert code == 0 and err == ""
    assert out == f"wrote {target.resolve()}\n"
    dot = parse_dot(target.read_text())
    first_lines = {n.lines[0] for n in dot.graph_nodes()} | {n.lines[1] for n in dot.graph_nodes() if len(n.lines) > 1}
    assert EXPECTED[model][mode == "--eval"] <= first_lines
    if model.startswith("bn") and mode == "--eval":
        assert "Mean" not in first_lines  # the running statistics replace the batch statistics
    assert len(dot.with_fill(FILL["output"])) == 1


def test_flags_change_the_drawing(tmp_path, capsys, parse_dot):
    def draw(*flags):
        target = tmp_path / "g.gv"
        code, out, _ = run_graph(capsys, "--model", "bn1d", *flags, "-o", str(target))
        assert code == 0 and out.startswith("wrote ")
        return parse_dot(target.read_text())

    plain = draw()
    assert not plain.with_fill(FILL["backward op"]) and "mean " not in plain.source
    backward = draw("--backward")
    assert backward.with_fill(FILL["backward op"])
    assert {n.lines[0] for n in backward.with_fill(FILL["output"])} == {"grad of x", "grad of weight", "grad of bias"}
    values = draw("--values")
    assert all("mean " in n.label and "max " in n.label for n in values.graph_nodes() if n.fill == FILL["op"])
    collapsed = draw("--collapse")
    assert [n.lines[:2] for n in collapsed.with_fill(FILL["output"])] == [["output", "BatchNorm1d"]]
    both = draw("--eval", "--backward", "--collapse")
    assert len(both.with_fill(FILL["module"])) == 1 and len(both.with_fill(FILL["backward module"])) == 1


@needs_dot
def test_rendered_formats(tmp_path, capsys):
    for name, magic in [("mlp.svg", b"<?xml"), ("mlp.png", b"\x89PNG"), ("mlp.pdf", b"%PDF")]:
        code, out, _ = run_graph(capsys, "--model", "mlp", "--collapse", "-o", str(tmp_path / name))
        assert code == 0 and out == f"wrote {(tmp_path / name).resolve()}\n"
        assert (tmp_path / name).read_bytes().startswith(magic)


@needs_dot
def test_python_dash_m_in_a_subprocess(tmp_path):
    target = tmp_path / "out" / "bn2d.svg"
    result = subprocess.run(
        [sys.executable, "-m", "tinygrad_bn", "graph", "--model", "bn2d", "--eval", "-o", str(target)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"wrote {target.resolve()}"
    texts = {t.text for t in ET.parse(target).getroot().iter("{http://www.w3.org/2000/svg}text")}
    assert {"running_mean", "running_var", "BatchNorm2d"} <= texts


def test_unknown_suffix_fails_before_drawing(tmp_path, capsys):
    code, out, err = run_graph(capsys, "--model", "mlp", "-o", str(tmp_path / "g.jpg"))
    assert code == 2 and out == ""
    assert "cannot tell the format" in err and ".svg, .png, .pdf, .dot, .gv" in err
    assert list(tmp_path.iterdir()) == []


def test_missing_dot_program_is_reported(tmp_path, capsys, no_dot_on_path):
    code, out, err = run_graph(capsys, "--model", "bn1d", "-o", str(tmp_path / "g.svg"))
    assert code == 1 and out == ""
    assert "apt-get install graphviz" in err and ".dot or .gv output works without it" in err
    assert not (tmp_path / "g.svg").exists()
    code, out, _ = run_graph(capsys, "--model", "bn1d", "-o", str(tmp_path / "g.dot"))
    assert code == 0 and (tmp_path / "g.dot").read_text().startswith("digraph")


def test_argument_errors(capsys):
    for args in (["--model", "bn1d"], ["--model", "resnet", "-o", "x.svg"], ["--train", "--eval", "-o", "x.svg"]):
        with pytest.raises(SystemExit) as info:
            main(["graph", *args])
        assert info.value.code == 2
    assert "usage:" in capsys.readouterr().err
