"""host.json's versioning settings and DurableTask.Core's version comparison, without a
process: `VersioningSettings.CompareVersions` and `TaskOrchestrationDispatcher`'s match
strategies (Azure/durabletask 5217032), the defaults Microsoft documents
(durable-functions-orchestration-versioning: CurrentOrOlder, Reject)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devhost.cli.start import durable_options
from devhost.durable.errors import DurableError
from devhost.durable.versioning import (
    SettingError,
    Versioning,
    compare_versions,
    overrides_any_state,
    versioning_from,
)


def test_compare_versions_as_durabletask_core_does() -> None:
    assert compare_versions("", "") == 0
    assert compare_versions("", "1.0") == -1 and compare_versions("1.0", "") == 1
    assert compare_versions("1.10", "1.9") == 1  # System.Version, not text
    assert compare_versions("1.0", "1.0.0") == -1  # a missing part is -1 (Version.CompareTo)
    assert compare_versions("2.0", "10.0") == -1
    assert compare_versions("v2", "V2") == 0  # not a Version: text, ignoring case
    assert compare_versions("1", "2") == -1  # "1" is no System.Version: compared as text
    assert compare_versions("2025-01-01", "2024-12-31") == 1


def test_match_strategies() -> None:
    current = Versioning("1.0")  # the defaults: CurrentOrOlder, Reject
    assert current.complies("1.0") and current.complies("0.9") and current.complies("")
    assert not current.complies("1.1")
    strict = Versioning("1.0", "Strict")
    assert strict.complies("1.0") and not strict.complies("0.9") and not strict.complies("")
    assert Versioning("1.0", "None").complies("9.9")
    assert Versioning("").complies(None) and not Versioning("").complies("0.1")
    assert current.version_for_new(None) == "1.0" and current.version_for_new("") == ""


def test_host_json_settings_are_read_as_the_extension_reads_them() -> None:
    assert versioning_from({}) == Versioning("", "CurrentOrOlder", "Reject")
    assert versioning_from({"defaultVersion": "2.0", "versionMatchStrategy": "strict",
                            "versionFailureStrategy": "FAIL"}) == Versioning("2.0", "Strict",
                                                                             "Fail")
    assert not overrides_any_state({})
    assert overrides_any_state({"overridableExistingInstanceStates": "AnyState"})
    assert not overrides_any_state({"overridableExistingInstanceStates": "NonRunningStates"})


@pytest.mark.parametrize(("setting", "value"), [
    ("versionMatchStrategy", "Newest"), ("versionFailureStrategy", 1),
    ("overridableExistingInstanceStates", "Running"), ("defaultVersion", 2)])
def test_a_bad_setting_is_one_line_naming_it(setting: str, value: object) -> None:
    with pytest.raises(SettingError) as raised:
        versioning_from({setting: value})
        overrides_any_state({setting: value})
    message = str(raised.value)
    assert message.startswith(f"host.json extensions.durableTask.{setting}: ")
    assert "\n" not in message


def test_the_host_reads_them_from_host_json(tmp_path: Path) -> None:
    """`durable_options` (what `devhost start` builds the engine with) takes the durableTask
    section; a value the host refuses stops it there, before any worker starts, as one line
    the CLI prints as JSON (a DurableError)."""
    host_json = tmp_path / "host.json"
    durable = {"defaultVersion": "1.0", "versionFailureStrategy": "Fail",
               "overridableExistingInstanceStates": "AnyState"}
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": durable}}))
    options = durable_options(tmp_path)
    assert options.versioning == Versioning("1.0", "CurrentOrOlder", "Fail")
    assert options.override_any_state
    durable["versionMatchStrategy"] = "Latest"
    host_json.write_text(json.dumps({"version": "2.0", "extensions": {"durableTask": durable}}))
    with pytest.raises(DurableError, match="^host.json extensions.durableTask"
                                           ".versionMatchStrategy: 'Latest' is not one of"):
        durable_options(tmp_path)
