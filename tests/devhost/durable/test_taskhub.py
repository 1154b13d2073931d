"""The task hub name the way the Durable extension settles it: DurableTaskOptions.HubName
and ResolveAppSettingOptions (TryResolveWholeString on hubName), then
AzureStorageOptions.ValidateHubName for a configured name or IsSanitizedHubName for the
default (azure-functions-durable-extension src/WebJobs.Extensions.DurableTask/Options/)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from devhost.cli.start import durable_options
from devhost.durable.taskhub import TaskHubError, task_hub_name

from ..support import APPS

REPO = Path(__file__).resolve().parents[3]


def test_hub_name_from_an_app_setting() -> None:
    assert task_hub_name("%TASKHUB_NAME%", {"TASKHUB_NAME": "OrdersHub"}) == "OrdersHub"
    assert task_hub_name("Orders%SLOT%", {"SLOT": "Blue"}) == "OrdersBlue"


def test_unresolved_setting_stays_literal_and_is_refused() -> None:
    """TryResolveWholeString fails → hubName keeps '%TASKHUB_NAME%' → ValidateHubName throws
    (the host does not start): the error names the setting."""
    with pytest.raises(TaskHubError, match="'%TASKHUB_NAME%'.*names an app setting"):
        task_hub_name("%TASKHUB_NAME%", {})


@pytest.mark.parametrize("name", ["ab", "1Hub", "my-hub", "Hub_1", "H" * 51])
def test_configured_names_azure_storage_refuses(name: str) -> None:
    with pytest.raises(TaskHubError, match="alphanumeric"):
        task_hub_name(name, {})


def test_default_is_the_site_name_sanitized_or_test_hub_name() -> None:
    assert task_hub_name(None, {}) == "TestHubName"
    assert task_hub_name(None, {"WEBSITE_SITE_NAME": "func-api-7x"}) == "funcapi7x"
    assert task_hub_name(None, {"WEBSITE_SITE_NAME": "9lives"}) == "t9lives"
    assert task_hub_name(None, {"WEBSITE_SITE_NAME": "a"}) == "aHub"
    assert task_hub_name(None, {"WEBSITE_SITE_NAME": "--"}) == "DefaultTaskHub"


def _app_dir(tmp_path: Path, hub: str) -> Path:
    tmp_path.mkdir(parents=True, exist_ok=True)
    (tmp_path / "host.json").write_text(json.dumps(
        {"version": "2.0", "extensions": {"durableTask": {"hubName": hub}}}))
    return tmp_path


def test_durable_options_resolve_host_json_from_settings(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TASKHUB_NAME", "BlueSlotHub")
    assert durable_options(_app_dir(tmp_path, "%TASKHUB_NAME%")).task_hub == "BlueSlotHub"


@pytest.mark.host
def test_devhost_refuses_to_start_on_an_unresolved_hub_name(tmp_path: Path) -> None:
    """Like the host, devhost stops before running anything, with a JSON error."""
    app_dir = _app_dir(tmp_path / "app", "%TASKHUB_NAME%")
    (app_dir / "semantics_app.py").write_text((APPS / "semantics_app.py").read_text())
    env = {k: v for k, v in os.environ.items() if k != "TASKHUB_NAME"}
    done = subprocess.run(
        [sys.executable, "-m", "devhost", "run", "nothing", "--app", "semantics_app",
         "--app-dir", str(app_dir), "--data-dir", str(tmp_path / "data")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    error = json.loads(done.stderr.strip().splitlines()[-1])
    assert "'%TASKHUB_NAME%' names an app setting that is not set" in error["error"]
    assert not (tmp_path / "data" / "durable.sqlite").exists()
