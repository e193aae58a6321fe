"""Helpers for the viz tests: a reader of the DOT text draw_graph writes, and a `dot`-free PATH.

The reader understands exactly the statements graphviz's Python package emits (one per line): node
statements, edge statements, `subgraph cluster_N {` ... `}` and the cluster's attribute line. It records
each node's attributes and the labels of the clusters around it, outermost first.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

import pytest

_ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|[^\s\]]+)')
_NODE = re.compile(r"^\s*(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$")
_SUBGRAPH = re.compile(r"^\s*subgraph (\w+) \{$")


def _attrs(text: str | None) -> dict[str, str]:
    out = {}
    for key, value in _ATTR.findall(text or ""):
        if value.startswith('"'):
            value = value[1:-1].replace('\\"', '"')
        out[key] = value
    return out


@dataclass
class Node:
    id: str
    attrs: dict[str, str]
    clusters: tuple[str, ...]  # labels of the enclosing clusters, outermost first

    @property
    def label(self) -> str:
        return self.attrs.get("label", "")

    @property
    def lines(self) -> list[str]:
        return self.label.split("\\n")

    @property
    def fill(self) -> str:
        return self.attrs.get("fillcolor", "")


@dataclass
class Dot:
    source: str
    nodes: dict[str, Node] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)  # visible edges only
    invisible_edges: int = 0
    clusters: list[tuple[str, ...]] = field(default_factory=list)  # each cluster's label path

    @classmethod
    def parse(cls, source: str) -> Dot:
        dot = cls(source)
        stack: list[list[str]] = []  # [subgraph name, label]
        for line in source.splitlines()[1:-1]:
            if m := _SUBGRAPH.match(line):
                stack.append([m.group(1), ""])
                continue
            if line.strip() == "}":
                name, _ = stack.pop()
                if name.startswith("cluster_"):
                    dot.clusters.append(tuple(label for _, label in stack) + (_,))
                continue
            if m := _EDGE.match(line):
                attrs = _attrs(m.group(3))
                if attrs.get("style") == "invis":
                    dot.invisible_edges += 1
                else:
                    dot.edges.append((m.group(1), m.group(2), attrs))
                continue
            if m := _NODE.match(line):
                if m.group(1) in ("graph", "node", "edge"):
                    continue
                dot.nodes[m.group(1)] = Node(m.group(1), _attrs(m.group(2)), tuple(label for _, label in stack))
                continue
            if stack and "label=" in line:  # a cluster's own attribute statement
                stack[-1][1] = _attrs(line)["label"]
                continue
            raise AssertionError(f"unexpected DOT line: {line!r}")
        assert not stack, "unbalanced subgraph braces"
        return dot

    def with_fill(self, fill: str) -> list[Node]:
        """The graph's nodes (not the legend's) of one colour."""
        return [n for n in self.graph_nodes() if n.fill == fill]

    def legend(self) -> list[str]:
        """The labels of the legend's nodes, in order."""
        return [n.label for n in self.nodes.values() if n.id.startswith("legend_")]

    def by_label(self, first_line: str) -> list[Node]:
        """Nodes whose label starts with this line (an op name, a parameter name, ...)."""
        return [n for n in self.graph_nodes() if n.lines[0] == first_line]

    def one(self, first_line: str) -> Node:
        found = self.by_label(first_line)
        assert len(found) == 1, f"expected one node {first_line!r}, found {[n.label for n in found]}"
        return found[0]

    def op_nodes(self, op: str) -> list[Node]:
        """Nodes of an op, including an output node whose second line is the op name."""
        return [n for n in self.graph_nodes() if op in n.lines[:2]]

    def graph_nodes(self) -> list[Node]:
        """Every node except the legend's."""
        return [n for n in self.nodes.values() if not n.id.startswith("legend_")]


@pytest.fixture
def parse_dot():
    """`parse_dot(graph_or_source) -> Dot`."""

    def parse(graph_or_source) -> Dot:
        source = graph_or_source if isinstance(graph_or_source, str) else graph_or_source.source
        return Dot.parse(source)

    return parse


@pytest.fixture
def no_dot_on_path(tmp_path, monkeypatch):
    """PATH set to an empty folder: Graphviz's `dot` (and everything else) cannot be found."""
    empty = tmp_path / "empty_path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    return empty


# ---------------------------------------------------------------------- a real browser for the HTML pages
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium driven by Playwright (never a downloaded browser); skips without either."""
    import shutil

    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(browser):
    """`open_page(path) -> page`: the file opened from disk, ready (its script ran); console errors and
    uncaught exceptions are collected in `page.errors`."""
    pages = []

    def open_(path, width=1400, height=900):
        page = browser.new_page(viewport={"width": width, "height": height})
        page.errors = []
        page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: page.errors.append(str(error)))
        page.goto(path.resolve().as_uri())
        page.wait_for_selector("body[data-ready=true]", timeout=20_000)
        pages.append(page)
        return page

    yield open_
    for page in pages:
        page.close()


@pytest.fixture
def not_blank():
    """`not_blank(png) -> bool`: whether a screenshot shows something (many colours, not all one colour)."""
    from io import BytesIO

    image_module = pytest.importorskip("PIL.Image", reason="Pillow is not installed")

    def check(png: bytes) -> bool:
        image = image_module.open(BytesIO(png)).convert("RGB")
        colours = image.getcolors(maxcolors=1 << 20)
        most = max(count for count, _ in colours)
        return len(colours) > 20 and most < 0.97 * image.width * image.height

    return check
