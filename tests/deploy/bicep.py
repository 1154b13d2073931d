"""Just enough of Bicep read as text to cross-check the templates without a compiler
(its CLI is not installable here): parameters, module calls and object literals."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_PARAM = re.compile(r"^param (\w+) (\w+)(?: = (.+))?$", re.MULTILINE)
_MODULE = re.compile(r"^module (\w+) '([^']+)' = ", re.MULTILINE)
_KEY = re.compile(r"^\s*'?([\w-]+)'?:\s*(.*?)\s*(?://.*)?$")


@dataclass(frozen=True)
class Param:
    name: str
    type: str
    default: str | None


@dataclass(frozen=True)
class Module:
    symbol: str
    path: Path
    params: dict[str, str]


def _code(text: str) -> str:
    """Comments blanked (line and block), strings kept, so braces can be counted."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        elif text[i] == "'":
            end = i + 1
            while text[end] != "'":
                end += 2 if text[end] == "\\" else 1
            out.append(text[i:end + 1])
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def block(text: str, start: int) -> str:
    """The `{ … }` starting at the first brace at or after `start`, outside strings."""
    open_at = text.index("{", start)
    depth, i, quoted = 0, open_at, False
    while True:
        char = text[i]
        if char == "'":
            quoted = not quoted
        elif not quoted and char == "{":
            depth += 1
        elif not quoted and char == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
        i += 1


def object_keys(body: str) -> dict[str, str]:
    """Top-level `key: value` pairs of an object literal body (nested values as text)."""
    pairs: dict[str, str] = {}
    depth = 0
    for line in body.splitlines():
        if depth == 0:
            match = _KEY.match(line)
            if match:
                pairs[match.group(1)] = match.group(2)
        depth += line.count("{") + line.count("[") - line.count("}") - line.count("]")
    return pairs


class BicepFile:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.text = _code(path.read_text(encoding="utf-8"))

    def params(self) -> dict[str, Param]:
        return {m.group(1): Param(m.group(1), m.group(2), m.group(3))
                for m in _PARAM.finditer(self.text)}

    def modules(self) -> list[Module]:
        found = []
        for match in _MODULE.finditer(self.text):
            body = block(self.text, match.end())
            params_at = re.search(r"^\s*params:\s*\{", body, re.MULTILINE)
            params = object_keys(block(body, params_at.start())) if params_at else {}
            found.append(Module(match.group(1), (self.path.parent / match.group(2)).resolve(),
                                params))
        return found

    def resource_body(self, symbol: str) -> str:
        match = re.search(rf"^resource {symbol} '[^']+' = ", self.text, re.MULTILINE)
        assert match, f"{self.path.name}: no resource {symbol}"
        return block(self.text, match.end())

    def resource_type(self, symbol: str) -> str:
        match = re.search(rf"^resource {symbol} '([^']+)'", self.text, re.MULTILINE)
        assert match, f"{self.path.name}: no resource {symbol}"
        return match.group(1)
