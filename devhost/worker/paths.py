"""Where the worker finds the app and the app's own packages.

On Azure (Linux dedicated/premium, see proxy_worker/utils/dependency.py DependencyManager)
the worker's `sys.path` starts with the app folder, then the app's packages, then the
worker's own:

    <app_dir>                                   # function_app.py is imported from here
    <app_dir>/.python_packages/lib/site-packages   # what the deployment build installed
    ... the worker's interpreter paths ...

`app_paths(app_dir)` gives the first two and `use_app_paths` puts them in front, so an
unpacked deployment artifact (requirements installed into `.python_packages/lib/site-packages`
next to `function_app.py`) runs on devhost with the packages it ships winning over the
venv's — the same order as Azure. The folder is optional: without it the venv is used.
"""

from __future__ import annotations

import sys
from pathlib import Path

PACKAGES = Path(".python_packages") / "lib" / "site-packages"


def app_paths(app_dir: str | Path) -> list[str]:
    root = Path(app_dir).resolve()
    return [str(root), str(root / PACKAGES)]


def use_app_paths(app_dir: str | Path) -> None:
    """Put the app folder and its packages first on sys.path (once each)."""
    paths = app_paths(app_dir)
    sys.path[:] = paths + [p for p in sys.path if p not in paths]
    sys.path_importer_cache.clear()
