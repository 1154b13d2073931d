"""The docs hold together: every local link and anchor resolves, the README stays short, and
every `make` target and devhost command or flag they name exists (fast, no network, nothing
run: `make demo` itself is what CI runs as the quick start)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DOCS = sorted([REPO / "README.md", REPO / "CONTRIBUTING.md", *(REPO / "docs").glob("*.md")])
README_MAX_LINES = 250

_FENCE = re.compile(r"^(```|~~~)")
_LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def _rel(path: Path) -> str:
    return path.relative_to(REPO).as_posix()


def _split(text: str) -> tuple[list[str], list[str]]:
    """The prose lines (code blocks blanked) and the lines inside code blocks."""
    prose: list[str] = []
    code: list[str] = []
    fenced = False
    for line in text.splitlines():
        if _FENCE.match(line.lstrip()):
            fenced = not fenced
            prose.append("")
            continue
        (code if fenced else prose).append(line)
        if fenced:
            prose.append("")
    return prose, code


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
    prose, _ = _split(path.read_text(encoding="utf-8"))
    for line in prose:
        match = _HEADING.match(line)
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
    prose, _ = _split(path.read_text(encoding="utf-8"))
    links = []
    for line in prose:
        for target in _LINK.findall(_CODE_SPAN.sub("", line)):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # http:, mailto:
                links.append(target)
    return links


def code_texts(path: Path) -> list[str]:
    """What the file shows as code: each code span, and each line of a code block."""
    prose, code = _split(path.read_text(encoding="utf-8"))
    spans = [m.group(2) for line in prose for m in _CODE_SPAN.finditer(line)]
    return spans + code


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


# -- devhost commands and flags --------------------------------------------------------------
# What the CLI accepts, as `devhost … --help` prints it, read in one child process (the CLI
# itself is not imported here: the recipe's tests reach devhost only through devhost.testing).
# The child walks the commands as a user would, by their usage lines, one `--help` at a time.
_HELP_WALK = r"""
import contextlib, io, json, re, sys
from devhost.cli import build_parser

def help_text(command):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return out.getvalue()

texts, level = {}, [()]
while level:
    for command in level:
        texts[command] = help_text(command)
    level = [(*command, name) for command in level
             for name in re.findall(r"[\w-]+", (re.search(sys.argv[1],
                 texts[command].split("\n\n", 1)[0]) or [None, ""])[1])]
