#!/usr/bin/env python3
"""One whole training step: hand-written numpy, PyTorch eager, tinygrad_bn eager and compiled, in one run.

The step: an MLP 784 -> [W] x5 -> 10 with BatchNorm1d before each ReLU, float32, softmax cross-entropy,
plain SGD (lr 0.01): forward, loss, backward, update, and BN's running statistics; for W in {100, 300}
and batch in {32, 100, 1000}.

- numpy:        the same network written by hand in the style of the source material's MultiLayerNetExtend
                (Affine, BatchNorm and ReLU layers; BN with its closed-form backward), no graph;
- torch:        the same stack of torch.nn layers and torch.optim.SGD (skipped without torch);
- eager:        tinygrad_bn's `TrainStep` (nn.MLP(..., batchnorm=True), F.cross_entropy, SGD);
- compiled:     the same step through `tinygrad_bn.jit(..., fuse=False)` (captured, then replayed as
                planned numpy calls);
- fused:        `tinygrad_bn.jit(..., fuse=True)`: elementwise chains and batch reductions as generated
                numba kernels (skipped without numba, the `fast` extra);
- matmul floor: the step's 17 matrix products alone, with the same shapes (what no implementation avoids);
- t.floor:      the same 17 products with torch's own BLAS (skipped without torch): torch's lead where the
                products dominate is its BLAS, not its step.

All start from the same weights; before timing, one step of each must give the same loss and the same
updated parameters (relative error below 1e-4), else the script exits with status 1. Timing: single-
threaded BLAS, the implementations sampled in turn, each sample long enough to last ~20 ms; the ratio
of each implementation to numpy is taken per round (paired), and the table reports the median of those
ratios (the machines are shared and noisy: paired ratios cancel the drift a round shares). Also: peak
memory per step (tracemalloc, which numpy reports to), the compiled step's capture time, and page faults
per step where an implementation has any (glibc faulting freed memory back in: a cost of allocating per
operation that comes and goes with what else ran in the process).

    python3 benchmarks/bench_train.py [--widths 100,300] [--batches 32,100,1000] [--repeat 11] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

try:
    import resource  # POSIX only: page fault counts
except ImportError:  # pragma: no cover (Windows)
    resource = None  # type: ignore[assignment]

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from bench_engine import calibrate, environment, fmt_time  # noqa: E402  (sets single-threaded BLAS)

from tinygrad_bn.compiler.fuse import available as fuse_available  # noqa: E402

LR, EPS, MOMENTUM = 0.01, 1e-5, 0.1


def sizes_for(width: int) -> list[int]:
    return [784] + [width] * 5 + [10]


def initial_weights(sizes: list[int], seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialized weights in PyTorch's layout (out, in), zero biases."""
    rng = np.random.default_rng(seed)
    return [((rng.standard_normal((o, i)) * np.sqrt(2.0 / i)).astype(np.float32), np.zeros(o, np.float32))
            for i, o in zip(sizes[:-1], sizes[1:])]


