"""The explorer page in a real browser (Debian's headless Chromium through Playwright), used as a person
would: it loads without console errors, a click on a BN node shows that tensor's shape and statistics,
modules collapse and expand, the depth control, the views, search, zoom. Skipped without Chromium or
Playwright (see the `browser` fixture)."""
from __future__ import annotations

import re

import numpy as np
import pytest

pytest.importorskip("graphviz")

from tinygrad_bn import Tensor  # noqa: E402
from tinygrad_bn.autograd import grad, topological_order  # noqa: E402
from tinygrad_bn.experiments.graph_models import build  # noqa: E402
from tinygrad_bn.viz import explore  # noqa: E402
from tinygrad_bn.viz.explore import dot_available  # noqa: E402

pytestmark = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot program is not installed")
VISIBLE = "document.querySelectorAll('#graph g.node:not(.hidden)').length"
BOXES = "document.querySelectorAll('#graph g.collapsed-module').length"


@pytest.fixture(scope="module")
def mlp_page(tmp_path_factory):
    y, model = build("mlp")
    explorer = explore(y, params=model)
    return explorer.save(tmp_path_factory.mktemp("explore") / "mlp.html"), explorer.data


def number(text: str) -> float:
    return float(text.rstrip("%"))


def test_the_page_loads_without_errors_and_shows_the_graph(open_page, mlp_page, not_blank):
    path, data = mlp_page
    page = open_page(path)
    total = len(data["views"]["both"]["nodes"])
    assert page.evaluate(VISIBLE) == total
    assert page.text_content("#count") == f"{total} of {total} nodes shown"
    assert page.is_checked("input[name=view][value=both]")
    assert not_blank(page.locator("#graph").screenshot())
    assert page.errors == []


def test_clicking_a_bn_node_shows_the_tensors_shape_and_statistics(open_page, tmp_path):
    y, model = build("bn1d")
    explorer = explore(y, params=model, view="forward")
    page = open_page(explorer.save(tmp_path / "bn1d.html"))
    # the tensor behind BN's normalizing Div, x_hat = (x - mean) / sqrt(var + eps), and its gradient
    tensors = topological_order((y,), follow_all=True)
    x_hat = next(t for t in tensors if t._ctx is not None and t._ctx.name == "Div")
    (g,) = grad([y], [x_hat], grad_outputs=[Tensor(np.ones(y.shape, np.float32))], retain_graph=True)
    node_id = next(i for i in explorer.data["views"]["forward"]["nodes"] if explorer.data["nodes"][i]["op"] == "Div")
    page.locator(f"#{node_id}").click()
    assert page.get_attribute(f"#{node_id}", "class") == "node selected"
    assert page.text_content("[data-field=shape]") == "(8, 4)"
    assert page.text_content("[data-field=dtype]") == "float32"
    assert page.text_content("[data-field=module]") == "BatchNorm1d"
    assert "a / b" in page.text_content("[data-field=words]")
    for prefix, values in (("value", x_hat.data), ("grad", g.data)):
        v = np.asarray(values, dtype=np.float64)
        for stat, expected in (("min", v.min()), ("max", v.max()), ("mean", v.mean()), ("std", v.std())):
            shown = number(page.text_content(f"[data-stat='{prefix}.{stat}']"))
            assert shown == pytest.approx(expected, rel=1e-3, abs=1e-12), f"{prefix}.{stat}"
        assert number(page.text_content(f"[data-stat='{prefix}.zeros']")) == pytest.approx(100 * np.mean(v == 0))
    assert page.locator("#panel svg.hist rect.bar").count() == 2 * 30  # the value's and the gradient's
    assert page.errors == []


def test_a_module_collapses_on_click_and_expands_again(open_page, mlp_page):
    path, data = mlp_page
    page = open_page(path)
    total = page.evaluate(VISIBLE)
    bn = next(k for k, m in data["modules"].items() if m["label"] == "1: BatchNorm1d")
    inside = [n for n, keys in data["views"]["both"]["clusters"].items() if bn in keys]
    page.locator(f"#{bn} > text").click()
    assert page.evaluate(VISIBLE) == total - len(inside)
    assert page.evaluate(BOXES) == 1
    assert page.text_content("#panel [data-field=title]") == "1: BatchNorm1d"
    assert page.text_content("#panel [data-field=params]") == "32"  # weight and bias of 16 features
    assert page.is_hidden(f"#{inside[0]}")
    page.locator("g.collapsed-module").click()
    assert page.evaluate(VISIBLE) == total and page.evaluate(BOXES) == 0
    assert page.errors == []


def test_the_depth_control_collapses_everything_deeper(open_page, mlp_page):
    path, data = mlp_page
    page = open_page(path)
    total = page.evaluate(VISIBLE)
    layers = [k for k, m in data["modules"].items() if m["depth"] == 1]
    assert page.text_content("#depth-value") == "all"
    page.focus("#depth")
    page.keyboard.press("ArrowLeft")  # depth 1: every layer of the MLP one box
    assert page.text_content("#depth-value") == "1"
    assert page.evaluate(BOXES) == len(layers)
    in_layers = [n for n, keys in data["views"]["both"]["clusters"].items() if set(keys) & set(layers)]
    assert page.evaluate(VISIBLE) == total - len(in_layers)
    page.keyboard.press("ArrowLeft")  # depth 0: the whole MLP one box
    assert page.evaluate(BOXES) == 1
    outside = [n for n in data["views"]["both"]["nodes"] if n not in data["views"]["both"]["clusters"]]
    assert page.evaluate(VISIBLE) == len(outside) < total
    page.keyboard.press("End")
    assert page.evaluate(VISIBLE) == total and page.evaluate(BOXES) == 0
    assert page.errors == []


def test_views_search_and_zoom(open_page, mlp_page):
    path, data = mlp_page
    page = open_page(path)
    page.check("input[name=view][value=forward]")
    forward = len(data["views"]["forward"]["nodes"])
    assert page.evaluate(VISIBLE) == forward and page.text_content("#count") == f"{forward} of {forward} nodes shown"
    assert page.locator("#graph g.node").count() == forward  # only this view's SVG is in the page
    page.fill("#search", "sqrt")
    assert page.text_content("#matches") == "3 found"  # one per BatchNorm1d layer
    assert page.locator("#graph g.node.match").count() == 3
    page.press("#search", "Enter")
    assert page.text_content("#panel [data-field=title]").startswith("Sqrt")
    page.check("input[name=view][value=backward]")
    assert page.evaluate(VISIBLE) == len(data["views"]["backward"]["nodes"])
    before = page.get_attribute("#graph svg", "viewBox")
    page.mouse.move(500, 400)
    page.mouse.wheel(0, -400)  # zoom in
    zoomed = page.get_attribute("#graph svg", "viewBox")
    assert float(zoomed.split()[2]) < float(before.split()[2])
    page.click("#fit")
    assert page.get_attribute("#graph svg", "viewBox") != zoomed
    assert re.fullmatch(r"[-\d. e]+", page.get_attribute("#graph svg", "viewBox"))
    assert page.errors == []
