#!/usr/bin/env python3
"""How long draw_graph takes on a realistic model: a 5-hidden-layer MLP with batch norm.

The model is `nn.MLP(784, [100] * 5, 10, batchnorm=True)` (MNIST-sized, the source material's net),
run forward on one batch (default 100 examples) in training mode. The script then times `draw_graph`
on its output, building the Graphviz Digraph only (no `dot` process, no file), for the drawings a
person makes: detailed (every op in module clusters), collapsed (one node per module), the backward
graph (which also runs the gradient computation with create_graph), and detailed with values.

Each drawing is made `--repeat` times and the table shows the minimum and the median in seconds, with
the number of nodes and visible edges in the DOT text. The target from the issue is "well under one
second" for the forward graph; the last column says whether the minimum is below 1 s.

    python3 benchmarks/bench_viz.py
    python3 benchmarks/bench_viz.py --batch 256 --repeat 10
    python3 benchmarks/bench_viz.py --render /tmp/mlp.svg      # also time `dot` on the detailed graph
"""
from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tinygrad_bn import Tensor, manual_seed, nn  # noqa: E402
from tinygrad_bn.viz import draw_graph, render  # noqa: E402

DRAWINGS = {
    "detailed": {},
    "collapsed": {"collapse_modules": True},
    "backward": {"backward": True},
    "backward, collapsed": {"backward": True, "collapse_modules": True},
    "detailed + values": {"show_values": True},
}


def count(source: str) -> tuple[int, int]:
    """(nodes, visible edges) of a DOT text, legend excluded."""
    nodes = edges = 0
    for line in source.splitlines():
        if "legend_" in line:
            continue
        if re.match(r"^\s*\w+ -> \w+", line):
            edges += 1
        elif re.match(r"^\s*\w+ \[label=", line):
            nodes += 1
    return nodes, edges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=100, help="examples in the batch (default 100)")
    parser.add_argument("--repeat", type=int, default=5, help="timings per drawing (default 5)")
    parser.add_argument("--render", default=None, help="also render the detailed graph to this file and time it")
    args = parser.parse_args(argv)

    manual_seed(0)
    model = nn.MLP(784, [100] * 5, 10, batchnorm=True)
    x = Tensor(np.random.default_rng(0).normal(size=(args.batch, 784)).astype(np.float32), name="x")
    y = model(x)
    print(f"MLP(784, [100]*5, 10, batchnorm=True), batch {args.batch}, {args.repeat} repeats")
    print(f"{'drawing':<22}{'nodes':>7}{'edges':>7}{'min s':>10}{'median s':>10}  < 1 s")
    detailed = None
    for label, options in DRAWINGS.items():
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            graph = draw_graph(y, params=model, **options)
            times.append(time.perf_counter() - start)
        nodes, edges = count(graph.source)
        best = min(times)
        print(f"{label:<22}{nodes:>7}{edges:>7}{best:>10.4f}{statistics.median(times):>10.4f}  "
              f"{'yes' if best < 1.0 else 'NO'}")
        if label == "detailed":
            detailed = graph
    if args.render:
        start = time.perf_counter()
        path = render(detailed, args.render)
        print(f"render detailed graph with dot -> {path}: {time.perf_counter() - start:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