class NumpyNet:
    """Hand-written Affine -> BatchNorm -> ReLU stack with softmax cross-entropy, forward and backward."""

    def __init__(self, weights: list[tuple[np.ndarray, np.ndarray]]) -> None:
        self.W = [w.T.copy() for w, _ in weights]  # (in, out), as the source material lays them out
        self.b = [b.copy() for _, b in weights]
        hidden = [w.shape[0] for w, _ in weights[:-1]]
        self.gamma = [np.ones(n, np.float32) for n in hidden]
        self.beta = [np.zeros(n, np.float32) for n in hidden]
        self.running_mean = [np.zeros(n, np.float32) for n in hidden]
        self.running_var = [np.ones(n, np.float32) for n in hidden]

    def step(self, x: np.ndarray, t: np.ndarray) -> float:
        n = len(x)
        cache = []
        h = x
        for k in range(len(self.gamma)):
            a = h @ self.W[k] + self.b[k]
            mu = a.mean(axis=0)
            xc = a - mu
            var = (xc * xc).mean(axis=0)
            std = np.sqrt(var + EPS)
            xn = xc / std
            self.running_mean[k] = (1 - MOMENTUM) * self.running_mean[k] + MOMENTUM * mu
            self.running_var[k] = (1 - MOMENTUM) * self.running_var[k] + MOMENTUM * var * (n / (n - 1))
            z = self.gamma[k] * xn + self.beta[k]
            mask = z > 0
            cache.append((h, xc, std, xn, mask))
            h = z * mask
        logits = h @ self.W[-1] + self.b[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        probs = e / e.sum(axis=1, keepdims=True)
        loss = -np.log(probs[np.arange(n), t] + 1e-30).mean()
        dlogits = probs
        dlogits[np.arange(n), t] -= 1
        dlogits /= n
        dW, db = [None] * len(self.W), [None] * len(self.b)
        dW[-1], db[-1] = h.T @ dlogits, dlogits.sum(axis=0)
        dh = dlogits @ self.W[-1].T
        dgamma, dbeta = [None] * len(self.gamma), [None] * len(self.beta)
        for k in reversed(range(len(self.gamma))):
            h_in, xc, std, xn, mask = cache[k]
            dz = dh * mask
            dbeta[k], dgamma[k] = dz.sum(axis=0), (xn * dz).sum(axis=0)
            dxn = self.gamma[k] * dz  # the closed-form batch-norm backward
            da = (n * dxn - dxn.sum(axis=0) - xn * (dxn * xn).sum(axis=0)) / (n * std)
            dW[k], db[k] = h_in.T @ da, da.sum(axis=0)
            dh = da @ self.W[k].T
        for params, grads in ((self.W, dW), (self.b, db), (self.gamma, dgamma), (self.beta, dbeta)):
            for p, g in zip(params, grads):
                p -= LR * g
        return float(loss)


def tinygrad_step_fn(weights, x, t, compiled: bool = False, fuse: bool = False):
    from tinygrad_bn import Tensor, jit, nn, optim
    from tinygrad_bn.nn import functional as F
    from tinygrad_bn.train import TrainStep

    sizes = [weights[0][0].shape[1]] + [w.shape[0] for w, _ in weights]
    model = nn.MLP(sizes[0], sizes[1:-1], sizes[-1], batchnorm=True)
    model.load_state_dict({f"{3 * k}.{name}": value for k, (w, b) in enumerate(weights)
                           for name, value in (("weight", w), ("bias", b))}, strict=False)
    opt = optim.SGD(model.parameters(), lr=LR)
    train_step = TrainStep(model, F.cross_entropy, opt)
    if compiled:
        train_step = jit(train_step, fuse=fuse)
    xt, tt = Tensor(x), Tensor(t)

    def step() -> float:
        loss, _ = train_step(xt, tt)
        return float(loss.data)

    return step, model, train_step


def torch_step_fn(weights, x, t):
    import torch

    torch.set_num_threads(1)
    sizes = [weights[0][0].shape[1]] + [w.shape[0] for w, _ in weights]
    layers = []
    for k, (i, o) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(i, o))
        if k < len(sizes) - 2:
            layers += [torch.nn.BatchNorm1d(o, eps=EPS, momentum=MOMENTUM), torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers)
    with torch.no_grad():
        for k, (w, b) in enumerate(weights):
            model[3 * k].weight.copy_(torch.from_numpy(w))
            model[3 * k].bias.copy_(torch.from_numpy(b))
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    xt, tt = torch.from_numpy(x), torch.from_numpy(t)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> float:
        loss = loss_fn(model(xt), tt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return step, model


def rel(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b), 1e-30))


