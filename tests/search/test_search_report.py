"""search-report: the table of the best trials, the plot of a log (log axes for log dimensions), and the
command `python -m tinygrad_bn search-report LOG`, which shows every round of a coarse-to-fine search with
the space of each (the refined ones visibly narrower)."""
import matplotlib
import pytest
from search_objectives import bowl, fails_above

from tinygrad_bn import search
from tinygrad_bn.cli import main
from tinygrad_bn.search import Trial

matplotlib.use("Agg")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SPACE = {
    "lr": search.loguniform(1e-4, 1e-1),
    "beta": search.one_minus_loguniform(0.9, 0.999),
    "hidden": search.integer(16, 256),
    "activation": search.choice(["relu", "sigmoid"]),
    "dropout": search.uniform(0.0, 0.5),
}


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "search.jsonl"
    search.random_search(bowl, SPACE, n_trials=12, seed=0, jobs=1, log=path, progress=False)
    return path


def test_best_table_ranks_finished_trials():
    trials = [Trial(0, {"lr": 0.0123456, "act": "relu"}, 0.5, 1.25), Trial(1, {"lr": 0.1, "act": "tanh"}, None, 0.5,
                                                                            error="boom"),
              Trial(2, {"lr": 0.001, "act": "sigmoid"}, 0.25, 2.0), Trial(3, {"lr": 0.2, "act": "relu"}, 0.75, 3.0)]
    lines = search.best_table(trials, top=2).splitlines()
    assert lines[0].split() == ["rank", "trial", "value", "lr", "act", "seconds"]
    assert lines[1].split() == ["1", "2", "0.25", "0.001", "sigmoid", "2.0"]
    assert lines[2].split() == ["2", "0", "0.5", "0.01235", "relu", "1.2"]  # 4 significant digits
    assert lines[3] == "3 finished, 1 failed"
    assert len(lines) == 4
    assert len({len(line) for line in lines[:3]}) == 1  # aligned columns
    assert search.best_table(trials[1:2]) == "no finished trials (1 failed)"


def test_best_table_of_a_log(log):
    header, trials = search.read_log(log)
    table = search.best_table(trials, top=3).splitlines()
    best = min(trials, key=lambda t: t.value)
    assert table[1].split()[:3] == ["1", str(best.trial), f"{best.value:.4g}"]
    assert table[-1] == "12 finished, 0 failed"


