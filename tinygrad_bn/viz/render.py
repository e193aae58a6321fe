"""Writing a graph to a file: SVG, PNG or PDF through Graphviz's `dot`, or the DOT source itself."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..serialization import atomic_write
from ..tensor import Tensor

RENDERED = ("svg", "png", "pdf")
SOURCE = ("dot", "gv")


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's `dot` program is not installed (or not on PATH)."""


def render(graph_or_tensor: Any, path: str | os.PathLike, format: str | None = None) -> Path:  # noqa: A002
    """Write a Digraph (or the graph of a Tensor, drawn with default options) to `path`.

    The format comes from `format` or the file's suffix: svg, png and pdf are rendered by `dot`;
    dot and gv write the DOT source and need no Graphviz program. Files are written atomically.
    """
    from .graph import draw_graph

    graph = draw_graph(graph_or_tensor) if isinstance(graph_or_tensor, Tensor) else graph_or_tensor
    if not (hasattr(graph, "source") and hasattr(graph, "pipe")):
        raise TypeError(f"render: expected a graphviz Digraph or a Tensor, got {type(graph_or_tensor).__name__}")
    path = Path(path)
    fmt = (format or path.suffix).lstrip(".").lower()
    if fmt in SOURCE:
        return atomic_write(path, lambda f: f.write(graph.source.encode()))
    if fmt not in RENDERED:
        raise ValueError(
            f"render: unknown format {fmt!r} for {path}; use one of {', '.join(RENDERED + SOURCE)}"
        )
    import graphviz

    try:
        data = graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise GraphvizNotFoundError(
            f"render: Graphviz's `dot` program was not found on PATH, so {path.name} cannot be rendered as "
            f"{fmt}. Install the system package: `sudo apt-get install graphviz` (Debian/Ubuntu), "
            "`brew install graphviz` (macOS), `conda install graphviz`. Writing .dot or .gv output works without it."
        ) from None
    return atomic_write(path, lambda f: f.write(data))
