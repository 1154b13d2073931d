"""Reading requirements files, pyproject's dependencies and the app's imports, for the
deploy tests: names normalized as pip does (PEP 503)."""

from __future__ import annotations

import ast
import functools
import importlib.metadata as metadata
import importlib.util
import platform
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator
from pathlib import Path

from packaging.requirements import Requirement

# azure.identity builds its user agent with platform.platform(), which runs `uname -p` once
# per process (and caches it): done here, at collection, so a test that finds the app's
# imports (importing azure.identity) starts no process when it happens to be the first.
platform.processor()

REPO = Path(__file__).resolve().parents[2]
APP_SOURCES = (REPO / "function_app.py", REPO / "workflow.py",
               *sorted((REPO / "telemetry").glob("*.py")))
APP_MODULES = frozenset({"function_app", "workflow", "telemetry"})


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    """name → version of a `make lock` file; anything but `name==version` is an error."""
    found: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", \
            f"{path.name}:{number}: {line!r} is not an exact pin"
        found[normalize(requirement.name)] = specifiers[0].version
    return found


def direct_dependencies(part: str = "app") -> list[Requirement]:
    """`app`: the recipe's own (pyproject's dependency group, what requirements.txt holds);
    `devhost`: the installable package's; `dev`: the tools' extra."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    raw = (pyproject["dependency-groups"]["app"] if part == "app" else
           pyproject["project"]["dependencies"] if part == "devhost" else
           pyproject["project"]["optional-dependencies"][part])
    return [Requirement(r) for r in raw]


def closure(requirements: Iterable[Requirement]) -> set[str]:
    """Every distribution these pull in on this interpreter (CPython on Linux, as on
    Azure), from the installed metadata: the venv is installed from the lock."""
    seen: set[tuple[str, str]] = set()  # (distribution, extra it is wanted with)
    todo = [(r, "") for r in requirements]
    while todo:
        requirement, extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": extra}):
            continue
        name = normalize(requirement.name)
        for wanted in ("", *sorted(requirement.extras)):
            if (name, wanted) not in seen:
                seen.add((name, wanted))
                todo.extend((Requirement(r), wanted) for r in metadata.requires(name) or [])
    return {name for name, _ in seen}


def _imports(source: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(module, names) of every absolute import, including those inside functions."""
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, ()
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, tuple(a.name for a in node.names)


@functools.cache
def imported_modules() -> frozenset[str]:
    """Third-party modules the app's code imports (a `from x import y` where y is a module
    counts as x.y)."""
    modules: set[str] = set()
    for source in APP_SOURCES:
        for module, names in _imports(source):
            top = module.split(".")[0]
            if top in sys.stdlib_module_names or top in APP_MODULES:
                continue
            submodules = [f"{module}.{n}" for n in names if _is_module(f"{module}.{n}")]
            modules.update(submodules or [module])
    return frozenset(modules)


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


@functools.cache
def _packages() -> dict[str, list[str]]:
    return dict(metadata.packages_distributions())


@functools.cache
def distribution_of(module: str) -> str:
    """The installed distribution whose files hold this module."""
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin, f"{module} is not importable here"
    origin = Path(spec.origin).resolve()
    top = module.split(".")[0]
    for name in _packages().get(top, []):
        dist = metadata.distribution(name)
        if any(Path(str(dist.locate_file(f))).resolve() == origin for f in dist.files or []):
            return normalize(name)
    raise AssertionError(f"no installed distribution holds {origin}")
