"""An interactive graph explorer: one self-contained HTML page (or a Jupyter cell) to click through a graph.

`explore(output, params=model)` lays the graph out with Graphviz's `dot` once, here, for each view
(forward, backward, both), and embeds the SVGs with every tensor's statistics and histogram (binned in
Python) and, where a gradient exists, the gradient's. The page's own script adds what a picture lacks:
pan and zoom, search, a panel for the clicked node, modules that collapse on click and a depth control.
Nothing is fetched when the page opens: scripts and styles are inlined, so it works offline from disk.
"""
from __future__ import annotations

import html
import json
import os
import re
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from ..autograd import Tensor as TensorLike
from ..autograd import grad, topological_order
from ..serialization import atomic_write
from ..summary import DEFAULT_BINS, summarize
from ..tensor import Tensor
from .graph import STYLES, _Builder, _find_inputs, _gradient_outputs, _Names, _op_detail, _scope_path
from .render import GraphvizNotFoundError

VIEWS = ("forward", "backward", "both")

# what each op computes, in words (the panel's "formula"); the op's parameters (axes, shapes) follow it
OP_WORDS = {
    "Add": "adds its inputs elementwise: a + b (smaller inputs are broadcast)",
    "Sub": "subtracts elementwise: a - b (smaller inputs are broadcast)",
    "Mul": "multiplies elementwise: a * b (smaller inputs are broadcast)",
    "Div": "divides elementwise: a / b (smaller inputs are broadcast)",
    "Pow": "raises elementwise to a power: a ** b",
    "Maximum": "the larger of a and b, elementwise",
    "Minimum": "the smaller of a and b, elementwise",
    "Where": "takes a where the condition holds and b elsewhere",
    "MatMul": "matrix product: a @ b",
    "Linear": "the affine map of a layer: x @ W.T + b",
    "Neg": "negates: -x",
    "Exp": "exponential: e ** x",
    "Log": "natural logarithm: log(x)",
    "Sqrt": "square root: sqrt(x)",
    "Abs": "absolute value: |x|",
    "Relu": "rectifier: max(x, 0)",
    "Sigmoid": "logistic sigmoid: 1 / (1 + e ** -x)",
    "SigmoidGrad": "the sigmoid's backward step: g * s * (1 - s) from its output s",
    "Tanh": "hyperbolic tangent: tanh(x)",
    "TanhGrad": "tanh's backward step: g * (1 - t * t) from its output t",
    "Clip": "clamps into [low, high]",
    "Cast": "converts to another dtype",
    "Sum": "sums over the axes",
    "Mean": "averages over the axes",
    "Max": "the largest value over the axes",
    "Min": "the smallest value over the axes",
    "Reshape": "the same values in another shape",
    "Transpose": "permutes the axes",
    "BroadcastTo": "repeats the values along new or size-1 axes",
    "GetItem": "selects elements (indexing)",
    "IndexAdd": "adds into a zero tensor at the indexed positions (the gradient of indexing)",
    "Concatenate": "joins its inputs along an axis",
}
KIND_WORDS = {
    "parameter": "a trainable parameter",
    "buffer": "a buffer of a module (not trained by gradients)",
    "input": "an input of the computation",
    "constant": "a constant",
    "output": "an output",
}


def dot_available() -> bool:
    """Whether Graphviz's `dot` program is on PATH (the explorer lays out its graphs with it)."""
    return shutil.which("dot") is not None


class Explorer:
    """A built explorer page: shown inline in Jupyter, written to disk by `save`.

    `data` is what the page shows, as plain Python (nodes with their statistics, modules, views), so a
    program can read the same numbers the page displays.
    """

    def __init__(self, page: str, data: dict[str, Any]) -> None:
        self.html, self.data = page, data

    def save(self, path: str | os.PathLike) -> Path:
        """Write the page to `path` (atomically); open it from disk in any browser, no server needed."""
        return atomic_write(Path(path), lambda f: f.write(self.html.encode("utf-8")))

    def _repr_html_(self) -> str:
        """Jupyter: the page in an iframe, so its script and style stay apart from the notebook's."""
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:640px;'
                f'border:1px solid #ddd" title="tinygrad_bn graph explorer"></iframe>')

    def __repr__(self) -> str:
        views = ", ".join(f"{v}: {len(self.data['views'][v]['nodes'])} nodes" for v in self.data["views"])
        return f"<Explorer {views}; {len(self.html) / 1e6:.2f} MB of HTML>"


