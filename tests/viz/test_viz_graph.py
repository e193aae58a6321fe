"""draw_graph: what the DOT text says about batch norm's graph (no Graphviz program needed)."""
from __future__ import annotations

import numpy as np
import pytest

graphviz = pytest.importorskip("graphviz")

from tinygrad_bn import Tensor, manual_seed, nn  # noqa: E402
from tinygrad_bn.autograd import topological_order  # noqa: E402
from tinygrad_bn.viz import STYLES, draw_graph, trace  # noqa: E402

FILL = {kind: style["fillcolor"] for kind, style in STYLES.items()}


def batch(shape=(8, 4), seed=0, requires_grad=True, name="x"):
    data = np.random.default_rng(seed).normal(2.0, 3.0, size=shape).astype(np.float32)
    return Tensor(data, requires_grad=requires_grad, name=name)


def small_model(seed=0):
    manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU())


def recorded_links(*outputs):
    """Sum of len(fn.parents) over the recorded ops reached from the outputs."""
    return sum(len(t._ctx.parents) for t in topological_order(outputs, follow_all=True) if t._ctx is not None)


def op_counts(dot, cluster=None):
    counts = {}
    for n in dot.graph_nodes():
        if n.fill not in (FILL["op"], FILL["output"]) or (cluster and cluster not in n.clusters):
            continue
        op = n.lines[1] if n.fill == FILL["output"] else n.lines[0]
        counts[op] = counts.get(op, 0) + 1
    return counts


# ----------------------------------------------------------------------------- the forward graph of BN


def test_batchnorm_train_graph_is_the_composition_of_primitive_ops(parse_dot):
    bn = nn.BatchNorm1d(4)
    dot = parse_dot(draw_graph(bn(batch()), params=bn))
    # mean, x - mean, (x - mean)^2, its mean, + eps, sqrt, /, * weight, + bias: exactly these ops
    assert op_counts(dot) == {"Mean": 2, "Sub": 1, "Mul": 2, "Add": 2, "Sqrt": 1, "Div": 1}
    assert all(n.clusters == ("BatchNorm1d",) for n in dot.graph_nodes() if n.fill == FILL["op"])
    assert dot.one("x").fill == FILL["input"] and dot.one("x").clusters == ()
    assert dot.one("weight").fill == FILL["parameter"] and dot.one("bias").fill == FILL["parameter"]
    assert dot.one("1e-05").fill == FILL["constant"]  # eps is drawn as its value
    assert [n.lines[2] for n in dot.op_nodes("Mean")] == ["(1, 4)", "(1, 4)"]  # shapes shown by default
    assert all(n.lines[1] == "axis=(0,)" for n in dot.op_nodes("Mean"))
    (out,) = dot.with_fill(FILL["output"])
    assert out.lines == ["output", "Add", "(8, 4)"]


def test_mlp_clusters_are_labelled_with_module_names(parse_dot):
    model = small_model()
    dot = parse_dot(draw_graph(model(batch((6, 5))), params=model))
    assert set(dot.clusters) == {("Sequential",), ("Sequential", "0: Linear"), ("Sequential", "1: BatchNorm1d"),
                                 ("Sequential", "2: ReLU"), ("legend",)}
    bn_ops = op_counts(dot, cluster="1: BatchNorm1d")
    assert bn_ops == {"Mean": 2, "Sub": 1, "Mul": 2, "Add": 2, "Sqrt": 1, "Div": 1}
    assert op_counts(dot, cluster="0: Linear") == {"Linear": 1}
    assert op_counts(dot, cluster="2: ReLU") == {"Relu": 1}
    for name, cluster in [("0.weight", "0: Linear"), ("0.bias", "0: Linear"), ("1.weight", "1: BatchNorm1d"),
                          ("1.bias", "1: BatchNorm1d")]:
        node = dot.one(name)
        assert node.fill == FILL["parameter"]
        assert node.clusters == ("Sequential", cluster)
    assert not dot.by_label("1.running_mean")  # training mode normalizes with the batch statistics


