"""Drawing a compiled step's program: what a replay runs, in order, and which buffers the values share.

`draw_tape(step)` takes a `jit`-compiled step that has been called until it replays (three calls) and
draws its planned program as a Graphviz Digraph: one node per replayed instruction (ops in blue, checks,
in-place updates of buffers and optimizer calls in their own colours), inputs, persistent tensors and
constants as leaves, and on each op the buffer its result is written to (`buf 3`): two ops showing the
same buffer reuse one piece of memory, as the liveness plan decided. Views are drawn dashed (no work at
replay: made once at planning).
"""
from __future__ import annotations

from typing import Any

from ..compiler import CompiledStep
from ..compiler.tape import CONST, INPUT, LEAF
from .graph import STYLES

# the styles of graph.STYLES (one table of colours for every picture), varied where a replayed
# instruction has no counterpart in an autodiff graph: views, checks, in-place updates, Python calls
_KIND_STYLE = {
    "OpCall": STYLES["op"],
    "view": {**STYLES["op"], "style": "rounded,dashed", "fillcolor": "#ffffff"},  # no work at replay
    "Check": {**STYLES["output"], "shape": "hexagon", "style": "filled"},
    "InPlace": {**STYLES["buffer"], "shape": "box", "style": "filled"},
    "PyCall": {**STYLES["module"], "shape": "component"},
    "SetGrad": {**STYLES["parameter"], "shape": "cds"},
}
_LEAF_STYLE = {INPUT: STYLES["input"], LEAF: STYLES["parameter"], CONST: STYLES["constant"]}


def draw_tape(step: CompiledStep, rankdir: str = "TB") -> Any:
    """The replayed program of `step` (its first stored program) as a graphviz.Digraph."""
    try:
        import graphviz
    except ImportError:
        raise ImportError("draw_tape needs the graphviz package: pip install 'tinygrad_bn[viz]'") from None
    # a program is built from its capture, so an entry with a program also has its tracer
    entries = [(e.program, e.tracer, e.persistent) for es in step.entries.values() for e in es
               if e.program is not None and e.tracer is not None]
    if not entries:
        raise ValueError("draw_tape: the step has no program yet; call it three times (two captures, then "
                         "replays) before drawing")
    program, tracer, persistent = entries[0]
    slots = tracer.slots
    dot = graphviz.Digraph("tape", graph_attr={"rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11"},
                           node_attr={"fontname": "Helvetica", "fontsize": "10"},
                           edge_attr={"fontname": "Helvetica", "fontsize": "9", "color": "#777777"})
    producer: dict[int, str] = {}
    drawn_leaves: set[int] = set()
    for k, item in enumerate(program.listing):
        node = f"i{k}"
        style = _KIND_STYLE["view"] if item["view"] else _KIND_STYLE.get(item["kind"], _KIND_STYLE["OpCall"])
        shapes = ", ".join(str(slots[w].shape) for w in item["writes"])
        buffers = [b for b in item["buffers"] if b is not None]
        label = item["name"] + (f"\n{shapes}" if shapes else "")
        if buffers and not item["view"]:
            label += "\nbuf " + ", ".join(str(b) for b in buffers)
        dot.node(node, label, **style)
        for r in dict.fromkeys(item["reads"]):
            if r in producer:
                dot.edge(producer[r], node)
                continue
            slot = slots[r]
            persistent_leaf = slot.kind == LEAF and r in persistent and slot.value.flags.writeable
            kind = INPUT if slot.kind == INPUT else LEAF if persistent_leaf else CONST
            leaf = f"s{r}"
            if r not in drawn_leaves:
                drawn_leaves.add(r)
                if kind == CONST and slot.value.size == 1:
                    text = f"{slot.value.reshape(-1)[0]:.4g}"
                else:
                    text = (slot.name or {INPUT: "input", LEAF: "tensor", CONST: "constant"}[kind]) + f"\n{slot.shape}"
                dot.node(leaf, text, **_LEAF_STYLE.get(kind, _LEAF_STYLE[CONST]))
            dot.edge(leaf, node)
        for w in item["writes"]:
            producer[w] = node
    return dot