json.dump([[list(command), text] for command, text in texts.items()], sys.stdout)
"""
# A command's subcommands: the `{a,b}` choices of its usage line; an option's choices
# (`[--format {json,table}]`) are not commands.
_SUBCOMMANDS = r"(?:\]|devhost) \{([\w,-]+)\}"


@cache
def help_texts() -> dict[tuple[str, ...], str]:
    done = subprocess.run([sys.executable, "-c", _HELP_WALK, _SUBCOMMANDS], cwd=REPO,
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "COLUMNS": "200"})
    assert done.returncode == 0, done.stderr[-2000:]
    return {tuple(command): text for command, text in json.loads(done.stdout)}


def help_text(command: tuple[str, ...]) -> str:
    return help_texts()[command]


def subcommands(command: tuple[str, ...]) -> list[str]:
    choices = re.search(_SUBCOMMANDS, help_text(command).split("\n\n", 1)[0])
    return choices.group(1).split(",") if choices else []


@cache
def commands() -> dict[tuple[str, ...], list[str]]:
    """Every devhost command (("start",), ("insights", "query"), …) with its subcommands."""
    return {command: subcommands(command) for command in help_texts()}


@cache
def flags(command: tuple[str, ...]) -> frozenset[str]:
    """The options `--help` lists for a command."""
    options = help_text(command).partition("\noptions:")[2]
    listed = re.findall(r"^\s+(?:-\w[ ,\w]*, )?(--[a-z][\w-]*)", options, re.MULTILINE)
    return frozenset(listed) - {"--help"}


def leaves() -> list[tuple[str, ...]]:
    return [command for command, subs in commands().items() if command and not subs]


def _command_of(words: list[str]) -> tuple[tuple[str, ...], list[str]]:
    """The longest command the words start with, and the words after it."""
    path: tuple[str, ...] = ()
    while words and (*path, words[0]) in commands():
        path = (*path, words[0])
        words = words[1:]
    return path, words


_INVOCATION = re.compile(r"(?:python -m )?\bdevhost ([a-z][\w-]*(?:(?!\s+#\s)[^`])*)")


def invocations(doc: Path) -> list[tuple[str, tuple[str, ...], list[str]]]:
    """Each `python -m devhost <command> …` / `devhost <command> …` the file shows as code:
    the text, the command, its --flags."""
    found = []
    for code in code_texts(doc):
        for match in _INVOCATION.finditer(code):
            try:
                words = shlex.split(match.group(1).replace("[", " ").replace("]", " "))
            except ValueError:
                words = match.group(1).replace("[", " ").replace("]", " ").split()
            path, rest = _command_of(words)
            found.append((match.group(0), path, [w.split("=")[0] for w in rest
                                                 if w.startswith("--")]))
    return found


def _section_flags(doc: Path) -> list[tuple[str, tuple[str, ...], str]]:
    """Flags named under a heading that is a devhost command (`### python -m devhost run …`)."""
    found = []
    command: tuple[str, ...] | None = None
    level = 0
    prose, _ = _split(doc.read_text(encoding="utf-8"))
    for line in prose:
        heading = _HEADING.match(line)
        if heading:
            depth = len(heading.group(1))
            named = re.search(r"python -m devhost ([a-z ]+)", heading.group(2))
            if named:
                command, level = _command_of(named.group(1).split())[0], depth
            elif command is not None and depth <= level:
                command = None
            continue
        if command is not None:
            for span in _CODE_SPAN.finditer(line):
                for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", span.group(2)):
                    found.append((heading_text(command), command, flag))
    return found


def heading_text(command: tuple[str, ...]) -> str:
    return "python -m devhost " + " ".join(command)


DEVHOST_DOC = REPO / "docs" / "devhost.md"
# The tests reading the help run on one xdist worker, which reads it once.
_SHARES_THE_HELP = pytest.mark.xdist_group("devhost-help")


@pytest.mark.host  # runs the CLI's --help
@_SHARES_THE_HELP
def test_every_devhost_command_shown_is_one_the_cli_has() -> None:
    unknown = [text for text, path, _ in invocations(DEVHOST_DOC) if not path]
    assert not unknown, unknown
    incomplete = [text for text, path, _ in invocations(DEVHOST_DOC)
                  if path and commands()[path]]
    assert not incomplete, incomplete  # `devhost insights` alone is no command


@pytest.mark.host  # runs the CLI's --help
@_SHARES_THE_HELP
def test_every_devhost_flag_shown_is_one_the_cli_accepts() -> None:
    refused = [f"{text}: {flag}" for text, path, used in invocations(DEVHOST_DOC) if path
               for flag in used if flag not in flags(path)]
    refused += [f"{where}: {flag}" for where, path, flag in _section_flags(DEVHOST_DOC)
                if flag not in flags(path)]
    assert not refused, refused


@pytest.mark.host  # runs the CLI's --help
@_SHARES_THE_HELP
def test_every_command_and_flag_of_the_cli_is_in_the_devhost_doc() -> None:
    text = DEVHOST_DOC.read_text(encoding="utf-8")
    missing = [heading_text(p) for p in leaves() if heading_text(p) not in text]
    missing += [f"{heading_text(p)} {flag}" for p in leaves() for flag in sorted(flags(p))
                if f"`{flag}`" not in text]
    assert not missing, missing


@pytest.mark.host  # runs the CLI's --help
@_SHARES_THE_HELP
def test_every_flag_in_the_devhost_doc_is_a_devhost_flag() -> None:
    """Flags shown outside a command's own line or section (the table of shared flags)."""
    known = set().union(*(flags(command) for command in leaves()))
    shown = {flag for code in code_texts(DEVHOST_DOC)
             for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", code)}
    assert not shown - known, sorted(shown - known)


@pytest.mark.host  # runs the CLI's --help
@_SHARES_THE_HELP
def test_the_devhost_check_sees_commands_and_flags() -> None:
    """Guards the parsing, and that a wrong flag would be caught."""
    shown = {(path, flag) for _, path, used in invocations(DEVHOST_DOC) for flag in used}
    assert (("start",), "--port") in shown and (("insights", "query"), "--format") in shown
    in_sections = {(path, flag) for _, path, flag in _section_flags(DEVHOST_DOC)}
    assert (("run",), "--instance-id") in in_sections
    assert (("call",), "--no-follow") in in_sections
    assert {"--port", "--allow-remote", "--app"} <= flags(("start",))
    assert "--nope" not in flags(("start",))
    assert sorted(leaves()) == [("call",), ("insights", "query"), ("insights", "run"), ("run",),
                                ("start",)]
    assert _command_of(["insights", "run", "x"]) == (("insights", "run"), ["x"])


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
