"""Search spaces: each dimension samples on its documented scale, `sample` is reproducible, and `refine`
narrows a space around the best trials (coarse to fine) without leaving the original bounds."""
import math

import numpy as np
import pytest

from tinygrad_bn import search
from tinygrad_bn.search import Trial
from tinygrad_bn.search.space import space_from_dict, space_to_dict

N = 20_000


def six_sigma(p, n=N):
    """Six binomial standard errors of a fraction p estimated from n draws: with a fixed seed the test is
    deterministic, and even with another seed it would fail by chance about once in 10^9."""
    return 6 * math.sqrt(p * (1 - p) / n)


def draws(dim, n=N, seed=0):
    return np.array([c["v"] for c in search.sample({"v": dim}, n, seed=seed)])


def test_loguniform_gives_each_decade_the_same_share():
    x = draws(search.loguniform(1e-4, 1e-1))
    assert x.min() >= 1e-4 and x.max() <= 1e-1
    shares = [np.mean((x >= 10.0**k) & (x < 10.0 ** (k + 1))) for k in (-4, -3, -2)]
    assert sum(shares) == pytest.approx(1.0)
    for share in shares:
        assert abs(share - 1 / 3) < six_sigma(1 / 3)  # 6 sigma is 0.02 here
    # a linear scale would put ~90% in the top decade: the test tells the two apart
    linear = draws(search.uniform(1e-4, 1e-1))
    assert np.mean(linear >= 1e-2) > 0.85


def test_loguniform_is_uniform_in_the_exponent():
    exponents = np.log10(draws(search.loguniform(1e-3, 1.0)))
    # the mean of U(-3, 0) is -1.5 with standard deviation sqrt(9/12) per draw
    assert abs(exponents.mean() + 1.5) < 6 * math.sqrt(9 / 12 / N)
    quartiles = np.quantile(exponents, [0.25, 0.5, 0.75])
    assert quartiles == pytest.approx([-2.25, -1.5, -0.75], abs=0.05)


def test_one_minus_loguniform_concentrates_near_one():
    x = draws(search.one_minus_loguniform(0.9, 0.999))
    assert x.min() >= 0.9 and x.max() <= 0.999
    low, high = np.mean(x < 0.99), np.mean(x >= 0.99)
    # 1 - x is log-uniform on [0.001, 0.1]: as many betas in 0.99..0.999 as in 0.9..0.99
    assert abs(low - 0.5) < six_sigma(0.5) and abs(high - 0.5) < six_sigma(0.5)
    assert np.median(x) == pytest.approx(0.99, abs=0.002)
    # a uniform beta would leave only 10% of the samples above 0.99
    assert np.mean(draws(search.uniform(0.9, 0.999)) >= 0.99) < 0.12


def test_integer_bounds_are_inclusive_and_equally_likely():
    x = draws(search.integer(3, 7), n=5000)
    assert x.dtype.kind == "i" and set(x.tolist()) == {3, 4, 5, 6, 7}
    for k in range(3, 8):
        assert abs(np.mean(x == k) - 0.2) < six_sigma(0.2, 5000)
    assert set(draws(search.integer(5, 5), n=50).tolist()) == {5}


def test_choice_covers_every_option():
    options = ["relu", "sigmoid", "tanh"]
    x = draws(search.choice(options), n=3000)
    assert set(x.tolist()) == set(options)
    for option in options:
        assert abs(np.mean(x == option) - 1 / 3) < six_sigma(1 / 3, 3000)
    assert set(draws(search.choice([True, False]), n=100).tolist()) == {True, False}


def test_uniform_stays_within_bounds_with_the_right_mean():
    x = draws(search.uniform(0.0, 0.5))
    assert x.min() >= 0.0 and x.max() < 0.5
    assert x.min() < 0.001 and x.max() > 0.499  # and it does reach both ends
    assert abs(x.mean() - 0.25) < 6 * 0.5 / math.sqrt(12 * N)


ISSUE_SPACE = {
    "lr": search.loguniform(1e-4, 1e-1),
    "beta": search.one_minus_loguniform(0.9, 0.999),
    "hidden": search.integer(16, 256),
    "activation": search.choice(["relu", "sigmoid"]),
    "dropout": search.uniform(0.0, 0.5),
}


def test_sample_is_reproducible_and_typed():
    configs = search.sample(ISSUE_SPACE, n=20, seed=0)
    assert len(configs) == 20 and all(list(c) == list(ISSUE_SPACE) for c in configs)
    assert configs == search.sample(ISSUE_SPACE, n=20, seed=0)
    assert configs != search.sample(ISSUE_SPACE, n=20, seed=1)
    # more trials with the same seed extend the list: a resumed search may ask for more
    assert search.sample(ISSUE_SPACE, n=5, seed=0) == configs[:5]
    for c in configs:
        assert type(c["lr"]) is float and type(c["beta"]) is float and type(c["dropout"]) is float
        assert type(c["hidden"]) is int and c["activation"] in ("relu", "sigmoid")
    assert search.sample(ISSUE_SPACE, n=0, seed=0) == []