class _ExplorerBuilder(_Builder):
    """The DOT of one view, with ids the page's script uses: nodes by tensor, clusters by module path,
    edges by their ends; edges carry the shape that flows along them where the op changes it."""

    def __init__(self, *args: Any, cluster_keys: dict[tuple, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cluster_keys = cluster_keys
        self.edges: list[list[str]] = []

    def node(self, target: Any, t: Tensor) -> None:
        kind = self.kind(t)
        target.node(self.ids[id(t)], self.label(t), id=self.ids[id(t)], **STYLES[kind])

    def cluster_attrs(self, path: tuple) -> dict[str, str]:
        return {"id": self.cluster_keys[tuple(id(m) for m in path)]}

    def edge_attrs(self, parent: TensorLike, t: Tensor, index: int) -> dict[str, str]:
        src, dst = self.ids[id(parent)], self.ids[id(t)]
        edge_id = f"e_{src}_{dst}_{index}"
        self.edges.append([edge_id, src, dst])
        attrs = {"id": edge_id}
        if tuple(parent.shape) != tuple(t.shape):
            attrs.update(label=_shape_text(parent.shape), fontsize="8", fontcolor="#666666")
        return attrs


def _shape_text(shape: tuple) -> str:
    return "(" + ", ".join(str(n) for n in shape) + ")"


def explore(
    *outputs: Tensor,
    params: Any = None,
    view: str | None = None,
    depth: int | None = None,
    bins: int = DEFAULT_BINS,
    rankdir: str = "TB",
    title: str = "tinygrad_bn graph",
) -> Explorer:
    """Build the interactive explorer of the graph that produced `outputs` (see the module docstring).

    `params` names parameters, buffers and modules (a Module or a dict of name -> Tensor), as in
    `draw_graph`. When an output requires grad, the page also has the backward view (the gradient graph
    of the outputs' sum, as `draw_graph(backward=True)` draws it) and both together, and each tensor that
    requires grad shows its gradient: its own `.grad` when it has one (after `backward()`), otherwise
    the gradient of the sum of the outputs, computed here without touching any `.grad`. `view` (default:
    both, where there is a backward view) and `depth` (collapse every module nested deeper than `depth`;
    None expands all) set what the page shows first; `bins` is the number of histogram bars. Needs Graphviz's `dot`.
    """
    from .graph import RANKDIRS, draw_graph  # noqa: F401 - draw_graph checks the graphviz package is there

    if not outputs:
        raise ValueError("explore: give at least one output tensor")
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"explore: output {i} is a {type(t).__name__}, not a Tensor")
    if view is not None and view not in VIEWS:
        raise ValueError(f"explore: view must be one of {', '.join(VIEWS)}, got {view!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"explore: rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    if depth is not None and depth < 0:
        raise ValueError(f"explore: depth must be >= 0 or None, got {depth}")
    if bins < 1:
        raise ValueError(f"explore: bins must be >= 1, got {bins}")
    # the caller's mistakes first, whatever is installed; then what the machine lacks
    if not dot_available():
        raise GraphvizNotFoundError(
            "explore: Graphviz's `dot` program was not found on PATH; the explorer lays out its graph with it. "
            "Install the system package: `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
            "(macOS), `conda install graphviz`. Without it, `draw_graph(...)` still gives the DOT source.")
    try:
        import graphviz
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("explore needs the graphviz package: pip install 'tinygrad_bn[viz]'") from err

    names = _Names.from_params(params)
    _find_inputs(outputs, names)
    labels = {id(t): (names.name_of(t) or "output") for t in outputs}
    forward = topological_order(outputs, follow_all=True)
    gradients, grad_outputs = _gradients(outputs, forward, labels, names)
    if grad_outputs:
        backward_labels = grad_outputs[1]
        labels.update(backward_labels)
        grad_tensors = grad_outputs[0]
        view_nodes = {"forward": forward, "backward": topological_order(grad_tensors, follow_all=True),
                      "both": topological_order(tuple(outputs) + tuple(grad_tensors), follow_all=True)}
    else:
        view_nodes = {"forward": forward}
    view = view or ("both" if "both" in view_nodes else "forward")
    if view not in view_nodes:
        raise ValueError(f"explore: view {view!r} needs an output that requires grad")

    everything = view_nodes.get("both", forward)
    ids = {id(t): f"n{i}" for i, t in enumerate(everything)}
    builder = _ExplorerBuilder(None, names, ids, labels, False, False, False, False, cluster_keys={})
    modules: dict[str, dict[str, Any]] = {}
    views = {}
    for name in sorted(view_nodes, key=lambda v: v != "both"):  # "both" first: it numbers the modules
        nodes = view_nodes[name]
        clusters = _node_clusters(nodes, builder, modules)
        graph = graphviz.Digraph("tinygrad_bn", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                             "fontsize": "11", "compound": "true"},
                                 node_attr={"fontname": "Helvetica", "fontsize": "10"},
                                 edge_attr={"color": "#555555", "arrowsize": "0.7", "fontname": "Helvetica"})
        drawer = _ExplorerBuilder(graph, names, ids, labels, False, False, False, False,
                                  cluster_keys=builder.cluster_keys)
        drawer.detailed(nodes, group_modules=True)
        svg = graph.pipe(format="svg").decode("utf-8")
        views[name] = {"svg": svg[svg.index("<svg"):], "nodes": [ids[id(t)] for t in nodes], "edges": drawer.edges,
                       "clusters": clusters}
    node_data = {ids[id(t)]: _node_record(t, builder, gradients, bins) for t in everything}
    max_depth = max((m["depth"] for m in modules.values()), default=0)
    data = {"title": title, "views": {k: {key: v[key] for key in ("nodes", "edges", "clusters")}
                                      for k, v in sorted(views.items(), key=lambda item: VIEWS.index(item[0]))},
            "nodes": node_data, "modules": modules, "maxDepth": max_depth, "initialView": view,
            "initialDepth": depth, "styles": {k: STYLES[k]["fillcolor"] for k in STYLES}}
    return Explorer(_page(title, data, {k: v["svg"] for k, v in views.items()}), data)


def _gradients(outputs: tuple, forward: list[Tensor], labels: dict, names: _Names
               ) -> tuple[dict[int, tuple[np.ndarray, str]], tuple | None]:
    """(id(tensor) -> (its gradient, where it came from), the backward graph or None).

    The gradient of sum(outputs) with respect to every tensor of the forward graph that requires grad is
    computed with `grad` (retaining the graph, touching no `.grad`); a tensor's own `.grad` wins where set.
    Where the graph was already freed by a backward pass, only the `.grad`s are shown, and there is no
    backward view.
    """
    found: dict[int, tuple[np.ndarray, str]] = {}
    roots = [t for t in outputs if t.requires_grad]
    wrt = [t for t in forward if t.requires_grad]
    graph = None
    if roots and wrt:
        seeds = [Tensor(np.ones(t.shape, dtype=t.dtype)) for t in roots]
        try:
            computed = grad(roots, wrt, grad_outputs=seeds, retain_graph=True, allow_unused=True)
            found = {id(t): (g.data, "gradient of the sum of the outputs") for t, g in zip(wrt, computed)
                     if g is not None}
            graph = _gradient_outputs(outputs, dict(labels), names)
        except (RuntimeError, ValueError):  # freed by an earlier backward(), or nothing to differentiate
            graph = None
    for t in forward:
        if t.grad is not None:
            found[id(t)] = (t.grad.data, ".grad")
    return found, graph


def _node_clusters(nodes: list[Tensor], builder: _ExplorerBuilder, modules: dict[str, dict[str, Any]]
                   ) -> dict[str, list[str]]:
    """node id -> the keys of the module clusters it is drawn in (outermost first), for one view's nodes.

    A cluster's key comes from its module path, so it is the same in every view; new ones get a record in
    `modules` (name, type, depth, parent, parameters) and a key in `builder.cluster_keys`.
    """
    users = builder._users(nodes)  # a constant is drawn in the cluster of the first op that uses it
    found: dict[str, list[str]] = {}
    for t in nodes:
        anchor = users[id(t)][0] if builder.kind(t) == "constant" and id(t) in users else t
        path = builder._cluster_path(anchor)
        keys: list[str] = []
        for depth, module in enumerate(path):
            key_path = tuple(id(m) for m in path[:depth + 1])
            if key_path not in builder.cluster_keys:
                key = builder.cluster_keys[key_path] = f"c{len(builder.cluster_keys)}"
                params = list(getattr(module, "named_parameters", lambda: [])())
                modules[key] = {
                    "label": builder._module_label(module), "name": builder.names.modules.get(id(module)),
                    "type": type(module).__name__, "depth": depth, "parent": keys[-1] if keys else None,
                    "params": int(sum(p.size for _, p in params)),
                    "paramList": [[n, _shape_text(p.shape)] for n, p in params]}
            keys.append(builder.cluster_keys[key_path])
        if keys:
            found[builder.ids[id(t)]] = keys
    return found


def _node_record(t: Tensor, builder: _ExplorerBuilder, gradients: dict, bins: int) -> dict[str, Any]:
    """What the panel shows for one tensor."""
    kind = builder.kind(t)
    record: dict[str, Any] = {"kind": kind, "label": builder.label(t).split("\\n"), "shape": _shape_text(t.shape),
                              "dtype": str(t.dtype), "value": summarize(t.data, bins)}
    if t._ctx is not None:
        op = t._ctx.name
        record.update(op=op, detail=_op_detail(t._ctx), words=OP_WORDS.get(op, ""),
                      backward=_scope_path(t._ctx)[1], inputs=len(t._ctx.parents))
    else:
        record.update(op=None, words=KIND_WORDS.get(kind, ""), backward=False,
                      name=builder.names.name_of(t) or builder.names.inputs.get(id(t)))
    path = builder._cluster_path(t)
    record["module"] = " > ".join(builder._module_label(m) for m in path)
    if id(t) in gradients:
        values, source = gradients[id(t)]
        record["grad"] = {**summarize(values, bins), "source": source}
    else:
        record["grad"] = None
    return record


def _asset(name: str) -> str:
    return (resources.files(__package__) / "static" / name).read_text(encoding="utf-8")


def _json_for_script(data: Any) -> str:
    """JSON that can sit inside a <script> element (no "</" to close it early)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")


def _page(title: str, data: dict[str, Any], svgs: dict[str, str]) -> str:
    """The whole page: template, inlined style and script, the data and one <template> per view's SVG."""
    templates = "\n".join(f'<template id="svg-{name}">{svg}</template>' for name, svg in svgs.items())
    parts = {"STYLE": _asset("explorer.css"), "SCRIPT": _asset("explorer.js"), "DATA": _json_for_script(data),
             "TEMPLATES": templates, "TITLE": html.escape(title)}
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _asset("explorer.html"))
