"""render: SVG/PNG/PDF through Graphviz's `dot`, DOT source without it, and the error when `dot` is missing."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

graphviz = pytest.importorskip("graphviz")

from tinygrad_bn import Tensor, nn  # noqa: E402
from tinygrad_bn.viz import draw_graph, render, trace  # noqa: E402
from tinygrad_bn.viz.render import GraphvizNotFoundError  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")
SVG = "{http://www.w3.org/2000/svg}"
MAGIC = {"png": b"\x89PNG\r\n\x1a\n", "pdf": b"%PDF-"}


def bn_graph(train=True, **options):
    bn = nn.BatchNorm1d(3)
    x = Tensor(np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32), requires_grad=True, name="x")
    if not train:
        bn(x)
        bn.eval()
    with trace():
        y = bn(x)
    return draw_graph(y, params=bn, **options), y


def svg_groups(path):
    """{class: count} of the SVG's <g> elements (node, edge, cluster)."""
    counts = {}
    for g in ET.parse(path).getroot().iter(f"{SVG}g"):
        counts[g.get("class")] = counts.get(g.get("class"), 0) + 1
    return counts


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


@needs_dot
@pytest.mark.parametrize("options", [{}, {"backward": True}, {"collapse_modules": True}, {"legend": False}])
def test_svg_has_a_node_group_per_dot_node(tmp_path, parse_dot, options):
    graph, _ = bn_graph(**options)
    dot = parse_dot(graph)
    path = render(graph, tmp_path / "bn.svg")
    assert path == tmp_path / "bn.svg"
    groups = svg_groups(path)
    assert groups["node"] == len(dot.nodes)
    assert groups.get("edge", 0) == len(dot.edges)  # invisible legend edges are not drawn
    assert groups.get("cluster", 0) == len(dot.clusters)
    titles = {g.findtext(f"{SVG}title") for g in ET.parse(path).getroot().iter(f"{SVG}g") if g.get("class") == "node"}
    assert titles == set(dot.nodes)
    assert leftovers(tmp_path) == []


@needs_dot
def test_svg_shows_the_labels(tmp_path):
    graph, _ = bn_graph(train=False)
    path = render(graph, tmp_path / "eval.svg")
    texts = [t.text for t in ET.parse(path).getroot().iter(f"{SVG}text")]
    for expected in ("running_mean", "running_var", "weight", "Sqrt", "a / b", "BatchNorm1d", "legend"):
        assert expected in texts
    assert "Mean" not in texts


@needs_dot
@pytest.mark.parametrize("fmt", ["png", "pdf"])
def test_png_and_pdf_are_written(tmp_path, fmt):
    graph, _ = bn_graph()
    path = render(graph, tmp_path / f"bn.{fmt}")
    data = path.read_bytes()
    assert data.startswith(MAGIC[fmt]) and len(data) > 1000
    upper = render(graph, tmp_path / f"upper.{fmt.upper()}")  # the suffix is case-insensitive
    assert upper.read_bytes().startswith(MAGIC[fmt])
    assert leftovers(tmp_path) == []


@needs_dot
def test_format_argument_and_tensor_input(tmp_path, parse_dot):
    graph, y = bn_graph()
    path = render(graph, tmp_path / "picture.out", format="png")
    assert path.read_bytes().startswith(MAGIC["png"])
    path = render(y, tmp_path / "nested" / "y.svg")  # a Tensor is drawn with the default options
    assert svg_groups(path)["node"] == len(parse_dot(draw_graph(y)).nodes)


@pytest.mark.parametrize("suffix", ["dot", "gv"])
def test_dot_source_is_written_without_graphviz_program(tmp_path, no_dot_on_path, suffix):
    graph, _ = bn_graph()
    path = render(graph, tmp_path / f"bn.{suffix}")
    assert path.read_text() == graph.source
    assert path.read_text().startswith("digraph tinygrad_bn {")
    assert leftovers(tmp_path) == []


def test_unknown_format_is_an_error(tmp_path):
    graph, _ = bn_graph()
    for name, fmt in [("bn.jpg", None), ("bn", None), ("bn.svg", "bmp")]:
        with pytest.raises(ValueError, match="unknown format .* use one of svg, png, pdf, dot, gv"):
            render(graph, tmp_path / name, format=fmt)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="expected a graphviz Digraph or a Tensor, got str"):
        render("digraph {}", tmp_path / "x.svg")


def test_missing_dot_program_is_explained(tmp_path, no_dot_on_path):
    graph, _ = bn_graph()
    target = tmp_path / "bn.svg"
    with pytest.raises(GraphvizNotFoundError) as info:
        render(graph, target)
    message = str(info.value)
    assert "`dot` program was not found on PATH" in message
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert ".dot or .gv output works without it" in message
    assert isinstance(info.value, RuntimeError)
    assert not target.exists() and leftovers(tmp_path) == []
    # and, as the message says, the DOT source can still be written
    assert render(graph, tmp_path / "bn.dot").read_text() == graph.source


def test_notebook_display_without_dot_shows_the_source(no_dot_on_path):
    """In Jupyter a drawn graph without `dot` shows a note and its DOT source, not an ExecutableNotFound error."""
    graph, _ = bn_graph()
    for shown in (graph, graph.copy()):  # copies keep the behaviour
        bundle = shown._repr_mimebundle_()
        assert list(bundle) == ["text/plain"]
        note, source = bundle["text/plain"].split("\n\n", 1)
        assert "`dot` program is not installed" in note and "apt-get install graphviz" in note
        assert source == graph.source
    with pytest.raises(graphviz.ExecutableNotFound):  # what a plain Digraph would have shown the user
        graphviz.Digraph(body=graph.body)._repr_mimebundle_()


@needs_dot
def test_notebook_display_with_dot_is_the_svg():
    graph, _ = bn_graph()
    bundle = graph._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"] and "<svg" in bundle["image/svg+xml"]
    assert list(graph._repr_mimebundle_(include=["image/png"])) == ["image/png"]