@pytest.mark.parametrize("make", [
    lambda: search.uniform(1.0, 1.0),
    lambda: search.uniform(2.0, 1.0),
    lambda: search.integer(5, 4),
    lambda: search.choice([]),
    lambda: search.loguniform(0.0, 1.0),
    lambda: search.loguniform(1e-2, 1e-3),
    lambda: search.one_minus_loguniform(0.9, 1.0),
    lambda: search.one_minus_loguniform(-0.1, 0.9),
    lambda: search.one_minus_loguniform(0.99, 0.9),
])
def test_bad_bounds_raise(make):
    with pytest.raises(ValueError):
        make()


def test_a_space_must_hold_dimensions():
    with pytest.raises(TypeError, match="'lr' is a float"):
        search.sample({"lr": 0.01}, 3, seed=0)


def test_space_round_trips_through_its_dict_form():
    data = space_to_dict(ISSUE_SPACE)
    assert data["lr"] == {"kind": "loguniform", "low": 1e-4, "high": 1e-1}
    assert data["activation"] == {"kind": "choice", "options": ["relu", "sigmoid"]}
    assert space_from_dict(data) == ISSUE_SPACE
    assert [d.log for d in ISSUE_SPACE.values()] == [True, True, False, False, False]


def trial(i, value, **config):
    return Trial(i, config, value, 0.0)


def test_refine_spans_the_best_trials_widened_by_the_margin():
    trials = [
        trial(0, 0.10, lr=1e-3, beta=0.99, hidden=64, activation="relu", dropout=0.1),
        trial(1, 0.20, lr=1e-2, beta=0.995, hidden=96, activation="tanh", dropout=0.2),
        # worse trials, far away: they must not widen the refined space
        trial(2, 0.90, lr=1e-4, beta=0.9, hidden=250, activation="sigmoid", dropout=0.5),
        trial(3, None, lr=0.1, beta=0.999, hidden=16, activation="sigmoid", dropout=0.0),  # failed
        trial(4, float("inf"), lr=0.1, beta=0.999, hidden=16, activation="sigmoid", dropout=0.0),  # diverged
    ]
    space = dict(ISSUE_SPACE, activation=search.choice(["relu", "sigmoid", "tanh"]))
    fine = search.refine(space, trials, top_k=2, margin=0.5, shrink=1.0)  # the margin alone (shrink: below)
    # lr: decades -3..-2 widened by half a decade each side, in log space
    assert isinstance(fine["lr"], search.loguniform)
    assert math.log10(fine["lr"].low) == pytest.approx(-3.5) and math.log10(fine["lr"].high) == pytest.approx(-1.5)
    # beta: 1 - beta spans 0.005..0.01 (log10 -2.301..-2), widened by half that in log space
    pad = 0.5 * math.log10(2)
    assert isinstance(fine["beta"], search.one_minus_loguniform)
    assert fine["beta"].low == pytest.approx(1 - 10 ** (-2 + pad))
    assert fine["beta"].high == pytest.approx(1 - 10 ** (-2 - math.log10(2) - pad))
    assert fine["hidden"] == search.integer(48, 112)
    assert fine["dropout"].low == pytest.approx(0.05) and fine["dropout"].high == pytest.approx(0.25)
    assert fine["activation"] == search.choice(["relu", "tanh"])  # the original order, the best's options


def test_refine_clips_to_the_original_bounds_and_widens_equal_values():
    trials = [trial(0, 0.1, lr=1e-4, beta=0.999, hidden=100, activation="relu", dropout=0.0),
              trial(1, 0.2, lr=2e-4, beta=0.999, hidden=100, activation="relu", dropout=0.05)]
    fine = search.refine(ISSUE_SPACE, trials, top_k=2)
    assert fine["lr"].low == 1e-4 and fine["beta"].high == 0.999 and fine["dropout"].low == 0.0
    # all best values equal: a tenth of the full range, times the margin, on each side
    assert fine["hidden"] == search.integer(88, 112)
    assert fine["activation"] == search.choice(["relu"])


@pytest.mark.parametrize("low, high", [(0.3, 0.7), (1e-5, 7e-2), (0.07, 3.0), (1e-3, 0.3)])
def test_refined_log_bounds_never_round_outside_the_original(low, high):
    """10 ** log10(x) is not always x: 0.3 comes back as 0.29999999999999993."""
    fine = search.loguniform(low, high).narrow([low, high], 0.5)
    assert low <= fine.low < fine.high <= high
    fine = search.one_minus_loguniform(1 - high / 10, 1 - low / 10).narrow([1 - high / 10, 1 - low / 10], 0.5)
    assert 1 - high / 10 <= fine.low < fine.high <= 1 - low / 10


