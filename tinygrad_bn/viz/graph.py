"""Drawing computation graphs with Graphviz: op nodes, tensor nodes, module clusters, the backward pass.

The graph is read from what autodiff recorded: every tensor made by an op points to its `Function`,
which lists its input tensors and the module scope it ran in. Nothing is recorded for drawing alone,
except inside `trace()`, which also records ops on tensors that need no gradient (eval-mode running
statistics, for example), so the picture shows them as operations rather than as precomputed constants.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..autograd import STATE, BackwardScope, Function, grad, topological_order
from ..autograd import Tensor as TensorLike
from ..tensor import Tensor

# colours and shapes of each kind of node; the legend is drawn from this table
STYLES: dict[str, dict[str, str]] = {
    "op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6", "color": "#4a7ab0"},
    "backward op": {"shape": "box", "style": "rounded,filled", "fillcolor": "#fde3c8", "color": "#c0702a"},
    "parameter": {"shape": "ellipse", "style": "filled", "fillcolor": "#cdeccd", "color": "#3c8d3c"},
    "buffer": {"shape": "ellipse", "style": "filled,dashed", "fillcolor": "#eef5d6", "color": "#7a8c2e"},
    "input": {"shape": "ellipse", "style": "filled", "fillcolor": "#fff4bf", "color": "#b59a1a"},
    "constant": {"shape": "plaintext", "style": "filled", "fillcolor": "#eeeeee", "color": "#999999"},
    "module": {"shape": "box3d", "style": "filled", "fillcolor": "#e7def3", "color": "#6f4fa0"},
    "backward module": {"shape": "box3d", "style": "filled", "fillcolor": "#fde3c8", "color": "#c0702a"},
    "output": {"shape": "doubleoctagon", "style": "filled,bold", "fillcolor": "#f6c9c9", "color": "#b03030"},
}

RANKDIRS = ("TB", "LR", "BT", "RL")

# ops whose operand order matters: the node shows the formula, the edges say which input is a and which b
_FORMULAS = {"Sub": "a - b", "Div": "a / b", "Pow": "a ** b", "MatMul": "a @ b", "Where": "where(cond, a, b)"}
_OPERAND_STYLE = {"fontsize": "10", "fontcolor": "#1f4e85", "labeldistance": "1.6", "labelangle": "-30"}


@contextlib.contextmanager
def trace() -> Iterator[None]:
    """Record every op while drawing, even ops on tensors that need no gradient (e.g. eval-mode BN)."""
    previous = STATE.trace
    STATE.trace = True
    try:
        yield
    finally:
        STATE.trace = previous


@dataclass
class _Names:
    """Names for tensors and modules, from the `params` argument (a Module or a dict)."""

    tensors: dict[int, str] = field(default_factory=dict)  # id(tensor) -> "bn1.weight"
    arrays: dict[int, int] = field(default_factory=dict)  # id(numpy array) -> id(tensor), to spot views of buffers
    modules: dict[int, str] = field(default_factory=dict)  # id(module) -> "bn1"
    module_by_name: dict[str, Any] = field(default_factory=dict)  # "bn1" -> the module ("" is the root)
    buffers: set[int] = field(default_factory=set)
    trainable: set[int] = field(default_factory=set)  # named tensors that require grad (drawn as parameters)
    shapes: dict[int, tuple] = field(default_factory=dict)  # id(named tensor) -> its shape
    inputs: dict[int, str] = field(default_factory=dict)  # id(unnamed input) -> "input", or "input 0", "input 1"

    @classmethod
    def from_params(cls, params: Any) -> _Names:
        names = cls()
        if params is None:
            return names
        if hasattr(params, "named_parameters") and hasattr(params, "named_modules"):
            for name, module in params.named_modules():
                names.modules[id(module)] = name
                names.module_by_name[name] = module
            items = list(params.named_parameters()) + list(params.named_buffers())
            names.buffers = {id(t) for _, t in params.named_buffers()}
        elif isinstance(params, Mapping):
            items = list(params.items())
            for name, t in items:
                if not isinstance(t, Tensor):
                    raise TypeError(f"draw_graph: params[{name!r}] is a {type(t).__name__}, not a Tensor")
        else:
            raise TypeError(
                f"draw_graph: params must be a Module or a dict of name -> Tensor, got {type(params).__name__}"
            )
        for name, t in items:
            names.tensors[id(t)] = str(name)
            names.arrays[id(t.data)] = id(t)
            names.shapes[id(t)] = t.shape
            if t.requires_grad and id(t) not in names.buffers:
                names.trainable.add(id(t))
        return names

    def view_of(self, t: Tensor) -> int | None:
        """The id of a named tensor whose memory `t` shares (e.g. a reshaped running_mean), if any."""
        base = getattr(t.data, "base", None)
        return self.arrays.get(id(base)) if base is not None else None

    def name_of(self, t: Tensor) -> str | None:
        """The tensor's name from params, its own `.name`, or the name of the tensor it is a view of."""
        name = self.tensors.get(id(t)) or t.name
        if name is None and (viewed := self.view_of(t)) is not None:
            name = f"{self.tensors[viewed]} (view)"
        return name


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _stats(data: np.ndarray) -> str:
    d = np.asarray(data, dtype=np.float64)
    if d.size == 0:
        return "empty"
    return f"mean {_fmt(d.mean())} std {_fmt(d.std())}\\nmin {_fmt(d.min())} max {_fmt(d.max())}"


