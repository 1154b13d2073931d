"""`.funcignore` as Core Tools applies it (azure-functions-core-tools
src/Cli/func/Common/GitIgnoreParser.cs, FileSystemHelpers.GetLocalFiles), and our
`.funcignore` meaning the same under git's rules, which azd uses for the same file."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from deploy.funcignore import FuncIgnore, local_files

from .requirements import REPO


def test_patterns_anchor_at_the_root() -> None:
    """GitIgnoreParser: `^(pattern)\\b` — unlike git, a bare name matches only at the root."""
    rules = FuncIgnore("__pycache__\n")
    assert not rules.accepts("__pycache__/x.pyc")
    assert rules.accepts("telemetry/__pycache__/x.pyc")
    nested = FuncIgnore("**/__pycache__\n")
    assert not nested.accepts("telemetry/__pycache__/x.pyc")


def test_a_trailing_slash_needs_a_word_character_after_it() -> None:
    """`\\b` after `.venv/`: `.venv/.installed` starts with a dot, so it is NOT ignored."""
    rules = FuncIgnore(".venv/\n")
    assert not rules.accepts(".venv/bin/python")
    assert rules.accepts(".venv/.installed")
    assert not FuncIgnore(".venv\n").accepts(".venv/.installed")


def test_star_stays_in_one_folder_and_negation_wins() -> None:
    rules = FuncIgnore("*.md\n!KEEP.md\n# comment\n/docs\n")
    assert not rules.accepts("README.md")
    assert rules.accepts("docs2/README.md".replace("docs2", "notes"))  # *.md: root only
    assert rules.accepts("KEEP.md")
    assert not rules.accepts("docs/a.txt")  # leading "/" dropped
    assert rules.accepts("docsx/a.txt")  # word boundary after "docs" fails


def test_always_left_out_whatever_funcignore_says(tmp_path: Path) -> None:
    for name in ("a.py", "local.settings.json", ".funcignore", ".gitignore",
                 "sub/local.settings.json", ".git/config", ".vscode/x.json", "sub/b.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert list(local_files(tmp_path)) == ["a.py", "sub/b.py"]


def _all_files() -> list[str]:
    found = []
    for root, dirs, files in os.walk(REPO):
        dirs[:] = [d for d in dirs if d != ".git"]
        found += [Path(root, f).relative_to(REPO).as_posix() for f in files]
    return sorted(found)


@pytest.mark.host
def test_our_funcignore_means_the_same_to_azd(tmp_path: Path) -> None:
    """azd packages with git's ignore rules: git itself judges every file of this checkout
    (venv, node_modules and all) against our .funcignore, in a scratch repository."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text((REPO / ".funcignore").read_text())
    files = _all_files()
    done = subprocess.run(["git", "-C", str(tmp_path), "check-ignore", "--no-index", "--stdin"],
                          input="\n".join(files) + "\n", capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    ignored_by_git = set(done.stdout.splitlines())
    kept_by_git = {f for f in files if f not in ignored_by_git}
    core_tools = set(local_files(REPO))
    assert kept_by_git == core_tools, {
        "azd only": sorted(kept_by_git - core_tools), "func only": sorted(core_tools - kept_by_git)}
    assert len(files) > 1000  # the venv was judged too


# What `npx azurite` writes where it runs (Azure/Azurite v3.36.0: src/blob, queue and
# table utils/constants.ts, src/common/Telemetry.ts) and an editor's folder.
LOCAL_CLUTTER = ("__azurite_db_blob__.json", "__azurite_db_blob_extent__.json",
                 "__azurite_db_queue__.json", "__azurite_db_queue_extent__.json",
                 "__azurite_db_table__.json", "__azurite_db_table_extent__.json",
                 "__blobstorage__/0a/1b2c", "__queuestorage__/x", "__tablestorage__/y",
                 "AzuriteConfig", ".vscode/settings.json", ".vscode/launch.json")


def test_azurite_files_and_vscode_never_ship(tmp_path: Path) -> None:
    """Our .funcignore, as Core Tools reads it, keeps Azurite's files and `.vscode` out of
    an app folder that holds them next to the app."""
    (tmp_path / ".funcignore").write_text((REPO / ".funcignore").read_text())
    for name in (*LOCAL_CLUTTER, "function_app.py", "host.json", "requirements.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    assert list(local_files(tmp_path)) == ["function_app.py", "host.json", "requirements.txt"]
    rules = FuncIgnore.read(REPO)
    assert not [name for name in LOCAL_CLUTTER if rules.accepts(name)]
    # .vscode is left out by the rules themselves too, not only by Core Tools' fixed list:
    # azd reads the same file with git's rules and has no such list.
    assert not rules.accepts(".vscode/settings.json")


@pytest.mark.host
def test_git_and_azd_ignore_azurite_files_and_vscode(tmp_path: Path) -> None:
    """git's own matcher: .gitignore keeps them out of commits, and .funcignore read with
    git's rules (as azd reads it) keeps them out of azd's upload."""
    paths = "\n".join(LOCAL_CLUTTER) + "\n"
    for ignore_file in (".gitignore", ".funcignore"):
        scratch = tmp_path / ignore_file.strip(".")
        subprocess.run(["git", "init", "-q", str(scratch)], check=True)
        (scratch / ".gitignore").write_text((REPO / ignore_file).read_text())
        done = subprocess.run(["git", "-C", str(scratch), "check-ignore", "--no-index",
                               "--stdin"], input=paths, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert sorted(done.stdout.splitlines()) == sorted(LOCAL_CLUTTER), ignore_file