def test_edges_are_the_recorded_input_links(parse_dot):
    model = small_model()
    x = batch((6, 5))
    y = model(x)
    loss = (y * y).mean()
    for outputs in [(y,), (loss,), (y, loss)]:
        for legend in (True, False):
            dot = parse_dot(draw_graph(*outputs, params=model, legend=legend))
            assert len(dot.edges) == recorded_links(*outputs)
            assert len(dot.graph_nodes()) == len(topological_order(outputs, follow_all=True))
            assert all(a in dot.nodes and b in dot.nodes for a, b, _ in dot.edges)
    # x * x is one op with two links from the same tensor: both are drawn
    sub = dot.op_nodes("Sub")[0].id
    assert sum(1 for a, b, _ in dot.edges if a == sub and dot.nodes[b].lines[0] == "Mul") == 2


def test_operand_order_is_marked_on_sub_and_div(parse_dot):
    x = batch()
    m = x.mean(axis=0, keepdims=True)
    y = (x - m) / (m + 1.0)
    dot = parse_dot(draw_graph(y))
    sub, div = dot.op_nodes("Sub")[0], dot.op_nodes("Div")[0]
    assert sub.lines == ["Sub", "a - b", "(8, 4)"] and div.lines == ["output", "Div", "a / b", "(8, 4)"]
    into_sub = {dot.nodes[a].lines[0]: attrs["headlabel"] for a, b, attrs in dot.edges if b == sub.id}
    assert into_sub == {"x": "a", "Mean": "b"}
    into_div = {dot.nodes[a].lines[0]: attrs["headlabel"] for a, b, attrs in dot.edges if b == div.id}
    assert into_div == {"Sub": "a", "Add": "b"}
    assert all("headlabel" not in attrs for a, b, attrs in dot.edges if dot.nodes[b].lines[0] == "Add")


# ----------------------------------------------------------------------------- train and eval


def test_eval_graph_uses_running_statistics_instead_of_batch_statistics(parse_dot):
    model = small_model()
    x = batch((6, 5))
    model(x)  # one training step, so the running statistics are not 0 and 1
    train_dot = parse_dot(draw_graph(model(x), params=model))
    model.eval()
    with trace():
        y = model(x)
    eval_dot = parse_dot(draw_graph(y, params=model))

    assert op_counts(train_dot, "1: BatchNorm1d")["Mean"] == 2
    bn_eval = op_counts(eval_dot, "1: BatchNorm1d")
    assert "Mean" not in bn_eval  # no batch statistics in eval mode
    assert bn_eval == {"Sub": 1, "Add": 2, "Sqrt": 1, "Div": 1, "Mul": 1}  # (N, C) input: no reshapes needed
    for name in ("1.running_mean", "1.running_var"):
        node = eval_dot.one(name)
        assert node.fill == FILL["buffer"] and node.clusters == ("Sequential", "1: BatchNorm1d")
        assert not train_dot.by_label(name)
    # running_mean feeds the subtraction directly (as b), running_var the addition of eps before the sqrt
    rm = eval_dot.one("1.running_mean").id
    assert [(eval_dot.nodes[b].lines[0], attrs["headlabel"]) for a, b, attrs in eval_dot.edges if a == rm] \
        == [("Sub", "b")]
    rv = eval_dot.one("1.running_var").id
    assert [eval_dot.nodes[b].lines[0] for a, b, _ in eval_dot.edges if a == rv] == ["Add"]
    assert len(eval_dot.edges) == recorded_links(y)


