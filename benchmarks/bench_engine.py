#!/usr/bin/env python3
"""Engine overhead benchmark: tinygrad_bn against hand-written numpy and PyTorch CPU eager, in one run.

What is measured
----------------
1. The *chain*: one workload, `loss = sum(f(x @ w + b, x))` with one matmul, 20 elementwise ops (add, sub,
   mul, div by tensors and by Python scalars, tanh, sigmoid, exp, log, relu, sqrt, neg) and a final sum,
   forward plus backward to the gradients of x, w and b. It is written three ways:

   - numpy:       forward keeping the intermediates, then the backward formulas written out by hand
                  (what a person writes without a framework: no graph, no objects per op);
   - tinygrad_bn: the same expressions on `Tensor`s (`chain` below), then `loss.backward()`;
   - torch:       the very same `chain` function on `torch.tensor(..., requires_grad=True)`, then
                  `loss.backward()` (skipped when torch is not importable).

   All float32. x and w are n x n and b has length n (broadcast over rows), for each --sizes n
   (default 3, 100, 1000). Before timing, the three must agree on the loss and the three gradients,
   else the script prints the mismatch and exits with status 1.

2. The *deep chain*: 2,001 recorded ops on a one-element tensor (`y = tanh(y * 0.9 + 0.1)`, repeated),
   forward and backward timed separately and divided by the op count. With arrays this small the numpy
   work is negligible, so this is the per-op cost of the machinery: building the graph (Function.apply,
   the Tensor objects) and walking it (topological order, the op backward methods, accumulation).

How it is timed
---------------
timeit-style: each sample runs the call `number` times (calibrated so a sample lasts about 20 ms), every
implementation is sampled `--repeat` times with the implementations interleaved (so drift in CPU
frequency hits all of them alike), and the table reports the minimum per call. Medians are in the JSON.
The garbage collector stays on, as in a training loop: allocating many Python objects is part of the cost.
Everything runs single-threaded (OMP/OPENBLAS/MKL_NUM_THREADS default to 1 before numpy and torch load):
the subject is the engine, and numpy's OpenBLAS pool and torch's OpenMP pool fight when both are
multi-threaded in one process (torch forward+backward at 100x100 went from 0.46 ms to 6 ms after a
single numpy matmul on a 2-core machine). Set those variables yourself to measure other thread counts.

How to read it
--------------
`tg/np` is tinygrad_bn time over hand-written numpy time: 1.00 means the engine costs nothing, 1.5 means
50% overhead. `tg/torch` is tinygrad_bn over torch eager: below 1 means tinygrad_bn is faster. The targets
(from the issue) are tg/np <= 1.5 at 100x100 and tg/torch <= 1.0 at every size; the last columns say
whether each holds. At size 3 the arithmetic is nothing and every ratio is pure per-op overhead; at
1000x1000 memory traffic and the matmul dominate and all three converge unless one does extra passes.

    python3 dev.py bench                                   # everything, under a minute
    python3 dev.py bench --sizes 100 --repeat 20 --json out.json
    python3 benchmarks/bench_engine.py --no-deep           # only the chain table
    python3 benchmarks/bench_engine.py --hooks             # what the debug hooks cost when off (and on)
    python3 benchmarks/bench_engine.py --profile-step      # the profile of one BN MLP training step

3. With `--hooks`, the deep chain again, timed four ways interleaved: the engine as it is (anomaly detection
   and profiling off: `Function.apply` and `backpropagate` test `STATE.monitor` and find None), the same
   engine with those hook lines removed (its source, minus them, compiled in place; everything else
   identical), and inside `detect_anomaly()` and `profile()`, to show what they cost when on.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
for _var in THREAD_VARS:  # must happen before numpy and torch start their thread pools
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

try:
    import tinygrad_bn as tg
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    import tinygrad_bn as tg

try:
    import torch
except ImportError:
    torch = None

DTYPE = np.float32
TARGET_VS_NUMPY = 1.5  # at 100x100: tinygrad_bn forward+backward within 1.5x of hand-written numpy
TARGET_VS_TORCH = 1.0  # at every size: no slower than torch eager
SAMPLE_SECONDS = 0.02  # aim for samples of about this length (timeit's autorange idea)
AGREE_RTOL = 1e-3  # the loss and gradients must match hand-written numpy this closely (normwise)
DEEP_STEPS = 667  # three recorded ops per step, so 2,001 ops in the deep chain


# ----------------------------------------------------------------------------- the workload


def chain(x, w, b):
    """The workload on tinygrad_bn or torch tensors (only methods and operators both have): a scalar loss."""
    h = x @ w  # matmul
    a = h + b  # 1  add, b broadcast over the rows
    t = a.tanh()  # 2
    u = t * 0.5  # 3  times a scalar
    v = u + x  # 4  add a tensor
    s = v.sigmoid()  # 5
    e = s.exp()  # 6
    lg = (e + 1.0).log()  # 7, 8
    r = (lg - 1.0).relu()  # 9, 10  (about half the entries are clipped)
    q = (r + 1.0).sqrt()  # 11, 12
    m = q * t  # 13 times a tensor
    d = m / e  # 14 divide by a tensor
    n = d - v  # 15 subtract a tensor
    p = n * n  # 16
    o = 2.0 - p  # 17 scalar minus tensor
    k = o / 3.0  # 18 divide by a scalar
    z = -k.tanh()  # 19, 20
    return z.sum()


def chain_numpy(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> tuple:
    """`chain` by hand: the forward keeping what backward needs, then the chain rule written out."""
    h = x @ w
    a = h + b
    t = np.tanh(a)
    u = t * 0.5
    v = u + x
    s = 1.0 / (1.0 + np.exp(-v))
    e = np.exp(s)
    e1 = e + 1.0
    lg = np.log(e1)
    lm = lg - 1.0
    r = np.maximum(lm, 0.0)
    q = np.sqrt(r + 1.0)
    m = q * t
    d = m / e
    n = d - v
    p = n * n
    o = 2.0 - p
    k = o / 3.0
    z = np.tanh(k)
    loss = -z.sum()
    # backward: g_name is d(loss)/d(name)
    g_k = -(1.0 - z * z)
    g_p = -(g_k / 3.0)
    g_n = g_p * 2.0 * n
    g_v = -g_n
    g_m = g_n / e
    g_e = -g_n * d / e
    g_q = g_m * t
    g_t = g_m * q
    g_lm = g_q * 0.5 / q * (lm > 0)
    g_e += g_lm / e1
    g_v += g_e * e * s * (1.0 - s)
    g_t += g_v * 0.5
    g_a = g_t * (1.0 - t * t)
    g_x = g_v + g_a @ w.T
    g_w = x.T @ g_a
    g_b = g_a.sum(axis=0)
    return float(loss), g_x, g_w, g_b


def make_inputs(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, w (n x n) and b (n,), float32, scaled so x @ w + b is about unit size at every n."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, n)).astype(DTYPE)
    w = (rng.standard_normal((n, n)) / math.sqrt(n)).astype(DTYPE)
    b = (0.1 * rng.standard_normal(n)).astype(DTYPE)
    return x, w, b


def runners(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> dict[str, Callable[[], tuple]]:
    """One zero-argument callable per implementation: forward + backward, returning (loss, gx, gw, gb)."""
    out: dict[str, Callable[[], tuple]] = {"numpy": lambda: chain_numpy(x, w, b)}
    tx, tw, tb = (tg.Tensor(a, requires_grad=True) for a in (x, w, b))

    def run_tinygrad() -> tuple:
        tx.grad = tw.grad = tb.grad = None
        loss = chain(tx, tw, tb)
        loss.backward()
        return loss.item(), tx.grad.data, tw.grad.data, tb.grad.data

    out["tinygrad_bn"] = run_tinygrad
    if torch is not None:
        px, pw, pb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))

        def run_torch() -> tuple:
            px.grad = pw.grad = pb.grad = None
            loss = chain(px, pw, pb)
            loss.backward()
            return loss.item(), px.grad.numpy(), pw.grad.numpy(), pb.grad.numpy()

        out["torch"] = run_torch
    return out


def check_agreement(n: int, impls: dict[str, Callable[[], tuple]]) -> list[str]:
    """Messages for every implementation whose loss or gradients differ from hand-written numpy.

    The test is normwise, |got - ref| / |ref| <= AGREE_RTOL: float32 rounding gives about 1e-6, a wrong
    formula 1e-2 and more, while an element that sits on relu's kink may legitimately take the other branch
    under another library's rounding and move one entry (1e-4 of the norm at 100x100), which an
    elementwise test would flag.
    """
    ref = impls["numpy"]()
    problems = []
    for name, fn in impls.items():
        if name == "numpy":
            continue
        got = fn()
        for label, r, g in zip(("loss", "grad x", "grad w", "grad b"), ref, got, strict=True):
            r, g = np.asarray(r, dtype=np.float64), np.asarray(g, dtype=np.float64)
            if r.shape != g.shape:
                problems.append(f"n={n}: {name} {label} has shape {g.shape}, numpy's has {r.shape}")
                continue
            error = float(np.linalg.norm(g - r) / max(float(np.linalg.norm(r)), 1e-30))
            if not error <= AGREE_RTOL:  # also catches NaN
                problems.append(f"n={n}: {name} {label} differs from numpy: relative error {error:.3g}")
    return problems


# ----------------------------------------------------------------------------- timing


def calibrate(fn: Callable[[], Any], target: float = SAMPLE_SECONDS) -> int:
    """How many calls make a sample of about `target` seconds (at least one)."""
    number = 1
    while True:
        start = time.perf_counter()
        for _ in range(number):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= target / 5 or number >= 1 << 20:
            return max(1, math.ceil(number * target / max(elapsed, 1e-9)))
        number *= 10


def time_interleaved(fns: dict[str, Callable[[], Any]], repeat: int) -> dict[str, dict[str, float]]:
    """Per-call min and median over `repeat` samples, sampling the callables in turn."""
    numbers = {name: calibrate(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            number = numbers[name]
            start = time.perf_counter()
            for _ in range(number):
                fn()
            samples[name].append((time.perf_counter() - start) / number)
    return {name: {"min": min(s), "median": statistics.median(s), "number": numbers[name]}
            for name, s in samples.items()}


def fmt_time(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


# ----------------------------------------------------------------------------- the chain table


def bench_chain(sizes: list[int], repeat: int) -> tuple[list[dict], list[str]]:
    rows, problems = [], []
    for n in sizes:
        impls = runners(*make_inputs(n))
        problems += check_agreement(n, impls)
        if problems:
            continue
        times = time_interleaved(impls, repeat)
        t_np, t_tg = times["numpy"]["min"], times["tinygrad_bn"]["min"]
        t_pt = times["torch"]["min"] if "torch" in times else None
        vs_np = t_tg / t_np
        vs_pt = t_tg / t_pt if t_pt else None
        rows.append({
            "size": n, "shape": [n, n], "times": times,
            "numpy_s": t_np, "tinygrad_bn_s": t_tg, "torch_s": t_pt,
            "ratio_tg_numpy": vs_np, "ratio_tg_torch": vs_pt,
            "target_numpy_ok": (vs_np <= TARGET_VS_NUMPY) if n == 100 else None,
            "target_torch_ok": (vs_pt <= TARGET_VS_TORCH) if vs_pt is not None else None,
        })
    return rows, problems


def print_chain(rows: list[dict]) -> None:
    def verdict(ok: bool | None) -> str:
        return "-" if ok is None else "ok" if ok else "MISS"

    print("\nchain: matmul + 20 elementwise ops + sum, forward + backward, float32 (min per call)\n")
    head = f"{'size':>11} {'numpy':>10} {'tinygrad_bn':>12} {'torch':>10} {'tg/np':>7} {'tg/torch':>9}"
    print(head + f"  {'np<=1.5 @100':>12} {'<=torch':>8}")
    for r in rows:
        vs_pt = f"{r['ratio_tg_torch']:.2f}" if r["ratio_tg_torch"] is not None else "-"
        size = f"{r['size']}x{r['size']}"
        print(f"{size:>11} {fmt_time(r['numpy_s']):>10} {fmt_time(r['tinygrad_bn_s']):>12} "
              f"{fmt_time(r['torch_s']):>10} {r['ratio_tg_numpy']:>7.2f} {vs_pt:>9}  "
              f"{verdict(r['target_numpy_ok']):>12} {verdict(r['target_torch_ok']):>8}")


# ----------------------------------------------------------------------------- the deep chain


def deep_forward(y, steps: int = DEEP_STEPS):
    """3 * steps recorded ops on one value (works on tinygrad_bn and torch tensors)."""
    for _ in range(steps):
        y = (y * 0.9 + 0.1).tanh()
    return y


def deep_numpy(y: np.ndarray, steps: int = DEEP_STEPS) -> tuple[np.ndarray, np.ndarray]:
    """The deep chain by hand: forward keeping each tanh output, then dy/dy0 by the chain rule."""
    outs = []
    for _ in range(steps):
        y = np.tanh(y * 0.9 + 0.1)
        outs.append(y)
    g = np.ones_like(y)
    for t in reversed(outs):
        g = g * (1.0 - t * t) * 0.9
    return y, g


def bench_deep(repeat: int) -> dict:
    """Forward and backward microseconds per op of the deep chain, per implementation."""
    start = np.full(1, 0.3, dtype=DTYPE)
    ops = 3 * DEEP_STEPS
    makers: dict[str, Callable[[], Any]] = {"tinygrad_bn": lambda: tg.Tensor(start, requires_grad=True)}
    if torch is not None:
        makers["torch"] = lambda: torch.tensor(start, requires_grad=True)
    # agree on the value and the gradient first
    ref_y, ref_g = deep_numpy(start)
    for name, make in makers.items():
        leaf = make()
        out = deep_forward(leaf)
        out.backward()
        grad = leaf.grad.numpy() if name == "torch" else leaf.grad.data
        value = float(out.sum().item())
        if not (np.allclose(value, ref_y, rtol=1e-4) and np.allclose(grad, ref_g, rtol=1e-3)):
            raise SystemExit(f"deep chain: {name} disagrees with numpy ({grad} vs {ref_g})")
    fwd: dict[str, list[float]] = {name: [] for name in makers}
    bwd: dict[str, list[float]] = {name: [] for name in makers}
    by_hand: list[float] = []
    for _ in range(repeat * 3):  # one forward and one backward per sample; samples are short
        for name, make in makers.items():
            leaf = make()
            t0 = time.perf_counter()
            out = deep_forward(leaf)
            t1 = time.perf_counter()
            out.backward()
            t2 = time.perf_counter()
            fwd[name].append((t1 - t0) / ops)
            bwd[name].append((t2 - t1) / ops)
        t0 = time.perf_counter()
        deep_numpy(start)
        by_hand.append((time.perf_counter() - t0) / ops)
    result = {"ops": ops, "numpy_by_hand_us_per_op": 1e6 * min(by_hand)}
    for name in makers:
        result[name] = {"forward_us_per_op": 1e6 * min(fwd[name]), "backward_us_per_op": 1e6 * min(bwd[name]),
                        "forward_us_median": 1e6 * statistics.median(fwd[name]),
                        "backward_us_median": 1e6 * statistics.median(bwd[name])}
    return result


def print_deep(deep: dict) -> None:
    print(f"\ndeep chain: {deep['ops']} ops on a 1-element float32 tensor, microseconds per op (min)\n")
    print(f"{'':>12} {'forward':>9} {'backward':>9} {'total':>9}")
    for name in ("tinygrad_bn", "torch"):
        if name in deep:
            f, b = deep[name]["forward_us_per_op"], deep[name]["backward_us_per_op"]
            print(f"{name:>12} {f:>9.2f} {b:>9.2f} {f + b:>9.2f}")
    print(f"{'numpy (hand)':>12} {'':>9} {'':>9} {deep['numpy_by_hand_us_per_op']:>9.2f}")


# ----------------------------------------------------------------------------- the debug hooks


def _hookless() -> tuple[Any, Any]:
    """`Function.apply` and `backpropagate` compiled from their source without the `STATE.monitor` lines."""
    import inspect
    import textwrap

    from tinygrad_bn import autograd

    made = []
    for fn in (autograd.Function.apply.__func__, autograd.backpropagate):
        source = textwrap.dedent(inspect.getsource(fn))
        kept, dropped = [], 0
        for line in source.splitlines():
            if "monitor.backward(ctx, grad)" in line:
                kept.append(line.split(" if monitor is None")[0])
                dropped += 1
            elif "monitor" in line:
                dropped += 1
            else:
                kept.append(line)
        if dropped not in (2, 6):
            raise SystemExit(f"--hooks: the hook lines of {fn.__name__} changed ({dropped} found): update _hookless")
        namespace: dict[str, Any] = {}
        exec(compile("\n".join(kept), inspect.getfile(fn), "exec"), vars(autograd), namespace)  # noqa: S102
        made.append(namespace[fn.__name__])
    return made[0], made[1]


def bench_hooks(repeat: int) -> dict:
    """Deep-chain microseconds per op: with hooks (off), without them, inside detect_anomaly() and profile()."""
    import contextlib

    from tinygrad_bn import autograd, debug
    from tinygrad_bn import tensor as tensor_module

    with_apply, with_backprop = autograd.Function.__dict__["apply"], autograd.backpropagate
    bare_apply, bare_backprop = _hookless()

    def use(apply: Any, backprop: Any) -> None:
        autograd.Function.apply = apply
        autograd.backpropagate = tensor_module.backpropagate = backprop

    start = np.full(1, 0.3, dtype=DTYPE)
    ops = 3 * DEEP_STEPS
    variants: dict[str, tuple[Any, Any, Callable[[], Any]]] = {
        "hooks, off": (with_apply, with_backprop, contextlib.nullcontext),
        "no hooks": (bare_apply, bare_backprop, contextlib.nullcontext),
        "detect_anomaly()": (with_apply, with_backprop, debug.detect_anomaly),
        "profile()": (with_apply, with_backprop, debug.profile),
    }
    fwd: dict[str, list[float]] = {name: [] for name in variants}
    bwd: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for name, (apply, backprop, context) in variants.items():  # check: the same value and gradient
            use(apply, backprop)
            leaf = tg.Tensor(start, requires_grad=True)
            with context():
                deep_forward(leaf).backward()
            if not np.allclose(leaf.grad.data, deep_numpy(start)[1], rtol=1e-3):
                raise SystemExit(f"--hooks: {name} gives another gradient")
        for _ in range(repeat * 3):
            for name, (apply, backprop, context) in variants.items():
                use(apply, backprop)
                leaf = tg.Tensor(start, requires_grad=True)
                with context():
                    t0 = time.perf_counter()
                    out = deep_forward(leaf)
                    t1 = time.perf_counter()
                    out.backward()
                    t2 = time.perf_counter()
                fwd[name].append((t1 - t0) / ops)
                bwd[name].append((t2 - t1) / ops)
    finally:
        use(with_apply, with_backprop)
    return {name: {"forward_us_per_op": 1e6 * min(fwd[name]), "backward_us_per_op": 1e6 * min(bwd[name]),
                   "forward_us_median": 1e6 * statistics.median(fwd[name]),
                   "backward_us_median": 1e6 * statistics.median(bwd[name]), "samples": len(fwd[name])}
            for name in variants}


def print_hooks(hooks: dict) -> None:
    samples = next(iter(hooks.values()))["samples"]
    print(f"\ndebug hooks: deep chain, microseconds per op, {samples} interleaved samples each\n")
    print(f"{'':>17} {'fwd min':>8} {'bwd min':>8} {'total':>8} {'fwd med':>8} {'bwd med':>8} {'total':>8}")
    for name, r in hooks.items():
        f, b = r["forward_us_per_op"], r["backward_us_per_op"]
        fm, bm = r["forward_us_median"], r["backward_us_median"]
        print(f"{name:>17} {f:>8.2f} {b:>8.2f} {f + b:>8.2f} {fm:>8.2f} {bm:>8.2f} {fm + bm:>8.2f}")
    on, off = hooks["hooks, off"], hooks["no hooks"]
    for stat, label in (("us_per_op", "min"), ("us_median", "median")):
        a = on[f"forward_{stat}"] + on[f"backward_{stat}"]
        b = off[f"forward_{stat}"] + off[f"backward_{stat}"]
        print(f"hooks off vs no hooks ({label}): {a - b:+.3f} us per op ({100 * (a - b) / b:+.1f}%)")


def profile_step(steps: int = 21) -> str:
    """The profile table of one training step of nn.MLP(784, [100]*5, 10, batchnorm=True), batch 100, SGD:
    the step (of `steps` profiled one by one after a warm-up) whose whole time is the median."""
    from tinygrad_bn import debug, nn, optim
    from tinygrad_bn.nn import functional as F

    tg.manual_seed(0)
    model = nn.MLP(784, [100] * 5, 10, batchnorm=True)
    optimizer = optim.SGD(model.parameters(), lr=0.01)
    rng = np.random.default_rng(0)
    x = tg.Tensor(rng.standard_normal((100, 784)).astype(DTYPE))
    y = tg.Tensor(rng.integers(0, 10, size=100))

    def step() -> None:
        optimizer.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        optimizer.step()

    for _ in range(5):
        step()
    profiles = []
    for _ in range(steps):
        with debug.profile() as prof:
            step()
        profiles.append(prof)
    profiles.sort(key=lambda p: p.seconds)
    return profiles[len(profiles) // 2].table()


# ----------------------------------------------------------------------------- main


def environment() -> dict:
    env = {
        "python": platform.python_version(), "machine": platform.machine(), "numpy": np.__version__,
        "tinygrad_bn": getattr(tg, "__version__", "?"), "tinygrad_bn_path": str(Path(tg.__file__).parent),
        "torch": torch.__version__ if torch is not None else None,
        "torch_threads": torch.get_num_threads() if torch is not None else None,
        "thread_env": {var: os.environ.get(var) for var in THREAD_VARS},
    }
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=lambda s: [int(v) for v in s.split(",")], default=[3, 100, 1000],
                        help="comma-separated n for the n x n chain (default: 3,100,1000)")
    parser.add_argument("--repeat", type=int, default=15, help="samples per implementation (default: 15)")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--no-deep", action="store_true", help="skip the deep-chain per-op measurement")
    parser.add_argument("--strict", action="store_true", help="exit with status 2 when a target is missed")
    parser.add_argument("--hooks", action="store_true",
                        help="only: the deep chain with the debug hooks off, without them, and with them on")
    parser.add_argument("--profile-step", action="store_true",
                        help="only: the profile table of one BN MLP training step (784-100x5-10, batch 100)")
    args = parser.parse_args(argv)
    if args.repeat < 1 or any(n < 1 for n in args.sizes):
        parser.error("--repeat and every size must be positive")

    env = environment()
    torch_note = f"torch {env['torch']} ({env['torch_threads']} threads)" if torch else "torch not importable"
    threads = " ".join(f"{k}={v}" for k, v in env["thread_env"].items())
    print(f"tinygrad_bn {env['tinygrad_bn']} from {env['tinygrad_bn_path']}; numpy {env['numpy']}; "
          f"{torch_note}; Python {env['python']} on {env['machine']}; {threads}")
    gc.collect()
    if args.profile_step:
        print("\none training step of nn.MLP(784, [100]*5, 10, batchnorm=True), batch 100, SGD (median of 21)\n")
        print(profile_step())
        return 0
    if args.hooks:
        hooks = bench_hooks(args.repeat)
        print_hooks(hooks)
        if args.json:
            Path(args.json).write_text(json.dumps({"environment": env, "hooks": hooks}, indent=2) + "\n")
            print(f"wrote {args.json}")
        return 0
    rows, problems = bench_chain(args.sizes, args.repeat)
    if problems:
        print("ERROR: the implementations disagree, so timing them would compare different work:",
              file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 1
    print_chain(rows)
    deep = None
    if not args.no_deep:
        deep = bench_deep(args.repeat)
        print_deep(deep)
    missed = [r for r in rows if r["target_numpy_ok"] is False or r["target_torch_ok"] is False]
    where = ", ".join(f"{r['size']}x{r['size']}" for r in missed)
    unchecked = [what for what, done in (("tg/np (100 not in --sizes)", 100 in args.sizes),
                                         ("tg/torch (torch not importable)", torch is not None)) if not done]
    verdict = f"missed at {where}" if missed else "all checked ones hold" if unchecked else "all hold"
    targets = f"tg/np <= {TARGET_VS_NUMPY} at 100x100, tg/torch <= {TARGET_VS_TORCH} at every size"
    skipped = f"; not checked: {', '.join(unchecked)}" if unchecked else ""
    print(f"\ntargets: {targets}: {verdict}{skipped}")
    if args.json:
        results = {"environment": env, "chain": rows, "deep": deep}
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 2 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