def test_plot_log_writes_a_png_with_log_axes_for_log_dimensions(log, tmp_path, monkeypatch):
    from tinygrad_bn import plotting

    made = []
    subplots = plotting.subplots

    def recording_subplots(*args, **kwargs):
        made.append(subplots(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(plotting, "subplots", recording_subplots)
    out = search.plot_log(log, tmp_path / "plots" / "search.png")
    assert out == tmp_path / "plots" / "search.png" and out.read_bytes()[:8] == PNG_MAGIC
    (fig, axes), = made
    assert axes.shape == (2, 3)
    panels = {ax.get_xlabel(): ax for ax in axes.flat if ax.get_visible()}
    assert set(panels) == {"lr", "1 - beta", "hidden", "activation", "dropout"}
    assert {name: ax.get_xscale() for name, ax in panels.items()} == {
        "lr": "log", "1 - beta": "log", "hidden": "linear", "activation": "linear", "dropout": "linear"}
    assert [t.get_text() for t in panels["activation"].get_xticklabels()] == ["relu", "sigmoid"]
    assert not axes.flat[5].get_visible()
    # each panel: every trial, then the best as a star; 1 - beta is what the beta panel plots
    _, trials = search.read_log(log)
    best = min(trials, key=lambda t: t.value)
    points, star = panels["1 - beta"].collections
    assert len(points.get_offsets()) == 12
    assert tuple(star.get_offsets()[0]) == pytest.approx((1 - best.config["beta"], best.value))
    assert fig.get_suptitle() == "12 trials from search.jsonl"


def test_plot_log_needs_a_header_and_a_finished_trial(tmp_path):
    with pytest.raises(ValueError, match="no search header"):
        search.plot_log(tmp_path / "missing.jsonl", tmp_path / "out.png")
    failing = tmp_path / "failing.jsonl"
    search.random_search(fails_above, {"x": search.uniform(0.7, 1.0)}, n_trials=2, seed=0, jobs=1, log=failing,
                         progress=False)
    with pytest.raises(ValueError, match="no finished trial"):
        search.plot_log(failing, tmp_path / "out.png")
    assert not (tmp_path / "out.png").exists()


def test_search_report_command(log, tmp_path, capsys):
    assert main(["search-report", str(log), "--top", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"round 1: {log}, sampling seed 0"
    assert lines[1:6] == [f"  {name}: {dim}" for name, dim in SPACE.items()]
    assert lines[6].split() == ["rank", "trial", "value", "lr", "beta", "hidden", "activation", "dropout", "seconds"]
    assert [line.split()[0] for line in lines[7:9]] == ["1", "2"]
    assert lines[9] == "12 finished, 0 failed"
    best = min(search.read_log(log)[1], key=lambda t: t.value)
    assert lines[10] == f"best of 1 round: round 1 trial {best.trial}, value {best.value:.4f} with {best.config}"
    default_plot = log.with_suffix(".png")
    assert lines[11] == f"wrote {default_plot.resolve()}" and default_plot.read_bytes()[:8] == PNG_MAGIC
    assert main(["search-report", str(log), "--plot", str(tmp_path / "elsewhere.png")]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"wrote {(tmp_path / 'elsewhere.png').resolve()}"
    assert (tmp_path / "elsewhere.png").read_bytes()[:8] == PNG_MAGIC


def test_search_report_of_a_missing_log(tmp_path, capsys):
    assert main(["search-report", str(tmp_path / "nope.jsonl")]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "nope.jsonl is not a search log" in captured.err
    assert not (tmp_path / "nope.png").exists()


def test_search_report_shows_every_round_and_how_much_each_narrowed(tmp_path, capsys, monkeypatch):
    """The issue's case: a 6-trial, 2-round search. The report used to show round 1 only, while `search`
    printed a best from round 2, and round 2's space was as wide as round 1's."""
    from tinygrad_bn import plotting

    log = tmp_path / "s.jsonl"
    first = search.random_search(bowl, SPACE, n_trials=6, seed=0, jobs=1, log=log, progress=False)
    fine = search.refine(SPACE, first.trials, top_k=5)
    second = search.random_search(bowl, fine, n_trials=6, seed=1, jobs=1, log=tmp_path / "s.round2.jsonl",
                                  progress=False)
    (tmp_path / "s.round10.jsonl").write_text("")  # not a round of this search: no header
    (tmp_path / "other.round3.jsonl").write_text("")
    assert search.round_logs(log) == [log, tmp_path / "s.round2.jsonl", tmp_path / "s.round10.jsonl"]
    (tmp_path / "s.round10.jsonl").unlink()

    made = []
    subplots = plotting.subplots
    monkeypatch.setattr(plotting, "subplots", lambda *a, **k: made.append(subplots(*a, **k)) or made[-1])
    assert main(["search-report", str(log), "--top", "3"]) == 0
    lines = capsys.readouterr().out.splitlines()
    r1, r2 = lines.index(f"round 1: {log}, sampling seed 0"), lines.index(f"round 2: {tmp_path / 's.round2.jsonl'}, "
                                                                           "sampling seed 1")
    assert lines[r1 + 1:r1 + 6] == [f"  {name}: {dim}" for name, dim in SPACE.items()]
    for i, (name, dim) in enumerate(fine.items()):
        share = dim.width() / SPACE[name].width()
        if name == "activation":
            assert lines[r2 + 1 + i] == f"  activation: {dim}  ({len(dim.options)} of 2 options)"
        else:  # every numeric dimension at most half as wide as in round 1
            assert lines[r2 + 1 + i] == f"  {name}: {dim}  ({share:.0%} of round 1's width)"
            assert share <= 0.5 + (1 / 240 if name == "hidden" else 1e-9)
    for start, result in ((r1, first), (r2, second)):
        table = lines[start + 6:start + 11]
        assert table[1].split()[:3] == ["1", str(result.best.trial), f"{result.best.value:.4g}"]
        assert table[4] == "6 finished, 0 failed"
    best_round, best = min(((1, first.best), (2, second.best)), key=lambda rb: rb[1].value)
    assert lines[-2] == (f"best of 2 rounds: round {best_round} trial {best.trial}, value {best.value:.4f} "
                         f"with {best.config}")
    assert lines[-1] == f"wrote {log.with_suffix('.png').resolve()}"
    # the plot: each round in its own colour, round 2's range shaded, the best of all starred
    (fig, axes), = made
    lr = next(ax for ax in axes.flat if ax.get_xlabel() == "lr")
    rounds, star = lr.collections[:2], lr.collections[2]
    assert [len(c.get_offsets()) for c in rounds] == [6, 6]
    assert [t.get_text() for t in lr.get_legend().get_texts()] == ["round 1", "round 2", "best"]
    assert tuple(star.get_offsets()[0]) == pytest.approx((best.config["lr"], best.value))
    (shade,) = lr.patches
    x0, x1 = shade.get_x(), shade.get_x() + shade.get_width()
    assert (x0, x1) == pytest.approx((fine["lr"].low, fine["lr"].high))
    assert fig.get_suptitle() == "12 trials in 2 rounds from s.jsonl (refined ranges shaded)"
