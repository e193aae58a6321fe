"""The page of a watched training run: a slider over the records of `DIR/watch.json`, one row per layer,
histograms of its activations (before and after BN) and of the gradients there. Self-contained like the
explorer: the data, script and style are inlined, so the page opens from disk without a server."""
from __future__ import annotations

import html
import os
import re
from pathlib import Path
from typing import Any

from ..serialization import atomic_write
from .explore import _asset, _json_for_script

WATCH_PAGE = "watch.html"


def watch_page(data: dict[str, Any]) -> str:
    """The HTML page of watch data (as `train.watch.load_watch` returns it)."""
    title = f"Watching {data.get('title', 'a training run')}"
    parts = {"STYLE": _asset("watch.css"), "SCRIPT": _asset("watch.js"), "DATA": _json_for_script(data),
             "TITLE": html.escape(title)}
    return re.sub(r"\{\{([A-Z]+)\}\}", lambda m: parts[m.group(1)], _asset("watch.html"))


def write_watch_page(directory: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Read `directory/watch.json` and write its page to `output` (default `directory/watch.html`)."""
    from ..train.watch import load_watch

    data = load_watch(directory)
    page = watch_page(data)
    target = Path(output) if output is not None else Path(directory) / WATCH_PAGE
    return atomic_write(target, lambda f: f.write(page.encode("utf-8")))
