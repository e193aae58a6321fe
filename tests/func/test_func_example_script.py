"""examples/hessian_spectrum.py runs in --quick mode and writes its figure and numbers; its power iteration
finds the Hessian's eigenvalues (checked against the full Hessian of a tiny network)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from tinygrad_bn import Tensor, func

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "examples"))
import hessian_spectrum  # noqa: E402


def test_quick_run_writes_png_and_json(tmp_path):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "MPLBACKEND": "Agg"}
    result = subprocess.run([sys.executable, ROOT / "examples" / "hessian_spectrum.py", "--quick", "--out", tmp_path],
                            capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "hessian_spectrum.json").read_text())
    for key in ("bn", "no_bn"):
        assert data[key]["steps"] == [0, 2, 4] and all(len(s) == 2 for s in data[key]["top_eigenvalues"])
        assert np.isfinite(data[key]["top_eigenvalues"]).all()
    assert (tmp_path / "hessian_spectrum.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "with BN" in result.stdout


def test_power_iteration_finds_the_largest_eigenvalues():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 3))

    def loss(p):
        return ((Tensor(a) @ p["w"]).tanh() ** 2).sum() + (p["w"] ** 4).sum()

    params = {"w": Tensor(rng.standard_normal(3))}
    found = hessian_spectrum.top_eigenvalues(loss, params, k=2, iterations=200, rng=rng)
    h = func.hessian(loss)(params)["w"]["w"].numpy()
    eigenvalues = np.linalg.eigvalsh(h)
    expected = eigenvalues[np.argsort(-np.abs(eigenvalues))][:2]
    np.testing.assert_allclose(found, expected, rtol=1e-6)
