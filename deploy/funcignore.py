"""`.funcignore` as Core Tools reads it (azure-functions-core-tools
src/Cli/func/Common/GitIgnoreParser.cs and FileSystemHelpers.GetLocalFiles).

This is not git's matcher: each pattern is a regular expression anchored at the start of the
path relative to the app root (`*` stays inside one folder, `**` crosses folders), followed
by a word boundary, and any `!` pattern that matches wins over every ignore pattern. So
`__pycache__` only ignores the root folder of that name; `**/__pycache__` the nested ones.
azd packages with git's rules, so our `.funcignore` uses patterns that mean the same under
both (the tests check the resulting file list).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

# Never uploaded, whatever .funcignore says (FileSystemHelpers.GetLocalFiles).
ALWAYS_IGNORED_DIRS = frozenset({".git", ".vscode"})
ALWAYS_IGNORED_FILES = frozenset({".funcignore", ".gitignore", "local.settings.json",
                                  "project.lock.json"})

_SPECIAL = re.compile(r"[\-\[\]/{}()+?.\\^$|]")


def _pattern(text: str) -> str:
    escaped = _SPECIAL.sub(lambda m: "\\" + m.group(0), text)
    return escaped.replace("**", "(.+)").replace("*", "([^/]+)")


def _compile(patterns: list[str]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    # ECMAScript \b: ASCII word characters only.
    return re.compile("^((" + ")|(".join(_pattern(p) for p in sorted(patterns)) + r"))\b",
                      re.ASCII)


class FuncIgnore:
    """Which relative paths (with `/`) a deployment package leaves out."""

    def __init__(self, text: str) -> None:
        ignore: list[str] = []
        keep: list[str] = []
        for raw in text.split("\n"):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            negated = line.startswith("!")
            if negated:
                line = line[1:]
            line = line.removeprefix("/")
            (keep if negated else ignore).append(line)
        self._ignore = _compile(ignore)
        self._keep = _compile(keep)

    @classmethod
    def read(cls, app_dir: Path) -> FuncIgnore:
        path = app_dir / ".funcignore"
        return cls(path.read_text(encoding="utf-8") if path.is_file() else "")

    def accepts(self, relative: str) -> bool:
        if self._keep is not None and self._keep.match(relative):
            return True
        return self._ignore is None or not self._ignore.match(relative)


def local_files(app_dir: Path, rules: FuncIgnore | None = None) -> Iterator[str]:
    """The app's files a deployment uploads, as sorted relative paths."""
    rules = rules or FuncIgnore.read(app_dir)
    for path in sorted(_walk(app_dir)):
        relative = path.relative_to(app_dir).as_posix()
        if rules.accepts(relative):
            yield relative


def _walk(folder: Path) -> Iterator[Path]:
    for entry in folder.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            if entry.name.lower() not in ALWAYS_IGNORED_DIRS:
                yield from _walk(entry)
        elif entry.is_file() and entry.name.lower() not in ALWAYS_IGNORED_FILES:
            yield entry