def check_agreement(weights, x, t) -> list[str]:
    """One step of each from the same start: same loss, same updated first and last weights."""
    problems = []
    reference = NumpyNet(weights)
    ref_loss = reference.step(x, t)
    ref_first, ref_last = reference.W[0].T, reference.W[-1].T
    for compiled in (False, True):
        step, model, _ = tinygrad_step_fn(weights, x, t, compiled)
        loss = step()
        params = dict(model.named_parameters())
        name = "compiled" if compiled else "eager"
        for label, got in (("loss", abs(loss - ref_loss) / abs(ref_loss)),
                           ("first weight", rel(params["0.weight"].numpy(), ref_first)),
                           ("last weight", rel(params[f"{3 * (len(weights) - 1)}.weight"].numpy(), ref_last))):
            if got > 1e-4:
                problems.append(f"tinygrad_bn {name} vs numpy: {label} differs by {got:.2e}")
    try:
        tstep, tmodel = torch_step_fn(weights, x, t)
    except ImportError:
        return problems
    tloss = tstep()
    if abs(tloss - ref_loss) / abs(ref_loss) > 1e-4:
        problems.append(f"torch vs numpy: loss differs ({tloss} vs {ref_loss})")
    if rel(tmodel[0].weight.detach().numpy(), ref_first) > 1e-4:
        problems.append("torch vs numpy: first weight differs")
    return problems


def matmul_floor_fn(weights, x, use_torch: bool = False):
    """The step's matrix products alone: the forward's, and the backward's for the weights and the inputs.
    With `use_torch`, the same products with torch's own BLAS: how much of torch's lead is its BLAS."""
    if use_torch:
        import torch

        torch.set_num_threads(1)
        array, ones = torch.from_numpy, (lambda shape: torch.ones(*shape))
    else:
        array, ones = (lambda a: a), (lambda shape: np.ones(shape, np.float32))
    ws = [array(w.T.copy()) for w, _ in weights]
    acts = [array(x)] + [ones((len(x), w.shape[1])) for w in ws]
    grads = [ones(tuple(a.shape)) for a in acts[1:]]

    def run() -> None:
        for k, w in enumerate(ws):
            acts[k] @ w
        for k in reversed(range(len(ws))):
            acts[k].T @ grads[k]
            if k:
                grads[k] @ ws[k].T

    return run


def peak_bytes(fn) -> int:
    """Peak memory allocated during one call (numpy reports its buffers to tracemalloc)."""
    fn()
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return peak


