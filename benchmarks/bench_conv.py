#!/usr/bin/env python3
"""Convolution benchmark: how conv2d's forward is computed, and conv2d forward+backward against PyTorch CPU.

What is measured (float32, one thread for numpy's BLAS and for torch)
----------------------------------------------------------------------
The layer of a small CNN: batch 32, 32 input and 32 output channels, 28x28 images, 3x3 kernel, padding 1.

1. *Forward formulations* of the same convolution, on the padded input:
   - im2col:  the strided windows (np.lib.stride_tricks.sliding_window_view, a view) copied once into a
              (N, C*kH*kW, H*W) array and multiplied by the (C_out, C*kH*kW) weight in one batched matmul;
              this is what ops.Conv runs;
   - einsum:  np.einsum('nchwij,ocij->nohw', windows, weight, optimize=True) on the same view (numpy picks a
              contraction path; it reshapes the view into a matrix itself);
   - einsum without optimize, for reference (the naive loop numpy runs without a path).
   The faster is what the engine keeps; the script says which.
2. *Forward + backward*: `F.conv2d(x, w, b, padding=1)` then backward from a fixed upstream gradient to the
   gradients of x, w and b, in tinygrad_bn (Conv, ConvTranspose for the input gradient, a convolution for
   the weight gradient) and in PyTorch eager (`torch.nn.functional.conv2d`, oneDNN/mkldnn kernels). The
   ratio tinygrad_bn / torch is the headline. Before timing, both must agree (relative error below 1e-4).

Timing: each implementation is called `number` times per sample (calibrated to ~0.2 s), samples are
interleaved, the minimum per call is reported (the medians go to --json).

    python3 benchmarks/bench_conv.py
    python3 benchmarks/bench_conv.py --repeat 10 --json conv.json
"""
from __future__ import annotations

import os

for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, "1")  # before numpy and torch load: single-threaded BLAS for both

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import tinygrad_bn  # noqa: E402
from tinygrad_bn import Tensor, ops  # noqa: E402
from tinygrad_bn.nn import functional as F  # noqa: E402

BATCH, CHANNELS, SIZE, KERNEL = 32, 32, 28, 3


def make_inputs(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32),
            "w": (rng.standard_normal((CHANNELS, CHANNELS, KERNEL, KERNEL)) / 17).astype(np.float32),
            "b": rng.standard_normal(CHANNELS).astype(np.float32),
            "g": rng.standard_normal((BATCH, CHANNELS, SIZE, SIZE)).astype(np.float32)}


def forward_formulations(data: dict[str, np.ndarray]) -> dict[str, Callable[[], np.ndarray]]:
    padded = np.pad(data["x"], ((0, 0), (0, 0), (1, 1), (1, 1)))
    w = data["w"]
    windows = ops._windows(padded, (KERNEL, KERNEL), (1, 1), (1, 1))
    conv = object.__new__(ops.Conv)
    return {
        "im2col + matmul": lambda: conv.forward(padded, w, stride=(1, 1), dilation=(1, 1), groups=1),
        "einsum optimize=True": lambda: np.einsum("nchwij,ocij->nohw", windows, w, optimize=True),
        "einsum optimize=False": lambda: np.einsum("nchwij,ocij->nohw", windows, w, optimize=False),
    }


def forward_backward(data: dict[str, np.ndarray], torch: object | None) -> dict[str, Callable[[], tuple]]:
    upstream = Tensor(data["g"])

    def ours() -> tuple:
        x, w, b = (Tensor(data[k], requires_grad=True) for k in "xwb")
        y = F.conv2d(x, w, b, padding=1)
        y.backward(upstream)
        return y.data, x.grad.data, w.grad.data, b.grad.data

    runs = {"tinygrad_bn": ours}
    if torch is not None:
        tupstream = torch.from_numpy(data["g"])

        def theirs() -> tuple:
            x, w, b = (torch.tensor(data[k], requires_grad=True) for k in "xwb")
            y = torch.nn.functional.conv2d(x, w, b, padding=1)
            y.backward(tupstream)
            return y.detach().numpy(), x.grad.numpy(), w.grad.numpy(), b.grad.numpy()

        runs["torch"] = theirs
    return runs


def relative_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def check(results: dict[str, tuple], names: tuple[str, ...]) -> list[str]:
    """Disagreements beyond 1e-4 (relative, normwise) between every implementation and the first."""
    problems = []
    first, *others = results
    for other in others:
        for name, a, b in zip(names, results[other], results[first]):
            error = relative_error(a, b)
            if error > 1e-4:
                problems.append(f"{other} vs {first}: {name} differs by {error:.2e} (relative)")
    return problems


def time_all(impls: dict[str, Callable[[], object]], repeat: int) -> dict[str, dict[str, float]]:
    """Per implementation: the minimum and median seconds per call over `repeat` interleaved samples."""
    numbers = {}
    for name, fn in impls.items():
        fn()
        tick = time.perf_counter()
        fn()
        numbers[name] = max(1, int(0.2 / max(time.perf_counter() - tick, 1e-9)))
    samples: dict[str, list[float]] = {name: [] for name in impls}
    for _ in range(repeat):
        for name, fn in impls.items():
            tick = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((time.perf_counter() - tick) / numbers[name])
    return {name: {"min": min(s), "median": statistics.median(s)} for name, s in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="interleaved samples per implementation")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch comparison")
    args = parser.parse_args(argv)
    torch = None
    if not args.no_torch:
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:
            torch = None
    data = make_inputs()
    print(f"conv2d benchmark: batch {BATCH}, {CHANNELS} -> {CHANNELS} channels, {SIZE}x{SIZE}, {KERNEL}x{KERNEL}, "
          f"padding 1, float32, one thread; tinygrad_bn from {Path(tinygrad_bn.__file__).parent}")
    print(f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, numpy {np.__version__}"
          + (f", torch {torch.__version__}" if torch is not None else " (torch not installed)"))

    forwards = forward_formulations(data)
    outputs = {name: (fn(),) for name, fn in forwards.items()}
    problems = check(outputs, ("output",))
    both = forward_backward(data, torch)
    problems += check({name: fn() for name, fn in both.items()}, ("output", "x.grad", "w.grad", "b.grad"))
    if problems:
        print("implementations disagree:\n  " + "\n  ".join(problems))
        return 1

    forward_times = time_all(forwards, args.repeat)
    print("\nforward only, on the padded input:")
    fastest = min(forward_times, key=lambda k: forward_times[k]["min"])
    for name, t in forward_times.items():
        print(f"  {name:24} {1e3 * t['min']:8.2f} ms   x{t['min'] / forward_times[fastest]['min']:.2f}")
    print(f"  fastest: {fastest} (ops.Conv uses im2col + matmul)")

    times = time_all(both, args.repeat)
    print("\nforward + backward (gradients of x, w, b):")
    for name, t in times.items():
        print(f"  {name:24} {1e3 * t['min']:8.2f} ms")
    ratio = times["tinygrad_bn"]["min"] / times["torch"]["min"] if "torch" in times else None
    if ratio is not None:
        print(f"  tinygrad_bn / torch:     {ratio:8.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"forward": forward_times, "forward_backward": times, "ratio": ratio,
                                         "fastest_forward": fastest}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
