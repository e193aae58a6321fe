"""Packaging facts the wheel check in CI (.ci/check_wheel) relies on, checked fast in the test suite: one version
(defined in tinygrad_bn/__init__.py, read by pyproject.toml, recorded in the installed metadata and in the
changelog), py.typed shipped, the package data declared, and the coverage settings that measure worker processes."""
from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

import tinygrad_bn

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_the_version_is_defined_once_and_installed_as_it_is():
    project = PYPROJECT["project"]
    assert "version" not in project and project["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "tinygrad_bn.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", tinygrad_bn.__version__)
    assert importlib.metadata.version("tinygrad_bn") == tinygrad_bn.__version__


def test_the_changelog_has_an_unreleased_section_and_one_for_this_version():
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.M)
    assert headings[0] == "Unreleased"
    assert tinygrad_bn.__version__ in headings


def test_py_typed_and_the_static_files_are_package_data():
    package = Path(tinygrad_bn.__file__).parent
    assert (package / "py.typed").is_file()
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert data["tinygrad_bn"] == ["py.typed"] and data["tinygrad_bn.viz"] == ["static/*"]
    assert {p.name for p in (package / "viz" / "static").iterdir()} >= {"explorer.html", "explorer.js", "watch.html"}


def test_every_extra_is_declared_and_the_tools_are_in_dev():
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert set(extras) == {"viz", "test", "fast", "examples", "dev"}
    names = {extra: {re.split(r"[<>=\[ ;]", dep)[0] for dep in deps} for extra, deps in extras.items()}
    assert {"pytest-cov", "coverage"} <= names["test"]
    assert {"ruff", "mypy", "build"} <= names["dev"]
    assert "urls" not in PYPROJECT["project"]  # none given rather than invented


def test_coverage_follows_subprocesses_and_worker_processes():
    run = PYPROJECT["tool"]["coverage"]["run"]
    assert run["source"] == ["tinygrad_bn"] and "subprocess" in run["patch"]
    assert "multiprocessing" in run["concurrency"] and run["sigterm"] is True
    assert PYPROJECT["tool"]["coverage"]["report"]["fail_under"] >= 90
