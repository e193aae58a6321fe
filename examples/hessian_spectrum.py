#!/usr/bin/env python3
"""The top of the loss Hessian's spectrum, with and without batch norm, by power iteration on `func.hvp`.

Two small networks that differ only in BatchNorm1d layers are trained with the same full-batch SGD on
the same data (three Gaussian classes in 10 dimensions). Every few steps the largest Hessian eigenvalues
of the training loss with respect to all parameters are found by power iteration with deflation: each
iteration is one Hessian-vector product, `func.hvp(loss, (params,), (v,))`, where `loss(params)` runs the
network through `func.functional_call`. The Hessian is never formed.

    python3 examples/hessian_spectrum.py                  # writes docs/figures/hessian_spectrum.{png,json}
    python3 examples/hessian_spectrum.py --quick --out /tmp/spectrum
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from tinygrad_bn import Tensor, func, nn
from tinygrad_bn.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
Params = dict[str, Tensor]


def make_data(n: int, seed: int) -> tuple[Tensor, np.ndarray]:
    """Three Gaussian classes in 10 dimensions, with unequal feature scales (what BN undoes)."""
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((3, 10)) * 1.5
    labels = rng.integers(0, 3, n)
    scales = np.geomspace(0.2, 5.0, 10)
    x = (centers[labels] + rng.standard_normal((n, 10))) * scales
    return Tensor(x), labels


def make_model(batchnorm: bool, seed: int) -> nn.Sequential:
    """10-32-32-3 tanh network in float64; with BN, a BatchNorm1d after each hidden Linear."""
    rng = np.random.default_rng(seed)
    layers: list[nn.Module] = []
    for fan_in, fan_out in ((10, 32), (32, 32)):
        linear = nn.Linear(fan_in, fan_out, dtype=np.float64)
        linear.weight.data[...] = rng.standard_normal((fan_out, fan_in)) / np.sqrt(fan_in)
        linear.bias.data[...] = 0.0
        layers.append(linear)
        if batchnorm:
            layers.append(nn.BatchNorm1d(fan_out, dtype=np.float64))
        layers.append(nn.Tanh())
    head = nn.Linear(32, 3, dtype=np.float64)
    head.weight.data[...] = rng.standard_normal((3, 32)) / np.sqrt(32)
    head.bias.data[...] = 0.0
    return nn.Sequential(*layers, head)


def dot(a: Params, b: Params) -> float:
    return float(sum(np.sum(a[k].data * b[k].data) for k in a))


def axpy(alpha: float, a: Params, b: Params) -> Params:
    """alpha * a + b, for dicts of tensors."""
    return {k: Tensor(alpha * a[k].data + b[k].data) for k in a}


def scale(alpha: float, a: Params) -> Params:
    return {k: Tensor(alpha * a[k].data) for k in a}


def top_eigenvalues(loss, params: Params, k: int, iterations: int, rng: np.random.Generator) -> list[float]:
    """The k eigenvalues of largest magnitude of the Hessian of `loss` at `params`, by power iteration
    with deflation (each found eigenvector is projected out of the next search)."""
    found: list[tuple[float, Params]] = []
    for _ in range(k):
        v = {name: Tensor(rng.standard_normal(p.shape)) for name, p in params.items()}
        v = scale(1 / np.sqrt(dot(v, v)), v)
        value = 0.0
        for _ in range(iterations):
            _, (hv,) = func.hvp(loss, (params,), (v,))
            for eigenvalue, u in found:  # deflate: H - sum lambda u u^T
                hv = axpy(-eigenvalue * dot(u, v), u, hv)
            value = dot(v, hv)  # Rayleigh quotient (v has unit length)
            v = scale(1 / np.sqrt(dot(hv, hv)), hv)
        found.append((value, v))
    return [value for value, _ in found]


def run(batchnorm: bool, args: argparse.Namespace) -> dict:
    x, labels = make_data(args.samples, args.seed)
    model = make_model(batchnorm, args.seed)
    rng = np.random.default_rng(args.seed + 1)

    def loss(params: Params) -> Tensor:
        return F.cross_entropy(func.functional_call(model, params, (x,)), labels)

    steps, spectra, losses = [], [], []
    for step in range(args.steps + 1):
        if step % args.every == 0:
            params = {name: Tensor(p.numpy().copy()) for name, p in model.named_parameters()}
            spectra.append(top_eigenvalues(loss, params, args.top, args.iterations, rng))
            steps.append(step)
            losses.append(float(loss(params).item()))
        if step < args.steps:  # plain full-batch SGD on the module's own parameters
            model.zero_grad()
            F.cross_entropy(model(x), labels).backward()
            for p in model.parameters():
                p.data -= args.lr * p.grad.data
    return {"steps": steps, "top_eigenvalues": spectra, "loss": losses}


def plot(results: dict, path: Path) -> None:
    from tinygrad_bn.plotting import save_png, subplots

    fig, (left, right) = subplots(1, 2, figsize=(10, 3.8))
    for key, color in (("no_bn", "tab:red"), ("bn", "tab:blue")):
        r = results[key]
        label = "with BN" if key == "bn" else "without BN"
        left.plot(r["steps"], [s[0] for s in r["top_eigenvalues"]], "o-", color=color, label=label)
        right.plot(range(1, len(r["top_eigenvalues"][-1]) + 1), r["top_eigenvalues"][-1], "o-", color=color,
                   label=label)
    left.set(xlabel="SGD step", ylabel="eigenvalue of largest |.|", title="Sharpness during training")
    right.set(xlabel="rank", ylabel="eigenvalue", title=f"Top of the spectrum after {results['steps']} steps")
    right.axhline(0, color="gray", lw=0.5)
    for ax in (left, right):
        ax.legend()
        ax.grid(alpha=0.3)
    save_png(fig, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures")
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--every", type=int, default=25)
    parser.add_argument("--top", type=int, default=5, help="eigenvalues to find")
    parser.add_argument("--iterations", type=int, default=40, help="power iterations per eigenvalue")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a tiny run, for tests")
    args = parser.parse_args()
    if args.quick:
        args.samples, args.steps, args.every, args.top, args.iterations = 64, 4, 2, 2, 5
    start = time.perf_counter()
    results = {"steps": args.steps, "lr": args.lr, "samples": args.samples, "iterations": args.iterations,
               "quick": args.quick, "bn": run(True, args), "no_bn": run(False, args)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "hessian_spectrum.json").write_text(json.dumps(results, indent=1) + "\n")
    plot(results, args.out / "hessian_spectrum.png")
    for key in ("no_bn", "bn"):
        r = results[key]
        print(f"{'with BN' if key == 'bn' else 'without BN':>10}: largest eigenvalue "
              + " -> ".join(f"{s[0]:.3g}" for s in r["top_eigenvalues"])
              + f"; loss {r['loss'][0]:.3f} -> {r['loss'][-1]:.3f}")
    print(f"wrote {args.out / 'hessian_spectrum.png'} and .json in {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
