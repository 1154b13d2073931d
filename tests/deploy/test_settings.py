"""Every app setting has a reader and every setting a reader needs has a value: the code's
`os.environ` reads and host.json's `%NAME%` tokens against infra/ (what Azure gets),
local.settings.json.example (what `func start` and devhost get) and docs/deploy.md's table."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

from telemetry.logs import HOST_SIGNALS

from .bicep import BicepFile, block, object_keys
from .requirements import APP_SOURCES, REPO

SITE_PACKAGES = Path(inspect.getfile(__import__("azure_functions_runtime"))).resolve().parents[1]

# Read by the Python packages the app ships (checked in their installed source below).
LIBRARY_READ = {
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "azure/monitor/opentelemetry/exporter",
    "PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY": "azure_functions_runtime",
    "PYTHON_ENABLE_OPENTELEMETRY": "azure_functions_runtime",
}
# Read by the Functions host (.NET, not installable here): its storage connection, given
# either as a connection string (Azurite) or as an identity-based connection (Azure).
HOST_READ = {"AzureWebJobsStorage", "AzureWebJobsStorage__credential",
             "AzureWebJobsStorage__clientId", "AzureWebJobsStorage__blobServiceUri",
             "AzureWebJobsStorage__queueServiceUri", "AzureWebJobsStorage__tableServiceUri"}
# Read by the code, deliberately not set on Azure.
NOT_ON_AZURE = {
    "FUNCTIONS_WORKER_RUNTIME": "Flex Consumption takes the language from functionAppConfig "
                                "and refuses this app setting",
    "OTEL_EXPORTER_OTLP_ENDPOINT": "the OTLP alternative; Azure uses App Insights",
    "TELEMETRY_LOCAL_DIR": "local files only when no telemetry backend is configured",
    "TELEMETRY_CONSOLE_LOGS": "read only outside the Functions host",
}
# Not settings: what the Functions host sets on each language worker it starts
# (azure-functions-host v4.1036.2 RpcWorkerProcess.CreateWorkerProcess), which
# telemetry/logs.py reads to know it runs under the host (Flex has no FUNCTIONS_WORKER_RUNTIME
# app setting). Nobody sets them, locally or on Azure.
WORKER_ENVIRONMENT = frozenset(HOST_SIGNALS) - {"FUNCTIONS_WORKER_RUNTIME"}
_ENV_READ = re.compile(r"""os\.(?:environ\.get|getenv|environ\[)\(?\s*["']([A-Za-z_][\w]*)["']""")


def code_reads() -> set[str]:
    """Settings the app's code reads: literal `os.environ` reads, and the host signals
    telemetry/logs.py looks up by name (minus what the host sets, which is no setting)."""
    literal = {m.group(1) for source in APP_SOURCES
               for m in _ENV_READ.finditer(source.read_text())}
    return literal | (set(HOST_SIGNALS) - WORKER_ENVIRONMENT)


def host_json_tokens() -> set[str]:
    found: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            found.update(re.findall(r"%([^%]+)%", value))

    walk(json.loads((REPO / "host.json").read_text()))
    return found


def infra_settings() -> dict[str, str]:
    resources = BicepFile(REPO / "infra" / "app" / "resources.bicep")
    assert resources.resource_type("appSettings").startswith("Microsoft.Web/sites/config@")
    body = resources.resource_body("appSettings")
    assert "name: 'appsettings'" in body
    return object_keys(block(body, body.index("properties:")))


def example_settings() -> dict[str, str]:
    return dict(json.loads((REPO / "local.settings.json.example").read_text())["Values"])


def readme_table() -> list[str]:
    """First-column names of the app settings table in docs/deploy.md."""
    text = (REPO / "docs" / "deploy.md").read_text()
    section = text[text.index("## App settings"):]
    section = section[:section.index("\n#")]
    return re.findall(r"^\| `([^`]+)` \|", section, re.MULTILINE)


NEEDED = code_reads() | host_json_tokens()
READ = NEEDED | set(LIBRARY_READ) | HOST_READ


def test_the_scan_finds_the_settings_we_know_of() -> None:
    """Guards the regex: if it silently found nothing, every check below would pass."""
    assert {"HTTP_AUTH_LEVEL", "APPLICATIONINSIGHTS_CONNECTION_STRING", "OTEL_SERVICE_NAME",
            "TELEMETRY_SAMPLING_RATIO", "FUNCTIONS_WORKER_RUNTIME"} <= code_reads()
    assert host_json_tokens() == {"TASKHUB_NAME"}
    assert "AzureWebJobsStorage__credential" in infra_settings()
    assert WORKER_ENVIRONMENT == {"FUNCTIONS_WORKER_DIRECTORY", "FUNCTIONS_APPLICATION_DIRECTORY"}
    assert not WORKER_ENVIRONMENT & (set(infra_settings()) | set(example_settings()))


def test_every_setting_read_has_a_value_locally() -> None:
    example = example_settings()
    assert not NEEDED - set(example), sorted(NEEDED - set(example))
    assert example["TASKHUB_NAME"], "host.json's hubName needs it"


def test_every_setting_read_has_a_value_on_azure() -> None:
    infra = infra_settings()
    missing = NEEDED - set(infra) - set(NOT_ON_AZURE)
    assert not missing, sorted(missing)
    empty = {k for k, v in infra.items() if v in ("", "''")}
    assert not empty, sorted(empty)
    stale = set(NOT_ON_AZURE) & set(infra)
    assert not stale, f"set on Azure after all, drop from NOT_ON_AZURE: {sorted(stale)}"
    assert set(NOT_ON_AZURE) <= NEEDED, sorted(set(NOT_ON_AZURE) - NEEDED)


def test_nothing_is_set_that_nothing_reads() -> None:
    unread = (set(infra_settings()) | set(example_settings())) - READ
    assert not unread, sorted(unread)


def test_readme_table_lists_each_setting_once() -> None:
    rows = readme_table()
    assert len(rows) == len(set(rows)), sorted(r for r in rows if rows.count(r) > 1)
    everything = NEEDED | set(infra_settings()) | set(example_settings())
    assert set(rows) == everything, {"missing": sorted(everything - set(rows)),
                                     "unknown": sorted(set(rows) - everything)}


def test_library_settings_are_read_by_the_shipped_library() -> None:
    for setting, package in LIBRARY_READ.items():
        sources = (SITE_PACKAGES / package).rglob("*.py")
        assert any(setting in path.read_text() for path in sources), (setting, package)


def test_identity_replaces_keys_on_azure() -> None:
    """No connection string for storage, and App Insights ingestion authenticated."""
    infra = infra_settings()
    assert "AzureWebJobsStorage" not in infra
    assert infra["AzureWebJobsStorage__credential"] == "'managedidentity'"
    assert "Authorization=AAD" in infra["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING" not in example_settings(), \
        "locally there is no managed identity to get a token from"
    for key in ("PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY", "PYTHON_ENABLE_OPENTELEMETRY"):
        assert infra[key] == "'false'" and example_settings()[key] == "false"
