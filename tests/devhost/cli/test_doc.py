"""docs/devhost.md and the CLI agree: every command and flag the doc shows is one the CLI
accepts, and every command and flag of the CLI is in the doc. What the CLI accepts is what
`devhost … --help` prints, walked as a user would, by each command's usage line."""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from functools import cache
from pathlib import Path
from unittest import mock

from devhost.cli import build_parser
from tests.markdown import CODE_SPAN, HEADING, code_texts, split

DEVHOST_DOC = Path(__file__).resolve().parents[3] / "docs" / "devhost.md"
# A command's subcommands: the `{a,b}` choices of its usage line; an option's choices
# (`[--format {json,table}]`) are not commands.
_SUBCOMMANDS = re.compile(r"(?:\]|devhost) \{([\w,-]+)\}")


@cache
def help_text(command: tuple[str, ...]) -> str:
    out = io.StringIO()
    wide = mock.patch.dict(os.environ, {"COLUMNS": "200"})  # one line per option
    with wide, contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
        build_parser().parse_args([*command, "--help"])
    return out.getvalue()


def subcommands(command: tuple[str, ...]) -> list[str]:
    choices = _SUBCOMMANDS.search(help_text(command).split("\n\n", 1)[0])
    return choices.group(1).split(",") if choices else []


@cache
def commands() -> dict[tuple[str, ...], list[str]]:
    """Every devhost command (("start",), ("insights", "query"), …) with its subcommands."""
    found: dict[tuple[str, ...], list[str]] = {}
    level: list[tuple[str, ...]] = [()]
    while level:
        assert len(level[0]) < 4, level
        found.update((command, subcommands(command)) for command in level)
        level = [(*command, name) for command in level for name in found[command]]
    return found


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
    prose, _ = split(doc.read_text(encoding="utf-8"))
    for line in prose:
        heading = HEADING.match(line)
        if heading:
            depth = len(heading.group(1))
            named = re.search(r"python -m devhost ([a-z ]+)", heading.group(2))
            if named:
                command, level = _command_of(named.group(1).split())[0], depth
            elif command is not None and depth <= level:
                command = None
            continue
        if command is not None:
            for span in CODE_SPAN.finditer(line):
                for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", span.group(2)):
                    found.append((heading_text(command), command, flag))
    return found


def heading_text(command: tuple[str, ...]) -> str:
    return "python -m devhost " + " ".join(command)




def test_every_devhost_command_shown_is_one_the_cli_has() -> None:
    unknown = [text for text, path, _ in invocations(DEVHOST_DOC) if not path]
    assert not unknown, unknown
    incomplete = [text for text, path, _ in invocations(DEVHOST_DOC)
                  if path and commands()[path]]
    assert not incomplete, incomplete  # `devhost insights` alone is no command


def test_every_devhost_flag_shown_is_one_the_cli_accepts() -> None:
    refused = [f"{text}: {flag}" for text, path, used in invocations(DEVHOST_DOC) if path
               for flag in used if flag not in flags(path)]
    refused += [f"{where}: {flag}" for where, path, flag in _section_flags(DEVHOST_DOC)
                if flag not in flags(path)]
    assert not refused, refused


def test_every_command_and_flag_of_the_cli_is_in_the_devhost_doc() -> None:
    text = DEVHOST_DOC.read_text(encoding="utf-8")
    missing = [heading_text(p) for p in leaves() if heading_text(p) not in text]
    missing += [f"{heading_text(p)} {flag}" for p in leaves() for flag in sorted(flags(p))
                if f"`{flag}`" not in text]
    assert not missing, missing


def test_every_flag_in_the_devhost_doc_is_a_devhost_flag() -> None:
    """Flags shown outside a command's own line or section (the table of shared flags)."""
    known = set().union(*(flags(command) for command in leaves()))
    shown = {flag for code in code_texts(DEVHOST_DOC)
             for flag in re.findall(r"(?<![\w-])--[a-z][\w-]*", code)}
    assert not shown - known, sorted(shown - known)


def test_the_devhost_check_sees_commands_and_flags() -> None:
    """Guards the parsing, and that a wrong flag would be caught."""
    shown = {(path, flag) for _, path, used in invocations(DEVHOST_DOC) for flag in used}
    assert (("start",), "--port") in shown and (("insights", "query"), "--format") in shown
    in_sections = {(path, flag) for _, path, flag in _section_flags(DEVHOST_DOC)}
    assert (("run",), "--instance-id") in in_sections
    assert (("call",), "--no-follow") in in_sections
    assert {"--port", "--allow-remote", "--app"} <= flags(("start",))
    assert "--nope" not in flags(("start",))
    assert sorted(leaves()) == [("call",), ("insights", "open"), ("insights", "query"),
                                ("insights", "run"), ("run",), ("start",)]
    assert _command_of(["insights", "run", "x"]) == (("insights", "run"), ["x"])
