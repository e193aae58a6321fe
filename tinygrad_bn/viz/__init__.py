"""Pictures of computation graphs: `draw_graph` builds a Graphviz Digraph, `render` writes it to a file.

Needs the `graphviz` Python package (`pip install 'tinygrad_bn[viz]'`); rendering SVG/PNG/PDF also
needs Graphviz's `dot` program, while `.dot`/`.gv` output needs nothing more.
"""
from .graph import STYLES, draw_graph, trace
from .render import render

__all__ = ["draw_graph", "render", "trace", "STYLES"]
