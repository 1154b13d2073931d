"""The docs hold together: every local link and anchor resolves, the README stays short, and
every `make` target and devhost command or flag they name exists (fast, no network, nothing
run: `make demo` itself is what CI runs as the quick start)."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

from tests.markdown import CODE_SPAN, HEADING, LINK, code_texts, split

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md")])
README_MAX_LINES = 250


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def slug(heading: str) -> str:
    """GitHub's anchor for a heading (github-slugger): the rendered text, lowercased, with
    everything but letters, digits, `_`, `-` and spaces removed, spaces turned into `-`."""
    parts = re.split(r"(`+.+?`+)", heading)  # code spans render as they are written
    for i in range(0, len(parts), 2):
        text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", parts[i])  # a link: its text
        text = re.sub(r"<[^>]+>", "", text)  # inline HTML
        parts[i] = re.sub(r"(\*\*|__|\*)(.+?)\1", r"\2", text)  # emphasis markers
    text = "".join(parts).replace("`", "")
    text = re.sub(r"[^\w\- ]", "", text.lower())
    return text.replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a Markdown file, duplicates numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    prose, _ = split(path.read_text(encoding="utf-8"))
    for line in prose:
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    for explicit in re.findall(r"<a\s+(?:name|id)=\"([^\"]+)\"", path.read_text(encoding="utf-8")):
        found.add(explicit)
    return frozenset(found)


def local_links(path: Path) -> list[str]:
    prose, _ = split(path.read_text(encoding="utf-8"))
    links = []
    for line in prose:
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:
                links.append(target)
    return links


# -- links ---------------------------------------------------------------------------------
def test_the_docs_exist() -> None:
    names = {_rel(p) for p in DOCS}
    assert {"README.md", "CONTRIBUTING.md", "docs/telemetry.md", "docs/devhost.md",
            "docs/testing.md", "docs/deploy.md", "docs/operations.md"} <= names, names


def test_the_slug_rules() -> None:
    assert slug("How correlation flows") == "how-correlation-flows"
    assert slug("Running under `func start` + Azurite") == "running-under-func-start--azurite"
    assert slug("Why the classic telemetry mode, with the app's own exporters") == \
        "why-the-classic-telemetry-mode-with-the-apps-own-exporters"
    assert slug("`devhost/host/`: the Functions host") == "devhosthost-the-functions-host"
    assert slug("`python -m devhost run <orchestrator>`") == "python--m-devhost-run-orchestrator"
    assert slug("Testing your own app: the `durable_app` pytest plugin") == \
        "testing-your-own-app-the-durable_app-pytest-plugin"


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_local_link_resolves(doc: Path) -> None:
    broken = []
    for target in local_links(doc):
        file_part, _, anchor = target.partition("#")
        dest = (doc.parent / file_part).resolve() if file_part else doc
        if not dest.exists():
            broken.append(f"{target}: no {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading #{anchor} in {_rel(dest)}")
        elif anchor and dest.suffix != ".md":
            broken.append(f"{target}: an anchor into a file that is not Markdown")
    assert not broken, broken


def test_the_link_check_sees_links_and_anchors() -> None:
    """Guards the parsing: if it silently found nothing, the check above would pass."""
    readme = local_links(REPO / "README.md")
    assert "docs/devhost.md" in readme and "docs/telemetry.md#attributes" in readme
    assert "app-settings" in anchors(REPO / "docs" / "deploy.md")


# -- the README ------------------------------------------------------------------------------
def test_the_readme_fits_in_250_lines() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, len(lines)


# -- make targets ----------------------------------------------------------------------------
def make_targets() -> set[str]:
    text = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([A-Za-z0-9_][\w.-]*)\s*:(?!=)", text, re.MULTILINE))
    for phony in re.findall(r"^\.PHONY\s*:(.*)$", text, re.MULTILINE):
        targets.update(phony.split())
    return targets


def named_make_targets(doc: Path) -> set[str]:
    named = set()
    for code in code_texts(doc):
        for match in re.finditer(r"(?:^|[\s;&|(])make((?:\s+[\w.-]+(?:=\S*)?)*)", code):
            for word in match.group(1).split():
                if "=" not in word:  # make PYTHON=… / make lock UPGRADE=1: variables
                    named.add(word)
    return named


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_every_make_target_named_exists(doc: Path) -> None:
    missing = named_make_targets(doc) - make_targets()
    assert not missing, sorted(missing)


def test_the_make_check_sees_targets() -> None:
    assert {"demo", "test"} <= named_make_targets(REPO / "README.md")
    assert {"lock", "bench", "bench-quick", "soak"} <= named_make_targets(REPO / "CONTRIBUTING.md")
    assert {"demo", "test", "lock", "package", "serve"} <= make_targets()


def test_the_layout_table_matches_the_tree() -> None:
    """docs/devhost.md's table names every devhost package and every module in it, and
    nothing that is not there: a row lists its modules as `name.py`, and a subpackage's as
    `sub/` (`name.py`, …)."""
    text = (REPO / "docs" / "devhost.md").read_text(encoding="utf-8")
    rows = {m.group(1): m.group(2) for m in
            re.finditer(r"^\| `(devhost/[a-z]+)/` \|[^|]*\|([^\n]*)\|$", text, re.MULTILINE)}
    packages = {f"devhost/{p.parent.name}" for p in (REPO / "devhost").glob("*/__init__.py")}
    assert set(rows) == packages
    module = r"`([a-z_]+\.(?:py|proto))`"
    for package, cell in rows.items():
        folder = REPO / package
        named: set[str] = set()
        for sub, listed in re.findall(r"`([a-z]+)/` \(([^)]*)\)", cell):
            named |= {f"{sub}/{name}" for name in re.findall(module, listed)}
        top = re.sub(r"`[a-z]+/` \([^)]*\)", "", cell)
        named |= set(re.findall(module, top))
        present = {p.relative_to(folder).as_posix() for p in folder.rglob("*.py")
                   if p.name != "__init__.py" and "_pb2" not in p.name}
        assert present - {"__main__.py"} <= named, (package, sorted(present - named))
        assert {n for n in named if not (folder / n).exists()} == set(), package
