"""How a drawn graph shows itself in Jupyter: as SVG rendered by Graphviz's `dot`, or, where `dot` is not
installed, as its DOT source with a note on how to get pictures, instead of an ExecutableNotFound error.

Imported by `draw_graph` only once the `graphviz` package is known to be installed.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import graphviz

NO_DOT_NOTE = ("Graphviz's `dot` program is not installed, so this graph is shown as its DOT source. For a picture, "
               "install it (`sudo apt-get install graphviz`, `brew install graphviz` or `conda install graphviz`) "
               "or paste the source into any Graphviz viewer.\n\n")


class Graph(graphviz.Digraph):
    """A `graphviz.Digraph` that a notebook displays as SVG, or as DOT source when `dot` is missing."""

    def _repr_mimebundle_(self, include: Iterable[str] | None = None, exclude: Iterable[str] | None = None,
                          **kwargs: Any) -> dict[str, Any]:
        """What Jupyter shows: graphviz's rendered image, or a note and the DOT source without `dot`."""
        try:
            bundle: dict[str, Any] = super()._repr_mimebundle_(include, exclude, **kwargs)
            return bundle
        except graphviz.ExecutableNotFound:
            return {"text/plain": NO_DOT_NOTE + self.source}