def test_eval_without_trace_shows_running_statistics(parse_dot):
    bn = nn.BatchNorm1d(4)
    x = batch()
    bn(x)
    bn.eval()
    dot = parse_dot(draw_graph(bn(x), params=bn))
    node = dot.one("running_mean")  # (N, C) input: the buffer itself is subtracted
    assert node.fill == FILL["buffer"] and node.lines[1] == "(4,)"
    assert "Mean" not in op_counts(dot) and "Sqrt" not in op_counts(dot)


def test_eval_without_trace_shows_reshaped_running_statistics_as_views(parse_dot):
    bn = nn.BatchNorm2d(3)
    x = Tensor(np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype(np.float32), requires_grad=True, name="x")
    bn(x)
    bn.eval()
    dot = parse_dot(draw_graph(bn(x), params=bn))
    node = dot.one("running_mean (view)")  # reshape was not recorded: the drawing names the viewed buffer
    assert node.fill == FILL["buffer"] and node.lines[1] == "(1, 3, 1, 1)"


# ----------------------------------------------------------------------------- what a node shows


def test_show_values_gives_mean_std_min_max(parse_dot):
    bn = nn.BatchNorm1d(4)
    x = batch()
    y = bn(x)
    dot = parse_dot(draw_graph(y, params=bn, show_values=True))
    d = x.data.astype(np.float64)
    assert dot.one("x").lines == ["x", "(8, 4)", f"mean {d.mean():.4g} std {d.std():.4g}",
                                  f"min {d.min():.4g} max {d.max():.4g}"]
    out = dot.with_fill(FILL["output"])[0]
    assert out.lines[3].startswith("mean ") and out.lines[3].endswith(" std 1")  # normalized: std 1
    assert abs(float(out.lines[3].split()[1])) < 1e-5
    assert dot.one("weight").lines[2:] == ["mean 1 std 0", "min 1 max 1"]
    plain = parse_dot(draw_graph(y, params=bn))
    assert not any("mean " in n.label for n in plain.nodes.values())


def test_show_dtypes_and_hiding_shapes(parse_dot):
    x = batch()
    y = x.double() * 2
    dot = parse_dot(draw_graph(y, show_dtypes=True))
    assert dot.one("x").lines == ["x", "(8, 4)", "float32"]
    assert dot.with_fill(FILL["output"])[0].lines[-1] == "float64"
    assert dot.op_nodes("Cast")[0].lines == ["Cast", "from float32", "(8, 4)", "float64"]
    bare = parse_dot(draw_graph(y, show_shapes=False))
    assert bare.one("x").lines == ["x"]


def test_show_grads_after_backward(parse_dot):
    bn = nn.BatchNorm1d(4)
    bn.weight.data[...] = np.array([1.0, 2.0, -1.0, 0.5], dtype=np.float32)
    x = batch()
    y = bn(x)
    (y * y * y).sum().backward()
    dot = parse_dot(draw_graph(y, params=bn, show_grads=True))
    for name, t in [("weight", bn.weight), ("bias", bn.bias), ("x", x)]:
        norm = float(np.linalg.norm(t.grad.data))
        assert norm > 0
        assert dot.one(name).lines[-1] == f"grad {tuple(t.shape)} norm {norm:.4g}"
    assert not any("grad" in n.label for n in dot.op_nodes("Sub"))  # non-leaves keep no gradient
    assert not any("grad" in n.label for n in parse_dot(draw_graph(y, params=bn)).nodes.values())


def test_params_as_a_dict_and_unnamed_inputs(parse_dot):
    w = Tensor(np.ones((3, 2), np.float32), requires_grad=True)
    running = Tensor(np.zeros(2, np.float32))
    a = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3))  # plain data, no name, no grad
    b = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    y = (a + b) @ w - running
    dot = parse_dot(draw_graph(y, params={"w": w, "running": running}))
    assert dot.one("w").fill == FILL["parameter"]
    assert dot.one("running").fill == FILL["buffer"]
    assert dot.one("input 0").fill == FILL["input"] and dot.one("input 0").lines[1] == "(2, 3)"
    assert dot.one("input 1").fill == FILL["input"]
    add = dot.op_nodes("Add")[0].id
    assert {dot.nodes[a_].lines[0] for a_, b_, _ in dot.edges if b_ == add} == {"input 0", "input 1"}


