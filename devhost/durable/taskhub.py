"""The task hub name, chosen as the Durable extension chooses it (azure-functions-durable-
extension src/WebJobs.Extensions.DurableTask/Options/DurableTaskOptions.cs HubName and
ResolveAppSettingOptions; AzureStorageOptions.ValidateHubName / IsSanitizedHubName)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from devhost.durable.errors import DurableError
from devhost.host.nameresolver import try_resolve_whole_string

DEFAULT_HUB_NAME = "TestHubName"  # DurableTaskOptions.DefaultHubName
# Azure Storage names the hub's tables, queues and containers after it: the table rule
# (letters and digits, a letter first, at least 3) and the extension's 50-character cap.
_VALID = re.compile(r"[A-Za-z][A-Za-z0-9]{2,49}")
_MIN, _MAX, _PADDING = 3, 45, "Hub"


class TaskHubError(DurableError):
    """The host refuses to start on it; the CLI reports it as a JSON error."""


def task_hub_name(configured: object, settings: Mapping[str, str]) -> str:
    """host.json's `hubName` with `%SETTING%` resolved (an unresolvable one stays literal and
    then fails validation, as on Azure); without one, WEBSITE_SITE_NAME or TestHubName,
    sanitized instead of rejected."""
    if configured is None:
        return _sanitized(settings.get("WEBSITE_SITE_NAME") or DEFAULT_HUB_NAME)
    configured = str(configured)
    resolved = try_resolve_whole_string(configured, settings)
    name = configured if resolved is None else resolved
    if not _VALID.fullmatch(name):
        hint = (f" ('{configured}' names an app setting that is not set)"
                if resolved is None and "%" in configured else "")
        raise TaskHubError(
            f"host.json extensions.durableTask.hubName: task hub name '{name}' should contain "
            f"only alphanumeric characters, start with a letter, and have length between "
            f"{_MIN} and {_MAX}{hint}")
    return name


def _sanitized(name: str) -> str:
    chars = [c for c in name if c.isalnum()]
    if not chars:
        return "DefaultTaskHub"
    if chars[0].isdigit():
        chars.insert(0, "t")
    sanitized = "".join(chars[:_MAX])
    return sanitized + _PADDING if len(sanitized) < _MIN else sanitized