def _minor_faults() -> int:
    """Page faults of this process so far (0 where the platform does not count them)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt if resource is not None else 0


def paired_ratios(fns: dict, repeat: int, reference: str = "numpy") -> dict[str, dict[str, float]]:
    """Per round, each implementation's time per call; the median over rounds of time / reference time.
    Also the page faults per call: glibc returns freed memory to the system and faults it back in later,
    and how often depends on what else ran in the process (here: the other implementations), so a step
    that allocates per operation can pay for it in one run and not in the next."""
    numbers = {name: calibrate(fn) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    faults = dict.fromkeys(fns, 0)
    for _ in range(repeat):
        for name, fn in fns.items():
            before = _minor_faults()
            start = time.perf_counter()
            for _ in range(numbers[name]):
                fn()
            samples[name].append((time.perf_counter() - start) / numbers[name])
            faults[name] += _minor_faults() - before
    out = {}
    for name, times in samples.items():
        ratios = [a / b for a, b in zip(times, samples[reference])]
        out[name] = {"median": statistics.median(times), "min": min(times),
                     "ratio": statistics.median(ratios), "faults_per_call": faults[name] / (numbers[name] * repeat)}
    return out


def bench_config(width: int, batch: int, repeat: int) -> dict:
    sizes = sizes_for(width)
    rng = np.random.default_rng(1)
    x = rng.random((batch, sizes[0]), dtype=np.float32)
    t = rng.integers(0, sizes[-1], batch)
    weights = initial_weights(sizes)
    problems = check_agreement(weights, x, t)
    if problems:
        return {"width": width, "batch": batch, "problems": problems}
    numpy_net = NumpyNet(weights)
    eager = tinygrad_step_fn(weights, x, t)[0]
    compiled_step, _, compiled = tinygrad_step_fn(weights, x, t, compiled=True)
    tick = time.perf_counter()
    for _ in range(3):  # two captures, then the first replay
        compiled_step()
    capture = compiled.capture_seconds
    first_replay = time.perf_counter() - tick - capture
    fns = {"numpy": lambda: numpy_net.step(x, t), "eager": eager, "compiled": compiled_step,
           "matmul floor": matmul_floor_fn(weights, x)}
    fused_capture = None
    if fuse_available():
        fused_step, _, fused = tinygrad_step_fn(weights, x, t, compiled=True, fuse=True)
        for _ in range(3):
            fused_step()
        fns["fused"] = fused_step
        fused_capture = fused.capture_seconds
    try:
        fns["torch"] = torch_step_fn(weights, x, t)[0]
        fns["torch matmul floor"] = matmul_floor_fn(weights, x, use_torch=True)
    except ImportError:
        pass
    timing = paired_ratios(fns, repeat)
    memory = {name: peak_bytes(fns[name]) for name in ("numpy", "eager", "compiled", "fused") if name in fns}
    program = compiled.stats()["programs"][0]
    return {"width": width, "batch": batch, "timing": timing, "peak_bytes": memory,
            "capture_seconds": capture, "fused_capture_seconds": fused_capture,
            "first_replay_seconds": first_replay, "program": program}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--widths", default="100,300")
    parser.add_argument("--batches", default="32,100,1000")
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--json", default=None, help="write every number to this JSON file")
    args = parser.parse_args(argv)
    rows = []
    print("training step: MLP 784-[W]x5-10, BatchNorm1d + ReLU, float32, SGD, cross-entropy; "
          "ratios: median of paired time ratios to the hand-written numpy step")
    header = (f"{'W':>4} {'batch':>5} {'numpy':>9} {'torch':>6} {'eager':>6} {'compiled':>8} {'fused':>6} "
              f"{'floor':>6} {'t.floor':>7} {'comp/torch':>10} {'fused/torch':>11} {'fused/floor':>11} {'capture':>8} "
              f"{'MB eager':>8} {'MB comp':>7}")
    print(header)
    failed = False
    for width in (int(w) for w in args.widths.split(",")):
        for batch in (int(b) for b in args.batches.split(",")):
            row = bench_config(width, batch, args.repeat)
            rows.append(row)
            if "problems" in row:
                failed = True
                print(f"{width:>4} {batch:>5}  the implementations disagree:\n  " + "\n  ".join(row["problems"]))
                continue
            tm = row["timing"]
            torch_ratio = tm["torch"]["ratio"] if "torch" in tm else None
            comp = tm["compiled"]["ratio"]
            fused = tm["fused"]["ratio"] if "fused" in tm else None
            floor = tm["matmul floor"]["ratio"]
            torch_floor = tm["torch matmul floor"]["ratio"] if "torch matmul floor" in tm else None

            def cell(value: float | None, width: int) -> str:
                return f"{'-' if value is None else f'{value:.2f}':>{width}}"

            print(f"{width:>4} {batch:>5} {fmt_time(tm['numpy']['median']):>9} {cell(torch_ratio, 6)} "
                  f"{tm['eager']['ratio']:>6.2f} {comp:>8.2f} {cell(fused, 6)} {floor:>6.2f} {cell(torch_floor, 7)} "
                  f"{cell(comp / torch_ratio if torch_ratio else None, 10)} "
                  f"{cell(fused / torch_ratio if torch_ratio and fused else None, 11)} "
                  f"{cell(fused / floor if fused else None, 11)} {row['capture_seconds'] * 1e3:>6.0f}ms "
                  f"{row['peak_bytes']['eager'] / 2**20:>8.2f} {row['peak_bytes']['compiled'] / 2**20:>7.2f}",
                  flush=True)
            faulting = {name: t["faults_per_call"] for name, t in tm.items() if t["faults_per_call"] >= 1}
            if faulting:  # memory given back and faulted in again: time that depends on the process's history
                counts = ", ".join(f"{name} {n:.0f}" for name, n in faulting.items())
                print(f"           page faults per step: {counts}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "environment": environment()}, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
