"""Reading Markdown as GitHub renders it: prose and code apart, code spans, headings (shared by
the docs' checks in tests/test_docs.py and tests/devhost/cli/test_doc.py)."""

from __future__ import annotations

import re
from pathlib import Path

FENCE = re.compile(r"^(```|~~~)")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
CODE_SPAN = re.compile(r"(`+)(.+?)\1")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def split(text: str) -> tuple[list[str], list[str]]:
    """The prose lines (code blocks blanked) and the lines inside code blocks."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if FENCE.match(line.lstrip()):
            fenced = not fenced
            prose.append("")
            continue
        (code if fenced else prose).append(line)
        if fenced:
            prose.append("")
    return prose, code


def code_texts(path: Path) -> list[str]:
    """What the file shows as code: each code span, and each line of a code block."""
    prose, code = split(path.read_text(encoding="utf-8"))
    spans = [m.group(2) for line in prose for m in CODE_SPAN.finditer(line)]
    return spans + code
