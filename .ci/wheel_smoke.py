"""Run by .ci/check_wheel with the python of a fresh environment holding the installed wheel (`[examples]` extra),
from a folder outside the checkout: every module of the package imports (or needs only an optional library that
extra does not bring), and each subpackage does one small thing."""
from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

import numpy as np

import tinygrad_bn as tg

# Libraries of the other extras (viz, test, fast) and of optional cross-checks; a module may need them.
OPTIONAL = {"graphviz", "hypothesis", "numba", "dask", "distributed", "torch", "IPython", "ipywidgets", "playwright",
            "nbformat", "nbclient"}

assert tg.__file__.startswith(sys.prefix), f"tinygrad_bn imported from {tg.__file__}, not from {sys.prefix}"
here = Path(__file__).resolve().parents[1]
assert here not in Path(tg.__file__).resolve().parents, "tinygrad_bn imported from the checkout"
assert (Path(tg.__file__).parent / "py.typed").is_file(), "py.typed is not installed"

imported, optional = [], []
for info in pkgutil.walk_packages(tg.__path__, "tinygrad_bn."):
    if info.name.endswith("__main__"):
        continue
    try:
        importlib.import_module(info.name)
        imported.append(info.name)
    except ModuleNotFoundError as err:
        if (err.name or "").split(".")[0] not in OPTIONAL:
            raise
        optional.append(f"{info.name} (needs {err.name})")
print(f"imported {len(imported)} modules; needing another extra: {', '.join(optional) or 'none'}")

from tinygrad_bn import compiler, data, debug, experiments, func, nn, optim, search, testing, train, viz  # noqa: E402
from tinygrad_bn.nn import functional as F  # noqa: E402

# The engine and composed BN: a gradient of a gradient.
x = tg.Tensor(np.random.default_rng(0).standard_normal((8, 3)), requires_grad=True)
gamma, beta = tg.Tensor(np.ones(3), requires_grad=True), tg.Tensor(np.zeros(3), requires_grad=True)
y = F.batch_norm(x, None, None, gamma, beta, training=True)
(dx,) = tg.grad((y ** 3).mean(), x, create_graph=True)
(dx * dx).sum().backward()
assert x.grad is not None and np.isfinite(x.grad.numpy()).all()

# nn, optim, data, train: a BN MLP trained for one epoch on the bundled digits, compiled step (compiler).
(xtr, ytr), (xte, yte) = data.load_digits()
tg.manual_seed(0)
model = nn.MLP(64, [32, 32], 10, batchnorm=True)
optimizer = optim.Adam(model.parameters(), lr=0.01)
history = train.fit(model, F.cross_entropy, optimizer, data.DataLoader(xtr, ytr, 64, shuffle=True, seed=0), 1,
                    dev_loader=data.DataLoader(xte, yte, 256), progress=False)
assert history.dev_acc[-1] > 0.5, history.dev_acc

# compiler: a step captured and replayed.
w = tg.Tensor(np.ones(3), requires_grad=True)


@tg.jit
def step(a):
    w.grad = None
    loss = ((a * w) ** 2).sum()
    loss.backward()
    return loss


values = [float(step(tg.Tensor(np.arange(3.0))).item()) for _ in range(3)]
assert values == [5.0] * 3, values
assert isinstance(step, compiler.CompiledStep)

# func and testing: the exact Hessian of a cubic; gradcheck through composed BN.
h = func.hessian(lambda t: (t ** 3).sum())(tg.Tensor(np.array([1.0, 2.0])))
assert np.allclose(h.numpy(), np.diag([6.0, 12.0])), h
testing.gradcheck(lambda a: (F.batch_norm(a, None, None, None, None, training=True) ** 2 * a).sum(),
                  [np.random.default_rng(1).random((4, 2))])

# search: a small random search in this process.
result = search.random_search(lambda c: (c["x"] - 0.3) ** 2, {"x": search.uniform(0.0, 1.0)}, n_trials=5, jobs=1,
                              progress=False)
assert result.best.value is not None and result.best.value < 0.25, result.best

# debug: the profiler counts ops.
with tg.profile() as prof:
    (tg.Tensor(np.ones(3)) * 2).sum()
assert "Mul" in prof.table(), prof.table()

# experiments and viz: an example model's graph recorded for drawing (drawing needs the viz extra).
with viz.trace():
    out, module = experiments.graph_models.build("bn1d")
assert out._ctx is not None

print("each subpackage did its small thing:", ", ".join(m.__name__.split(".")[1] for m in
      (nn, optim, data, train, compiler, func, testing, search, debug, experiments, viz)))
