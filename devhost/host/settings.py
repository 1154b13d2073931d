"""Apply local.settings.json the way `func start` does."""

from __future__ import annotations

import json
import os
from pathlib import Path


class SettingsError(Exception):
    pass


def apply_local_settings(app_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Copy `Values` from local.settings.json into the environment.

    Like Core Tools, a variable already set in the environment wins, so a user can override
    one setting for one run without editing the file. Returns the values that were applied.
    """
    env = os.environ if environ is None else environ
    path = app_dir / "local.settings.json"
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{path}: invalid JSON: {exc}") from exc
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: 'Values' must be an object")
    applied: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise SettingsError(f"{path}: Values.{key} must be a string")
        if key not in env:
            env[key] = str(value)
            applied[key] = str(value)
    return applied
