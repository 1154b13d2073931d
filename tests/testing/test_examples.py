"""The example app's own tests pass as its user would run them (plain pytest in its folder),
and they, like the recipe's tests, reach devhost only through the plugin's public API."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import devhost.testing

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/function_app.py"))
# Helpers of devhost's own suite: they reach devhost's internals.
INTERNAL_HELPERS = ("tests.devhost", "tests.hosting")
# Code in a string (a probe run with `python -c`) counts too.
_CODE_IMPORT = re.compile(r"^\s*(from\s+(devhost|tests\.devhost|tests\.hosting)[\w.]*\s+import\b"
                          r"|import\s+(devhost|tests\.devhost|tests\.hosting)\b)", re.M)


def guarded_files() -> list[Path]:
    """Every recipe test, the telemetry package's tests and every example (app and tests)."""
    files = sorted((REPO / "tests").glob("test_*.py")) + [REPO / "tests" / "conftest.py"]
    files += sorted((REPO / "tests" / "telemetry").rglob("*.py"))
    files += sorted((REPO / "examples").rglob("*.py"))
    return files


def violations(source: str) -> list[str]:
    """Imports of devhost other than `from devhost.testing import <public names>`, of the
    helpers of devhost's own suite, and code in strings that imports them."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names
                      if a.name.split(".")[0] == "devhost" or a.name.startswith(INTERNAL_HELPERS)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = [a.name for a in node.names]
            if node.level and ("devhost" in module.split(".") or module.endswith("hosting")):
                found.append(f"from {'.' * node.level}{module} import {', '.join(names)}")
            elif module == "devhost.testing":
                private = sorted(set(names) - set(devhost.testing.__all__))
                if private:
                    found.append(f"from devhost.testing import {', '.join(private)} "
                                 "(not in devhost.testing.__all__)")
            elif module.split(".")[0] == "devhost" or module.startswith(INTERNAL_HELPERS):
                found.append(f"from {module} import {', '.join(names)}")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found += [f"in a string: {m.group(0).strip()}"
                      for m in _CODE_IMPORT.finditer(node.value)]
    return found


def test_there_is_an_example() -> None:
    assert [p.name for p in EXAMPLES] == ["approval"]


@pytest.mark.slow
@pytest.mark.host
def test_example_tests_pass_under_plain_pytest() -> None:
    for example in EXAMPLES:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                cwd=example, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert " passed" in result.stdout and "failed" not in result.stdout


def test_recipe_telemetry_and_example_code_use_only_the_public_api() -> None:
    files = guarded_files()
    assert REPO / "tests" / "test_function_app.py" in files
    assert REPO / "tests" / "telemetry" / "test_config.py" in files
    assert any(f.parent.name == "tests" and f.parent.parent.parent.name == "examples"
               for f in files)
    found = {str(f.relative_to(REPO)): v for f in files
             if (v := violations(f.read_text(encoding="utf-8")))}
    assert found == {}
    assert not (REPO / "tests" / "recipe.py").exists()
    for example in EXAMPLES:  # the app itself never imports devhost, not even the plugin
        tree = ast.parse((example / "function_app.py").read_text(encoding="utf-8"))
        modules = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import)
                   for a in n.names] + [n.module or "" for n in ast.walk(tree)
                                        if isinstance(n, ast.ImportFrom)]
        assert not [m for m in modules if m.split(".")[0] == "devhost"], example


@pytest.mark.parametrize("source", [
    "import devhost",
    "import devhost.testing",
    "from devhost import testing",
    "from devhost.cli.start import load_app",
    "from devhost.testing.app import RunHandle",
    "from devhost.testing import DurableApp, HostProcess",
    "from tests.devhost.conftest import http",
    "from tests.devhost.support import http",
    "from tests.hosting import start",
    "from ..devhost.conftest import APPS",
    "from ..devhost.support import APPS",
    'PROBE = """\nimport json\nfrom devhost.host.server import BackgroundHost\n"""',
    'PROBE = "import devhost.cli"',
])
def test_the_guard_catches_internal_imports(source: str) -> None:
    assert violations(source), source


def test_the_guard_lets_the_public_api_through() -> None:
    assert violations("from devhost.testing import DurableApp, Replay, RunHandle\n"
                      "def test_x(durable_app):\n    'reads devhost.testing docs'\n") == []


def test_the_docs_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (REPO / "docs" / "testing.md").read_text(encoding="utf-8")
    start = readme.index("# test_recipe.py")
    example = readme[start:readme.index("```", start)]
    for name in ("function_app.py", "workflow.py", "host.json"):
        (pytester.path / name).write_text((REPO / name).read_text(encoding="utf-8"))
    shutil.copytree(REPO / "telemetry", pytester.path / "telemetry")  # as the docs say
    pytester.makeini("[pytest]\n")
    (pytester.path / "test_recipe.py").write_text(example, encoding="utf-8")
    pytester.runpytest().assert_outcomes(passed=2)
