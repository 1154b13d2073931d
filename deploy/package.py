"""`make package`: the zip a deployment uploads, laid out as Azure's build lays it out.

The app's files are what `.funcignore` lets through (as Core Tools filters them); its
dependencies are `requirements.txt` installed with `pip install --target
.python_packages/lib/site-packages` for Azure's platform (Linux x86_64, CPython 3.13), which
is where Core Tools' local build puts them and where the Python worker looks for them.
"""

from __future__ import annotations

import argparse
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


class PackageError(Exception):
    pass


def install_command(requirements: Path, target: Path) -> list[str]:
    """pip for another platform: binary wheels only, so nothing is compiled for this machine."""
    platforms = [arg for tag in PLATFORMS for arg in ("--platform", tag)]
    return [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
            "--target", str(target), *platforms, "--implementation", "cp",
            "--python-version", PYTHON_VERSION, "--abi", "cp" + PYTHON_VERSION.replace(".", ""),
            "--only-binary=:all:", "--requirement", str(requirements)]


def build(app_dir: Path, output: Path) -> list[str]:
    """Write the zip; returns the app files it holds (site-packages aside)."""
    app_dir = app_dir.resolve()
    requirements = app_dir / "requirements.txt"
    if not requirements.is_file():
        raise PackageError(f"{requirements} is missing: Azure's build installs only what it "
                           "lists (run make lock)")
    files = list(local_files(app_dir))
    if "requirements.txt" not in files or "host.json" not in files:
        raise PackageError(".funcignore must let requirements.txt and host.json through")
    with tempfile.TemporaryDirectory(prefix="package-") as staging:
        target = Path(staging) / SITE_PACKAGES
        done = subprocess.run(install_command(requirements, target), capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise PackageError(f"pip could not install requirements.txt for Azure's platform:\n"
                               f"{done.stderr[-4000:]}")
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_suffix(".partial")
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
            for relative in files:
                archive.write(app_dir / relative, relative)
            for path in sorted(p for p in target.rglob("*") if p.is_file()):
                archive.write(path, path.relative_to(staging).as_posix())
        partial.replace(output)  # a failed build never leaves a half-written zip behind
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.package", description=__doc__)
    parser.add_argument("--app-dir", type=Path, default=Path("."))
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = parser.parse_args(argv)
    try:
        files = build(args.app_dir, args.output)
    except PackageError as exc:
        print(f"make package: {exc}", file=sys.stderr)
        return 1
    size = args.output.stat().st_size / 1e6
    print(f"{args.output}: {len(files)} app files + {SITE_PACKAGES} ({size:.1f} MB)")
    for relative in files:
        print(f"  {relative}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
