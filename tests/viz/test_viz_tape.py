"""`viz.draw_tape`: a compiled step's replayed program, and the committed figure of docs/compile.md.

Regenerate the figure with: python -c "import sys; sys.path.insert(0, 'tests/viz'); import test_viz_tape as t;
t.write_figure()"
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("graphviz")

import tinygrad_bn as tg  # noqa: E402
from tinygrad_bn import Tensor, nn, optim  # noqa: E402
from tinygrad_bn.viz import draw_tape, render  # noqa: E402

FIGURE = Path(__file__).resolve().parents[2] / "docs" / "figures" / "bn_tape"


def bn_step() -> tg.CompiledStep:
    """A BatchNorm1d(4) trained on a squared error with SGD, compiled and called until it replays."""
    tg.manual_seed(0)
    bn = nn.BatchNorm1d(4)
    opt = optim.SGD(bn.parameters(), lr=0.1)

    @tg.jit
    def step(x: Tensor, target: Tensor) -> Tensor:
        opt.zero_grad()
        loss = ((bn(x) - target) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    rng = np.random.default_rng(0)
    for _ in range(3):
        step(Tensor(rng.normal(2, 3, (8, 4)).astype(np.float32)), Tensor(rng.normal(size=(8, 4)).astype(np.float32)))
    return step


def write_figure() -> None:
    graph = draw_tape(bn_step())
    FIGURE.with_suffix(".gv").write_text(graph.source)
    render(graph, FIGURE.with_suffix(".svg"))


def test_draws_every_replayed_call_with_its_buffer():
    step = bn_step()
    source = draw_tape(step).source
    program = step.entries[next(iter(step.entries))][0].program
    assert source.count("->") > len(program.listing)  # every call drawn, connected to what it reads
    for name in ("Mean", "Sqrt", "Div", "check_finite", "batch_norm.running_mean", "SGD.step", "SetGrad"):
        assert name in source, name
    assert "buf 1" in source
    assert "Equal" not in source  # the power rule's zero-exponent path was simplified away for x ** 2


def test_before_any_replay_there_is_nothing_to_draw():
    step = tg.jit(lambda x: x * 2)
    with pytest.raises(ValueError, match="no program yet"):
        draw_tape(step)


def test_committed_figure_is_what_the_code_draws():
    assert draw_tape(bn_step()).source == FIGURE.with_suffix(".gv").read_text(), (
        "docs/figures/bn_tape is stale: regenerate it as this file's docstring says")
    if shutil.which("dot"):
        assert FIGURE.with_suffix(".svg").stat().st_size > 0
