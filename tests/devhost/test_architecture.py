"""The house rules a reader relies on, checked on the source rather than trusted: no import
cycle inside devhost (every import counts: module level, inside a function, under
TYPE_CHECKING), no object reaching into another's `_private` attributes, no module too long to
hold in one's head. The layering between devhost's parts is import-linter's contract
(`make lint`, [tool.importlinter] in pyproject.toml)."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEVHOST = REPO / "devhost"
MAX_LINES = 500
# Names Python gives a leading underscore only so they cannot clash with fields: public API.
PUBLIC_UNDERSCORED = {"_replace", "_asdict", "_fields", "_make", "_exit", "_getframe"}
# The standard library's own privates where it has no public name for the thing.
STDLIB_PRIVATE = {
    "atexit._run_exitfuncs",  # run the exit hooks, then os._exit past the teardown's noise
    "argparse._SubParsersAction",  # the type add_subparsers() returns
}


def sources() -> list[Path]:
    return sorted(p for p in DEVHOST.rglob("*.py") if "_pb2" not in p.name)


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str], root: Path = REPO) -> set[str]:
    """Every devhost module `path` imports, wherever the import statement stands."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            # `from devhost.host import console` imports the module devhost.host.console;
            # `from devhost.host.app import AppIndex` imports devhost.host.app.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = sources()
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_devhost() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_check_sees_function_level_and_type_checking_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "devhost"
    pkg.mkdir()
    (pkg / "a.py").write_text("from typing import TYPE_CHECKING\n"
                              "if TYPE_CHECKING:\n    from devhost.b import B\n")
    (pkg / "b.py").write_text("def f():\n    from . import a\n")
    modules = {"devhost.a", "devhost.b"}
    graph = {f"devhost.{n}": imported_modules(pkg / f"{n}.py", modules, tmp_path) for n in "ab"}
    assert graph == {"devhost.a": {"devhost.b"}, "devhost.b": {"devhost.a"}}
    assert find_cycle(graph) == ["devhost.a", "devhost.b", "devhost.a"]


def private_reaches(path: Path, root: Path = REPO) -> list[str]:
    """`other._name`: an attribute with a leading underscore read or written on anything but
    `self`, `cls` or `super()`: the object's owner decides what is private."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Attribute):
            continue
        attr = node.attr
        if not attr.startswith("_") or attr.startswith("__") or attr in PUBLIC_UNDERSCORED:
            continue
        owner = node.value
        if isinstance(owner, ast.Name) and owner.id in {"self", "cls"}:
            continue
        if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) \
                and owner.func.id == "super":
            continue
        if ast.unparse(node) in STDLIB_PRIVATE:
            continue
        found.append(f"{path.relative_to(root)}:{node.lineno} {ast.unparse(node)}")
    return found


def test_no_object_reaches_into_anothers_private_attributes() -> None:
    reaches = [line for path in sources() for line in private_reaches(path)]
    assert reaches == []


def test_the_private_check_sees_a_reach(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f(engine):\n    engine._notify('x')\n    self._ok = 1\n")
    assert private_reaches(source, tmp_path) == ["m.py:2 engine._notify"]


def test_no_devhost_module_is_over_500_lines() -> None:
    sizes = {str(p.relative_to(REPO)): len(p.read_text(encoding="utf-8").splitlines())
             for p in sources()}
    assert {path: n for path, n in sizes.items() if n > MAX_LINES} == {}
