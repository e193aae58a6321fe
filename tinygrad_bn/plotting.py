"""Figures for files, made with matplotlib's object API: no pyplot, so no global backend is switched (a
notebook's inline plots keep working) and no figure stays open after it is saved."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .serialization import atomic_write


def subplots(*args: Any, figsize: tuple[float, float] | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """(figure, axes) like `plt.subplots`, but for a standalone Figure (needs matplotlib)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kwargs)


def save_png(fig: Any, path: str | os.PathLike, dpi: int = 100) -> Path:
    """Write the figure as PNG, atomically."""
    return atomic_write(path, lambda f: fig.savefig(f, format="png", dpi=dpi, bbox_inches="tight"))
