"""`make package`: the zip a deployment uploads, laid out as Azure's build lays it out, and
the same files unpacked next to it (the folder `azd deploy` zips: azure.yaml's `dist`).

The app's files are what `.funcignore` lets through (as Core Tools filters them); its
dependencies are `requirements.txt` installed with `pip install --target
.python_packages/lib/site-packages` for Azure's platform (Linux x86_64, CPython 3.13), which
is where Core Tools' local build puts them and where the Python worker looks for them.

Nothing compiled on this machine ships (`--no-compile`: no `.pyc` from the build machine's
CPython; the worker's interpreter writes its own), and what pip puts at the top of
site-packages that no requirement means to provide is left out (`STRAY`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .funcignore import local_files

SITE_PACKAGES = ".python_packages/lib/site-packages"
PYTHON_VERSION = "3.13"
# Flex Consumption runs Linux x86_64 with glibc; pip needs every manylinux tag it may accept.
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "linux_x86_64")
DEFAULT_OUTPUT = Path("dist/function-app.zip")
# Top-level entries of site-packages that are not a requirement's importable code:
# `tests` is azure-functions-durable's own test suite (its wheel lists it in top_level.txt),
# an importable `tests` package that would shadow or mix with anyone else's; `bin` holds
# console scripts whose shebang is this machine's interpreter path, useless on Azure.
STRAY = frozenset({"tests", "bin"})


class PackageError(Exception):
    pass


def unpacked_folder(output: Path) -> Path:
    """Where the unpacked copy goes: `dist/function-app.zip` → `dist/function-app/`."""
    return output.with_suffix("")


def install_command(requirements: Path, target: Path) -> list[str]:
    """pip for another platform: binary wheels only, so nothing is compiled for this machine,
    and no bytecode either."""
    platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--no-compile", "--target", str(target), *platforms, "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--abi", "cp" + PYTHON_VERSION.replace(".", ""),
            "--only-binary=:all:", "--requirement", str(requirements)]


def _drop_stray(site: Path) -> None:
    for name in STRAY:
        path = site / name
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


def _replace_folder(new: Path, final: Path) -> None:
    """Swap the unpacked folder in, so a reader never sees a half-written one."""
    old = final.with_name(final.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    new.rename(final)
    shutil.rmtree(old, ignore_errors=True)


def build(app_dir: Path, output: Path) -> list[str]:
    """Write the zip and the unpacked folder; returns the app files they hold (site-packages
    aside)."""
    app_dir = app_dir.resolve()
    requirements = app_dir / "requirements.txt"
    if not requirements.is_file():
        raise PackageError(f"{requirements} is missing: Azure's build installs only what it "
                           "lists (run make lock)")
    files = list(local_files(app_dir))
    if "requirements.txt" not in files or "host.json" not in files:
        raise PackageError(".funcignore must let requirements.txt and host.json through")
    output.parent.mkdir(parents=True, exist_ok=True)
    # Staged next to the output (same file system, so the final renames are atomic, and
    # nothing is left in the system's temp folder if the build is interrupted).
    staging = Path(tempfile.mkdtemp(prefix=".package-", dir=output.parent))
    try:
        root = staging / "root"
        target = root / SITE_PACKAGES
        done = subprocess.run(install_command(requirements, target), capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise PackageError(f"pip could not install requirements.txt for Azure's platform:\n"
                               f"{done.stderr[-4000:]}")
        _drop_stray(target)
        for relative in files:
            (root / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(app_dir / relative, root / relative)
        partial = staging / "package.zip"
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(p for p in root.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(root).as_posix())
        partial.replace(output)  # a failed build never leaves a half-written zip behind
        _replace_folder(root, unpacked_folder(output))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.package", description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=Path("."))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    if args.output.suffix != ".zip":
        print(json.dumps({"error": "--output must name a .zip file", "field": "--output",
                          "value": str(args.output)}), file=sys.stderr)
        return 2
    try:
        files = build(args.app_dir, args.output)
    except PackageError as exc:
        print(f"make package: {exc}", file=sys.stderr)
        return 1
    size = args.output.stat().st_size / 1e6
    print(f"{args.output} and {unpacked_folder(args.output)}/: {len(files)} app files + "
          f"{SITE_PACKAGES} ({size:.1f} MB zipped)")
    for relative in files:
        print(f"  {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
