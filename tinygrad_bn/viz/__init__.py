"""Pictures of computation graphs: `draw_graph` builds a Graphviz Digraph, `render` writes it to a file.

Needs the `graphviz` Python package (`pip install 'tinygrad_bn[viz]'`); rendering SVG/PNG/PDF also
needs Graphviz's `dot` program, while `.dot`/`.gv` output needs nothing more. `explore` builds an interactive
page of a graph (values, gradients, collapsible modules; laid out by `dot`), shown inline in Jupyter;
`draw_tape` draws a compiled step's replayed program with its buffer plan.
"""
from .explore import Explorer, explore
from .graph import STYLES, draw_graph, trace
from .render import render
from .tape import draw_tape

__all__ = ["draw_graph", "draw_tape", "render", "trace", "explore", "Explorer", "STYLES"]