def test_coarse_to_fine_on_a_real_search_narrows_around_the_best():
    from search_objectives import bowl

    result = search.random_search(bowl, ISSUE_SPACE, n_trials=60, seed=0, jobs=1, progress=False)
    best5 = sorted(result.trials, key=lambda t: t.value)[:5]
    fine = search.refine(ISSUE_SPACE, result.trials, top_k=5)
    for name in ("lr", "beta", "hidden", "dropout"):
        coarse, narrow = ISSUE_SPACE[name], fine[name]
        assert coarse.low <= narrow.low and narrow.high <= coarse.high, name
        assert narrow.low <= best5[0].config[name] <= narrow.high, name
        assert narrow.width() <= 0.5 * coarse.width() + (1 if name == "hidden" else 1e-12), name
    # log dimensions narrow in log space: fewer decades, not merely a smaller linear width
    assert math.log10(fine["lr"].high / fine["lr"].low) < 3
    assert math.log10((1 - fine["beta"].low) / (1 - fine["beta"].high)) < 2
    assert fine["hidden"].high - fine["hidden"].low < 240
    assert fine["activation"].options == sorted({t.config["activation"] for t in best5}, key=["relu", "sigmoid"].index)
    # a second round samples only inside the refined space and does better on average
    second = search.random_search(bowl, fine, n_trials=60, seed=1, jobs=1, progress=False)
    assert all(fine["lr"].low <= t.config["lr"] <= fine["lr"].high for t in second.trials)
    assert np.mean([t.value for t in second.trials]) < np.mean([t.value for t in result.trials])
    assert second.best.value <= result.best.value * 1.5


def test_width_is_measured_on_each_dimension_s_scale():
    assert search.uniform(0.1, 0.4).width() == pytest.approx(0.3)
    assert search.integer(16, 256).width() == 240
    assert search.loguniform(1e-4, 1e-1).width() == pytest.approx(3.0)  # decades
    assert search.one_minus_loguniform(0.9, 0.999).width() == pytest.approx(2.0)  # decades of 1 - beta
    assert search.choice(["a", "b", "c"]).width() == 3


def test_refine_halves_every_numeric_dimension_even_when_the_best_trials_span_everything():
    """The issue's case: the best 5 of 6 trials span nearly the whole space, so the margin alone leaves it as
    wide as before; `shrink` (0.5 by default) makes each numeric dimension at most half as wide, a window
    around the best trial moved inside the bounds."""
    space = {"x": search.uniform(0.0, 1.0), "lr": search.loguniform(1e-4, 1.0),
             "beta": search.one_minus_loguniform(0.9, 0.9999), "n": search.integer(0, 100)}
    trials = [trial(0, 0.1, x=0.9, lr=1e-4, beta=0.95, n=30), trial(1, 0.2, x=0.05, lr=0.9, beta=0.9999, n=0),
              trial(2, 0.3, x=0.5, lr=0.01, beta=0.9, n=100), trial(3, 0.4, x=0.01, lr=1e-3, beta=0.99, n=50),
              trial(4, 0.5, x=0.99, lr=0.5, beta=0.999, n=70), trial(5, 0.6, x=0.4, lr=0.1, beta=0.995, n=90)]
    wide = search.refine(space, trials, top_k=5, shrink=1.0)
    assert all(wide[name] == space[name] for name in space)  # what a 6-trial, 2-round search got before
    fine = search.refine(space, trials, top_k=5)
    assert fine["x"] == search.uniform(0.5, 1.0)  # centred on the best (0.9), moved inside [0, 1]
    assert math.log10(fine["lr"].low) == pytest.approx(-4) and math.log10(fine["lr"].high) == pytest.approx(-2)
    # 1 - beta: the best is 0.05 (log10 -1.3) in [1e-4, 0.1]; a window of 1.5 decades ending at 0.1
    assert 1 - fine["beta"].low == pytest.approx(0.1) and 1 - fine["beta"].high == pytest.approx(10 ** -2.5)
    assert fine["n"] == search.integer(5, 55)  # [30 - 25, 30 + 25]
    for name in space:
        assert fine[name].width() <= 0.5 * space[name].width() + 1e-9
    quarter = search.refine(space, trials, top_k=5, shrink=0.25)
    assert quarter["x"] == search.uniform(0.75, 1.0)
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="shrink"):
            search.refine(space, trials, shrink=bad)


def test_a_dimension_prints_briefly():
    assert str(search.loguniform(0.031622776601683794, 1.0)) == "loguniform(0.03162, 1)"
    assert str(search.choice([True, False])) == "choice([True, False])"
    assert str(search.integer(16, 256)) == "integer(16, 256)"


def test_refine_needs_a_finished_trial_and_a_positive_top_k():
    failed = [trial(0, None, lr=1e-3, beta=0.99, hidden=64, activation="relu", dropout=0.1)]
    with pytest.raises(ValueError, match="no finished trial"):
        search.refine(ISSUE_SPACE, failed)
    ok = [trial(0, 0.1, lr=1e-3, beta=0.99, hidden=64, activation="relu", dropout=0.1)]
    with pytest.raises(ValueError, match="top_k"):
        search.refine(ISSUE_SPACE, ok, top_k=0)
