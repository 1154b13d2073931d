"""The example app's own tests pass as its user would run them (plain pytest in its folder),
and they, like the recipe's tests, reach devhost only through the plugin's public API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.parent for p in (REPO / "examples").glob("*/function_app.py"))
RECIPE_TESTS = ["test_function_app.py", "test_starter_input.py", "test_hostile_input.py",
                "test_orchestrators_replay_safe.py"]


def devhost_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "devhost"}
        elif isinstance(node, ast.ImportFrom) and node.module and \
                node.module.split(".")[0] == "devhost":
            found.add(node.module)
    return found


def test_there_is_an_example() -> None:
    assert [p.name for p in EXAMPLES] == ["approval"]


def test_example_tests_pass_under_plain_pytest() -> None:
    for example in EXAMPLES:
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                                cwd=example, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
        assert " passed" in result.stdout and "failed" not in result.stdout


def test_example_and_recipe_tests_use_only_the_public_api() -> None:
    files = [REPO / "tests" / name for name in RECIPE_TESTS]
    files += [f for example in EXAMPLES for f in (example / "tests").glob("*.py")]
    assert len(files) > len(RECIPE_TESTS)
    for path in files:
        assert devhost_imports(path) <= {"devhost.testing"}, path
    assert not (REPO / "tests" / "recipe.py").exists()


def test_the_readme_example_runs_as_written(pytester: pytest.Pytester) -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    start = readme.index("# test_recipe.py")
    example = readme[start:readme.index("```", start)]
    for name in ("function_app.py", "workflow.py", "host.json"):
        (pytester.path / name).write_text((REPO / name).read_text(encoding="utf-8"))
    pytester.makeini("[pytest]\n")
    (pytester.path / "test_recipe.py").write_text(example, encoding="utf-8")
    pytester.runpytest().assert_outcomes(passed=2)
