#!/usr/bin/env python3
"""Cost of the function transforms on a batch-norm MLP loss: JVP against VJP, and the two ways to take an HVP.

The loss is mse(MLP(x)) of a float64 Linear-BatchNorm1d-Tanh-Linear-BatchNorm1d-Tanh-Linear network
(--width hidden units, --batch rows), as a function of all its parameters through `func.functional_call`.
Timed, each from the parameters to the result:

- vjp:  `func.vjp(loss_of_outputs, params)` then one `vjp_fn(cotangent)` (forward + one backward);
- jvp:  `func.jvp(loss_of_outputs, (params,), (tangent,))`, forward mode by the double-VJP identity
        (forward + a recorded backward + a backward of that backward);
- hvp reverse-over-reverse:  `func.hvp(loss, (params,), (v,))`;
- hvp forward-over-reverse:  `func.jvp(func.grad(loss), (params,), (v,))`.

The VJP and JVP are of the network's output (a vector), not of the scalar loss, so neither is a
special case. Timing is timeit-style: each sample runs the call enough times to last ~50 ms, samples of
the implementations are interleaved, the minimum per call is reported, single-threaded BLAS.

    python3 benchmarks/bench_func.py                 # the numbers quoted in docs/func.md
    python3 benchmarks/bench_func.py --width 256 --batch 128 --repeat 7
"""
from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import numpy as np  # noqa: E402

from tinygrad_bn import Tensor, func, nn  # noqa: E402


def build(width: int, batch: int, seed: int = 0) -> tuple[Callable, Callable, dict, np.ndarray]:
    rng = np.random.default_rng(seed)
    model = nn.Sequential(
        nn.Linear(32, width, dtype=np.float64), nn.BatchNorm1d(width, dtype=np.float64), nn.Tanh(),
        nn.Linear(width, width, dtype=np.float64), nn.BatchNorm1d(width, dtype=np.float64), nn.Tanh(),
        nn.Linear(width, 10, dtype=np.float64),
    )
    x, y = Tensor(rng.standard_normal((batch, 32))), Tensor(rng.standard_normal((batch, 10)))
    params = {k: Tensor(p.numpy().copy()) for k, p in model.named_parameters()}

    def outputs(p: dict) -> Tensor:
        return func.functional_call(model, p, (x,))

    def loss(p: dict) -> Tensor:
        diff = outputs(p) - y
        return (diff * diff).mean()

    return outputs, loss, params, rng.standard_normal((batch, 10))


def best_time(fn: Callable[[], object], target: float = 0.05) -> tuple[Callable[[], float], int]:
    """A sampler that returns seconds per call, with the call count calibrated to ~target seconds."""
    start = time.perf_counter()
    fn()
    once = max(time.perf_counter() - start, 1e-6)
    number = max(1, int(target / once))

    def sample() -> float:
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        return (time.perf_counter() - t0) / number

    return sample, number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    outputs, loss, params, cotangent = build(args.width, args.batch)
    rng = np.random.default_rng(1)
    tangent = {k: Tensor(rng.standard_normal(p.shape)) for k, p in params.items()}
    cot = Tensor(cotangent)

    def vjp() -> object:
        _, vjp_fn = func.vjp(outputs, params)
        return vjp_fn(cot)

    def jvp() -> object:
        return func.jvp(outputs, (params,), (tangent,))

    def hvp_rev_rev() -> object:
        return func.hvp(loss, (params,), (tangent,))

    def hvp_fwd_rev() -> object:
        return func.jvp(func.grad(loss), (params,), (tangent,))

    def forward() -> object:
        return outputs(params)

    # the two HVPs agree (else the timing compares different things)
    a, b = hvp_rev_rev()[1][0], hvp_fwd_rev()[1]
    worst = max(float(np.max(np.abs(a[k].numpy() - b[k].numpy()))) for k in a)
    assert worst < 1e-10, f"the two HVPs disagree by {worst}"

    cases = {"forward only": forward, "vjp": vjp, "jvp": jvp, "hvp reverse-over-reverse": hvp_rev_rev,
             "hvp forward-over-reverse": hvp_fwd_rev}
    samplers = {name: best_time(fn)[0] for name, fn in cases.items()}
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.repeat):
        for name, sample in samplers.items():
            times[name].append(sample())
    best = {name: min(ts) for name, ts in times.items()}
    n_params = sum(p.size for p in params.values())
    print(f"BN MLP 32-{args.width}-{args.width}-10, batch {args.batch}, {n_params} parameters, float64, "
          f"min of {args.repeat} samples")
    for name, t in best.items():
        print(f"  {name:<26} {t * 1e3:8.3f} ms")
    print(f"  jvp / vjp                  {best['jvp'] / best['vjp']:8.2f}x")
    print(f"  hvp fwd-rev / rev-rev      {best['hvp forward-over-reverse'] / best['hvp reverse-over-reverse']:8.2f}x")
    print(f"  hvp rev-rev / vjp          {best['hvp reverse-over-reverse'] / best['vjp']:8.2f}x")


if __name__ == "__main__":
    main()