def _op_detail(fn: Function) -> str:
    """Short description of an op's parameters (axis of a reduction, target shape of a reshape, ...)."""
    d = fn.__dict__
    if fn.name in _FORMULAS:
        return _FORMULAS[fn.name]
    if "axes" in d and fn.name in ("Sum", "Mean", "Max", "Min"):
        return f"axis={d['axes']}"
    if fn.name in ("Reshape", "BroadcastTo") and "in_shape" in d:
        return f"from {d['in_shape']}"
    if fn.name == "Transpose" and d.get("axes") is not None:
        return f"axes={tuple(d['axes'])}"
    if fn.name == "Cast" and "in_dtype" in d:
        return f"from {d['in_dtype']}"
    if fn.name == "Concatenate" and "axis" in d:
        return f"axis={d['axis']}"
    return ""


def _operand_labels(fn: Function) -> list[str] | None:
    """Labels for the input edges of ops whose operand order matters (None for the others)."""
    if fn.name in _FORMULAS:
        return ["a", "b"]
    if fn.name == "Concatenate" and len(fn.parents) > 1:
        return [str(i) for i in range(len(fn.parents))]
    return None


def _scope_path(fn: Function) -> tuple[list[Any], bool]:
    """(modules from outermost to innermost, whether the op was recorded by a backward pass)."""
    chain, path, backward = fn.scope, [], False
    while chain is not None:
        item, chain = chain
        if isinstance(item, BackwardScope):
            backward = True
        else:
            path.append(item)
    return path[::-1], backward


def _collapsed_module(fn: Function | None) -> Any:
    """The module whose node holds the op when modules are collapsed: a child of the outermost module called
    (or that module itself, when the op ran directly in it); None for ops run outside every module, and for
    leaves (no op: `fn` is None)."""
    if fn is None:
        return None
    path = _scope_path(fn)[0]
    return path[min(1, len(path) - 1)] if path else None


