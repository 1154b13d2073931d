"""The app's settings as the host reads them: local.settings.json (the way `func start` applies
it), host.json, and the App Insights setting the host's own telemetry uses."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from devhost.host.connectionstring import refusal

LOCAL_SETTINGS = "local.settings.json"
HOST_JSON = "host.json"
CONNECTION_STRING = "APPLICATIONINSIGHTS_CONNECTION_STRING"
INSTRUMENTATION_KEY = "APPINSIGHTS_INSTRUMENTATIONKEY"


class SettingsError(Exception):
    """A settings file the host cannot read: the message names it; `location` is the file
    and line (loaderrors prints both)."""

    def __init__(self, message: str, path: Path, line: int | None = None) -> None:
        super().__init__(message)
        self.location: tuple[str | None, int | None] = (str(path), line)


def _parse(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SettingsError(f"Unable to parse {what} '{path}': {exc.msg} (line {exc.lineno}, "
                            f"column {exc.colno})", path, exc.lineno) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(f"Unable to parse {what} '{path}': not UTF-8 ({exc.reason})",
                            path) from None


def read_host_json(app_dir: Path) -> dict[str, Any]:
    """host.json, or {} without one. A file that is not one JSON object stops the host,
    naming it: azure-functions-host v4.1036.3, src/WebJobs.Script/Config/
    HostJsonFileConfigurationSource.cs `LoadHostConfig` ("Unable to parse host configuration
    file '<path>'.", from Json.NET's JObject.Parse, which refuses trailing content too)."""
    path = app_dir / HOST_JSON
    if not path.is_file():
        return {}
    document = _parse(path, "host configuration file")
    if not isinstance(document, dict):
        raise SettingsError(f"Unable to parse host configuration file '{path}': it must hold "
                            "a JSON object", path, 1)
    return document


def apply_local_settings(app_dir: Path, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Copy `Values` from local.settings.json into the environment.

    Like Core Tools, a variable already set in the environment wins, so a user can override
    one setting for one run without editing the file. Returns the values that were applied.
    """
    env = os.environ if environ is None else environ
    path = app_dir / LOCAL_SETTINGS
    if not path.is_file():
        return {}
    document = _parse(path, LOCAL_SETTINGS)
    values = document.get("Values", {}) if isinstance(document, dict) else None
    if not isinstance(values, dict):
        raise SettingsError(f"{path}: 'Values' must be an object", path)
    applied: dict[str, str] = {}
    for key, value in values.items():
        if not isinstance(value, str | int | float | bool):
            raise SettingsError(f"{path}: Values.{key} must be a string", path)
        if key not in env:
            env[key] = str(value)
            applied[key] = str(value)
    return applied


def set_aside_unusable_telemetry_setting(app_dir: Path, applied: dict[str, str],
                                         keeps_local: bool) -> tuple[str, dict[str, str]]:
    """An App Insights setting the exporter refuses does not stop the host.

    The Functions host takes any non-empty key or connection string
    (azure-functions-host v4.1036.3, ScriptHostBuilderExtensions.ConfigureApplicationInsights
    checks only that one is set) and starts; the ingestion endpoint then rejects what it
    sends. The Azure Monitor exporter devhost's host uses refuses such a string at
    construction (`ConnectionStringParser`: "Invalid instrumentation key. It should be a
    valid UUID."), which would stop the host. So the setting is taken out of the host's
    environment (its telemetry then goes to local insights, or nowhere) and kept for the
    workers, where the app's own exporter meets it as on Azure. Returns the one line that
    says so ("" when the setting is usable or absent) and what the workers get on top of the
    host's environment."""
    for name in (CONNECTION_STRING, INSTRUMENTATION_KEY):
        value = os.environ.get(name, "").strip()
        if not value:
            continue
        reason = refusal(value if name == CONNECTION_STRING else f"InstrumentationKey={value}")
        if reason is None:
            return "", {}  # the host uses this one (the connection string first)
        source = str(app_dir / LOCAL_SETTINGS) if name in applied else "the environment"
        for_workers = {name: os.environ.pop(name)}
        where = "kept in local Application Insights" if keeps_local else "off"
        return (f"WARNING: {name} from {source} is not usable ({reason}): the host starts "
                f"and its own telemetry is {where}; the app's workers get the setting as "
                "set"), for_workers
    return "", {}
