"""Check what `python -m build` wrote (called by .ci/check_wheel): `python .ci/check_dist.py DIST_DIR`.

The wheel holds the package and its dist-info, nothing else (no tests, docs, benchmarks, examples, caches): every
module, `py.typed` and the viz page's static files, exactly the files of the source tree's package. Its metadata
is complete and agrees with pyproject.toml: name, the version from tinygrad_bn/__init__.py (the one place it is
defined), summary, the README as the description, license, classifiers, keywords, Python requirement, the
dependencies and every extra, the console script; no project URLs (the project has none to give yet). The sdist
holds what building the wheel from it needs. Prints what it checked; exits 1 with every problem found.
"""
from __future__ import annotations

import ast
import sys
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10: tomli comes with coverage[toml] (the test extra)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tinygrad_bn"
problems: list[str] = []


def check(ok: bool, message: str) -> None:
    if not ok:
        problems.append(message)


def source_version() -> str:
    for node in ast.parse((PACKAGE / "__init__.py").read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__version__" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("check_dist: no __version__ in tinygrad_bn/__init__.py")


def package_files() -> set[str]:
    """The files the wheel must hold under tinygrad_bn/: modules, py.typed and the viz page's static files."""
    wanted = {p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts}
    wanted |= {PACKAGE / "py.typed"} | set((PACKAGE / "viz" / "static").iterdir())
    return {p.relative_to(ROOT).as_posix() for p in wanted}


def check_wheel(path: Path, version: str, project: dict) -> None:
    with zipfile.ZipFile(path) as wheel:
        names = [n for n in wheel.namelist() if not n.endswith("/")]
        dist_info = f"tinygrad_bn-{version}.dist-info/"
        outside = [n for n in names if not n.startswith(("tinygrad_bn/", dist_info))]
        check(not outside, f"wheel: files outside the package and its dist-info: {outside}")
        in_package = {n for n in names if n.startswith("tinygrad_bn/")}
        wanted = package_files()
        check(not wanted - in_package, f"wheel: missing {sorted(wanted - in_package)}")
        check(not in_package - wanted, f"wheel: files that are not the package's own: {sorted(in_package - wanted)}")
        for must in ("tinygrad_bn/py.typed", "tinygrad_bn/viz/static/explorer.js", "tinygrad_bn/viz/static/watch.html",
                     dist_info + "licenses/LICENSE"):
            check(must in names, f"wheel: no {must}")
        meta = Parser().parsestr(wheel.read(dist_info + "METADATA").decode())
        entry_points = wheel.read(dist_info + "entry_points.txt").decode()
    print(f"{path.name}: {len(names)} files, {len(in_package)} under tinygrad_bn/ "
          f"({len([n for n in in_package if '/static/' in n])} of them static files), the rest in {dist_info}")

    def field(name: str, expected: str | None) -> None:
        got = meta.get(name)
        check(got == expected, f"METADATA {name}: {got!r}, expected {expected!r}")

    field("Name", project["name"])
    field("Version", version)
    field("Summary", project["description"])
    field("Requires-Python", project["requires-python"])
    field("License-Expression", project["license"])
    field("Description-Content-Type", "text/markdown")
    field("Keywords", ",".join(project["keywords"]))
    check(meta.get_payload().strip() == (ROOT / "README.md").read_text().strip(),
          "METADATA: the long description is not the README")
    check(meta.get_all("Classifier") == project["classifiers"], "METADATA: classifiers differ from pyproject.toml")
    extras = sorted(meta.get_all("Provides-Extra") or [])
    check(extras == sorted(project["optional-dependencies"]), f"METADATA: extras {extras}")
    requires = meta.get_all("Requires-Dist") or []
    for dep in project["dependencies"]:
        check(dep in requires, f"METADATA: no Requires-Dist {dep}")
    for extra, deps in project["optional-dependencies"].items():
        listed = [r for r in requires if r.endswith(f'; extra == "{extra}"')]
        check(len(listed) == len(deps), f"METADATA: extra {extra} lists {listed}, pyproject.toml {deps}")
    for absent in ("Project-URL", "Home-page", "Download-URL"):
        check(absent not in meta, f"METADATA: {absent} given, but the project has no URL to give")
    check("tinygrad-bn = tinygrad_bn.cli:main" in entry_points, "entry_points.txt: no tinygrad-bn console script")
    print(f"METADATA: {meta['Name']} {meta['Version']}, {meta['License-Expression']}, Python {meta['Requires-Python']},"
          f" extras {', '.join(extras)}, {len(meta.get_all('Classifier') or [])} classifiers, no project URLs")


def check_sdist(path: Path, version: str) -> None:
    """The sdist (MANIFEST.in): the package, what building needs and the changelog; no tests, docs or caches."""
    top = f"tinygrad_bn-{version}/"
    with tarfile.open(path) as sdist:
        names = {m.name for m in sdist.getmembers() if m.isfile()}
    check(all(n.startswith(top) for n in names), f"sdist: files outside {top}")
    files = {n[len(top):] for n in names}
    for must in ("PKG-INFO", "pyproject.toml", "README.md", "CHANGELOG.md", "LICENSE", "tinygrad_bn/__init__.py",
                 "tinygrad_bn/py.typed", "tinygrad_bn/viz/static/explorer.js"):
        check(must in files, f"sdist: no {top + must}")
    allowed = ("tinygrad_bn/", "tinygrad_bn.egg-info/", "PKG-INFO", "pyproject.toml", "README.md", "CHANGELOG.md",
               "LICENSE", "MANIFEST.in", "setup.cfg")
    extra = sorted(f for f in files if not f.startswith(allowed) or "__pycache__" in f or f.endswith(".pyc"))
    check(not extra, f"sdist: files beyond the package and what building it needs: {extra}")
    print(f"{path.name}: {len(names)} files: the package, pyproject.toml, README.md, CHANGELOG.md, LICENSE, PKG-INFO")


def main(dist: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    check(project.get("dynamic") == ["version"] and "version" not in project,
          "pyproject.toml: the version must come from tinygrad_bn.__version__ (dynamic)")
    version = source_version()
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        raise SystemExit(f"check_dist: expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    check(wheels[0].name == f"tinygrad_bn-{version}-py3-none-any.whl", f"wheel file name {wheels[0].name}")
    check(sdists[0].name == f"tinygrad_bn-{version}.tar.gz", f"sdist file name {sdists[0].name}")
    check_wheel(wheels[0], version, project)
    check_sdist(sdists[0], version)
    if problems:
        print("check_dist: FAILED\n  " + "\n  ".join(problems), file=sys.stderr)
        sys.exit(1)
    print("check_dist: the wheel and the sdist are complete")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
