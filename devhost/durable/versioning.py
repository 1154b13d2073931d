"""Orchestration versioning and the start-over-an-existing-id rule, as host.json configures
them for extension 3.x (bundle 4.26+).

- `defaultVersion`, `versionMatchStrategy`, `versionFailureStrategy` (durableTask section):
  the extension's DurableTaskOptions (azure-functions-durable-extension PR #3095, 3.3.0) hand
  them to DurableTask.Core as `VersioningSettings`; Microsoft's docs
  (durable-functions-orchestration-versioning) give the defaults: `CurrentOrOlder`, `Reject`.
  An instance gets its version when it is created (ExecutionStartedEvent.Version): the
  caller's (`start_new(version=)`, `call_sub_orchestrator(version=)`: the `?version=` query
  and the action's `version`, extension PR #3213) or else `defaultVersion` as it is at that
  moment. Before each episode, `TaskOrchestrationDispatcher.OnProcessWorkItemAsync`
  (Azure/durabletask 5217032) checks the instance's version against `defaultVersion`: `Strict`
  wants the same string, `CurrentOrOlder` no newer (`VersioningSettings.CompareVersions`);
  on a mismatch `Fail` ends the orchestration Failed (FailureDetails `VersionMismatch`), and
  `Reject` abandons the work item unchanged, to be tried again.
- `overridableExistingInstanceStates`: `NonRunningStates` (default) refuses a start onto an id
  whose instance is Pending, Running or Suspended (OverridableStates.ToDedupeStatuses);
  `AnyState` lets the new instance replace it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from devhost.durable.errors import DurableError
from devhost.durable.history import Event, EventType

NONE, STRICT, CURRENT_OR_OLDER = "None", "Strict", "CurrentOrOlder"
REJECT, FAIL = "Reject", "Fail"
NON_RUNNING_STATES, ANY_STATE = "NonRunningStates", "AnyState"
# TaskOrchestrationDispatcher: new FailureDetails("VersionMismatch", "...", null, null, true)
MISMATCH_TYPE = "VersionMismatch"
MISMATCH_MESSAGE = "Orchestration version did not comply with Worker Versioning"
_SECTION = "host.json extensions.durableTask"
_DOTNET_VERSION = re.compile(r"\d+(\.\d+){1,3}")  # System.Version.TryParse: 2 to 4 parts


class SettingError(DurableError):
    """A durableTask setting the host refuses: the CLI reports it as one JSON line."""


@dataclass(frozen=True)
class Versioning:
    default_version: str = ""
    match_strategy: str = CURRENT_OR_OLDER
    failure_strategy: str = REJECT

    def version_for_new(self, requested: str | None) -> str:
        """The caller's version wins; otherwise `defaultVersion` as configured now."""
        return requested if requested is not None else self.default_version

    def complies(self, version: str | None) -> bool:
        """TaskOrchestrationDispatcher's check of the instance's version against the worker's
        (`defaultVersion`)."""
        if self.match_strategy == STRICT:
            return (version or "") == self.default_version
        if self.match_strategy == CURRENT_OR_OLDER:
            return compare_versions(version or "", self.default_version) <= 0
        return True


def compare_versions(source: str, other: str) -> int:
    """VersioningSettings.CompareVersions: empty equals empty and is older than any version;
    two System.Version strings compare part by part (a missing part is -1, so 1.0 < 1.0.0);
    anything else compares as strings, ignoring case."""
    if not source.strip() and not other.strip():
        return 0
    if not source.strip():
        return -1
    if not other.strip():
        return 1
    if _DOTNET_VERSION.fullmatch(source.strip()) and _DOTNET_VERSION.fullmatch(other.strip()):
        a, b = _parts(source), _parts(other)
    else:
        a, b = (source.upper(),), (other.upper(),)  # type: ignore[assignment]
    return (a > b) - (a < b)


def _parts(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.strip().split(".")]
    return tuple(parts + [-1] * (4 - len(parts)))


def started_version(events: Iterable[Event]) -> str:
    """The version of the execution these events belong to (ExecutionStartedEvent.Version)."""
    for ev in events:
        if ev["EventType"] == EventType.EXECUTION_STARTED:
            return str(ev.get("Version") or "")
    return ""


def _choice(durable: Mapping[str, Any], key: str, allowed: tuple[str, ...], default: str) -> str:
    """An enum setting as the options binder reads it (names, any case); anything else is
    refused with one line naming the field."""
    raw = durable.get(key, default)
    for name in allowed:
        if isinstance(raw, str) and raw.strip().lower() == name.lower():
            return name
    raise SettingError(f"{_SECTION}.{key}: {raw!r} is not one of {', '.join(allowed)}")


def versioning_from(durable: Mapping[str, Any]) -> Versioning:
    version = durable.get("defaultVersion", "")
    if version is None:
        version = ""
    if not isinstance(version, str):
        raise SettingError(f"{_SECTION}.defaultVersion: {version!r} is not a string")
    return Versioning(
        default_version=version,
        match_strategy=_choice(durable, "versionMatchStrategy", (NONE, STRICT, CURRENT_OR_OLDER),
                               CURRENT_OR_OLDER),
        failure_strategy=_choice(durable, "versionFailureStrategy", (REJECT, FAIL), REJECT))


def overrides_any_state(durable: Mapping[str, Any]) -> bool:
    """`overridableExistingInstanceStates: "AnyState"`: a start may replace a running id."""
    return _choice(durable, "overridableExistingInstanceStates",
                   (NON_RUNNING_STATES, ANY_STATE), NON_RUNNING_STATES) == ANY_STATE