def draw_graph(
    *outputs: Tensor,
    params: Any = None,
    show_shapes: bool = True,
    show_dtypes: bool = False,
    show_values: bool = False,
    show_grads: bool = False,
    group_modules: bool = True,
    collapse_modules: bool = False,
    backward: bool = False,
    rankdir: str = "TB",
    legend: bool = True,
) -> Any:
    """Draw the graph that produced `outputs` as a `graphviz.Digraph` (shown inline in Jupyter; as its DOT
    source, with a note, where Graphviz's `dot` program is not installed).

    Ops and tensors look different; parameters and buffers carry their names from `params` (a Module
    or a dict of name -> Tensor); constants such as eps show their value; outputs are highlighted.
    Ops whose operand order matters (Sub, Div, Pow, MatMul, Where) show their formula, and their input
    edges are marked a and b. `group_modules` draws each module's ops inside a labelled cluster (nested
    like the modules); `collapse_modules` draws each module as one node instead. `show_values` adds
    mean/std/min/max of each tensor, `show_grads` the shape and norm of gradients present after backward.
    `backward=True` draws the gradient graph of the outputs' sum with respect to every leaf that
    requires grad: the ops `backward(create_graph=True)` records (run under `trace()`, so the ops on the
    seed gradient show too), in their own colour, starting from a seed of ones per output.
    `rankdir` is Graphviz's direction: TB (top to bottom), LR, BT or RL. `legend` adds a key of the
    node kinds drawn. The same computation always gives the same DOT text.
    """
    try:
        from .notebook import Graph  # a Digraph that shows its DOT source in Jupyter when `dot` is missing
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("draw_graph needs the graphviz package: pip install 'tinygrad_bn[viz]'") from err
    if not outputs:
        raise ValueError("draw_graph: give at least one output tensor")
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"draw_graph: output {i} is a {type(t).__name__}, not a Tensor")
    if rankdir not in RANKDIRS:
        raise ValueError(f"draw_graph: rankdir must be one of {', '.join(RANKDIRS)}, got {rankdir!r}")
    names = _Names.from_params(params)
    _find_inputs(outputs, names)
    output_labels = {id(t): (names.name_of(t) or "output") for t in outputs}
    if backward:
        outputs, output_labels = _gradient_outputs(outputs, output_labels, names)

    nodes = topological_order(outputs, follow_all=True)
    ids = {id(t): f"n{i}" for i, t in enumerate(nodes)}
    graph = Graph("tinygrad_bn", graph_attr={"rankdir": rankdir, "fontname": "Helvetica",
                                                        "fontsize": "11", "compound": "true"},
                             node_attr={"fontname": "Helvetica", "fontsize": "10"},
                             edge_attr={"color": "#555555", "arrowsize": "0.7", "fontname": "Helvetica"})
    builder = _Builder(graph, names, ids, output_labels, show_shapes, show_dtypes, show_values, show_grads)
    if collapse_modules:
        builder.collapsed(nodes)
    else:
        builder.detailed(nodes, group_modules)
    if legend:
        builder.legend()
    return graph


def _leaves(outputs: tuple) -> tuple[list[Tensor], set[int]]:
    """The leaves the outputs depend on, in evaluation order (first operands first, so the model's input
    comes before the weights of its last layer), and the ids of the tensors forward (not backward) ops read."""
    leaves: list[Tensor] = []
    forward_users: set[int] = set()
    seen: set[int] = set()
    stack = list(reversed(outputs))
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t._ctx is None:
            leaves.append(t)
            continue
        if not _scope_path(t._ctx)[1]:
            forward_users.update(id(p) for p in t._ctx.parents)
        stack.extend(reversed(t._ctx.parents))
    return leaves, forward_users


def _find_inputs(outputs: tuple, names: _Names) -> None:
    """Label the unnamed inputs of the forward graph "input" ("input 0", "input 1", ... when there are several).

    An input is a leaf without a name that requires grad, or that holds data a forward op reads: more than
    one value and not a boolean mask (a batch `Tensor(x)` fed to a model, a loss target). Other unnamed
    leaves are constants: lifted Python numbers such as eps, and the masks and factors backward ops use.
    """
    leaves, forward_users = _leaves(outputs)
    found = [t for t in leaves if names.name_of(t) is None and (
        t.requires_grad or (t.size > 1 and t.dtype != np.bool_ and id(t) in forward_users))]
    names.inputs = {id(t): (f"input {i}" if len(found) > 1 else "input") for i, t in enumerate(found)}


