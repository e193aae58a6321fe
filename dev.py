#!/usr/bin/env python3
"""Set up a local virtual environment and run the project's tasks: `python3 dev.py demo|test|setup|bench`.

The README's quick start is exactly `python3 dev.py demo` and `python3 dev.py test`. Each creates
`.venv/` beside this file on first use, installs the package in editable mode with the extras the
task needs, and reinstalls only when pyproject.toml or the version changes. Needs nothing but Python >= 3.10.

`python3 dev.py test` runs ruff, mypy, then the whole suite under coverage (pytest-cov, every process the
tests start included; the report is printed and a total below the floor in pyproject.toml fails, when the
optional tools whose tests would skip are all installed, as in CI). With arguments,
`python3 dev.py test ARGS` runs `pytest ARGS` without coverage: a part of the suite would miss the floor.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def setup(extras: str = "dev") -> None:
    """Create .venv and install the package with `extras`, unless pyproject.toml is unchanged since."""
    if sys.version_info < (3, 10):  # noqa: UP036 (dev.py runs on the system Python, before any venv)
        sys.exit(f"tinygrad_bn needs Python >= 3.10; this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print(f"creating virtual environment in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    # The version is defined in tinygrad_bn/__init__.py, and an editable install's metadata copies it.
    version = [line for line in (ROOT / "tinygrad_bn" / "__init__.py").read_text().splitlines()
               if line.startswith("__version__")]
    key = (ROOT / "pyproject.toml").read_bytes() + extras.encode() + repr(version).encode()
    digest = hashlib.sha256(key).hexdigest()
    stamp = VENV / ".tinygrad_bn-installed"
    if stamp.exists() and stamp.read_text() == digest:
        return
    run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"])
    run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]"])
    stamp.write_text(digest)


def run(cmd: list, **kwargs) -> None:
    """Run a command from the repository root; exit with its status if it fails."""
    result = subprocess.run([str(c) for c in cmd], cwd=ROOT, **kwargs)
    if result.returncode != 0:
        sys.exit(result.returncode)


def missing_test_tools() -> list[str]:
    """The optional tools some tests need (torch, numba, Graphviz's dot, Chromium) that this machine lacks."""
    missing = [name for name in ("torch", "numba")
               if subprocess.run([str(PYTHON), "-c", f"import {name}"], capture_output=True).returncode != 0]
    return missing + [name for name in ("dot", "chromium") if shutil.which(name) is None]


def main(argv: list[str]) -> None:
    task, rest = (argv[0], argv[1:]) if argv else ("test", [])
    if task == "setup":
        setup()
    elif task == "demo":
        setup()
        run([PYTHON, "-m", "tinygrad_bn", "demo", *rest])
    elif task == "test":
        setup()
        run([PYTHON, "-m", "ruff", "check", "."])
        run([PYTHON, "-m", "mypy"])  # the package, strict across module boundaries ([tool.mypy] in pyproject.toml)
        if rest:
            run([PYTHON, "-m", "pytest", "-q", *rest])
        else:
            # Every process the tests start writes its coverage data beside this file, whatever its own folder
            # (forked workers read the name from pyproject.toml, relative); COVERAGE_FILE may put it elsewhere,
            # e.g. to keep two runs in one checkout apart.
            data_file = ROOT / os.environ.get("COVERAGE_FILE", ".coverage")
            env = {**os.environ, "COVERAGE_FILE": str(data_file)}
            command = [PYTHON, "-m", "pytest", "-q", "--cov", "--cov-report=term"]
            missing = missing_test_tools()
            if missing:  # their tests skip, so the figure says less: report it, hold the floor where CI runs
                print(f"dev.py: {', '.join(missing)} not installed: their tests skip, and the coverage floor "
                      "(pyproject.toml; CI installs them all) is not applied to this partial run", flush=True)
                command.append("--cov-fail-under=0")
            run(command, env=env)
    elif task == "bench":
        setup()
        run([PYTHON, "benchmarks/bench_engine.py", *rest])
        run([PYTHON, "benchmarks/bench_train.py"])
        run([PYTHON, "benchmarks/bench_viz.py"])
    else:
        sys.exit(f"unknown task {task!r}; use one of: demo, test, setup, bench")


if __name__ == "__main__":
    main(sys.argv[1:])
