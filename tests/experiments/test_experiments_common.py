"""Statistics over seeds shared by the experiments: the t quantile, the 95% interval, the seed list."""
import argparse

import numpy as np
import pytest

from tinygrad_bn.experiments.common import (
    add_common_arguments,
    interval_text,
    seed_list,
    seeds_text,
    summarize,
    t_quantile_975,
)


def test_t_quantile_matches_scipy():
    stats = pytest.importorskip("scipy.stats")
    for df in [1, 2, 3, 5, 9, 10, 29, 30, 31, 40, 60, 120, 1000]:
        assert t_quantile_975(df) == pytest.approx(stats.t.ppf(0.975, df), abs=1e-4), df
    with pytest.raises(ValueError, match="degrees of freedom"):
        t_quantile_975(0)


def test_summarize_by_hand():
    s = summarize([0.90, 0.92, 0.97])
    mean = (0.90 + 0.92 + 0.97) / 3
    std = np.sqrt(sum((v - mean) ** 2 for v in (0.90, 0.92, 0.97)) / 2)
    half = 4.302653 * std / np.sqrt(3)
    assert s["n"] == 3 and s["mean"] == pytest.approx(mean) and s["std"] == pytest.approx(std)
    assert s["ci95"] == pytest.approx([mean - half, mean + half])
    assert s["values"] == [0.90, 0.92, 0.97]
    # the interval covers the true mean in ~95% of repeated experiments
    rng = np.random.default_rng(0)
    covered = [summarize(rng.normal(1.0, 2.0, size=5)) for _ in range(2000)]
    share = np.mean([c["ci95"][0] <= 1.0 <= c["ci95"][1] for c in covered])
    assert 0.93 < share < 0.97


def test_one_seed_has_no_spread():
    s = summarize([0.5])
    assert s == {"n": 1, "mean": 0.5, "std": None, "ci95": None, "values": [0.5]}
    assert interval_text(s) == "50.00 (1 seed)"
    with pytest.raises(ValueError, match="no values"):
        summarize([])


def test_interval_text():
    s = summarize([0.01, 0.02])
    assert interval_text(s, signed=True).startswith("+1.50 ± 0.71 [")
    assert interval_text(None) == "-"


def test_seed_list_defaults():
    parser = add_common_arguments(argparse.ArgumentParser(), "out", default_seeds=7)
    assert seed_list(parser.parse_args([])) == list(range(7))
    assert seed_list(parser.parse_args(["--quick"])) == [0]  # a smoke run: one seed unless told
    assert seed_list(parser.parse_args(["--quick", "--seeds", "3", "--seed", "5"])) == [5, 6, 7]
    assert seed_list(parser.parse_args(["--seeds", "2"])) == [0, 1]
    assert seeds_text([5, 6, 7]) == "3 seeds (5-7)" and seeds_text([4]) == "1 seed (4)"
    with pytest.raises(SystemExit):
        parser.parse_args(["--seeds", "0"])