def _gradient_outputs(outputs: tuple, output_labels: dict, names: _Names) -> tuple[tuple, dict]:
    """The gradients of sum(outputs) w.r.t. every leaf that requires grad, recorded as a graph."""
    roots = [t for t in outputs if t.requires_grad]
    leaves = [t for t in _leaves(tuple(roots))[0] if t.requires_grad]
    if not leaves:
        raise ValueError("draw_graph(backward=True): no input of the outputs requires grad")
    # a seed of ones per output is the gradient of sum(outputs); named, so the picture says where backward starts
    seeds = [Tensor(np.ones(t.shape, dtype=t.dtype), name=f"grad of {output_labels[id(t)]} (seed: ones)")
             for t in roots]
    try:
        with trace():
            grads = grad(roots, leaves, grad_outputs=seeds, create_graph=True, retain_graph=True,
                         allow_unused=True)
    except RuntimeError as err:
        raise RuntimeError(f"draw_graph(backward=True): {err}") from None
    found: dict[int, Tensor] = {}
    labels: dict[int, str] = {}  # one tensor can be the gradient of several leaves (a + b): name them all
    for leaf, g in zip(leaves, grads):
        if g is not None:
            name = f"grad of {names.name_of(leaf) or names.inputs.get(id(leaf), 'input')}"
            labels[id(g)] = f"{labels[id(g)]} = {name}" if id(g) in labels else name
            found[id(g)] = g
    seed_ids = {id(seed) for seed in seeds}
    for i in found:  # the gradient of an output itself is its seed (y = x + 1: the grad of x is the seed)
        if i in seed_ids:
            labels[i] += " = seed (ones)"
    return tuple(found.values()), labels