def test_constants_inputs_and_masks(parse_dot):
    x = batch()
    y = (x * 0.5 + 3.0).relu()
    z = y * Tensor(x.data > 0) - np.full((8, 4), 2.0)  # a boolean mask, and data given as an array
    dot = parse_dot(draw_graph(z))
    assert dot.one("0.5").fill == FILL["constant"] and dot.one("3").fill == FILL["constant"]
    assert dot.one("mask").fill == FILL["constant"] and dot.one("mask").lines[1] == "(8, 4)"
    assert dot.one("input").fill == FILL["input"]  # the array operand is data, not a constant of an op
    assert dot.one("input").clusters == ()


# ----------------------------------------------------------------------------- modules


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4))
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.body(x))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.first = Block()
        self.second = Block()

    def forward(self, x):
        return self.second(self.first(x))


def test_nested_modules_give_nested_clusters(parse_dot):
    manual_seed(0)
    net = Net()
    dot = parse_dot(draw_graph(net(batch()), params=net))
    for block in ("first", "second"):
        path = ("Net", f"{block}: Block", f"{block}.body: Sequential", f"{block}.body.1: BatchNorm1d")
        assert path in dot.clusters
        sqrt = [n for n in dot.op_nodes("Sqrt") if n.clusters == path]
        assert len(sqrt) == 1
        assert dot.one(f"{block}.body.0.weight").clusters == path[:3] + (f"{block}.body.0: Linear",)
        assert [n.clusters for n in dot.op_nodes("Tanh") if f"{block}: Block" in n.clusters] == \
            [("Net", f"{block}: Block", f"{block}.act: Tanh")]
    flat = parse_dot(draw_graph(net(batch()), params=net, group_modules=False))
    assert flat.clusters == [("legend",)]
    assert len(flat.graph_nodes()) == len(dot.graph_nodes())
    unnamed = parse_dot(draw_graph(net(batch())))  # without params: type names only
    assert ("Net", "Block", "Sequential", "BatchNorm1d") in unnamed.clusters


def test_collapse_modules_draws_one_node_per_module(parse_dot):
    manual_seed(0)
    model = nn.MLP(8, [16, 16], 4, batchnorm=True)
    y = model(batch((16, 8)))
    dot = parse_dot(draw_graph(y, params=model, collapse_modules=True))
    modules = dot.with_fill(FILL["module"])
    children = [f"{name}: {type(m).__name__}" for name, m in model.named_children()]
    assert [n.lines[0] for n in modules] == children[:-1]  # one node each, in order
    (out,) = dot.with_fill(FILL["output"])  # the last module computes the output: drawn as the output
    assert out.lines == ["output", children[-1], "weight: (4, 16)", "bias: (4,)"]
    assert dot.one("1: BatchNorm1d").lines[1:] == ["weight: (16,)", "bias: (16,)"]
    kinds = {n.fill for n in dot.graph_nodes()}
    assert kinds == {FILL["module"], FILL["input"], FILL["output"]}  # no op, parameter or constant nodes
    # the chain x -> 0 -> 1 -> ... -> 5 -> output (6), edges labelled with the shapes passed along
    ids = {n.lines[0]: n.id for n in dot.graph_nodes()}
    chain = ["x"] + children[:-1] + ["output"]
    assert [(a, b) for a, b, _ in dot.edges] == [(ids[p], ids[q]) for p, q in zip(chain[:-1], chain[1:])]
    assert [attrs["label"] for _, _, attrs in dot.edges][:3] == ["(16, 8)", "(16, 16)", "(16, 16)"]
    legend = dot.legend()
    assert legend == ["input", "module", "output"]


