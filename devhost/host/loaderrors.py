"""One shape for every error that stops the host before it serves: the message, the file and
line of the user's code it comes from, exit code 2.

The Functions host reports indexing failures per function ("Worker failed to index
functions" / "The '<name>' function is in error: …") with the worker's exception; whatever
the cause (a syntax error, an exception raised while importing the app, a decorator the
library refuses, a bad timer schedule, a bad local.settings.json), devhost prints it as one
JSON object on stderr, never its own traceback.

The runtime's FunctionLoadError ("cannot load the <name> function: …", a parameter that does
not match its binding, the most common one) is raised while indexing, from the runtime's own
frames: nothing of the user's is on its stack. Its location is where that function is
defined: the file and first line (decorators included, as `co_firstlineno` counts them)
of the `def` the function name comes from, found by reading the app's source (the host
never imports the app).
"""

from __future__ import annotations

import ast
import json
import re
import traceback
from pathlib import Path
from typing import Any

EXIT_CODE = 2
# Messages that name the function at fault: azure_functions_runtime.functions
# .FunctionLoadError's, and azure-functions' FunctionBuilder.validate_function /
# FunctionApp.validate_function_names ("Function <name> does not have a trigger.", "Function
# <name> trigger … not present in bindings", "Function <name> does not have a unique function
# name."), raised while the runtime indexes, with nothing of the user's on the stack.
_NAMED_FUNCTION = (re.compile(r"cannot load the (\S+) function: "),
                   re.compile(r"\bFunction (\S+) (?:does not have|trigger )"))
_FUNCTION_NAME_DECORATOR = "function_name"  # @app.function_name(name=…) renames a function
_NOT_THE_APP = {"__pycache__", "site-packages", "node_modules"}


def _innermost(exc: BaseException) -> BaseException:
    while exc.__cause__ is not None and exc.__cause__ is not exc:
        exc = exc.__cause__
    return exc


def _user_location(exc: BaseException, app_dir: Path) -> tuple[str | None, int | None]:
    if isinstance(exc, SyntaxError) and exc.filename:
        return exc.filename, exc.lineno
    root = str(app_dir.resolve())
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.filename.startswith(root) and "site-packages" not in frame.filename:
            return frame.filename, frame.lineno
    return None, None


def _declared_name(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """The function's name as indexed: `@app.function_name(name)` or the Python name."""
    for decorator in node.decorator_list:
        if not isinstance(decorator, ast.Call):
            continue
        target = decorator.func
        called = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
        if called != _FUNCTION_NAME_DECORATOR:
            continue
        values = [*decorator.args[:1], *(k.value for k in decorator.keywords if k.arg == "name")]
        for value in values:
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    return node.name


def _sources(app_dir: Path, script: str | None) -> list[Path]:
    """The script the worker indexes first, then the app's other modules (blueprints)."""
    first = [app_dir / script] if script else []
    rest = sorted(path for path in app_dir.rglob("*.py")
                  if not any(part.startswith(".") or part in _NOT_THE_APP
                             for part in path.relative_to(app_dir).parts[:-1]))
    return first + [path for path in rest if path not in first]


def function_location(app_dir: Path, script: str | None,
                      function: str) -> tuple[str | None, int | None]:
    """Where the function named `function` is defined: file and first line, decorators
    included (what its code object's co_filename/co_firstlineno say)."""
    for path in _sources(app_dir.resolve(), script):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            # an indexed function has a trigger decorator: a plain helper of the same name
            # is not it
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) \
                    and node.decorator_list and _declared_name(node) == function:
                return str(path), min(d.lineno for d in node.decorator_list)
    return None, None


def describe(exc: BaseException, app_dir: Path, script: str | None = None) -> dict[str, Any]:
    inner = _innermost(exc)
    file, line = getattr(exc, "location", (None, None))
    if file is None:
        file, line = _user_location(inner, app_dir)
    if file is None and inner is not exc:
        file, line = _user_location(exc, app_dir)
    unfound = None
    named = next((m for p in _NAMED_FUNCTION if (m := p.search(str(exc)))), None)
    if file is None and named:
        file, line = function_location(app_dir, script, named.group(1))
        if file is None:
            unfound = (f"no decorated function named {named.group(1)!r} in "
                       f"{script or 'the app'} or its other modules, so no file or line")
    own = type(exc).__module__.startswith("devhost.")
    message = str(exc) if own else f"{type(exc).__name__}: {exc}"
    if isinstance(inner, SyntaxError):
        message = f"SyntaxError: {inner.msg}"
    elif inner is not exc and str(inner) not in message:
        message = f"{message}: {type(inner).__name__}: {inner}"
    body: dict[str, Any] = {"error": message}
    if file is not None:
        body["file"] = file
        body["line"] = line
    elif unfound:
        body["location"] = unfound
    return body


def report(exc: BaseException, app_dir: Path, script: str | None = None) -> str:
    return json.dumps(describe(exc, app_dir, script))