class _Builder:
    """Turns the collected tensors into Graphviz nodes, edges and clusters."""

    def __init__(self, graph: Any, names: _Names, ids: dict, output_labels: dict, show_shapes: bool,
                 show_dtypes: bool, show_values: bool, show_grads: bool) -> None:
        self.graph, self.names, self.ids, self.output_labels = graph, names, ids, output_labels
        self.show_shapes, self.show_dtypes = show_shapes, show_dtypes
        self.show_values, self.show_grads = show_values, show_grads
        self.kinds_drawn: set[str] = set()  # for the legend

    # ------------------------------------------------------------------ node text
    def _tensor_lines(self, t: Tensor) -> list[str]:
        lines = []
        if self.show_shapes:
            lines.append(str(tuple(t.shape)))
        if self.show_dtypes:
            lines.append(str(t.dtype))
        if self.show_values:
            lines.append(_stats(t.data))
        if self.show_grads and t.grad is not None:
            lines.append(f"grad {tuple(t.grad.shape)} norm {_fmt(float(np.linalg.norm(t.grad.data)))}")
        return lines

    def kind(self, t: Tensor) -> str:
        if id(t) in self.output_labels:
            return "output"
        if t._ctx is not None:
            return "backward op" if _scope_path(t._ctx)[1] else "op"
        named = id(t) if id(t) in self.names.tensors else self.names.view_of(t)
        if named is not None:  # a parameter or buffer, or a view of one (e.g. running_mean reshaped)
            return "parameter" if named in self.names.trainable else "buffer"
        if t.requires_grad or t.name or id(t) in self.names.inputs:
            return "input"
        return "constant"  # unnamed and without gradient: eps, 1/N, masks, seeds

    def label(self, t: Tensor) -> str:
        kind = self.kind(t)
        if t._ctx is not None:
            head = t._ctx.name
            detail = _op_detail(t._ctx)
            if kind == "output":
                head = f"{self.output_labels[id(t)]}\\n{head}"
            lines = [head] + ([detail] if detail else [])
        elif kind == "constant" and t.size == 1:
            return _fmt(float(np.asarray(t.data).reshape(-1)[0]))
        else:
            name = self.names.name_of(t) or self.names.inputs.get(id(t))
            if kind == "output":
                name = self.output_labels[id(t)]
            elif kind == "constant":
                name = "mask" if t.dtype == np.bool_ else "constant"
            lines = [name or kind]
        return "\\n".join(lines + self._tensor_lines(t))

    def node(self, target: Any, t: Tensor) -> None:
        kind = self.kind(t)
        self.kinds_drawn.add(kind)
        target.node(self.ids[id(t)], self.label(t), **STYLES[kind])

    # ------------------------------------------------------------------ layouts
    def _cluster_path(self, t: Tensor) -> tuple:
        """The modules (outermost first) whose cluster holds `t`: an op's scope, a parameter's owners."""
        if t._ctx is not None:
            return tuple(_scope_path(t._ctx)[0])
        named = id(t) if id(t) in self.names.tensors else self.names.view_of(t)
        if named is None:
            return ()
        parts = self.names.tensors[named].split(".")[:-1]
        owners = [self.names.module_by_name.get(".".join(parts[:i])) for i in range(len(parts) + 1)]
        return tuple(m for m in owners if m is not None)

    def _module_label(self, module: Any) -> str:
        name = self.names.modules.get(id(module))
        return f"{name}: {type(module).__name__}" if name else type(module).__name__

    def _users(self, nodes: list[Tensor]) -> dict[int, list[Tensor]]:
        """id(tensor) -> the op outputs that take it as an input, in drawing order."""
        users: dict[int, list[Tensor]] = {}
        for t in nodes:
            if t._ctx is not None:
                for p in t._ctx.parents:
                    users.setdefault(id(p), []).append(t)
        return users

    def detailed(self, nodes: list[Tensor], group_modules: bool) -> None:
        """One node per op and per leaf tensor; with group_modules, nested clusters per module."""
        users = self._users(nodes)  # a constant is drawn in the cluster of the first op that uses it
        tree: dict = {"nodes": [], "children": {}, "last": -1}
        for i, t in enumerate(nodes):
            anchor = users[id(t)][0] if self.kind(t) == "constant" and id(t) in users else t
            path = self._cluster_path(anchor) if group_modules else ()
            branch = tree
            for module in path:
                branch = branch["children"].setdefault(id(module), {"module": module, "nodes": [], "children": {},
                                                                    "last": -1})
                branch["last"] = i  # clusters are written in the order their last node is computed
            branch["nodes"].append(t)
        counter = iter(range(1_000_000))

        def emit(target: Any, branch: dict, path: tuple) -> None:
            for t in branch["nodes"]:
                self.node(target, t)
            for child in sorted(branch["children"].values(), key=lambda c: c["last"]):
                with target.subgraph(name=f"cluster_{next(counter)}") as sub:
                    sub.attr(label=self._module_label(child["module"]), style="rounded,dashed", color="#8a7fb0",
                             fontcolor="#5a4a8a", fontsize="11", **self.cluster_attrs(path + (child["module"],)))
                    emit(sub, child, path + (child["module"],))

        emit(self.graph, tree, ())
        for t in nodes:
            if t._ctx is not None:
                operands = _operand_labels(t._ctx)
                for i, p in enumerate(t._ctx.parents):
                    extra = {"headlabel": operands[i], **_OPERAND_STYLE} if operands else {}
                    self.graph.edge(self.ids[id(p)], self.ids[id(t)], **{**extra, **self.edge_attrs(p, t, i)})

    def cluster_attrs(self, path: tuple) -> dict[str, str]:
        """Extra Graphviz attributes of the cluster of the modules `path` (outermost first); none here."""
        return {}

    def edge_attrs(self, parent: TensorLike, t: Tensor, index: int) -> dict[str, str]:
        """Extra Graphviz attributes of the edge from input `index` (`parent`) to the op output `t`; none here."""
        return {}

    def collapsed(self, nodes: list[Tensor]) -> None:
        """One node per module (the children of the outermost module called); edges carry shapes.

        With backward ops in the graph, each module gets a second node for the gradient ops recorded
        while backpropagating through it, so the forward and backward passes stay apart.
        """
        member_of: dict[int, tuple[int, bool]] = {}  # id(op tensor) -> (id(module), backward?)
        found: dict[tuple[int, bool], tuple[int, Any]] = {}  # -> (index of its last op, module)
        for i, t in enumerate(nodes):
            if t._ctx is None or (id(t) in self.output_labels and _scope_path(t._ctx)[1]):
                continue  # gradients drawn by backward=True stay nodes of their own
            module = _collapsed_module(t._ctx)
            if module is not None:
                member_of[id(t)] = (id(module), _scope_path(t._ctx)[1])
                found[member_of[id(t)]] = (i, module)
        # module nodes are numbered in the order the modules finish computing
        ordered = sorted(found.items(), key=lambda item: item[1][0])
        key_of = {group: f"m{k}" for k, (group, _) in enumerate(ordered)}
        groups: dict[str, tuple[Any, bool]] = {key_of[group]: (module, group[1]) for group, (_, module) in ordered}
        group_of = {tensor_id: key_of[group] for tensor_id, group in member_of.items()}
        # a module that computes an output is drawn as that output (its label first)
        output_of = {group_of[tid]: label for tid, label in self.output_labels.items() if tid in group_of}
        # a leaf disappears into a module's node when only that module's ops use it (an output op, drawn
        # on its own, counts as its module's): its parameters and buffers, and constants such as eps
        users = self._users(nodes)
        hidden = set()
        used_buffers: dict[int, dict[str, str]] = {}  # id(module) -> its buffers the drawing reads (eval-mode BN)
        for t in nodes:
            if t._ctx is not None or id(t) in self.output_labels or id(t) not in users:
                continue
            user_modules = [_collapsed_module(u._ctx) for u in users[id(t)]]
            if any(m is None for m in user_modules):
                continue
            named = id(t) if id(t) in self.names.tensors else self.names.view_of(t)
            if self.kind(t) == "constant":
                hidden.add(id(t))
            elif named is not None and all(self._owns(m, self.names.tensors[named]) for m in user_modules):
                hidden.add(id(t))
                if self.kind(t) == "buffer":
                    module = user_modules[0]
                    prefix = self.names.modules.get(id(module))
                    name = self.names.tensors[named]
                    used_buffers.setdefault(id(module), {})[name] = \
                        f"{name[len(prefix) + 1:] if prefix else name}: {tuple(self.names.shapes[named])}"
        order = {name: i for i, name in enumerate(self.names.tensors.values())}
        for key, (module, is_backward) in groups.items():
            if is_backward:
                label, kind = f"{self._module_label(module)}\\nbackward", "backward module"
            else:
                shapes = [f"{n}: {tuple(p.shape)}" for n, p in getattr(module, "named_parameters", lambda: [])()]
                buffers = used_buffers.get(id(module), {})
                read = [buffers[n] for n in sorted(buffers, key=order.__getitem__)]
                lines = [self._module_label(module)] + shapes + read
                label, kind = "\\n".join(lines), "module"
            if key in output_of:
                label, kind = f"{output_of[key]}\\n{label}", "output"
            self.kinds_drawn.add(kind)
            self.graph.node(key, label, **STYLES[kind])
        for t in nodes:
            if id(t) not in group_of and id(t) not in hidden:
                self.node(self.graph, t)
        edges: dict[tuple[str, str], str] = {}
        for t in nodes:
            if t._ctx is None:
                continue
            dst = group_of.get(id(t), self.ids[id(t)])
            for p in t._ctx.parents:
                src = group_of.get(id(p), self.ids[id(p)])
                if id(p) not in hidden and src != dst:
                    edges.setdefault((src, dst), str(tuple(p.shape)) if self.show_shapes else "")
        for (src, dst), label in edges.items():
            self.graph.edge(src, dst, label=label, fontsize="9")

    def _owns(self, module: Any, name: str) -> bool:
        prefix = self.names.modules.get(id(module))
        return prefix is not None and (name.startswith(prefix + ".") if prefix else True)

    def legend(self) -> None:
        """A key of the node kinds this drawing uses, in the order of STYLES."""
        kinds = [kind for kind in STYLES if kind in self.kinds_drawn]
        with self.graph.subgraph(name="cluster_legend") as sub:
            sub.attr(label="legend", style="rounded", color="#bbbbbb", fontsize="10")
            previous = None
            for kind in kinds:
                node_id = f"legend_{kind.replace(' ', '_')}"
                sub.node(node_id, kind, **STYLES[kind])
                if previous:
                    sub.edge(previous, node_id, style="invis")
                previous = node_id