def test_collapsed_eval_module_lists_the_running_statistics_it_reads(parse_dot):
    manual_seed(0)
    model = nn.MLP(8, [16], 4, batchnorm=True)
    x = batch((16, 8))
    train = parse_dot(draw_graph(model(x), params=model, collapse_modules=True))
    assert train.one("1: BatchNorm1d").lines[1:] == ["weight: (16,)", "bias: (16,)"]
    model.eval()
    with trace():
        y = model(x)
    dot = parse_dot(draw_graph(y, params=model, collapse_modules=True))
    assert dot.one("1: BatchNorm1d").lines[1:] == ["weight: (16,)", "bias: (16,)", "running_mean: (16,)",
                                                   "running_var: (16,)"]
    assert {n.fill for n in dot.graph_nodes()} == {FILL["module"], FILL["input"], FILL["output"]}
    # untraced, sqrt(running_var + eps) is computed unrecorded (a constant); running_mean enters as a view
    dot = parse_dot(draw_graph(model(x), params=model, collapse_modules=True))
    assert dot.one("1: BatchNorm1d").lines[1:] == ["weight: (16,)", "bias: (16,)", "running_mean: (16,)"]


def test_collapsed_backward_keeps_forward_and_backward_apart(parse_dot):
    manual_seed(0)
    model = nn.MLP(8, [16], 4, batchnorm=True)
    y = model(batch((16, 8)))
    dot = parse_dot(draw_graph(y, params=model, collapse_modules=True, backward=True))
    forward = {n.lines[0] for n in dot.graph_nodes() if n.fill == FILL["module"]}
    backward = {n.lines[0] for n in dot.graph_nodes() if n.fill == FILL["backward module"]}
    assert all(n.lines[1] == "backward" for n in dot.graph_nodes() if n.fill == FILL["backward module"])
    assert backward == {"0: Linear", "1: BatchNorm1d", "2: ReLU", "3: Linear"}
    assert forward <= backward
    grads = {n.lines[0] for n in dot.graph_nodes() if n.fill == FILL["output"]}
    assert grads == {"grad of x"} | {f"grad of {name}" for name, _ in model.named_parameters()}


# ----------------------------------------------------------------------------- the backward graph


def test_backward_graph_draws_gradient_ops_and_grad_outputs(parse_dot):
    bn = nn.BatchNorm1d(4)
    x = batch()
    y = bn(x)
    dot = parse_dot(draw_graph(y, params=bn, backward=True))
    backward_ops = dot.with_fill(FILL["backward op"])
    assert len(backward_ops) > 10
    assert all(n.attrs["color"] == STYLES["backward op"]["color"] for n in backward_ops)
    assert all(n.clusters == ("BatchNorm1d",) for n in backward_ops)  # in the forward op's module
    outputs = {n.lines[0]: n for n in dot.with_fill(FILL["output"])}
    assert set(outputs) == {"grad of x", "grad of weight", "grad of bias"}
    assert outputs["grad of x"].lines[-1] == "(8, 4)" and outputs["grad of weight"].lines[-1] == "(4,)"
    seed = dot.one("grad of output (seed: ones)")
    assert seed.fill == FILL["input"] and seed.lines[1] == "(8, 4)"
    # the forward ops the gradients reuse are drawn as forward ops; no .grad was touched
    assert dot.op_nodes("Sqrt")[0].fill == FILL["op"]
    assert bn.weight.grad is None and x.grad is None
    legend = dot.legend()
    assert "backward op" in legend
    # every gradient is connected: it reaches the seed through the edges
    parents = {}
    for a, b, _ in dot.edges:
        parents.setdefault(b, []).append(a)
    for out in outputs.values():
        todo, reached = [out.id], set()
        while todo:
            node = todo.pop()
            reached.add(node)
            todo.extend(p for p in parents.get(node, []) if p not in reached)
        assert seed.id in reached, out.lines[0]


