"""One shape for every error that stops the host before it serves: the message, the file and
line of the user's code it comes from, exit code 2.

The Functions host reports indexing failures per function ("Worker failed to index
functions" / "The '<name>' function is in error: …") with the worker's exception; whatever
the cause (a syntax error, an exception raised while importing the app, a decorator the
library refuses, a bad timer schedule, a bad local.settings.json), devhost prints it as one
JSON object on stderr, never its own traceback.
"""

from __future__ import annotations

import json
import traceback
from pathlib import Path
from typing import Any

EXIT_CODE = 2


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


def describe(exc: BaseException, app_dir: Path) -> dict[str, Any]:
    inner = _innermost(exc)
    file, line = getattr(exc, "location", (None, None))
    if file is None:
        file, line = _user_location(inner, app_dir)
    if file is None and inner is not exc:
        file, line = _user_location(exc, app_dir)
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
    return body


def report(exc: BaseException, app_dir: Path) -> str:
    return json.dumps(describe(exc, app_dir))
