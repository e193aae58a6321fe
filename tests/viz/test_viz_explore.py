"""viz.explore without a browser: the numbers the page carries are the tensors' own, the page is one
self-contained file, the views and options, and a clear error without Graphviz's `dot`."""
from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

pytest.importorskip("graphviz")

from tinygrad_bn import Tensor, nn  # noqa: E402
from tinygrad_bn.autograd import grad, topological_order  # noqa: E402
from tinygrad_bn.experiments.graph_models import build  # noqa: E402
from tinygrad_bn.nn import functional as F  # noqa: E402
from tinygrad_bn.random import manual_seed  # noqa: E402
from tinygrad_bn.viz import Explorer, explore  # noqa: E402
from tinygrad_bn.viz.render import GraphvizNotFoundError  # noqa: E402

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot program is not installed")


def page_data(explorer: Explorer) -> dict:
    """The data as the page's script reads it: parsed back out of the HTML."""
    text = re.search(r'<script type="application/json" id="data">(.*?)</script>', explorer.html, re.S).group(1)
    return json.loads(text.replace("<\\/", "</"))


def stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"min": v.min(), "max": v.max(), "mean": v.mean(), "std": v.std(), "zeros": np.mean(v == 0)}


@needs_dot
def test_every_node_carries_its_tensors_statistics_and_gradient():
    y, model = build("bn1d")
    explorer = explore(y, params=model)
    data = page_data(explorer)
    tensors = topological_order((y,), follow_all=True)
    wrt = [t for t in tensors if t.requires_grad]
    grads = dict(zip(map(id, wrt), grad([y], wrt, grad_outputs=[Tensor(np.ones(y.shape, np.float32))],
                                         retain_graph=True, allow_unused=True)))
    by_label = {tuple(n["label"]): n for n in data["nodes"].values() if not n["backward"]}
    checked = 0
    for t in tensors:
        node = next(n for n in data["nodes"].values() if n["shape"] == str(tuple(t.shape)).replace(",)", ")")
                    and n["value"]["mean"] == pytest.approx(float(np.mean(t.data, dtype=np.float64)), abs=1e-12)
                    and n["op"] == (t._ctx.name if t._ctx else None))
        for key, value in stats(t.data).items():
            assert node["value"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        assert sum(node["value"]["hist"]["counts"]) == t.size
        if id(t) in grads and grads[id(t)] is not None:
            for key, value in stats(grads[id(t)].data).items():
                assert node["grad"][key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
            checked += 1
    assert checked >= 10  # x, weight, bias and the ops between them
    assert by_label[("weight",)]["kind"] == "parameter" and by_label[("weight",)]["module"] == "BatchNorm1d"
    div = [n for n in data["nodes"].values() if n["op"] == "Div" and not n["backward"]]
    assert div and "a / b" in div[0]["words"] and div[0]["shape"] == "(8, 4)" and div[0]["dtype"] == "float32"


@needs_dot
def test_after_backward_the_gradients_are_the_tensors_own():
    manual_seed(0)
    model = nn.MLP(6, [5], 3, batchnorm=True)
    x = Tensor(np.random.default_rng(0).normal(size=(10, 6)).astype(np.float32), name="x")
    loss = F.cross_entropy(model(x), np.arange(10) % 3)
    loss.backward()  # frees the graph: the page shows the .grad of each parameter, and no backward view
    data = page_data(explore(loss, params=model))
    assert list(data["views"]) == ["forward"]
    weight = next(n for n in data["nodes"].values() if n["label"] == ["0.weight"])
    assert weight["grad"]["source"] == ".grad"
    assert weight["grad"]["std"] == pytest.approx(float(model[0].weight.grad.data.astype(np.float64).std()))
    assert weight["grad"]["max"] == pytest.approx(float(model[0].weight.grad.data.max()))


@needs_dot
def test_views_modules_and_edges():
    y, model = build("mlp")
    data = page_data(explore(y, params=model))
    views = data["views"]
    assert list(views) == ["forward", "backward", "both"]
    assert len(views["forward"]["nodes"]) < len(views["backward"]["nodes"]) <= len(views["both"]["nodes"])
    assert set(views["forward"]["nodes"]) | set(views["backward"]["nodes"]) == set(views["both"]["nodes"])
    assert not any(data["nodes"][n]["backward"] for n in views["forward"]["nodes"])
    modules = {m["label"]: m for m in data["modules"].values()}
    assert modules["MLP"]["depth"] == 0 and modules["MLP"]["params"] == sum(p.size for p in model.parameters())
    assert modules["1: BatchNorm1d"]["depth"] == 1 and modules["1: BatchNorm1d"]["params"] == 32
    assert data["maxDepth"] == 1
    # every node drawn in the BN layer's cluster lists it after the MLP's
    bn = next(k for k, m in data["modules"].items() if m["label"] == "1: BatchNorm1d")
    inside = [n for n, keys in views["forward"]["clusters"].items() if bn in keys]
    assert len(inside) > 8 and all(views["forward"]["clusters"][n][0] != bn for n in inside)


@needs_dot
def test_the_page_is_one_self_contained_file(tmp_path):
    y, model = build("mlp")
    explorer = explore(y, params=model, view="forward", depth=1)
    path = explorer.save(tmp_path / "sub" / "graph.html")
    page = path.read_text()
    assert page == explorer.html and page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]+src=|<link\b|@import|url\(\s*['\"]?https?:", page)
    assert page.count("<template id=\"svg-") == 3 and page.count("<svg") >= 3
    assert len(page) < 3_000_000
    data = page_data(explorer)
    assert data["initialView"] == "forward" and data["initialDepth"] == 1
    assert "{{" not in page  # every placeholder filled
    inline = explorer._repr_html_()
    assert inline.startswith("<iframe srcdoc=\"") and "&lt;!DOCTYPE html&gt;" in inline


@needs_dot
def test_without_gradients_there_is_only_the_forward_view():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    y = (x * 2).sum()
    with pytest.raises(ValueError, match="needs an output that requires grad"):
        explore(y, view="backward")


def test_mistakes_are_clear_errors():
    y, model = build("bn1d")
    with pytest.raises(ValueError, match="view must be one of forward, backward, both"):
        explore(y, view="sideways")
    with pytest.raises(TypeError, match="output 0 is a ndarray"):
        explore(np.zeros(3))
    with pytest.raises(ValueError, match="depth must be >= 0"):
        explore(y, depth=-1)


def test_without_dot_explore_says_how_to_install_it(no_dot_on_path):
    y, model = build("bn1d")
    with pytest.raises(GraphvizNotFoundError, match="apt-get install graphviz"):
        explore(y, params=model)