def test_backward_graph_edges_match_the_recorded_gradient_graph(parse_dot):
    from tinygrad_bn import grad

    bn = nn.BatchNorm1d(4)
    x = batch()
    y = bn(x)
    dot = parse_dot(draw_graph(y, params=bn, backward=True, legend=False))
    with trace():
        grads = grad(y, [x, bn.weight, bn.bias], grad_outputs=Tensor(np.ones((8, 4), np.float32)),
                     create_graph=True)
    assert len(dot.edges) == recorded_links(*grads)
    assert len(dot.nodes) == len(topological_order(grads, follow_all=True))


def test_backward_graph_of_a_sum_names_every_leaf_sharing_a_gradient(parse_dot):
    a = Tensor(np.ones(3, np.float32), requires_grad=True, name="a")
    b = Tensor(np.ones(3, np.float32), requires_grad=True, name="b")
    dot = parse_dot(draw_graph(a + b, backward=True))
    (node,) = dot.graph_nodes()  # Add passes the seed on unchanged: both gradients are that one tensor
    assert node.lines == ["grad of a = grad of b = seed (ones)", "(3,)"] and node.fill == FILL["output"]
    dot = parse_dot(draw_graph(a * b + a, backward=True))
    assert dot.one("grad of a").lines[1] == "Add" and dot.one("grad of b").lines[1] == "Mul"


# ----------------------------------------------------------------------------- determinism and errors


def test_same_computation_gives_identical_dot_text():
    def build(**options):
        manual_seed(3)
        model = nn.MLP(6, [5, 5], 3, batchnorm=True)
        x = batch((7, 6), seed=1)
        return draw_graph(model(x), params=model, **options).source

    for options in [{}, {"show_values": True}, {"collapse_modules": True}, {"backward": True}]:
        first, second = build(**options), build(**options)
        assert first == second
    assert build() != build(rankdir="LR")
    assert 'rankdir=LR' in build(rankdir="LR")


def test_draw_graph_errors():
    x = batch()
    with pytest.raises(ValueError, match="at least one output"):
        draw_graph()
    with pytest.raises(TypeError, match="output 1 is a ndarray, not a Tensor"):
        draw_graph(x, x.data)
    with pytest.raises(TypeError, match="params must be a Module or a dict"):
        draw_graph(x * 2, params=[x])
    with pytest.raises(TypeError, match=r"params\['w'\] is a int"):
        draw_graph(x * 2, params={"w": 3})
    with pytest.raises(ValueError, match="rankdir"):
        draw_graph(x * 2, rankdir="sideways")
    with pytest.raises(ValueError, match="no input of the outputs requires grad"):
        draw_graph(Tensor([1.0, 2.0]) * 2, backward=True)


def test_drawing_after_backward_and_backward_graph_of_a_freed_graph(parse_dot):
    bn = nn.BatchNorm1d(4)
    x = batch()
    y = bn(x)
    y.sum().backward()  # frees the saved values, keeps the links
    dot = parse_dot(draw_graph(y, params=bn))
    assert op_counts(dot) == {"Mean": 2, "Sub": 1, "Mul": 2, "Add": 2, "Sqrt": 1, "Div": 1}
    with pytest.raises(RuntimeError, match="draw_graph\\(backward=True\\).*retain_graph"):
        draw_graph(y, params=bn, backward=True)


def test_legend_lists_only_the_kinds_drawn(parse_dot):
    x = batch()
    dot = parse_dot(draw_graph(x * 2.0 + x))
    legend = dot.legend()
    assert legend == ["op", "input", "constant", "output"]
    assert dot.invisible_edges == len(legend) - 1
    assert dot.clusters == [("legend",)]
    bare = parse_dot(draw_graph(x * 2.0 + x, legend=False))
    assert bare.clusters == [] and bare.invisible_edges == 0
    assert len(bare.nodes) == len(dot.nodes) - len(legend)
